/*
 * test_cuda_net.c — whole networks on the cuda backend against the
 * reference backend: the three presets (alexnet, alexnet_torchvision,
 * alexnet_2012 with LRN and groups) in fp32 and bf16, the real 224-pixel
 * geometry, 20 training steps tracking the reference run's loss, and the
 * NCCL all-reduce path on one rank.
 *
 * Tolerances (see test_cuda_ops.c for the reasoning): fp32 normalised max
 * error <= 1e-4 per tensor. bf16, relative L2 error against the fp32
 * reference: logits, losses and weights <= 3e-2; gradients and momentum
 * <= 0.5 (ReLU/max-pool decisions flip under bf16 rounding: PyTorch's own
 * bf16 AlexNet gradients are 6e-2..2.6e-1 away from its fp32 ones); eval
 * logits after the training steps <= 0.1. Over 20 training steps the loss
 * must stay within 1e-3 (fp32) or 5% (bf16) of the reference's at every
 * step: same data, same dropout masks, same updates (PyTorch bf16 autocast
 * vs fp32 on this setup: <= 6.5e-3).
 *
 * At 224 px in fp32 the gradients, momentum and weights are held to relative
 * L2 <= 1e-2 instead (logits and loss stay at 1e-4): among the 2 x 64 x 55 x 55
 * conv1 outputs about one lies within fp32 rounding of zero, so two correct
 * fp32 implementations can take a different ReLU decision there and route
 * one position's gradient into a whole filter. Seen between the oneDNN and
 * reference backends on this very case: one of 64 conv1 filters off, 1.5e-2
 * of the tensor's max, 3.6e-3 relative L2; an indexing error is O(1).
 *
 * Exit 77 (skipped) without a CUDA build or without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/philox.h"
#include "harness.h"
#include "cuda_test_util.h"

#define MAX_STEPS 20

typedef struct {
    float *logits0, *grads0, *params, *mom, *eval;
    double loss[MAX_STEPS];
} RunOut;

typedef struct {
    int steps, cycle; /* training steps; distinct batches, reused in turn */
    float lr;
    int comm; /* 1: NCCL communicator of one rank before the first step */
} RunCfg;

static void run(RunOut *o, const char *backend, const Net *net, Precision prec, int B, const RunCfg *cfg) {
    int S = net->image_size, K = net->num_classes;
    size_t P = net->param_count;
    BackendOptions opt = { 0, 0, prec, 42, 0 };
    Backend be;
    Error err;
    CHECK(backend_create(&be, backend, net, B, &opt, &err) == 0, "%s: %s", backend, err.msg);
    if (cfg->comm) {
        uint8_t id[COMM_ID_BYTES];
        CHECK(backend_comm_create_id(&be, id, &err) == 0, "%s", err.msg);
        CHECK(backend_comm_init(&be, 0, 1, id, &err) == 0, "%s", err.msg);
    }
    float *p0 = xmalloc(P * sizeof(float)), *zero = xcalloc(P, sizeof(float));
    net_init_params(net, p0, 5);
    backend_set_params(&be, p0);
    backend_set_momentum(&be, zero);
    InputFormat fmt = backend_input_format(&be);
    uint8_t *u8 = xmalloc((size_t)B * S * S * 3);
    void *x = xmalloc((size_t)B * S * S * 3 * sizeof(float));
    int32_t *labels = xmalloc((size_t)B * sizeof(int32_t));
    memset(o, 0, sizeof *o);
    o->logits0 = xmalloc((size_t)B * K * sizeof(float));
    o->grads0 = xmalloc(P * sizeof(float));
    o->params = xmalloc(P * sizeof(float));
    o->mom = xmalloc(P * sizeof(float));
    o->eval = xmalloc((size_t)B * K * sizeof(float));
    LossArgs la = { 0.1f, SMOOTH_SEED, 0 };
    SgdArgs sa = { cfg->lr, 0.9f, 1e-4f };
    for (int step = 0; step < cfg->steps; step++) {
        make_batch(u8, labels, B, S, K, 21, step % cfg->cycle);
        to_format(fmt, u8, x, B, S);
        ForwardArgs fa = { 1, (uint64_t)step, 0 };
        backend_forward(&be, x, B, &fa);
        if (step == 0) backend_read_logits(&be, o->logits0, B);
        o->loss[step] = backend_backward(&be, labels, B, &la, NULL, NULL);
        if (step == 0) backend_get_grads(&be, o->grads0);
        backend_sgd_update(&be, &sa);
    }
    backend_get_params(&be, o->params);
    backend_get_momentum(&be, o->mom);
    int n = B > 1 ? B - 1 : 1;
    make_batch(u8, labels, B, S, K, 21, 1000);
    to_format(fmt, u8, x, n, S);
    ForwardArgs fe = { 0, 0, 0 };
    backend_forward(&be, x, n, &fe);
    backend_read_logits(&be, o->eval, n);
    backend_destroy(&be);
    free(p0);
    free(zero);
    free(u8);
    free(x);
    free(labels);
}

