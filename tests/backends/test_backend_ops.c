/*
 * test_backend_ops.c — every backend built into this binary against the
 * reference backend, op by op, in the manner of ggml's test-backend-ops: one
 * table of small nets (OPS below), each run by compare_backend()
 * (lib/backend_compare.h: the protocol and the tolerance table) on every
 * backend but ref, at every precision the backend supports on this machine.
 * A new op, layout or fusion comes with its row here.
 *
 * usage: test_backend_ops [BACKEND [fp32|bf16 [ROW]]]   (default: all of them;
 *        ROW: one row of OPS, by its index, as the output numbers them)
 *        test_backend_ops BACKEND int8 [ROW]   the int8 mode (int8_row below)
 *
 * The rows cover odd sizes and channel counts that are not multiples of the
 * blocked formats' 8/16 (padding), strided and grouped convolutions (groups
 * 2, 3, 4; on blocked input too), the first convolution oneDNN runs by
 * space-to-depth (stride >= 2), 1x1 and 11x11 kernels, maxpool 3/2 and 2/2
 * on odd and even inputs, LRN of odd sizes (oneDNN's) and even sizes (the
 * reference op inside the dnnl backend), LRN and dropout and linear as the
 * first layer, adaptive average pooling that replicates (1->6, 5->6),
 * averages overlapping windows (13->6, 7->2), averages regular windows
 * (12->6) or is the identity (6->6) (the dnnl backend folds the linear
 * layer after an enlarging one over it, also across a dropout of rate 0:
 * dnnl_layers.h, Folding), dropout on blocked and plain
 * activations, standalone and fused ReLU, a linear layer on a spatial input
 * (flatten), partial batches (n < max_batch, n = 1), frozen layers, the
 * gradient buffer scaled in place, and channel counts that suit cuDNN's bf16
 * NHWC kernels (multiples of 8) at batch 8. Rows for one backend's own
 * switches (the cuda input formats, no CUDA graphs) run on that backend only.
 * Dropout masks are also checked bit for bit (compare_dropout_masks).
 *
 * Skipped (77) only when nothing could run because this machine lacks it: no
 * GPU for cuda, no native bf16 for bf16; a backend that is built but refuses
 * a row fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"
#include "backend/backend.h"
#include "backend_compare.h"
#include "model/quant.h"
#include "harness.h"

typedef struct {
    int size;           /* input image size */
    const char *layers; /* "conv OC K STRIDE PAD GROUPS; relu; maxpool K STRIDE; lrn SIZE ALPHA BETA K;
                         * avgpool H W; dropout P; classifier (the section); linear OUT" (last: the logits) */
    int n, max_batch;   /* samples per training step; the backends' batch (0: n) */
    const char *what;   /* what the row is for, where the layers don't say */
    const char *freeze; /* net_set_training(freeze, backbone lr scale 0.5); NULL: everything trains */
    float grad_scale;   /* CompareOpts.grad_scale */
    int fp32_only;      /* see the row's comment */
    const char *only;   /* a backend's own switches: that backend only */
    const char *env;    /* "NAME=value" set while the row runs */
} OpCase;

/* A row: input size, layers, samples per step, then any other field by name. */
#define OP(S, L, N, ...) \
    { .size = S, .layers = L, .n = N, __VA_ARGS__ }
#define ALL_OPS                                                                                                \
    "conv 24 5 2 2 1; relu; lrn 5 0.01 0.75 2; maxpool 3 2; conv 32 3 1 1 2; relu; maxpool 3 2; avgpool 6 6; " \
    "classifier; dropout 0.5; linear 40; relu; linear 7"
#define LRN_NET(n)    "conv 21 3 1 1 1; relu; lrn " #n " 0.2 0.75 2; linear 5"
#define AVG_NET(h, w) "conv 17 3 1 0 1; relu; avgpool " #h " " #w "; linear 4"
#define POOL_NET      "conv 16 3 1 1 1; relu; maxpool 3 2; classifier; linear 10"
#define DROPOUT_NET \
    "conv 8 3 1 1 1; relu; avgpool 6 6; classifier; dropout 0.35; linear 16; relu; dropout 0.5; linear 5"
#define CONV_G3 "conv 6 5 2 2 3; classifier; linear 5"

