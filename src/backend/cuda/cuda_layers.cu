/*
 * cuda_layers.cu — the library-backed layers of the cuda backend:
 * convolutions through cuDNN (NHWC activations, KRSC filters, groups) and
 * linear layers through cuBLAS.
 *
 * Algorithms are chosen once in create() by cudnnFind*AlgorithmEx at the
 * full batch on the real buffers, under a workspace limit; the workspace is
 * then allocated once at the size the chosen algorithms need. A smaller
 * batch (the last batch of an evaluation) keeps those algorithms when they
 * fit the workspace, else takes the best heuristic one that does.
 *
 * fp32 mode is meant to be exact fp32: cuDNN with CUDNN_FMA_MATH (no TF32)
 * and without the FFT / Winograd algorithms (their transforms cost accuracy),
 * cuBLAS with CUBLAS_COMPUTE_32F in the default math mode (no TF32). bf16
 * mode uses tensor cores with fp32 accumulation everywhere.
 *
 * Linear layers, with row-major X [n, in], W [out, in], Y [n, out] seen by
 * column-major cuBLAS as X^T, W^T, Y^T:
 *   Y^T  = (W^T)^T X^T     gemm(T, N, m=out, n=n,   k=in)
 *   dW^T = X^T dY          gemm(N, T, m=in,  n=out, k=n)   (fp32 output)
 *   dX^T = W^T dY^T        gemm(N, N, m=in,  n=n,   k=out)
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_internal.h"

static cudnnDataType_t cudnn_type(const CudaCtx *c) {
    return c->dt == DT_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}
static cudaDataType blas_type(const CudaCtx *c) { return c->dt == DT_BF16 ? CUDA_R_16BF : CUDA_R_32F; }
static cudnnMathType_t base_math(const CudaCtx *c) { return c->dt == DT_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }

static const void *weight_ptr(const CudaCtx *c, int i) {
    const LayerPlan *p = &c->plan[i];
    if (p->wc_off >= 0) return (const char *)c->wc + (size_t)p->wc_off * dtype_size(c->dt);
    return c->params + c->net->params[c->net->layers[i].weight].offset;
}

static const void *layer_input(const CudaCtx *c, int i) { return i == 0 ? c->x0 : c->plan[i - 1].out; }

/* ------------------------------------------------------------ descriptors */

void cuda_conv2d_create(CudaCtx *c, int i) {
    const Layer *l = &c->net->layers[i];
    ConvPlan *p = &c->plan[i].conv;
    p->cg = (i == 0 && l->groups == 1) ? c->cp : l->in_c / l->groups;
    p->cin = p->cg * l->groups;
    cudnnDataType_t t = cudnn_type(c);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, c->max_batch, p->cin, l->in_h, l->in_w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, c->max_batch, l->out_c, l->out_h, l->out_w));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NHWC, l->out_c, p->cg, l->kernel, l->kernel));
    cudnnConvolutionDescriptor_t *descs[3] = { &p->fwd_desc, &p->bwd_data_desc, &p->bwd_filter_desc };
    for (int d = 0; d < 3; d++) {
        CUDNN_CHECK(cudnnCreateConvolutionDescriptor(descs[d]));
        CUDNN_CHECK(cudnnSetConvolution2dDescriptor(*descs[d], l->pad, l->pad, l->stride, l->stride, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        CUDNN_CHECK(cudnnSetConvolutionGroupCount(*descs[d], l->groups));
        CUDNN_CHECK(cudnnSetConvolutionMathType(*descs[d], base_math(c)));
    }
    int on, oc, oh, ow;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->fwd_desc, p->x, p->w, &on, &oc, &oh, &ow));
    CHECK(on == c->max_batch && oc == l->out_c && oh == l->out_h && ow == l->out_w,
          "cuDNN output shape of %s is %dx%dx%dx%d, expected %dx%dx%dx%d", l->name, on, oc, oh, ow, c->max_batch,
          l->out_c, l->out_h, l->out_w);
}

