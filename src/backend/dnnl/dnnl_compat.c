/*
 * dnnl_compat.c — the oneDNN 2.x / 3.x implementations of dnnl_compat.h.
 * The only file of the backend with version #ifs.
 */
#include "backend/dnnl/dnnl_compat.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const dnnl_dims_t no_dilation = { 0 };

static Md pool_add(MdPool *pool, Md md) {
    if (pool->n == pool->cap) {
        pool->cap = pool->cap ? 2 * pool->cap : 64;
        void **items = realloc(pool->items, (size_t)pool->cap * sizeof *items);
        CHECK(items, "out of memory");
        pool->items = items;
    }
    pool->items[pool->n++] = (void *)md;
    return md;
}

size_t md_size(Md md) { return md ? dnnl_memory_desc_get_size(md) : 0; }

int md_same(Md a, Md b) { return a && b ? dnnl_memory_desc_equal(a, b) : a == b; }

#if DNNL_API_V3

void md_pool_free(MdPool *pool) {
    for (int i = 0; i < pool->n; i++) dnnl_memory_desc_destroy(pool->items[i]);
    free(pool->items);
    memset(pool, 0, sizeof *pool);
}

Md md_new(MdPool *pool, int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = { 0 };
    memcpy(d, dims, (size_t)ndims * sizeof *dims);
    CHECK(dnnl_memory_desc_create_with_tag(&md, ndims, d, dt, tag) == dnnl_success,
          "oneDNN: cannot describe a %d-d tensor with format tag %d", ndims, (int)tag);
    return pool_add(pool, md);
}

Md md_query(MdPool *pool, const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    const_dnnl_memory_desc_t q = dnnl_primitive_desc_query_md(pd, what, 0);
    if (!q) return NULL;
    dnnl_memory_desc_t md;
    CHECK(dnnl_memory_desc_clone(&md, q) == dnnl_success, "oneDNN: memory-desc clone failed");
    return pool_add(pool, md);
}

dnnl_data_type_t md_dtype(Md md) {
    dnnl_data_type_t dt = dnnl_data_type_undef;
    if (md)
        CHECK(dnnl_memory_desc_query(md, dnnl_query_data_type, &dt) == dnnl_success, "oneDNN: data-type query failed");
    return dt;
}

MdLayout md_layout(Md md) {
    MdLayout l;
    memset(&l, 0, sizeof l);
    dnnl_format_kind_t kind = dnnl_format_kind_undef;
    if (!md || dnnl_memory_desc_query(md, dnnl_query_format_kind, &kind) != dnnl_success || kind != dnnl_blocked)
        return l;
    const dnnl_dims_t *strides, *blks, *idxs;
    int ok = dnnl_memory_desc_query(md, dnnl_query_ndims_s32, &l.ndims) == dnnl_success &&
             dnnl_memory_desc_query(md, dnnl_query_inner_nblks_s32, &l.inner_nblks) == dnnl_success &&
             dnnl_memory_desc_query(md, dnnl_query_strides, &strides) == dnnl_success &&
             dnnl_memory_desc_query(md, dnnl_query_inner_blks, &blks) == dnnl_success &&
             dnnl_memory_desc_query(md, dnnl_query_inner_idxs, &idxs) == dnnl_success;
    CHECK(ok, "oneDNN: blocked memory-desc query failed");
    memcpy(l.strides, *strides, sizeof l.strides);
    memcpy(l.inner_blks, *blks, sizeof l.inner_blks);
    memcpy(l.inner_idxs, *idxs, sizeof l.inner_idxs);
    l.blocked = 1;
    return l;
}

dnnl_status_t pd_conv_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md src, Md w, Md b, Md dst,
                          const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r,
                          const_dnnl_primitive_attr_t attr) {
    return dnnl_convolution_forward_primitive_desc_create(pd, eng, dnnl_forward_training, alg, src, w, b, dst, strides,
                                                          no_dilation, pad_l, pad_r, attr);
}

dnnl_status_t pd_conv_bwd_data(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md diff_src, Md w,
                               Md diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r,
                               const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    return dnnl_convolution_backward_data_primitive_desc_create(pd, eng, alg, diff_src, w, diff_dst, strides,
                                                                no_dilation, pad_l, pad_r, hint, attr);
}

dnnl_status_t pd_conv_bwd_weights(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md src, Md diff_w,
                                  Md diff_b, Md diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l,
                                  const dnnl_dims_t pad_r, const_dnnl_primitive_desc_t hint,
                                  const_dnnl_primitive_attr_t attr) {
    return dnnl_convolution_backward_weights_primitive_desc_create(pd, eng, alg, src, diff_w, diff_b, diff_dst, strides,
                                                                   no_dilation, pad_l, pad_r, hint, attr);
}