static const OpCase OPS[] = {
    /* convolutions: kernel, stride, padding, groups; a linear layer reads the result */
    OP(9, "conv 8 3 1 1 1; linear 5", 3),
    OP(13, "conv 7 5 2 2 1; linear 5", 3, .what = "stride 2: the first conv by space-to-depth (dnnl)"),
    OP(67, "conv 16 11 4 2 1; linear 5", 3, .what = "AlexNet's first conv (space-to-depth on dnnl)"),
    OP(10, "conv 6 3 1 0 3; linear 5", 3),
    OP(11, "conv 5 1 1 0 1; linear 5", 3),
    OP(8, "conv 20 4 3 1 1; linear 5", 3),
    OP(11, "conv 12 3 1 1 1; relu; conv 18 3 1 1 2; relu; conv 7 3 2 1 1; linear 4", 2,
       .what = "a conv's input gradient; groups on blocked input; 7 channels"),
    OP(12, "conv 96 5 2 2 1; relu; conv 64 3 1 1 2; relu; linear 4", 2),
    OP(13, "conv 5 3 1 1 1; classifier; linear 7", 4),
    OP(17, CONV_G3, 4),
    OP(11, "conv 8 3 1 0 1; relu; conv 12 3 2 1 4; classifier; linear 3", 4),
    OP(23, "conv 16 11 4 2 1; classifier; linear 10", 4),
    /* ReLU: fused into the conv before it, or standalone; a linear layer on a spatial input */
    OP(10, "conv 8 3 1 1 1; relu; classifier; linear 6", 4, .what = "linear on a spatial input (flatten)"),
    OP(11, "conv 16 3 1 0 1; maxpool 2 2; relu; linear 6", 3, .what = "standalone ReLU after max-pool 2/2"),
    /* max-pool 3/2 and 2/2 on odd and even maps */
    OP(15, "conv 10 3 1 1 1; relu; maxpool 3 2; linear 6", 3),
    OP(16, "conv 10 3 1 1 1; relu; maxpool 3 2; linear 6", 3),
    OP(23, POOL_NET, 4),
    OP(16, "conv 8 3 1 1 1; maxpool 2 2; conv 24 3 1 1 2; relu; maxpool 3 2; relu; classifier; linear 5", 4),
    /* LRN: odd sizes (oneDNN's), even sizes (the reference op in the dnnl backend), first layer */
    OP(9, LRN_NET(5), 2),
    OP(9, LRN_NET(3), 2),
    OP(9, LRN_NET(4), 2),
    OP(9, LRN_NET(2), 2),
    OP(9, "conv 12 3 1 1 1; relu; lrn 5 0.5 0.75 2; classifier; linear 4", 4),
    OP(7, "lrn 3 1 0.75 1; conv 4 3 1 0 1; classifier; linear 3", 4, .what = "LRN as the first layer"),
    /* adaptive average pooling: replicate, overlapping windows, regular windows, identity */
    OP(7, AVG_NET(6, 6), 3, .what = "avgpool 5 -> 6x6"),
    OP(15, AVG_NET(6, 6), 3, .what = "avgpool 13 -> 6x6"),
    OP(9, AVG_NET(2, 2), 3, .what = "avgpool 7 -> 2x2"),
    OP(14, AVG_NET(6, 6), 3, .what = "avgpool 12 -> 6x6"),
    OP(8, AVG_NET(6, 6), 3, .what = "avgpool 6 -> 6x6 (identity)"),
    OP(3, AVG_NET(6, 6), 3, .what = "avgpool 1 -> 6x6"),
    OP(7, "conv 17 3 1 0 1; relu; avgpool 6 6; classifier; dropout 0; linear 4", 3,
       .what = "avgpool 5 -> 6x6, dropout 0, linear (folded on dnnl)"),
    OP(11, AVG_NET(4, 3), 3, .what = "avgpool 9 -> 4x3"),
    OP(5, "conv 8 3 1 1 1; relu; avgpool 6 6; classifier; linear 4", 4),
    OP(13, "conv 8 3 1 1 1; avgpool 6 6; relu; classifier; linear 4", 4),
    OP(6, "conv 8 3 1 1 1; relu; avgpool 6 6; classifier; linear 4", 4),
    /* dropout: on blocked and plain activations, in the classifier, first */
    OP(9, "conv 13 3 1 1 1; relu; dropout 0.5; linear 5", 3, .what = "dropout on a blocked conv output"),
    OP(9,
       "conv 8 3 2 1 1; relu; maxpool 3 2; avgpool 3 3; classifier; dropout 0.35; linear 33; relu; dropout 0.5; "
       "linear 5",
       4, .what = "classifier: dropout-linear-relu-dropout"),
    OP(8, DROPOUT_NET, 4),
    OP(9, "dropout 0.3; conv 4 3 1 0 1; classifier; linear 3", 4, .what = "dropout as the first layer"),
    /* linear layers alone */
    OP(5, "classifier; linear 32; relu; linear 6", 4, .what = "linear as the first layer"),
    /* every kind of layer, then n < max_batch (eval's last partial batch, and training on it) */
    OP(35, ALL_OPS, 5, .what = "all ops"),
    OP(35, ALL_OPS, 3, .max_batch = 5, .what = "all ops, partial batch"),
    /* bf16: one sample leaves ~100 live ReLU outputs, so each bf16 flip moves
     * the gradient by ~10% and the bound means little; the padding logic is
     * the same code in both precisions and is checked here in fp32 */
    OP(35, ALL_OPS, 1, .max_batch = 5, .what = "all ops, one sample", .fp32_only = 1),
    OP(35, ALL_OPS, 4, .what = "all ops, grad_buffer scaled in place", .grad_scale = 0.5f),
    /* fine-tuning's trainable set: frozen tensors get no gradient, no ready(), no update */
    OP(35, ALL_OPS, 4, .what = "all ops, --freeze features", .freeze = "features"),
    OP(35, ALL_OPS, 4, .what = "all ops, --freeze backbone", .freeze = "backbone"),
    /* channel counts that suit cuDNN's bf16 NHWC kernels (multiples of 8), batch 8 */
    OP(27, "conv 32 5 2 2 1; avgpool 6 6; classifier; linear 10", 8),
    OP(15, "conv 16 3 1 1 1; lrn 5 0.5 0.75 2; conv 32 3 2 1 2; classifier; linear 64; linear 8", 8),
    OP(31,
       "conv 32 5 2 2 1; conv 64 3 1 1 2; avgpool 6 6; classifier; dropout 0.35; linear 64; dropout 0.35; "
       "linear 10",
       8),
    OP(31,
       "conv 32 5 2 2 1; relu; maxpool 3 2; conv 64 3 1 1 2; relu; avgpool 6 6; classifier; dropout 0.35; "
       "linear 64; relu; dropout 0.35; linear 10",
       8),
    OP(19, "conv 16 3 1 1 1; relu; lrn 5 0.5 0.75 2; maxpool 3 2; classifier; linear 8", 8),
    OP(23, POOL_NET, 8),
    OP(8, DROPOUT_NET, 8),
    /* the cuda backend's own switches: its other input paths (the u8 path's
     * normalisation is bit-identical, so the fp32 bounds hold) and eager
     * execution without CUDA graphs */
    OP(23, POOL_NET, 4, .what = "uint8 NHWC input", .only = "cuda", .env = "ALEXNET_CUDA_INPUT=u8"),
    OP(17, CONV_G3, 4, .what = "fp32 NHWC input", .only = "cuda", .env = "ALEXNET_CUDA_INPUT=f32nhwc"),
    OP(8, DROPOUT_NET, 4, .what = "no CUDA graphs", .only = "cuda", .env = "ALEXNET_CUDA_GRAPH=0"),
};

