/*
 * png_decode.h — PNG decoding with libpng into RGBX, the way PIL's
 * Image.open(f).convert('RGB') sees the file: palette expanded, grayscale
 * replicated, alpha dropped (not composited), 16-bit samples reduced to their
 * high byte, no gamma correction.
 *
 * libpng errors come back through setjmp/longjmp as -1 with a reason in err
 * (no file name: the caller adds it).
 */
#ifndef ALEXNET_PNG_DECODE_H
#define ALEXNET_PNG_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "data/pixels.h"

typedef struct PngDecoder PngDecoder; /* one per thread */

PngDecoder *png_decoder_create(void);
void png_decoder_destroy(PngDecoder *d);

/* Reads the header of the PNG in data[0..size) (kept alive until the read).
 * 0 with width and height, or -1. */
int png_decoder_open(PngDecoder *d, const uint8_t *data, size_t size, int *width, int *height, Error *err);

/* Decodes rows [y0, y1) and columns [x0, x1) of the open image into out and
 * closes it. 0, or -1. */
int png_decoder_read(PngDecoder *d, int x0, int y0, int x1, int y1, Pixels *out, Error *err);

#endif
