/*
 * test_dnnl_compat.c — the oneDNN compatibility layer (src/backend/dnnl/
 * dnnl_compat.h) on whichever oneDNN this build has (2.x on Debian 12, 3.x on
 * Debian 13): memory descs (pool ownership, equality, sizes with blocked
 * padding, the layout read back as "aBcd16b"), a primitive-desc query, every
 * pd_* constructor the backend uses, the ReLU post-op, one executed ReLU, and
 * that 3.x on x64 reports Winograd as unimplemented (the backend then falls
 * back to direct; docs/PERFORMANCE.md relies on it). Registered only when
 * the build has the dnnl backend.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

#include "backend/dnnl/dnnl_compat.h"
#include "backend/dnnl/dnnl_util.h"

static void test_descs(MdPool *pool) {
    Md plain = md4(pool, 2, 20, 5, 7, dnnl_nchw), plain2 = md4(pool, 2, 20, 5, 7, dnnl_nchw);
    Md nhwc = md4(pool, 2, 20, 5, 7, dnnl_nhwc), blocked = md4(pool, 2, 20, 5, 7, dnnl_nChw16c);
    char s[32];
    EXPECT(md_same(plain, plain2), "two nchw descs of one shape are equal");
    EXPECT(!md_same(plain, nhwc), "nchw differs from nhwc");
    EXPECT(md_same(NULL, NULL) && !md_same(plain, NULL), "NULL is equal only to NULL");
    EXPECT(md_size(plain) == 2u * 20 * 5 * 7 * 4, "nchw size %zu", md_size(plain));
    EXPECT(md_size(blocked) == 2u * 32 * 5 * 7 * 4, "nChw16c pads 20 channels to 32: size %zu", md_size(blocked));
    EXPECT(md_size(NULL) == 0, "NULL has no bytes");
    md_describe(plain, s, sizeof s);
    EXPECT(strcmp(s, "abcd") == 0, "nchw described as '%s'", s);
    md_describe(nhwc, s, sizeof s);
    EXPECT(strcmp(s, "acdb") == 0, "nhwc described as '%s'", s);
    md_describe(blocked, s, sizeof s);
    EXPECT(strcmp(s, "aBcd16b") == 0, "nChw16c described as '%s'", s);
    EXPECT(md_channel_block(blocked) == 16 && md_channel_block(plain) == 0, "channel blocks %d, %d",
           md_channel_block(blocked), md_channel_block(plain));
    Md any = md4(pool, 2, 20, 5, 7, dnnl_format_tag_any);
    EXPECT(!md_layout(any).blocked, "format_tag_any has no layout yet");
    md_describe(any, s, sizeof s);
    EXPECT(strcmp(s, "?") == 0, "format_tag_any described as '%s'", s);
}

static void test_reorder_query(MdPool *pool, dnnl_engine_t eng) {
    Md src = md4(pool, 1, 3, 4, 4, dnnl_nchw), dst = md4(pool, 1, 3, 4, 4, dnnl_nChw8c);
    dnnl_primitive_desc_t pd;
    EXPECT(pd_reorder(&pd, eng, src, dst, NULL) == dnnl_success, "reorder pd");
    Md q = md_query(pool, pd, dnnl_query_dst_md);
    EXPECT(q && md_same(q, dst), "the queried dst desc equals the one given");
    EXPECT(md_size(md_query(pool, pd, dnnl_query_workspace_md)) == 0, "a reorder has no workspace");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    /* the copy outlives its primitive descriptor */
    EXPECT(md_size(q) == md_size(dst), "query copy after destroy: %zu bytes", md_size(q));
}

/* Every constructor the backend uses, on an 8-channel 6x6 net fragment. */
static void test_constructors(MdPool *pool, dnnl_engine_t eng) {
    Md x = md4(pool, 2, 8, 6, 6, dnnl_nchw), y = md4(pool, 2, 8, 6, 6, dnnl_format_tag_any);
    Md w = md4(pool, 8, 8, 3, 3, dnnl_format_tag_any), b = md1(pool, 8);
    dnnl_dims_t st = { 1, 1 }, pad = { 1, 1 }, k2 = { 2, 2 }, s2 = { 2, 2 };
    dnnl_primitive_attr_t relu;
    dnnl_post_ops_t po;
    DNNL_CHECK(dnnl_primitive_attr_create(&relu));
    DNNL_CHECK(dnnl_post_ops_create(&po));
    EXPECT(post_ops_append_relu(po) == dnnl_success, "append ReLU post-op");
    EXPECT(dnnl_post_ops_len(po) == 1, "one post-op");
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(relu, po));
    DNNL_CHECK(dnnl_post_ops_destroy(po));

    dnnl_primitive_desc_t fwd, pd;
    EXPECT(pd_conv_fwd(&fwd, eng, dnnl_convolution_direct, x, w, b, y, st, pad, pad, relu) == dnnl_success,
           "conv forward with fused ReLU");
    Md yq = pd_md(pool, fwd, dnnl_query_dst_md), wq = pd_md(pool, fwd, dnnl_query_weights_md);
    EXPECT(pd_conv_bwd_data(&pd, eng, dnnl_convolution_direct, x, wq, yq, st, pad, pad, fwd, NULL) == dnnl_success,
           "conv backward data");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    EXPECT(pd_conv_bwd_weights(&pd, eng, dnnl_convolution_direct, x, w, b, yq, st, pad, pad, fwd, NULL) == dnnl_success,
           "conv backward weights");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));

    dnnl_primitive_desc_t wino;
    dnnl_status_t ws = pd_conv_fwd(&wino, eng, dnnl_convolution_winograd, x, w, b, y, st, pad, pad, NULL);
    EXPECT(ws == dnnl_success || ws == dnnl_unimplemented, "Winograd: available or unimplemented, got %d", (int)ws);
    if (ws == dnnl_success) DNNL_CHECK(dnnl_primitive_desc_destroy(wino));