static dnnl_status_t maxpool_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_prop_kind_t prop, Md src, Md dst,
                                const dnnl_dims_t strides, const dnnl_dims_t kernel, const_dnnl_primitive_attr_t attr) {
    dnnl_dims_t pad = { 0 };
    return dnnl_pooling_forward_primitive_desc_create(pd, eng, prop, dnnl_pooling_max, src, dst, strides, kernel,
                                                      no_dilation, pad, pad, attr);
}

dnnl_status_t pd_maxpool_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md diff_src, Md diff_dst,
                             const dnnl_dims_t strides, const dnnl_dims_t kernel, const_dnnl_primitive_desc_t hint,
                             const_dnnl_primitive_attr_t attr) {
    dnnl_dims_t pad = { 0 };
    return dnnl_pooling_backward_primitive_desc_create(pd, eng, dnnl_pooling_max, diff_src, diff_dst, strides, kernel,
                                                       no_dilation, pad, pad, hint, attr);
}

dnnl_status_t pd_lrn_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, int size, float alpha, float beta,
                         float k, const_dnnl_primitive_attr_t attr) {
    return dnnl_lrn_forward_primitive_desc_create(pd, eng, dnnl_forward_training, dnnl_lrn_across_channels, md, md,
                                                  size, alpha, beta, k, attr);
}

dnnl_status_t pd_lrn_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, int size, float alpha, float beta,
                         float k, const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    return dnnl_lrn_backward_primitive_desc_create(pd, eng, dnnl_lrn_across_channels, md, md, md, size, alpha, beta, k,
                                                   hint, attr);
}

dnnl_status_t pd_relu_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, const_dnnl_primitive_attr_t attr) {
    return dnnl_eltwise_forward_primitive_desc_create(pd, eng, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                                      md, md, 0.0f, 0.0f, attr);
}

dnnl_status_t pd_relu_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, const_dnnl_primitive_desc_t hint,
                          const_dnnl_primitive_attr_t attr) {
    return dnnl_eltwise_backward_primitive_desc_create(pd, eng, dnnl_eltwise_relu_use_dst_for_bwd, md, md, md, 0.0f,
                                                       0.0f, hint, attr);
}

dnnl_status_t pd_ip_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md w, Md b, Md dst,
                        const_dnnl_primitive_attr_t attr) {
    return dnnl_inner_product_forward_primitive_desc_create(pd, eng, dnnl_forward_training, src, w, b, dst, attr);
}

dnnl_status_t pd_ip_bwd_data(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md diff_src, Md w, Md diff_dst,
                             const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    return dnnl_inner_product_backward_data_primitive_desc_create(pd, eng, diff_src, w, diff_dst, hint, attr);
}

dnnl_status_t pd_ip_bwd_weights(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md diff_w, Md diff_b, Md diff_dst,
                                const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    return dnnl_inner_product_backward_weights_primitive_desc_create(pd, eng, src, diff_w, diff_b, diff_dst, hint,
                                                                     attr);
}

dnnl_status_t post_ops_append_relu(dnnl_post_ops_t po) {
    return dnnl_post_ops_append_eltwise(po, dnnl_eltwise_relu, 0.0f, 0.0f);
}

dnnl_status_t int8_attr(dnnl_primitive_attr_t *attr, Int8Args *args, int oc, const float *scale, int w_mask, Md bias_md,
                        int zero, int relu, float dst_scale) {
    (void)oc;
    (void)scale;
    (void)bias_md;
    memset(args, 0, sizeof *args);
    args->bias_divisor = 1.0f;
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success) return s;
    args->arg_src_scale = DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC;
    args->arg_w_scale = DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS;
    if ((s = dnnl_primitive_attr_set_scales_mask(*attr, DNNL_ARG_SRC, 0)) != dnnl_success ||
        (s = dnnl_primitive_attr_set_scales_mask(*attr, DNNL_ARG_WEIGHTS, w_mask)) != dnnl_success)
        return s;
    if (dst_scale > 0) {
        args->arg_dst_scale = DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST;
        if ((s = dnnl_primitive_attr_set_scales_mask(*attr, DNNL_ARG_DST, 0)) != dnnl_success) return s;
    }
    if (zero) {
        args->arg_zero = DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC;
        if ((s = dnnl_primitive_attr_set_zero_points_mask(*attr, DNNL_ARG_SRC, 0)) != dnnl_success) return s;
    }
    if (relu) {
        dnnl_post_ops_t po;
        if ((s = dnnl_post_ops_create(&po)) != dnnl_success) return s;
        s = post_ops_append_relu(po);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(*attr, po);
        dnnl_post_ops_destroy(po);
    }
    return s;
}

