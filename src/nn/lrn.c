/*
 * lrn.c — reference local response normalisation across channels, with
 * torch.nn.LocalResponseNorm's definition (alpha is divided by size, the
 * window is [c - size/2, c + (size-1)/2], zero-padded at the edges):
 *
 *   scale[c] = k + alpha/size * sum_{c' in window(c)} x[c']^2
 *   out[c]   = x[c] * scale[c]^-beta
 *
 *   inp, out [n, c, h, w]
 */
#include <math.h>

#include "nn/ops.h"

static float lrn_scale(const float *x, size_t plane, int c, int C, const LrnShape *s) {
    int lo = c - s->size / 2, hi = c + (s->size - 1) / 2;
    if (lo < 0) lo = 0;
    if (hi > C - 1) hi = C - 1;
    float sum = 0.0f;
    for (int j = lo; j <= hi; j++) sum += x[(size_t)j * plane] * x[(size_t)j * plane];
    return s->k + s->alpha / (float)s->size * sum;
}

void lrn_forward(float *out, const float *inp, const LrnShape *s) {
    size_t plane = (size_t)s->h * s->w;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            const float *x = inp + (size_t)n * s->c * plane;
            float *y = out + ((size_t)n * s->c + c) * plane;
            for (size_t i = 0; i < plane; i++)
                y[i] = x[c * plane + i] * powf(lrn_scale(x + i, plane, c, s->c, s), -s->beta);
        }
}

/* dx[c] = dy[c] * scale[c]^-beta
 *       - 2*alpha*beta/size * x[c] * sum_{c': c in window(c')} dy[c'] * x[c'] * scale[c']^(-beta-1)
 * and c in window(c') iff c' in [c - (size-1)/2, c + size/2]. */
void lrn_backward(float *dinp, const float *dout, const float *inp, const LrnShape *s) {
    size_t plane = (size_t)s->h * s->w;
    float coef = 2.0f * s->alpha * s->beta / (float)s->size;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            const float *x = inp + (size_t)n * s->c * plane;
            const float *dy = dout + (size_t)n * s->c * plane;
            float *dx = dinp + ((size_t)n * s->c + c) * plane;
            int lo = c - (s->size - 1) / 2, hi = c + s->size / 2;
            if (lo < 0) lo = 0;
            if (hi > s->c - 1) hi = s->c - 1;
            for (size_t i = 0; i < plane; i++) {
                float acc = 0.0f;
                for (int j = lo; j <= hi; j++) {
                    float sc = lrn_scale(x + i, plane, j, s->c, s);
                    acc += dy[j * plane + i] * x[j * plane + i] * powf(sc, -s->beta - 1.0f);
                }
                float own = lrn_scale(x + i, plane, c, s->c, s);
                dx[i] += dy[c * plane + i] * powf(own, -s->beta) - coef * x[c * plane + i] * acc;
            }
        }
}
