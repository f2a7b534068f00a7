/*
 * test_ops_gradcheck.c — finite-difference check of every reference op's
 * backward against its forward.
 *
 * For an op y = f(x; w) and a fixed random R, the scalar L = sum(y * R) has
 * dL/dy = R, so backward(dout = R) must give dL/dx and dL/dw. Each is
 * compared with central differences (L(x+h) - L(x-h)) / 2h, h = 1e-2, with L
 * accumulated in double. Kinks are stepped around, not hoped away: ReLU
 * inputs are kept at |x| >= 0.05 and max-pool windows hold distinct values
 * at least 0.05 apart, so x ± h never crosses a kink.
 *
 * Tolerance: normalised error max|numeric - analytic| / max|analytic| <= 2e-3.
 * Central differences are exact for the linear ops; for LRN and softmax the
 * O(h^2) truncation term is ~1e-4, and fp32 rounding of L (|L| ~ 10, 6e-8
 * relative) divided by 2h adds ~5e-5. A wrong index or a missing term gives
 * errors of order 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "common/util.h"
#include "harness.h"
#include "nn/ops.h"

#define H   1e-2f
#define TOL 2e-3

typedef void (*ForwardFn)(void *ctx, float *out);

static double weighted_sum(const float *y, const float *r, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * (double)r[i];
    return s;
}

/* Compares analytic[i] with the numeric derivative of L with respect to x[i]
 * for a sample of at most max_checks elements spread over x. */
static void check_numeric(const char *name, ForwardFn f, void *ctx, float *x, size_t nx, const float *analytic,
                          float *y, const float *r, size_t ny, size_t max_checks) {
    size_t stride = nx > max_checks ? nx / max_checks : 1;
    double maxerr = 0.0, maxref = 1e-6;
    for (size_t i = 0; i < nx; i += stride) {
        float keep = x[i];
        x[i] = keep + H;
        f(ctx, y);
        double lp = weighted_sum(y, r, ny);
        x[i] = keep - H;
        f(ctx, y);
        double lm = weighted_sum(y, r, ny);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * H);
        double e = fabs(num - analytic[i]);
        if (e > maxerr) maxerr = e;
        if (fabs(analytic[i]) > maxref) maxref = fabs(analytic[i]);
    }
    double rel = maxerr / maxref;
    EXPECT(rel <= TOL, "%s: finite-difference error %.3e (max |grad| %.3e)", name, rel, maxref);
    if (getenv("TEST_VERBOSE")) printf("  %-34s rel err %.2e\n", name, rel);
}

static float *rand_tensor(size_t n, uint32_t stream, float lo, float hi) {
    float *x = xmalloc(n * sizeof(float));
    fill_uniform(x, n, 42, stream, lo, hi);
    return x;
}

/* Values at least 0.05 from zero, either sign. */
static float *away_from_zero(size_t n, uint32_t stream) {
    float *x = rand_tensor(n, stream, 0.05f, 1.0f);
    for (size_t i = 0; i < n; i++)
        if (rng_word(7, RNG_SYNTHETIC, stream, 1, i) & 1) x[i] = -x[i];
    return x;
}

