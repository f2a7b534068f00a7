/*
 * test_backend_net.c — every backend built into this binary against the
 * reference backend on whole presets (NETS below), by the same harness and
 * tolerance table as the op table (lib/backend_compare.h), at every
 * precision the backend supports on this machine:
 *  - alexnet and alexnet_torchvision at 67 px (avgpool replicates 1 -> 6)
 *    and 96 px (2 -> 6), alexnet_2012 (groups, LRN) at 67 px, 10 classes,
 *    3 training steps with the presets' dropout on, then a partial batch
 *    (batch - 1) and an eval forward; alexnet at 67 and 96 px again
 *    without dropout, where the dnnl backend folds the first classifier
 *    layer over the average pool in training as well as in eval;
 *  - the real geometry: alexnet at 224 px, 1000 classes, one step (fp32
 *    gradients by relative L2: single ReLU decisions of 387k conv1 outputs);
 *  - 20 training steps over 4 batches at batch 16: the loss must track the
 *    reference's at every step. A minute of the reference backend on two
 *    cores: run for the cuda backend only (its machine has the cores).
 *
 * usage: test_backend_net [BACKEND [fp32|bf16 [ROW]]]   (default: all of them;
 *        ROW: one row of NETS, by its index)
 *
 * Skipped (77) only when nothing could run because this machine lacks it (no
 * GPU for cuda, no native bf16 for bf16).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend_compare.h"
#include "harness.h"

typedef struct {
    const char *backbone;
    int classes, size, batch;
    CompareOpts opts; /* n and max_batch: batch */
    int no_dropout;   /* dropout 0 instead of the preset's rate */
    int fp32_only;    /* see the row */
    const char *only; /* this backend only (see the row) */
} NetCase;

/* A row: backbone, classes, image size, batch, then any other field by name. */
#define NET(BB, K, S, B, ...) \
    { .backbone = BB, .classes = K, .size = S, .batch = B, __VA_ARGS__ }

static const NetCase NETS[] = {
    NET("alexnet", 10, 67, 4, .opts.lr = 0.02f),
    NET("alexnet_torchvision", 10, 67, 4, .opts.lr = 0.02f),
    NET("alexnet_2012", 10, 67, 4, .opts.lr = 0.02f),
    /* avgpool 2 -> 6. fp32 only: at batch 2 the partial batch is one sample,
     * whose ~100 live ReLU outputs per map make each bf16 flip a ~10% change
     * of the gradient (measured 0.8 relative L2 on dnnl), and a larger batch
     * puts a conv output within fp32 rounding of a ReLU kink at step 2 (1e-3) */
    NET("alexnet_torchvision", 10, 96, 2, .opts.lr = 0.05f, .fp32_only = 1),
    NET("alexnet", 1000, 224, 2, .opts = { .steps = 1, .lr = 0.02f, .wide = 1 }),
    /* dropout 0: the dnnl backend folds classifier.1 over the avgpool in
     * training too (dnnl_layers.h, Folding), 1 -> 6 at 67 px and 2 -> 6 at
     * 96 px (fp32 only, as the row above it) */
    NET("alexnet", 10, 67, 4, .opts.lr = 0.02f, .no_dropout = 1),
    NET("alexnet", 10, 96, 2, .opts.lr = 0.05f, .no_dropout = 1, .fp32_only = 1),
    NET("alexnet", 10, 67, 16, .opts = { .steps = 20, .batches = 4, .lr = 0.01f, .loss_only = 1 }, .only = "cuda"),
};

static int only_row = -1;

static void run_nets(const char *backend, const Precision *precs, int n_precs, void *user) {
    (void)user;
    for (size_t i = 0; i < sizeof NETS / sizeof NETS[0]; i++) {
        const NetCase *c = &NETS[i];
        if ((only_row >= 0 && (size_t)only_row != i) || (c->only && strcmp(c->only, backend) != 0)) continue;
        Net net;
        Error err;
        CHECK(net_build(&net, c->backbone, c->classes, c->size, c->no_dropout ? 0.0f : -1.0f, &err) == 0, "%s",
              err.msg);
        char title[160], why[400];
        snprintf(title, sizeof title, "#%zu %s %dpx K=%d B=%d%s%s", i, c->backbone, c->size, c->classes, c->batch,
                 c->no_dropout ? " dropout 0" : "", c->opts.loss_only ? ", 20-step loss" : "");
        Precision run[2];
        int n = 0;
        for (int k = 0; k < n_precs; k++) {
            if (c->fp32_only && precs[k] != PRECISION_FP32) continue;
            int can = compare_can_run(backend, &net, precs[k], why, sizeof why);
            EXPECT(can == 1, "%s %s %s: %s", backend, precision_name(precs[k]), title, why);
            if (can == 1) run[n++] = precs[k];
        }
        if (!n) continue;
        CompareOpts o = c->opts;
        o.n = o.max_batch = c->batch;
        compare_backend(backend, run, n, title, &net, &o);
    }
}

int main(int argc, char **argv) {
    if (argc > 3) only_row = atoi(argv[3]);
    if (argc > 4 || (argc > 3 && (only_row < 0 || only_row >= (int)(sizeof NETS / sizeof NETS[0])))) {
        fprintf(stderr, "usage: test_backend_net [BACKEND [fp32|bf16 [ROW]]]\n");
        return 2;
    }
    Net probe;
    Error err;
    CHECK(net_build(&probe, "alexnet", 10, 67, -1.0f, &err) == 0, "%s", err.msg);
    CompareRuns runs = { 0 };
    if (compare_each_backend(&runs, argc > 1 ? argv[1] : NULL, argc > 2 ? argv[2] : NULL, &probe, run_nets, NULL))
        return 2;
    return compare_finish(&runs, "test_backend_net: every backend against ref, whole presets");
}
