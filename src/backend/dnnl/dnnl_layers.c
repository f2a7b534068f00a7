/*
 * dnnl_layers.c — builds the oneDNN backend's plan (see dnnl_layers.h):
 * chooses layouts, creates every primitive, memory object and buffer once.
 *
 * Three passes over the layers:
 *  1. forward order: forward primitive descriptors, the layouts they chose,
 *     activation buffers, input-side reorders;
 *  2. backward order: which ping-pong slot holds each gradient;
 *  3. backward primitives (created with the forward descriptors as hints),
 *     weight reorders, and the argument lists of everything.
 * Finally the shared scratchpad is sized and bound.
 */
#include "backend/dnnl/dnnl_layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/env.h"

#define SCRATCH_PLACEHOLDER ((void *)&scratch_placeholder)
static float scratch_placeholder;

/* --- memory objects, primitives ------------------------------------------ */

static dnnl_memory_t mem(DnnlPlan *p, Md md, const void *ptr) {
    CHECK(ptr, "oneDNN plan: memory without a buffer");
    if (p->n_mems == p->cap_mems) {
        p->cap_mems = p->cap_mems ? 2 * p->cap_mems : 64;
        dnnl_memory_t *m = xmalloc((size_t)p->cap_mems * sizeof *m);
        if (p->n_mems) memcpy(m, p->mems, (size_t)p->n_mems * sizeof *m);
        free(p->mems);
        p->mems = m;
    }
    dnnl_memory_t m;
    DNNL_CHECK(dnnl_memory_create(&m, md, p->engine, (void *)ptr));
    p->mems[p->n_mems++] = m;
    return m;
}

/* Creates the primitive of pd into e and binds its scratchpad (if any). */
static void prim_make(DnnlPlan *p, DnnlExec *e, const_dnnl_primitive_desc_t pd) {
    DNNL_CHECK(dnnl_primitive_create(&e->prim, pd));
    Md smd = md_query(&p->mds, pd, dnnl_query_scratchpad_md);
    size_t sb = md_size(smd);
    if (!sb) return;
    if (sb > p->scratch_bytes) p->scratch_bytes = sb;
    dnnl_memory_t m = mem(p, smd, SCRATCH_PLACEHOLDER);
    p->scratch_mems = realloc(p->scratch_mems, (size_t)(p->n_scratch + 1) * sizeof *p->scratch_mems);
    CHECK(p->scratch_mems, "out of memory");
    p->scratch_mems[p->n_scratch++] = m;
    exec_add(e, DNNL_ARG_SCRATCHPAD, m);
}

/* A reorder src_md@src -> dst_md@dst into e. */
static void reorder_make(DnnlPlan *p, DnnlExec *e, Md src_md, const void *src, Md dst_md, void *dst) {
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(pd_reorder(&pd, p->engine, src_md, dst_md, p->attr));
    prim_make(p, e, pd);
    exec_add(e, DNNL_ARG_FROM, mem(p, src_md, src));
    exec_add(e, DNNL_ARG_TO, mem(p, dst_md, dst));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
}

static float *buf_alloc(Md md) { return xaligned_alloc(md_size(md)); }

static void impl_copy(char *dst, size_t len, const_dnnl_primitive_desc_t pd) { snprintf(dst, len, "%s", pd_impl(pd)); }

/* --- shapes ---------------------------------------------------------------- */

static Md in_plain(DnnlPlan *p, const Layer *l, dnnl_data_type_t dt) {
    return md4t(&p->mds, p->B, l->in_c, l->in_h, l->in_w, dt, dnnl_nchw);
}
static Md out_plain(DnnlPlan *p, const Layer *l, dnnl_data_type_t dt) {
    return md4t(&p->mds, p->B, l->out_c, l->out_h, l->out_w, dt, dnnl_nchw);
}

/* Conv weights as torchvision stores them: OIHW, or GOIHW for groups (the same bytes). */
static Md conv_w_md(DnnlPlan *p, const Layer *l, dnnl_format_tag_t tag_any_or_plain, dnnl_data_type_t dt) {
    int G = l->groups, O = l->out_c, I = l->in_c, K = l->kernel;
    int any = tag_any_or_plain == dnnl_format_tag_any;
    if (G == 1) {
        dnnl_dim_t d[4] = { O, I, K, K };
        return md_new(&p->mds, 4, d, dt, any ? dnnl_format_tag_any : dnnl_oihw);
    }
    dnnl_dim_t d[5] = { G, O / G, I / G, K, K };
    return md_new(&p->mds, 5, d, dt, any ? dnnl_format_tag_any : dnnl_goihw);
}

static void conv_geometry(const DLayer *d, dnnl_dims_t strides, dnnl_dims_t pad_l, dnnl_dims_t pad_r) {
    const Layer *l = d->l;
    strides[0] = strides[1] = d->s2d ? 1 : l->stride;
    pad_l[0] = pad_l[1] = d->s2d ? 0 : l->pad;
    pad_r[0] = pad_r[1] = d->s2d ? 0 : l->pad; /* symmetric as in PyTorch; the output size is the floor */
}

/* The weights' desc: torchvision's OIHW/GOIHW, or [O, Cs, ks, ks] in space-to-depth form. */
static Md conv_weights(DnnlPlan *p, const DLayer *d, dnnl_format_tag_t tag, dnnl_data_type_t dt) {
    if (!d->s2d) return conv_w_md(p, d->l, tag, dt);
    S2dGeom g = dnnl_s2d_geom(d->l);
    return md4t(&p->mds, d->l->out_c, g.Cs, g.ks, g.ks, dt, tag == dnnl_format_tag_any ? tag : dnnl_oihw);
}

/* 3x3 stride-1 convolutions try Winograd F(4x4, 3x3) first (oneDNN 2.x has
 * it for fp32 on AVX-512: 2.25x fewer multiplies; training 61 vs 48 img/s at
 * 224 px on this project's CPU); shapes it does not implement, CPUs without
 * AVX-512, oneDNN 3.2 and later on x64 (which removed it) and
 * ALEXNET_DNNL_WINOGRAD=0 use the direct kernels. */
static int wino_candidate(const DLayer *d) {
    return d->dt == dnnl_f32 && d->l->kernel == 3 && d->l->stride == 1 && !d->s2d && env_switches()->dnnl_winograd;
}

typedef enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_WEIGHTS } ConvPass;

