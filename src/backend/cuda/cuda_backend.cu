/*
 * cuda_backend.cu — the `cuda` backend: the BackendVTable, the memory plan
 * built in create(), and the step: input upload, forward, loss + backward,
 * optimizer, each enqueued on one compute stream.
 *
 * A step on the GPU, with no host synchronisation except the loss:
 *   copy stream:    [H2D raw batch t+1] (overlaps the backward of step t)
 *   compute stream: [input kernel][forward graph] [loss][backward graph
 *                   (+ NCCL buckets on the comm stream)][SGD]
 * forward() returns once the work is enqueued; backward() returns as soon as
 * the loss (computed first) is back on the host, while the GPU runs the rest
 * of the backward. The layer sequences run as CUDA graphs, captured per batch
 * size after one eager warm-up run (ALEXNET_CUDA_GRAPH=0: always eager;
 * profiling is always eager, timed with events around each layer).
 *
 * Fusions (see cuda_internal.h for the buffers): conv/linear + bias + a
 * following ReLU in one epilogue pass; the ReLU's backward mask is applied by
 * whoever produces its gradient (max-pool or dropout backward, else the
 * bias-gradient pass); max-pool stores each output's argmax so its backward
 * is a gather; dropout and relu layers also move a spatial activation into
 * torchvision's C,H,W flatten order for the next linear layer.
 *
 * Environment knobs (for tests and benchmarks; none is needed):
 *   ALEXNET_CUDA_GRAPH=0        eager launches, no CUDA graphs
 *   ALEXNET_CUDA_INPUT=u8|f32|f32nhwc  input format (default: u8 with bf16, f32 NCHW with fp32)
 *   ALEXNET_CUDA_CPAD=3..8      stored channels of the first conv's input (default: 4 bf16, 3 fp32)
 *   ALEXNET_CUDA_WS_MB=N        workspace limit for the cuDNN algorithm search (default 1024)
 *   ALEXNET_CUDA_VERBOSE=1      device, algorithms and memory on stderr
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_internal.h"

extern "C" {
#include "backend/cuda/cuda_backend.h"
}

int *cuda_capture_failed = NULL;

void cuda_check_fail(const char *file, int line, const char *call, const char *what) {
    if (!cuda_capture_failed) fatal_at(file, line, "%s: %s", call, what);
    if (!*cuda_capture_failed) warnf("cuda: during CUDA graph capture, %s:%d: %s: %s", file, line, call, what);
    *cuda_capture_failed = 1;
}

int cuda_backend_device_count(char *msg, size_t len) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        int driver = 0, runtime = 0;
        if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
        if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
        /* the runtime reports a missing driver as an "insufficient" one: say which it is */
        if (e == cudaErrorInsufficientDriver && driver == 0)
            snprintf(msg, len, "no NVIDIA driver loaded: no GPU here, or its driver is not installed");
        else if (e == cudaErrorInsufficientDriver)
            snprintf(msg, len, "the NVIDIA driver supports CUDA %d.%d, this build needs %d.%d: update the driver",
                     driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
        else snprintf(msg, len, "%s", cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    if (n == 0) snprintf(msg, len, "no CUDA device");
    return n;
}

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    CUDA_CHECK(cudaMemset(p, 0, bytes ? bytes : 1));
    return p;
}

static const void *layer_input(const CudaCtx *c, int i) { return i == 0 ? c->x0 : c->plan[i - 1].out; }
static float *param_ptr(float *base, const Net *net, int t) { return base + net->params[t].offset; }

/* ------------------------------------------------------------------ plan */

static int is_eltwise(LayerKind k) { return k == LAYER_RELU || k == LAYER_DROPOUT; }

/* Decides layouts, fusions and aliases (no allocation). */
static int plan_layers(CudaCtx *c, Error *err) {
    const Net *net = c->net;
    int L = net->n_layers;
    Layout prev = LAYOUT_NHWC;
    int first_trained = L; /* backward stops at the lowest layer whose parameters train */
    for (int i = L - 1; i >= 0; i--)
        if (layer_trains(net, &net->layers[i])) first_trained = i;
    for (int i = 0; i < L; i++) {
        const Layer *l = &net->layers[i];
        LayerPlan *p = &c->plan[i];
        p->need_dx = i > first_trained;
        p->wc_off = -1;
        p->in_layout = prev;
        p->mask_in = i > 0 && c->plan[i - 1].fused;
        int next_relu = i + 1 < L && net->layers[i + 1].kind == LAYER_RELU;
        switch (l->kind) {
        case LAYER_CONV:
            p->out_layout = LAYOUT_NHWC;
            p->relu_fused = next_relu;
            break;
        case LAYER_LINEAR:
            p->out_layout = LAYOUT_FLAT;
            p->flatten = prev == LAYOUT_NHWC && l->in_h * l->in_w > 1;
            p->relu_fused = next_relu;
            break;
        case LAYER_RELU:
            if (i > 0 && c->plan[i - 1].relu_fused) {
                p->fused = 1;
                p->out_layout = prev;
                break;
            }
            [[fallthrough]]; /* an element-wise layer */
        case LAYER_DROPOUT: {
            int j = i + 1;
            while (j < L && is_eltwise(net->layers[j].kind)) j++;
            p->out_layout = j < L && net->layers[j].kind == LAYER_LINEAR ? LAYOUT_FLAT : LAYOUT_NHWC;
            break;
        }
        case LAYER_MAXPOOL:
            if (l->kernel * l->kernel > 255)
                return error_set(err, "the cuda backend supports max-pool windows up to 15x15 (%s is %dx%d)", l->name,
                                 l->kernel, l->kernel);
            p->out_layout = LAYOUT_NHWC;
            break;
        case LAYER_AVGPOOL:
            p->alias = l->in_h == l->out_h && l->in_w == l->out_w;
            p->out_layout = LAYOUT_NHWC;
            break;
        case LAYER_LRN: p->out_layout = LAYOUT_NHWC; break;
        }
        int spatial =
            l->kind == LAYER_CONV || l->kind == LAYER_MAXPOOL || l->kind == LAYER_AVGPOOL || l->kind == LAYER_LRN;
        if (spatial && prev == LAYOUT_FLAT && l->in_h * l->in_w > 1)
            return error_set(err, "the cuda backend cannot run %s on a flattened input", l->name);
        prev = p->out_layout;
    }
    return 0;
}