/* ------------------------------------------------------ algorithm choice */

static int fwd_allowed(const CudaCtx *c, cudnnConvolutionFwdAlgo_t a) {
    if (c->dt == DT_BF16) return 1;
    return a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
           a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD && a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
static int bwd_data_allowed(const CudaCtx *c, cudnnConvolutionBwdDataAlgo_t a) {
    if (c->dt == DT_BF16) return 1;
    return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT && a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING &&
           a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD && a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
static int bwd_filter_allowed(const CudaCtx *c, cudnnConvolutionBwdFilterAlgo_t a) {
    if (c->dt == DT_BF16) return 1;
    return a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT && a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING &&
           a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}
/* fp32 wants FMA kernels; CUDNN_DEFAULT_MATH (which may mean TF32) only
 * when cuDNN offers nothing else, with a warning. */
static int math_allowed(const CudaCtx *c, cudnnMathType_t m, int strict) {
    if (c->dt == DT_BF16 || m == CUDNN_FMA_MATH) return 1;
    return !strict && m == CUDNN_DEFAULT_MATH;
}

/* Index of the first (fastest, for Find; best, for heuristics) usable result, or -1. */
#define PICK(c, perf, count, limit, allowed_fn, out)                                                                  \
    do {                                                                                                              \
        out = -1;                                                                                                     \
        for (int strict_ = 1; strict_ >= 0 && out < 0; strict_--)                                                     \
            for (int k_ = 0; k_ < (count) && out < 0; k_++)                                                           \
                if ((perf)[k_].status == CUDNN_STATUS_SUCCESS && (perf)[k_].memory <= (limit) &&                      \
                    allowed_fn((c), (perf)[k_].algo) && math_allowed((c), (perf)[k_].mathType, strict_)) {            \
                    out = k_;                                                                                         \
                    if (!strict_) warnf("cuda: fp32 convolution may use TF32 (cuDNN offered no FMA-only algorithm)"); \
                }                                                                                                     \
    } while (0)

static void no_algo(const Layer *l, const char *dir, int count, const int *algos, const cudnnStatus_t *st,
                    const size_t *mem, const cudnnMathType_t *math) {
    fprintf(stderr, "cuDNN offered no usable %s algorithm for %s; it returned:\n", dir, l->name);
    for (int k = 0; k < count; k++)
        fprintf(stderr, "  algo %d: %s, workspace %zu B, math type %d\n", algos[k], cudnnGetErrorString(st[k]), mem[k],
                (int)math[k]);
    FATAL("no cuDNN %s algorithm for %s", dir, l->name);
}

#define REPORT_NONE(l, dir, perf, count)         \
    do {                                         \
        int a_[16];                              \
        cudnnStatus_t s_[16];                    \
        size_t m_[16];                           \
        cudnnMathType_t t_[16];                  \
        int n_ = (count) < 16 ? (count) : 16;    \
        for (int k_ = 0; k_ < n_; k_++) {        \
            a_[k_] = (int)(perf)[k_].algo;       \
            s_[k_] = (perf)[k_].status;          \
            m_[k_] = (perf)[k_].memory;          \
            t_[k_] = (perf)[k_].mathType;        \
        }                                        \
        no_algo((l), (dir), n_, a_, s_, m_, t_); \
    } while (0)

/* One pass's fastest usable algorithm by cudnnFind* (find fills perf) under
 * the workspace limit: it becomes both the current and the best choice, and
 * *ws_need grows to its workspace. Returns its time in ms. The three passes
 * differ only in cuDNN's types and calls, hence the template. */
template <typename Algo, typename Perf, int N, typename FindFn>
static float find_best(CudaCtx *c, const Layer *l, const char *dir, cudnnConvolutionDescriptor_t desc, size_t limit,
                       size_t *ws_need, Algo *algo, Algo *best, cudnnMathType_t *math, cudnnMathType_t *best_math,
                       FindFn find, int (*allowed)(const CudaCtx *, Algo)) {
    Perf perf[N];
    int count = 0, k;
    CUDNN_CHECK(find(perf, &count));
    PICK(c, perf, count, limit, allowed, k);
    if (k < 0) REPORT_NONE(l, dir, perf, count);
    *algo = *best = perf[k].algo;
    *math = *best_math = perf[k].mathType;
    CUDNN_CHECK(cudnnSetConvolutionMathType(desc, *math));
    if (perf[k].memory > *ws_need) *ws_need = perf[k].memory;
    return perf[k].time;
}

void cuda_conv2d_choose(CudaCtx *c, int i, void *ws, size_t limit, size_t *ws_need) {
    const Layer *l = &c->net->layers[i];
    LayerPlan *lp = &c->plan[i];
    ConvPlan *p = &lp->conv;
    const void *x = layer_input(c, i), *w = weight_ptr(c, i);
    cudnnHandle_t h = c->cudnn;

    float t_fwd = find_best<cudnnConvolutionFwdAlgo_t, cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
        c, l, "forward", p->fwd_desc, limit, ws_need, &p->fwd, &p->fwd_best, &p->fwd_math, &p->fwd_best_math,
        [&](cudnnConvolutionFwdAlgoPerf_t *perf, int *count) {
            return cudnnFindConvolutionForwardAlgorithmEx(h, p->x, x, p->w, w, p->fwd_desc, p->y, lp->out,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, count, perf, ws, limit);
        },
        fwd_allowed);

    float t_bf = find_best<cudnnConvolutionBwdFilterAlgo_t, cudnnConvolutionBwdFilterAlgoPerf_t,
                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
        c, l, "backward-filter", p->bwd_filter_desc, limit, ws_need, &p->bwd_filter, &p->bwd_filter_best,
        &p->bwd_filter_math, &p->bwd_filter_best_math,
        [&](cudnnConvolutionBwdFilterAlgoPerf_t *perf, int *count) {
            return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p->x, x, p->y, c->g[0], p->bwd_filter_desc, p->w,
                                                                 c->dwc, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, count,
                                                                 perf, ws, limit);
        },
        bwd_filter_allowed);

    float t_bd = 0.0f;
    if (lp->need_dx)
        t_bd = find_best<cudnnConvolutionBwdDataAlgo_t, cudnnConvolutionBwdDataAlgoPerf_t,
                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
            c, l, "backward-data", p->bwd_data_desc, limit, ws_need, &p->bwd_data, &p->bwd_data_best, &p->bwd_data_math,
            &p->bwd_data_best_math,
            [&](cudnnConvolutionBwdDataAlgoPerf_t *perf, int *count) {
                return cudnnFindConvolutionBackwardDataAlgorithmEx(h, p->w, w, p->y, c->g[0], p->bwd_data_desc, p->x,
                                                                   c->g[1], CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                   count, perf, ws, limit);
            },
            bwd_data_allowed);
    if (c->verbose)
        fprintf(stderr, "cuda: %-12s fwd algo %d (%.3f ms)  bwd-filter algo %d (%.3f ms)  bwd-data algo %d (%.3f ms)\n",
                l->name, (int)p->fwd, t_fwd, (int)p->bwd_filter, t_bf, lp->need_dx ? (int)p->bwd_data : -1, t_bd);
}

