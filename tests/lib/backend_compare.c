/*
 * backend_compare.c — one backend against another, side by side (the
 * protocol and the tolerance table are described in backend_compare.h).
 */
#include "backend_compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "harness.h"
#ifdef ALEXNET_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

/* --- the tolerance table --------------------------------------------------- */

#define MAX(x) \
    { x, 0 }
#define L2(x) \
    { 0, x }
#define CUDA_BF16 \
    { 0.15, 3e-2 }

typedef struct {
    const char *backend; /* NULL: every backend without a row of its own */
    TolColumn col;
    Quantity q;
    Bound b;
} TolRow;

/* backend_compare.h gives the reasoning for every number. */
static const TolRow TOLERANCES[] = {
    /* fp32: both sides fp32, only the summation order differs */
    { NULL, COL_FP32, Q_OUT, MAX(1e-4) },
    { NULL, COL_FP32, Q_LATER, MAX(1e-4) },
    { NULL, COL_FP32, Q_GRAD, MAX(1e-4) },
    { NULL, COL_FP32, Q_WEIGHT, MAX(1e-5) },
    { NULL, COL_FP32, Q_BIAS, MAX(1e-5) },
    { NULL, COL_FP32, Q_TRACK, MAX(1e-3) },
    /* fp32 on large maps: single ReLU decisions within fp32 rounding of zero */
    { NULL, COL_FP32_WIDE, Q_OUT, MAX(1e-4) },
    { NULL, COL_FP32_WIDE, Q_LATER, MAX(1e-4) },
    { NULL, COL_FP32_WIDE, Q_GRAD, L2(1e-2) },
    { NULL, COL_FP32_WIDE, Q_WEIGHT, L2(1e-2) },
    { NULL, COL_FP32_WIDE, Q_BIAS, L2(1e-2) },
    { NULL, COL_FP32_WIDE, Q_TRACK, MAX(1e-3) },
    /* bf16 against the fp32 reference, nets without ReLU or max-pool decisions */
    { NULL, COL_BF16, Q_OUT, L2(2e-2) },
    { NULL, COL_BF16, Q_LATER, L2(2e-2) },
    { NULL, COL_BF16, Q_GRAD, L2(2e-2) },
    { NULL, COL_BF16, Q_WEIGHT, L2(5e-3) },
    { NULL, COL_BF16, Q_BIAS, L2(5e-3) },
    { NULL, COL_BF16, Q_TRACK, MAX(5e-2) },
    /* bf16 through ReLU / max-pool decisions that bf16 rounding flips */
    { NULL, COL_BF16_FLIPS, Q_OUT, L2(2e-2) },
    { NULL, COL_BF16_FLIPS, Q_LATER, L2(0.2) },
    { NULL, COL_BF16_FLIPS, Q_GRAD, L2(0.5) },
    { NULL, COL_BF16_FLIPS, Q_WEIGHT, L2(0.2) },
    { NULL, COL_BF16_FLIPS, Q_BIAS, L2(0.2) },
    { NULL, COL_BF16_FLIPS, Q_TRACK, MAX(5e-2) },
    /* cuda: its former tests' bounds, until a GPU run measures its own */
    { "cuda", COL_FP32, Q_WEIGHT, MAX(1e-4) },
    { "cuda", COL_FP32, Q_BIAS, MAX(1e-4) },
    { "cuda", COL_BF16, Q_OUT, CUDA_BF16 },
    { "cuda", COL_BF16, Q_LATER, CUDA_BF16 },
    { "cuda", COL_BF16, Q_GRAD, CUDA_BF16 },
    { "cuda", COL_BF16, Q_WEIGHT, CUDA_BF16 },
    { "cuda", COL_BF16, Q_BIAS, CUDA_BF16 },
    { "cuda", COL_BF16_FLIPS, Q_OUT, CUDA_BF16 },
    { "cuda", COL_BF16_FLIPS, Q_LATER, L2(0.1) },
    { "cuda", COL_BF16_FLIPS, Q_WEIGHT, CUDA_BF16 },
    { "cuda", COL_BF16_FLIPS, Q_BIAS, L2(0.5) },
};