/* The flat buffers, the compute weights and the scratch sized by the
 * conv/linear layers (weight gradient, flatten, bias-gradient partials). */
static void plan_weight_memory(CudaCtx *c) {
    const Net *net = c->net;
    int L = net->n_layers;
    size_t B = (size_t)c->max_batch, es = dtype_size(c->dt);
    size_t P = net->param_count;
    c->params = (float *)dev_alloc(P * sizeof(float));
    c->grads = (float *)dev_alloc(P * sizeof(float));
    c->mom = (float *)dev_alloc(P * sizeof(float));

    size_t wc = 0, dwc = 0, dflat = 1, partial = 1;
    for (int i = 0; i < L; i++) {
        const Layer *l = &net->layers[i];
        LayerPlan *p = &c->plan[i];
        if (l->kind == LAYER_CONV) {
            size_t n = (size_t)l->out_c * l->kernel * l->kernel * p->conv.cg;
            p->wc_off = (long long)wc;
            wc += (n + 127) / 128 * 128;
            if (n > dwc) dwc = n;
            size_t pf = cuda_bias_grad_partial_floats((long long)B * l->out_h * l->out_w, l->out_c);
            if (pf > partial) partial = pf;
        } else if (l->kind == LAYER_LINEAR) {
            if (c->dt == DT_BF16) {
                p->wc_off = (long long)wc;
                wc += (layer_in_elems(l) * l->out_c + 127) / 128 * 128;
            }
            if (p->flatten) {
                p->flat = dev_alloc(B * layer_in_elems(l) * es);
                if (layer_in_elems(l) > dflat) dflat = layer_in_elems(l);
            }
            size_t pf = cuda_bias_grad_partial_floats((long long)B, l->out_c);
            if (pf > partial) partial = pf;
        }
    }
    c->wc_elems = wc;
    c->wc = dev_alloc(wc * es);
    c->dwc = dev_alloc(dwc * es);
    c->dflat = dev_alloc(B * dflat * es);
    c->partial = (float *)dev_alloc(partial * sizeof(float));
}

/* The input staging, every activation, the gradient ping-pong and the loss buffers. */
static void plan_activation_memory(CudaCtx *c) {
    const Net *net = c->net;
    int L = net->n_layers;
    size_t B = (size_t)c->max_batch, es = dtype_size(c->dt), S = (size_t)net->image_size;
    c->raw_bytes = 3 * S * S * (c->input == INPUT_U8_NHWC ? 1 : sizeof(float));
    c->raw = dev_alloc(B * c->raw_bytes);
    CUDA_CHECK(cudaHostAlloc(&c->h_raw, B * c->raw_bytes, cudaHostAllocDefault));
    c->x0 = dev_alloc(B * S * S * c->cp * es);
    for (int i = 0; i < L; i++) {
        const Layer *l = &net->layers[i];
        LayerPlan *p = &c->plan[i];
        if (p->fused || p->alias) {
            p->out = (void *)layer_input(c, i);
            continue;
        }
        size_t e = i == L - 1 ? sizeof(float) : es; /* the logits are fp32 */
        p->out = dev_alloc(B * layer_out_elems(l) * e);
        if (l->kind == LAYER_MAXPOOL) p->argmax = (uint8_t *)dev_alloc(B * layer_out_elems(l));
    }
    size_t gmax = net_max_activation(net);
    c->g[0] = dev_alloc(B * gmax * es);
    c->g[1] = dev_alloc(B * gmax * es);
    c->labels = (int32_t *)dev_alloc(B * sizeof(int32_t));
    c->row_loss = (double *)dev_alloc(B * sizeof(double));
    c->keys = (DevKeys *)dev_alloc(sizeof(DevKeys));
    CUDA_CHECK(cudaHostAlloc((void **)&c->h_labels, B * sizeof(int32_t), cudaHostAllocDefault));
    CUDA_CHECK(cudaHostAlloc((void **)&c->h_loss, B * sizeof(double), cudaHostAllocDefault));
}