/* cuDNN's heuristics (no buffers needed) offer a usable forward and
 * backward-filter algorithm for this layout: used to pick how many channels
 * the first layer's input is stored with. */
int cuda_conv2d_supported(CudaCtx *c, int i) {
    ConvPlan *p = &c->plan[i].conv;
    cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int nf = 0, nb = 0, kf = -1, kb = -1;
    if (cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, p->x, p->w, p->fwd_desc, p->y,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &nf, fp) != CUDNN_STATUS_SUCCESS)
        return 0;
    if (cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->cudnn, p->x, p->y, p->bwd_filter_desc, p->w,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &nb,
                                                      bf) != CUDNN_STATUS_SUCCESS)
        return 0;
    for (int k = 0; k < nf && kf < 0; k++)
        if (fp[k].status == CUDNN_STATUS_SUCCESS && fwd_allowed(c, fp[k].algo)) kf = k;
    for (int k = 0; k < nb && kb < 0; k++)
        if (bf[k].status == CUDNN_STATUS_SUCCESS && bwd_filter_allowed(c, bf[k].algo)) kb = k;
    return kf >= 0 && kb >= 0;
}

/* One pass's algorithm at the current batch: the Find choice (best,
 * best_math) when it is valid and its workspace (ws_of) fits, else the best
 * of cuDNN's heuristic choices (heuristic) that does. The three passes
 * differ only in cuDNN's types and calls, hence the template. */