TolColumn compare_column(Precision p, const Net *net, int wide) {
    if (p == PRECISION_BF16) return compare_net_has_decisions(net) ? COL_BF16_FLIPS : COL_BF16;
    return wide ? COL_FP32_WIDE : COL_FP32;
}

Bound compare_bound(const char *backend, TolColumn c, Quantity q) {
    const TolRow *generic = NULL;
    for (size_t i = 0; i < sizeof TOLERANCES / sizeof TOLERANCES[0]; i++) {
        const TolRow *r = &TOLERANCES[i];
        if (r->col != c || r->q != q) continue;
        if (r->backend && backend && strcmp(r->backend, backend) == 0) return r->b;
        if (!r->backend) generic = r;
    }
    CHECK(generic, "tolerance table: no bound for column %d, quantity %d", (int)c, (int)q);
    return generic->b;
}

/* --- checks ----------------------------------------------------------------- */

/* The tightest check of a comparison's side: the largest error / bound. */
typedef struct {
    double ratio, err, bound;
    char what[512];
} Tightest;

static Tightest *current; /* the side being checked, or NULL */

static void note(const char *what, double err, double bound) {
    Tightest *t = current;
    double r = err / bound;
    if (!t || r <= t->ratio) return; /* NaN is the tightest of all */
    t->ratio = r != r ? INFINITY : r;
    t->err = err;
    t->bound = bound;
    snprintf(t->what, sizeof t->what, "%s", what);
}

int compare_expect(const char *what, const float *got, const float *want, size_t n, Bound b) {
    /* one pass: max|d|, max|want|, sum d^2, sum want^2 (NaN propagates as a failure) */
    double maxdiff = 0, maxref = 0, num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i], r = fabs((double)want[i]);
        if (!(fabs(d) <= maxdiff)) maxdiff = fabs(d);
        if (r > maxref) maxref = r;
        num += d * d;
        den += r * r;
    }
    double e = maxdiff / (maxref > 1e-12 ? maxref : 1e-12), l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    int ok = 1;
    if (b.max_err > 0) {
        ok &= e <= b.max_err; /* NaN fails */
        note(what, e, b.max_err);
    }
    if (b.rel_l2 > 0) {
        ok &= l2 <= b.rel_l2;
        note(what, l2, b.rel_l2);
    }
    test_checks++;
    if (!ok) {
        test_failures++;
        fprintf(stderr, "FAIL %s: normalised max error %.3e", what, e);
        if (b.max_err > 0) fprintf(stderr, " (tol %.0e)", b.max_err);
        fprintf(stderr, ", relative L2 %.3e", l2);
        if (b.rel_l2 > 0) fprintf(stderr, " (tol %.0e)", b.rel_l2);
        fputc('\n', stderr);
    } else if (getenv("TEST_VERBOSE")) {
        fprintf(stderr, "ok   %s: normalised max error %.3e, relative L2 %.3e\n", what, e, l2);
    }
    return ok;
}

/* --- what this machine can run -------------------------------------------- */

int compare_can_run(const char *backend, const Net *net, Precision p, char *why, size_t len) {
    Error err = { { 0 } };
    int ok = backend_supports(backend, net, p, &err);
    /* bf16 without native bf16 (oneDNN would emulate it, or has no kernels at
     * all, e.g. under ONEDNN_MAX_CPU_ISA=AVX2): a machine without the feature.
     * Not for ref, the fp32 oracle: it has no bf16 anywhere. */
    if (p == PRECISION_BF16 && strcmp(backend, "ref") != 0 && !backend_native_bf16(backend)) {
        snprintf(why, len, "%s: this CPU (or ONEDNN_MAX_CPU_ISA) has no native bf16", backend);
        return 0;
    }
#ifdef ALEXNET_HAVE_CUDA
    if (strcmp(backend, "cuda") == 0) {
        char msg[200] = "";
        if (cuda_backend_device_count(msg, sizeof msg) < 1) {
            snprintf(why, len, "cuda: no GPU on this machine (%s)", msg);
            return 0;
        }
    }
#endif
    if (ok) return 1;
    snprintf(why, len, "%s refuses %s at %s: %s", backend, net->backbone, precision_name(p), err.msg);
    return -1;
}

