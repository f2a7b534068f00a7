/*
 * test_net.c — the presets' shapes, parameter table, cost and
 * initialisation, the dropout mask's statistics and the SGD update.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/backend_host.h"
#include "harness.h"
#include "model/net.h"

static void test_torchvision_geometry(void) {
    Net net;
    Error err;
    EXPECT(net_build(&net, "alexnet", 1000, 224, -1, &err) == 0, "%s", err.msg);
    EXPECT(net.param_count == 61100840, "param count %zu", net.param_count);
    EXPECT(fabs(net_forward_macs(&net) - 714.2e6) < 0.1e6, "forward MACs %.1fM", net_forward_macs(&net) / 1e6);
    const char *names[] = { "features.0.weight",   "features.0.bias",   "features.3.weight",   "features.3.bias",
                            "features.6.weight",   "features.6.bias",   "features.8.weight",   "features.8.bias",
                            "features.10.weight",  "features.10.bias",  "classifier.1.weight", "classifier.1.bias",
                            "classifier.4.weight", "classifier.4.bias", "classifier.6.weight", "classifier.6.bias" };
    EXPECT(net.n_params == 16, "n_params %d", net.n_params);
    for (int i = 0; i < 16 && i < net.n_params; i++)
        EXPECT(strcmp(net.params[i].name, names[i]) == 0, "param %d is %s, expected %s", i, net.params[i].name,
               names[i]);
    EXPECT(net.params[0].shape[0] == 64 && net.params[0].shape[1] == 3 && net.params[0].shape[2] == 11, "conv1 OIHW");
    EXPECT(net.params[10].shape[0] == 4096 && net.params[10].shape[1] == 9216, "fc1 [out, in]");
    EXPECT(fabsf(net.dropout - 0.35f) < 1e-7f, "seed dropout 0.35");
    EXPECT(net.params[1].decay == 0 && net.params[0].decay == 1, "no decay on biases");
    /* 63 px is the smallest input; the adaptive pool then replicates 1x1 to 6x6 */
    EXPECT(net_build(&net, "alexnet", 10, 63, -1, &err) == 0, "%s", err.msg);
    EXPECT(net_build(&net, "alexnet", 10, 62, -1, &err) != 0, "62 px accepted");
    EXPECT(net_build(&net, "vgg", 10, 224, -1, &err) != 0, "unknown backbone accepted");
    EXPECT(strstr(err.msg, "vgg") != NULL, "message names the backbone: %s", err.msg);
    EXPECT(net_build(&net, "alexnet_torchvision", 10, 224, -1, &err) == 0 && fabsf(net.dropout - 0.5f) < 1e-7f,
           "tv dropout");
}

static void test_2012(void) {
    Net net;
    Error err;
    EXPECT(net_build(&net, "alexnet_2012", 1000, 224, -1, &err) == 0, "%s", err.msg);
    int lrn = 0, grouped = 0;
    for (int i = 0; i < net.n_layers; i++) {
        lrn += net.layers[i].kind == LAYER_LRN;
        grouped += net.layers[i].kind == LAYER_CONV && net.layers[i].groups == 2;
    }
    EXPECT(lrn == 2 && grouped == 3, "lrn %d grouped convs %d", lrn, grouped);
    EXPECT(net.params[0].shape[0] == 96 && net.params[2].shape[1] == 48, "96 channels; conv2 sees 96/2");
    /* recipe.md: 724 M multiply-adds at 224 for the original network */
    EXPECT(fabs(net_forward_macs(&net) - 724e6) < 10e6, "2012 MACs %.1fM", net_forward_macs(&net) / 1e6);
}

