/*
 * test_dnnl_ops.c — the oneDNN backend against the reference backend, op by
 * op, on small custom nets built with net_begin/net_add_* (a conv first so
 * every op's input gradient feeds a parameter gradient, a linear layer last).
 * Each net runs 2 training steps (dropout on) and is compared in full by
 * compare_backends() (test_dnnl_compare.h states the tolerances): logits,
 * loss, all gradients, momentum and parameters.
 *
 * Shapes cover odd sizes and channel counts that are not multiples of the
 * blocked formats' 8/16 (padding), strided and grouped convolutions, maxpool
 * 3/2 and 2/2 on odd and even inputs, LRN of odd sizes (oneDNN) and even
 * sizes (own code: oneDNN's window differs), adaptive average pooling that
 * replicates (1->6, 5->6), averages overlapping windows (13->6, 7->2),
 * averages regular windows (12->6) or is the identity (6->6), dropout on
 * blocked and plain activations, standalone and fused ReLU, and a partial
 * batch (n < max_batch).
 *
 * `test_dnnl_ops bf16` runs the same nets with the oneDNN side in bf16
 * (its convolutions and hidden linear layers; the logits layer stays fp32)
 * against the fp32 reference, by relative L2 error (test_dnnl_compare.h
 * states TOL_BF16 and why), and checks that the first convolution really
 * computed in bf16 where the CPU has native bf16.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/dnnl/dnnl_ops.h"
#include "test_dnnl_compare.h"

static Precision precision = PRECISION_FP32;

static CompareOpts opts(int n, int max_batch) {
    CompareOpts o = { n, max_batch, 2, 2, 1.0f, precision };
    return o;
}

static void run(Net *net, const char *title, int n, int max_batch) {
    CompareOpts o = opts(n, max_batch);
    compare_backends(title, net, &o);
}

static void conv_cases(void) {
    Net net;
    int cases[][6] = {
        /* size, out_c, k, stride, pad, groups */
        { 9, 8, 3, 1, 1, 1 },  { 13, 7, 5, 2, 2, 1 }, { 67, 16, 11, 4, 2, 1 },
        { 10, 6, 3, 1, 0, 3 }, { 11, 5, 1, 1, 0, 1 }, { 8, 20, 4, 3, 1, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int *c = cases[i];
        char t[64];
        snprintf(t, sizeof t, "conv s%d oc%d k%d st%d p%d g%d", c[0], c[1], c[2], c[3], c[4], c[5]);
        net_begin(&net, "t", 5, c[0]);
        net_add_conv(&net, c[1], c[2], c[3], c[4], c[5]);
        net_add_linear(&net, 5);
        run(&net, t, 3, 3);
    }
    /* a second conv: input gradients of the first, groups on blocked input, odd channels */
    net_begin(&net, "t", 4, 11);
    net_add_conv(&net, 12, 3, 1, 1, 1);
    net_add_relu(&net);
    net_add_conv(&net, 18, 3, 1, 1, 2);
    net_add_relu(&net);
    net_add_conv(&net, 7, 3, 2, 1, 1);
    net_add_linear(&net, 4);
    run(&net, "conv chain groups=2, oc 7", 2, 2);
    net_begin(&net, "t", 4, 12);
    net_add_conv(&net, 96, 5, 2, 2, 1);
    net_add_relu(&net);
    net_add_conv(&net, 64, 3, 1, 1, 2);
    net_add_relu(&net);
    net_add_linear(&net, 4);
    run(&net, "conv 96 -> 64 groups=2", 2, 2);
}

static void pool_cases(void) {
    Net net;
    int sizes[] = { 15, 16 };
    for (int i = 0; i < 2; i++) {
        char t[64];
        snprintf(t, sizeof t, "conv-relu-maxpool3/2 s%d", sizes[i]);
        net_begin(&net, "t", 6, sizes[i]);
        net_add_conv(&net, 10, 3, 1, 1, 1);
        net_add_relu(&net);
        net_add_maxpool(&net, 3, 2);
        net_add_linear(&net, 6);
        run(&net, t, 3, 3);
    }
    net_begin(&net, "t", 6, 11);
    net_add_conv(&net, 16, 3, 1, 0, 1);
    net_add_maxpool(&net, 2, 2);
    net_add_relu(&net);
    net_add_linear(&net, 6);
    run(&net, "conv-maxpool2/2-relu (standalone relu)", 3, 3);
}

static void lrn_cases(void) {
    Net net;
    int sizes[] = { 5, 3, 4, 2 };
    for (int i = 0; i < 4; i++) {
        char t[64];
        snprintf(t, sizeof t, "lrn size %d", sizes[i]);
        net_begin(&net, "t", 5, 9);
        net_add_conv(&net, 21, 3, 1, 1, 1);
        net_add_relu(&net);
        net_add_lrn(&net, sizes[i], 0.2f, 0.75f, 2.0f);
        net_add_linear(&net, 5);
        run(&net, t, 2, 2);
    }
}