/* The optimizer's table: each tensor's place in the flat and compute buffers. */
static void plan_sgd_table(CudaCtx *c) {
    const Net *net = c->net;
    SgdTable *tab = &c->sgd;
    memset(tab, 0, sizeof *tab);
    CHECK(net->n_params <= SGD_MAX_TENSORS, "too many parameter tensors for the cuda optimizer (%d)", net->n_params);
    tab->n = net->n_params;
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *pt = &net->params[t];
        const Layer *l = &net->layers[pt->layer];
        const LayerPlan *lp = &c->plan[pt->layer];
        SgdTensor *d = &tab->t[t];
        d->off = (long long)pt->offset;
        d->numel = (long long)pt->numel;
        d->decay = pt->decay;
        d->frozen = pt->frozen;
        d->lr_scale = pt->lr_scale;
        d->wc_off = -1;
        d->block0 = tab->blocks;
        tab->blocks += (int)((pt->numel + SGD_ITEMS_PER_BLOCK - 1) / SGD_ITEMS_PER_BLOCK);
        int is_weight = t == l->weight;
        if (is_weight && lp->wc_off >= 0) {
            d->wc_off = lp->wc_off;
            if (l->kind == LAYER_CONV) {
                d->conv = 1;
                d->K = l->out_c;
                d->cg = l->in_c / l->groups;
                d->R = d->S = l->kernel;
                d->cp = lp->conv.cg;
            }
        }
    }
}

/* Allocates activations, scratch and parameter buffers; fills the SGD table. */
static void plan_memory(CudaCtx *c) {
    plan_weight_memory(c);
    plan_activation_memory(c);
    plan_sgd_table(c);
}

/* ---------------------------------------------------------------- create */

static void destroy_graphs(GraphSlot *slots) {
    for (int k = 0; k < CUDA_GRAPH_SLOTS; k++) {
        if (slots[k].exec) cudaGraphExecDestroy(slots[k].exec);
        memset(&slots[k], 0, sizeof slots[k]);
    }
}

static void cuda_destroy(void *ctx);

/* What the backend refuses before touching the GPU (backend_supports, and
 * backend_create before create): no usable device, a net whose last layer
 * is not the logits' linear, a layer plan_layers can't place. fp32 and bf16
 * both run. */
static int cuda_supports(const Net *net, Precision precision, Error *err) {
    if (precision == PRECISION_INT8)
        return error_set(err, "the cuda backend has no int8 path: run int8 models on the CPU with --backend ref");
    char why[256] = "";
    if (cuda_backend_device_count(why, sizeof why) < 1)
        return error_set(err, "the cuda backend has no GPU to run on (%s); use --device cpu", why);
    int L = net->n_layers;
    if (L < 1 || net->layers[L - 1].kind != LAYER_LINEAR)
        return error_set(err, "the cuda backend needs a network whose last layer is linear (the logits)");
    CudaCtx *probe = (CudaCtx *)xcalloc(1, sizeof *probe);
    probe->net = net;
    int rc = plan_layers(probe, err);
    free(probe);
    return rc;
}

/* The device ordinal (what cuda_supports can't know). */
static int create_check(const BackendOptions *opt, Error *err) {
    char why[256] = "";
    int ndev = cuda_backend_device_count(why, sizeof why);
    if (opt->device < 0 || opt->device >= ndev)
        return error_set(err, "GPU %d does not exist (this machine has %d)", opt->device, ndev);
    return 0;
}

/* The context's settings from the options and the environment knobs. */
static void ctx_settings(CudaCtx *c, const Net *net, int max_batch, const BackendOptions *opt, int first_conv) {
    c->net = net;
    c->max_batch = max_batch;
    c->device = opt->device;
    c->dt = opt->precision == PRECISION_BF16 ? DT_BF16 : DT_F32;
    c->seed = opt->seed;
    c->threads = opt->threads > 0 && opt->threads < 8 ? opt->threads : 8;
    const EnvSwitches *env = env_switches();
    c->verbose = env->cuda_verbose;
    c->use_graphs = env->cuda_graph;
    CUDA_CHECK(cudaDeviceGetAttribute(&c->sms, cudaDevAttrMultiProcessorCount, c->device));

    const char *in = env->cuda_input;
    if (strcmp(in, "u8") == 0) c->input = INPUT_U8_NHWC;
    else if (strcmp(in, "f32") == 0) c->input = INPUT_F32_NCHW;
    else if (strcmp(in, "f32nhwc") == 0) c->input = INPUT_F32_NHWC;
    else c->input = c->dt == DT_BF16 ? INPUT_U8_NHWC : INPUT_F32_NCHW;
    c->raw_fmt = c->input == INPUT_U8_NHWC ? RAW_U8_NHWC : c->input == INPUT_F32_NHWC ? RAW_F32_NHWC : RAW_F32_NCHW;
    /* the first conv's input channels, padded with zeros: 4 in bf16 (aligned
     * 8-byte pixels for the tensor-core kernels), 3 in fp32 */
    c->cp = first_conv ? (env->cuda_cpad ? env->cuda_cpad : c->dt == DT_BF16 ? 4 : 3) : 3;
    if (c->cp < 3 || c->cp > 8) c->cp = 4;
}

