/*
 * dnnl_ops.c — own-C operators of the oneDNN backend (see dnnl_ops.h).
 * Every loop splits independent outputs only, so results do not depend on
 * the thread count.
 */
#include "backend/dnnl/dnnl_ops.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_host.h"
#include "nn/layer_shapes.h"

static int avgpool_identity(const Layer *l) { return l->in_h == l->out_h && l->in_w == l->out_w; }

void dnnl_own_forward(const Layer *l, float *y, const float *x, int n) {
    size_t out = (size_t)n * layer_out_elems(l);
    if (l->kind == LAYER_AVGPOOL) {
        PoolShape s = layer_pool_shape(l, n);
        if (avgpool_identity(l)) memcpy(y, x, out * sizeof(float));
        else avgpool_forward(y, x, &s);
    } else {
        CHECK(l->kind == LAYER_LRN, "dnnl: %s is not an own-code layer", l->name);
        LrnShape s = layer_lrn_shape(l, n);
        lrn_forward(y, x, &s);
    }
}

void dnnl_own_backward(const Layer *l, float *dx, const float *dy, const float *x, int n) {
    size_t in = (size_t)n * layer_in_elems(l);
    if (l->kind == LAYER_AVGPOOL && avgpool_identity(l)) {
        memcpy(dx, dy, in * sizeof(float));
        return;
    }
    memset(dx, 0, in * sizeof(float));
    if (l->kind == LAYER_AVGPOOL) {
        PoolShape s = layer_pool_shape(l, n);
        avgpool_backward(dx, dy, &s);
    } else {
        LrnShape s = layer_lrn_shape(l, n);
        lrn_backward(dx, dy, x, &s);
    }
}

void dnnl_fold_table(FoldTable *t, const Layer *pool, int O) {
    const int h = pool->in_h, w = pool->in_w, oh = pool->out_h, ow = pool->out_w;
    t->out_cells = oh * ow;
    t->in_cells = h * w;
    t->planes = O * pool->in_c;
    t->first = xmalloc(sizeof(int) * (size_t)(t->out_cells + 1));
    t->scale = xmalloc(sizeof(float) * (size_t)t->out_cells);
    int n = 0;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        n = 0;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int y0, y1, x0, x1, o = oy * ow + ox;
                avgpool_window(oy, h, oh, &y0, &y1);
                avgpool_window(ox, w, ow, &x0, &x1);
                if (pass) {
                    t->first[o] = n;
                    t->scale[o] = 1.0f / (float)((y1 - y0) * (x1 - x0));
                }
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++, n++)
                        if (pass) t->in[n] = iy * w + ix;
            }
        if (!pass) t->in = xmalloc(sizeof(int) * (size_t)n);
    }
    t->first[t->out_cells] = n;
}

void dnnl_fold_table_free(FoldTable *t) {
    free(t->first);
    free(t->in);
    free(t->scale);
    memset(t, 0, sizeof *t);
}

void dnnl_fold_weights(float *v, const float *w, const FoldTable *t) {
    const int oc = t->out_cells, ic = t->in_cells;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < t->planes; pl++) {
        const float *wr = w + (size_t)pl * oc;
        float *vr = v + (size_t)pl * ic;
        for (int i = 0; i < ic; i++) vr[i] = 0.0f;
        for (int o = 0; o < oc; o++) {
            float g = wr[o] * t->scale[o];
            for (int k = t->first[o]; k < t->first[o + 1]; k++) vr[t->in[k]] += g;
        }
    }
}

void dnnl_fold_grad(float *dw, const float *dv, const FoldTable *t) {
    const int oc = t->out_cells, ic = t->in_cells;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < t->planes; pl++) {
        const float *vr = dv + (size_t)pl * ic;
        float *wr = dw + (size_t)pl * oc;
        for (int o = 0; o < oc; o++) {
            float s = 0.0f;
            for (int k = t->first[o]; k < t->first[o + 1]; k++) s += vr[t->in[k]];
            wr[o] = s * t->scale[o];
        }
    }
}