/* The row's layers into net (net_begin/net_add_*). */
static void build(Net *net, const OpCase *c) {
    char spec[512];
    snprintf(spec, sizeof spec, "%s", c->layers);
    /* the classes: the last linear's outputs */
    const char *last = strstr(spec, "linear"), *l;
    while (last && (l = strstr(last + 1, "linear"))) last = l;
    int K = 0;
    CHECK(last && sscanf(last, "linear %d", &K) == 1, "row '%s': the last layer must be linear", c->layers);
    net_begin(net, "op", K, c->size);
    for (char *save = NULL, *tok = strtok_r(spec, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        while (*tok == ' ') tok++;
        int a, b, d, e, g;
        float x, y, z;
        if (sscanf(tok, "conv %d %d %d %d %d", &a, &b, &d, &e, &g) == 5) net_add_conv(net, a, b, d, e, g);
        else if (strcmp(tok, "relu") == 0) net_add_relu(net);
        else if (sscanf(tok, "maxpool %d %d", &a, &b) == 2) net_add_maxpool(net, a, b);
        else if (sscanf(tok, "lrn %d %f %f %f", &a, &x, &y, &z) == 4) net_add_lrn(net, a, x, y, z);
        else if (sscanf(tok, "avgpool %d %d", &a, &b) == 2) net_add_avgpool(net, a, b);
        else if (sscanf(tok, "dropout %f", &x) == 1) net_add_dropout(net, x);
        else if (strcmp(tok, "classifier") == 0) net_section(net, "classifier");
        else if (sscanf(tok, "linear %d", &a) == 1) net_add_linear(net, a);
        else FATAL("row '%s': unknown layer '%s'", c->layers, tok);
    }
    if (c->freeze) {
        Error err = { { 0 } };
        CHECK(net_set_training(net, c->freeze, 0.5, &err) == 0, "%s", err.msg);
    }
}

/* Sets or clears a row's "NAME=value". */
static void row_env(const char *env, int on) {
    if (!env) return;
    char name[64];
    const char *eq = strchr(env, '=');
    CHECK(eq && eq - env < (int)sizeof name, "bad env '%s'", env);
    snprintf(name, sizeof name, "%.*s", (int)(eq - env), env);
    if (on) setenv(name, eq + 1, 1);
    else unsetenv(name);
    env_switches_reload(); /* the program reads its switches once */
}

static int only_row = -1;

static void run_rows(const char *backend, const Precision *precs, int n_precs, void *user) {
    (void)user;
    if (only_row < 0)
        for (int k = 0; k < n_precs; k++) compare_dropout_masks(backend, precs[k]);
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        const OpCase *c = &OPS[i];
        if ((only_row >= 0 && (size_t)only_row != i) || (c->only && strcmp(c->only, backend) != 0)) continue;
        Net net;
        build(&net, c);
        Precision run[2];
        int n = 0;
        char title[200], why[400];
        int B = c->max_batch ? c->max_batch : c->n;
        snprintf(title, sizeof title, "#%zu s%d n%d/%d %.72s", i, c->size, c->n, B, c->what ? c->what : c->layers);
        row_env(c->env, 1);
        for (int k = 0; k < n_precs; k++) {
            if (c->fp32_only && precs[k] != PRECISION_FP32) continue;
            /* the machine ran the backend at this precision a moment ago: a refusal now is the row's */
            int can = compare_can_run(backend, &net, precs[k], why, sizeof why);
            EXPECT(can == 1, "%s %s %s: %s", backend, precision_name(precs[k]), title, why);
            if (can == 1) run[n++] = precs[k];
        }
        if (n) {
            CompareOpts o = { .n = c->n, .max_batch = B, .grad_scale = c->grad_scale };
            compare_backend(backend, run, n, title, &net, &o);
        }
        row_env(c->env, 0);
    }
}

