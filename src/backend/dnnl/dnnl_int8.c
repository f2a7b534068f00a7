/*
 * dnnl_int8.c — the int8 plan of the oneDNN backend (dnnl_int8.h): builds
 * one primitive per layer over fp32 NHWC activations and runs them.
 *
 * Weights: a quantized layer's s8 weights (QuantModel.w_q, torchvision's
 * OIHW / GOIHW / [O, C, H, W]) are reordered once, at build time, into the
 * format its primitive chose (which carries oneDNN's u8 x s8 compensation);
 * a layer kept fp32 reorders its fp32 weights from the flat params after
 * each set_params. Biases are read from the flat params in place.
 */
#include "backend/dnnl/dnnl_int8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/backend_host.h"
#include "backend/dnnl/dnnl_ops.h"
#include "backend/dnnl/dnnl_util.h"
#include "common/env.h"
#include "nn/layer_shapes.h"
#include "nn/quant_ops.h"

typedef enum {
    RUN_PRIM,     /* a oneDNN primitive (conv, linear, max pooling, odd-size LRN) */
    RUN_RELU,     /* relu_forward in place of the copy */
    RUN_OWN,      /* dnnl_own_forward on NCHW copies (average pooling, even-size LRN) */
    RUN_IDENTITY, /* dropout, or a ReLU fused into the layer before: y aliases x */
} RunKind;

typedef struct {
    const Layer *l;
    RunKind run;
    int int8;       /* conv / linear on u8 x s8 */
    int fused_relu; /* the next layer's ReLU runs as this layer's post-op */
    int u8_in;      /* int8: its input act is already u8 (a u8 chain's end): no quantize */
    int u8_out;     /* int8: writes the next int8 layer's u8 input (dst_scale), starting a u8 chain */
    float dst_scale;
    float *bias_div; /* u8_out on oneDNN 2.x: [O] bias / dst_scale (Int8Args.bias_divisor) */
    float bias_divisor;
    const float *x; /* input act (NHWC) */
    float *y;       /* output act (NHWC) */
    DnnlExec fwd;
    DnnlExec w_cvt;   /* fp32 layer: flat fp32 weights -> the primitive's format */
    void *w_buf;      /* weights in the primitive's format */
    float *w_scale;   /* int8 (3.x): [O] a copy of QuantModel.w_scale */
    float *scale;     /* int8 (2.x): [O] in_scale * w_scale[o] */
    float src_scale;  /* int8 (3.x) */
    int32_t zero;     /* int8: the input's zero point */
    Md ws_md;         /* max pooling / LRN: its forward's workspace, NULL when none */
    char impl[48];
} I8Layer;

struct Int8Plan {
    const Net *net;
    const QuantModel *q;
    int B, threads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    MdPool mds;
    dnnl_memory_t *mems;
    int n_mems, cap_mems;
    float *params;   /* flat fp32, Net.params order */
    int params_dirty; /* fp32 layers' weights to reorder before the next forward */
    float *act[NET_MAX_LAYERS + 1];
    int act_owned[NET_MAX_LAYERS + 1];
    int act_u8[NET_MAX_LAYERS + 1]; /* act[i] holds u8 (inside a u8 chain), else fp32 */
    uint8_t *qbuf;          /* a quantized layer's input [B, max activation] u8 */
    float *nchw[2];         /* own ops: input and output in NCHW [B, max activation] */
    void *workspace;        /* max pooling / LRN forward workspaces (one at a time) */
    I8Layer layers[NET_MAX_LAYERS];
};

static dnnl_memory_t mem(Int8Plan *p, Md md, const void *ptr) {
    if (p->n_mems == p->cap_mems) {
        p->cap_mems = p->cap_mems ? 2 * p->cap_mems : 64;
        dnnl_memory_t *m = realloc(p->mems, (size_t)p->cap_mems * sizeof *m);
        CHECK(m, "out of memory");
        p->mems = m;
    }
    dnnl_memory_t m;
    DNNL_CHECK(dnnl_memory_create(&m, md, p->engine, (void *)ptr));
    p->mems[p->n_mems++] = m;
    return m;
}