S2dGeom dnnl_s2d_geom(const Layer *l) {
    S2dGeom g;
    g.C = l->in_c;
    g.H = l->in_h;
    g.W = l->in_w;
    g.k = l->kernel;
    g.s = l->stride;
    g.pad = l->pad;
    g.Cs = g.C * g.s * g.s;
    g.ks = (g.k + g.s - 1) / g.s;
    g.Hs = l->out_h + g.ks - 1;
    g.Ws = l->out_w + g.ks - 1;
    return g;
}

void dnnl_s2d_input(void *dst, const S2dLayout *lay, const float *x, int n, int B, const S2dGeom *g) {
    const int cb = lay->block, nb = g->Cs / cb, Hs = g->Hs, Ws = g->Ws;
    const size_t row = (size_t)Ws * cb; /* elements of one (sample, channel block, i) row */
    CHECK(cb >= 1 && cb <= S2D_MAX_BLOCK && g->Cs % cb == 0, "s2d input: block %d does not divide %d channels", cb,
          g->Cs);
#pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++)
        for (int k = 0; k < nb; k++)
            for (int i = 0; i < Hs; i++) {
                size_t o = (((size_t)b * nb + k) * Hs + i) * row;
                float v[S2D_MAX_BLOCK * 64];
                const float *src[S2D_MAX_BLOCK];
                int q[S2D_MAX_BLOCK];
                for (int t = 0; t < cb; t++) {
                    int cs = k * cb + t, c = cs % g->C, cell = cs / g->C, h = g->s * i + cell / g->s - g->pad;
                    q[t] = cell % g->s - g->pad;
                    src[t] = b < n && h >= 0 && h < g->H ? x + (((size_t)b * g->C + c) * g->H + h) * g->W : NULL;
                }
                for (int j0 = 0; j0 < Ws; j0 += 64) {
                    int jn = Ws - j0 < 64 ? Ws - j0 : 64;
                    for (int jj = 0; jj < jn; jj++)
                        for (int t = 0; t < cb; t++) {
                            int w = g->s * (j0 + jj) + q[t];
                            v[jj * cb + t] = src[t] && w >= 0 && w < g->W ? src[t][w] : 0.0f;
                        }
                    size_t at = o + (size_t)j0 * cb, m = (size_t)jn * cb;
                    if (lay->bf16)
                        for (size_t e = 0; e < m; e++) ((uint16_t *)dst)[at + e] = bf16_round(v[e]);
                    else memcpy((float *)dst + at, v, m * sizeof(float));
                }
            }
}

void dnnl_s2d_weights(float *dst, const float *w, int O, const S2dGeom *g) {
    const int ks = g->ks, k = g->k;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < O; o++)
        for (int cs = 0; cs < g->Cs; cs++) {
            int c = cs % g->C, cell = cs / g->C, r = cell / g->s, q = cell % g->s;
            for (int a = 0; a < ks; a++)
                for (int b = 0; b < ks; b++) {
                    int kh = g->s * a + r, kw = g->s * b + q;
                    dst[(((size_t)o * g->Cs + cs) * ks + a) * ks + b] =
                        kh < k && kw < k ? w[(((size_t)o * g->C + c) * k + kh) * k + kw] : 0.0f;
                }
        }
}

void dnnl_s2d_fold(float *dw, const float *dws, int O, const S2dGeom *g) {
    const int ks = g->ks, k = g->k;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < O; o++)
        for (int c = 0; c < g->C; c++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    int cs = ((kh % g->s) * g->s + kw % g->s) * g->C + c;
                    dw[(((size_t)o * g->C + c) * k + kh) * k + kw] =
                        dws[(((size_t)o * g->Cs + cs) * ks + kh / g->s) * ks + kw / g->s];
                }
}