static void test_init(void) {
    Net net;
    Error err;
    net_build(&net, "alexnet", 10, 224, -1, &err);
    float *p = xmalloc(net.param_count * sizeof(float)), *q = xmalloc(net.param_count * sizeof(float));
    net_init_params(&net, p, 5);
    net_init_params(&net, q, 5);
    EXPECT(memcmp(p, q, net.param_count * sizeof(float)) == 0, "init is a function of the seed");
    /* conv1: Kaiming-normal fan_out = 64*11*11 -> std sqrt(2/7744) = 0.01607 */
    const ParamTensor *w = &net.params[0];
    double s2 = 0, m = 0;
    for (size_t i = 0; i < w->numel; i++) {
        m += p[w->offset + i];
        s2 += (double)p[w->offset + i] * p[w->offset + i];
    }
    m /= (double)w->numel;
    double sd = sqrt(s2 / (double)w->numel - m * m);
    EXPECT(fabs(sd - sqrt(2.0 / 7744)) < 0.03 * sqrt(2.0 / 7744), "conv1 std %.5f", sd);
    const ParamTensor *fc = &net.params[10];
    s2 = 0;
    for (size_t i = 0; i < fc->numel; i++) s2 += (double)p[fc->offset + i] * p[fc->offset + i];
    EXPECT(fabs(sqrt(s2 / (double)fc->numel) - 0.01) < 1e-4, "fc std %.5f", sqrt(s2 / (double)fc->numel));
    EXPECT(p[net.params[1].offset] == 0.0f, "bias 0");
    /* torchvision default: U(+-1/sqrt(fan_in)) for weights and biases */
    net_build(&net, "alexnet_torchvision", 10, 224, -1, &err);
    net_init_params(&net, p, 5);
    float bound = 1.0f / sqrtf(3 * 121), mx = 0;
    for (size_t i = 0; i < net.params[0].numel; i++) mx = fmaxf(mx, fabsf(p[i]));
    EXPECT(mx <= bound && mx > 0.95f * bound, "tv conv1 max %.5f bound %.5f", mx, bound);
    free(p);
    free(q);
}

static void test_dropout_mask(void) {
    const size_t N = 1000000;
    DropoutKey key = { 2024, 17, 0, 3, 0.35f };
    size_t dropped = 0;
    for (size_t i = 0; i < N; i++) dropped += !dropout_keep(&key, i);
    double p = 0.35, sigma = sqrt(N * p * (1 - p));
    EXPECT(fabs((double)dropped - N * p) < 3 * sigma, "dropped %zu of %zu (expect %.0f +- %.0f)", dropped, N, N * p,
           3 * sigma);
    /* same key, same mask; another step, another mask */
    float *x = xmalloc(4096 * sizeof(float)), *a = xmalloc(4096 * sizeof(float)), *b = xmalloc(4096 * sizeof(float));
    fill_uniform(x, 4096, 1, 1, 0.5f, 1.0f);
    dropout_forward(a, x, 4, 1024, &key);
    dropout_forward(b, x, 4, 1024, &key);
    EXPECT(memcmp(a, b, 4096 * sizeof(float)) == 0, "same key gives the same mask");
    DropoutKey other = key;
    other.step = 18;
    dropout_forward(b, x, 4, 1024, &other);
    EXPECT(memcmp(a, b, 4096 * sizeof(float)) != 0, "another step gives another mask");
    /* the mask of sample s is keyed by its global index: a batch of 2 at
     * sample_offset 2 equals the second half of a batch of 4 */
    DropoutKey half = key;
    half.sample_offset = 2;
    dropout_forward(b, x + 2048, 2, 1024, &half);
    EXPECT(memcmp(a + 2048, b, 2048 * sizeof(float)) == 0, "mask keyed by global sample index");
    /* every element is the scalar definition dropout_keep() of its global
     * index, for sample sizes and offsets that start and end blocks of 4 and
     * the 64-element groups dropout_forward generates together anywhere; and
     * backward adds the same mask's kept values */
    const size_t feats[] = { 1, 3, 5, 63, 64, 65, 130, 1021 };
    for (size_t k = 0; k < sizeof feats / sizeof feats[0]; k++) {
        size_t F = feats[k];
        int n = (int)(4096 / F < 3 ? 4096 / F : 3);
        DropoutKey ko = key;
        ko.sample_offset = 1 + k;
        dropout_forward(a, x, n, F, &ko);
        for (size_t i = 0; i < (size_t)n * F; i++) b[i] = 1.0f;
        dropout_backward(b, x, n, F, &ko);
        int bad = 0;
        for (size_t i = 0; i < (size_t)n * F; i++) {
            int keep = dropout_keep(&ko, (ko.sample_offset + i / F) * F + i % F);
            float want = keep ? x[i] * (1.0f / (1.0f - ko.p)) : 0.0f;
            bad += a[i] != want || b[i] != 1.0f + want;
        }
        EXPECT(bad == 0, "dropout of %zu features at sample offset %zu: %d elements differ from dropout_keep", F,
               (size_t)ko.sample_offset, bad);
    }
    free(x);
    free(a);
    free(b);
}