static Md nhwc(Int8Plan *p, int c, int h, int w, dnnl_data_type_t dt) {
    return md4t(&p->mds, p->B, c, h, w, dt, dnnl_nhwc);
}

static void reorder_run_once(Int8Plan *p, Md src_md, const void *src, Md dst_md, void *dst) {
    dnnl_primitive_desc_t pd;
    DnnlExec e = { 0 };
    DNNL_CHECK(pd_reorder(&pd, p->engine, src_md, dst_md, NULL));
    DNNL_CHECK(dnnl_primitive_create(&e.prim, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    exec_add(&e, DNNL_ARG_FROM, mem(p, src_md, src));
    exec_add(&e, DNNL_ARG_TO, mem(p, dst_md, dst));
    exec_run(&e, p->stream);
    DNNL_CHECK(dnnl_stream_wait(p->stream));
    exec_free(&e);
}

/* The weights' plain desc: conv OIHW / GOIHW, linear [O, C, H, W] (its
 * [O, C*H*W] in torchvision's flatten order). */
static Md weights_plain(Int8Plan *p, const Layer *l, dnnl_data_type_t dt, int any) {
    if (l->kind == LAYER_LINEAR) {
        dnnl_dim_t d[4] = { l->out_c, l->in_c, l->in_h, l->in_w };
        return md_new(&p->mds, 4, d, dt, any ? dnnl_format_tag_any : dnnl_oihw);
    }
    int G = l->groups, O = l->out_c, I = l->in_c, K = l->kernel;
    if (G == 1) {
        dnnl_dim_t d[4] = { O, I / G, K, K };
        return md_new(&p->mds, 4, d, dt, any ? dnnl_format_tag_any : dnnl_oihw);
    }
    dnnl_dim_t d[5] = { G, O / G, I / G, K, K };
    return md_new(&p->mds, 5, d, dt, any ? dnnl_format_tag_any : dnnl_goihw);
}

/* The layer's primitive descriptor in one form: as itself, or (as_conv) a
 * linear layer as the convolution it equals, a kernel the size of its
 * input, which oneDNN 2.x gives a source zero point where its int8 inner
 * product has none. Sets the arguments the attributes need in a and the
 * bias post-op's desc (2.x) in bias_po. */
static dnnl_status_t weighted_pd(Int8Plan *p, const I8Layer *d, int as_conv, dnnl_primitive_desc_t *pd, Int8Args *a,
                                 Md *bias_po) {
    const Layer *l = d->l;
    int O = l->out_c, conv = l->kind == LAYER_CONV || as_conv;
    dnnl_data_type_t dt_out = d->u8_out ? dnnl_u8 : dnnl_f32;
    Md src = nhwc(p, l->in_c, l->in_h, l->in_w, d->int8 ? dnnl_u8 : dnnl_f32);
    Md dst = conv ? nhwc(p, O, l->out_h, l->out_w, dt_out) : md2t(&p->mds, p->B, O, dt_out);
    Md w_any = weights_plain(p, l, d->int8 ? dnnl_s8 : dnnl_f32, 1);
    dnnl_dim_t bd4[4] = { 1, O, 1, 1 };
    *bias_po = conv ? md_new(&p->mds, 4, bd4, dnnl_f32, dnnl_nchw) : md2(&p->mds, 1, O);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t s;
    memset(a, 0, sizeof *a);
    a->bias_divisor = 1.0f;
    if (d->int8) {
        int w_mask = l->kind == LAYER_CONV && l->groups > 1 ? 3 : 1;
        s = int8_attr(&attr, a, O, d->scale, w_mask, *bias_po, d->zero, d->fused_relu, d->u8_out ? d->dst_scale : 0.0f);
    } else {
        dnnl_post_ops_t po = NULL;
        s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success && d->fused_relu) {
            s = dnnl_post_ops_create(&po);
            if (s == dnnl_success) s = post_ops_append_relu(po);
            if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
            if (po) dnnl_post_ops_destroy(po);
        }
    }
    if (s == dnnl_success) {
        Md b = a->bias_is_post_op ? NULL : md1(&p->mds, O);
        if (!conv) {
            s = pd_ip_fwd(pd, p->engine, src, w_any, b, dst, attr);
        } else {
            int st = as_conv ? 1 : l->stride, pad = as_conv ? 0 : l->pad;
            dnnl_dims_t strides = { st, st }, pads = { pad, pad };
            s = pd_conv_fwd(pd, p->engine, dnnl_convolution_direct, src, w_any, b, dst, strides, pads, pads, attr);
        }
    }
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

/* A conv or linear layer: its primitive, weights and arguments. */
static int build_weighted(Int8Plan *p, I8Layer *d, int i, Error *err) {
    const Layer *l = d->l;
    const Net *net = p->net;
    int O = l->out_c;
    const float *bias_ptr = p->params + net->params[l->weight + 1].offset;
    if (d->int8) {
        const QuantModel *q = p->q;
        d->zero = q->in_zero[i];
        d->src_scale = q->in_scale[i];
        d->w_scale = xmalloc((size_t)O * sizeof(float));
        d->scale = xmalloc((size_t)O * sizeof(float));
        for (int o = 0; o < O; o++) {
            d->w_scale[o] = q->w_scale[i][o];
            d->scale[o] = q->in_scale[i] * q->w_scale[i][o];
        }
    }
    dnnl_primitive_desc_t pd;
    Int8Args a;
    Md bias_po;
    dnnl_status_t s = weighted_pd(p, d, 0, &pd, &a, &bias_po);
    if (s != dnnl_success && l->kind == LAYER_LINEAR) s = weighted_pd(p, d, 1, &pd, &a, &bias_po);
    if (s != dnnl_success)
        return error_set(err, "oneDNN has no %s %s for %s on this CPU (status %d); run this model with --backend ref",
                         d->int8 ? "int8" : "fp32", l->kind == LAYER_LINEAR ? "inner product" : "convolution", l->name,
                         (int)s);
    snprintf(d->impl, sizeof d->impl, "%s", pd_impl(pd));
    DNNL_CHECK(dnnl_primitive_create(&d->fwd.prim, pd));
    Md w_md = pd_md(&p->mds, pd, dnnl_query_weights_md);
    Md src = pd_md(&p->mds, pd, dnnl_query_src_md), dst = pd_md(&p->mds, pd, dnnl_query_dst_md);
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    d->w_buf = xaligned_alloc(md_size(w_md));
    if (d->int8) {
        reorder_run_once(p, weights_plain(p, l, dnnl_s8, 0), p->q->w_q[i], w_md, d->w_buf);
    } else {
        dnnl_primitive_desc_t rpd;
        Md plain = weights_plain(p, l, dnnl_f32, 0);
        DNNL_CHECK(pd_reorder(&rpd, p->engine, plain, w_md, NULL));
        DNNL_CHECK(dnnl_primitive_create(&d->w_cvt.prim, rpd));
        DNNL_CHECK(dnnl_primitive_desc_destroy(rpd));
        exec_add(&d->w_cvt, DNNL_ARG_FROM, mem(p, plain, p->params + net->params[l->weight].offset));
        exec_add(&d->w_cvt, DNNL_ARG_TO, mem(p, w_md, d->w_buf));
    }
    d->bias_divisor = a.bias_divisor;
    if (a.bias_divisor != 1.0f) {
        d->bias_div = xmalloc((size_t)O * sizeof(float));
        bias_ptr = d->bias_div; /* filled from the params before each forward after set_params */
    }
    exec_add(&d->fwd, DNNL_ARG_SRC, mem(p, src, d->int8 && !d->u8_in ? (const void *)p->qbuf : (const void *)d->x));
    exec_add(&d->fwd, DNNL_ARG_WEIGHTS, mem(p, w_md, d->w_buf));
    exec_add(&d->fwd, DNNL_ARG_DST, mem(p, dst, d->y));
    if (a.bias_is_post_op) exec_add(&d->fwd, a.arg_bias_post_op, mem(p, bias_po, bias_ptr));
    else exec_add(&d->fwd, DNNL_ARG_BIAS, mem(p, md1(&p->mds, O), bias_ptr));
    if (a.arg_zero) exec_add(&d->fwd, a.arg_zero, mem(p, md_new(&p->mds, 1, (dnnl_dim_t[]){ 1 }, dnnl_s32, dnnl_a),
                                                       &d->zero));
    if (a.arg_src_scale) exec_add(&d->fwd, a.arg_src_scale, mem(p, md1(&p->mds, 1), &d->src_scale));
    if (a.arg_w_scale) exec_add(&d->fwd, a.arg_w_scale, mem(p, md1(&p->mds, O), d->w_scale));
    if (a.arg_dst_scale) exec_add(&d->fwd, a.arg_dst_scale, mem(p, md1(&p->mds, 1), &d->dst_scale));
    return 0;
}

/* Max pooling or odd-size LRN on NHWC fp32, with the workspace its forward asks for. */
static int build_norm_pool(Int8Plan *p, I8Layer *d, int i, size_t *ws_bytes, Error *err) {
    const Layer *l = d->l;
    dnnl_data_type_t dt = p->act_u8[i] ? dnnl_u8 : dnnl_f32;
    Md src = nhwc(p, l->in_c, l->in_h, l->in_w, dt);
    Md dst = nhwc(p, l->out_c, l->out_h, l->out_w, dt);
    dnnl_primitive_desc_t pd;
    dnnl_status_t s;
    if (l->kind == LAYER_MAXPOOL) {
        dnnl_dims_t st = { l->stride, l->stride }, k = { l->kernel, l->kernel };
        s = pd_maxpool_infer(&pd, p->engine, src, dst, st, k, NULL);
    } else {
        s = pd_lrn_fwd(&pd, p->engine, src, l->lrn_size, l->lrn_alpha, l->lrn_beta, l->lrn_k, NULL);
    }
    if (s != dnnl_success) return error_set(err, "oneDNN has no primitive for %s (status %d)", l->name, (int)s);
    snprintf(d->impl, sizeof d->impl, "%s", pd_impl(pd));
    DNNL_CHECK(dnnl_primitive_create(&d->fwd.prim, pd));
    Md ws = md_query(&p->mds, pd, dnnl_query_workspace_md);
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    exec_add(&d->fwd, DNNL_ARG_SRC, mem(p, src, d->x));
    exec_add(&d->fwd, DNNL_ARG_DST, mem(p, dst, d->y));
    if (md_size(ws)) { /* bound to the shared buffer once it is sized (dnnl_int8_build) */
        d->ws_md = ws;
        if (md_size(ws) > *ws_bytes) *ws_bytes = md_size(ws);
    }
    return 0;
}

/* u8 chains: an int8 layer whose output reaches the next weighted layer
 * through ReLU, max pooling, dropout and identity average pooling only,
 * when that layer is int8 with zero point 0, writes that layer's u8 input
 * itself (its quantization with that layer's scale) and the layers between
 * run on u8: max pooling commutes with the (monotone) quantization, ReLU
 * is the identity on u8 with zero point 0. What changes from the
 * reference: the rounding of y / scale inside oneDNN (a tie can move one
 * u8 step), and the fp32 activations between those layers are not kept. */
static void find_u8_chains(Int8Plan *p) {
    const Net *net = p->net;
    for (int i = 0; i < net->n_layers; i++) {
        I8Layer *d = &p->layers[i];
        if (!d->int8 || d->run != RUN_PRIM || !env_switches()->dnnl_int8_u8) continue;
        int j = i + 1;
        for (; j < net->n_layers; j++) {
            const Layer *l = &net->layers[j];
            int passes = l->kind == LAYER_RELU || l->kind == LAYER_DROPOUT || l->kind == LAYER_MAXPOOL ||
                         (l->kind == LAYER_AVGPOOL && l->in_h == l->out_h && l->in_w == l->out_w);
            if (!passes) break;
        }
        if (j >= net->n_layers || net->layers[j].weight < 0 || !p->q->int8[j] || p->q->in_zero[j] != 0) continue;
        d->u8_out = 1;
        d->dst_scale = p->q->in_scale[j];
        for (int k = i + 1; k <= j; k++) p->act_u8[k] = 1;
        p->layers[j].u8_in = 1;
    }
}

Int8Plan *dnnl_int8_build(const Net *net, const QuantModel *quant, int B, int threads, Error *err) {
    Int8Plan *p = xcalloc(1, sizeof *p);
    p->net = net;
    p->q = quant;
    p->B = B;
#ifdef _OPENMP
    /* the count fixed here is re-applied by every forward, as the fp32 plan does (dnnl_backend.c) */
    if (threads > 0) omp_set_num_threads(threads);
    p->threads = omp_get_max_threads();
#else
    (void)threads;
    p->threads = 1;
#endif
    DNNL_CHECK(dnnl_engine_create(&p->engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags));
    p->params = xaligned_alloc(net->param_count * sizeof(float));
    memset(p->params, 0, net->param_count * sizeof(float));
    size_t amax = net_max_activation(net);
    p->qbuf = xaligned_alloc((size_t)B * amax);
    int L = net->n_layers;
    p->act[0] = xaligned_alloc((size_t)B * 3 * net->image_size * net->image_size * sizeof(float));
    p->act_owned[0] = 1;
    for (int i = 0; i < L; i++) {
        I8Layer *d = &p->layers[i];
        const Layer *l = &net->layers[i];
        d->l = l;
        d->x = p->act[i];
        int weighted = l->kind == LAYER_CONV || l->kind == LAYER_LINEAR;
        d->int8 = weighted && quant->int8[i];
        if (i > 0 && p->layers[i - 1].fused_relu) {
            d->run = RUN_IDENTITY;
        } else if (l->kind == LAYER_DROPOUT) {
            d->run = RUN_IDENTITY;
        } else if (l->kind == LAYER_RELU) {
            d->run = RUN_RELU;
        } else if (l->kind == LAYER_AVGPOOL || (l->kind == LAYER_LRN && l->lrn_size % 2 == 0)) {
            d->run = RUN_OWN;
        } else {
            d->run = RUN_PRIM;
        }
        d->fused_relu = weighted && i + 1 < L && net->layers[i + 1].kind == LAYER_RELU;
        if (d->run == RUN_IDENTITY) {
            p->act[i + 1] = p->act[i];
        } else {
            p->act[i + 1] = xaligned_alloc((size_t)B * layer_out_elems(l) * sizeof(float));
            p->act_owned[i + 1] = 1;
        }
        d->y = p->act[i + 1];
    }
    find_u8_chains(p);
    size_t ws_bytes = 0;
    for (int i = 0; i < L; i++) {
        I8Layer *d = &p->layers[i];
        if (d->run == RUN_OWN && !p->nchw[0]) {
            p->nchw[0] = xaligned_alloc((size_t)B * amax * sizeof(float));
            p->nchw[1] = xaligned_alloc((size_t)B * amax * sizeof(float));
        }
        if (d->run != RUN_PRIM) continue;
        int rc = d->l->weight >= 0 ? build_weighted(p, d, i, err) : build_norm_pool(p, d, i, &ws_bytes, err);
        if (rc != 0) {
            dnnl_int8_free(p);
            return NULL;
        }
    }
    if (ws_bytes) {
        p->workspace = xaligned_alloc(ws_bytes);
        for (int i = 0; i < L; i++)
            if (p->layers[i].ws_md) exec_add(&p->layers[i].fwd, DNNL_ARG_WORKSPACE, mem(p, p->layers[i].ws_md, p->workspace));
    }
    p->params_dirty = 1;
    return p;
}

void dnnl_int8_free(Int8Plan *p) {
    if (!p) return;
    for (int i = 0; i < p->net->n_layers; i++) {
        I8Layer *d = &p->layers[i];
        exec_free(&d->fwd);
        exec_free(&d->w_cvt);
        free(d->w_buf);
        free(d->w_scale);
        free(d->scale);
        free(d->bias_div);
    }
    for (int i = 0; i < p->n_mems; i++) DNNL_CHECK(dnnl_memory_destroy(p->mems[i]));
    free(p->mems);
    for (int i = 0; i <= p->net->n_layers; i++)
        if (p->act_owned[i]) free(p->act[i]);
    free(p->params);
    free(p->qbuf);
    free(p->nchw[0]);
    free(p->nchw[1]);
    free(p->workspace);
    md_pool_free(&p->mds);
    if (p->stream) DNNL_CHECK(dnnl_stream_destroy(p->stream));
    if (p->engine) DNNL_CHECK(dnnl_engine_destroy(p->engine));
    free(p);
}

void dnnl_int8_set_params(Int8Plan *p, const float *params) {
    memcpy(p->params, params, p->net->param_count * sizeof(float));
    p->params_dirty = 1;
}

void dnnl_int8_get_params(const Int8Plan *p, float *params) {
    memcpy(params, p->params, p->net->param_count * sizeof(float));
}

/* [n, h, w, c] <-> [n, c, h, w] */
static void nhwc_to_nchw(float *dst, const float *src, int n, int c, int h, int w) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < h * w; p++)
                dst[((size_t)b * c + ch) * h * w + p] = src[((size_t)b * h * w + p) * c + ch];
}
static void nchw_to_nhwc(float *dst, const float *src, int n, int c, int h, int w) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int p = 0; p < h * w; p++)
            for (int ch = 0; ch < c; ch++)
                dst[((size_t)b * h * w + p) * c + ch] = src[((size_t)b * c + ch) * h * w + p];
}

