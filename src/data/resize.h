/*
 * resize.h — bilinear resampling with antialiasing, exactly as Pillow does it
 * (Resample.c: a triangle filter widened by the shrink factor, 22-bit fixed
 * point coefficients, horizontal pass first, each pass rounded to uint8), so
 * torchvision's PIL-based Resize/RandomResizedCrop and ours give identical
 * bytes when the source box is in whole pixels.
 *
 * The axis description is general enough for the whole pipeline: a source
 * interval [in0, in1) (fractional after DCT scaling) resampled to out_size
 * samples, of which only [o0, o0+n) are produced (the eval centre crop),
 * taps clamped to source pixels [lo, hi) (PIL crops before resizing, so
 * taps never reach outside the crop), optionally mirrored (horizontal flip).
 */
#ifndef ALEXNET_RESIZE_H
#define ALEXNET_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#define RESAMPLE_BITS 22 /* Pillow's PRECISION_BITS for 8-bit images */

typedef struct {
    int n, ksize;     /* output samples; taps per sample (max) */
    int first, last;  /* source pixels needed: [first, last) */
    int *start;       /* [n] first source pixel of each output sample */
    int *len;         /* [n] taps of each output sample */
    int32_t *k;       /* [n][ksize] fixed-point weights */
    double *w;        /* [ksize] scratch for the float weights */
    int cap_n, cap_w; /* allocated sizes (reused) */
    size_t cap_k;
} ResampleAxis;

/* Longest source interval (in pixels) an axis may span: a side cap of the
 * images (IMAGE_MAX_SIDE) fits, and every size below stays far from
 * overflowing. */
#define RESAMPLE_MAX_SPAN 1000000

/* Sets up an axis; 0, or -1 when the geometry is empty or out of range (an
 * empty source interval, an interval longer than RESAMPLE_MAX_SPAN, a window
 * outside [0, out_size), or an output sample with no source pixel). */
int resample_axis_init(ResampleAxis *a, double in0, double in1, int lo, int hi, int out_size, int o0, int n,
                       int mirror);
void resample_axis_free(ResampleAxis *a);

/* Bytes of scratch resample_rgbx needs. */
size_t resample_tmp_bytes(const ResampleAxis *ax, const ResampleAxis *ay);

/* out: three planes [3][ay.n][ax.n] (R, G, B) from src, RGBX pixels whose
 * pixel (0,0) is source pixel (src_x0, src_y0) and which cover
 * [ax.first, ax.last) x [ay.first, ay.last). Planes make the colour ops and
 * the output conversion that follow plain vector loops. */
void resample_rgbx(uint8_t *out, const uint8_t *src, size_t src_stride, int src_x0, int src_y0, const ResampleAxis *ax,
                   const ResampleAxis *ay, uint8_t *tmp);

#endif