#if DNNL_API_V3 && defined(__x86_64__)
    EXPECT(ws == dnnl_unimplemented, "oneDNN 3.x on x64 has no fp32 Winograd (removed in 3.2); docs say so");
#endif
    DNNL_CHECK(dnnl_primitive_desc_destroy(fwd));

    Md p_out = md4(pool, 2, 8, 3, 3, dnnl_format_tag_any);
    EXPECT(pd_maxpool_fwd(&fwd, eng, x, p_out, s2, k2, NULL) == dnnl_success, "maxpool forward");
    Md pq = pd_md(pool, fwd, dnnl_query_dst_md);
    EXPECT(pd_maxpool_bwd(&pd, eng, x, pq, s2, k2, fwd, NULL) == dnnl_success, "maxpool backward");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(fwd));

    EXPECT(pd_lrn_fwd(&fwd, eng, x, 5, 1e-4f, 0.75f, 2.0f, NULL) == dnnl_success, "LRN forward");
    EXPECT(pd_lrn_bwd(&pd, eng, x, 5, 1e-4f, 0.75f, 2.0f, fwd, NULL) == dnnl_success, "LRN backward");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(fwd));

    Md src2 = md2(pool, 2, 8 * 6 * 6), w2 = md2(pool, 10, 8 * 6 * 6), b2 = md1(pool, 10), dst2 = md2(pool, 2, 10);
    EXPECT(pd_ip_fwd(&fwd, eng, src2, w2, b2, dst2, relu) == dnnl_success, "inner product forward with ReLU");
    EXPECT(pd_ip_bwd_data(&pd, eng, src2, w2, dst2, fwd, NULL) == dnnl_success, "inner product backward data");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    EXPECT(pd_ip_bwd_weights(&pd, eng, src2, w2, b2, dst2, fwd, NULL) == dnnl_success,
           "inner product backward weights");
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(fwd));
    DNNL_CHECK(dnnl_primitive_attr_destroy(relu));
}

/* ReLU forward then backward (use_dst_for_bwd) executed on 8 values. */
static void test_relu_run(MdPool *pool, dnnl_engine_t eng, dnnl_stream_t stream) {
    float x[8] = { -2, -1, -0.5f, 0, 0.5f, 1, 2, -3 }, y[8], dy[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }, dx[8];
    Md md = md4(pool, 1, 8, 1, 1, dnnl_nchw);
    dnnl_primitive_desc_t fwd, bwd;
    DNNL_CHECK(pd_relu_fwd(&fwd, eng, md, NULL));
    DNNL_CHECK(pd_relu_bwd(&bwd, eng, md, fwd, NULL));
    dnnl_memory_t mx, my, mdy, mdx;
    DNNL_CHECK(dnnl_memory_create(&mx, md, eng, x));
    DNNL_CHECK(dnnl_memory_create(&my, md, eng, y));
    DNNL_CHECK(dnnl_memory_create(&mdy, md, eng, dy));
    DNNL_CHECK(dnnl_memory_create(&mdx, md, eng, dx));
    DnnlExec f = { 0 }, g = { 0 };
    DNNL_CHECK(dnnl_primitive_create(&f.prim, fwd));
    DNNL_CHECK(dnnl_primitive_create(&g.prim, bwd));
    exec_add(&f, DNNL_ARG_SRC, mx);
    exec_add(&f, DNNL_ARG_DST, my);
    exec_add(&g, DNNL_ARG_DST, my);
    exec_add(&g, DNNL_ARG_DIFF_DST, mdy);
    exec_add(&g, DNNL_ARG_DIFF_SRC, mdx);
    exec_run(&f, stream);
    exec_run(&g, stream);
    DNNL_CHECK(dnnl_stream_wait(stream));
    for (int i = 0; i < 8; i++) {
        EXPECT(y[i] == (x[i] > 0 ? x[i] : 0.0f), "relu(%g) = %g", (double)x[i], (double)y[i]);
        EXPECT(dx[i] == (x[i] > 0 ? 1.0f : 0.0f), "relu'(%g) = %g", (double)x[i], (double)dx[i]);
    }
    exec_free(&f);
    exec_free(&g);
    dnnl_memory_t ms[] = { mx, my, mdy, mdx };
    for (int i = 0; i < 4; i++) DNNL_CHECK(dnnl_memory_destroy(ms[i]));
    DNNL_CHECK(dnnl_primitive_desc_destroy(fwd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(bwd));
}

int main(void) {
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d (compat layer: %s API)\n", v->major, v->minor, v->patch, DNNL_API_V3 ? "3.x" : "2.x");
    EXPECT(v->major == DNNL_VERSION_MAJOR, "headers %d vs library %d", DNNL_VERSION_MAJOR, v->major);
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    DNNL_CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    MdPool pool = { 0 };
    test_descs(&pool);
    test_reorder_query(&pool, eng);
    test_constructors(&pool, eng);
    test_relu_run(&pool, eng, stream);
    EXPECT(pool.n > 20, "the pool owns every desc made (%d)", pool.n);
    md_pool_free(&pool);
    EXPECT(pool.n == 0 && pool.items == NULL, "freed pool is empty");
    DNNL_CHECK(dnnl_stream_destroy(stream));
    DNNL_CHECK(dnnl_engine_destroy(eng));
    return test_summary("dnnl compat");
}
