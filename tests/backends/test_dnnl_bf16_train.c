/*
 * test_dnnl_bf16_train.c — 200 training steps of a small AlexNet-shaped net
 * (AlexNet's 11x11/4 conv on 48 px, ReLU, max-pool, conv 3x3, dropout,
 * linear layers; ~1 s of CPU for the three runs) on the oneDNN
 * backend in fp32 and in bf16 from the same weights and batches, on a
 * learnable synthetic task (4 classes, each a fixed random image plus noise
 * of the same amplitude; label smoothing 0.1 keeps the loss off zero).
 *
 * Checks:
 *  - both runs learn: the mean loss of the last 20 steps is below half of the
 *    first 20 steps' (a path that trains nothing fails here);
 *  - the bf16 loss curve stays in a band around the fp32 one: every 20-step
 *    window mean within 0.01 + 3% of fp32's. bf16 rounds activations and
 *    weights to 8 significant bits (2^-9 relative), which perturbs each step's
 *    loss slightly and the trajectory slowly; window means average the
 *    per-step noise. Measured: largest gap 0.1% (AVX512_BF16, oneDNN 2.6),
 *    so the band leaves a wide margin for other kernels. A bf16 update that
 *    lost small steps (no fp32 master weights) or a wrong gradient leaves the
 *    band or stops learning (loss 1.38 -> 0.44 here, in both);
 *  - bf16 is deterministic: a second bf16 run gives bit-identical losses;
 *  - the weight copies follow training: a trained bf16 hidden linear layer
 *    runs on a plain bf16 copy of its weights that the SGD update refreshes
 *    in its own pass (dnnl_layers.c, sgd_update_host), and conv weights are
 *    re-blocked after each update; so after an eval forward, 3 steps and
 *    another eval forward, the logits must equal bit for bit those of a
 *    fresh backend given the trained weights (a stale copy fails this), and
 *    so must a training forward's (the SGD update's bf16 rounding against
 *    oneDNN's reorder of the same fp32 weights).
 * Registered only when the build has the dnnl backend; skipped (77) on a
 * CPU without native bf16.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/philox.h"
#include "harness.h"

#define STEPS  200
#define WINDOW 20
#define B      16
#define K      4
#define S      48

static void to_nhwc(float *dst, const float *src, int n) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < S * S; p++) dst[((size_t)i * S * S + p) * 3 + c] = src[((size_t)i * 3 + c) * S * S + p];
}

static void make_batch(float *x, int32_t *labels, const float *protos, int step) {
    size_t img = (size_t)3 * S * S;
    for (int i = 0; i < B; i++) {
        int k = (int)(rng_word(21, RNG_SYNTHETIC, (uint32_t)step, 2, (uint64_t)i) % K);
        labels[i] = k;
        fill_uniform(x + i * img, img, 22 + (uint64_t)step, (uint32_t)i, -1.0f, 1.0f);
        for (size_t j = 0; j < img; j++) x[i * img + j] += protos[k * img + j];
    }
}

static void train(const Net *net, Precision prec, double *losses) {
    Error err;
    BackendOptions bo = {
        1, 0, prec, 5, 0, NULL
    }; /* one thread: no waits on a descheduled partner on a loaded machine */
    Backend be;
    CHECK(backend_create(&be, "dnnl", net, B, &bo, &err) == 0, "%s", err.msg);
    size_t P = net->param_count, img = (size_t)3 * S * S;
    float *params = xmalloc(P * sizeof(float)), *zero = xcalloc(P, sizeof(float));
    float *protos = xmalloc(K * img * sizeof(float)), *x = xmalloc(B * img * sizeof(float));
    float *xh = xmalloc(B * img * sizeof(float));
    int32_t labels[B];
    fill_uniform(protos, K * img, 20, 0, -1.0f, 1.0f);
    net_init_params(net, params, 6);
    backend_set_params(&be, params);
    backend_set_momentum(&be, zero);
    LossArgs lo = { .smoothing = 0.1f, .form = SMOOTH_SEED, .global_batch = 0 };
    SgdArgs so = { 0.02f, 0.9f, 1e-4f };
    for (int step = 0; step < STEPS; step++) {
        make_batch(x, labels, protos, step);
        const float *in = x;
        if (backend_input_format(&be) == INPUT_F32_NHWC) {
            to_nhwc(xh, x, B);
            in = xh;
        }
        ForwardArgs fa = { 1, (uint64_t)step, 0, NULL, NULL };
        backend_forward(&be, in, B, &fa);
        losses[step] = backend_backward(&be, labels, B, &lo, NULL, NULL);
        backend_sgd_update(&be, &so);
    }
    backend_destroy(&be);
    free(params);
    free(zero);
    free(protos);
    free(x);
    free(xh);
}

/* Eval logits of a bf16 backend after an eval forward and 3 training steps,
 * against a fresh backend holding its weights. */