/* Streams, library handles, events. */
static void create_handles(CudaCtx *c) {
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->copy_stream, cudaStreamNonBlocking));
    CUDNN_CHECK(cudnnCreate(&c->cudnn));
    CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
    CUBLAS_CHECK(cublasCreate(&c->cublas));
    CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    CUBLAS_CHECK(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
    const size_t cublas_ws = 32u << 20;
    c->cublas_ws = dev_alloc(cublas_ws);
    CUBLAS_CHECK(cublasSetWorkspace(c->cublas, c->cublas_ws, cublas_ws));
    unsigned ev = cudaEventDisableTiming;
    CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_copied, ev));
    CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_raw_free, ev));
    CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_loss, ev));
    CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_done, ev));
    for (int i = 0; i < c->net->n_layers; i++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 2; k++) CUDA_CHECK(cudaEventCreate(&c->plan[i].prof[d][k]));
}

/* The cuDNN descriptors of every convolution; the first one's input
 * channels as chosen in ctx_settings, else 8, else 3, whichever cuDNN supports. */
static void create_convs(CudaCtx *c, int first_conv) {
    if (first_conv) {
        int tries[3] = { c->cp, 8, 3 };
        for (int t = 0; t < 3; t++) {
            c->cp = tries[t];
            cuda_conv2d_create(c, 0);
            if (cuda_conv2d_supported(c, 0)) break;
            if (t < 2) {
                warnf("cuda: cuDNN has no algorithm for the first convolution with %d input channels; trying %d", c->cp,
                      tries[t + 1]);
                cuda_conv2d_destroy(c, 0);
            }
        }
    }
    for (int i = first_conv ? 1 : 0; i < c->net->n_layers; i++)
        if (c->net->layers[i].kind == LAYER_CONV) cuda_conv2d_create(c, i);
}

/* The algorithm search on the real buffers, then the workspace it needs. */
static void choose_algorithms(CudaCtx *c) {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    size_t limit = (size_t)env_switches()->cuda_ws_mb << 20;
    if (limit > free_b / 2) limit = free_b / 2;
    void *probe = NULL;
    CUDA_CHECK(cudaMalloc(&probe, limit ? limit : 1));
    size_t need = 0;
    for (int i = 0; i < c->net->n_layers; i++)
        if (c->net->layers[i].kind == LAYER_CONV) cuda_conv2d_choose(c, i, probe, limit, &need);
    CUDA_CHECK(cudaFree(probe));
    c->ws_size = need;
    c->ws = need ? dev_alloc(need) : NULL;
    c->desc_n = c->max_batch;
}

/* ALEXNET_CUDA_VERBOSE=1: device, settings and memory on stderr. */
static void print_setup(const CudaCtx *c) {
    size_t free_b = 0, total_b = 0;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, c->device));
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    fprintf(stderr,
            "cuda: %s, %d SMs, cuDNN %zu, %s, input %s (cp %d), graphs %s, workspace %.1f MiB, "
            "%.0f MiB of %.0f MiB in use\n",
            prop.name, c->sms, cudnnGetVersion(), c->dt == DT_BF16 ? "bf16" : "fp32",
            c->input == INPUT_U8_NHWC    ? "u8 NHWC"
            : c->input == INPUT_F32_NHWC ? "f32 NHWC"
                                         : "f32 NCHW",
            c->cp, c->use_graphs ? "on" : "off", c->ws_size / 1048576.0, (total_b - free_b) / 1048576.0,
            total_b / 1048576.0);
}

static void *cuda_create(const Net *net, int max_batch, const BackendOptions *opt, Error *err) {
    if (create_check(opt, err) != 0) return NULL;
    CUDA_CHECK(cudaSetDevice(opt->device));
    CudaCtx *c = (CudaCtx *)xcalloc(1, sizeof *c);
    int first_conv = net->layers[0].kind == LAYER_CONV && net->layers[0].groups == 1;
    ctx_settings(c, net, max_batch, opt, first_conv);
    if (plan_layers(c, err) != 0) {
        free(c);
        return NULL;
    }
    create_handles(c);
    create_convs(c, first_conv);
    plan_memory(c);
    CUDA_CHECK(cudaDeviceSynchronize()); /* dev_alloc's memsets ran on the legacy stream */
    choose_algorithms(c);
    CUDA_CHECK(cudaDeviceSynchronize());
    if (c->verbose) print_setup(c);
    return c;
}