/* A random permutation of the grid 0.05 * (k - n/2): all values distinct, 0.05 apart. */
static float *distinct_values(size_t n, uint32_t stream) {
    float *x = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * ((float)i - (float)n / 2);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_word(9, RNG_SYNTHETIC, stream, 0, i) % (i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    return x;
}

/* --- conv2d --- */
typedef struct {
    ConvShape s;
    float *x, *w, *b, *ws;
} ConvCtx;
static void conv_fwd(void *c, float *y) {
    ConvCtx *k = c;
    conv2d_forward(y, k->x, k->w, k->b, &k->s, k->ws);
}

static void test_conv(int n, int c, int h, int w, int oc, int kk, int stride, int pad, int groups) {
    ConvShape s = { n,  c,      h,   w,     oc, (h + 2 * pad - kk) / stride + 1, (w + 2 * pad - kk) / stride + 1,
                    kk, stride, pad, groups };
    size_t nx = (size_t)n * c * h * w, nw = (size_t)oc * (c / groups) * kk * kk, ny = (size_t)n * oc * s.oh * s.ow;
    ConvCtx k = { s, rand_tensor(nx, 1, -1, 1), rand_tensor(nw, 2, -0.5f, 0.5f), rand_tensor((size_t)oc, 3, -1, 1),
                  xmalloc(conv2d_workspace(&s) * sizeof(float)) };
    float *r = rand_tensor(ny, 4, -1, 1), *y = xmalloc(ny * sizeof(float));
    float *dx = xcalloc(nx, sizeof(float)), *dw = xcalloc(nw, sizeof(float)), *db = xcalloc((size_t)oc, sizeof(float));
    conv2d_backward(dx, dw, db, r, k.x, k.w, &s, k.ws);
    char name[96];
    snprintf(name, sizeof name, "conv k%d s%d p%d g%d %dx%d dinp", kk, stride, pad, groups, h, w);
    check_numeric(name, conv_fwd, &k, k.x, nx, dx, y, r, ny, 200);
    snprintf(name, sizeof name, "conv k%d s%d p%d g%d %dx%d dweight", kk, stride, pad, groups, h, w);
    check_numeric(name, conv_fwd, &k, k.w, nw, dw, y, r, ny, 200);
    snprintf(name, sizeof name, "conv k%d s%d p%d g%d %dx%d dbias", kk, stride, pad, groups, h, w);
    check_numeric(name, conv_fwd, &k, k.b, (size_t)oc, db, y, r, ny, 200);
    /* backward adds: a second call doubles the gradients */
    conv2d_backward(dx, dw, db, r, k.x, k.w, &s, k.ws);
    float *dx1 = xcalloc(nx, sizeof(float)), *dw1 = xcalloc(nw, sizeof(float)),
          *db1 = xcalloc((size_t)oc, sizeof(float));
    conv2d_backward(dx1, dw1, db1, r, k.x, k.w, &s, k.ws);
    for (size_t i = 0; i < nw; i++) dw1[i] *= 2;
    expect_tensor_close("conv backward accumulates", dw, dw1, nw, 1e-6);
    free(k.x);
    free(k.w);
    free(k.b);
    free(k.ws);
    free(r);
    free(y);
    free(dx);
    free(dw);
    free(db);
    free(dx1);
    free(dw1);
    free(db1);
}

/* --- linear --- */
typedef struct {
    int n, in, out;
    float *x, *w, *b;
} LinCtx;
static void lin_fwd(void *c, float *y) {
    LinCtx *k = c;
    linear_forward(y, k->x, k->w, k->b, k->n, k->in, k->out);
}

static void test_linear(int n, int in, int out) {
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    LinCtx k = { n, in, out, rand_tensor(nx, 5, -1, 1), rand_tensor(nw, 6, -1, 1), rand_tensor((size_t)out, 7, -1, 1) };
    float *r = rand_tensor(ny, 8, -1, 1), *y = xmalloc(ny * sizeof(float));
    float *dx = xcalloc(nx, sizeof(float)), *dw = xcalloc(nw, sizeof(float)), *db = xcalloc((size_t)out, sizeof(float));
    linear_backward(dx, dw, db, r, k.x, k.w, n, in, out);
    check_numeric("linear dinp", lin_fwd, &k, k.x, nx, dx, y, r, ny, 300);
    check_numeric("linear dweight", lin_fwd, &k, k.w, nw, dw, y, r, ny, 300);
    check_numeric("linear dbias", lin_fwd, &k, k.b, (size_t)out, db, y, r, ny, 300);
    free(k.x);
    free(k.w);
    free(k.b);
    free(r);
    free(y);
    free(dx);
    free(dw);
    free(db);
}

/* --- relu --- */
typedef struct {
    size_t n;
    float *x;
} EltCtx;
static void relu_fwd(void *c, float *y) {
    EltCtx *k = c;
    relu_forward(y, k->x, k->n);
}

static void test_relu(void) {
    size_t n = 500;
    EltCtx k = { n, away_from_zero(n, 9) };
    float *r = rand_tensor(n, 10, -1, 1), *y = xmalloc(n * sizeof(float)), *dx = xcalloc(n, sizeof(float));
    relu_forward(y, k.x, n);
    relu_backward(dx, r, y, n);
    check_numeric("relu dinp", relu_fwd, &k, k.x, n, dx, y, r, n, 500);
    free(k.x);
    free(r);
    free(y);
    free(dx);
}

/* --- pooling --- */
typedef struct {
    PoolShape s;
    float *x;
} PoolCtx;
static void maxpool_fwd(void *c, float *y) {
    PoolCtx *k = c;
    maxpool_forward(y, k->x, &k->s);
}
static void avgpool_fwd(void *c, float *y) {
    PoolCtx *k = c;
    avgpool_forward(y, k->x, &k->s);
}

static void test_maxpool(int h, int w, int kk, int stride) {
    PoolShape s = { 2, 3, h, w, (h - kk) / stride + 1, (w - kk) / stride + 1, kk, stride };
    size_t nx = (size_t)2 * 3 * h * w, ny = (size_t)2 * 3 * s.oh * s.ow;
    PoolCtx k = { s, distinct_values(nx, 11) };
    float *r = rand_tensor(ny, 12, -1, 1), *y = xmalloc(ny * sizeof(float)), *dx = xcalloc(nx, sizeof(float));
    maxpool_backward(dx, r, k.x, &s);
    char name[64];
    snprintf(name, sizeof name, "maxpool k%d s%d %dx%d dinp", kk, stride, h, w);
    check_numeric(name, maxpool_fwd, &k, k.x, nx, dx, y, r, ny, 1000);
    free(k.x);
    free(r);
    free(y);
    free(dx);
}

static void test_avgpool(int h, int w, int oh, int ow) {
    PoolShape s = { 2, 3, h, w, oh, ow, 0, 0 };
    size_t nx = (size_t)2 * 3 * h * w, ny = (size_t)2 * 3 * oh * ow;
    PoolCtx k = { s, rand_tensor(nx, 13, -1, 1) };
    float *r = rand_tensor(ny, 14, -1, 1), *y = xmalloc(ny * sizeof(float)), *dx = xcalloc(nx, sizeof(float));
    avgpool_backward(dx, r, &s);
    char name[64];
    snprintf(name, sizeof name, "avgpool %dx%d->%dx%d dinp", h, w, oh, ow);
    check_numeric(name, avgpool_fwd, &k, k.x, nx, dx, y, r, ny, 1000);
    free(k.x);
    free(r);
    free(y);
    free(dx);
}

/* --- LRN --- */
typedef struct {
    LrnShape s;
    float *x;
} LrnCtx;
static void lrn_fwd(void *c, float *y) {
    LrnCtx *k = c;
    lrn_forward(y, k->x, &k->s);
}

static void test_lrn(int c, int size, float alpha) {
    LrnShape s = { 2, c, 3, 4, size, alpha, 0.75f, 2.0f };
    size_t n = (size_t)2 * c * 3 * 4;
    /* inputs of a few units so the alpha term matters */
    LrnCtx k = { s, rand_tensor(n, 15, -3, 3) };
    float *r = rand_tensor(n, 16, -1, 1), *y = xmalloc(n * sizeof(float)), *dx = xcalloc(n, sizeof(float));
    lrn_backward(dx, r, k.x, &s);
    char name[64];
    snprintf(name, sizeof name, "lrn c%d size%d alpha%g dinp", c, size, alpha);
    check_numeric(name, lrn_fwd, &k, k.x, n, dx, y, r, n, 1000);
    free(k.x);
    free(r);
    free(y);
    free(dx);
}

/* --- dropout --- */
typedef struct {
    DropoutKey key;
    int n;
    size_t f;
    float *x;
} DropCtx;
static void drop_fwd(void *c, float *y) {
    DropCtx *k = c;
    dropout_forward(y, k->x, k->n, k->f, &k->key);
}

static void test_dropout_grad(void) {
    DropCtx k = { { 123, 7, 3, 2, 0.35f }, 3, 50, NULL };
    size_t n = 150;
    k.x = rand_tensor(n, 17, -1, 1);
    float *r = rand_tensor(n, 18, -1, 1), *y = xmalloc(n * sizeof(float)), *dx = xcalloc(n, sizeof(float));
    dropout_backward(dx, r, k.n, k.f, &k.key);
    check_numeric("dropout dinp", drop_fwd, &k, k.x, n, dx, y, r, n, 150);
    free(k.x);
    free(r);
    free(y);
    free(dx);
}

/* --- softmax cross-entropy --- */
typedef struct {
    int n, k;
    float *z;
    int32_t *labels;
    SmoothingForm form;
    const LabelMix *mix;
    const float *class_weight;
} XentCtx;
static void xent_fwd(void *c, float *y) {
    XentCtx *k = c;
    XentArgs a = { .eps = 0.1f, .form = k->form, .divisor = k->n, .mix = k->mix, .class_weight = k->class_weight };
    y[0] = (float)softmax_xent(NULL, k->z, k->labels, k->n, k->k, &a);
}

/* mixed: the second labels are the batch rolled by one (MixUp/CutMix), lam 0.3; weighted: class weights */
static void test_xent(SmoothingForm form, int mixed, int weighted) {
    int n = 4, K = 7;
    int32_t second[4];
    LabelMix mix = { second, 0.3f };
    float weight[7] = { 0.5f, 2.0f, 1.0f, 3.0f, 0.25f, 1.5f, 0.75f };
    XentCtx k = { n, K, rand_tensor((size_t)n * K, 19, -3, 3), xmalloc(sizeof(int32_t) * 4), form,
                  mixed ? &mix : NULL, weighted ? weight : NULL };
    for (int i = 0; i < n; i++) k.labels[i] = (i * 3) % K;
    for (int i = 0; i < n; i++) second[i] = k.labels[(i + n - 1) % n];
    float one = 1.0f, y;
    float *dz = xcalloc((size_t)n * K, sizeof(float));
    XentArgs a = { .eps = 0.1f, .form = form, .divisor = n, .mix = k.mix, .class_weight = k.class_weight };
    softmax_xent(dz, k.z, k.labels, n, K, &a);
    char name[96];
    snprintf(name, sizeof name, "softmax_xent (%s smoothing%s%s)", form == SMOOTH_SEED ? "seed" : "torch",
             mixed ? ", mixed targets" : "", weighted ? ", class weights" : "");
    check_numeric(name, xent_fwd, &k, k.z, (size_t)n * K, dz, &y, &one, 1, 100);
    /* the gradient of each row sums to zero: softmax and the target both sum to 1 */
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < K; j++) s += dz[i * K + j];
        EXPECT_NEAR(s, 0.0, 1e-6);
    }
    free(k.z);
    free(k.labels);
    free(dz);
}

