/*
 * test_freeze.c — fine-tuning's trainable set (net_set_training) on every
 * backend built (ref, and dnnl and cuda when built; cuda is skipped, saying
 * so, on a machine without a GPU):
 *  1. --freeze features / backbone: the trained tensors' gradients are
 *     bit-identical to the unfrozen net's (they depend only on the layers
 *     above, which run the same code), the frozen ones stay zero, and the
 *     ready hook fires exactly once for each trained tensor and never for a
 *     frozen one (data-parallel training all-reduces what it names);
 *  2. SGD: frozen tensors keep their values and momentum bit for bit; trained
 *     ones follow v = m v + g + wd w, w -= lr * lr_scale * v (relative error
 *     <= 1e-6: the same float operations, up to the compiler's contraction of
 *     the multiply-add);
 *  3. the bookkeeping: trained parameter count, backward MACs, bad names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend_compare.h"
#include "harness.h"
#include "model/net.h"

/* features: conv-relu-pool-conv-relu-avgpool; classifier: dropout-linear-relu-linear */
static void tiny_net(Net *net) {
    net_begin(net, "tiny", 5, 32);
    net_add_conv(net, 8, 5, 2, 2, 1);
    net_add_relu(net);
    net_add_maxpool(net, 3, 2);
    net_add_conv(net, 16, 3, 1, 1, 1);
    net_add_relu(net);
    net_add_avgpool(net, 2, 2);
    net_section(net, "classifier");
    net_add_dropout(net, 0.5f);
    net_add_linear(net, 32);
    net_add_relu(net);
    net_add_linear(net, 5);
}

typedef struct {
    int calls[NET_MAX_PARAMS];
} ReadyLog;

static void log_ready(void *user, int param) { ((ReadyLog *)user)->calls[param]++; }

enum { B = 4 };

/* One forward + backward from params; grads out. */
static void step_grads(Backend *be, const Net *net, const float *params, float *grads, ReadyLog *log) {
    const int S = 32;
    uint8_t u8[B * 3 * 32 * 32];
    float x[B * 3 * 32 * 32];
    int32_t labels[B];
    CHECK(net->image_size == S, "input buffer");
    compare_batch(u8, labels, B, S, net->num_classes, 3, 0);
    compare_to_format(backend_input_format(be), u8, x, B, S);
    backend_set_params(be, params);
    ForwardArgs fa = { 1, 7, 0, NULL, NULL };
    backend_forward(be, x, B, &fa);
    LossArgs lo = { .smoothing = 0.1f, .form = SMOOTH_SEED, .global_batch = 0 };
    backend_backward(be, labels, B, &lo, log ? log_ready : NULL, log);
    backend_get_grads(be, grads);
}

static int all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}

static void check_backend(const char *backend, const char *freeze, double scale) {
    Net plain, frozen;
    Error err = { { 0 } };
    tiny_net(&plain);
    tiny_net(&frozen);
    CHECK(net_set_training(&frozen, freeze, scale, &err) == 0, "%s", err.msg);
    size_t P = plain.param_count;
    float *params = xmalloc(P * sizeof(float)), *g0 = xmalloc(P * sizeof(float)), *g1 = xmalloc(P * sizeof(float));
    float *mom = xmalloc(P * sizeof(float)), *w1 = xmalloc(P * sizeof(float)), *v1 = xmalloc(P * sizeof(float));
    fill_uniform(params, P, 1, 0, -0.2f, 0.2f);
    fill_uniform(mom, P, 2, 0, -0.01f, 0.01f);

    BackendOptions bo = { 2, 0, PRECISION_FP32, 5, 0, NULL };
    Backend be0, be1;
    CHECK(backend_create(&be0, backend, &plain, B, &bo, &err) == 0, "%s", err.msg);
    CHECK(backend_create(&be1, backend, &frozen, B, &bo, &err) == 0, "%s", err.msg);
    step_grads(&be0, &plain, params, g0, NULL);
    ReadyLog log = { { 0 } };
    step_grads(&be1, &frozen, params, g1, &log);

    for (int t = 0; t < frozen.n_params; t++) {
        const ParamTensor *p = &frozen.params[t];
        const float *a = g1 + p->offset, *b = g0 + p->offset;
        if (p->frozen) {
            EXPECT(all_zero(a, p->numel), "%s --freeze %s: %s is frozen, its gradient must stay zero", backend, freeze,
                   p->name);
            EXPECT(log.calls[t] == 0, "%s --freeze %s: ready() called %d times for frozen %s", backend, freeze,
                   log.calls[t], p->name);
        } else {
            EXPECT(memcmp(a, b, p->numel * sizeof(float)) == 0,
                   "%s --freeze %s: %s's gradient differs from the unfrozen net's", backend, freeze, p->name);
            EXPECT(!all_zero(a, p->numel), "%s --freeze %s: %s trains but has no gradient", backend, freeze, p->name);
            EXPECT(log.calls[t] == 1, "%s --freeze %s: ready() called %d times for %s", backend, freeze, log.calls[t],
                   p->name);
        }
    }

    /* the optimizer: from params and momentum mom with the gradients g1 */
    backend_set_momentum(&be1, mom);
    SgdArgs sa = { 0.05f, 0.9f, 1e-3f };
    backend_sgd_update(&be1, &sa);
    backend_get_params(&be1, w1);
    backend_get_momentum(&be1, v1);
    for (int t = 0; t < frozen.n_params; t++) {
        const ParamTensor *p = &frozen.params[t];
        size_t o = p->offset;
        if (p->frozen) {
            EXPECT(memcmp(w1 + o, params + o, p->numel * sizeof(float)) == 0 &&
                       memcmp(v1 + o, mom + o, p->numel * sizeof(float)) == 0,
                   "%s --freeze %s: frozen %s changed in the optimizer step", backend, freeze, p->name);
            continue;
        }
        float *want_w = xmalloc(p->numel * sizeof(float)), *want_v = xmalloc(p->numel * sizeof(float));
        float wd = p->decay ? sa.weight_decay : 0.0f, lr = sa.lr * p->lr_scale;
        for (size_t i = 0; i < p->numel; i++) {
            want_v[i] = sa.momentum * mom[o + i] + (g1[o + i] + wd * params[o + i]);
            want_w[i] = params[o + i] - lr * want_v[i];
        }
        char name[96];
        snprintf(name, sizeof name, "%s --freeze %s x%g: %s after SGD", backend, freeze, scale, p->name);
        expect_tensor_close(name, w1 + o, want_w, p->numel, 1e-6);
        expect_tensor_close(name, v1 + o, want_v, p->numel, 1e-6);
        free(want_w);
        free(want_v);
    }
    backend_destroy(&be0);
    backend_destroy(&be1);
    free(params);
    free(g0);
    free(g1);
    free(mom);
    free(w1);
    free(v1);
}