static void cuda_destroy(void *ctx) {
    CudaCtx *c = (CudaCtx *)ctx;
    const Net *net = c->net;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    cudaStreamSynchronize(c->copy_stream);
    comm_destroy(c);
    destroy_graphs(c->fwd_graphs);
    destroy_graphs(c->bwd_graphs);
    for (int i = 0; i < net->n_layers; i++) {
        LayerPlan *p = &c->plan[i];
        if (!p->fused && !p->alias) cudaFree(p->out);
        cudaFree(p->argmax);
        cudaFree(p->flat);
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 2; k++) cudaEventDestroy(p->prof[d][k]);
    }
    cuda_layers_destroy(c);
    void *bufs[] = { c->params, c->grads, c->mom,     c->wc,     c->dwc,      c->raw,  c->x0, c->g[0],
                     c->g[1],   c->dflat, c->partial, c->labels, c->row_loss, c->keys, c->ws, c->cublas_ws };
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) cudaFree(bufs[k]);
    cudaFreeHost(c->h_raw);
    cudaFreeHost(c->h_labels);
    cudaFreeHost(c->h_loss);
    cudaEventDestroy(c->ev_copied);
    cudaEventDestroy(c->ev_raw_free);
    cudaEventDestroy(c->ev_loss);
    cudaEventDestroy(c->ev_done);
    cublasDestroy(c->cublas);
    cudnnDestroy(c->cudnn);
    cudaStreamDestroy(c->stream);
    cudaStreamDestroy(c->copy_stream);
    free(c);
}

static InputFormat cuda_input_format(void *ctx) { return ((CudaCtx *)ctx)->input; }

/* ------------------------------------------------------- flat host copies */

static void copy_in(CudaCtx *c, float *dst, const float *src) {
    CUDA_CHECK(cudaSetDevice(c->device));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, c->net->param_count * sizeof(float), cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void copy_out(CudaCtx *c, float *dst, const float *src) {
    CUDA_CHECK(cudaSetDevice(c->device));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, c->net->param_count * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void cuda_set_params(void *ctx, const float *p) {
    CudaCtx *c = (CudaCtx *)ctx;
    copy_in(c, c->params, p);
    cuda_sgd_apply(c->dt, &c->sgd, c->params, c->grads, c->mom, c->wc, 0.0f, 0.0f, 0.0f, 0, c->stream);
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}
static void cuda_get_params(void *ctx, float *p) {
    CudaCtx *c = (CudaCtx *)ctx;
    copy_out(c, p, c->params);
}
static void cuda_set_momentum(void *ctx, const float *m) {
    CudaCtx *c = (CudaCtx *)ctx;
    copy_in(c, c->mom, m);
}
static void cuda_get_momentum(void *ctx, float *m) {
    CudaCtx *c = (CudaCtx *)ctx;
    copy_out(c, m, c->mom);
}
static void cuda_get_grads(void *ctx, float *g) {
    CudaCtx *c = (CudaCtx *)ctx;
    copy_out(c, g, c->grads);
}
static float *cuda_grad_buffer(void *ctx) { return ((CudaCtx *)ctx)->grads; }

/* ------------------------------------------------------------- profiling */

static void prof_mark(CudaCtx *c, int dir, int i, int end) {
    if (c->prof.on) CUDA_CHECK(cudaEventRecord(c->plan[i].prof[dir][end], c->stream));
}

/* Adds the timed layers of the last forward or backward (dir: PROFILE_FWD, PROFILE_BWD). */
static void prof_collect(CudaCtx *c, int dir) {
    int L = c->net->n_layers;
    CUDA_CHECK(cudaEventSynchronize(c->plan[dir == PROFILE_FWD ? L - 1 : 0].prof[dir][1]));
    for (int i = 0; i < L; i++) {
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, c->plan[i].prof[dir][0], c->plan[i].prof[dir][1]));
        c->prof.ms[dir][i] += ms;
    }
}

static void cuda_set_profiling(void *ctx, int on) { ((CudaCtx *)ctx)->prof.on = on; }

static int cuda_native_bf16(void) { return 1; }

static Precision cuda_auto_precision(char *why, size_t len) {
    if (why && len) snprintf(why, len, "tensor cores run bf16");
    return PRECISION_BF16;
}

static void cuda_read_profile(void *ctx, double *fwd_ms, double *bwd_ms) {
    CudaCtx *c = (CudaCtx *)ctx;
    profile_read(&c->prof, c->net->n_layers, fwd_ms, bwd_ms);
}

/* ---------------------------------------------------------- layer sequences */

static const float *bias_of(const CudaCtx *c, const Layer *l) { return param_ptr(c->params, c->net, l->weight + 1); }

/* Dropout layer i's key: the host part (see CudaDropout; the rest is DevKeys). */
static CudaDropout dropout_key(const CudaCtx *c, int i) {
    CudaDropout k = { c->seed, (uint32_t)i, c->net->layers[i].drop_p, c->keys };
    return k;
}

