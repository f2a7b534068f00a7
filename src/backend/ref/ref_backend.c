/*
 * ref_backend.c — the reference backend: runs a Net layer by layer with the
 * plain-C ops of nn/ops.h, NCHW fp32, every activation kept for backward.
 * Simple on purpose: it is the oracle the fast backends are tested against.
 * With an int8 model (PRECISION_INT8) its quantized conv / linear layers run
 * the int8 ops (u8 x s8, int32 sums), everything between them fp32.
 */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/backend_host.h"
#include "nn/layer_shapes.h"
#include "nn/quant_ops.h"

typedef struct {
    const Net *net;
    ForwardArgs fwd; /* keys of the last forward (dropout) */
    uint64_t seed;
    float *params, *grads, *momentum; /* [param_count] each */
    float *act[NET_MAX_LAYERS + 1];   /* act[0] input [B,3,S,S]; act[i+1] output of layer i */
    float *dbuf[2];                   /* gradient ping-pong, [B, max activation] each */
    float *workspace;                 /* conv im2col */
    const QuantModel *quant;          /* int8: the quantized layers; NULL: fp32 */
    uint8_t *qin;                     /* int8: a layer's quantized input [B, max activation] */
    int32_t *qworkspace;              /* int8: conv im2col of (q - zero) */
    int first_trained;                /* lowest layer whose parameters train: backward stops there */
    LayerProfile prof;
} RefCtx;

/* Every layer kind, in fp32 (the oracle computes in one precision). */
static int ref_supports(const Net *net, Precision precision, Error *err) {
    (void)net;
    if (precision == PRECISION_BF16)
        return error_set(err, "the ref backend computes in fp32 (and int8 for int8 models) only; use --precision fp32 "
                              "(or auto), or --backend dnnl for bf16");
    return 0;
}

static void *ref_create(const Net *net, int max_batch, const BackendOptions *opt, Error *err) {
    (void)err;
#ifdef _OPENMP
    if (opt->threads > 0) omp_set_num_threads(opt->threads);
#endif
    RefCtx *c = xcalloc(1, sizeof *c);
    c->net = net;
    c->seed = opt->seed;
    size_t P = net->param_count, B = (size_t)max_batch;
    c->params = xaligned_alloc(P * sizeof(float));
    c->first_trained = net->n_layers;
    for (int i = net->n_layers - 1; i >= 0; i--)
        if (layer_trains(net, &net->layers[i])) c->first_trained = i;
    if (!opt->inference) { /* zero-filled: frozen tensors' gradients stay zero */
        c->grads = xaligned_alloc(P * sizeof(float));
        c->momentum = xaligned_alloc(P * sizeof(float));
    }
    c->act[0] = xaligned_alloc(B * 3 * net->image_size * net->image_size * sizeof(float));
    size_t ws = 1;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        c->act[i + 1] = xaligned_alloc(B * layer_out_elems(l) * sizeof(float));
        if (l->kind == LAYER_CONV) {
            ConvShape s = layer_conv_shape(l, 1);
            size_t w = conv2d_workspace(&s);
            if (w > ws) ws = w;
        }
    }
    if (!opt->inference) {
        size_t amax = net_max_activation(net);
        c->dbuf[0] = xaligned_alloc(B * amax * sizeof(float));
        c->dbuf[1] = xaligned_alloc(B * amax * sizeof(float));
    }
    c->workspace = xaligned_alloc(ws * sizeof(float));
    if (opt->precision == PRECISION_INT8) {
        c->quant = opt->quant;
        size_t qws = 1;
        for (int i = 0; i < net->n_layers; i++)
            if (net->layers[i].kind == LAYER_CONV) {
                ConvShape s = layer_conv_shape(&net->layers[i], 1);
                size_t w = conv2d_int8_workspace(&s);
                if (w > qws) qws = w;
            }
        c->qin = xaligned_alloc(B * (net_max_activation(net) > (size_t)3 * net->image_size * net->image_size
                                         ? net_max_activation(net)
                                         : (size_t)3 * net->image_size * net->image_size));
        c->qworkspace = xaligned_alloc(qws * sizeof(int32_t));
    }
    return c;
}

static void ref_destroy(void *ctx) {
    RefCtx *c = ctx;
    free(c->params);
    free(c->grads);
    free(c->momentum);
    for (int i = 0; i <= c->net->n_layers; i++) free(c->act[i]);
    free(c->dbuf[0]);
    free(c->dbuf[1]);
    free(c->workspace);
    free(c->qin);
    free(c->qworkspace);
    free(c);
}