static dnnl_status_t conv_pd_try(DnnlPlan *p, const DLayer *d, ConvPass pass, dnnl_alg_kind_t alg,
                                 dnnl_primitive_desc_t *pd, Md src, Md w, Md b, Md dst,
                                 const_dnnl_primitive_desc_t hint) {
    dnnl_dims_t st, pl, pr;
    conv_geometry(d, st, pl, pr);
    switch (pass) {
    case CONV_FWD:
        return pd_conv_fwd(pd, p->engine, alg, src, w, b, dst, st, pl, pr, d->fused_relu ? p->attr_relu : p->attr);
    case CONV_BWD_DATA: return pd_conv_bwd_data(pd, p->engine, alg, src, w, dst, st, pl, pr, hint, p->attr);
    default: return pd_conv_bwd_weights(pd, p->engine, alg, src, w, b, dst, st, pl, pr, hint, p->attr);
    }
}

/* A conv pd of one pass (src/w/b/dst are the diff descs where the pass
 * computes those) with alg d->alg, falling back to direct when oneDNN has no
 * Winograd for it; a forward that falls back sets d->alg to direct. */
static dnnl_primitive_desc_t conv_pd(DnnlPlan *p, DLayer *d, ConvPass pass, Md src, Md w, Md b, Md dst,
                                     const_dnnl_primitive_desc_t hint) {
    dnnl_primitive_desc_t pd;
    if (d->alg == dnnl_convolution_winograd) {
        if (conv_pd_try(p, d, pass, d->alg, &pd, src, w, b, dst, hint) == dnnl_success) return pd;
        if (pass == CONV_FWD) d->alg = dnnl_convolution_direct;
    }
    DNNL_CHECK(conv_pd_try(p, d, pass, dnnl_convolution_direct, &pd, src, w, b, dst, hint));
    return pd;
}

/* The activation layout a convolution asks for. oneDNN 2.6 has brgemm bf16
 * kernels for nhwc that beat its blocked (nChw16c) direct ones on wide
 * layers with large maps, but only reference kernels for their backward:
 * so only inference plans use them, and only where they measured faster
 * (bf16 inference ms, 2 Zen 5 cores, blocked -> nhwc):
 *   224 px b64:  conv2 64->192 27x27 30.5 -> 30.2, conv3 192->384 13x13
 *                15.0 -> 15.0, conv4 384->256 13x13 25 -> 20,
 *                conv5 256->256 13x13 17 -> 15 (+2.5% for the net);
 *   96 px b128:  conv2 11x11 8.4 -> 9.8, conv3-5 5x5 3.6 -> 6.4,
 *                5.0 -> 8.1, 3.4 -> 6.3 (-14% for the net).
 * The rule: >= 256 input channels and an output of at least 13x13.
 * ALEXNET_DNNL_INFERENCE_NHWC=0 never uses nhwc, =1 for every bf16
 * convolution but a space-to-depth first one (written blocked). */
static dnnl_format_tag_t conv_act_tag(const DnnlPlan *p, const DLayer *d) {
    const Layer *l = d->l;
    if (!p->inference || d->dt != dnnl_bf16 || d->s2d) return dnnl_format_tag_any;
    int forced = env_switches()->dnnl_inference_nhwc;
    int nhwc = forced >= 0 ? forced != 0 : l->in_c >= 256 && l->out_h * l->out_w >= 13 * 13;
    return nhwc ? dnnl_nhwc : dnnl_format_tag_any;
}

static Md conv_src_any(DnnlPlan *p, const DLayer *d) {
    const Layer *l = d->l;
    if (!d->s2d) return md4t(&p->mds, p->B, l->in_c, l->in_h, l->in_w, d->dt, conv_act_tag(p, d));
    S2dGeom g = dnnl_s2d_geom(l);
    return md4t(&p->mds, p->B, g.Cs, g.Hs, g.Ws, d->dt, dnnl_format_tag_any);
}

static int lrn_native(const Layer *l) { return l->lrn_size % 2 == 1; }

/* A bf16 pd that oneDNN only has a reference (scalar) implementation of:
 * slower than fp32, so the layer falls back. */
static int pd_is_ref(const_dnnl_primitive_desc_t pd) { return strstr(pd_impl(pd), "ref") != NULL; }