#else /* oneDNN 2.x */

void md_pool_free(MdPool *pool) {
    for (int i = 0; i < pool->n; i++) free(pool->items[i]);
    free(pool->items);
    memset(pool, 0, sizeof *pool);
}

static Md pool_copy(MdPool *pool, const dnnl_memory_desc_t *md) {
    dnnl_memory_desc_t *copy = xmalloc(sizeof *copy);
    *copy = *md;
    return pool_add(pool, copy);
}

Md md_new(MdPool *pool, int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = { 0 };
    memcpy(d, dims, (size_t)ndims * sizeof *dims);
    CHECK(dnnl_memory_desc_init_by_tag(&md, ndims, d, dt, tag) == dnnl_success,
          "oneDNN: cannot describe a %d-d tensor with format tag %d", ndims, (int)tag);
    return pool_copy(pool, &md);
}

Md md_query(MdPool *pool, const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, what, 0);
    return q ? pool_copy(pool, q) : NULL;
}

dnnl_data_type_t md_dtype(Md md) { return md ? md->data_type : dnnl_data_type_undef; }

MdLayout md_layout(Md md) {
    MdLayout l;
    memset(&l, 0, sizeof l);
    if (!md || md->format_kind != dnnl_blocked) return l;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    l.blocked = 1;
    l.ndims = md->ndims;
    l.inner_nblks = b->inner_nblks;
    memcpy(l.strides, b->strides, sizeof l.strides);
    memcpy(l.inner_blks, b->inner_blks, sizeof l.inner_blks);
    memcpy(l.inner_idxs, b->inner_idxs, sizeof l.inner_idxs);
    return l;
}

/* The 2.x pattern: an operation descriptor, then its primitive descriptor. */
#define MAKE_PD(init, hint)                                                                    \
    do {                                                                                       \
        dnnl_status_t s_ = (init);                                                             \
        return s_ == dnnl_success ? dnnl_primitive_desc_create(pd, &od, attr, eng, hint) : s_; \
    } while (0)

dnnl_status_t pd_conv_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md src, Md w, Md b, Md dst,
                          const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r,
                          const_dnnl_primitive_attr_t attr) {
    dnnl_convolution_desc_t od;
    MAKE_PD(dnnl_convolution_forward_desc_init(&od, dnnl_forward_training, alg, src, w, b, dst, strides, pad_l, pad_r),
            NULL);
}

dnnl_status_t pd_conv_bwd_data(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md diff_src, Md w,
                               Md diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r,
                               const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    dnnl_convolution_desc_t od;
    MAKE_PD(dnnl_convolution_backward_data_desc_init(&od, alg, diff_src, w, diff_dst, strides, pad_l, pad_r), hint);
}

dnnl_status_t pd_conv_bwd_weights(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md src, Md diff_w,
                                  Md diff_b, Md diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l,
                                  const dnnl_dims_t pad_r, const_dnnl_primitive_desc_t hint,
                                  const_dnnl_primitive_attr_t attr) {
    dnnl_convolution_desc_t od;
    MAKE_PD(dnnl_convolution_backward_weights_desc_init(&od, alg, src, diff_w, diff_b, diff_dst, strides, pad_l, pad_r),
            hint);
}

static dnnl_status_t maxpool_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_prop_kind_t prop, Md src, Md dst,
                                const dnnl_dims_t strides, const dnnl_dims_t kernel, const_dnnl_primitive_attr_t attr) {
    dnnl_dims_t pad = { 0 };
    dnnl_pooling_v2_desc_t od;
    MAKE_PD(dnnl_pooling_v2_forward_desc_init(&od, prop, dnnl_pooling_max, src, dst, strides, kernel, no_dilation, pad,
                                              pad),
            NULL);
}

dnnl_status_t pd_maxpool_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md diff_src, Md diff_dst,
                             const dnnl_dims_t strides, const dnnl_dims_t kernel, const_dnnl_primitive_desc_t hint,
                             const_dnnl_primitive_attr_t attr) {
    dnnl_dims_t pad = { 0 };
    dnnl_pooling_v2_desc_t od;
    MAKE_PD(dnnl_pooling_v2_backward_desc_init(&od, dnnl_pooling_max, diff_src, diff_dst, strides, kernel, no_dilation,
                                               pad, pad),
            hint);
}

dnnl_status_t pd_lrn_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, int size, float alpha, float beta,
                         float k, const_dnnl_primitive_attr_t attr) {
    dnnl_lrn_desc_t od;
    MAKE_PD(dnnl_lrn_forward_desc_init(&od, dnnl_forward_training, dnnl_lrn_across_channels, md, size, alpha, beta, k),
            NULL);
}

