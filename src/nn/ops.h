/*
 * ops.h — the plain-C reference operators: forward and backward of every
 * layer AlexNet uses. They are the readable specification of the math and
 * the oracle every faster backend is tested against.
 *
 * Conventions (one rule for all ops):
 *  - Outputs first, then inputs, then hyper-parameters; tensors are fp32,
 *    NCHW, batch-major, dense.
 *  - Forward *writes* its output.
 *  - Backward *adds* into every gradient it produces (dinp, dweight, dbias);
 *    the caller zeroes them when a fresh gradient is wanted.
 *  - Parallel loops only split independent outputs, and every reduction runs
 *    in a fixed order, so results are bit-identical for any thread count.
 */
#ifndef ALEXNET_OPS_H
#define ALEXNET_OPS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n, c, h, w; /* input  [n, c, h, w] */
    int oc, oh, ow; /* output [n, oc, oh, ow] */
    int k, stride, pad, groups;
} ConvShape;

/* Floats of workspace conv2d_* need: one im2col matrix of one group, one sample. */
size_t conv2d_workspace(const ConvShape *s);

/* out[n,oc,oh,ow] = bias[oc] + sum weight[oc, c/g, kh, kw] * inp[n, c, ...] */
void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, const ConvShape *s,
                    float *workspace);
/* dinp may be NULL (first layer); dweight and dbias together may be NULL
 * (frozen layer). dweight[oc, c/g, k, k], dbias[oc]. */
void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, const ConvShape *s, float *workspace);

/* out = max(inp, 0); count = elements */
void relu_forward(float *out, const float *inp, size_t count);
/* dinp += dout * (out > 0) — uses the output, as PyTorch does */
void relu_backward(float *dinp, const float *dout, const float *out, size_t count);

typedef struct {
    int n, c, h, w; /* input */
    int oh, ow;     /* output */
    int k, stride;  /* maxpool only; no padding, floor mode */
} PoolShape;

/* Max over each k×k window; ties and backward go to the first maximum in row-major order. */
void maxpool_forward(float *out, const float *inp, const PoolShape *s);
void maxpool_backward(float *dinp, const float *dout, const float *inp, const PoolShape *s);

/* Adaptive average pool (torch.nn.AdaptiveAvgPool2d): window i spans
 * [floor(i*H/OH), ceil((i+1)*H/OH)). */
void avgpool_forward(float *out, const float *inp, const PoolShape *s);
void avgpool_backward(float *dinp, const float *dout, const PoolShape *s);
/* Window i of an adaptive pool from `in` cells to `out`: [*start, *end). */
void avgpool_window(int i, int in, int out, int *start, int *end);

typedef struct {
    int n, c, h, w;
    int size;             /* window across channels: [c - size/2, c + (size-1)/2] */
    float alpha, beta, k; /* out = x / (k + alpha/size * sum x^2)^beta (torch.nn.LocalResponseNorm) */
} LrnShape;

void lrn_forward(float *out, const float *inp, const LrnShape *s);
void lrn_backward(float *dinp, const float *dout, const float *inp, const LrnShape *s);

/* Dropout with a counter-based mask: element e (global index
 * (sample_offset + n) * features + f) is kept iff
 * rng_u01(rng_word(seed, RNG_DROPOUT, step, layer, e)) >= p; kept values are
 * scaled by 1/(1-p). The mask is recomputed in backward, never stored. */
typedef struct {
    uint64_t seed, step, sample_offset;
    uint32_t layer;
    float p;
} DropoutKey;

int dropout_keep(const DropoutKey *key, uint64_t element);
/* out may equal inp. The map is linear, so it is also its own backward for a
 * caller that overwrites the gradient in place (the dnnl backend). */
void dropout_forward(float *out, const float *inp, int n, size_t features, const DropoutKey *key);
void dropout_backward(float *dinp, const float *dout, int n, size_t features, const DropoutKey *key);

/* out[n, o] = bias[o] + sum_i weight[o, i] * inp[n, i] */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int n, int in,
                    int out_features);
/* dinp may be NULL (first layer); dweight and dbias together may be NULL (frozen layer). */
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int n, int in, int out_features);

typedef enum {
    SMOOTH_SEED,  /* 1-eps on the true class, eps/(K-1) on each other (the seed's form) */
    SMOOTH_TORCH, /* (1-eps)·onehot + eps/K (torch.nn.CrossEntropyLoss(label_smoothing)) */
} SmoothingForm;

/* Mixed targets (torchvision's MixUp and CutMix): row s's target is
 * lam * onehot(labels[s]) + (1 - lam) * onehot(mix->labels[s]), smoothed.
 * Smoothing is affine in the target, so this equals smoothing the mixed
 * one-hot target (torch's CrossEntropyLoss(label_smoothing) on soft targets,
 * as torchvision's train.py does). */
typedef struct {
    const int32_t *labels; /* [n]: the second label of each row (the rolled batch's) */
    float lam;             /* weight of the row's own label */
} LabelMix;

/* How softmax_xent scores a batch. */
typedef struct {
    float eps; /* label smoothing */
    SmoothingForm form;
    double divisor;            /* the sum over rows is divided by this: the batch, or the global batch */
    const LabelMix *mix;       /* NULL, or the rows' second labels */
    const float *class_weight; /* NULL, or [k]: each row's loss (and gradient) times its label's weight
                                  (mixed: lam * w[label] + (1 - lam) * w[second]) */
} XentArgs;

/* Softmax cross-entropy with label smoothing, summed over the n rows and
 * divided by a->divisor (the batch for a mean; the global batch in data
 * parallel training). Returns the loss; if dlogits is non-NULL, adds
 * (softmax - target) / divisor (times the row's weight) into it. */
double softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int n, int k, const XentArgs *a);

#endif