int compare_each_backend(CompareRuns *r, const char *only_backend, const char *only_precision, const Net *probe,
                         void (*fn)(const char *backend, const Precision *precs, int n_precs, void *user), void *user) {
    int known = !only_backend;
    for (int b = 0; backend_name_at(b) && !known; b++) known = strcmp(backend_name_at(b), only_backend) == 0;
    if (!known) {
        fprintf(stderr, "backend %s is not in this build (%s)\n", only_backend, backend_names());
        return -1;
    }
    if (only_precision && strcmp(only_precision, "fp32") != 0 && strcmp(only_precision, "bf16") != 0) {
        fprintf(stderr, "precision %s: fp32 or bf16\n", only_precision);
        return -1;
    }
    const Precision all[] = { PRECISION_FP32, PRECISION_BF16 };
    for (int b = 0; backend_name_at(b); b++) {
        const char *backend = backend_name_at(b);
        if (strcmp(backend, "ref") == 0 || (only_backend && strcmp(backend, only_backend) != 0)) continue;
        Precision precs[2];
        int n = 0;
        for (int k = 0; k < 2; k++) {
            Precision p = all[k];
            if (only_precision && strcmp(only_precision, precision_name(p)) != 0) continue;
            char why[400];
            int can = compare_can_run(backend, probe, p, why, sizeof why);
            if (can == 0) {
                printf("%s %s: skipped: %s\n", backend, precision_name(p), why);
                size_t at = strlen(r->skipped);
                if (!strstr(r->skipped, why))
                    snprintf(r->skipped + at, sizeof r->skipped - at, "%s%s", at ? "; " : "", why);
                continue;
            }
            EXPECT(can == 1, "%s %s: %s", backend, precision_name(p), why);
            if (can == 1) precs[n++] = p;
        }
        if (n) {
            fn(backend, precs, n, user);
            r->ran += n;
        }
    }
    return 0;
}

int compare_finish(const CompareRuns *r, const char *name) {
    if (!r->ran && r->skipped[0] && !test_failures) return test_skip("%s", r->skipped);
    return test_summary(name);
}

/* --- inputs ----------------------------------------------------------------- */

void compare_batch(uint8_t *u8, int32_t *labels, int n, int S, int K, uint64_t seed, int id) {
    size_t bytes = (size_t)n * S * S * 3;
    for (size_t i = 0; i < bytes; i++) u8[i] = (uint8_t)(rng_word(seed, RNG_SYNTHETIC, 100 + (uint32_t)id, 0, i) >> 24);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)(rng_word(seed, RNG_SYNTHETIC, 200 + (uint32_t)id, 0, (uint64_t)i) % (uint32_t)K);
}

void compare_to_format(InputFormat fmt, const uint8_t *u8, void *out, int n, int S) {
    size_t hw = (size_t)S * S;
    if (fmt == INPUT_U8_NHWC) {
        memcpy(out, u8, (size_t)n * hw * 3);
        return;
    }
    float *o = out;
    for (int b = 0; b < n; b++)
        for (size_t p = 0; p < hw; p++)
            for (int c = 0; c < 3; c++) {
                float v = ((float)u8[((size_t)b * hw + p) * 3 + c] / 255.0f - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
                if (fmt == INPUT_F32_NCHW) o[((size_t)b * 3 + c) * hw + p] = v;
                else o[((size_t)b * hw + p) * 3 + c] = v;
            }
}

void compare_init_params(const Net *net, float *params, uint64_t seed) {
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        const ParamTensor *w = p->decay ? p : p - 1;
        double fan_in = (double)w->numel / w->shape[0];
        float b = (float)(1.0 / sqrt(fan_in));
        fill_uniform(params + p->offset, p->numel, seed, (uint32_t)(100 + t), -b, b);
    }
}

