/*
 * dnnl_backend.c — the oneDNN CPU backend (backend_dnnl): the vtable and the
 * execution of a training step over the plan built by dnnl_layers.c.
 *
 * A forward always runs the whole max_batch B: for n < B the input's tail
 * samples are zeros, the loss and logits use the first n rows only, and the
 * tail's logit gradients are zero, so padded samples add exact zeros to every
 * parameter gradient. Eval's last partial batch thus costs a full batch, in
 * exchange for no per-call allocation or primitive creation.
 *
 * Threads: BackendOptions.threads (0 = OpenMP's default, all cores). oneDNN's
 * kernels split work by the thread count fixed at create(), and every call
 * re-applies it, so results are bit-identical run to run for that count.
 *
 * Names in backend/dnnl: oneDNN's own API is dnnl_* (dnnl_forward and
 * dnnl_backward are its enum values), so
 *  - the vtable's functions, static here, are dn_ + the vtable entry
 *    (dn_forward implements BackendVTable.forward, as ref_forward and
 *    cuda_forward do in the other backends);
 *  - what the backend's files share is dnnl_ + the subject of its file:
 *    dnnl_plan_* and dnnl_layer_precision (dnnl_layers.c), dnnl_own_* and
 *    dnnl_s2d_* (dnnl_ops.c), dnnl_check_at (dnnl_util.c);
 *  - the small helpers of dnnl_util.h and the version-neutral wrappers of
 *    dnnl_compat.h are named after what they handle: md_* (memory descs),
 *    pd_* (primitive descs), exec_* (a primitive with its arguments).
 */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/backend_host.h"
#include "backend/dnnl/dnnl_int8.h"
#include "backend/dnnl/dnnl_layers.h"
#include "backend/dnnl/dnnl_ops.h"
#include "common/env.h"

typedef struct {
    DnnlPlan plan;
    Int8Plan *i8; /* PRECISION_INT8: the int8 plan (dnnl_int8.h) instead of plan */
    const Net *net;
    ForwardArgs fwd; /* keys of the last forward (dropout) */
    LayerProfile prof;
} DnnlCtx;

static void use_threads(const DnnlCtx *c) {
#ifdef _OPENMP
    omp_set_num_threads(c->plan.threads);
#else
    (void)c;
#endif
}

/* Every layer kind (even LRN sizes by the reference op); the last layer must
 * be the logits' linear layer; bf16 where oneDNN has real bf16 kernels for
 * this CPU (AVX-512 and up: on AVX2 every layer would fall back to fp32). */
static int dn_supports(const Net *net, Precision precision, Error *err) {
    int L = net->n_layers;
    if (L < 1 || net->layers[L - 1].kind != LAYER_LINEAR)
        return error_set(err, "the dnnl backend needs a network whose last layer is linear (its output is the logits)");
    if (precision == PRECISION_INT8 && !cpu_int8_vnni())
        return error_set(err, "the dnnl backend runs int8 on CPUs with VNNI (AVX512_VNNI or AVX-VNNI) only: without "
                              "it oneDNN's int8 kernels saturate 16-bit sums of 8-bit weights; use --backend ref (the "
                              "exact int8 reference, slow) or --precision fp32 (the dequantized weights, fast)");
    if (precision == PRECISION_BF16 && !dnnl_has_bf16_kernels())
        return error_set(err, "oneDNN has no bf16 kernels for this CPU (AVX2 or older, or ONEDNN_MAX_CPU_ISA limits "
                              "it); use --precision fp32 (auto chooses it here)");
    return 0;
}

static void *dn_create(const Net *net, int max_batch, const BackendOptions *opt, Error *err) {
    DnnlCtx *c = xcalloc(1, sizeof *c);
    c->net = net;
    if (opt->precision == PRECISION_INT8) {
        if (!opt->inference || !opt->quant) {
            free(c);
            error_set(err, "int8 runs forward only, with an int8 model's numbers (alexnet quantize makes one)");
            return NULL;
        }
        c->i8 = dnnl_int8_build(net, opt->quant, max_batch, opt->threads, err);
        if (!c->i8) {
            free(c);
            return NULL;
        }
        return c;
    }
    if (dnnl_plan_build(&c->plan, net, max_batch, opt->threads, opt->precision, opt->inference, opt->seed, err) != 0) {
        free(c);
        return NULL;
    }
    if (env_switches()->dnnl_verbose) dnnl_plan_print(&c->plan, stderr);
    return c;
}

static void dn_destroy(void *ctx) {
    DnnlCtx *c = ctx;
    if (c->i8) dnnl_int8_free(c->i8);
    else dnnl_plan_free(&c->plan);
    free(c);
}

static InputFormat dn_input_format(void *ctx) {
    DnnlCtx *c = ctx;
    return c->i8 ? INPUT_F32_NHWC : c->plan.input_format;
}