void dnnl_int8_forward(Int8Plan *p, const float *input, int n, LayerProfile *prof) {
    const Net *net = p->net;
#ifdef _OPENMP
    omp_set_num_threads(p->threads);
#endif
    double t0 = profile_start(prof);
    size_t sample = (size_t)3 * net->image_size * net->image_size;
    memcpy(p->act[0], input, (size_t)n * sample * sizeof(float));
    if (n < p->B) memset(p->act[0] + (size_t)n * sample, 0, (size_t)(p->B - n) * sample * sizeof(float));
    if (p->params_dirty) {
        for (int i = 0; i < net->n_layers; i++) {
            I8Layer *d = &p->layers[i];
            exec_run(&d->w_cvt, p->stream);
            if (d->bias_div) {
                const float *b = p->params + net->params[d->l->weight + 1].offset;
                for (int o = 0; o < d->l->out_c; o++) d->bias_div[o] = b[o] / d->bias_divisor;
            }
        }
        p->params_dirty = 0;
    }
    for (int i = 0; i < net->n_layers; i++) {
        I8Layer *d = &p->layers[i];
        const Layer *l = d->l;
        size_t in = (size_t)p->B * layer_in_elems(l);
        switch (d->run) {
        case RUN_IDENTITY: break;
        case RUN_RELU: /* on u8 with zero point 0 (a u8 chain) the identity */
            if (p->act_u8[i]) memcpy(d->y, d->x, in);
            else relu_forward(d->y, d->x, in);
            break;
        case RUN_OWN:
            if (l->kind == LAYER_AVGPOOL && l->in_h == l->out_h && l->in_w == l->out_w) {
                memcpy(d->y, d->x, in * (p->act_u8[i] ? 1 : sizeof(float)));
                break;
            }
            nhwc_to_nchw(p->nchw[0], d->x, p->B, l->in_c, l->in_h, l->in_w);
            dnnl_own_forward(l, p->nchw[1], p->nchw[0], p->B);
            nchw_to_nhwc(d->y, p->nchw[1], p->B, l->out_c, l->out_h, l->out_w);
            break;
        case RUN_PRIM:
            if (d->int8 && !d->u8_in) quantize_u8(p->qbuf, d->x, in, p->q->in_scale[i], p->q->in_zero[i]);
            exec_run(&d->fwd, p->stream);
            DNNL_CHECK(dnnl_stream_wait(p->stream));
            break;
        }
        profile_lap(prof, PROFILE_FWD, i, &t0);
    }
}

void dnnl_int8_read_logits(const Int8Plan *p, float *logits, int n) {
    memcpy(logits, p->act[p->net->n_layers], (size_t)n * p->net->num_classes * sizeof(float));
}

void dnnl_int8_layer_precision(const Int8Plan *p, int layer, char *buf, size_t len) {
    const I8Layer *d = &p->layers[layer];
    if (d->l->weight < 0) snprintf(buf, len, "%s", p->act_u8[layer] ? "u8" : "fp32");
    else snprintf(buf, len, "%s %s", d->int8 ? "int8" : "fp32", d->impl);
}