static void enqueue_forward(CudaCtx *c, int n) {
    const Net *net = c->net;
    int L = net->n_layers;
    DType dt = c->dt;
    cudaStream_t s = c->stream;
    cuda_layers_set_batch(c, n);
    for (int i = 0; i < L; i++) {
        const Layer *l = &net->layers[i];
        LayerPlan *p = &c->plan[i];
        const void *x = layer_input(c, i);
        long hw_in = (long)l->in_h * l->in_w;
        if (i > 0) prof_mark(c, PROFILE_FWD, i, 0);
        switch (l->kind) {
        case LAYER_CONV:
            cuda_conv2d_forward(c, i, x, p->out);
            cuda_bias_act(dt, p->out, bias_of(c, l), (long long)n * l->out_h * l->out_w, l->out_c, p->relu_fused, s);
            break;
        case LAYER_RELU:
            if (!p->fused) {
                cuda_relu_forward(dt, x, p->out, n, l->in_c, hw_in, p->in_layout, p->out_layout, s);
            }
            break;
        case LAYER_DROPOUT:
            cuda_dropout_forward(dt, x, p->out, n, l->in_c, hw_in, p->in_layout, p->out_layout, dropout_key(c, i), s);
            break;
        case LAYER_MAXPOOL:
            cuda_maxpool_forward(dt, x, p->out, p->argmax, n, l->in_c, l->in_h, l->in_w, l->out_h, l->out_w, l->kernel,
                                 l->stride, s);
            break;
        case LAYER_AVGPOOL:
            if (!p->alias) cuda_avgpool_forward(dt, x, p->out, n, l->in_c, l->in_h, l->in_w, l->out_h, l->out_w, s);
            break;
        case LAYER_LRN:
            cuda_lrn_forward(dt, x, p->out, (long long)n * hw_in, l->in_c, l->lrn_size, l->lrn_alpha, l->lrn_beta,
                             l->lrn_k, s);
            break;
        case LAYER_LINEAR: {
            const void *xin = x;
            if (p->flatten) {
                cuda_flatten_forward(dt, x, p->flat, n, l->in_c, hw_in, s);
                xin = p->flat;
            }
            int last = i == L - 1;
            cuda_linear_forward(c, i, xin, p->out, n, last);
            cuda_bias_act(last ? DT_F32 : dt, p->out, bias_of(c, l), n, l->out_c, p->relu_fused, s);
            break;
        }
        }
        prof_mark(c, PROFILE_FWD, i, 1);
    }
}

/* Conv layer i's backward: bias and weight gradients (when it trains; the
 * bias pass first applies a fused ReLU's mask to dy unless already masked),
 * then dx (when needed). */
static void conv_backward(CudaCtx *c, int i, int n, const void *x, void *dy, void *dx, int masked, int trains) {
    const Net *net = c->net;
    const Layer *l = &net->layers[i];
    const LayerPlan *p = &c->plan[i];
    const void *mask = p->relu_fused && !masked ? p->out : NULL;
    if (trains) {
        cuda_bias_grad(c->dt, dy, mask, param_ptr(c->grads, net, l->weight + 1), c->partial,
                       (long long)n * l->out_h * l->out_w, l->out_c, c->stream);
        cuda_conv2d_backward_weights(c, i, x, dy, c->dwc);
        cuda_wgrad_to_flat(c->dt, c->dwc, param_ptr(c->grads, net, l->weight), l->out_c, l->in_c / l->groups, l->kernel,
                           l->kernel, p->conv.cg, c->stream);
    }
    if (p->need_dx) cuda_conv2d_backward_data(c, i, dy, dx);
}

/* Linear layer i's backward, as conv_backward; a flattened input's gradient
 * goes through dflat back to NHWC. Returns whether dx carries the mask of
 * the fused ReLU below. */
static int linear_backward(CudaCtx *c, int i, int n, const void *x, void *dy, void *dx, int masked, int trains) {
    const Net *net = c->net;
    const Layer *l = &net->layers[i];
    const LayerPlan *p = &c->plan[i];
    const void *mask = p->relu_fused && !masked ? p->out : NULL;
    if (trains)
        cuda_bias_grad(c->dt, dy, mask, param_ptr(c->grads, net, l->weight + 1), c->partial, n, l->out_c, c->stream);
    void *dxl = !p->need_dx ? NULL : p->flatten ? c->dflat : dx;
    cuda_linear_backward(c, i, p->flatten ? p->flat : x, dy, trains ? param_ptr(c->grads, net, l->weight) : NULL, dxl,
                         n);
    if (!p->need_dx || !p->flatten) return 0;
    cuda_flatten_backward(c->dt, c->dflat, p->mask_in ? x : NULL, dx, n, l->in_c, (long)l->in_h * l->in_w, c->stream);
    return p->mask_in;
}