template <typename Algo, typename Perf, int N, typename WsFn, typename HeurFn>
static void keep_or_pick(CudaCtx *c, const Layer *l, const char *dir, cudnnConvolutionDescriptor_t desc, Algo best,
                         cudnnMathType_t best_math, Algo *algo, cudnnMathType_t *math, WsFn ws_of, HeurFn heuristic,
                         int (*allowed)(const CudaCtx *, Algo)) {
    size_t sz = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(desc, best_math));
    if (ws_of(best, &sz) == CUDNN_STATUS_SUCCESS && sz <= c->ws_size) {
        *algo = best;
        *math = best_math;
        return;
    }
    Perf perf[N];
    int count = 0, k;
    CUDNN_CHECK(cudnnSetConvolutionMathType(desc, base_math(c)));
    CUDNN_CHECK(heuristic(perf, &count));
    PICK(c, perf, count, c->ws_size, allowed, k);
    if (k < 0) REPORT_NONE(l, dir, perf, count);
    *algo = perf[k].algo;
    *math = perf[k].mathType;
    CUDNN_CHECK(cudnnSetConvolutionMathType(desc, *math));
}

/* Re-targets one conv's descriptors to batch n (keep_or_pick for each pass). */
static void conv_set_batch(CudaCtx *c, int i, int n) {
    const Layer *l = &c->net->layers[i];
    LayerPlan *lp = &c->plan[i];
    ConvPlan *p = &lp->conv;
    cudnnDataType_t t = cudnn_type(c);
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, n, p->cin, l->in_h, l->in_w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, n, l->out_c, l->out_h, l->out_w));
    cudnnHandle_t h = c->cudnn;

    keep_or_pick<cudnnConvolutionFwdAlgo_t, cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
        c, l, "forward", p->fwd_desc, p->fwd_best, p->fwd_best_math, &p->fwd, &p->fwd_math,
        [&](cudnnConvolutionFwdAlgo_t a, size_t *sz) {
            return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->fwd_desc, p->y, a, sz);
        },
        [&](cudnnConvolutionFwdAlgoPerf_t *perf, int *count) {
            return cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->fwd_desc, p->y,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, count, perf);
        },
        fwd_allowed);

    keep_or_pick<cudnnConvolutionBwdFilterAlgo_t, cudnnConvolutionBwdFilterAlgoPerf_t,
                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
        c, l, "backward-filter", p->bwd_filter_desc, p->bwd_filter_best, p->bwd_filter_best_math, &p->bwd_filter,
        &p->bwd_filter_math,
        [&](cudnnConvolutionBwdFilterAlgo_t a, size_t *sz) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->bwd_filter_desc, p->w, a, sz);
        },
        [&](cudnnConvolutionBwdFilterAlgoPerf_t *perf, int *count) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->bwd_filter_desc, p->w,
                                                                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, count, perf);
        },
        bwd_filter_allowed);

    if (!lp->need_dx) return;
    keep_or_pick<cudnnConvolutionBwdDataAlgo_t, cudnnConvolutionBwdDataAlgoPerf_t,
                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
        c, l, "backward-data", p->bwd_data_desc, p->bwd_data_best, p->bwd_data_best_math, &p->bwd_data,
        &p->bwd_data_math,
        [&](cudnnConvolutionBwdDataAlgo_t a, size_t *sz) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->bwd_data_desc, p->x, a, sz);
        },
        [&](cudnnConvolutionBwdDataAlgoPerf_t *perf, int *count) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->bwd_data_desc, p->x,
                                                               CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, count, perf);
        },
        bwd_data_allowed);
}