static void avgpool_cases(void) {
    int cases[][4] = { { 5, 6, 6, 3 }, { 13, 6, 6, 3 }, { 7, 2, 2, 3 }, { 12, 6, 6, 3 },
                       { 6, 6, 6, 3 }, { 1, 6, 6, 3 },  { 9, 4, 3, 3 } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int *c = cases[i];
        Net net;
        char t[64];
        snprintf(t, sizeof t, "avgpool %d -> %dx%d", c[0], c[1], c[2]);
        net_begin(&net, "t", 4, c[0] + 2);
        net_add_conv(&net, 17, 3, 1, 0, 1);
        net_add_relu(&net);
        net_add_avgpool(&net, c[1], c[2]);
        net_add_linear(&net, 4);
        run(&net, t, c[3], c[3]);
    }
}

static void dropout_cases(void) {
    Net net;
    net_begin(&net, "t", 5, 9);
    net_add_conv(&net, 13, 3, 1, 1, 1);
    net_add_relu(&net);
    net_add_dropout(&net, 0.5f);
    net_add_linear(&net, 5);
    run(&net, "dropout on a blocked conv output", 3, 3);
    net_begin(&net, "t", 5, 9);
    net_add_conv(&net, 8, 3, 2, 1, 1);
    net_add_relu(&net);
    net_add_maxpool(&net, 3, 2);
    net_add_avgpool(&net, 3, 3);
    net_section(&net, "classifier");
    net_add_dropout(&net, 0.35f);
    net_add_linear(&net, 33);
    net_add_relu(&net);
    net_add_dropout(&net, 0.5f);
    net_add_linear(&net, 5);
    run(&net, "classifier: dropout-linear-relu-dropout", 4, 4);
}

/* Every kind of layer, then n < max_batch (eval's last partial batch, and training on it). */
static void partial_batch_cases(void) {
    Net net;
    net_begin(&net, "t", 7, 35);
    net_add_conv(&net, 24, 5, 2, 2, 1);
    net_add_relu(&net);
    net_add_lrn(&net, 5, 1e-2f, 0.75f, 2.0f);
    net_add_maxpool(&net, 3, 2);
    net_add_conv(&net, 32, 3, 1, 1, 2);
    net_add_relu(&net);
    net_add_maxpool(&net, 3, 2);
    net_add_avgpool(&net, 6, 6);
    net_section(&net, "classifier");
    net_add_dropout(&net, 0.5f);
    net_add_linear(&net, 40);
    net_add_relu(&net);
    net_add_linear(&net, 7);
    run(&net, "all ops, full batch 5", 5, 5);
    run(&net, "all ops, n=3 of max_batch 5", 3, 5);
    /* bf16: one sample leaves ~100 live ReLU outputs, so each bf16 flip moves
     * the gradient by ~10% and the bound means little; the padding logic is
     * the same code in both precisions and is checked here in fp32 */
    if (precision == PRECISION_FP32) run(&net, "all ops, n=1 of max_batch 5", 1, 5);
    CompareOpts o = opts(4, 4);
    o.grad_scale = 0.5f;
    compare_backends("all ops, grad_buffer scaled in place", &net, &o);
}

/* dnnl_s2d_input, which writes the first convolution's input: plain fp32
 * against the definition in dnnl_ops.h (exact), every blocked layout against
 * the plain one re-indexed (fp32 exact; bf16 within half a bf16 ulp, 2^-8
 * relative, and exactly 0 where the plain value is), padding samples zero. */
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

/* bf16 runs: the first conv and a hidden linear layer report bf16, the logits layer fp32. */
static void bf16_plan_check(void) {
    Net net;
    net_begin(&net, "t", 5, 9);
    net_add_conv(&net, 16, 3, 1, 1, 1);
    net_add_relu(&net);
    net_add_linear(&net, 20);
    net_add_relu(&net);
    net_add_linear(&net, 5);
    BackendOptions bo = { 2, 0, PRECISION_BF16, 1, 0 };
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

int main(int argc, char **argv) {
    if (!dnnl_built()) {
        printf("SKIP: this build has no dnnl backend\n");
        return SKIP_NO_DNNL;
    }
    if (argc > 1 && strcmp(argv[1], "bf16") == 0) {
        if (backend_auto_precision("dnnl", NULL) != PRECISION_BF16) {
            printf("SKIP: this CPU (or ONEDNN_MAX_CPU_ISA) has no native bf16\n");
            return SKIP_NO_DNNL;
        }
        precision = PRECISION_BF16;
        bf16_plan_check();
    }
    s2d_input_cases();
    conv_cases();
    pool_cases();
    lrn_cases();
    avgpool_cases();
    dropout_cases();
    partial_batch_cases();
    return test_summary(precision == PRECISION_BF16 ? "dnnl bf16 vs ref fp32, op by op" : "dnnl vs ref, op by op");
}