static void run_free(RunOut *o) {
    free(o->logits0);
    free(o->grads0);
    free(o->params);
    free(o->mom);
    free(o->eval);
}

static double worst;

/* Tolerance classes (see the top of this file and test_cuda_ops.c). */
typedef enum {
    TOL_FP32,       /* normalised max error <= 1e-4 */
    TOL_FP32_FLIPS, /* fp32 where single ReLU decisions may differ: relative L2 <= 1e-2 */
    TOL_BF16,       /* relative L2 <= 3e-2 */
    TOL_BF16_DRIFT, /* relative L2 <= 0.1 */
    TOL_BF16_FLIPS, /* relative L2 <= 0.5 */
} Tol;

static void close_enough(const char *what, const float *a, const float *b, size_t n, Tol tol) {
    double e = tensor_rel_error(a, b, n, 1e-12);
    if (tol == TOL_FP32) {
        if (e > worst || e != e) worst = e;
        expect_tensor_close(what, a, b, n, 1e-4);
        return;
    }
    double l2 = rel_l2(a, b, n);
    double bound = tol == TOL_FP32_FLIPS ? 1e-2 : tol == TOL_BF16 ? 3e-2 : tol == TOL_BF16_DRIFT ? 0.1 : 0.5;
    if (l2 > worst || l2 != l2) worst = l2;
    EXPECT(l2 <= bound, "%s: relative L2 error %.3e (tol %.0e), normalised max error %.3e", what, l2, bound, e);
}

/* out: logits, losses, weights; grad: gradients and momentum; drift: eval logits after training. */
static void compare_runs(const char *title, const Net *net, const RunOut *g, const RunOut *r, int B, int steps, Tol out,
                         Tol grad, Tol drift) {
    char name[160];
    size_t K = (size_t)net->num_classes;
    snprintf(name, sizeof name, "%s: logits", title);
    close_enough(name, g->logits0, r->logits0, (size_t)B * K, out);
    for (int s = 0; s < steps; s++) {
        float a = (float)g->loss[s], b = (float)r->loss[s];
        snprintf(name, sizeof name, "%s: loss step %d", title, s);
        close_enough(name, &a, &b, 1, out);
    }
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        snprintf(name, sizeof name, "%s: grad %s", title, p->name);
        close_enough(name, g->grads0 + p->offset, r->grads0 + p->offset, p->numel, grad);
        snprintf(name, sizeof name, "%s: momentum %s", title, p->name);
        close_enough(name, g->mom + p->offset, r->mom + p->offset, p->numel, grad);
        snprintf(name, sizeof name, "%s: weights %s", title, p->name);
        /* zero-initialised biases are nothing but their updates: they get the gradients' tolerance */
        close_enough(name, g->params + p->offset, r->params + p->offset, p->numel,
                     out == TOL_FP32 || !p->decay ? grad : out);
    }
    snprintf(name, sizeof name, "%s: eval logits (partial batch)", title);
    close_enough(name, g->eval, r->eval, (size_t)(B > 1 ? B - 1 : 1) * K, drift);
}

