/*
 * test_dnnl_compare.h — runs one Net on the reference backend and on the
 * oneDNN backend side by side and compares everything the interface exposes:
 * logits and loss of every step, every parameter gradient of every step (also
 * at the moment ready() reports it final), and momentum and parameters after
 * the last optimizer step. Shared by test_dnnl_ops.c and test_dnnl_net.c.
 *
 * Tolerances (normalised error max|dnnl - ref| / max|ref| per tensor):
 *  - TOL_GRAD 1e-4 for logits, gradients and momentum. Both sides compute in
 *    fp32 but sum in different orders (im2col GEMM vs oneDNN's blocked
 *    kernels, different K-splits over threads), giving ~1e-6 relative; 1e-4
 *    is stable, and a wrong index, a missing term, a wrong window or a wrong
 *    dropout mask fails by orders of magnitude (errors of order 1).
 *  - TOL_PARAM 1e-5 for parameters after the steps: they move by lr*v, so
 *    their relative error is the momentum's times lr*|v|/|w|.
 *  - the loss, a double reduction of the logits: TOL_GRAD.
 *
 * With CompareOpts.precision bf16 the oneDNN side computes its convolutions
 * and hidden linear layers in bf16 against the fp32 reference, and every
 * tensor is compared by relative L2 error (||dnnl - ref|| / ||ref||): bf16
 * keeps 8 significant bits (unit roundoff 2^-9 = 2e-3), and each layer rounds
 * its input and weights (the GPU's bf16 tests, test_cuda_ops.c, use the same
 * reasoning and the same kinds of bound):
 *  - TOL_BF16 2e-2: the first step's logits and loss, and everything in nets
 *    without ReLU or max-pool decisions (measured <= 5e-3 logits, <= 1e-2
 *    gradients); a wrong layout, type or index is O(1).
 *  - TOL_BF16_PARAM 5e-3: parameters after the steps in those nets (they move
 *    by lr*v from identical fp32 masters; measured <= 2e-3).
 *  - TOL_BF16_FLIPS 0.5 for gradients and momentum through ReLU or max-pool
 *    decisions: a pre-activation within bf16 rounding of zero (or of its
 *    window's maximum) takes the other branch and routes or drops a whole
 *    gradient element; on these small nets one flip among ~100 live elements
 *    is already ~10%, and the error compounds downwards (measured up to 0.46
 *    at n=1). An uncorrelated (wrong) gradient has relative L2 error >= 1.
 *  - TOL_BF16_DRIFT 0.2 for the logits and loss of later steps and the
 *    parameters after training on such gradients (measured up to 0.11: a
 *    classifier bias, tiny and moved by lr*v).
 */
#ifndef ALEXNET_TEST_DNNL_COMPARE_H
#define ALEXNET_TEST_DNNL_COMPARE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/philox.h"
#include "harness.h"

#define TOL_GRAD       1e-4
#define TOL_PARAM      1e-5
#define TOL_BF16       2e-2
#define TOL_BF16_PARAM 5e-3
#define TOL_BF16_FLIPS 0.5
#define TOL_BF16_DRIFT 0.2

/* Exit status for "the oneDNN backend is not in this build" (ctest: skipped). */
#define SKIP_NO_DNNL 77

static int dnnl_built(void) { return strstr(backend_names(), "dnnl") != NULL; }

typedef struct {
    int n; /* samples per forward (<= max_batch) */
    int max_batch;
    int steps;
    int threads;
    float grad_scale;    /* applied to grad_buffer() between backward and sgd_update (an all-reduce's average) */
    Precision precision; /* of the dnnl side (the reference is fp32) */
} CompareOpts;

/* Max-normalised error for fp32 runs, relative L2 for bf16 (see the tolerances above). */
static int expect_close_p(const CompareOpts *o, const char *name, const float *a, const float *b, size_t n,
                          double tol32, double tol16) {
    if (o->precision == PRECISION_BF16) return expect_rel_l2(name, a, b, n, tol16);
    return expect_tensor_close(name, a, b, n, tol32);
}

/* The net routes gradients by ReLU or max-pool decisions (bf16 rounding can flip them). */
static int net_has_decisions(const Net *net) {
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == LAYER_RELU || net->layers[i].kind == LAYER_MAXPOOL) return 1;
    return 0;
}

/* Records when ready() fires: order and a copy of the gradient at that moment. */
typedef struct {
    Backend *be;
    const Net *net;
    int count, order_ok, last;
    float *snap; /* [param_count] gradients as seen at ready() */
} ReadyLog;

static void on_ready(void *user, int param) {
    ReadyLog *r = user;
    const ParamTensor *p = &r->net->params[param];
    if (r->last >= 0 && param >= r->last) r->order_ok = 0;
    r->last = param;
    r->count++;
    memcpy(r->snap + p->offset, backend_grad_buffer(r->be) + p->offset, p->numel * sizeof(float));
}

/* PyTorch-default-like parameters (non-zero biases, so bias paths count). */
static void init_params(const Net *net, float *params, uint64_t seed) {
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        const ParamTensor *w = p->decay ? p : p - 1;
        double fan_in = (double)w->numel / w->shape[0];
        float b = (float)(1.0 / sqrt(fan_in));
        fill_uniform(params + p->offset, p->numel, seed, (uint32_t)(100 + t), -b, b);
    }
}

static void to_nhwc(float *dst, const float *src, int n, int s) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < s * s; p++) dst[((size_t)i * s * s + p) * 3 + c] = src[((size_t)i * 3 + c) * s * s + p];
}