dnnl_status_t pd_lrn_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, int size, float alpha, float beta,
                         float k, const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    dnnl_lrn_desc_t od;
    MAKE_PD(dnnl_lrn_backward_desc_init(&od, dnnl_lrn_across_channels, md, md, size, alpha, beta, k), hint);
}

dnnl_status_t pd_relu_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, const_dnnl_primitive_attr_t attr) {
    dnnl_eltwise_desc_t od;
    MAKE_PD(
        dnnl_eltwise_forward_desc_init(&od, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd, md, 0.0f, 0.0f),
        NULL);
}

dnnl_status_t pd_relu_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, const_dnnl_primitive_desc_t hint,
                          const_dnnl_primitive_attr_t attr) {
    dnnl_eltwise_desc_t od;
    MAKE_PD(dnnl_eltwise_backward_desc_init(&od, dnnl_eltwise_relu_use_dst_for_bwd, md, md, 0.0f, 0.0f), hint);
}

dnnl_status_t pd_ip_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md w, Md b, Md dst,
                        const_dnnl_primitive_attr_t attr) {
    dnnl_inner_product_desc_t od;
    MAKE_PD(dnnl_inner_product_forward_desc_init(&od, dnnl_forward_training, src, w, b, dst), NULL);
}

dnnl_status_t pd_ip_bwd_data(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md diff_src, Md w, Md diff_dst,
                             const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    dnnl_inner_product_desc_t od;
    MAKE_PD(dnnl_inner_product_backward_data_desc_init(&od, diff_src, w, diff_dst), hint);
}

dnnl_status_t pd_ip_bwd_weights(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md diff_w, Md diff_b, Md diff_dst,
                                const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
    dnnl_inner_product_desc_t od;
    MAKE_PD(dnnl_inner_product_backward_weights_desc_init(&od, src, diff_w, diff_b, diff_dst), hint);
}

dnnl_status_t post_ops_append_relu(dnnl_post_ops_t po) {
    return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
}

dnnl_status_t int8_attr(dnnl_primitive_attr_t *attr, Int8Args *args, int oc, const float *scale, int w_mask, Md bias_md,
                        int zero, int relu, float dst_scale) {
    (void)w_mask;
    memset(args, 0, sizeof *args);
    args->bias_divisor = dst_scale > 0 ? dst_scale : 1.0f;
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success) return s;
    float *out = malloc((size_t)oc * sizeof *out);
    if (!out) return dnnl_out_of_memory;
    for (int o = 0; o < oc; o++) out[o] = dst_scale > 0 ? scale[o] / dst_scale : scale[o];
    s = dnnl_primitive_attr_set_output_scales(*attr, oc, 1 << 1, out);
    free(out);
    if (s != dnnl_success) return s;
    if (zero) {
        const int32_t runtime = DNNL_RUNTIME_S32_VAL;
        args->arg_zero = DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC;
        if ((s = dnnl_primitive_attr_set_zero_points(*attr, DNNL_ARG_SRC, 1, 0, &runtime)) != dnnl_success) return s;
    }
    dnnl_post_ops_t po;
    if ((s = dnnl_post_ops_create(&po)) != dnnl_success) return s;
    args->bias_is_post_op = 1;
    args->arg_bias_post_op = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;
    s = dnnl_post_ops_append_binary(po, dnnl_binary_add, bias_md);
    if (s == dnnl_success && relu) s = post_ops_append_relu(po);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(*attr, po);
    dnnl_post_ops_destroy(po);
    return s;
}

#endif

dnnl_status_t pd_maxpool_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md dst, const dnnl_dims_t strides,
                             const dnnl_dims_t kernel, const_dnnl_primitive_attr_t attr) {
    return maxpool_pd(pd, eng, dnnl_forward_training, src, dst, strides, kernel, attr);
}

dnnl_status_t pd_maxpool_infer(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md dst, const dnnl_dims_t strides,
                               const dnnl_dims_t kernel, const_dnnl_primitive_attr_t attr) {
    return maxpool_pd(pd, eng, dnnl_forward_inference, src, dst, strides, kernel, attr);
}

/* The ISA values are supersets by bits in 2.x and 3.x alike (AMX includes AVX512_BF16). */
int cpu_native_bf16(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return (isa & bf16) == bf16;
}

int cpu_int8_vnni(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    unsigned v512 = (unsigned)dnnl_cpu_isa_avx512_core_vnni, v256 = (unsigned)dnnl_cpu_isa_avx2_vnni;
    return (isa & v512) == v512 || (isa & v256) == v256;
}

dnnl_status_t pd_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md dst,
                         const_dnnl_primitive_attr_t attr) {
    return dnnl_reorder_primitive_desc_create(pd, src, eng, dst, eng, attr);
}
