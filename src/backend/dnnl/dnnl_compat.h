/*
 * dnnl_compat.h — one C API over oneDNN 2.x (Debian 12 ships 2.6) and 3.x
 * (Debian 13 ships 3.7), so the backend has no version #ifs of its own.
 *
 * What 3.0 changed, and how it looks here:
 *  - Memory descriptors became opaque handles (create/clone/destroy, fields
 *    read with dnnl_memory_desc_query) instead of structs passed by address.
 *    Md is a pointer in both: on 2.x to a struct, on 3.x the handle, so it
 *    goes to either API as is. Every Md lives in an MdPool and is freed with
 *    it; NULL means "none".
 *  - Operation descriptors (dnnl_*_desc_init + dnnl_primitive_desc_create)
 *    were folded into one dnnl_*_primitive_desc_create per primitive: the
 *    pd_* functions below take the union of what both need.
 *  - The eltwise post-op lost its scale argument; LRN, eltwise backward take
 *    separate diff_src / diff_dst descriptors; pooling_v2 became pooling.
 *  - x64 fp32 Winograd was removed (3.2): pd_conv_* with
 *    dnnl_convolution_winograd then report dnnl_unimplemented, as 2.x does
 *    on CPUs without AVX-512, and the caller falls back to direct.
 */
#ifndef ALEXNET_DNNL_COMPAT_H
#define ALEXNET_DNNL_COMPAT_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>

#define DNNL_API_V3 (DNNL_VERSION_MAJOR >= 3)

#if DNNL_API_V3
typedef dnnl_memory_desc_t Md;
#else
typedef const dnnl_memory_desc_t *Md;
#endif

/* Owner of every Md a plan creates. Zero-initialised is empty. */
typedef struct {
    void **items;
    int n, cap;
} MdPool;

void md_pool_free(MdPool *pool);
/* A new desc of ndims dims, data type dt (f32 or bf16) and a format tag
 * (dnnl_format_tag_any for "let the primitive pick"). */
Md md_new(MdPool *pool, int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag);
/* The data type of a desc (dnnl_data_type_undef for NULL). */
dnnl_data_type_t md_dtype(Md md);
/* A pool-owned copy of a primitive descriptor's memory desc; NULL when it has none. */
Md md_query(MdPool *pool, const_dnnl_primitive_desc_t pd, dnnl_query_t what);

int md_same(Md a, Md b);
size_t md_size(Md md); /* bytes; 0 for NULL */

/* The blocking of a desc: dims in memory order come from the strides, the
 * inner blocks (e.g. 16c in nChw16c) from inner_*. blocked is 0 for
 * format_kind any / opaque (then the rest is unset). */
typedef struct {
    int blocked, ndims, inner_nblks;
    dnnl_dims_t strides, inner_blks, inner_idxs;
} MdLayout;
MdLayout md_layout(Md md);

/* Primitive descriptors. attr may be NULL; hint is the forward pd of a backward one. */
dnnl_status_t pd_conv_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md src, Md w, Md b, Md dst,
                          const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r,
                          const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_conv_bwd_data(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md diff_src, Md w,
                               Md diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r,
                               const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_conv_bwd_weights(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, dnnl_alg_kind_t alg, Md src, Md diff_w,
                                  Md diff_b, Md diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l,
                                  const dnnl_dims_t pad_r, const_dnnl_primitive_desc_t hint,
                                  const_dnnl_primitive_attr_t attr);
/* Max pooling, unpadded, undilated. */
dnnl_status_t pd_maxpool_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md dst, const dnnl_dims_t strides,
                             const dnnl_dims_t kernel, const_dnnl_primitive_attr_t attr);
/* The same for inference (no workspace: oneDNN's fast u8 kernels are forward_inference only). */
dnnl_status_t pd_maxpool_infer(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md dst, const dnnl_dims_t strides,
                               const dnnl_dims_t kernel, const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_maxpool_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md diff_src, Md diff_dst,
                             const dnnl_dims_t strides, const dnnl_dims_t kernel, const_dnnl_primitive_desc_t hint,
                             const_dnnl_primitive_attr_t attr);
/* Across-channel LRN; src, dst and their gradients share md. */
dnnl_status_t pd_lrn_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, int size, float alpha, float beta,
                         float k, const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_lrn_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, int size, float alpha, float beta,
                         float k, const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr);
/* ReLU whose backward reads the forward's output (relu_use_dst_for_bwd); all tensors share md. */
dnnl_status_t pd_relu_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_relu_bwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md md, const_dnnl_primitive_desc_t hint,
                          const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_ip_fwd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md w, Md b, Md dst,
                        const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_ip_bwd_data(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md diff_src, Md w, Md diff_dst,
                             const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_ip_bwd_weights(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md diff_w, Md diff_b, Md diff_dst,
                                const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr);
dnnl_status_t pd_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, Md src, Md dst,
                         const_dnnl_primitive_attr_t attr);

/* 1 when the ISA oneDNN will use (after ONEDNN_MAX_CPU_ISA) has native bf16
 * dot products: AVX512_BF16 or AMX. */
int cpu_native_bf16(void);
/* 1 when that ISA has VNNI int8 dot products (AVX512_VNNI or AVX-VNNI):
 * without them oneDNN's u8 x s8 kernels add pairs of products in 16 bits,
 * which saturate for 8-bit weights (255 * 127 * 2 > 32767). */
int cpu_int8_vnni(void);

/* Appends a plain ReLU (no scale, slope 0) to post-ops. */
dnnl_status_t post_ops_append_relu(dnnl_post_ops_t po);

/* Attributes of an int8 convolution or inner product (u8 source, s8
 * weights, f32 destination) computing, per output channel o,
 *   y = scale[o] * sum((q - zero) * wq) + bias[o], then ReLU when relu,
 * with scale[o] = in_scale * w_scale[o] (the reference's product,
 * nn/quant_ops.h). 2.x adds a primitive's own bias before its output
 * scales, so there the scales are output scales fixed here and the bias a
 * binary-add post-op after them (bias_md: [1, O] or [1, O, 1, 1]); 3.x takes
 * the source and weight scales at execution (w_mask: the weight dims that
 * index the output channel, 1 for OIHW / [O, I], 3 for GOIHW) and adds its
 * own bias after them. The zero point goes at execution (none when 0).
 * dst_scale > 0: a u8 destination, the next layer's input quantized with
 * that scale and zero point 0, y / dst_scale rounded to nearest even and
 * saturated (2.x: output scales scale[o] / dst_scale and the bias divided
 * by it, bias_divisor; 3.x: a destination scale at execution, which divides).
 * The caller passes the arguments Int8Args names, 0 meaning "not in this
 * version", and destroys attr. */
typedef struct {
    int bias_is_post_op;  /* pass the bias as arg_bias_post_op, not DNNL_ARG_BIAS */
    int arg_zero;         /* s32 [1]: the source zero point; 0 when zero == 0 */
    int arg_src_scale;    /* f32 [1]: in_scale (3.x) */
    int arg_w_scale;      /* f32 [O]: w_scale (3.x) */
    int arg_dst_scale;    /* f32 [1]: dst_scale (3.x, u8 destination) */
    int arg_bias_post_op; /* f32 bias_md (2.x) */
    float bias_divisor;   /* the bias passed is bias / bias_divisor (2.x, u8 destination); else 1 */
} Int8Args;
dnnl_status_t int8_attr(dnnl_primitive_attr_t *attr, Int8Args *args, int oc, const float *scale, int w_mask, Md bias_md,
                        int zero, int relu, float dst_scale);

#endif