/* Runs net on ref and dnnl and compares; returns the number of failed checks. */
static int compare_backends(const char *title, const Net *net, const CompareOpts *o) {
    int fails0 = test_failures;
    Error err;
    BackendOptions bo = { o->threads, 0, PRECISION_FP32, 42, 0 }, bd = bo;
    bd.precision = o->precision;
    Backend ref, dn;
    CHECK(backend_create(&ref, "ref", net, o->max_batch, &bo, &err) == 0, "%s", err.msg);
    CHECK(backend_create(&dn, "dnnl", net, o->max_batch, &bd, &err) == 0, "%s: %s", title, err.msg);
    size_t P = net->param_count;
    float *params = xmalloc(P * sizeof(float)), *a = xmalloc(P * sizeof(float)), *b = xmalloc(P * sizeof(float));
    init_params(net, params, 3);
    backend_set_params(&ref, params);
    backend_set_params(&dn, params);
    memset(a, 0, P * sizeof(float));
    backend_set_momentum(&ref, a);
    backend_set_momentum(&dn, a);

    int S = net->image_size, K = net->num_classes, n = o->n;
    size_t in_n = (size_t)n * 3 * S * S;
    float *x = xmalloc(in_n * sizeof(float)), *xh = xmalloc(in_n * sizeof(float));
    float *la = xmalloc((size_t)n * K * sizeof(float)), *lb = xmalloc((size_t)n * K * sizeof(float));
    int32_t *labels = xmalloc((size_t)n * sizeof(int32_t));
    ReadyLog rl = { &dn, net, 0, 1, -1, xmalloc(P * sizeof(float)) };
    LossArgs lo = { 0.1f, SMOOTH_SEED, 0 };
    SgdArgs so = { 0.05f, 0.9f, 1e-3f };
    char name[96];
    int flips = net_has_decisions(net);
    double tol_grad16 = flips ? TOL_BF16_FLIPS : TOL_BF16, tol_drift16 = flips ? TOL_BF16_DRIFT : TOL_BF16;
    double tol_param16 = flips ? TOL_BF16_DRIFT : TOL_BF16_PARAM;
    for (int step = 0; step < o->steps; step++) {
        fill_uniform(x, in_n, 11, (uint32_t)step, -1.0f, 1.0f);
        for (int i = 0; i < n; i++)
            labels[i] = (int32_t)(rng_word(5, RNG_SYNTHETIC, (uint32_t)step, 1, (uint64_t)i) % (uint32_t)K);
        ForwardArgs fa = { 1, (uint64_t)step + 7, 3 };
        backend_forward(&ref, x, n, &fa);
        const float *xin = x;
        if (backend_input_format(&dn) == INPUT_F32_NHWC) {
            to_nhwc(xh, x, n, S);
            xin = xh;
        }
        backend_forward(&dn, xin, n, &fa);
        backend_read_logits(&ref, la, n);
        backend_read_logits(&dn, lb, n);
        snprintf(name, sizeof name, "%s step %d logits", title, step);
        expect_close_p(o, name, lb, la, (size_t)n * K, TOL_GRAD, step == 0 ? TOL_BF16 : tol_drift16);
        double l_ref = backend_backward(&ref, labels, n, &lo, NULL, NULL);
        rl.count = 0;
        rl.last = -1;
        rl.order_ok = 1;
        double l_dn = backend_backward(&dn, labels, n, &lo, on_ready, &rl);
        double tol_loss = o->precision != PRECISION_BF16 ? TOL_GRAD : step == 0 ? TOL_BF16 : tol_drift16;
        EXPECT(fabs(l_dn - l_ref) <= tol_loss * fabs(l_ref), "%s step %d loss %.9g vs %.9g", title, step, l_dn, l_ref);
        EXPECT(rl.count == net->n_params && rl.order_ok, "%s: ready() fired %d times (want %d), reverse order %d",
               title, rl.count, net->n_params, rl.order_ok);
        backend_get_grads(&ref, a);
        backend_get_grads(&dn, b);
        for (int t = 0; t < net->n_params; t++) {
            const ParamTensor *p = &net->params[t];
            snprintf(name, sizeof name, "%s step %d grad %s", title, step, p->name);
            expect_close_p(o, name, b + p->offset, a + p->offset, p->numel, TOL_GRAD, tol_grad16);
            EXPECT(memcmp(rl.snap + p->offset, b + p->offset, p->numel * sizeof(float)) == 0,
                   "%s: %s changed after ready() reported it final", title, p->name);
        }
        if (o->grad_scale != 1.0f) {
            float *ga = backend_grad_buffer(&ref), *gb = backend_grad_buffer(&dn);
            for (size_t i = 0; i < P; i++) {
                ga[i] *= o->grad_scale;
                gb[i] *= o->grad_scale;
            }
        }
        backend_sgd_update(&ref, &so);
        backend_sgd_update(&dn, &so);
    }
    backend_get_momentum(&ref, a);
    backend_get_momentum(&dn, b);
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        snprintf(name, sizeof name, "%s momentum %s", title, p->name);
        expect_close_p(o, name, b + p->offset, a + p->offset, p->numel, TOL_GRAD, tol_grad16);
    }
    backend_get_params(&ref, a);
    backend_get_params(&dn, b);
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        snprintf(name, sizeof name, "%s params %s", title, p->name);
        expect_close_p(o, name, b + p->offset, a + p->offset, p->numel, TOL_PARAM, tol_param16);
    }
    backend_destroy(&ref);
    backend_destroy(&dn);
    free(params);
    free(a);
    free(b);
    free(x);
    free(xh);
    free(la);
    free(lb);
    free(labels);
    free(rl.snap);
    int failed = test_failures - fails0;
    if (getenv("TEST_VERBOSE") || failed) fprintf(stderr, "%-40s %s\n", title, failed ? "FAILED" : "ok");
    return failed;
}

#endif