static size_t nbytes(const DnnlCtx *c) { return c->plan.net->param_count * sizeof(float); }
static void dn_set_params(void *ctx, const float *p) {
    DnnlCtx *c = ctx;
    if (c->i8) {
        dnnl_int8_set_params(c->i8, p);
        return;
    }
    memcpy(c->plan.params, p, nbytes(c));
    c->plan.params_dirty = DIRTY_ALL;
    c->plan.copies_fresh = 0;
}
static void dn_get_params(void *ctx, float *p) {
    DnnlCtx *c = ctx;
    if (c->i8) {
        dnnl_int8_get_params(c->i8, p);
        return;
    }
    memcpy(p, c->plan.params, nbytes(c));
}
static void dn_set_momentum(void *ctx, const float *m) {
    DnnlCtx *c = ctx;
    memcpy(c->plan.momentum, m, nbytes(c));
}
static void dn_get_momentum(void *ctx, float *m) {
    DnnlCtx *c = ctx;
    memcpy(m, c->plan.momentum, nbytes(c));
}
static void dn_get_grads(void *ctx, float *g) {
    DnnlCtx *c = ctx;
    memcpy(g, c->plan.grads, nbytes(c));
}
static float *dn_grad_buffer(void *ctx) {
    DnnlCtx *c = ctx;
    return c->plan.grads;
}

static size_t per_sample(int ch, int h, int w) { return (size_t)ch * h * w; }

static void load_input(DnnlPlan *p, const void *input, int n) {
    if (p->layers[0].s2d) {
        S2dGeom g = dnnl_s2d_geom(p->layers[0].l);
        dnnl_s2d_input(p->input_cvt.prim ? p->input_stage : p->act[0], &p->s2d_layout, input, n, p->B, &g);
        exec_run(&p->input_cvt, p->stream);
        return;
    }
    size_t sample = per_sample(3, p->net->image_size, p->net->image_size) * sizeof(float);
    char *dst = p->input_reorder ? (char *)p->input_stage : (char *)p->act[0];
    memcpy(dst, input, (size_t)n * sample);
    if (n < p->B) memset(dst + (size_t)n * sample, 0, (size_t)(p->B - n) * sample);
    if (p->input_reorder) exec_run(&p->input_cvt, p->stream);
}

static void dn_forward(void *ctx, const void *input, int n, const ForwardArgs *args) {
    DnnlCtx *c = ctx;
    DnnlPlan *p = &c->plan;
    if (c->i8) {
        dnnl_int8_forward(c->i8, input, n, &c->prof);
        return;
    }
    use_threads(c);
    c->fwd = *args;
    double t0 = profile_start(&c->prof);
    load_input(p, input, n);
    if (p->params_dirty) {
        for (int i = 0; i < p->net->n_layers; i++) {
            const DLayer *d = &p->layers[i];
            if (p->params_dirty == DIRTY_TRAINED && !plan_trains(p, d->l)) continue;
            if (d->s2d) {
                S2dGeom g = dnnl_s2d_geom(d->l);
                dnnl_s2d_weights(d->s2d_w, p->params + p->net->params[d->l->weight].offset, d->l->out_c, &g);
            }
            if (d->fold_pool)
                dnnl_fold_weights(d->fold_w, p->params + p->net->params[d->l->weight].offset, &d->fold_tab);
            if (!(p->copies_fresh && d->l->weight >= 0 && p->bf16_copy[d->l->weight]))
                exec_run(&p->layers[i].w_fwd, p->stream);
            exec_run(&p->layers[i].w_bwd, p->stream);
        }
        p->params_dirty = DIRTY_NONE;
    }
    for (int i = 0; i < p->net->n_layers; i++) {
        DLayer *d = &p->layers[i];
        const Layer *l = d->l;
        if (d->absorbed) continue;
        exec_run(&d->cvt_fwd, p->stream);
        exec_run(&d->fold_cvt, p->stream);
        if (d->folded_away) {
            /* the folded linear layer reads the pool's input (its cvt_fwd's output) */
        } else if (l->kind == LAYER_DROPOUT) {
            size_t f = per_sample(l->out_c, l->out_h, l->out_w);
            DropoutKey k;
            if (dropout_key_for(&k, p->seed, args, i, l)) dropout_forward(d->y, d->x, p->B, f, &k);
            else memcpy(d->y, d->x, (size_t)p->B * f * sizeof(float));
        } else if (d->own) {
            dnnl_own_forward(l, d->y, d->x, p->B);
        } else {
            exec_run(&d->fwd, p->stream);
            exec_run(&d->post_cvt, p->stream);
        }
        profile_lap(&c->prof, PROFILE_FWD, i, &t0);
    }
    DNNL_CHECK(dnnl_stream_wait(p->stream));
}

static void dn_read_logits(void *ctx, float *logits, int n) {
    DnnlCtx *c = ctx;
    if (c->i8) {
        dnnl_int8_read_logits(c->i8, logits, n);
        return;
    }
    memcpy(logits, c->plan.act[c->plan.net->n_layers], (size_t)n * c->plan.net->num_classes * sizeof(float));
}

