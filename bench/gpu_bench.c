/*
 * gpu_bench.c — pipelined training and inference throughput of a backend
 * (meant for cuda) on synthetic data, the way the trainer drives it:
 * forward(host batch) -> backward -> sgd_update per step, with no
 * synchronisation between steps other than what the backend itself needs
 * (the cuda backend waits for the loss only), so the upload of batch t+1
 * overlaps the backward of batch t. Inference: forward(eval) per batch, the
 * logits read once at the end (the PyTorch anchor reads none).
 *
 * Each figure is the median of 3 timed windows of --steps steps, closed by a
 * 1-row read_logits (which waits for the GPU). A profiled pass (per-layer
 * events, eager launches) then splits a training step into layers: GPU time
 * per step against wall time per step says whether the GPU or the host side
 * (batch copy, upload, launches) limits img/s.
 *
 * usage: gpu_bench [--backend cuda] [--precision bf16|fp32] [--backbone alexnet]
 *                  [--batch 256] [--image_size 224] [--classes 1000]
 *                  [--steps 30] [--warmup 8] [--profile 1]
 * Last line: RESULT backend=.. precision=.. train_img_s=.. infer_img_s=.. gpu_train_ms=.. wall_train_ms=..
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/philox.h"

static double sorted_median3(double a, double b, double c) {
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b > c) {
        double t = b;
        b = c;
        c = t;
    }
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    return b;
}

int main(int argc, char **argv) {
    const char *backend = "cuda", *precision = "bf16", *backbone = "alexnet";
    int batch = 256, size = 224, classes = 1000, steps = 30, warmup = 8, profile = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--backend")) backend = v;
        else if (!strcmp(k, "--precision")) precision = v;
        else if (!strcmp(k, "--backbone")) backbone = v;
        else if (!strcmp(k, "--batch")) batch = atoi(v);
        else if (!strcmp(k, "--image_size")) size = atoi(v);
        else if (!strcmp(k, "--classes")) classes = atoi(v);
        else if (!strcmp(k, "--steps")) steps = atoi(v);
        else if (!strcmp(k, "--warmup")) warmup = atoi(v);
        else if (!strcmp(k, "--profile")) profile = atoi(v);
        else {
            fprintf(stderr, "gpu_bench: unknown flag %s\n", k);
            return 2;
        }
    }
    if (steps < 1 || batch < 1) {
        fprintf(stderr, "gpu_bench: --steps and --batch must be positive\n");
        return 2;
    }
    Net net;
    Error err;
    if (net_build(&net, backbone, classes, size, -1.0f, &err) != 0) {
        fprintf(stderr, "gpu_bench: %s\n", err.msg);
        return 2;
    }
    BackendOptions opt = { 0, 0, strcmp(precision, "fp32") == 0 ? PRECISION_FP32 : PRECISION_BF16, 1, 0, NULL };
    Backend be;
    double t0 = now_seconds();
    if (backend_create(&be, backend, &net, batch, &opt, &err) != 0) {
        fprintf(stderr, "gpu_bench: %s\n", err.msg);
        return 1;
    }
    double t_create = now_seconds() - t0;
    size_t P = net.param_count;
    float *params = xmalloc(P * sizeof(float)), *zero = xcalloc(P, sizeof(float));
    net_init_params(&net, params, 1);
    backend_set_params(&be, params);
    backend_set_momentum(&be, zero);
    InputFormat fmt = backend_input_format(&be);
    size_t n_in = (size_t)batch * 3 * size * size;
    void *x;
    if (fmt == INPUT_U8_NHWC) {
        uint8_t *u = xmalloc(n_in);
        for (size_t i = 0; i < n_in; i++) u[i] = (uint8_t)(rng_word(7, RNG_SYNTHETIC, 1, 0, i) >> 24);
        x = u;
    } else {
        float *f = xmalloc(n_in * sizeof(float));
        for (size_t i = 0; i < n_in; i++) f[i] = 4.0f * rng_u01(rng_word(7, RNG_SYNTHETIC, 1, 0, i)) - 2.0f;
        x = f;
    }
    int32_t *labels = xmalloc((size_t)batch * sizeof(int32_t));
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)(rng_word(7, RNG_SYNTHETIC, 2, 0, (uint64_t)i) % (uint32_t)classes);
    float *logits = xmalloc((size_t)batch * classes * sizeof(float));
    LossArgs la = { .smoothing = 0.1f, .form = SMOOTH_SEED, .global_batch = 0 };
    SgdArgs sa = { 0.01f, 0.9f, 1e-4f };
    uint64_t step = 0;
    double loss = 0.0;

    for (int s = 0; s < warmup; s++) {
        ForwardArgs fa = { 1, step++, 0, NULL, NULL };
        backend_forward(&be, x, batch, &fa);
        loss = backend_backward(&be, labels, batch, &la, NULL, NULL);
        backend_sgd_update(&be, &sa);
    }
    backend_read_logits(&be, logits, 1);
    double train_s[3];
    for (int w = 0; w < 3; w++) {
        double a = now_seconds();
        for (int s = 0; s < steps; s++) {
            ForwardArgs fa = { 1, step++, 0, NULL, NULL };
            backend_forward(&be, x, batch, &fa);
            loss = backend_backward(&be, labels, batch, &la, NULL, NULL);
            backend_sgd_update(&be, &sa);
        }
        backend_read_logits(&be, logits, 1); /* waits for the last update (stream order) */
        train_s[w] = (now_seconds() - a) / steps;
    }
    double infer_s[3];
    ForwardArgs fe = { 0, 0, 0, NULL, NULL };
    for (int s = 0; s < warmup; s++) backend_forward(&be, x, batch, &fe);
    backend_read_logits(&be, logits, batch);
    for (int w = 0; w < 3; w++) {
        double a = now_seconds();
        for (int s = 0; s < steps; s++) backend_forward(&be, x, batch, &fe);
        backend_read_logits(&be, logits, batch);
        infer_s[w] = (now_seconds() - a) / steps;
    }
    double tr = sorted_median3(train_s[0], train_s[1], train_s[2]);
    double inf = sorted_median3(infer_s[0], infer_s[1], infer_s[2]);
    printf("gpu_bench: %s %s %s %dpx batch %d classes %d input %s; create %.1fs; loss %.4f\n", backend, precision,
           backbone, size, batch, classes,
           fmt == INPUT_U8_NHWC    ? "u8 NHWC"
           : fmt == INPUT_F32_NHWC ? "f32 NHWC"
                                   : "f32 NCHW",
           t_create, loss);
    printf("  train  %9.0f img/s  (%.3f ms/step; windows %.3f %.3f %.3f ms)\n", batch / tr, 1e3 * tr, 1e3 * train_s[0],
           1e3 * train_s[1], 1e3 * train_s[2]);
    printf("  infer  %9.0f img/s  (%.3f ms/batch)\n", batch / inf, 1e3 * inf);

    double gpu_train_ms = 0.0;
    if (profile && backend_can_profile(&be)) {
        int L = net.n_layers, ps = 5;
        double *fwd = xcalloc((size_t)L, sizeof(double)), *bwd = xcalloc((size_t)L, sizeof(double));
        backend_set_profiling(&be, 1);
        backend_read_profile(&be, fwd, bwd);
        for (int s = 0; s < ps; s++) {
            ForwardArgs fa = { 1, step++, 0, NULL, NULL };
            backend_forward(&be, x, batch, &fa);
            backend_backward(&be, labels, batch, &la, NULL, NULL);
            backend_sgd_update(&be, &sa);
        }
        backend_read_profile(&be, fwd, bwd);
        backend_set_profiling(&be, 0);
        double tf = 0, tb = 0;
        printf("  per-layer GPU time of a training step (eager launches, mean of %d steps):\n", ps);
        printf("    %-14s %-8s %9s %9s %9s\n", "layer", "kind", "fwd ms", "bwd ms", "TFLOP/s");
        for (int i = 0; i < L; i++) {
            const Layer *l = &net.layers[i];
            double f = fwd[i] / ps, b = bwd[i] / ps, macs = layer_forward_macs(l) * batch;
            double flops = 2 * macs + (i == 0 ? 2 : 4) * macs;
            tf += f;
            tb += b;
            if (macs > 0)
                printf("    %-14s %-8s %9.3f %9.3f %9.1f\n", l->name, layer_kind_name(l->kind), f, b,
                       flops / ((f + b) * 1e-3) / 1e12);
            else printf("    %-14s %-8s %9.3f %9.3f\n", l->name, layer_kind_name(l->kind), f, b);
        }
        gpu_train_ms = tf + tb;
        printf("    %-23s %9.3f %9.3f   total %.3f ms/step (input kernel in layer 0 fwd, loss in the last bwd; "
               "optimizer not included)\n",
               "total", tf, tb, tf + tb);
        printf("  wall %.3f ms/step vs GPU layers %.3f ms/step: %s\n", 1e3 * tr, gpu_train_ms,
               1e3 * tr > 1.15 * gpu_train_ms ? "host side / upload / optimizer take a visible share"
                                              : "the GPU layers are the limit");
        free(fwd);
        free(bwd);
    }
    printf("RESULT backend=%s precision=%s batch=%d image_size=%d train_img_s=%.0f infer_img_s=%.0f gpu_train_ms=%.3f "
           "wall_train_ms=%.3f\n",
           backend, precision, batch, size, batch / tr, batch / inf, gpu_train_ms, 1e3 * tr);
    backend_destroy(&be);
    free(params);
    free(zero);
    free(x);
    free(labels);
    free(logits);
    return 0;
}