/* Layer named in the comma-separated list of ALEXNET_DNNL_FP32_LAYERS. */
static int forced_fp32(const Layer *l) {
    size_t n = strlen(l->name);
    for (const char *s = env_switches()->dnnl_fp32_layers; s && *s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
        if (strncmp(s, l->name, n) == 0 && (s[n] == ',' || s[n] == '\0')) return 1;
    return 0;
}

/* The precision rule of a bf16 plan: convolutions and linear layers in bf16,
 * except the logits layer (the loss and its gradient in fp32, and 1% of the
 * multiplies) and layers listed in ALEXNET_DNNL_FP32_LAYERS; forward_desc
 * moves a layer oneDNN has no bf16 kernel for back to fp32. */
static dnnl_data_type_t layer_dt(const DnnlPlan *p, DLayer *d) {
    const Layer *l = d->l;
    if (p->precision != PRECISION_BF16 || (l->kind != LAYER_CONV && l->kind != LAYER_LINEAR)) return dnnl_f32;
    if (d->index == p->net->n_layers - 1) {
        d->fp32_why = "logits";
        return dnnl_f32;
    }
    if (forced_fp32(l)) {
        d->fp32_why = "ALEXNET_DNNL_FP32_LAYERS";
        return dnnl_f32;
    }
    return dnnl_bf16;
}

/* A bf16 pd that failed or is a reference kernel: destroyed, and the layer goes fp32. */
static int bf16_kept(DLayer *d, dnnl_status_t s, dnnl_primitive_desc_t *pd) {
    if (s == dnnl_success && !pd_is_ref(*pd)) return 1;
    if (s == dnnl_success) DNNL_CHECK(dnnl_primitive_desc_destroy(*pd));
    *pd = NULL;
    d->dt = dnnl_f32;
    d->fp32_why = "no bf16 kernel";
    return 0;
}

/* --- pass 1: forward descriptors and layouts ------------------------------- */

typedef struct {
    dnnl_primitive_desc_t fwd;       /* kept for the backward hints */
    dnnl_primitive_desc_t fwd_plain; /* trained bf16 linear: the training forward on plain weights (else NULL) */
    dnnl_primitive_desc_t relu;      /* absorbed ReLU: a forward desc as the hint of its backward */
} PassState;

/* The forward that training runs, and its backward passes take as hint. */
static const_dnnl_primitive_desc_t train_fwd(const PassState *ps) { return ps->fwd_plain ? ps->fwd_plain : ps->fwd; }

/* A convolution's forward pd in d->dt (bf16 falls back to fp32 when
 * oneDNN has no real bf16 kernel); the layouts are the ones it picks. */
static void conv_forward_desc(DnnlPlan *p, DLayer *d, PassState *ps) {
    const Layer *l = d->l;
    MdPool *mds = &p->mds;
    int B = p->B;
    for (;;) {
        Md dst = md4t(mds, B, l->out_c, l->out_h, l->out_w, d->dt, conv_act_tag(p, d));
        Md src = conv_src_any(p, d), w = conv_weights(p, d, dnnl_format_tag_any, d->dt), b = md1(mds, l->out_c);
        d->alg = wino_candidate(d) ? dnnl_convolution_winograd : dnnl_convolution_direct;
        if (d->dt == dnnl_f32) {
            ps->fwd = conv_pd(p, d, CONV_FWD, src, w, b, dst, NULL);
            break;
        }
        if (bf16_kept(d, conv_pd_try(p, d, CONV_FWD, d->alg, &ps->fwd, src, w, b, dst, NULL), &ps->fwd)) break;
    }
    d->src_md = pd_md(mds, ps->fwd, dnnl_query_src_md);
    d->dst_md = pd_md(mds, ps->fwd, dnnl_query_dst_md);
    if (md_layout(d->dst_md).inner_nblks == 0 && p->native_block && conv_act_tag(p, d) != dnnl_nhwc) {
        /* A plain output means im2col GEMM (the 3-channel first layer on
         * AVX2, where no direct kernel takes a plain input). Its output is
         * reordered to the blocked layout so pooling and the weight
         * gradient run the direct kernels (4x faster there). */
        d->raw_md = d->dst_md;
        d->dst_md =
            md4t(mds, B, l->out_c, l->out_h, l->out_w, d->dt, p->native_block == 16 ? dnnl_nChw16c : dnnl_nChw8c);
    }
}

/* A linear layer's input features: the pool's input's when folded. */
static int linear_in(const DLayer *d) { return d->fold_pool ? d->fold_in : (int)layer_in_elems(d->l); }

/* The weights a linear layer multiplies, fp32 [out, linear_in]: V when folded, else the master W. */
static const float *linear_w(const DnnlPlan *p, const DLayer *d) {
    return d->fold_pool ? d->fold_w : p->params + p->net->params[d->l->weight].offset;
}

/* A linear layer's forward pd in d->dt (bf16 falls back as for conv); plain src and dst. */
static void linear_forward_desc(DnnlPlan *p, DLayer *d, PassState *ps) {
    const Layer *l = d->l;
    MdPool *mds = &p->mds;
    int in = linear_in(d);
    dnnl_dim_t wd[2] = { l->out_c, in };
    for (;;) {
        Md w = md_new(mds, 2, wd, d->dt, dnnl_format_tag_any);
        dnnl_status_t st = pd_ip_fwd(&ps->fwd, p->engine, md2t(mds, p->B, in, d->dt), w, md1(mds, l->out_c),
                                     md2t(mds, p->B, l->out_c, d->dt), d->fused_relu ? p->attr_relu : p->attr);
        if (d->dt == dnnl_f32) {
            DNNL_CHECK(st);
            break;
        }
        if (bf16_kept(d, st, &ps->fwd)) break;
    }
    d->src_md = d->fold_pool ? md2t(mds, p->B, in, d->dt) : in_plain(p, l, d->dt);
    d->dst_md = out_plain(p, l, d->dt);
    /* A trained bf16 layer's blocked weights would be re-blocked from the
     * fp32 master after every step: 30 ms a step for AlexNet's classifier,
     * where oneDNN's fp32 -> bf16 blocked reorder runs at ~6 GB/s. Training
     * runs it on plain bf16 weights instead, which the SGD update writes
     * (sgd_update_host's bf16 copies) and the backward-data pass shares;
     * 3 ms more of GEMM. Frozen layers and inference plans (eval, the
     * trainer's validation: weights that change once per epoch at most)
     * keep the blocked kernel. ALEXNET_DNNL_BLOCKED_TRAIN=1 keeps it in
     * training too. */
    if (d->dt != dnnl_bf16 || !plan_trains(p, l) || env_switches()->dnnl_blocked_train) return;
    Md w = md_new(mds, 2, wd, d->dt, dnnl_ab);
    if (pd_ip_fwd(&ps->fwd_plain, p->engine, md2t(mds, p->B, in, d->dt), w, md1(mds, l->out_c),
                  md2t(mds, p->B, l->out_c, d->dt), d->fused_relu ? p->attr_relu : p->attr) != dnnl_success)
        ps->fwd_plain = NULL;
    else if (pd_is_ref(ps->fwd_plain)) {
        DNNL_CHECK(dnnl_primitive_desc_destroy(ps->fwd_plain));
        ps->fwd_plain = NULL;
    }
}

/* Forward pd of layer i given its incoming layout amd[i] (unset for i == 0:
 * the layer picks the input layout). Sets src_md/dst_md. */
static void forward_desc(DnnlPlan *p, DLayer *d, PassState *ps, Md in_md) {
    const Layer *l = d->l;
    MdPool *mds = &p->mds;
    switch (l->kind) {
    case LAYER_CONV: conv_forward_desc(p, d, ps); break;
    case LAYER_MAXPOOL: {
        Md dst = md4t(mds, p->B, l->out_c, l->out_h, l->out_w, md_dtype(in_md), dnnl_format_tag_any);
        dnnl_dims_t st = { l->stride, l->stride }, k = { l->kernel, l->kernel };
        DNNL_CHECK(pd_maxpool_fwd(&ps->fwd, p->engine, in_md, dst, st, k, p->attr));
        d->src_md = in_md;
        d->dst_md = pd_md(mds, ps->fwd, dnnl_query_dst_md);
        break;
    }
    case LAYER_LRN:
        if (lrn_native(l)) {
            DNNL_CHECK(
                pd_lrn_fwd(&ps->fwd, p->engine, in_md, l->lrn_size, l->lrn_alpha, l->lrn_beta, l->lrn_k, p->attr));
            d->src_md = in_md;
            d->dst_md = pd_md(mds, ps->fwd, dnnl_query_dst_md);
        } else {
            d->own = 1; /* oneDNN's window for even sizes is [c-(n-1)/2, c+(n-1)/2], PyTorch's is not symmetric */
            d->src_md = in_plain(p, l, dnnl_f32);
            d->dst_md = out_plain(p, l, dnnl_f32);
        }
        break;
    case LAYER_RELU:
        if (d->absorbed) {
            d->src_md = d->dst_md = in_md;
            DNNL_CHECK(pd_relu_fwd(&ps->relu, p->engine, in_md, p->attr));
        } else {
            DNNL_CHECK(pd_relu_fwd(&ps->fwd, p->engine, in_md, p->attr));
            d->src_md = in_md;
            d->dst_md = pd_md(mds, ps->fwd, dnnl_query_dst_md);
        }
        break;
    case LAYER_AVGPOOL:
    case LAYER_DROPOUT:
        d->own = 1;
        d->src_md = in_plain(p, l, dnnl_f32);
        d->dst_md = out_plain(p, l, dnnl_f32);
        break;
    case LAYER_LINEAR: linear_forward_desc(p, d, ps); break;
    }
    if (ps->fwd) impl_copy(d->impl_fwd, sizeof d->impl_fwd, train_fwd(ps));
}

/* --- pass 3 (pass 2 is plan_grad_slots, below): forward argument lists ------ */

static void forward_args(DnnlPlan *p, DLayer *d, const PassState *ps) {
    const Layer *l = d->l;
    const Net *net = p->net;
    int i = d->index;
    if (d->cvt) reorder_make(p, &d->cvt_fwd, p->amd[i], p->act[i], d->src_md, d->cvt_buf);
    if (d->own || d->absorbed) return;
    prim_make(p, &d->fwd, train_fwd(ps));
    switch (l->kind) {
    case LAYER_CONV: {
        const ParamTensor *pw = &net->params[l->weight], *pb = pw + 1;
        Md flat = conv_weights(p, d, dnnl_oihw, dnnl_f32), wmd = pd_md(&p->mds, ps->fwd, dnnl_query_weights_md);
        Md bmd = md1(&p->mds, l->out_c);
        if (d->s2d) d->s2d_w = buf_alloc(flat);
        const float *w = d->s2d ? d->s2d_w : p->params + pw->offset;
        if (!md_same(wmd, flat)) {
            d->w_fwd_buf = buf_alloc(wmd);
            reorder_make(p, &d->w_fwd, flat, w, wmd, d->w_fwd_buf);
            w = d->w_fwd_buf;
        }
        exec_add(&d->fwd, DNNL_ARG_SRC, mem(p, d->src_md, d->x));
        exec_add(&d->fwd, DNNL_ARG_WEIGHTS, mem(p, wmd, w));
        exec_add(&d->fwd, DNNL_ARG_BIAS, mem(p, bmd, p->params + pb->offset));
        if (d->raw_md) {
            d->raw_buf = buf_alloc(d->raw_md);
            exec_add(&d->fwd, DNNL_ARG_DST, mem(p, d->raw_md, d->raw_buf));
            reorder_make(p, &d->post_cvt, d->raw_md, d->raw_buf, d->dst_md, d->y);
        } else {
            exec_add(&d->fwd, DNNL_ARG_DST, mem(p, d->dst_md, d->y));
        }
        break;
    }
    case LAYER_MAXPOOL:
    case LAYER_LRN: {
        Md ws = md_query(&p->mds, ps->fwd, dnnl_query_workspace_md);
        exec_add(&d->fwd, DNNL_ARG_SRC, mem(p, d->src_md, d->x));
        exec_add(&d->fwd, DNNL_ARG_DST, mem(p, d->dst_md, d->y));
        if (md_size(ws)) {
            d->workspace = buf_alloc(ws);
            exec_add(&d->fwd, DNNL_ARG_WORKSPACE, mem(p, ws, d->workspace));
        }
        break;
    }
    case LAYER_RELU:
        exec_add(&d->fwd, DNNL_ARG_SRC, mem(p, d->src_md, d->x));
        exec_add(&d->fwd, DNNL_ARG_DST, mem(p, d->dst_md, d->y));
        break;
    case LAYER_LINEAR: {
        const ParamTensor *pb = &net->params[l->weight + 1];
        int in = linear_in(d);
        MdPool *mds = &p->mds;
        Md src = md2t(mds, p->B, in, d->dt), w = md2(mds, l->out_c, in), b = md1(mds, l->out_c);
        Md dst = md2t(mds, p->B, l->out_c, d->dt), wmd = pd_md(mds, train_fwd(ps), dnnl_query_weights_md);
        const float *wp = linear_w(p, d);
        if (d->fold_xq) reorder_make(p, &d->fold_cvt, md2(mds, p->B, in), d->fold_pool->x, src, d->fold_xq);
        if (!md_same(wmd, w)) {
            /* the forward's weights (blocked, or plain bf16): converted when the params change */
            d->w_fwd_buf = buf_alloc(wmd);
            reorder_make(p, &d->w_fwd, w, wp, wmd, d->w_fwd_buf);
            wp = d->w_fwd_buf;
        }
        exec_add(&d->fwd, DNNL_ARG_SRC, mem(p, src, d->x));
        exec_add(&d->fwd, DNNL_ARG_WEIGHTS, mem(p, wmd, wp));
        exec_add(&d->fwd, DNNL_ARG_BIAS, mem(p, b, p->params + pb->offset));
        exec_add(&d->fwd, DNNL_ARG_DST, mem(p, dst, d->y));
        /* the SGD update's bf16 copy is of W, not of V */
        if (ps->fwd_plain && !d->fold_pool) p->bf16_copy[l->weight] = (uint16_t *)d->w_fwd_buf;
        break;
    }
    default: break;
    }
}

/* --- pass 3, continued: backward primitives and weight reorders ----------- */

/* The weights a backward-data pass reads in its format wmd: the forward's
 * copy when the formats agree, the flat master weights w when wmd is flat,
 * else a copy of its own (re-blocked with the forward's when params change). */
static const float *bwd_data_weights(DnnlPlan *p, DLayer *d, Md wmd, Md wfwd, Md flat, const float *w) {
    if (md_same(wmd, wfwd) && d->w_fwd_buf) return d->w_fwd_buf;
    if (md_same(wmd, flat)) return w;
    d->w_bwd_buf = buf_alloc(wmd);
    reorder_make(p, &d->w_bwd, flat, w, wmd, d->w_bwd_buf);
    return d->w_bwd_buf;
}

/* The backward-data primitive of conv/linear pd (destroyed here): dy in dst
 * and the weights -> dx in src. wfwd: the forward's weights desc; flat: the
 * master weights' desc. */
static void bwd_data_make(DnnlPlan *p, DLayer *d, dnnl_primitive_desc_t pd, Md wfwd, Md flat, Md src, Md dst) {
    impl_copy(d->impl_bwd_data, sizeof d->impl_bwd_data, pd);
    Md wmd = pd_md(&p->mds, pd, dnnl_query_weights_md);
    const float *master = d->l->kind == LAYER_LINEAR ? linear_w(p, d) : p->params + p->net->params[d->l->weight].offset;
    const float *w = bwd_data_weights(p, d, wmd, wfwd, flat, master);
    prim_make(p, &d->bwd_data, pd);
    exec_add(&d->bwd_data, DNNL_ARG_DIFF_DST, mem(p, dst, p->dbuf[d->dy_buf]));
    exec_add(&d->bwd_data, DNNL_ARG_WEIGHTS, mem(p, wmd, w));
    exec_add(&d->bwd_data, DNNL_ARG_DIFF_SRC, mem(p, src, p->dbuf[d->dx_buf]));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
}

/* The backward-weights primitive of conv/linear pd (destroyed here): x in
 * src and dy in dst -> the weight gradient into dw (desc flat; through
 * dw_buf and a reorder when pd wants another format) and the bias gradient
 * (desc bmd) into the flat gradient buffer. */
static void bwd_weights_make(DnnlPlan *p, DLayer *d, dnnl_primitive_desc_t pd, Md src, Md dst, Md flat, float *dw,
                             Md bmd) {
    impl_copy(d->impl_bwd_weights, sizeof d->impl_bwd_weights, pd);
    Md dwmd = pd_md(&p->mds, pd, dnnl_query_diff_weights_md);
    if (!md_same(dwmd, flat)) {
        d->dw_buf = buf_alloc(dwmd);
        reorder_make(p, &d->dw_flat, dwmd, d->dw_buf, flat, dw);
        dw = d->dw_buf;
    }
    prim_make(p, &d->bwd_weights, pd);
    exec_add(&d->bwd_weights, DNNL_ARG_SRC, mem(p, src, d->x));
    exec_add(&d->bwd_weights, DNNL_ARG_DIFF_DST, mem(p, dst, p->dbuf[d->dy_buf]));
    exec_add(&d->bwd_weights, DNNL_ARG_DIFF_WEIGHTS, mem(p, dwmd, dw));
    exec_add(&d->bwd_weights, DNNL_ARG_DIFF_BIAS, mem(p, bmd, p->grads + p->net->params[d->l->weight + 1].offset));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
}

static void conv_backward_build(DnnlPlan *p, DLayer *d, const PassState *ps) {
    const Layer *l = d->l;
    MdPool *mds = &p->mds;
    /* bf16: the data gradient takes bf16 weights, the weight gradient is fp32 */
    Md flat = conv_weights(p, d, dnnl_oihw, dnnl_f32);
    if (d->need_dx) {
        Md any = conv_weights(p, d, dnnl_format_tag_any, d->dt);
        dnnl_primitive_desc_t pd = conv_pd(p, d, CONV_BWD_DATA, d->src_md, any, NULL, d->dst_md, ps->fwd);
        bwd_data_make(p, d, pd, pd_md(mds, ps->fwd, dnnl_query_weights_md), flat, d->src_md, d->dst_md);
    }
    if (!plan_trains(p, l)) return; /* frozen: no weight gradient */
    Md dany = conv_weights(p, d, dnnl_format_tag_any, dnnl_f32), bmd = md1(mds, l->out_c);
    dnnl_primitive_desc_t pd = conv_pd(p, d, CONV_BWD_WEIGHTS, d->src_md, dany, bmd, d->dst_md, ps->fwd);
    if (d->s2d) d->s2d_dw = buf_alloc(flat);
    float *dw = d->s2d ? d->s2d_dw : p->grads + p->net->params[l->weight].offset;
    bwd_weights_make(p, d, pd, d->src_md, d->dst_md, flat, dw, bmd);
}

static void linear_backward_build(DnnlPlan *p, DLayer *d, const PassState *ps) {
    const Layer *l = d->l;
    MdPool *mds = &p->mds;
    int in = linear_in(d);
    Md src = md2t(mds, p->B, in, d->dt), w = md2(mds, l->out_c, in), b = md1(mds, l->out_c);
    Md dst = md2t(mds, p->B, l->out_c, d->dt);
    dnnl_dim_t wd[2] = { l->out_c, in };
    dnnl_primitive_desc_t pd;
    if (d->need_dx) {
        /* fp32: the flat master weights in place; bf16: the forward's bf16 copy when the layouts agree */
        Md wq = d->dt == dnnl_f32 ? w : md_new(mds, 2, wd, d->dt, ps->fwd_plain ? dnnl_ab : dnnl_format_tag_any);
        DNNL_CHECK(pd_ip_bwd_data(&pd, p->engine, src, wq, dst, train_fwd(ps), p->attr));
        bwd_data_make(p, d, pd, pd_md(mds, train_fwd(ps), dnnl_query_weights_md), w, src, dst);
        /* folded: the input gradient goes, in fp32, where the skipped pool's would have */
        if (d->fold_pool)
            reorder_make(p, &d->fold_cvt_bwd, src, p->dbuf[d->dx_buf], md2(mds, p->B, in),
                         p->dbuf[d->fold_pool->dx_buf]);
    }
    if (!plan_trains(p, l)) return; /* frozen: no weight gradient */
    /* the fp32 weight gradient straight into the flat buffer, else through a reorder */
    if (pd_ip_bwd_weights(&pd, p->engine, src, w, b, dst, train_fwd(ps), p->attr) != dnnl_success)
        DNNL_CHECK(pd_ip_bwd_weights(&pd, p->engine, src, md_new(mds, 2, wd, dnnl_f32, dnnl_format_tag_any), b, dst,
                                     train_fwd(ps), p->attr));
    float *dw = d->fold_pool ? d->fold_dw : p->grads + p->net->params[l->weight].offset;
    bwd_weights_make(p, d, pd, src, dst, w, dw, b);
}

static void pool_lrn_backward_build(DnnlPlan *p, DLayer *d, const PassState *ps) {
    const Layer *l = d->l;
    dnnl_primitive_desc_t pd;
    if (l->kind == LAYER_MAXPOOL) {
        dnnl_dims_t st = { l->stride, l->stride }, k = { l->kernel, l->kernel };
        DNNL_CHECK(pd_maxpool_bwd(&pd, p->engine, d->src_md, d->dst_md, st, k, ps->fwd, p->attr));
    } else {
        DNNL_CHECK(
            pd_lrn_bwd(&pd, p->engine, d->src_md, l->lrn_size, l->lrn_alpha, l->lrn_beta, l->lrn_k, ps->fwd, p->attr));
    }
    impl_copy(d->impl_bwd_data, sizeof d->impl_bwd_data, pd);
    prim_make(p, &d->bwd_data, pd);
    if (l->kind == LAYER_LRN) exec_add(&d->bwd_data, DNNL_ARG_SRC, mem(p, d->src_md, d->x));
    exec_add(&d->bwd_data, DNNL_ARG_DIFF_DST, mem(p, d->dst_md, p->dbuf[d->dy_buf]));
    exec_add(&d->bwd_data, DNNL_ARG_DIFF_SRC, mem(p, d->src_md, p->dbuf[d->dx_buf]));
    if (d->workspace) {
        Md ws = pd_md(&p->mds, ps->fwd, dnnl_query_workspace_md);
        exec_add(&d->bwd_data, DNNL_ARG_WORKSPACE, mem(p, ws, d->workspace));
    }
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
}

/* In place on the incoming gradient; the ReLU's output is act[i+1] (fused or not). */
static void relu_backward_build(DnnlPlan *p, DLayer *d, const PassState *ps) {
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(pd_relu_bwd(&pd, p->engine, d->dst_md, d->absorbed ? ps->relu : ps->fwd, p->attr));
    impl_copy(d->impl_bwd_data, sizeof d->impl_bwd_data, pd);
    prim_make(p, &d->relu_bwd, pd);
    exec_add(&d->relu_bwd, DNNL_ARG_DST, mem(p, d->dst_md, p->act[d->index + 1]));
    exec_add(&d->relu_bwd, DNNL_ARG_DIFF_DST, mem(p, d->dst_md, p->dbuf[d->dy_buf]));
    exec_add(&d->relu_bwd, DNNL_ARG_DIFF_SRC, mem(p, d->dst_md, p->dbuf[d->dx_buf]));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
}

/* Layer d's backward primitives and the reorder of its input gradient back to amd[i]. */
static void backward_build(DnnlPlan *p, DLayer *d, const PassState *ps) {
    int i = d->index;
    if (d->cvt && d->need_dx)
        reorder_make(p, &d->cvt_bwd, d->src_md, p->dbuf[d->dx_buf], p->amd[i], p->dbuf[d->dxa_buf]);
    if (d->own) return;
    switch (d->l->kind) {
    case LAYER_CONV: conv_backward_build(p, d, ps); break;
    case LAYER_LINEAR: linear_backward_build(p, d, ps); break;
    case LAYER_MAXPOOL:
    case LAYER_LRN:
        if (d->need_dx) pool_lrn_backward_build(p, d, ps);
        break;
    case LAYER_RELU:
        if (d->need_dx) relu_backward_build(p, d, ps);
        break;
    default: break;
    }
}

/* --- the plan ------------------------------------------------------------------ */

/* The channel block oneDNN's direct convolutions use on this CPU (8 on AVX2,
 * 16 on AVX-512), from a probe descriptor; 0 if they block nothing. */
static int native_block(DnnlPlan *p) {
    MdPool *mds = &p->mds;
    Md src = md4(mds, 2, 32, 8, 8, dnnl_format_tag_any), dst = md4(mds, 2, 32, 8, 8, dnnl_format_tag_any);
    Md w = md4(mds, 32, 32, 3, 3, dnnl_format_tag_any);
    dnnl_dims_t st = { 1, 1 }, pad = { 1, 1 };
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(pd_conv_fwd(&pd, p->engine, dnnl_convolution_direct, src, w, NULL, dst, st, pad, pad, p->attr));
    Md md = pd_md(mds, pd, dnnl_query_dst_md);
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    return md_channel_block(md);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* The engine, the stream and the two primitive attributes (user
 * scratchpad; plus a ReLU post-op). */
static int plan_engine(DnnlPlan *p, Error *err) {
    if (dnnl_engine_create(&p->engine, dnnl_cpu, 0) != dnnl_success)
        return error_set(err, "dnnl backend: oneDNN has no CPU engine on this machine");
    DNNL_CHECK(dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags));
    DNNL_CHECK(dnnl_primitive_attr_create(&p->attr));
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(p->attr, dnnl_scratchpad_mode_user));
    DNNL_CHECK(dnnl_primitive_attr_create(&p->attr_relu));
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(p->attr_relu, dnnl_scratchpad_mode_user));
    dnnl_post_ops_t po;
    DNNL_CHECK(dnnl_post_ops_create(&po));
    DNNL_CHECK(post_ops_append_relu(po));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(p->attr_relu, po));
    DNNL_CHECK(dnnl_post_ops_destroy(po));
    return 0;
}