int compare_net_has_decisions(const Net *net) {
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == LAYER_RELU || net->layers[i].kind == LAYER_MAXPOOL) return 1;
    return 0;
}

/* --- the comparison ---------------------------------------------------------- */

/* The gradient buffer is host memory (ready() snapshots and grad_scale write
 * it directly). The facade does not say; the cuda backend's is device memory. */
static int grads_on_host(const Backend *b) { return strcmp(b->name, "cuda") != 0; }

/* Records what ready() reports: count, order, frozen tensors, and (host
 * buffers) a copy of each gradient at the moment it was reported final. */
typedef struct {
    Backend *be;
    int count, order_ok, last, frozen_seen;
    float *snap; /* [param_count] or NULL */
} ReadyLog;

static void on_ready(void *user, int param) {
    ReadyLog *r = user;
    const ParamTensor *p = &r->be->net->params[param];
    if (r->last >= 0 && param >= r->last) r->order_ok = 0;
    r->last = param;
    r->count++;
    r->frozen_seen += p->frozen;
    if (r->snap) memcpy(r->snap + p->offset, backend_grad_buffer(r->be) + p->offset, p->numel * sizeof(float));
}

static int trained_tensors(const Net *net) {
    int k = 0;
    for (int t = 0; t < net->n_params; t++) k += !net->params[t].frozen;
    return k;
}

/* One backend of a comparison and its buffers. */
typedef struct {
    Backend *be;
    const char *title;
    InputFormat fmt;
    void *x;       /* the batch in fmt */
    float *logits; /* [max_batch * K] */
    float *grads;  /* [P]: gradients, then momentum, then parameters */
    double loss;
    ReadyLog ready;
    Bound out, later, grad, weight, bias, track; /* the tolerance table's for this side */
    Tightest tight;
    int failed;
} Side;

static void side_init(Side *s, Backend *be, const char *title, int snapshot) {
    const Net *net = be->net;
    size_t B = (size_t)be->max_batch, S = (size_t)net->image_size;
    memset(s, 0, sizeof *s);
    s->be = be;
    s->title = title;
    s->fmt = backend_input_format(be);
    s->x = xmalloc(B * S * S * 3 * sizeof(float));
    s->logits = xmalloc(B * (size_t)net->num_classes * sizeof(float));
    s->grads = xmalloc(net->param_count * sizeof(float));
    s->ready.be = be;
    s->ready.snap = snapshot && grads_on_host(be) ? xmalloc(net->param_count * sizeof(float)) : NULL;
}

static void side_bounds(Side *s, const char *backend, Precision p, const CompareOpts *o) {
    TolColumn col = compare_column(p, s->be->net, o->wide);
    s->out = compare_bound(backend, col, Q_OUT);
    s->later = compare_bound(backend, col, Q_LATER);
    s->grad = compare_bound(backend, col, Q_GRAD);
    s->weight = compare_bound(backend, col, Q_WEIGHT);
    s->bias = compare_bound(backend, col, Q_BIAS);
    s->track = compare_bound(backend, col, Q_TRACK);
}

static void side_free(Side *s) {
    free(s->x);
    free(s->logits);
    free(s->grads);
    free(s->ready.snap);
}

static void forward(Side *s, const uint8_t *u8, int n, const ForwardArgs *fa) {
    compare_to_format(s->fmt, u8, s->x, n, s->be->net->image_size);
    backend_forward(s->be, s->x, n, fa);
}

static void backward(Side *s, const int32_t *labels, int n, const LossArgs *la) {
    ReadyLog *r = &s->ready;
    r->count = r->frozen_seen = 0;
    r->order_ok = 1;
    r->last = -1;
    s->loss = backend_backward(s->be, labels, n, la, on_ready, r);
}

