/*
 * pool.c — reference max pooling (k×k, stride s, no padding, floor mode) and
 * adaptive average pooling.
 *
 *   inp [n, c, h, w] -> out [n, c, oh, ow]
 */
#include "nn/ops.h"

/* Index (within the plane) of the first maximum of the window at (y, x). */
static int window_argmax(const float *plane, int w, int y, int x, int k, int stride) {
    int y0 = y * stride, x0 = x * stride;
    int best = y0 * w + x0;
    float bv = plane[best];
    for (int dy = 0; dy < k; dy++)
        for (int dx = 0; dx < k; dx++) {
            int idx = (y0 + dy) * w + x0 + dx;
            if (plane[idx] > bv) {
                bv = plane[idx];
                best = idx;
            }
        }
    return best;
}

void maxpool_forward(float *out, const float *inp, const PoolShape *s) {
    int planes = s->n * s->c;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *x = inp + (size_t)pl * s->h * s->w;
        float *y = out + (size_t)pl * s->oh * s->ow;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) y[oy * s->ow + ox] = x[window_argmax(x, s->w, oy, ox, s->k, s->stride)];
    }
}

void maxpool_backward(float *dinp, const float *dout, const float *inp, const PoolShape *s) {
    int planes = s->n * s->c;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *x = inp + (size_t)pl * s->h * s->w;
        const float *dy = dout + (size_t)pl * s->oh * s->ow;
        float *dx = dinp + (size_t)pl * s->h * s->w;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                dx[window_argmax(x, s->w, oy, ox, s->k, s->stride)] += dy[oy * s->ow + ox];
    }
}

static int win_start(int i, int in, int out) { return (int)(((long)i * in) / out); }
static int win_end(int i, int in, int out) { return (int)((((long)i + 1) * in + out - 1) / out); }

void avgpool_window(int i, int in, int out, int *start, int *end) {
    *start = win_start(i, in, out);
    *end = win_end(i, in, out);
}

void avgpool_forward(float *out, const float *inp, const PoolShape *s) {
    int planes = s->n * s->c;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *x = inp + (size_t)pl * s->h * s->w;
        float *y = out + (size_t)pl * s->oh * s->ow;
        for (int oy = 0; oy < s->oh; oy++) {
            int y0 = win_start(oy, s->h, s->oh), y1 = win_end(oy, s->h, s->oh);
            for (int ox = 0; ox < s->ow; ox++) {
                int x0 = win_start(ox, s->w, s->ow), x1 = win_end(ox, s->w, s->ow);
                float acc = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) acc += x[iy * s->w + ix];
                y[oy * s->ow + ox] = acc / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

void avgpool_backward(float *dinp, const float *dout, const PoolShape *s) {
    int planes = s->n * s->c;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *dy = dout + (size_t)pl * s->oh * s->ow;
        float *dx = dinp + (size_t)pl * s->h * s->w;
        for (int oy = 0; oy < s->oh; oy++) {
            int y0 = win_start(oy, s->h, s->oh), y1 = win_end(oy, s->h, s->oh);
            for (int ox = 0; ox < s->ow; ox++) {
                int x0 = win_start(ox, s->w, s->ow), x1 = win_end(ox, s->w, s->ow);
                float g = dy[oy * s->ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) dx[iy * s->w + ix] += g;
            }
        }
    }
}