static void preset(const char *backbone, int K, int S, int B, Precision prec, int steps) {
    Net net;
    Error err;
    CHECK(net_build(&net, backbone, K, S, -1.0f, &err) == 0, "%s", err.msg);
    RunCfg cfg = { steps, steps, 0.02f, 0 };
    RunOut r, g;
    int before = test_failures;
    worst = 0.0;
    double t0 = now_seconds();
    run(&r, "ref", &net, PRECISION_FP32, B, &cfg);
    double t1 = now_seconds();
    run(&g, "cuda", &net, prec, B, &cfg);
    double t2 = now_seconds();
    char title[96];
    snprintf(title, sizeof title, "%s %dpx K=%d B=%d %s", backbone, S, K, B, prec == PRECISION_BF16 ? "bf16" : "fp32");
    if (prec == PRECISION_BF16) compare_runs(title, &net, &g, &r, B, steps, TOL_BF16, TOL_BF16_FLIPS, TOL_BF16_DRIFT);
    else if (S >= 128) compare_runs(title, &net, &g, &r, B, steps, TOL_FP32, TOL_FP32_FLIPS, TOL_FP32);
    else compare_runs(title, &net, &g, &r, B, steps, TOL_FP32, TOL_FP32, TOL_FP32);
    printf("%-44s worst error %.2e  (ref %.1fs, cuda %.1fs)  %s\n", title, worst, t1 - t0, t2 - t1,
           test_failures == before ? "ok" : "FAILED");
    fflush(stdout);
    run_free(&r);
    run_free(&g);
}

/* 20 steps over 4 fixed batches: the cuda run's loss must track the reference's. */
static void tracking(Precision prec) {
    Net net;
    Error err;
    CHECK(net_build(&net, "alexnet", 10, 67, -1.0f, &err) == 0, "%s", err.msg);
    const int B = 16;
    RunCfg cfg = { MAX_STEPS, 4, 0.01f, 0 };
    RunOut r, g;
    run(&r, "ref", &net, PRECISION_FP32, B, &cfg);
    run(&g, "cuda", &net, prec, B, &cfg);
    double tol = prec == PRECISION_BF16 ? 5e-2 : 1e-3, max_rel = 0.0;
    printf("20 steps, alexnet 67px B=16, %s: step  ref loss  cuda loss\n", prec == PRECISION_BF16 ? "bf16" : "fp32");
    for (int s = 0; s < MAX_STEPS; s++) {
        double rel = fabs(g.loss[s] - r.loss[s]) / fabs(r.loss[s]);
        if (rel > max_rel || rel != rel) max_rel = rel;
        printf("  %2d  %.6f  %.6f\n", s, r.loss[s], g.loss[s]);
        EXPECT(rel <= tol, "step %d: cuda loss %.6f vs ref %.6f (rel %.2e > %.0e)", s, g.loss[s], r.loss[s], rel, tol);
    }
    EXPECT(r.loss[MAX_STEPS - 1] < r.loss[0], "the reference loss did not decrease (%.4f -> %.4f)", r.loss[0],
           r.loss[MAX_STEPS - 1]);
    printf("%-44s max relative loss difference %.2e (tol %.0e)\n", "20-step loss tracking", max_rel, tol);
    fflush(stdout);
    run_free(&r);
    run_free(&g);
}

/* In-backend NCCL on one rank: the all-reduce is a sum over one rank, so
 * results match the run without a communicator at fp32 tolerance (the two
 * backends may pick different cuDNN algorithms), or within bf16 rounding
 * (ALEXNET_CUDA_ALLREDUCE=bf16); a broken reduction (double counting, a
 * wrong range) is off by O(1). Steps 2+ replay a graph holding the NCCL calls. */