/* The index of the average pool that linear layer i folds over (Folding in
 * dnnl_layers.h), or -1: a pool that enlarges its map, then at most a
 * dropout that never drops in this plan, then layer i. */
static int fold_pool_index(const DnnlPlan *p, int i) {
    const Layer *ls = p->net->layers;
    if (env_switches()->dnnl_no_fold || ls[i].kind != LAYER_LINEAR) return -1;
    int j = i - 1;
    if (j >= 0 && ls[j].kind == LAYER_DROPOUT) {
        if (ls[j].drop_p > 0 && !p->inference) return -1;
        j--;
    }
    if (j < 0 || ls[j].kind != LAYER_AVGPOOL) return -1;
    return (long)ls[j].in_h * ls[j].in_w < (long)ls[j].out_h * ls[j].out_w ? j : -1;
}

/* Per layer: its compute type, fusion, space-to-depth, folding, and whether
 * it needs an input gradient (it does above a layer whose parameters train). */
static void plan_mark_layers(DnnlPlan *p) {
    const Net *net = p->net;
    int seen_params = 0;
    for (int i = 0; i < net->n_layers; i++) {
        DLayer *d = &p->layers[i];
        d->l = &net->layers[i];
        d->index = i;
        d->need_dx = seen_params;
        d->dt = layer_dt(p, d);
        if (plan_trains(p, d->l)) seen_params = 1;
        d->s2d = i == 0 && d->l->kind == LAYER_CONV && d->l->groups == 1 && d->l->stride >= 2 &&
                 d->l->stride <= d->l->kernel && !env_switches()->dnnl_no_s2d;
        if (d->l->kind == LAYER_RELU && i > 0 &&
            (net->layers[i - 1].kind == LAYER_CONV || net->layers[i - 1].kind == LAYER_LINEAR)) {
            d->absorbed = 1;
            p->layers[i - 1].fused_relu = 1;
        }
        int pool = fold_pool_index(p, i);
        if (pool >= 0) {
            d->fold_pool = &p->layers[pool];
            d->fold_in = (int)layer_in_elems(&net->layers[pool]);
            for (int k = pool; k < i; k++) p->layers[k].folded_away = 1;
        }
    }
}

