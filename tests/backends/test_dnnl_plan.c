/*
 * test_dnnl_plan.c — what only the dnnl backend has, beyond the comparisons
 * with the reference that every backend gets (test_backend_ops.c,
 * test_backend_net.c):
 *  1. dnnl_s2d_input, which writes the first convolution's input for the
 *     space-to-depth form: plain fp32 against the definition in dnnl_ops.h
 *     (exact), every blocked layout against the plain one re-indexed (fp32
 *     exact; bf16 within half a bf16 ulp, 2^-8 relative, and exactly 0 where
 *     the plain value is), padding samples zero;
 *  2. bf16 plans (where the CPU has native bf16): the first conv and a hidden
 *     linear layer report bf16, the logits layer fp32;
 *  3. determinism: two fresh backends with the same thread count give
 *     bit-identical logits, gradients, momentum and parameters after 3 steps
 *     (what exact resume relies on), and a repeated forward is bit-identical;
 *  4. profiling hooks: per-layer times are non-negative, the convolutions'
 *     are positive, and read_profile resets the counters;
 *  5. inference plans (BackendOptions.inference, what eval and predict
 *     create): on the same weights and input, their logits equal a training
 *     plan's eval forward bit for bit in fp32 (the same kernels and layouts)
 *     for nets without dropout, where both plans fold classifier.1 over the
 *     average pool (dnnl_layers.h, Folding); with the presets' dropout only
 *     the inference plan folds, and fp32 holds the fp32 OUT bound (max 1e-4:
 *     the same sums in another order; a wrong fold is O(1)),
 *     and within the bf16 OUT bound (relative L2 2e-2, lib/backend_compare.h)
 *     in bf16, also with every convolution on nhwc
 *     (ALEXNET_DNNL_INFERENCE_NHWC=1: other kernels, other summation orders,
 *     each layer's output rounded to bf16); batches of 1 and of max_batch,
 *     and both presets' first layers.
 * Registered only when the build has the dnnl backend; the bf16 parts say
 * so and are left out on CPUs without native bf16.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"
#include "backend/backend.h"
#include "backend/dnnl/dnnl_ops.h"
#include "backend_compare.h"
#include "harness.h"

static int native_bf16(void) { return backend_native_bf16("dnnl"); }

static void s2d_input_cases(void) {
    Layer l;
    memset(&l, 0, sizeof l);
    l.kind = LAYER_CONV;
    l.in_c = 3;
    l.in_h = l.in_w = 23;
    l.kernel = 11;
    l.stride = 4;
    l.pad = 2;
    l.out_h = l.out_w = (23 + 2 * 2 - 11) / 4 + 1;
    S2dGeom g = dnnl_s2d_geom(&l);
    const int n = 2, B = 3;
    size_t in = (size_t)n * 3 * 23 * 23, plane = (size_t)g.Hs * g.Ws, out = (size_t)B * g.Cs * plane;
    float *x = xmalloc(in * sizeof(float)), *plain = xmalloc(out * sizeof(float));
    void *blk = xmalloc(out * sizeof(float));
    fill_uniform(x, in, 4, 0, -3.0f, 3.0f);
    S2dLayout flat = { 1, 0 };
    dnnl_s2d_input(plain, &flat, x, n, B, &g);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int cs = 0; cs < g.Cs; cs++)
            for (int i = 0; i < g.Hs; i++)
                for (int j = 0; j < g.Ws; j++) {
                    int c = cs % 3, r = cs / 3 / g.s, q = cs / 3 % g.s, h = g.s * i + r - g.pad,
                        w = g.s * j + q - g.pad;
                    float want = b < n && h >= 0 && h < 23 && w >= 0 && w < 23 ? x[((b * 3 + c) * 23 + h) * 23 + w] : 0;
                    bad += plain[((size_t)b * g.Cs + cs) * plane + (size_t)i * g.Ws + j] != want;
                }
    EXPECT(bad == 0, "s2d input, plain fp32: %d elements differ from the definition", bad);
    const S2dLayout layouts[] = { { 8, 0 }, { 16, 0 }, { 8, 1 }, { 16, 1 } };
    for (size_t k = 0; k < sizeof layouts / sizeof layouts[0]; k++) {
        const S2dLayout *lay = &layouts[k];
        dnnl_s2d_input(blk, lay, x, n, B, &g);
        bad = 0;
        for (int b = 0; b < B; b++)
            for (int cs = 0; cs < g.Cs; cs++)
                for (size_t e = 0; e < plane; e++) {
                    float want = plain[((size_t)b * g.Cs + cs) * plane + e];
                    size_t at = (((size_t)b * (g.Cs / lay->block) + cs / lay->block) * plane + e) * lay->block +
                                (size_t)(cs % lay->block);
                    float got;
                    if (lay->bf16) {
                        uint32_t u = (uint32_t)((uint16_t *)blk)[at] << 16;
                        memcpy(&got, &u, sizeof got);
                        bad += fabsf(got - want) > fabsf(want) * 0x1p-8f;
                    } else {
                        got = ((float *)blk)[at];
                        bad += got != want;
                    }
                }
        EXPECT(bad == 0, "s2d input, block %d %s: %d elements differ from the plain layout", lay->block,
               lay->bf16 ? "bf16" : "fp32", bad);
    }
    free(x);
    free(plain);
    free(blk);
}

static void bf16_plan_check(void) {
    Net net;
    net_begin(&net, "t", 5, 9);
    net_add_conv(&net, 16, 3, 1, 1, 1);
    net_add_relu(&net);
    net_add_linear(&net, 20);
    net_add_relu(&net);
    net_add_linear(&net, 5);
    BackendOptions bo = { 2, 0, PRECISION_BF16, 1, 0, NULL };
    Backend be;
    Error err;
    CHECK(backend_create(&be, "dnnl", &net, 2, &bo, &err) == 0, "%s", err.msg);
    char a[48], b[48], c[48];
    backend_layer_precision(&be, 0, a, sizeof a);
    backend_layer_precision(&be, 2, b, sizeof b);
    backend_layer_precision(&be, 4, c, sizeof c);
    EXPECT(strcmp(a, "bf16") == 0 && strcmp(b, "bf16") == 0, "conv and hidden linear in bf16: got %s, %s", a, b);
    EXPECT(strcmp(c, "fp32 (logits)") == 0, "logits layer: got %s", c);
    backend_destroy(&be);
}

typedef struct {
    float *logits, *grads, *momentum, *params;
} RunResult;

/* 3 training steps, then the state and an eval forward's logits (twice: equal). */
static void run_steps(const Net *net, int threads, int B, RunResult *r) {
    Error err;
    BackendOptions bo = { threads, 0, PRECISION_FP32, 9, 0, NULL };
    Backend be;
    CHECK(backend_create(&be, "dnnl", net, B, &bo, &err) == 0, "%s", err.msg);
    size_t P = net->param_count, S = (size_t)net->image_size;
    compare_init_params(net, r->params, 4);
    backend_set_params(&be, r->params);
    memset(r->momentum, 0, P * sizeof(float));
    backend_set_momentum(&be, r->momentum);
    uint8_t *u8 = xmalloc((size_t)B * S * S * 3);
    float *x = xmalloc((size_t)B * S * S * 3 * sizeof(float));
    int32_t labels[8];
    LossArgs lo = { .smoothing = 0.1f, .form = SMOOTH_SEED, .global_batch = 0 };
    SgdArgs so = { 0.05f, 0.9f, 1e-4f };
    for (int step = 0; step < 3; step++) {
        compare_batch(u8, labels, B, (int)S, net->num_classes, 12, step);
        compare_to_format(backend_input_format(&be), u8, x, B, (int)S);
        ForwardArgs fa = { 1, (uint64_t)step, 0, NULL, NULL };
        backend_forward(&be, x, B, &fa);
        backend_backward(&be, labels, B, &lo, NULL, NULL);
        backend_sgd_update(&be, &so);
    }
    backend_get_grads(&be, r->grads);
    backend_get_momentum(&be, r->momentum);
    backend_get_params(&be, r->params);
    ForwardArgs fe = { 0, 0, 0, NULL, NULL };
    float *again = xmalloc((size_t)B * net->num_classes * sizeof(float));
    backend_forward(&be, x, B, &fe);
    backend_read_logits(&be, r->logits, B);
    backend_forward(&be, x, B, &fe);
    backend_read_logits(&be, again, B);
    EXPECT(memcmp(again, r->logits, (size_t)B * net->num_classes * sizeof(float)) == 0, "repeated forward differs");
    free(again);
    free(u8);
    free(x);
    backend_destroy(&be);
}