/* From dlogits in g[0] down to every parameter gradient (overwritten). */
static void enqueue_backward(CudaCtx *c, int n) {
    const Net *net = c->net;
    int L = net->n_layers;
    DType dt = c->dt;
    cudaStream_t s = c->stream;
    cuda_layers_set_batch(c, n);
    void *dy = c->g[0];
    int masked = 0; /* dy already carries the mask of the fused ReLU below */
    for (int i = L - 1; i >= 0; i--) {
        const Layer *l = &net->layers[i];
        LayerPlan *p = &c->plan[i];
        const void *x = layer_input(c, i);
        void *dx = dy == c->g[0] ? c->g[1] : c->g[0];
        void *next_dy = dx;
        int next_masked = 0;
        long hw_in = (long)l->in_h * l->in_w;
        int trains = layer_trains(net, l);
        if (!trains && !p->need_dx) break; /* nothing below needs a gradient */
        if (i < L - 1) prof_mark(c, PROFILE_BWD, i, 0);
        switch (l->kind) {
        case LAYER_CONV: conv_backward(c, i, n, x, dy, dx, masked, trains); break;
        case LAYER_LINEAR: next_masked = linear_backward(c, i, n, x, dy, dx, masked, trains); break;
        case LAYER_RELU:
            if (p->fused) {
                next_dy = dy;
                next_masked = masked;
            } else if (p->need_dx) {
                cuda_relu_backward(dt, dy, x, dx, n, l->in_c, hw_in, p->in_layout, p->out_layout, s);
                next_masked = p->mask_in;
            }
            break;
        case LAYER_DROPOUT:
            if (p->need_dx) {
                cuda_dropout_backward(dt, dy, p->mask_in ? x : NULL, dx, n, l->in_c, hw_in, p->in_layout, p->out_layout,
                                      dropout_key(c, i), s);
                next_masked = p->mask_in;
            }
            break;
        case LAYER_MAXPOOL:
            if (p->need_dx) {
                cuda_maxpool_backward(dt, dy, p->argmax, p->mask_in ? x : NULL, dx, n, l->in_c, l->in_h, l->in_w,
                                      l->out_h, l->out_w, l->kernel, l->stride, s);
                next_masked = p->mask_in;
            }
            break;
        case LAYER_AVGPOOL:
            if (p->alias) next_dy = dy;
            else if (p->need_dx) cuda_avgpool_backward(dt, dy, dx, n, l->in_c, l->in_h, l->in_w, l->out_h, l->out_w, s);
            break;
        case LAYER_LRN:
            if (p->need_dx)
                cuda_lrn_backward(dt, x, dy, dx, (long long)n * hw_in, l->in_c, l->lrn_size, l->lrn_alpha, l->lrn_beta,
                                  l->lrn_k, s);
            break;
        }
        if (l->weight >= 0) comm_layer_done(c, i);
        prof_mark(c, PROFILE_BWD, i, 1);
        dy = next_dy;
        masked = next_masked;
    }
    comm_join(c);
}

typedef void (*EnqueueFn)(CudaCtx *c, int n);

/* Runs a layer sequence for batch n: eagerly the first time (so every
 * library has done its lazy set-up), then captured once into a CUDA graph
 * and replayed. */
static void run_sequence(CudaCtx *c, GraphSlot *slots, int n, EnqueueFn fn) {
    if (!c->use_graphs || c->prof.on) {
        fn(c, n);
        return;
    }
    GraphSlot *sl = NULL;
    for (int k = 0; k < CUDA_GRAPH_SLOTS && !sl; k++)
        if (slots[k].n == n) sl = &slots[k];
    for (int k = 0; k < CUDA_GRAPH_SLOTS && !sl; k++)
        if (slots[k].n == 0) sl = &slots[k];
    if (!sl) { /* all slots taken by other batch sizes: recycle the last one */
        sl = &slots[CUDA_GRAPH_SLOTS - 1];
        if (sl->exec) CUDA_CHECK(cudaGraphExecDestroy(sl->exec));
        memset(sl, 0, sizeof *sl);
    }
    sl->n = n;
    if (sl->exec) {
        CUDA_CHECK(cudaGraphLaunch(sl->exec, c->stream));
        return;
    }
    if (!sl->warm) {
        fn(c, n);
        sl->warm = 1;
        return;
    }
    cudaGraph_t graph = NULL;
    int failed = 0;
    CUDA_CHECK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed));
    cuda_capture_failed = &failed;
    fn(c, n);
    cuda_capture_failed = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    cudaGraphExec_t exec = NULL;
    if (e == cudaSuccess && !failed) e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (e != cudaSuccess || failed) {
        cudaGetLastError();
        warnf("cuda: CUDA graph capture failed (%s); running without graphs",
              failed ? "a call failed while capturing" : cudaGetErrorString(e));
        c->use_graphs = 0;
        fn(c, n);
        return;
    }
    sl->exec = exec;
    CUDA_CHECK(cudaGraphLaunch(sl->exec, c->stream));
}

/* ------------------------------------------------------------------- step */

static void cuda_forward(void *ctx, const void *input, int n, const ForwardArgs *a) {
    CudaCtx *c = (CudaCtx *)ctx;
    CUDA_CHECK(cudaSetDevice(c->device));
    c->n = n;
    size_t bytes = (size_t)n * c->raw_bytes;
    /* the pinned buffer is free once the previous upload is done; the device
     * buffer once the previous input kernel has read it */
    CUDA_CHECK(cudaEventSynchronize(c->ev_copied));
    cuda_host_copy(c->h_raw, input, bytes, c->threads);
    CUDA_CHECK(cudaStreamWaitEvent(c->copy_stream, c->ev_raw_free, 0));
    CUDA_CHECK(cudaMemcpyAsync(c->raw, c->h_raw, bytes, cudaMemcpyHostToDevice, c->copy_stream));
    CUDA_CHECK(cudaEventRecord(c->ev_copied, c->copy_stream));
    CUDA_CHECK(cudaStreamWaitEvent(c->stream, c->ev_copied, 0));
    prof_mark(c, PROFILE_FWD, 0, 0);
    long hw = (long)c->net->image_size * c->net->image_size;
    cuda_input(c->dt, c->raw_fmt, c->raw, c->x0, n, hw, c->cp, c->keys, a->step, a->sample_offset, a->train, c->stream);
    CUDA_CHECK(cudaEventRecord(c->ev_raw_free, c->stream));
    run_sequence(c, c->fwd_graphs, n, enqueue_forward);
    if (c->prof.on) prof_collect(c, PROFILE_FWD);
}