/* The two smoothing forms on a case worked by hand: K = 2, logits equal,
 * so p = 1/2 and loss = -log(1/2) whatever the target. */
static void test_xent_values(void) {
    float z[2] = { 0.0f, 0.0f };
    int32_t label = 0;
    XentArgs seed_form = { .eps = 0.1f, .form = SMOOTH_SEED, .divisor = 1 };
    XentArgs torch_form = { .eps = 0.1f, .form = SMOOTH_TORCH, .divisor = 1 };
    EXPECT_NEAR(softmax_xent(NULL, z, &label, 1, 2, &seed_form), log(2.0), 1e-9);
    /* K = 3, logits (2, 0, 0): seed targets (0.9, 0.05, 0.05), torch (0.9333, 0.0333, 0.0333) */
    float z3[3] = { 2.0f, 0.0f, 0.0f };
    double lse = log(exp(2.0) + 2.0);
    double seed = -(0.9 * (2.0 - lse) + 0.1 * (0.0 - lse));
    double torch = -((0.9 + 0.1 / 3) * (2.0 - lse) + (0.2 / 3) * (0.0 - lse));
    EXPECT_NEAR(softmax_xent(NULL, z3, &label, 1, 3, &seed_form), seed, 1e-6);
    EXPECT_NEAR(softmax_xent(NULL, z3, &label, 1, 3, &torch_form), torch, 1e-6);
    /* mixed 0.25 of class 0 and 0.75 of class 2, then smoothed as torch does a soft target:
     * (1 - eps) * t + eps / K = (0.25*0.9 + 0.0333, 0.0333, 0.75*0.9 + 0.0333) */
    int32_t second = 2;
    LabelMix mix = { &second, 0.25f };
    double t0 = 0.25 * 0.9 + 0.1 / 3, t1 = 0.1 / 3, t2 = 0.75 * 0.9 + 0.1 / 3;
    double mixed = -(t0 * (2.0 - lse) + t1 * (0.0 - lse) + t2 * (0.0 - lse));
    torch_form.mix = &mix;
    EXPECT_NEAR(softmax_xent(NULL, z3, &label, 1, 3, &torch_form), mixed, 1e-6);
    /* class weights: the row's loss times lam * w[0] + (1 - lam) * w[2] */
    float w3[3] = { 2.0f, 5.0f, 0.5f };
    torch_form.class_weight = w3;
    EXPECT_NEAR(softmax_xent(NULL, z3, &label, 1, 3, &torch_form), (0.25 * 2.0 + 0.75 * 0.5) * mixed, 1e-6);
    /* a row whose two labels agree is the unmixed row */
    second = 0;
    seed_form.mix = &mix;
    EXPECT_NEAR(softmax_xent(NULL, z3, &label, 1, 3, &seed_form), seed, 1e-6);
}