/* Eval mode is the identity: a backend forward with train=0 equals train=1 with p = 0. */
static void test_dropout_eval_identity(void) {
    Net net, net0;
    Error err;
    net_build(&net, "alexnet", 5, 63, 0.35f, &err);
    net_build(&net0, "alexnet", 5, 63, 0.0f, &err);
    BackendOptions opt = { 0 };
    Backend a, b;
    EXPECT(backend_create(&a, "ref", &net, 2, &opt, &err) == 0, "%s", err.msg);
    EXPECT(backend_create(&b, "ref", &net0, 2, &opt, &err) == 0, "%s", err.msg);
    float *p = xmalloc(net.param_count * sizeof(float));
    net_init_params(&net, p, 3);
    backend_set_params(&a, p);
    backend_set_params(&b, p);
    size_t in = 2 * 3 * 63 * 63;
    float *x = xmalloc(in * sizeof(float)), la[10], lb[10], lc[10];
    fill_uniform(x, in, 1, 2, -1, 1);
    ForwardArgs eval = { 0, 5, 0, NULL, NULL }, train = { 1, 5, 0, NULL, NULL };
    backend_forward(&a, x, 2, &eval);
    backend_read_logits(&a, la, 2);
    backend_forward(&b, x, 2, &train);
    backend_read_logits(&b, lb, 2);
    EXPECT(memcmp(la, lb, sizeof la) == 0, "eval-mode dropout is the identity");
    backend_forward(&a, x, 2, &train);
    backend_read_logits(&a, lc, 2);
    EXPECT(memcmp(la, lc, sizeof la) != 0, "train-mode dropout changes the logits");
    backend_destroy(&a);
    backend_destroy(&b);
    free(p);
    free(x);
}

static void test_sgd(void) {
    Net net;
    Error err;
    net_begin(&net, "tiny", 2, 63);
    net_add_avgpool(&net, 1, 1);
    net_add_linear(&net, 2);
    float w[8] = { 1, -2, 3, 0.5f, 0, 0, 0.25f, -1 }; /* weight [2,3], bias [2] */
    float g[8] = { 0.1f, 0.2f, -0.3f, 0, 1, -1, 0.5f, 0.5f };
    float v[8] = { 0 };
    SgdArgs a = { 0.1f, 0.9f, 0.01f };
    sgd_update_host(&net, w, g, v, &a, NULL);
    /* weights: v = g + wd*w ; w -= lr*v */
    EXPECT_NEAR(v[0], 0.1 + 0.01 * 1, 1e-7);
    EXPECT_NEAR(w[0], 1 - 0.1 * (0.1 + 0.01), 1e-7);
    /* bias (index 6): no decay */
    EXPECT_NEAR(v[6], 0.5, 1e-7);
    EXPECT_NEAR(w[6], 0.25 - 0.05, 1e-7);
    float v0 = v[1], w1 = w[1], w2[8], v2[8];
    memcpy(w2, w, sizeof w);
    memcpy(v2, v, sizeof v);
    /* the same step refreshing a bf16 copy of the weight: same fp32 results, copy = bf16_round(w) */
    uint16_t copy[6] = { 0 };
    uint16_t *copies[NET_MAX_PARAMS] = { copy, NULL };
    sgd_update_host(&net, w, g, v, &a, NULL);
    sgd_update_host(&net, w2, g, v2, &a, copies);
    EXPECT_NEAR(v[1], 0.9 * v0 + 0.2 + 0.01 * w1, 1e-7);
    EXPECT(memcmp(w, w2, sizeof w) == 0 && memcmp(v, v2, sizeof v) == 0,
           "sgd with a bf16 copy changed the fp32 update");
    int same = 1;
    for (int i = 0; i < 6; i++) same &= copy[i] == bf16_round(w2[i]);
    EXPECT(same, "sgd's bf16 copy is not the rounded weights");
    uint32_t u = (uint32_t)copy[0] << 16;
    float c0;
    memcpy(&c0, &u, sizeof c0);
    EXPECT_NEAR(c0, w2[0], fabs(w2[0]) * 0x1p-8);
    (void)err;
}

int main(void) {
    test_torchvision_geometry();
    test_2012();
    test_init();
    test_dropout_mask();
    test_dropout_eval_identity();
    test_sgd();
    return test_summary("net");
}