static void determinism(void) {
    Net net;
    Error err;
    CHECK(net_build(&net, "alexnet", 10, 67, -1.0f, &err) == 0, "%s", err.msg);
    const int B = 4;
    size_t P = net.param_count;
    RunResult r[2];
    for (int k = 0; k < 2; k++) {
        r[k].logits = xmalloc((size_t)B * net.num_classes * sizeof(float));
        r[k].grads = xmalloc(P * sizeof(float));
        r[k].momentum = xmalloc(P * sizeof(float));
        r[k].params = xmalloc(P * sizeof(float));
        run_steps(&net, 2, B, &r[k]);
    }
    EXPECT(memcmp(r[0].logits, r[1].logits, (size_t)B * net.num_classes * sizeof(float)) == 0,
           "logits differ between runs");
    EXPECT(memcmp(r[0].grads, r[1].grads, P * sizeof(float)) == 0, "gradients differ between runs");
    EXPECT(memcmp(r[0].momentum, r[1].momentum, P * sizeof(float)) == 0, "momentum differs between runs");
    EXPECT(memcmp(r[0].params, r[1].params, P * sizeof(float)) == 0, "parameters differ between runs");
    for (int k = 0; k < 2; k++) {
        free(r[k].logits);
        free(r[k].grads);
        free(r[k].momentum);
        free(r[k].params);
    }
}