static void bookkeeping(void) {
    Net n;
    Error err = { { 0 } };
    tiny_net(&n);
    double all = net_backward_macs(&n);
    EXPECT(net_set_training(&n, "none", 1.0, &err) == 0 && net_trained_count(&n) == n.param_count, "none trains all");
    EXPECT(net_backward_macs(&n) == all, "none: the whole backward");
    /* everything trained: 2x forward MACs but the first layer's input gradient */
    EXPECT(fabs(all - (2 * net_forward_macs(&n) - layer_forward_macs(&n.layers[0]))) < 1, "backward MACs %g", all);

    EXPECT(net_set_training(&n, "features", 0.5, &err) == 0, "%s", err.msg);
    size_t head = n.params[n.n_params - 1].numel + n.params[n.n_params - 2].numel;
    size_t fc = n.params[n.n_params - 3].numel + n.params[n.n_params - 4].numel;
    EXPECT(net_trained_count(&n) == head + fc, "features: the classifier trains (%zu)", net_trained_count(&n));
    EXPECT(n.params[0].frozen && !n.params[n.n_params - 3].frozen, "features: conv frozen, linear not");
    EXPECT(n.params[n.n_params - 3].lr_scale == 0.5f && n.params[n.n_params - 1].lr_scale == 1.0f,
           "the scale applies to all but the head");
    /* only the two linear layers' weight gradients, and the first linear's upper input gradient... none below */
    const Layer *fc1 = &n.layers[n.params[n.n_params - 4].layer], *fc2 = &n.layers[n.n_layers - 1];
    double want = layer_forward_macs(fc1) + 2 * layer_forward_macs(fc2);
    EXPECT(fabs(net_backward_macs(&n) - want) < 1, "features: backward MACs %g, want %g", net_backward_macs(&n), want);

    EXPECT(net_set_training(&n, "backbone", 1.0, &err) == 0 && net_trained_count(&n) == head, "backbone: head only");
    EXPECT(fabs(net_backward_macs(&n) - layer_forward_macs(fc2)) < 1, "backbone: only the head's weight gradient");

    err.msg[0] = '\0';
    EXPECT(net_set_training(&n, "classifier", 1.0, &err) == -1 && strstr(err.msg, "--freeze classifier"),
           "an unknown --freeze is named: %s", err.msg);
    EXPECT(net_set_training(&n, "none", -1.0, &err) == -1 && strstr(err.msg, "--lr_backbone_scale"),
           "a negative scale is refused: %s", err.msg);
    EXPECT(net_set_training(&n, "none", NAN, &err) == -1, "a NaN scale is refused");
}

int main(void) {
    bookkeeping();
    /* every backend built: skipped only for what this machine lacks (no GPU) */
    for (int b = 0; backend_name_at(b); b++) {
        const char *backend = backend_name_at(b);
        Net n;
        tiny_net(&n);
        char why[400];
        int can = compare_can_run(backend, &n, PRECISION_FP32, why, sizeof why);
        if (can == 0) {
            printf("%s: skipped: %s\n", backend, why);
            continue;
        }
        EXPECT(can == 1, "%s", why);
        if (can != 1) continue;
        check_backend(backend, "none", 0.25);
        check_backend(backend, "features", 1.0);
        check_backend(backend, "features", 0.1);
        check_backend(backend, "backbone", 0.0);
    }
    return test_summary("test_freeze");
}