static void comm_one_rank(void) {
    Net net;
    Error err;
    CHECK(net_build(&net, "alexnet", 10, 67, -1.0f, &err) == 0, "%s", err.msg);
    BackendOptions opt = { 0, 0, PRECISION_FP32, 42, 0 };
    Backend probe;
    CHECK(backend_create(&probe, "cuda", &net, 4, &opt, &err) == 0, "%s", err.msg);
    int has = backend_has_comm(&probe);
    if (!has) {
        backend_destroy(&probe);
        printf("%-44s skipped: built without NCCL\n", "NCCL one rank");
        return;
    }
    /* NCCL's bootstrap wants a network interface; a lone VM may only have lo */
    setenv("NCCL_SOCKET_IFNAME", "lo", 0);
    uint8_t id[COMM_ID_BYTES];
    int ok = backend_comm_create_id(&probe, id, &err) == 0 && backend_comm_init(&probe, 0, 1, id, &err) == 0;
    backend_destroy(&probe);
    if (!ok) {
        printf("%-44s NOT RUN: NCCL could not start on this machine: %s\n", "NCCL one rank", err.msg);
        return;
    }
    const int B = 4;
    RunCfg plain = { 4, 4, 0.02f, 0 }, comm = { 4, 4, 0.02f, 1 };
    RunOut a, b;
    int before = test_failures;
    worst = 0.0;
    run(&a, "cuda", &net, PRECISION_FP32, B, &plain);
    run(&b, "cuda", &net, PRECISION_FP32, B, &comm);
    compare_runs("NCCL one rank fp32", &net, &b, &a, B, 4, TOL_FP32, TOL_FP32, TOL_FP32);
    run_free(&b);
    setenv("ALEXNET_CUDA_ALLREDUCE", "bf16", 1);
    run(&b, "cuda", &net, PRECISION_FP32, B, &comm);
    unsetenv("ALEXNET_CUDA_ALLREDUCE");
    /* bf16 rounding of the gradients moves ReLU/max-pool decisions in later steps, as in bf16 compute */
    compare_runs("NCCL one rank bf16 all-reduce", &net, &b, &a, B, 4, TOL_BF16, TOL_BF16_FLIPS, TOL_BF16_DRIFT);
    printf("%-44s worst error %.2e  %s\n", "NCCL one rank (fp32, bf16 all-reduce)", worst,
           test_failures == before ? "ok" : "FAILED");
    fflush(stdout);
    run_free(&a);
    run_free(&b);
}

/* 1 when a GPU can run the cuda backend; else the reason, for the skip line. */

/* usage: test_cuda_net          presets, 224 px, 20-step tracking
 *        test_cuda_net comm     the NCCL part alone (its own ctest entry, so
 *                               a stuck NCCL start-up cannot take the rest) */
int main(int argc, char **argv) {
    int comm_only = argc > 1 && strcmp(argv[1], "comm") == 0;
    char why[256] = "";
    if (!gpu_present(why, sizeof why)) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    if (comm_only) {
        setenv("NCCL_DEBUG", "WARN", 0);
        comm_one_rank();
        return test_summary("test_cuda_net comm");
    }
    const char *presets[] = { "alexnet", "alexnet_torchvision", "alexnet_2012" };
    for (int p = 0; p < 3; p++) {
        preset(presets[p], 10, 67, 4, PRECISION_FP32, 3);
        preset(presets[p], 10, 67, 4, PRECISION_BF16, 3);
    }
    preset("alexnet", 1000, 224, 2, PRECISION_FP32, 1);
    preset("alexnet", 1000, 224, 2, PRECISION_BF16, 1);
    tracking(PRECISION_FP32);
    tracking(PRECISION_BF16);
    return test_summary("test_cuda_net");
}
