/*
 * test_dnnl_net.c — the oneDNN backend on the whole presets:
 *  1. against the reference backend (compare_backends, tolerances in
 *     test_dnnl_compare.h): alexnet at 67 px (avgpool replicates 1 -> 6),
 *     alexnet_torchvision at 96 px (2 -> 6), alexnet_2012 at 64 px (groups,
 *     LRN), 10 classes, 3 optimizer steps with the presets' dropout on;
 *  2. determinism: two fresh backends with the same thread count give
 *     bit-identical logits, gradients, momentum and parameters after 3 steps
 *     (what exact resume relies on), and a repeated forward is bit-identical;
 *  3. profiling hooks: per-layer times are non-negative, the convolutions'
 *     are positive, and read_profile resets the counters;
 *  4. inference plans (BackendOptions.inference, what eval and predict
 *     create): on the same weights and input, their logits equal a training
 *     plan's eval forward bit for bit in fp32 (the same kernels and
 *     layouts), and within TOL_BF16 relative L2 in bf16, also with every
 *     convolution on nhwc (ALEXNET_DNNL_INFERENCE_NHWC=1: other kernels,
 *     other summation orders, each layer's output rounded to bf16); batches
 *     of 1 and of max_batch, and both presets' first layers.
 */
#include <stdio.h>

#include "test_dnnl_compare.h"