static void eval_follows_training(const Net *net) {
    Error err;
    BackendOptions bo = { 1, 0, PRECISION_BF16, 5, 0, NULL };
    Backend a, b;
    CHECK(backend_create(&a, "dnnl", net, B, &bo, &err) == 0, "%s", err.msg);
    CHECK(backend_create(&b, "dnnl", net, B, &bo, &err) == 0, "%s", err.msg);
    size_t P = net->param_count, img = (size_t)3 * S * S;
    float *params = xmalloc(P * sizeof(float)), *zero = xcalloc(P, sizeof(float));
    float *protos = xmalloc(K * img * sizeof(float)), *x = xmalloc(B * img * sizeof(float));
    float *xh = xmalloc(B * img * sizeof(float)), la[B * K], lb[B * K];
    int32_t labels[B];
    fill_uniform(protos, K * img, 20, 0, -1.0f, 1.0f);
    net_init_params(net, params, 6);
    backend_set_params(&a, params);
    backend_set_momentum(&a, zero);
    const float *in = x;
    if (backend_input_format(&a) == INPUT_F32_NHWC) in = xh;
    LossArgs lo = { .smoothing = 0.1f, .form = SMOOTH_SEED, .global_batch = 0 };
    SgdArgs so = { 0.02f, 0.9f, 1e-4f };
    ForwardArgs eval = { 0, 0, 0, NULL, NULL };
    for (int step = 0; step <= 3; step++) {
        make_batch(x, labels, protos, step);
        if (in == xh) to_nhwc(xh, x, B);
        backend_forward(&a, in, B, &eval);
        if (step == 3) break;
        ForwardArgs fa = { 1, (uint64_t)step, 0, NULL, NULL };
        backend_forward(&a, in, B, &fa);
        backend_backward(&a, labels, B, &lo, NULL, NULL);
        backend_sgd_update(&a, &so);
    }
    backend_read_logits(&a, la, B);
    backend_get_params(&a, params);
    backend_set_params(&b, params);
    backend_forward(&b, in, B, &eval);
    backend_read_logits(&b, lb, B);
    EXPECT(memcmp(la, lb, sizeof la) == 0,
           "eval logits after training differ from a fresh backend's on the same weights");
    ForwardArgs fa = { 1, 9, 0, NULL, NULL };
    backend_forward(&a, in, B, &fa);
    backend_forward(&b, in, B, &fa);
    backend_read_logits(&a, la, B);
    backend_read_logits(&b, lb, B);
    EXPECT(memcmp(la, lb, sizeof la) == 0,
           "training-forward logits differ between the SGD-refreshed bf16 weights and a fresh backend's reorder");
    backend_destroy(&a);
    backend_destroy(&b);
    free(params);
    free(zero);
    free(protos);
    free(x);
    free(xh);
}

static double window_mean(const double *l, int w) {
    double s = 0;
    for (int i = 0; i < WINDOW; i++) s += l[w * WINDOW + i];
    return s / WINDOW;
}

int main(void) {
    if (!backend_native_bf16("dnnl")) return test_skip("this CPU (or ONEDNN_MAX_CPU_ISA) has no native bf16");
    Net net;
    net_begin(&net, "t", K, S);
    net_add_conv(&net, 32, 11, 4, 2, 1);
    net_add_relu(&net);
    net_add_maxpool(&net, 3, 2);
    net_add_conv(&net, 48, 3, 1, 1, 1);
    net_add_relu(&net);
    net_add_maxpool(&net, 3, 2);
    net_section(&net, "classifier");
    net_add_dropout(&net, 0.2f);
    net_add_linear(&net, 64);
    net_add_relu(&net);
    net_add_linear(&net, K);
    double l32[STEPS], l16[STEPS], again[STEPS];
    train(&net, PRECISION_FP32, l32);
    train(&net, PRECISION_BF16, l16);
    train(&net, PRECISION_BF16, again);
    int nw = STEPS / WINDOW;
    double worst = 0;
    for (int w = 0; w < nw; w++) {
        double a = window_mean(l32, w), b = window_mean(l16, w), band = 0.01 + 0.03 * a;
        if (fabs(b - a) / a > worst) worst = fabs(b - a) / a;
        EXPECT(fabs(b - a) <= band, "steps %d-%d: bf16 mean loss %.4f, fp32 %.4f (band +-%.4f)", w * WINDOW,
               (w + 1) * WINDOW - 1, b, a, band);
        if (getenv("TEST_VERBOSE"))
            printf("steps %3d-%3d  fp32 %.4f  bf16 %.4f\n", w * WINDOW, (w + 1) * WINDOW - 1, a, b);
    }
    EXPECT(window_mean(l32, nw - 1) < 0.5 * window_mean(l32, 0), "fp32 learns: %.4f -> %.4f", window_mean(l32, 0),
           window_mean(l32, nw - 1));
    EXPECT(window_mean(l16, nw - 1) < 0.5 * window_mean(l16, 0), "bf16 learns: %.4f -> %.4f", window_mean(l16, 0),
           window_mean(l16, nw - 1));
    EXPECT(memcmp(l16, again, sizeof l16) == 0, "two bf16 runs differ");
    eval_follows_training(&net);
    printf("bf16 vs fp32 over %d steps: largest window gap %.1f%% of the fp32 loss\n", STEPS, 100 * worst);
    return test_summary("dnnl bf16 training curve vs fp32");
}
