/*
 * dnnl_probe.c — does bf16 pay on this CPU? "--precision auto" asks here.
 *
 * Having AVX512_BF16 is not the same as bf16 being faster. On AMD Zen 4 and
 * Zen 5 a bf16 dot product (vdpbf16ps) does twice the multiply-adds of an
 * fp32 FMA in the same time, and bf16 training runs ~1.5-2x fp32. On Intel
 * Xeons without AMX (Cooper Lake; Sapphire/Emerald Rapids in VMs that hide
 * AMX) it issues on one port where fp32 FMAs use two, and bf16 measured
 * 0.66x of fp32 (docs/PERFORMANCE.md, "bf16 or fp32"). So the answer is
 * measured, once per process: one AlexNet-sized convolution forward in each
 * precision, best of a few runs (~20 ms in all). Also asked here: whether
 * oneDNN has real bf16 kernels at all (dnnl_has_bf16_kernels).
 */
#include <string.h>
#include <time.h>

#include "backend/dnnl/dnnl_layers.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* conv2 of the 96 px network in type dt (64 -> 192 channels, 5x5, 11x11 map,
 * batch 16: 0.6 GFLOP), layouts left to oneDNN. 1 with *pd set when oneDNN
 * has an optimised (not reference) kernel for it. */
static int conv_pd(dnnl_engine_t eng, MdPool *mds, dnnl_data_type_t dt, dnnl_primitive_desc_t *pd) {
    Md src = md4t(mds, 16, 64, 11, 11, dt, dnnl_format_tag_any);
    Md w = md4t(mds, 192, 64, 5, 5, dt, dnnl_format_tag_any);
    Md dst = md4t(mds, 16, 192, 11, 11, dt, dnnl_format_tag_any);
    dnnl_dims_t st = { 1, 1 }, pad = { 2, 2 };
    if (pd_conv_fwd(pd, eng, dnnl_convolution_direct, src, w, NULL, dst, st, pad, pad, NULL) != dnnl_success) return 0;
    if (strstr(pd_impl(*pd), "ref") == NULL) return 1;
    DNNL_CHECK(dnnl_primitive_desc_destroy(*pd));
    return 0;
}

int dnnl_has_bf16_kernels(void) {
    static int known = -1;
    if (known >= 0) return known;
    dnnl_engine_t eng;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) return known = 0;
    MdPool mds = { 0 };
    dnnl_primitive_desc_t pd;
    known = conv_pd(eng, &mds, dnnl_bf16, &pd);
    if (known) DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    md_pool_free(&mds);
    DNNL_CHECK(dnnl_engine_destroy(eng));
    return known;
}

/* Seconds of the best of `reps` runs of conv_pd's convolution; < 0 without
 * an optimised kernel. */
static double time_conv(dnnl_engine_t eng, dnnl_stream_t stream, dnnl_data_type_t dt, int reps) {
    MdPool mds = { 0 };
    dnnl_primitive_desc_t pd;
    double best = -1;
    if (conv_pd(eng, &mds, dt, &pd)) {
        DnnlExec e = { 0 };
        dnnl_memory_t mem[3];
        const dnnl_query_t what[3] = { dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md };
        const int arg[3] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST };
        DNNL_CHECK(dnnl_primitive_create(&e.prim, pd));
        for (int i = 0; i < 3; i++) {
            DNNL_CHECK(dnnl_memory_create(&mem[i], pd_md(&mds, pd, what[i]), eng, DNNL_MEMORY_ALLOCATE));
            void *h;
            DNNL_CHECK(dnnl_memory_get_data_handle(mem[i], &h));
            /* 0x3c3c.. reads as ~0.01 in fp32 and in bf16: normal numbers, no denormal slow paths */
            memset(h, 0x3c, md_size(pd_md(&mds, pd, what[i])));
            exec_add(&e, arg[i], mem[i]);
        }
        exec_run(&e, stream); /* the first run pays for page faults and caches */
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            exec_run(&e, stream);
            double t = now_s() - t0;
            if (best < 0 || t < best) best = t;
        }
        exec_free(&e);
        for (int i = 0; i < 3; i++) DNNL_CHECK(dnnl_memory_destroy(mem[i]));
        DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    }
    md_pool_free(&mds);
    return best;
}

double dnnl_bf16_speedup(void) {
    static double known = -1;
    if (known >= 0) return known;
    known = 0;
    if (!cpu_native_bf16() || !dnnl_has_bf16_kernels()) return known;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) return known;
    DNNL_CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    double f32 = time_conv(eng, stream, dnnl_f32, 4), bf16 = time_conv(eng, stream, dnnl_bf16, 4);
    if (f32 > 0 && bf16 > 0) known = f32 / bf16;
    DNNL_CHECK(dnnl_stream_destroy(stream));
    DNNL_CHECK(dnnl_engine_destroy(eng));
    return known;
}