/* A folded linear layer's buffers: V, dV when it trains, and the bf16 copy
 * of its input when it computes in bf16; it reads the pool's plain input. */
static void fold_buffers(DnnlPlan *p, DLayer *d) {
    size_t w = (size_t)d->l->out_c * d->fold_in * sizeof(float);
    d->fold_w = xaligned_alloc(w);
    if (plan_trains(p, d->l)) d->fold_dw = xaligned_alloc(w);
    if (d->dt == dnnl_bf16) d->fold_xq = buf_alloc(d->src_md);
    dnnl_fold_table(&d->fold_tab, d->fold_pool->l, d->l->out_c);
    d->x = d->fold_xq ? d->fold_xq : d->fold_pool->x;
}

/* Pass 1: forward descriptors, activation buffers and input-side reorders.
 * Returns the bytes a gradient ping-pong buffer needs. */
static size_t plan_forward(DnnlPlan *p, PassState *ps, Md nchw_in) {
    size_t dmax = (size_t)p->B * p->net->num_classes * sizeof(float);
    for (int i = 0; i < p->net->n_layers; i++) {
        DLayer *d = &p->layers[i];
        if (i == 0 && d->l->kind != LAYER_CONV) p->amd[0] = nchw_in;
        forward_desc(p, d, &ps[i], p->amd[i]);
        if (i == 0) {
            if (d->l->kind == LAYER_CONV) p->amd[0] = d->src_md;
            p->act[0] = buf_alloc(p->amd[0]);
            p->act_owned[0] = 1;
        }
        d->cvt = !d->fold_pool && !md_same(d->src_md, p->amd[i]);
        if (d->cvt) d->cvt_buf = buf_alloc(d->src_md);
        d->x = d->cvt ? d->cvt_buf : p->act[i];
        if (d->fold_pool) fold_buffers(p, d);
        p->amd[i + 1] = d->dst_md;
        if (d->absorbed) {
            p->act[i + 1] = p->act[i];
        } else {
            p->act[i + 1] = buf_alloc(d->dst_md);
            p->act_owned[i + 1] = 1;
        }
        d->y = p->act[i + 1];
        dmax = max_sz(dmax, max_sz(md_size(d->src_md), max_sz(md_size(d->dst_md), md_size(p->amd[i]))));
    }
    return dmax;
}

