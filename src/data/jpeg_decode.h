/*
 * jpeg_decode.h — JPEG decoding with libjpeg(-turbo): header first, then only
 * the rectangle and DCT scale a transform needs.
 *
 * Errors of libjpeg come back through setjmp/longjmp as a -1 and a reason in
 * err (no file name: the caller adds it), never an abort. Warnings (corrupt
 * data, a file that ends mid-scan) don't stop decoding; the first is kept and
 * can be read with jpeg_decoder_warning().
 */
#ifndef ALEXNET_JPEG_DECODE_H
#define ALEXNET_JPEG_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "data/pixels.h"

typedef struct JpegDecoder JpegDecoder; /* one per thread, reused across images */

JpegDecoder *jpeg_decoder_create(void);
void jpeg_decoder_destroy(JpegDecoder *d);

/* Reads the header of the JPEG in data[0..size) (which must stay alive until
 * the next open). libjpeg may then allocate at most max_memory bytes
 * (max_memory_to_use); a progressive or multi-scan file whose coefficients
 * alone need more fails here, from its header. 0 with the full-size width
 * and height, or -1. */
int jpeg_decoder_open(JpegDecoder *d, const uint8_t *data, size_t size, size_t max_memory, int *width, int *height,
                      Error *err);

/* Decodes rows [y0, y1) and columns [x0, x1) of the open image scaled by
 * scale_num/8 (1..8; coordinates in the scaled image, clamped to it) into out
 * as RGBX: grayscale is replicated, CMYK/YCCK (Adobe-inverted) is converted like
 * PIL's convert('RGB'). out may hold a few more columns than asked (iMCU
 * alignment). The image is closed afterwards. 0, or -1. */
int jpeg_decoder_read(JpegDecoder *d, int scale_num, int x0, int y0, int x1, int y1, Pixels *out, Error *err);

/* Size of the image scaled by scale_num/8, as libjpeg computes it. */
void jpeg_scaled_size(int width, int height, int scale_num, int *sw, int *sh);

/* The first warning of the last read, or NULL. */
const char *jpeg_decoder_warning(const JpegDecoder *d);

#endif