/* s's checks count towards its result line and its tightest check */
static void side_begin(Side *s, int *fails0) {
    current = &s->tight;
    *fails0 = test_failures;
}

static void side_end(Side *s, int fails0) {
    s->failed += test_failures - fails0;
    current = NULL;
}

/* ready() fired once per trained tensor, in reverse order, never for a frozen
 * one; what it reported final did not change afterwards. s->grads: the final
 * gradients. */
static void check_ready(const Side *s, const char *when) {
    const Net *net = s->be->net;
    const ReadyLog *r = &s->ready;
    int want = trained_tensors(net);
    EXPECT(r->count == want && r->order_ok && r->frozen_seen == 0,
           "%s %s: ready() fired %d times (want %d, one per trained tensor), reverse order %d, for frozen tensors %d",
           s->title, when, r->count, want, r->order_ok, r->frozen_seen);
    if (!r->snap) return;
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        if (p->frozen) continue;
        EXPECT(memcmp(r->snap + p->offset, s->grads + p->offset, p->numel * sizeof(float)) == 0,
               "%s %s: %s changed after ready() reported it final", s->title, when, p->name);
    }
}

/* The logits of the last forward, n rows. */
static void check_logits(Side *w, Side *g, int n, const char *what, Bound b) {
    int K = w->be->net->num_classes;
    char name[512];
    backend_read_logits(g->be, g->logits, n);
    snprintf(name, sizeof name, "%s %s", g->title, what);
    compare_expect(name, g->logits, w->logits, (size_t)n * K, b);
}

/* The loss and every gradient of the last backward; frozen tensors' stay zero. */
static void check_backward(Side *w, Side *g, const char *when) {
    const Net *net = w->be->net;
    char name[512];
    float lw = (float)w->loss, lg = (float)g->loss;
    snprintf(name, sizeof name, "%s %s loss", g->title, when);
    compare_expect(name, &lg, &lw, 1, g->out);
    backend_get_grads(g->be, g->grads);
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        snprintf(name, sizeof name, "%s %s grad %s", g->title, when, p->name);
        if (p->frozen) {
            int nonzero = 0;
            for (size_t i = 0; i < p->numel; i++) nonzero += g->grads[p->offset + i] != 0.0f;
            EXPECT(nonzero == 0, "%s: frozen, but %d entries are not zero", name, nonzero);
        }
        compare_expect(name, g->grads + p->offset, w->grads + p->offset, p->numel, g->grad);
    }
    check_ready(g, when);
}