/* --- int8 (model/quant.h) --------------------------------------------------
 * Each row's net, quantized as alexnet quantize does (activation ranges
 * observed on the row's batch by the reference backend, min/max; weights
 * per output channel), twice: every conv / linear layer int8, and the first
 * and last kept fp32 (--fp32_layers first,last, where the row has three
 * weighted layers or more). The backend's eval logits against the ref
 * backend's int8 path on the same batch (n samples of a max_batch plan).
 * Both quantize the same fp32 input with the same loop, so the first
 * quantized layer's u8 input is identical and its outputs differ by at most
 * the rounding of the last multiply-add (oneDNN may fuse it, the reference
 * does not); a later layer can then see one input one u8 step apart at a
 * rounding tie, which moves the logits by about in_scale * |w| of that
 * input (<= 1e-3 of the logits' range on these rows, measured). Bound:
 * max 1e-2 of max|logit|; a wrong scale, zero point, layout or weight
 * format is O(1). The first row also compares the backend's int8 logits
 * with its fp32 run of the dequantized weights, which int8 must track
 * (L2 0.1: quantization noise, not a bug, but a swapped scale is O(1)). */
typedef struct {
    QuantObserver obs[NET_MAX_LAYERS];
} Calib;

static void observe_layer(void *user, int layer, const float *x, size_t n) {
    quant_observe_range(&((Calib *)user)->obs[layer], x, n);
}

static void logits_of(const char *backend, Precision prec, const Net *net, const QuantModel *q, const float *params,
                      const uint8_t *u8, int n, int B, float *logits, Calib *calib) {
    BackendOptions opt = { .precision = prec, .inference = 1, .quant = q, .seed = 1 };
    Backend be;
    Error err = { { 0 } };
    CHECK(backend_create(&be, backend, net, B, &opt, &err) == 0, "%s %s: %s", backend, precision_name(prec), err.msg);
    backend_set_params(&be, params);
    size_t floats = (size_t)B * 3 * net->image_size * net->image_size;
    float *in = xmalloc(floats * sizeof(float));
    compare_to_format(backend_input_format(&be), u8, in, n, net->image_size);
    ForwardArgs fa = { .train = 0, .observe = calib ? observe_layer : NULL, .observe_user = calib };
    backend_forward(&be, in, n, &fa);
    backend_read_logits(&be, logits, n);
    free(in);
    backend_destroy(&be);
}

