/*
 * cuda_internal.h — the cuda backend's context and the functions its files
 * share (C++ only: included by the .cu files).
 *
 * Memory plan (all allocated in create(), nothing per step):
 *   params, grads, mom   fp32 [P], Net.params order (the flat buffers)
 *   wc                   compute copies of the weights (dt): conv weights
 *                        re-laid OIHW -> KRSC (cuDNN NHWC filters) with the
 *                        first conv's 3 input channels padded to cp; linear
 *                        weights only in bf16 (fp32 reads params directly)
 *   x0                   normalised input [B, S, S, cp] (dt, NHWC)
 *   plan[i].out          output of layer i (dt; the logits are fp32); a fused
 *                        ReLU and an identity avgpool alias their input
 *   g[0], g[1]           gradient ping-pong [B, max activation] (dt)
 *   plan[i].flat, dflat  a linear layer's flattened (C,H,W-order) input and
 *                        its gradient, when its producer is spatial NHWC
 */
#ifndef ALEXNET_CUDA_INTERNAL_H
#define ALEXNET_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "backend/backend_host.h"
#include "common/env.h"
}
#include "backend/cuda/cuda_kernels.h"

#define CUDA_GRAPH_SLOTS 4

typedef struct {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t fwd_desc, bwd_data_desc, bwd_filter_desc; /* one per direction: math types differ */
    cudnnConvolutionFwdAlgo_t fwd, fwd_best; /* *_best: chosen by cudnnFind at the full batch */
    cudnnConvolutionBwdDataAlgo_t bwd_data, bwd_data_best;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter, bwd_filter_best;
    cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
    cudnnMathType_t fwd_best_math, bwd_data_best_math, bwd_filter_best_math;
    int cin; /* input channels as stored (cp for a padded first layer) */
    int cg;  /* stored input channels per group */
} ConvPlan;

typedef struct {
    void *out; /* output activation (see the memory plan) */
    Layout in_layout, out_layout;
    int relu_fused;  /* conv/linear: the next layer's ReLU runs in this layer's epilogue */
    int fused;       /* ReLU folded into the previous layer; out aliases it */
    int mask_in;     /* the input is a fused ReLU's output: backward may apply its mask */
    int alias;       /* identity avgpool: out is the input */
    int flatten;     /* linear whose input is spatial NHWC: copied to `flat` first */
    void *flat;      /* flatten: the input in C,H,W order [B, in] (dt) */
    int need_dx;     /* backward computes the input gradient (not for layer 0) */
    uint8_t *argmax; /* maxpool: window position of each output's maximum */
    ConvPlan conv;
    long long wc_off;       /* conv/linear: offset of the compute weights in ctx->wc; -1: params */
    cudaEvent_t prof[2][2]; /* profiling: [PROFILE_FWD or PROFILE_BWD][start, end] */
} LayerPlan;

typedef struct {
    int n, warm; /* batch; 1 after the eager warm-up run */
    cudaGraphExec_t exec;
} GraphSlot;

struct CommState;

typedef struct CudaCtx {
    const Net *net;
    int max_batch, device, sms, threads;
    DType dt;
    InputFormat input;
    RawFormat raw_fmt;
    int cp; /* stored channels of x0 */
    uint64_t seed;
    int verbose;

    cudaStream_t stream, copy_stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_ws;
    void *ws; /* cuDNN workspace */
    size_t ws_size;
    int desc_n; /* batch the cuDNN descriptors are set for */

    LayerPlan plan[NET_MAX_LAYERS];
    float *params, *grads, *mom;
    void *wc;
    size_t wc_elems;
    void *dwc; /* conv weight gradient in KRSC (dt), before cuda_wgrad_to_flat */
    SgdTable sgd;

    void *raw, *h_raw; /* device / pinned host input, raw format */
    size_t raw_bytes;  /* per sample */
    void *x0;
    void *g[2];
    void *dflat;
    float *partial;
    int32_t *labels, *h_labels;
    double *row_loss, *h_loss;
    DevKeys *keys;
    cudaEvent_t ev_copied, ev_raw_free, ev_loss, ev_done;

    int n; /* samples of the last forward */
    int use_graphs;
    GraphSlot fwd_graphs[CUDA_GRAPH_SLOTS], bwd_graphs[CUDA_GRAPH_SLOTS];
    LayerProfile prof; /* summed from the events of LayerPlan.prof */

    struct CommState *comm;
} CudaCtx;

/* cuda_layers.cu: cuDNN convolutions and cuBLAS linear layers */
void cuda_conv2d_create(CudaCtx *c, int i);
int cuda_conv2d_supported(CudaCtx *c, int i);
void cuda_conv2d_destroy(CudaCtx *c, int i);
void cuda_conv2d_choose(CudaCtx *c, int i, void *ws, size_t ws_limit, size_t *ws_need);
void cuda_layers_set_batch(CudaCtx *c, int n);
void cuda_conv2d_forward(CudaCtx *c, int i, const void *x, void *y);
void cuda_conv2d_backward_weights(CudaCtx *c, int i, const void *x, const void *dy, void *dw);
void cuda_conv2d_backward_data(CudaCtx *c, int i, const void *dy, void *dx);
void cuda_linear_forward(CudaCtx *c, int i, const void *x, void *y, int n, int y_f32);
void cuda_linear_backward(CudaCtx *c, int i, const void *x, const void *dy, float *dw, void *dx, int n);
void cuda_layers_destroy(CudaCtx *c);

/* cuda_comm.cu: NCCL gradient all-reduce (no-ops without NCCL) */
int comm_available(void);
int comm_create_id_impl(CudaCtx *c, uint8_t *id, Error *err);
int comm_init_impl(CudaCtx *c, int rank, int world, const uint8_t *id, Error *err);
int comm_active(const CudaCtx *c);
/* Called on the compute stream after layer i's gradients are written: starts
 * the all-reduce of every bucket that is now complete on the comm stream. */
void comm_layer_done(CudaCtx *c, int layer);
/* Makes the compute stream wait for every all-reduce of this step. */
void comm_join(CudaCtx *c);
void comm_destroy(CudaCtx *c);

/* cuda_host.c: the host side of input staging */
extern "C" void cuda_host_copy(void *dst, const void *src, size_t bytes, int threads);

#endif
