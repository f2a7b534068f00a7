/*
 * quant_ops.c — the int8 operators (nn/quant_ops.h): the reference the fast int8
 * backends are tested against. Integer sums are exact (int32 holds
 * 255 * 127 * K for every K AlexNet has), so only the final scaling rounds.
 */
#include <math.h>
#include <string.h>

#include "nn/quant_ops.h"

void quantize_u8(uint8_t *q, const float *x, size_t count, float scale, int zero) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        float v = nearbyintf(x[i] / scale) + (float)zero; /* ONNX's QuantizeLinear: a division, half to even */
        q[i] = (uint8_t)(v >= 0.0f ? (v <= 255.0f ? v : 255.0f) : 0.0f); /* NaN (a diverged layer before): 0 */
    }
}

size_t conv2d_int8_workspace(const ConvShape *s) {
    size_t cg = (size_t)(s->c / s->groups), kk = (size_t)s->k * (size_t)s->k;
    return cg * kk * (size_t)s->oh * (size_t)s->ow;
}

/* col[(c, kh, kw), p] = inp - zero at the tap (0 in the padding: the zero
 * point is what a float 0 quantizes to). */
static void im2col_u8(int32_t *col, const uint8_t *inp, int zero, int c0, int cg, const ConvShape *s) {
    const int P = s->oh * s->ow;
    for (int c = 0; c < cg; c++)
        for (int kh = 0; kh < s->k; kh++)
            for (int kw = 0; kw < s->k; kw++) {
                int32_t *row = col + ((size_t)(c * s->k + kh) * s->k + kw) * P;
                const uint8_t *plane = inp + (size_t)(c0 + c) * s->h * s->w;
                for (int y = 0; y < s->oh; y++) {
                    int iy = y * s->stride - s->pad + kh;
                    for (int x = 0; x < s->ow; x++) {
                        int ix = x * s->stride - s->pad + kw;
                        row[y * s->ow + x] = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w
                                                 ? (int32_t)plane[(size_t)iy * s->w + ix] - zero
                                                 : 0;
                    }
                }
            }
}

void conv2d_int8_forward(float *out, const uint8_t *inp, int in_zero, float in_scale, const int8_t *weight,
                         const float *w_scale, const float *bias, const ConvShape *s, int32_t *workspace) {
    const int cg = s->c / s->groups, og = s->oc / s->groups, P = s->oh * s->ow;
    const int K = cg * s->k * s->k;
    for (int n = 0; n < s->n; n++) {
        const uint8_t *x = inp + (size_t)n * s->c * s->h * s->w;
        float *y = out + (size_t)n * s->oc * P;
        for (int g = 0; g < s->groups; g++) {
            im2col_u8(workspace, x, in_zero, g * cg, cg, s);
#pragma omp parallel for schedule(static)
            for (int o = g * og; o < (g + 1) * og; o++) {
                const int8_t *w = weight + (size_t)o * K;
                int32_t acc[256];
                const float scale = in_scale * w_scale[o];
                for (int p0 = 0; p0 < P; p0 += 256) {
                    int np = P - p0 < 256 ? P - p0 : 256;
                    memset(acc, 0, sizeof acc);
                    for (int k = 0; k < K; k++) {
                        const int32_t wk = w[k], *col = workspace + (size_t)k * P + p0;
                        for (int p = 0; p < np; p++) acc[p] += wk * col[p];
                    }
                    for (int p = 0; p < np; p++) y[(size_t)o * P + p0 + p] = (float)acc[p] * scale + bias[o];
                }
            }
        }
    }
}

void linear_int8_forward(float *out, const uint8_t *inp, int in_zero, float in_scale, const int8_t *weight,
                         const float *w_scale, const float *bias, int n, int in, int out_features) {
#pragma omp parallel for schedule(static) collapse(2)
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out_features; o++) {
            const uint8_t *x = inp + (size_t)i * in;
            const int8_t *w = weight + (size_t)o * in;
            int32_t acc = 0;
            for (int k = 0; k < in; k++) acc += ((int32_t)x[k] - in_zero) * (int32_t)w[k];
            out[(size_t)i * out_features + o] = (float)acc * (in_scale * w_scale[o]) + bias[o];
        }
}