void cuda_layers_set_batch(CudaCtx *c, int n) {
    if (c->desc_n == n) return;
    for (int i = 0; i < c->net->n_layers; i++)
        if (c->net->layers[i].kind == LAYER_CONV) conv_set_batch(c, i, n);
    c->desc_n = n;
}

/* ---------------------------------------------------------- convolutions */

void cuda_conv2d_forward(CudaCtx *c, int i, const void *x, void *y) {
    ConvPlan *p = &c->plan[i].conv;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(c->cudnn, &one, p->x, x, p->w, weight_ptr(c, i), p->fwd_desc, p->fwd, c->ws,
                                        c->ws_size, &zero, p->y, y));
}

void cuda_conv2d_backward_weights(CudaCtx *c, int i, const void *x, const void *dy, void *dw) {
    ConvPlan *p = &c->plan[i].conv;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->cudnn, &one, p->x, x, p->y, dy, p->bwd_filter_desc, p->bwd_filter,
                                               c->ws, c->ws_size, &zero, p->w, dw));
}

void cuda_conv2d_backward_data(CudaCtx *c, int i, const void *dy, void *dx) {
    ConvPlan *p = &c->plan[i].conv;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(c->cudnn, &one, p->w, weight_ptr(c, i), p->y, dy, p->bwd_data_desc,
                                             p->bwd_data, c->ws, c->ws_size, &zero, p->x, dx));
}

/* --------------------------------------------------------- linear layers */

void cuda_linear_forward(CudaCtx *c, int i, const void *x, void *y, int n, int y_f32) {
    const Layer *l = &c->net->layers[i];
    int in = l->in_c * l->in_h * l->in_w, out = l->out_c;
    cudaDataType t = blas_type(c);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasGemmEx(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, weight_ptr(c, i), t, in, x, t, in,
                              &zero, y, y_f32 ? CUDA_R_32F : t, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void cuda_linear_backward(CudaCtx *c, int i, const void *x, const void *dy, float *dw, void *dx, int n) {
    const Layer *l = &c->net->layers[i];
    int in = l->in_c * l->in_h * l->in_w, out = l->out_c;
    cudaDataType t = blas_type(c);
    const float one = 1.0f, zero = 0.0f;
    if (dw)
        CUBLAS_CHECK(cublasGemmEx(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, t, in, dy, t, out, &zero,
                                  dw, CUDA_R_32F, in, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (dx)
        CUBLAS_CHECK(cublasGemmEx(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, weight_ptr(c, i), t, in, dy, t,
                                  out, &zero, dx, t, in, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void cuda_conv2d_destroy(CudaCtx *c, int i) {
    ConvPlan *p = &c->plan[i].conv;
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->fwd_desc) cudnnDestroyConvolutionDescriptor(p->fwd_desc);
    if (p->bwd_data_desc) cudnnDestroyConvolutionDescriptor(p->bwd_data_desc);
    if (p->bwd_filter_desc) cudnnDestroyConvolutionDescriptor(p->bwd_filter_desc);
    memset(p, 0, sizeof *p);
}

void cuda_layers_destroy(CudaCtx *c) {
    for (int i = 0; i < c->net->n_layers; i++)
        if (c->net->layers[i].kind == LAYER_CONV) cuda_conv2d_destroy(c, i);
}