static InputFormat ref_input_format(void *ctx) {
    (void)ctx;
    return INPUT_F32_NCHW;
}

static size_t nbytes(const RefCtx *c) { return c->net->param_count * sizeof(float); }
static void ref_set_params(void *ctx, const float *p) {
    RefCtx *c = ctx;
    memcpy(c->params, p, nbytes(c));
}
static void ref_get_params(void *ctx, float *p) {
    RefCtx *c = ctx;
    memcpy(p, c->params, nbytes(c));
}
static void ref_set_momentum(void *ctx, const float *m) {
    RefCtx *c = ctx;
    memcpy(c->momentum, m, nbytes(c));
}
static void ref_get_momentum(void *ctx, float *m) {
    RefCtx *c = ctx;
    memcpy(m, c->momentum, nbytes(c));
}
static void ref_get_grads(void *ctx, float *g) {
    RefCtx *c = ctx;
    memcpy(g, c->grads, nbytes(c));
}
static float *ref_grad_buffer(void *ctx) { return ((RefCtx *)ctx)->grads; }

/* Layer i of an int8 model on its quantized input c->qin. */
static void int8_layer(RefCtx *c, int i, float *y, const float *bias, int n) {
    const Layer *l = &c->net->layers[i];
    const QuantModel *q = c->quant;
    if (l->kind == LAYER_CONV) {
        ConvShape s = layer_conv_shape(l, n);
        conv2d_int8_forward(y, c->qin, q->in_zero[i], q->in_scale[i], q->w_q[i], q->w_scale[i], bias, &s,
                            c->qworkspace);
    } else {
        linear_int8_forward(y, c->qin, q->in_zero[i], q->in_scale[i], q->w_q[i], q->w_scale[i], bias, n,
                            (int)layer_in_elems(l), l->out_c);
    }
}

static void ref_forward(void *ctx, const void *input, int n, const ForwardArgs *args) {
    RefCtx *c = ctx;
    const Net *net = c->net;
    c->fwd = *args;
    memcpy(c->act[0], input, (size_t)n * 3 * net->image_size * net->image_size * sizeof(float));
    double t0 = profile_start(&c->prof);
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        const float *x = c->act[i];
        float *y = c->act[i + 1];
        const float *w = l->weight >= 0 ? c->params + net->params[l->weight].offset : NULL;
        const float *bias = l->weight >= 0 ? c->params + net->params[l->weight + 1].offset : NULL;
        if (l->weight >= 0 && args->observe) args->observe(args->observe_user, i, x, (size_t)n * layer_in_elems(l));
        const QuantModel *q = c->quant && c->quant->int8[i] ? c->quant : NULL;
        if (q) quantize_u8(c->qin, x, (size_t)n * layer_in_elems(l), q->in_scale[i], q->in_zero[i]);
        if (q) {
            int8_layer(c, i, y, bias, n);
            profile_lap(&c->prof, PROFILE_FWD, i, &t0);
            continue;
        }
        switch (l->kind) {
        case LAYER_CONV: {
            ConvShape s = layer_conv_shape(l, n);
            conv2d_forward(y, x, w, bias, &s, c->workspace);
            break;
        }
        case LAYER_RELU: relu_forward(y, x, (size_t)n * layer_out_elems(l)); break;
        case LAYER_MAXPOOL: {
            PoolShape s = layer_pool_shape(l, n);
            maxpool_forward(y, x, &s);
            break;
        }
        case LAYER_AVGPOOL: {
            PoolShape s = layer_pool_shape(l, n);
            avgpool_forward(y, x, &s);
            break;
        }
        case LAYER_LRN: {
            LrnShape s = layer_lrn_shape(l, n);
            lrn_forward(y, x, &s);
            break;
        }
        case LAYER_DROPOUT: {
            DropoutKey k;
            if (dropout_key_for(&k, c->seed, args, i, l)) dropout_forward(y, x, n, layer_out_elems(l), &k);
            else memcpy(y, x, (size_t)n * layer_out_elems(l) * sizeof(float));
            break;
        }
        case LAYER_LINEAR: linear_forward(y, x, w, bias, n, (int)layer_in_elems(l), l->out_c); break;
        }
        profile_lap(&c->prof, PROFILE_FWD, i, &t0);
    }
}