static void int8_row(const char *backend, size_t row, const OpCase *c) {
    Net net;
    build(&net, c);
    int B = c->max_batch ? c->max_batch : c->n, n = c->n, S = c->size, K = net.num_classes;
    size_t P = net.param_count;
    float *params = xmalloc(P * sizeof(float));
    compare_init_params(&net, params, 11 + row);
    uint8_t *u8 = xmalloc((size_t)B * S * S * 3);
    int32_t *labels = xmalloc((size_t)B * sizeof(int32_t));
    compare_batch(u8, labels, B, S, K, 5, (int)row);
    float *want = xmalloc((size_t)B * K * sizeof(float)), *got = xmalloc((size_t)B * K * sizeof(float));
    Calib *calib = xcalloc(1, sizeof *calib);
    for (int i = 0; i < NET_MAX_LAYERS; i++) calib->obs[i].lo = 1e30, calib->obs[i].hi = -1e30;
    logits_of("ref", PRECISION_FP32, &net, NULL, params, u8, n, B, want, calib);
    int weighted[NET_MAX_LAYERS], nw = 0;
    for (int i = 0; i < net.n_layers; i++)
        if (net.layers[i].weight >= 0) weighted[nw++] = i;
    for (int keep = 0; keep < (nw >= 3 ? 2 : 1); keep++) {
        QuantModel q;
        memset(&q, 0, sizeof q);
        q.layers = net.n_layers;
        float *qparams = xmalloc(P * sizeof(float));
        memcpy(qparams, params, P * sizeof(float));
        for (int k = 0; k < nw; k++) {
            int i = weighted[k];
            if (keep && (k == 0 || k == nw - 1)) continue;
            q.int8[i] = 1;
            CHECK(quant_weights(&q, &net, i, params + net.params[net.layers[i].weight].offset, NULL) == 0,
                  "quant_weights");
            quant_range((float)calib->obs[i].lo, (float)calib->obs[i].hi, &q.in_scale[i], &q.in_zero[i]);
            quant_dequantize(&q, &net, i, qparams);
        }
        logits_of("ref", PRECISION_INT8, &net, &q, qparams, u8, n, B, want, NULL);
        logits_of(backend, PRECISION_INT8, &net, &q, qparams, u8, n, B, got, NULL);
        char what[240];
        snprintf(what, sizeof what, "int8%s #%zu s%d n%d/%d %.60s", keep ? " (first, last fp32)" : "", row, S, n, B,
                 c->what ? c->what : c->layers);
        Bound b = { .max_err = 1e-2 };
        compare_expect(what, got, want, (size_t)n * K, b);
        if (row == 0 && !keep) {
            logits_of(backend, PRECISION_FP32, &net, NULL, qparams, u8, n, B, want, NULL);
            Bound track = { .rel_l2 = 0.1 };
            snprintf(what, sizeof what, "int8 vs fp32 of the same weights #%zu", row);
            compare_expect(what, got, want, (size_t)n * K, track);
        }
        quant_free(&q);
        free(qparams);
    }
    free(calib);
    free(params);
    free(u8);
    free(labels);
    free(want);
    free(got);
}

static int int8_main(const char *backend) {
    Error why = { { 0 } };
    Net probe;
    OpCase pc = OP(9, "conv 8 3 1 1 1; relu; linear 5", 2);
    build(&probe, &pc);
    if (!backend_supports(backend, &probe, PRECISION_INT8, &why)) {
        if (strstr(why.msg, "VNNI")) return test_skip(why.msg); /* this CPU lacks it */
        fprintf(stderr, "FAIL: %s refuses int8: %s\n", backend, why.msg);
        return 1;
    }
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        const OpCase *c = &OPS[i];
        if ((only_row >= 0 && (size_t)only_row != i) || c->only) continue;
        int8_row(backend, i, c);
    }
    return test_summary("test_backend_ops int8: the backend's int8 path against ref's, op by op");
}

int main(int argc, char **argv) {
    if (argc > 3) only_row = atoi(argv[3]);
    if (argc > 4 || (argc > 3 && (only_row < 0 || only_row >= (int)(sizeof OPS / sizeof OPS[0])))) {
        fprintf(stderr, "usage: test_backend_ops [BACKEND [fp32|bf16|int8 [ROW]]]\n");
        return 2;
    }
    if (argc > 2 && strcmp(argv[2], "int8") == 0) return int8_main(argv[1]);
    /* a net every backend runs, to ask what this machine lacks */
    Net probe;
    OpCase pc = OP(9, "conv 8 3 1 1 1; relu; linear 5", 2);
    build(&probe, &pc);
    CompareRuns runs = { 0 };
    if (compare_each_backend(&runs, argc > 1 ? argv[1] : NULL, argc > 2 ? argv[2] : NULL, &probe, run_rows, NULL))
        return 2;
    return compare_finish(&runs, "test_backend_ops: every backend against ref, op by op");
}
