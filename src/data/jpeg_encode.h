/*
 * jpeg_encode.h — writing JPEG files (the `prepare` commands and tests).
 */
#ifndef ALEXNET_JPEG_ENCODE_H
#define ALEXNET_JPEG_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* Writes px ([h][w][channels], channels 1 = grayscale or 3 = RGB) to path at
 * quality 1..100 with libjpeg's defaults otherwise (baseline, 4:2:0 chroma
 * like most cameras and PIL). 0, or -1 with err naming the file. */
int jpeg_write_file(const char *path, const uint8_t *px, int w, int h, int channels, int quality, Error *err);
/* The same into memory: *out (malloc'd, the caller frees) of *size bytes. */
int jpeg_encode_mem(const uint8_t *px, int w, int h, int channels, int quality, uint8_t **out, size_t *size,
                    Error *err);

#endif