/* The input format the backend asks for, and the staging buffer and reorder
 * when the first layer wants another layout (or space-to-depth). */
static void plan_input(DnnlPlan *p, Md nchw_in) {
    const int S = p->net->image_size;
    Md nhwc_in = md4(&p->mds, p->B, 3, S, S, dnnl_nhwc);
    if (p->layers[0].s2d) {
        /* written straight in the convolution's layout when dnnl_s2d_input
         * has it (plain, or channel blocks of 8/16, fp32 or bf16), else
         * plain fp32 into a stage and reordered */
        S2dGeom g = dnnl_s2d_geom(p->layers[0].l);
        p->input_format = INPUT_F32_NCHW;
        const struct {
            int block;
            dnnl_format_tag_t tag;
        } layouts[] = { { 1, dnnl_nchw }, { 8, dnnl_nChw8c }, { 16, dnnl_nChw16c } };
        for (size_t k = 0; k < sizeof layouts / sizeof layouts[0]; k++)
            for (int bf16 = 0; bf16 <= 1; bf16++) {
                dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
                if (g.Cs % layouts[k].block == 0 &&
                    md_same(md4t(&p->mds, p->B, g.Cs, g.Hs, g.Ws, dt, layouts[k].tag), p->amd[0])) {
                    p->s2d_layout = (S2dLayout){ layouts[k].block, bf16 };
                    return;
                }
            }
        Md plain = md4(&p->mds, p->B, g.Cs, g.Hs, g.Ws, dnnl_nchw);
        p->s2d_layout = (S2dLayout){ 1, 0 };
        p->input_reorder = 1;
        p->input_stage = buf_alloc(plain);
        reorder_make(p, &p->input_cvt, plain, p->input_stage, p->amd[0], p->act[0]);
    } else if (md_same(p->amd[0], nchw_in)) {
        p->input_format = INPUT_F32_NCHW;
    } else if (md_same(p->amd[0], nhwc_in)) {
        p->input_format = INPUT_F32_NHWC;
    } else {
        p->input_format = INPUT_F32_NCHW;
        p->input_reorder = 1;
        p->input_stage = buf_alloc(nchw_in);
        reorder_make(p, &p->input_cvt, nchw_in, p->input_stage, p->amd[0], p->act[0]);
    }
}

