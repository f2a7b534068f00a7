/*
 * dnnl_ops.h — the parts of the oneDNN backend that run as our own C:
 * adaptive average pooling and even-size LRN (oneDNN's window differs
 * there), through the reference ops of nn/ops.h, and the space-to-depth
 * transform of the first convolution. Tensors are plain NCHW fp32. Dropout
 * (nn/ops.h's dropout_forward) and the SGD update (backend_host.h) are the
 * ones the reference backend runs too.
 */
#ifndef ALEXNET_DNNL_OPS_H
#define ALEXNET_DNNL_OPS_H

#include <stddef.h>

#include "backend/backend.h"
#include "nn/ops.h"

/* Forward / backward of the own-code layers (avgpool, even-size LRN) over n
 * samples; x is the layer's input, dx is overwritten. */
void dnnl_own_forward(const Layer *l, float *y, const float *x, int n);
void dnnl_own_backward(const Layer *l, float *dx, const float *dy, const float *x, int n);

/* The fold of a linear layer over the average pool that feeds it
 * (dnnl_layers.h, Folding): V [O, C*h*w] = W P, each row the pool's
 * backward of W's row [C, oh, ow]; and dW [O, C*oh*ow] = dV P^T, each row
 * the pool's forward of dV's row. The pool's windows are tabulated once:
 * per output cell o of a plane, its input cells in[first[o] .. first[o+1])
 * and 1 / their count. The two passes stream W and dW (AlexNet's
 * classifier.1: 151 MB each way, a step's largest memory traffic after
 * the SGD update), so they are written for that. */
typedef struct {
    int out_cells, in_cells; /* per plane: oh*ow and h*w */
    int *first, *in;         /* [out_cells + 1], [first[out_cells]] */
    float *scale;            /* [out_cells] */
    int planes;              /* O * C */
} FoldTable;

void dnnl_fold_table(FoldTable *t, const Layer *pool, int O);
void dnnl_fold_table_free(FoldTable *t);
void dnnl_fold_weights(float *v, const float *w, const FoldTable *t);
void dnnl_fold_grad(float *dw, const float *dv, const FoldTable *t);

/* Space-to-depth form of a strided first convolution (stride s, kernel k,
 * pad p, C channels, output OH x OW): the input, zero-padded by p, is cut
 * into s x s cells whose pixels become channels, c' = (r*s + q)*C + c for
 * the pixel (r, q) of a cell, giving [Cs = C*s*s, Hs, Ws] with
 * Hs = OH + ks - 1, ks = ceil(k/s); the convolution becomes a ks x ks,
 * stride-1, unpadded one with weights w'[o, c', a, b] = w[o, c, s*a + r,
 * s*b + q] (zero where s*a + r >= k or s*b + q >= k). Same sums, but 48
 * channels instead of 3: oneDNN's direct kernels take it where the original
 * only runs as im2col GEMM. */
typedef struct {
    int C, H, W, k, s, pad; /* the original convolution's input and geometry */
    int Cs, ks, Hs, Ws;     /* the space-to-depth input and kernel */
} S2dGeom;

S2dGeom dnnl_s2d_geom(const Layer *l);

/* The layout dnnl_s2d_input writes: [B, Cs/block, Hs, Ws, block] (oneDNN's
 * aBcd<block>b; block 1 is plain NCHW), in fp32 or bf16. */
#define S2D_MAX_BLOCK 16
typedef struct {
    int block; /* 1..S2D_MAX_BLOCK, dividing Cs */
    int bf16;  /* 0: fp32; 1: bf16, rounded to nearest even */
} S2dLayout;

/* x [n, C, H, W] fp32 -> dst [B, Cs, Hs, Ws] in layout lay, in one pass
 * (the first convolution's input as its kernel reads it); samples n..B-1
 * are zeros. */
void dnnl_s2d_input(void *dst, const S2dLayout *lay, const float *x, int n, int B, const S2dGeom *g);
/* w [O, C, k, k] -> dst [O, Cs, ks, ks] plain. */
void dnnl_s2d_weights(float *dst, const float *w, int O, const S2dGeom *g);
/* The gradient of w'[O, Cs, ks, ks] back to w [O, C, k, k] (the zero taps' gradients are dropped). */
void dnnl_s2d_fold(float *dw, const float *dws, int O, const S2dGeom *g);

#endif
