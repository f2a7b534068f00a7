/*
 * dnnl_probe.c — does bf16 pay on this CPU? "--precision auto" asks here.
 *
 * Having AVX512_BF16 is not the same as bf16 being faster. On AMD Zen 4 and
 * Zen 5 a bf16 dot product (vdpbf16ps) does twice the multiply-adds of an
 * fp32 FMA in the same time, and bf16 training runs ~1.5-2x fp32. On Intel
 * Xeons without AMX (Cooper Lake; Sapphire/Emerald Rapids in VMs that hide
 * AMX) it issues on one port where fp32 FMAs use two, and bf16 measured
 * 0.66x of fp32 (docs/PERFORMANCE.md, "Precision on the CPU"). So the answer is
 * measured, once per process: one AlexNet-sized convolution forward in each
 * precision, timed so that other processes' load does not change the answer
 * (dnnl_bf16_speedup). Also asked here: whether
 * oneDNN has real bf16 kernels at all (dnnl_has_bf16_kernels).
 */
#include <string.h>
#include <time.h>

#include <omp.h>

#include "backend/dnnl/dnnl_layers.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* conv2 of the 96 px network in type dt (64 -> 192 channels, 5x5, 11x11 map,
 * `batch` images: 37 MFLOP each), layouts left to oneDNN. 1 with *pd set when oneDNN
 * has an optimised (not reference) kernel for it. */
static int conv_pd_batch(dnnl_engine_t eng, MdPool *mds, dnnl_data_type_t dt, int batch,
                         dnnl_primitive_desc_t *pd) {
    Md src = md4t(mds, batch, 64, 11, 11, dt, dnnl_format_tag_any);
    Md w = md4t(mds, 192, 64, 5, 5, dt, dnnl_format_tag_any);
    Md dst = md4t(mds, batch, 192, 11, 11, dt, dnnl_format_tag_any);
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
    known = conv_pd_batch(eng, &mds, dnnl_bf16, 16, &pd);
    if (known) DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    md_pool_free(&mds);
    DNNL_CHECK(dnnl_engine_destroy(eng));
    return known;
}

/* One convolution ready to run: conv_pd's primitive over its own buffers. */
typedef struct {
    DnnlExec e;
    dnnl_memory_t mem[3];
    dnnl_primitive_desc_t pd;
} ProbeConv;

static int probe_open(ProbeConv *p, dnnl_engine_t eng, MdPool *mds, dnnl_data_type_t dt, int batch) {
    memset(p, 0, sizeof *p);
    if (!conv_pd_batch(eng, mds, dt, batch, &p->pd)) return 0;
    const dnnl_query_t what[3] = { dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md };
    const int arg[3] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST };
    DNNL_CHECK(dnnl_primitive_create(&p->e.prim, p->pd));
    for (int i = 0; i < 3; i++) {
        DNNL_CHECK(dnnl_memory_create(&p->mem[i], pd_md(mds, p->pd, what[i]), eng, DNNL_MEMORY_ALLOCATE));
        void *h;
        DNNL_CHECK(dnnl_memory_get_data_handle(p->mem[i], &h));
        /* 0x3c3c.. reads as ~0.01 in fp32 and in bf16: normal numbers, no denormal slow paths */
        memset(h, 0x3c, md_size(pd_md(mds, p->pd, what[i])));
        exec_add(&p->e, arg[i], p->mem[i]);
    }
    return 1;
}

static void probe_close(ProbeConv *p) {
    exec_free(&p->e);
    for (int i = 0; i < 3; i++) DNNL_CHECK(dnnl_memory_destroy(p->mem[i]));
    DNNL_CHECK(dnnl_primitive_desc_destroy(p->pd));
}

static double time_run(ProbeConv *p, dnnl_stream_t stream) {
    double t0 = now_s();
    exec_run(&p->e, stream);
    return now_s() - t0;
}

/* The answer must not depend on what else the machine is doing: a run that
 * decides bf16 and its resumed or repeated twin that decides fp32 are no
 * longer the same run (a loaded 2-core machine moved the old best-of-4,
 * all-threads measurement from 0.65x to 1.2x). So the two precisions are
 * timed on one thread (a core another process shares still gives it whole
 * time slices), alternately (load that comes and goes falls on both), in runs
 * of ~1-2 ms (shorter than a scheduler slice, so most runs are not cut), and
 * each keeps its best of PROBE_REPS. ~50 ms in all. */
#define PROBE_BATCH 4
#define PROBE_REPS 12
double dnnl_bf16_speedup(void) {
    static double known = -1;
    if (known >= 0) return known;
    known = 0;
    if (!cpu_native_bf16() || !dnnl_has_bf16_kernels()) return known;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) return known;
    DNNL_CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    MdPool mds = { 0 };
    ProbeConv f32, bf16;
    int have_f32 = probe_open(&f32, eng, &mds, dnnl_f32, PROBE_BATCH);
    int have_bf16 = probe_open(&bf16, eng, &mds, dnnl_bf16, PROBE_BATCH);
    if (have_f32 && have_bf16) {
        time_run(&f32, stream); /* the first runs pay for page faults and caches */
        time_run(&bf16, stream);
        double best_f32 = -1, best_bf16 = -1;
        for (int r = 0; r < PROBE_REPS; r++) {
            double a = time_run(&f32, stream), b = time_run(&bf16, stream);
            if (best_f32 < 0 || a < best_f32) best_f32 = a;
            if (best_bf16 < 0 || b < best_bf16) best_bf16 = b;
        }
        if (best_f32 > 0 && best_bf16 > 0) known = best_f32 / best_bf16;
    }
    if (have_f32) probe_close(&f32);
    if (have_bf16) probe_close(&bf16);
    md_pool_free(&mds);
    omp_set_num_threads(threads);
    DNNL_CHECK(dnnl_stream_destroy(stream));
    DNNL_CHECK(dnnl_engine_destroy(eng));
    return known;
}