int compare_group(Backend *want, const CompareSide *got, int n_got, const CompareOpts *o) {
    const Net *net = want->net;
    CHECK(n_got >= 1 && n_got <= COMPARE_MAX_SIDES, "compare_group: %d tested backends", n_got);
    for (int i = 0; i < n_got; i++)
        CHECK(got[i].be->net->param_count == net->param_count && got[i].be->max_batch == want->max_batch,
              "compare_group: %s: another net or batch size", got[i].title);
    double t0 = now_seconds();
    int B = want->max_batch, n = o->n ? o->n : B, steps = o->steps ? o->steps : 3;
    int S = net->image_size, K = net->num_classes, fails0 = test_failures, f;
    uint64_t seed = o->seed ? o->seed : 3;
    size_t P = net->param_count;
    CHECK(n >= 1 && n <= B, "compare_group: n %d outside [1, %d]", n, B);
    int scale = o->grad_scale != 0.0f && o->grad_scale != 1.0f;
    CHECK(!scale || grads_on_host(want), "compare_group: grad_scale needs host gradients");
    for (int i = 0; i < n_got; i++)
        CHECK(!scale || grads_on_host(got[i].be), "compare_group: grad_scale needs host gradients");

    Side w, g[COMPARE_MAX_SIDES];
    side_init(&w, want, "reference", 0);
    for (int i = 0; i < n_got; i++) {
        side_init(&g[i], got[i].be, got[i].title, !o->loss_only);
        side_bounds(&g[i], got[i].tol_backend, got[i].tol_precision, o);
    }
    float *params = xmalloc(P * sizeof(float));
    compare_init_params(net, params, seed);
    backend_set_params(want, params);
    for (int i = 0; i < n_got; i++) backend_set_params(g[i].be, params);
    memset(params, 0, P * sizeof(float));
    backend_set_momentum(want, params);
    for (int i = 0; i < n_got; i++) backend_set_momentum(g[i].be, params);
    free(params);

    uint8_t *u8 = xmalloc((size_t)B * S * S * 3);
    int32_t *labels = xmalloc((size_t)B * sizeof(int32_t));
    LossArgs la = { .smoothing = 0.1f, .form = SMOOTH_SEED, .global_batch = 0 };
    SgdArgs sa = { o->lr > 0 ? o->lr : 0.05f, 0.9f, 1e-3f };
    char when[64], label[80], name[512];
    double first_loss = 0;
    for (int step = 0; step < steps; step++) {
        compare_batch(u8, labels, n, S, K, seed, o->batches ? step % o->batches : step);
        ForwardArgs fa = { 1, (uint64_t)step, 3, NULL, NULL };
        snprintf(when, sizeof when, "step %d", step);
        forward(&w, u8, n, &fa);
        if (!o->loss_only) backend_read_logits(want, w.logits, n);
        backward(&w, labels, n, &la);
        if (step == 0) first_loss = w.loss;
        if (!o->loss_only) {
            backend_get_grads(want, w.grads);
            check_ready(&w, when);
        }
        for (int i = 0; i < n_got; i++) {
            side_begin(&g[i], &f);
            forward(&g[i], u8, n, &fa);
            snprintf(label, sizeof label, "%s logits", when);
            if (!o->loss_only) check_logits(&w, &g[i], n, label, step == 0 ? g[i].out : g[i].later);
            backward(&g[i], labels, n, &la);
            if (o->loss_only) {
                float lw = (float)w.loss, lg = (float)g[i].loss;
                snprintf(name, sizeof name, "%s %s loss", g[i].title, when);
                compare_expect(name, &lg, &lw, 1, g[i].track);
            } else {
                check_backward(&w, &g[i], when);
            }
            side_end(&g[i], f);
        }
        if (scale) {
            float *gw = backend_grad_buffer(want);
            for (size_t k = 0; k < P; k++) gw[k] *= o->grad_scale;
            for (int i = 0; i < n_got; i++) {
                float *gg = backend_grad_buffer(g[i].be);
                for (size_t k = 0; k < P; k++) gg[k] *= o->grad_scale;
            }
        }
        backend_sgd_update(want, &sa);
        for (int i = 0; i < n_got; i++) backend_sgd_update(g[i].be, &sa);
    }
    if (o->loss_only) {
        EXPECT(w.loss < first_loss, "the reference loss did not fall over %d steps (%.4f -> %.4f)", steps, first_loss,
               w.loss);
    } else {
        /* a partial training batch, PyTorch's smoothing form, a global-batch divisor */
        if (n > 1) {
            int np = n - 1;
            compare_batch(u8, labels, np, S, K, seed, 1000);
            ForwardArgs fp = { 1, (uint64_t)steps, 3, NULL, NULL };
            LossArgs lt = { .smoothing = 0.2f, .form = SMOOTH_TORCH, .global_batch = 2 * B };
            snprintf(when, sizeof when, "partial batch %d", np);
            forward(&w, u8, np, &fp);
            backward(&w, labels, np, &lt);
            backend_get_grads(want, w.grads);
            check_ready(&w, when);
            backend_sgd_update(want, &sa);
            for (int i = 0; i < n_got; i++) {
                side_begin(&g[i], &f);
                forward(&g[i], u8, np, &fp);
                backward(&g[i], labels, np, &lt);
                check_backward(&w, &g[i], when);
                backend_sgd_update(g[i].be, &sa);
                side_end(&g[i], f);
            }
        }
        /* momentum, then parameters, after the steps */
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0) backend_get_momentum(want, w.grads);
            else backend_get_params(want, w.grads);
            for (int i = 0; i < n_got; i++) {
                side_begin(&g[i], &f);
                if (pass == 0) backend_get_momentum(g[i].be, g[i].grads);
                else backend_get_params(g[i].be, g[i].grads);
                for (int t = 0; t < net->n_params; t++) {
                    const ParamTensor *p = &net->params[t];
                    snprintf(name, sizeof name, "%s %s %s", g[i].title, pass == 0 ? "momentum" : "params", p->name);
                    Bound b = pass == 0 ? g[i].grad : p->decay ? g[i].weight : g[i].bias;
                    compare_expect(name, g[i].grads + p->offset, w.grads + p->offset, p->numel, b);
                }
                side_end(&g[i], f);
            }
        }
        /* an eval forward of a partial batch */
        int ne = n > 1 ? n - 1 : 1;
        compare_batch(u8, labels, ne, S, K, seed, 1001);
        ForwardArgs fe = { 0, 99, 0, NULL, NULL };
        forward(&w, u8, ne, &fe);
        backend_read_logits(want, w.logits, ne);
        snprintf(label, sizeof label, "eval logits (batch %d)", ne);
        for (int i = 0; i < n_got; i++) {
            side_begin(&g[i], &f);
            forward(&g[i], u8, ne, &fe);
            check_logits(&w, &g[i], ne, label, g[i].later);
            side_end(&g[i], f);
        }
    }
    double secs = now_seconds() - t0;
    for (int i = 0; i < n_got; i++) {
        const Tightest *t = &g[i].tight;
        size_t skip = strncmp(t->what, g[i].title, strlen(g[i].title)) == 0 ? strlen(g[i].title) + 1 : 0;
        printf("%s: %s %.1f s, tightest %.2e of %.0e: %s\n", g[i].title, g[i].failed ? "FAILED" : "ok", secs, t->err,
               t->bound, t->what + skip);
        side_free(&g[i]);
    }
    fflush(stdout);
    side_free(&w);
    free(u8);
    free(labels);
    return test_failures - fails0;
}