int main(void) {
    test_conv(2, 3, 9, 8, 4, 3, 1, 1, 1);
    test_conv(2, 4, 7, 6, 6, 3, 2, 1, 2);    /* stride, groups, odd sizes */
    test_conv(1, 3, 19, 19, 4, 11, 4, 2, 1); /* AlexNet's conv1 geometry */
    test_conv(1, 4, 6, 7, 4, 5, 1, 2, 2);    /* conv2 geometry, grouped */
    test_linear(3, 37, 5);
    test_relu();
    test_maxpool(7, 7, 3, 2);
    test_maxpool(8, 9, 3, 2);
    test_maxpool(6, 5, 2, 1);
    test_avgpool(13, 13, 6, 6);
    test_avgpool(5, 3, 6, 6); /* upsampling windows overlap */
    test_avgpool(7, 9, 2, 3);
    test_lrn(7, 5, 0.5f);
    test_lrn(4, 4, 1.0f); /* even window: asymmetric */
    test_dropout_grad();
    test_xent(SMOOTH_SEED, 0, 0);
    test_xent(SMOOTH_TORCH, 0, 0);
    test_xent(SMOOTH_SEED, 1, 0);
    test_xent(SMOOTH_TORCH, 1, 0);
    test_xent(SMOOTH_TORCH, 0, 1);
    test_xent(SMOOTH_SEED, 1, 1);
    test_xent_values();
    return test_summary("ops gradcheck");
}
