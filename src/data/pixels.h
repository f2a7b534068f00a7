/*
 * pixels.h — a decoded rectangle of an RGB image, the hand-off between the
 * decoders (jpeg_decode.c, png_decode.c) and the resampler (resize.c).
 *
 * A decoder may be asked for the image scaled by scale_num/8 (JPEG's
 * DCT-domain scaling) and for only part of it; (x0, y0, w, h) says which
 * part of the scaled image px holds. Pixels are 4 bytes, R G B X (X is
 * padding or a dropped alpha): one aligned word a pixel for the resampler,
 * at no cost in libjpeg-turbo (JCS_EXT_RGBX) or libpng (filler byte). The buffer belongs to the Pixels and is
 * reused from image to image (it only grows).
 */
#ifndef ALEXNET_PIXELS_H
#define ALEXNET_PIXELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

typedef struct {
    uint8_t *px;        /* [h][stride] RGBX bytes; px[0] is pixel (x0, y0) of the scaled image */
    int x0, y0, w, h;   /* the rectangle held, in scaled-image pixels */
    size_t stride;      /* bytes per row */
    int full_w, full_h; /* size of the whole scaled image */
    int scale_num;      /* decoded at scale_num / 8 */
    uint8_t *buf;       /* owned storage behind px */
    size_t cap;
} Pixels;

/* Makes room for `bytes` bytes (contents not kept); NULL when memory is
 * short (the image is then a bad file, not the end of the process). */
static inline uint8_t *pixels_reserve(Pixels *p, size_t bytes) {
    if (bytes > p->cap) {
        free(p->buf);
        p->cap = bytes + bytes / 4;
        p->buf = malloc(p->cap);
        if (!p->buf) p->cap = 0;
    }
    p->px = p->buf;
    return p->buf;
}

static inline void pixels_free(Pixels *p) {
    free(p->buf);
    p->buf = p->px = NULL;
    p->cap = 0;
}

#endif