int compare_pair(const char *title, Backend *want, Backend *got, const CompareOpts *o, const char *tol_backend,
                 Precision tol_precision) {
    CompareSide side = { title, got, tol_backend, tol_precision };
    return compare_group(want, &side, 1, o);
}

int compare_backend(const char *backend, const Precision *precs, int n_precs, const char *title, const Net *net,
                    const CompareOpts *o) {
    CHECK(n_precs >= 1 && n_precs <= COMPARE_MAX_SIDES, "compare_backend: %d precisions", n_precs);
    int B = o->max_batch ? o->max_batch : o->n;
    BackendOptions bo = { o->threads, 0, PRECISION_FP32, 42, 0, NULL };
    Backend want, got[COMPARE_MAX_SIDES];
    CompareSide sides[COMPARE_MAX_SIDES];
    char titles[COMPARE_MAX_SIDES][200];
    Error err = { { 0 } };
    CHECK(backend_create(&want, "ref", net, B, &bo, &err) == 0, "%s: ref: %s", title, err.msg);
    int n = 0, failed = 0;
    for (int k = 0; k < n_precs; k++) {
        snprintf(titles[n], sizeof titles[n], "%s %s %s", backend, precision_name(precs[k]), title);
        bo.precision = precs[k];
        int ok = backend_create(&got[n], backend, net, B, &bo, &err) == 0;
        EXPECT(ok, "%s: the %s backend could not be created: %s", titles[n], backend, err.msg);
        failed += !ok;
        if (!ok) continue;
        int scale = o->grad_scale != 0.0f && o->grad_scale != 1.0f;
        if (scale && !grads_on_host(&got[n])) {
            printf(
                "%s: not run: the %s backend's gradient buffer is device memory (grad_scale writes it on the host)\n",
                titles[n], backend);
            backend_destroy(&got[n]);
            continue;
        }
        sides[n] = (CompareSide){ titles[n], &got[n], backend, precs[k] };
        n++;
    }
    if (n) failed += compare_group(&want, sides, n, o);
    for (int i = 0; i < n; i++) backend_destroy(&got[i]);
    backend_destroy(&want);
    return failed;
}

