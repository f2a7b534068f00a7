/*
 * cuda_kernels.h — the cuda backend's own kernels (everything cuDNN and
 * cuBLAS don't do), as host-side launchers on a stream. A launcher that
 * implements an op of nn/ops.h carries its name with a cuda_ prefix
 * (maxpool_forward -> cuda_maxpool_forward); the others say what they do.
 *
 * Activations are stored in the compute type (DType: fp32, or bf16 with fp32
 * arithmetic inside every kernel); parameters, gradients and momentum are
 * fp32. Spatial activations are NHWC [n, h, w, c]; the input of a linear
 * layer is flat in torchvision's C,H,W order (LAYOUT_FLAT); with h = w = 1 the
 * two coincide. Every launcher checks its launch (KERNEL_CHECK).
 */
#ifndef ALEXNET_CUDA_KERNELS_H
#define ALEXNET_CUDA_KERNELS_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DT_F32 = 0, DT_BF16 = 1 } DType;
typedef enum { LAYOUT_NHWC = 0, LAYOUT_FLAT = 1 } Layout;
typedef enum { RAW_U8_NHWC = 0, RAW_F32_NCHW = 1, RAW_F32_NHWC = 2 } RawFormat;

static inline size_t dtype_size(DType dt) { return dt == DT_BF16 ? 2 : 4; }

/* Dropout keys of the last forward, in device memory so captured graphs read
 * the current step's values; written by the input kernel. */
typedef struct {
    unsigned long long step, sample_offset;
    int train;
    int pad_;
} DevKeys;

/* raw [n, S*S, 3] u8 or [n, 3, S*S] / [n, S*S, 3] f32 -> x0 [n, S*S, cp] in dt
 * (channels >= 3 zero), normalised for u8 with ImageNet mean/std. Also stores
 * (step, sample_offset, train) into keys. */
void cuda_input(DType dt, RawFormat raw_fmt, const void *raw, void *x0, int n, long hw, int cp, DevKeys *keys,
                unsigned long long step, unsigned long long sample_offset, int train, cudaStream_t s);

/* y[r, c] = act(y[r, c] + bias[c]) over rows x c, in place (act: ReLU or identity). */
void cuda_bias_act(DType dt, void *y, const float *bias, long long rows, int c, int relu, cudaStream_t s);

/* db[c] = sum_r dy[r, c]; when mask_y is given, first dy *= (mask_y > 0) in
 * place (backward of a fused ReLU). Deterministic: per-block partial sums in
 * `partial` (cuda_bias_grad_partial_floats of them), then a fixed-order sum. */
size_t cuda_bias_grad_partial_floats(long long rows, int c);
void cuda_bias_grad(DType dt, void *dy, const void *mask_y, float *db, float *partial, long long rows, int c,
                    cudaStream_t s);

/* Max pool k x k, stride, no padding, floor mode; ties -> first max in
 * row-major window order. argmax [n, oh, ow, c] holds the window position. */
void cuda_maxpool_forward(DType dt, const void *x, void *y, uint8_t *argmax, int n, int c, int h, int w, int oh, int ow,
                          int k, int stride, cudaStream_t s);
/* dx = scatter of dy to the argmax positions (gathered, so no atomics);
 * times (mask_x > 0) when mask_x is given. Overwrites dx. */
void cuda_maxpool_backward(DType dt, const void *dy, const uint8_t *argmax, const void *mask_x, void *dx, int n, int c,
                           int h, int w, int oh, int ow, int k, int stride, cudaStream_t s);

/* Adaptive average pool (torch.nn.AdaptiveAvgPool2d windows). */
void cuda_avgpool_forward(DType dt, const void *x, void *y, int n, int c, int h, int w, int oh, int ow, cudaStream_t s);
void cuda_avgpool_backward(DType dt, const void *dy, void *dx, int n, int c, int h, int w, int oh, int ow,
                           cudaStream_t s);

/* Local response norm across channels with torch.nn.LocalResponseNorm's
 * definition (alpha divided by size). x, y [n*hw, c]. */
void cuda_lrn_forward(DType dt, const void *x, void *y, long long pixels, int c, int size, float alpha, float beta,
                      float k, cudaStream_t s);
void cuda_lrn_backward(DType dt, const void *x, const void *dy, void *dx, long long pixels, int c, int size,
                       float alpha, float beta, float k, cudaStream_t s);