static void ref_read_logits(void *ctx, float *logits, int n) {
    RefCtx *c = ctx;
    memcpy(logits, c->act[c->net->n_layers], (size_t)n * c->net->num_classes * sizeof(float));
}

static double ref_backward(void *ctx, const int32_t *labels, int n, const LossArgs *a, GradReadyFn ready, void *user) {
    RefCtx *c = ctx;
    const Net *net = c->net;
    int L = net->n_layers, K = net->num_classes;
    float *dy = c->dbuf[0], *dx = c->dbuf[1];
    memset(dy, 0, (size_t)n * K * sizeof(float));
    double t0 = profile_start(&c->prof);
    XentArgs xa = loss_xent_args(a, n);
    double loss = softmax_xent(dy, c->act[L], labels, n, K, &xa);

    for (int i = L - 1; i >= 0; i--) {
        const Layer *l = &net->layers[i];
        const float *x = c->act[i], *y = c->act[i + 1];
        int trains = layer_trains(net, l), need_dx = i > c->first_trained;
        if (!trains && !need_dx) break; /* nothing below needs a gradient */
        if (need_dx) memset(dx, 0, (size_t)n * layer_in_elems(l) * sizeof(float));
        float *dw = NULL, *db = NULL;
        const float *w = NULL;
        if (l->weight >= 0) {
            const ParamTensor *pw = &net->params[l->weight], *pb = &net->params[l->weight + 1];
            w = c->params + pw->offset;
            if (trains) {
                dw = c->grads + pw->offset;
                db = c->grads + pb->offset;
                memset(dw, 0, pw->numel * sizeof(float));
                memset(db, 0, pb->numel * sizeof(float));
            }
        }
        switch (l->kind) {
        case LAYER_CONV: {
            ConvShape s = layer_conv_shape(l, n);
            conv2d_backward(need_dx ? dx : NULL, dw, db, dy, x, w, &s, c->workspace);
            break;
        }
        case LAYER_RELU: relu_backward(dx, dy, y, (size_t)n * layer_out_elems(l)); break;
        case LAYER_MAXPOOL: {
            PoolShape s = layer_pool_shape(l, n);
            maxpool_backward(dx, dy, x, &s);
            break;
        }
        case LAYER_AVGPOOL: {
            PoolShape s = layer_pool_shape(l, n);
            avgpool_backward(dx, dy, &s);
            break;
        }
        case LAYER_LRN: {
            LrnShape s = layer_lrn_shape(l, n);
            lrn_backward(dx, dy, x, &s);
            break;
        }
        case LAYER_DROPOUT: {
            DropoutKey k;
            if (dropout_key_for(&k, c->seed, &c->fwd, i, l)) dropout_backward(dx, dy, n, layer_out_elems(l), &k);
            else memcpy(dx, dy, (size_t)n * layer_out_elems(l) * sizeof(float));
            break;
        }
        case LAYER_LINEAR:
            linear_backward(need_dx ? dx : NULL, dw, db, dy, x, w, n, (int)layer_in_elems(l), l->out_c);
            break;
        }
        profile_lap(&c->prof, PROFILE_BWD, i, &t0);
        if (trains && ready) {
            ready(user, l->weight + 1);
            ready(user, l->weight);
        }
        float *t = dy;
        dy = dx;
        dx = t;
    }
    return loss;
}

static void ref_sgd_update(void *ctx, const SgdArgs *a) {
    RefCtx *c = ctx;
    sgd_update_host(c->net, c->params, c->grads, c->momentum, a, NULL);
}

static void ref_set_profiling(void *ctx, int on) { ((RefCtx *)ctx)->prof.on = on; }

static void ref_read_profile(void *ctx, double *fwd_ms, double *bwd_ms) {
    RefCtx *c = ctx;
    profile_read(&c->prof, c->net->n_layers, fwd_ms, bwd_ms);
}

const BackendVTable backend_ref = {
    .name = "ref",
    .supports = ref_supports,
    .create = ref_create,
    .destroy = ref_destroy,
    .input_format = ref_input_format,
    .set_params = ref_set_params,
    .get_params = ref_get_params,
    .set_momentum = ref_set_momentum,
    .get_momentum = ref_get_momentum,
    .get_grads = ref_get_grads,
    .grad_buffer = ref_grad_buffer,
    .forward = ref_forward,
    .read_logits = ref_read_logits,
    .backward = ref_backward,
    .sgd_update = ref_sgd_update,
    .set_profiling = ref_set_profiling,
    .read_profile = ref_read_profile,
};