static void profiling(void) {
    Net net;
    Error err;
    CHECK(net_build(&net, "alexnet_2012", 10, 63, -1.0f, &err) == 0, "%s", err.msg);
    BackendOptions bo = { 2, 0, PRECISION_FP32, 1, 0, NULL };
    Backend be;
    CHECK(backend_create(&be, "dnnl", &net, 2, &bo, &err) == 0, "%s", err.msg);
    EXPECT(backend_can_profile(&be), "dnnl backend lacks the profiling hooks");
    float *p = xmalloc(net.param_count * sizeof(float));
    compare_init_params(&net, p, 1);
    backend_set_params(&be, p);
    size_t in_n = (size_t)2 * 3 * 63 * 63;
    float *x = xcalloc(in_n, sizeof(float));
    int32_t labels[2] = { 1, 2 };
    LossArgs lo = { .smoothing = 0.0f, .form = SMOOTH_SEED, .global_batch = 0 };
    ForwardArgs fa = { 1, 0, 0, NULL, NULL };
    double fwd[NET_MAX_LAYERS], bwd[NET_MAX_LAYERS];
    backend_set_profiling(&be, 1);
    backend_forward(&be, x, 2, &fa);
    backend_backward(&be, labels, 2, &lo, NULL, NULL);
    backend_read_profile(&be, fwd, bwd);
    for (int i = 0; i < net.n_layers; i++) {
        EXPECT(fwd[i] >= 0 && bwd[i] >= 0, "layer %d: negative time", i);
        if (net.layers[i].kind == LAYER_CONV) EXPECT(fwd[i] > 0 && bwd[i] > 0, "conv layer %d: no time recorded", i);
    }
    backend_read_profile(&be, fwd, bwd);
    for (int i = 0; i < net.n_layers; i++) EXPECT(fwd[i] == 0 && bwd[i] == 0, "layer %d: counters not reset", i);
    backend_set_profiling(&be, 0);
    free(p);
    free(x);
    backend_destroy(&be);
}