/* The element-wise layers, each of which may also move the activation from
 * NHWC to the C,H,W order a linear layer reads (layouts `in` -> `out`; x,
 * dx in `in`, y, dy in `out`). Backward overwrites dx; mask_x, when given,
 * is a fused ReLU's output (the layer's input): dx is also zeroed where
 * mask_x <= 0. */
/* ReLU (nn/ops.h relu_*); x is the forward input, whose sign is the mask. */
void cuda_relu_forward(DType dt, const void *x, void *y, int n, int c, long hw, Layout in, Layout out, cudaStream_t s);
void cuda_relu_backward(DType dt, const void *dy, const void *x, void *dx, int n, int c, long hw, Layout in, Layout out,
                        cudaStream_t s);
/* Dropout (nn/ops.h dropout_*): the same counter-based mask, element index
 * (sample_offset + n) * features + f with f in C,H,W order. seed, layer and
 * p come from the host; step, sample offset and train from keys (device
 * memory, so a captured graph reads each step's values). */
typedef struct {
    uint64_t seed;  /* BackendOptions.seed */
    uint32_t layer; /* the layer's index */
    float p;        /* dropout rate */
    const DevKeys *keys;
} CudaDropout;
void cuda_dropout_forward(DType dt, const void *x, void *y, int n, int c, long hw, Layout in, Layout out,
                          CudaDropout key, cudaStream_t s);
void cuda_dropout_backward(DType dt, const void *dy, const void *mask_x, void *dx, int n, int c, long hw, Layout in,
                           Layout out, CudaDropout key, cudaStream_t s);
/* A plain NHWC -> C,H,W copy (a linear layer's input after a spatial one) and its backward. */
void cuda_flatten_forward(DType dt, const void *x, void *y, int n, int c, long hw, cudaStream_t s);
void cuda_flatten_backward(DType dt, const void *dy, const void *mask_x, void *dx, int n, int c, long hw,
                           cudaStream_t s);

/* Softmax cross-entropy with label smoothing (form 0: seed, eps/(K-1) off the
 * true class; 1: torch, eps/K everywhere), in double. Writes each row's loss
 * (not yet divided) and dlogits = (softmax - target) / divisor in dt. */
void cuda_softmax_xent(DType dt, const float *logits, const int32_t *labels, void *dlogits, double *row_loss, int n,
                       int k, float eps, int form, double divisor, cudaStream_t s);

/* Conv weight gradient in cuDNN's KRSC layout (cp stored input channels per
 * group, cp >= cg) -> the flat fp32 gradient in OIHW order. */
void cuda_wgrad_to_flat(DType dt, const void *dwc, float *grad, int K, int cg, int R, int S, int cp, cudaStream_t s);

/* The fused optimizer over the flat buffers, tensor by tensor (PyTorch's
 * form: v = m*v + (g + wd*w) with wd on weights only, w -= lr*v), also
 * writing each tensor's compute copy (conv weights re-laid to KRSC with cp
 * channels). Frozen tensors keep their values and momentum; each tensor's lr
 * is lr * lr_scale. With update = 0 it only refreshes the compute copies. */
#define SGD_MAX_TENSORS 16
typedef struct {
    long long off, numel; /* in the flat buffers */
    long long wc_off;     /* in the compute-weight buffer; -1: none */
    int decay, conv;      /* conv: KRSC re-layout with the dims below */
    int frozen;           /* not updated (--freeze) */
    float lr_scale;       /* this tensor's lr is lr * lr_scale */
    int K, cg, R, S, cp;
    int block0; /* first block of this tensor */
} SgdTensor;
typedef struct {
    int n, blocks;
    SgdTensor t[SGD_MAX_TENSORS];
} SgdTable;
#define SGD_ITEMS_PER_BLOCK 2048
void cuda_sgd_apply(DType dt, const SgdTable *tab, float *w, const float *g, float *v, void *wc, float lr,
                    float momentum, float wd, int update, cudaStream_t s);

/* Casts for the bf16 all-reduce. */
void cuda_f32_to_bf16(const float *x, void *y, size_t n, cudaStream_t s);
void cuda_bf16_to_f32(const void *x, float *y, size_t n, cudaStream_t s);

#endif