/* Pass 2: the ping-pong slot of each gradient, from the logits (slot 0) down. */
static void plan_grad_slots(DnnlPlan *p) {
    int cur = 0;
    for (int i = p->net->n_layers - 1; i >= 0; i--) {
        DLayer *d = &p->layers[i];
        LayerKind k = d->l->kind;
        int in_place = k == LAYER_RELU || k == LAYER_DROPOUT;
        d->dy_buf = cur;
        d->dx_buf = in_place ? cur : 1 - cur;
        d->dxa_buf = d->cvt ? 1 - d->dx_buf : d->dx_buf;
        cur = d->dxa_buf;
    }
}

int dnnl_plan_build(DnnlPlan *p, const Net *net, int B, int threads, Precision precision, int inference, uint64_t seed,
                    Error *err) {
    memset(p, 0, sizeof *p);
    int L = net->n_layers;
    p->net = net;
    p->B = B;
    p->precision = precision;
    p->inference = inference;
    p->seed = seed;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
    p->threads = omp_get_max_threads();
#else
    p->threads = 1;
#endif
    if (plan_engine(p, err) != 0) return -1;
    p->native_block = native_block(p);
    size_t P = net->param_count;
    p->params = xaligned_alloc(P * sizeof(float));
    if (!inference) {
        p->grads = xaligned_alloc(P * sizeof(float));
        memset(p->grads, 0, P * sizeof(float)); /* frozen tensors' gradients stay zero */
        p->momentum = xaligned_alloc(P * sizeof(float));
    }
    p->params_dirty = DIRTY_ALL;
    plan_mark_layers(p);

    PassState ps[NET_MAX_LAYERS];
    memset(ps, 0, sizeof ps);
    Md nchw_in = md4(&p->mds, B, 3, net->image_size, net->image_size, dnnl_nchw);
    size_t dmax = plan_forward(p, ps, nchw_in);
    plan_input(p, nchw_in);
    p->dbuf[0] = xaligned_alloc(dmax);
    p->dbuf[1] = xaligned_alloc(dmax);
    plan_grad_slots(p);

    /* pass 3 */
    for (int i = 0; i < L; i++) {
        forward_args(p, &p->layers[i], &ps[i]);
        if (p->layers[i].need_dx || plan_trains(p, p->layers[i].l)) backward_build(p, &p->layers[i], &ps[i]);
    }
    for (int i = 0; i < L; i++) {
        if (ps[i].fwd) DNNL_CHECK(dnnl_primitive_desc_destroy(ps[i].fwd));
        if (ps[i].fwd_plain) DNNL_CHECK(dnnl_primitive_desc_destroy(ps[i].fwd_plain));
        if (ps[i].relu) DNNL_CHECK(dnnl_primitive_desc_destroy(ps[i].relu));
    }

    p->scratch = xaligned_alloc(p->scratch_bytes ? p->scratch_bytes : 64);
    for (int i = 0; i < p->n_scratch; i++) DNNL_CHECK(dnnl_memory_set_data_handle(p->scratch_mems[i], p->scratch));
    return 0;
}