static void inference_plans(void) {
    const char *backbones[] = { "alexnet", "alexnet_2012" };
    Precision precs[] = { PRECISION_FP32, PRECISION_BF16, PRECISION_BF16 };
    Bound bf16 = compare_bound("dnnl", COL_BF16, Q_OUT);
    for (size_t k = 0; k < 2; k++)
        for (size_t q = 0; q < 3; q++)
            for (int drop = 0; drop <= 1; drop++) {
                /* q == 2: bf16 with every convolution on nhwc (the layout rule picks it for large maps only) */
                if (q > 0 && !native_bf16()) continue;
                if (q == 2) setenv("ALEXNET_DNNL_INFERENCE_NHWC", "1", 1);
                env_switches_reload(); /* the program reads its switches once */
                Net net;
                Error err;
                CHECK(net_build(&net, backbones[k], 10, 67, drop ? -1.0f : 0.0f, &err) == 0, "%s", err.msg);
                const int B = 3, S = 67;
                BackendOptions bo = { 2, 0, precs[q], 1, 0, NULL }, bi = bo;
                bi.inference = 1;
                Backend tr, in;
                CHECK(backend_create(&tr, "dnnl", &net, B, &bo, &err) == 0, "%s", err.msg);
                CHECK(backend_create(&in, "dnnl", &net, B, &bi, &err) == 0, "%s", err.msg);
                float *p = xmalloc(net.param_count * sizeof(float));
                compare_init_params(&net, p, 8);
                backend_set_params(&tr, p);
                backend_set_params(&in, p);
                uint8_t *u8 = xmalloc((size_t)B * S * S * 3);
                float *x = xmalloc((size_t)B * S * S * 3 * sizeof(float));
                int32_t labels[3];
                float a[3 * 10], b[3 * 10];
                compare_batch(u8, labels, B, S, 10, 13, 0);
                ForwardArgs fe = { 0, 0, 0, NULL, NULL };
                for (int n = 1; n <= B; n += B - 1) {
                    Backend *be[2] = { &tr, &in };
                    float *out[2] = { a, b };
                    for (int j = 0; j < 2; j++) {
                        compare_to_format(backend_input_format(be[j]), u8, x, n, S);
                        backend_forward(be[j], x, n, &fe);
                        backend_read_logits(be[j], out[j], n);
                    }
                    char t[96];
                    snprintf(t, sizeof t, "%s %s%s%s inference plan, batch %d: logits", backbones[k],
                             precision_name(precs[q]), q == 2 ? " nhwc" : "", drop ? "" : " dropout 0", n);
                    if (precs[q] != PRECISION_FP32) compare_expect(t, b, a, (size_t)n * 10, bf16);
                    else if (drop) compare_expect(t, b, a, (size_t)n * 10, compare_bound("dnnl", COL_FP32, Q_OUT));
                    else EXPECT(memcmp(a, b, (size_t)n * 10 * sizeof(float)) == 0, "%s differ", t);
                }
                free(p);
                free(u8);
                free(x);
                backend_destroy(&tr);
                backend_destroy(&in);
                unsetenv("ALEXNET_DNNL_INFERENCE_NHWC");
                env_switches_reload();
            }
}

int main(void) {
    s2d_input_cases();
    if (native_bf16()) bf16_plan_check();
    else printf("bf16 plan and inference checks left out: this CPU (or ONEDNN_MAX_CPU_ISA) has no native bf16\n");
    determinism();
    profiling();
    inference_plans();
    return test_summary("dnnl plans: space-to-depth input, bf16 plan, determinism, profiling, inference plans");
}