static void cuda_read_logits(void *ctx, float *logits, int n) {
    CudaCtx *c = (CudaCtx *)ctx;
    CHECK(n >= 0 && n <= c->n, "read_logits: %d rows, the last forward had %d", n, c->n);
    CUDA_CHECK(cudaSetDevice(c->device));
    const LayerPlan *last = &c->plan[c->net->n_layers - 1];
    CUDA_CHECK(cudaMemcpyAsync(logits, last->out, (size_t)n * c->net->num_classes * sizeof(float),
                               cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static double cuda_backward(void *ctx, const int32_t *labels, int n, const LossArgs *a, GradReadyFn ready, void *user) {
    CudaCtx *c = (CudaCtx *)ctx;
    const Net *net = c->net;
    int L = net->n_layers, K = net->num_classes;
    for (int i = 0; i < n; i++)
        CHECK(labels[i] >= 0 && labels[i] < K, "label %d of sample %d outside [0, %d)", labels[i], i, K);
    CUDA_CHECK(cudaSetDevice(c->device));
    memcpy(c->h_labels, labels, (size_t)n * sizeof(int32_t)); /* free: the last backward synchronised past its upload */
    CUDA_CHECK(cudaMemcpyAsync(c->labels, c->h_labels, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice, c->stream));
    prof_mark(c, PROFILE_BWD, L - 1, 0);
    CHECK(!a->mix.labels && !a->class_weight,
          "the cuda backend has no mixed targets or class weights yet (train refuses them on it)");
    double divisor = a->global_batch > 0 ? a->global_batch : n;
    cuda_softmax_xent(c->dt, (const float *)c->plan[L - 1].out, c->labels, c->g[0], c->row_loss, n, K, a->smoothing,
                      a->form == SMOOTH_TORCH ? 1 : 0, divisor, c->stream);
    CUDA_CHECK(cudaMemcpyAsync(c->h_loss, c->row_loss, (size_t)n * sizeof(double), cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaEventRecord(c->ev_loss, c->stream));
    run_sequence(c, c->bwd_graphs, n, enqueue_backward);
    CUDA_CHECK(cudaEventSynchronize(c->ev_loss));
    double total = 0.0;
    for (int i = 0; i < n; i++) total += c->h_loss[i];
    if (c->prof.on) prof_collect(c, PROFILE_BWD);
    if (ready) {
        /* a host-side consumer needs the gradients in memory now */
        CUDA_CHECK(cudaStreamSynchronize(c->stream));
        for (int t = net->n_params - 1; t >= 0; t--) ready(user, t);
    }
    return total / divisor;
}

static void cuda_sgd_update(void *ctx, const SgdArgs *a) {
    CudaCtx *c = (CudaCtx *)ctx;
    CUDA_CHECK(cudaSetDevice(c->device));
    cuda_sgd_apply(c->dt, &c->sgd, c->params, c->grads, c->mom, c->wc, a->lr, a->momentum, a->weight_decay, 1,
                   c->stream);
}

/* ------------------------------------------------------------------ NCCL */

#ifdef ALEXNET_HAVE_NCCL
static int cuda_comm_create_id(void *ctx, uint8_t *id, Error *err) {
    return comm_create_id_impl((CudaCtx *)ctx, id, err);
}

static int cuda_comm_init(void *ctx, int rank, int world, const uint8_t *id, Error *err) {
    CudaCtx *c = (CudaCtx *)ctx;
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    destroy_graphs(c->bwd_graphs); /* captured without the all-reduce */
    return comm_init_impl(c, rank, world, id, err);
}
#endif

extern "C" const BackendVTable backend_cuda = {
    "cuda",
    cuda_supports,
    cuda_create,
    cuda_destroy,
    cuda_input_format,
    cuda_set_params,
    cuda_get_params,
    cuda_set_momentum,
    cuda_get_momentum,
    cuda_get_grads,
    cuda_grad_buffer,
    cuda_forward,
    cuda_read_logits,
    cuda_backward,
    cuda_sgd_update,
    cuda_set_profiling,
    cuda_read_profile,
#ifdef ALEXNET_HAVE_NCCL
    cuda_comm_create_id,
    cuda_comm_init,
#else
    NULL,
    NULL,
#endif
    cuda_auto_precision,
    NULL, /* layer_precision */
    cuda_native_bf16,
};