void dnnl_plan_free(DnnlPlan *p) {
    for (int i = 0; i < p->net->n_layers; i++) {
        DLayer *d = &p->layers[i];
        DnnlExec *e[] = { &d->cvt_fwd,  &d->cvt_bwd, &d->post_cvt, &d->fwd,     &d->bwd_data, &d->bwd_weights,
                          &d->relu_bwd, &d->w_fwd,   &d->w_bwd,    &d->dw_flat, &d->fold_cvt, &d->fold_cvt_bwd };
        for (size_t k = 0; k < sizeof e / sizeof e[0]; k++) exec_free(e[k]);
        free(d->cvt_buf);
        free(d->raw_buf);
        free(d->s2d_w);
        free(d->s2d_dw);
        free(d->w_fwd_buf);
        free(d->w_bwd_buf);
        free(d->dw_buf);
        free(d->workspace);
        free(d->fold_w);
        free(d->fold_dw);
        free(d->fold_xq);
        dnnl_fold_table_free(&d->fold_tab);
    }
    exec_free(&p->input_cvt);
    for (int i = 0; i <= p->net->n_layers; i++)
        if (p->act_owned[i]) free(p->act[i]);
    for (int i = 0; i < p->n_mems; i++) DNNL_CHECK(dnnl_memory_destroy(p->mems[i]));
    free(p->mems);
    free(p->scratch_mems);
    md_pool_free(&p->mds);
    free(p->input_stage);
    free(p->dbuf[0]);
    free(p->dbuf[1]);
    free(p->scratch);
    free(p->params);
    free(p->grads);
    free(p->momentum);
    DNNL_CHECK(dnnl_primitive_attr_destroy(p->attr));
    DNNL_CHECK(dnnl_primitive_attr_destroy(p->attr_relu));
    DNNL_CHECK(dnnl_stream_destroy(p->stream));
    DNNL_CHECK(dnnl_engine_destroy(p->engine));
    memset(p, 0, sizeof *p);
}

void dnnl_layer_precision(const DnnlPlan *p, int i, char *buf, size_t len) {
    const DLayer *d = &p->layers[i];
    const char *t = md_dtype(d->own ? d->src_md : d->dst_md) == dnnl_bf16 ? "bf16" : "fp32";
    const char *wino = d->l->kind == LAYER_CONV && d->alg == dnnl_convolution_winograd ? " wino" : "";
    if (d->fp32_why) snprintf(buf, len, "fp32%s (%s)", wino, d->fp32_why);
    else snprintf(buf, len, "%s%s", t, wino);
}

void dnnl_plan_print(const DnnlPlan *p, FILE *f) {
    char a[32], b[32];
    md_describe(p->amd[0], a, sizeof a);
    fprintf(f, "dnnl plan: batch %d, %d threads, %s, input %s%s, scratchpad %.1f MiB\n", p->B, p->threads,
            p->precision == PRECISION_BF16 ? "bf16" : "fp32", a, p->input_reorder ? " (reordered from nchw)" : "",
            p->scratch_bytes / 1048576.0);
    for (int i = 0; i < p->net->n_layers; i++) {
        const DLayer *d = &p->layers[i];
        md_describe(d->src_md, a, sizeof a);
        md_describe(d->dst_md, b, sizeof b);
        char prec[48];
        dnnl_layer_precision(p, i, prec, sizeof prec);
        fprintf(f, "  %-13s %-8s %-9s -> %-9s %-10s%s%s%s%s fwd=%s bwd_d=%s bwd_w=%s\n", d->l->name,
                layer_kind_name(d->l->kind), a, b, prec,
                d->cvt   ? " [reorder in]"
                : d->s2d ? " [space-to-depth]"
                         : "",
                d->raw_md ? " [reorder out]" : "", d->fused_relu ? " [+relu]" : "",
                d->absorbed      ? " [fused]"
                : d->folded_away ? " [folded]"
                : d->fold_pool   ? " [fold]"
                                 : "",
                d->own ? "own" : d->impl_fwd, d->impl_bwd_data[0] ? d->impl_bwd_data : "-",
                d->impl_bwd_weights[0] ? d->impl_bwd_weights : "-");
    }
}