/* --- dropout masks ------------------------------------------------------------ */

int compare_dropout_masks(const char *backend, Precision prec) {
    int fails0 = test_failures;
    Net net;
    net_begin(&net, "dropout_mask", 2, 8);
    net_add_dropout(&net, 0.5f);
    net_section(&net, "classifier");
    net_add_linear(&net, 2);
    size_t P = net.param_count, F = (size_t)3 * 8 * 8;
    float *p0 = xmalloc(P * sizeof(float)), *gr = xmalloc(P * sizeof(float)), *gc = xmalloc(P * sizeof(float));
    float *xr = xmalloc(F * sizeof(float)), *xc = xmalloc(F * sizeof(float));
    uint8_t u8[3 * 8 * 8];
    int32_t label = 1;
    net_init_params(&net, p0, 3);
    Backend br, bc;
    Error err = { { 0 } };
    BackendOptions ref_opt = { 0, 0, PRECISION_FP32, 1234, 0, NULL }, opt = ref_opt;
    opt.precision = prec;
    CHECK(backend_create(&br, "ref", &net, 1, &ref_opt, &err) == 0, "%s", err.msg);
    int ok = backend_create(&bc, backend, &net, 1, &opt, &err) == 0;
    EXPECT(ok, "dropout masks: the %s backend could not be created: %s", backend, err.msg);
    if (ok) {
        backend_set_params(&br, p0);
        backend_set_params(&bc, p0);
        int mismatches = 0, dropped = 0;
        LossArgs la = { .smoothing = 0.0f, .form = SMOOTH_SEED, .global_batch = 0 };
        for (size_t i = 0; i < F; i++)
            u8[i] = (uint8_t)(1 + i % 250); /* no zero inputs: a zero gradient means dropped */
        for (int step = 0; step < 8; step++) {
            ForwardArgs fa = { 1, (uint64_t)step * 977, (uint64_t)step * 31, NULL, NULL };
            compare_to_format(INPUT_F32_NCHW, u8, xr, 1, 8);
            backend_forward(&br, xr, 1, &fa);
            backend_backward(&br, &label, 1, &la, NULL, NULL);
            backend_get_grads(&br, gr);
            compare_to_format(backend_input_format(&bc), u8, xc, 1, 8);
            backend_forward(&bc, xc, 1, &fa);
            backend_backward(&bc, &label, 1, &la, NULL, NULL);
            backend_get_grads(&bc, gc);
            const ParamTensor *w = &net.params[0];
            for (size_t i = 0; i < w->numel; i++) {
                int zr = gr[w->offset + i] == 0.0f, zc = gc[w->offset + i] == 0.0f;
                mismatches += zr != zc;
                dropped += zr;
            }
        }
        EXPECT(mismatches == 0, "%s %s: dropout mask differs from the reference in %d of %d weight-gradient entries",
               backend, precision_name(prec), mismatches, (int)(8 * net.params[0].numel));
        EXPECT(dropped > 0, "%s %s: no element was dropped", backend, precision_name(prec));
        printf("%s %s dropout masks bit for bit: %s, %d entries, %d dropped, %d mismatches\n", backend,
               precision_name(prec), test_failures == fails0 ? "ok" : "FAILED", (int)(8 * net.params[0].numel), dropped,
               mismatches);
        backend_destroy(&bc);
    }
    backend_destroy(&br);
    free(p0);
    free(gr);
    free(gc);
    free(xr);
    free(xc);
    return test_failures - fails0;
}
