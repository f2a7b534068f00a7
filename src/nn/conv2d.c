/*
 * conv2d.c — reference 2-D convolution (stride, zero padding, groups) by
 * im2col + matrix product, one sample and one group at a time.
 *
 *   inp    [n, c, h, w]
 *   weight [oc, c/groups, k, k]
 *   out    [n, oc, oh, ow]
 *   col    [c/groups * k * k, oh * ow]   (workspace; also used transposed)
 */
#include <string.h>

#include "nn/gemm_ref.h"
#include "nn/ops.h"

size_t conv2d_workspace(const ConvShape *s) { return (size_t)(s->c / s->groups) * s->k * s->k * s->oh * s->ow; }

/* Unfolds one group of one sample's input. Element (row r = (c*k + kh)*k + kw,
 * position p = y*ow + x) goes to col[r*rs + p*ps]: (rs, ps) = (P, 1) gives the
 * im2col matrix [R, P], (1, R) its transpose [P, R]. */
static void unfold(float *col, size_t rs, size_t ps, const float *inp, const ConvShape *s, int cg) {
    int k = s->k;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < cg; c++) {
        const float *plane = inp + (size_t)c * s->h * s->w;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                size_t r = ((size_t)c * k + kh) * k + kw;
                for (int y = 0; y < s->oh; y++) {
                    int iy = y * s->stride - s->pad + kh;
                    for (int x = 0; x < s->ow; x++) {
                        int ix = x * s->stride - s->pad + kw;
                        float v = (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w) ? plane[(size_t)iy * s->w + ix] : 0.0f;
                        col[r * rs + ((size_t)y * s->ow + x) * ps] = v;
                    }
                }
            }
    }
}

/* Adds the im2col matrix col [R, P] back into the input gradient (the adjoint of unfold). */
static void fold_add(float *dinp, const float *col, const ConvShape *s, int cg) {
    int k = s->k;
    size_t P = (size_t)s->oh * s->ow;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < cg; c++) {
        float *plane = dinp + (size_t)c * s->h * s->w;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                const float *row = col + (((size_t)c * k + kh) * k + kw) * P;
                for (int y = 0; y < s->oh; y++) {
                    int iy = y * s->stride - s->pad + kh;
                    if (iy < 0 || iy >= s->h) continue;
                    for (int x = 0; x < s->ow; x++) {
                        int ix = x * s->stride - s->pad + kw;
                        if (ix >= 0 && ix < s->w) plane[(size_t)iy * s->w + ix] += row[(size_t)y * s->ow + x];
                    }
                }
            }
    }
}

void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, const ConvShape *s,
                    float *col) {
    int cg = s->c / s->groups, og = s->oc / s->groups;
    int R = cg * s->k * s->k, P = s->oh * s->ow;
    for (int n = 0; n < s->n; n++) {
        for (int g = 0; g < s->groups; g++) {
            const float *x = inp + ((size_t)n * s->c + (size_t)g * cg) * s->h * s->w;
            float *y = out + ((size_t)n * s->oc + (size_t)g * og) * P;
            const float *wg = weight + (size_t)g * og * R;
            unfold(col, (size_t)P, 1, x, s, cg);
            for (int o = 0; o < og; o++)
                for (int p = 0; p < P; p++) y[(size_t)o * P + p] = bias[g * og + o];
            gemm_acc_ab(y, wg, (size_t)R, 1, col, og, R, P);
        }
    }
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, const ConvShape *s, float *col) {
    int cg = s->c / s->groups, og = s->oc / s->groups;
    int R = cg * s->k * s->k, P = s->oh * s->ow;
    for (int n = 0; n < s->n; n++) {
        for (int g = 0; g < s->groups; g++) {
            const float *x = inp + ((size_t)n * s->c + (size_t)g * cg) * s->h * s->w;
            const float *dy = dout + ((size_t)n * s->oc + (size_t)g * og) * P;
            if (dweight) {
                /* dbias[o] += sum_p dy[o, p] */
                for (int o = 0; o < og; o++) {
                    float acc = 0.0f;
                    for (int p = 0; p < P; p++) acc += dy[(size_t)o * P + p];
                    dbias[g * og + o] += acc;
                }
                /* dweight[o, r] += sum_p dy[o, p] * colT[p, r] */
                float *dwg = dweight + (size_t)g * og * R;
                unfold(col, 1, (size_t)R, x, s, cg);
                gemm_acc_ab(dwg, dy, (size_t)P, 1, col, og, P, R);
            }
            if (dinp) {
                /* dcol[r, p] = sum_o weight[o, r] * dy[o, p]; then fold back */
                const float *wg = weight + (size_t)g * og * R;
                memset(col, 0, sizeof(float) * (size_t)R * P);
                gemm_acc_ab(col, wg, 1, (size_t)R, dy, R, og, P);
                fold_add(dinp + ((size_t)n * s->c + (size_t)g * cg) * s->h * s->w, col, s, cg);
            }
        }
    }
}