static double dn_backward(void *ctx, const int32_t *labels, int n, const LossArgs *a, GradReadyFn ready, void *user) {
    DnnlCtx *c = ctx;
    DnnlPlan *p = &c->plan;
    const Net *net = p->net;
    use_threads(c);
    int L = net->n_layers, K = net->num_classes;
    double t0 = profile_start(&c->prof);
    float *dlogits = p->dbuf[p->layers[L - 1].dy_buf];
    memset(dlogits, 0, (size_t)p->B * K * sizeof(float));
    XentArgs xa = loss_xent_args(a, n);
    double loss = softmax_xent(dlogits, p->act[L], labels, n, K, &xa);

    for (int i = L - 1; i >= 0; i--) {
        DLayer *d = &p->layers[i];
        const Layer *l = d->l;
        int trains = plan_trains(p, l);
        if (!d->need_dx && !trains) break; /* nothing below needs a gradient */
        if (trains) {
            exec_run(&d->bwd_weights, p->stream);
            exec_run(&d->dw_flat, p->stream);
            if (d->s2d) {
                S2dGeom g = dnnl_s2d_geom(l);
                dnnl_s2d_fold(p->grads + net->params[l->weight].offset, d->s2d_dw, l->out_c, &g);
            }
            if (d->fold_pool) dnnl_fold_grad(p->grads + net->params[l->weight].offset, d->fold_dw, &d->fold_tab);
            if (ready) {
                ready(user, l->weight + 1);
                ready(user, l->weight);
            }
        }
        if (d->need_dx) {
            float *dy = p->dbuf[d->dy_buf], *dx = p->dbuf[d->dx_buf];
            if (d->folded_away) {
                /* the folded linear layer wrote the pool's input gradient */
            } else if (l->kind == LAYER_RELU) {
                exec_run(&d->relu_bwd, p->stream);
            } else if (l->kind == LAYER_DROPOUT) {
                /* in place (dx == dy): the identity needs nothing; the mask is its own backward map */
                DropoutKey k;
                if (dropout_key_for(&k, p->seed, &c->fwd, i, l))
                    dropout_forward(dx, dy, p->B, per_sample(l->out_c, l->out_h, l->out_w), &k);
            } else if (d->own) {
                dnnl_own_backward(l, dx, dy, d->x, p->B);
            } else {
                exec_run(&d->bwd_data, p->stream);
                exec_run(&d->fold_cvt_bwd, p->stream);
            }
            exec_run(&d->cvt_bwd, p->stream);
        }
        profile_lap(&c->prof, PROFILE_BWD, i, &t0);
    }
    DNNL_CHECK(dnnl_stream_wait(p->stream));
    return loss;
}

static void dn_sgd_update(void *ctx, const SgdArgs *a) {
    DnnlCtx *c = ctx;
    use_threads(c);
    sgd_update_host(c->plan.net, c->plan.params, c->plan.grads, c->plan.momentum, a, c->plan.bf16_copy);
    if (c->plan.params_dirty == DIRTY_NONE) c->plan.params_dirty = DIRTY_TRAINED;
    c->plan.copies_fresh = 1;
}

/* bf16 where it measures clearly faster than fp32 (dnnl_probe.c): it costs
 * precision, so a tie goes to fp32 */
#define BF16_MIN_SPEEDUP 1.15
static Precision dn_auto_precision(char *why, size_t len) {
    double speedup = dnnl_bf16_speedup();
    if (why && len) {
        if (speedup > 0) snprintf(why, len, "bf16 measured %.2fx fp32's speed on this CPU", speedup);
        else snprintf(why, len, "no bf16 dot products on this CPU");
    }
    return speedup >= BF16_MIN_SPEEDUP ? PRECISION_BF16 : PRECISION_FP32;
}

static int dn_native_bf16(void) { return cpu_native_bf16() && dnnl_has_bf16_kernels(); }

static void dn_layer_precision(void *ctx, int layer, char *buf, size_t len) {
    DnnlCtx *c = ctx;
    if (c->i8) dnnl_int8_layer_precision(c->i8, layer, buf, len);
    else dnnl_layer_precision(&c->plan, layer, buf, len);
}

static void dn_set_profiling(void *ctx, int on) { ((DnnlCtx *)ctx)->prof.on = on; }

static void dn_read_profile(void *ctx, double *fwd_ms, double *bwd_ms) {
    DnnlCtx *c = ctx;
    profile_read(&c->prof, c->net->n_layers, fwd_ms, bwd_ms);
}

const BackendVTable backend_dnnl = {
    .name = "dnnl",
    .supports = dn_supports,
    .create = dn_create,
    .destroy = dn_destroy,
    .input_format = dn_input_format,
    .set_params = dn_set_params,
    .get_params = dn_get_params,
    .set_momentum = dn_set_momentum,
    .get_momentum = dn_get_momentum,
    .get_grads = dn_get_grads,
    .grad_buffer = dn_grad_buffer,
    .forward = dn_forward,
    .read_logits = dn_read_logits,
    .backward = dn_backward,
    .sgd_update = dn_sgd_update,
    .set_profiling = dn_set_profiling,
    .read_profile = dn_read_profile,
    .auto_precision = dn_auto_precision,
    .native_bf16 = dn_native_bf16,
    .layer_precision = dn_layer_precision,
};