static void presets(void) {
    struct {
        const char *backbone;
        int size, batch;
    } cases[] = {
        { "alexnet", 67, 3 },
        { "alexnet_torchvision", 96, 2 },
        { "alexnet_2012", 64, 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Net net;
        Error err;
        CHECK(net_build(&net, cases[i].backbone, 10, cases[i].size, -1.0f, &err) == 0, "%s", err.msg);
        char t[64];
        snprintf(t, sizeof t, "%s %dpx", cases[i].backbone, cases[i].size);
        CompareOpts o = { cases[i].batch, cases[i].batch, 3, 2, 1.0f, PRECISION_FP32 };
        compare_backends(t, &net, &o);
    }
}

typedef struct {
    float *logits, *grads, *momentum, *params;
} RunResult;

static void run_steps(const Net *net, int threads, int B, RunResult *r) {
    Error err;
    BackendOptions bo = { threads, 0, PRECISION_FP32, 9, 0 };
    Backend be;
    CHECK(backend_create(&be, "dnnl", net, B, &bo, &err) == 0, "%s", err.msg);
    size_t P = net->param_count, in_n = (size_t)B * 3 * net->image_size * net->image_size;
    init_params(net, r->params, 4);
    backend_set_params(&be, r->params);
    memset(r->momentum, 0, P * sizeof(float));
    backend_set_momentum(&be, r->momentum);
    float *x = xmalloc(in_n * sizeof(float));
    int32_t labels[8];
    LossArgs lo = { 0.1f, SMOOTH_SEED, 0 };
    SgdArgs so = { 0.05f, 0.9f, 1e-4f };
    for (int step = 0; step < 3; step++) {
        fill_uniform(x, in_n, 12, (uint32_t)step, -1.0f, 1.0f);
        for (int i = 0; i < B; i++) labels[i] = (int32_t)((step * 7 + i * 3) % net->num_classes);
        ForwardArgs fa = { 1, (uint64_t)step, 0 };
        backend_forward(&be, x, B, &fa);
        backend_backward(&be, labels, B, &lo, NULL, NULL);
        backend_sgd_update(&be, &so);
    }
    backend_get_grads(&be, r->grads);
    backend_get_momentum(&be, r->momentum);
    backend_get_params(&be, r->params);
    ForwardArgs fe = { 0, 0, 0 };
    float *again = xmalloc((size_t)B * net->num_classes * sizeof(float));
    backend_forward(&be, x, B, &fe);
    backend_read_logits(&be, r->logits, B);
    backend_forward(&be, x, B, &fe);
    backend_read_logits(&be, again, B);
    EXPECT(memcmp(again, r->logits, (size_t)B * net->num_classes * sizeof(float)) == 0, "repeated forward differs");
    free(again);
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
    BackendOptions bo = { 2, 0, PRECISION_FP32, 1, 0 };
    Backend be;
    CHECK(backend_create(&be, "dnnl", &net, 2, &bo, &err) == 0, "%s", err.msg);
    EXPECT(backend_can_profile(&be), "dnnl backend lacks the profiling hooks");
    float *p = xmalloc(net.param_count * sizeof(float));
    init_params(&net, p, 1);
    backend_set_params(&be, p);
    size_t in_n = (size_t)2 * 3 * 63 * 63;
    float *x = xcalloc(in_n, sizeof(float));
    int32_t labels[2] = { 1, 2 };
    LossArgs lo = { 0.0f, SMOOTH_SEED, 0 };
    ForwardArgs fa = { 1, 0, 0 };
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
    for (size_t k = 0; k < 2; k++)
        for (size_t q = 0; q < 3; q++) {
            /* q == 2: bf16 with every convolution on nhwc (the layout rule picks it for large maps only) */
            if (q > 0 && backend_auto_precision("dnnl", NULL) != PRECISION_BF16) continue;
            if (q == 2) setenv("ALEXNET_DNNL_INFERENCE_NHWC", "1", 1);
            Net net;
            Error err;
            CHECK(net_build(&net, backbones[k], 10, 67, -1.0f, &err) == 0, "%s", err.msg);
            const int B = 3;
            BackendOptions bo = { 2, 0, precs[q], 1, 0 }, bi = bo;
            bi.inference = 1;
            Backend tr, in;
            CHECK(backend_create(&tr, "dnnl", &net, B, &bo, &err) == 0, "%s", err.msg);
            CHECK(backend_create(&in, "dnnl", &net, B, &bi, &err) == 0, "%s", err.msg);
            float *p = xmalloc(net.param_count * sizeof(float));
            init_params(&net, p, 8);
            backend_set_params(&tr, p);
            backend_set_params(&in, p);
            size_t in_n = (size_t)B * 3 * 67 * 67;
            float *x = xmalloc(in_n * sizeof(float)), *xh = xmalloc(in_n * sizeof(float));
            float a[3 * 10], b[3 * 10];
            fill_uniform(x, in_n, 13, 0, -1.0f, 1.0f);
            ForwardArgs fe = { 0, 0, 0 };
            for (int n = 1; n <= B; n += B - 1) {
                Backend *be[2] = { &tr, &in };
                float *out[2] = { a, b };
                for (int j = 0; j < 2; j++) {
                    const float *xin = x;
                    if (backend_input_format(be[j]) == INPUT_F32_NHWC) {
                        to_nhwc(xh, x, n, 67);
                        xin = xh;
                    }
                    backend_forward(be[j], xin, n, &fe);
                    backend_read_logits(be[j], out[j], n);
                }
                char t[96];
                snprintf(t, sizeof t, "%s %s%s inference plan, batch %d: logits", backbones[k],
                         precision_name(precs[q]), q == 2 ? " nhwc" : "", n);
                if (precs[q] == PRECISION_FP32)
                    EXPECT(memcmp(a, b, (size_t)n * 10 * sizeof(float)) == 0, "%s differ", t);
                else expect_rel_l2(t, b, a, (size_t)n * 10, TOL_BF16);
            }
            free(p);
            free(x);
            free(xh);
            backend_destroy(&tr);
            backend_destroy(&in);
            unsetenv("ALEXNET_DNNL_INFERENCE_NHWC");
        }
}

int main(void) {
    if (!dnnl_built()) {
        printf("SKIP: this build has no dnnl backend\n");
        return SKIP_NO_DNNL;
    }
    presets();
    determinism();
    profiling();
    inference_plans();
    return test_summary("dnnl whole network");
}
