/*
 * mix.c — MixUp and CutMix on a normalised training batch (see mix.h): the
 * per-batch draws from philox and the in-place mixing of the images.
 */
#include "data/mix.h"

#include <math.h>
#include <string.h>

#include "common/philox.h"
#include "common/util.h"

/* Uniform in (0, 1]: never 0, so its log is finite. */
static double uniform_open0(uint64_t seed, uint32_t a, uint32_t b, uint64_t *next) {
    return ((double)(rng_word(seed, RNG_MIX, a, b, (*next)++) >> 8) + 1.0) * (1.0 / 16777216.0);
}

/* Standard normal (Box-Muller, two words). */
static double normal(uint64_t seed, uint32_t a, uint32_t b, uint64_t *next) {
    double u1 = uniform_open0(seed, a, b, next), u2 = uniform_open0(seed, a, b, next);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* log of a Gamma(alpha, 1) variate: Marsaglia & Tsang (2000) for alpha >= 1;
 * below 1, Gamma(alpha + 1) * U^(1/alpha), in logs. Acceptance is above 95%
 * a try; after 64 rejections (probability < 1e-80) the mode is returned. */
static double log_gamma_variate(double alpha, uint64_t seed, uint32_t a, uint32_t b, uint64_t *next) {
    if (alpha < 1.0) {
        double boost = log(uniform_open0(seed, a, b, next)) / alpha;
        return log_gamma_variate(alpha + 1.0, seed, a, b, next) + boost;
    }
    double d = alpha - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (int tries = 0; tries < 64; tries++) {
        double x = normal(seed, a, b, next), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = uniform_open0(seed, a, b, next);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return log(d * v);
    }
    return log(d);
}

float mix_beta(double alpha, uint64_t seed, uint32_t a, uint32_t b, uint64_t *next) {
    double lx = log_gamma_variate(alpha, seed, a, b, next), ly = log_gamma_variate(alpha, seed, a, b, next);
    /* X / (X + Y) = 1 / (1 + exp(log Y - log X)) */
    return (float)(1.0 / (1.0 + exp(ly - lx)));
}

void mix_cutmix_box(Mix *m, float lam, int r_x, int r_y, int S) {
    double r = 0.5 * sqrt(1.0 - (double)lam);
    int half = (int)(r * S); /* v2.CutMix: int(r * W), int(r * H); square images here */
    m->kind = MIX_CUTMIX;
    m->x1 = r_x - half > 0 ? r_x - half : 0;
    m->y1 = r_y - half > 0 ? r_y - half : 0;
    m->x2 = r_x + half < S ? r_x + half : S;
    m->y2 = r_y + half < S ? r_y + half : S;
    m->lam = (float)(1.0 - (double)(m->x2 - m->x1) * (double)(m->y2 - m->y1) / ((double)S * (double)S));
}

void mix_draw(Mix *m, double mixup_alpha, double cutmix_alpha, int S, uint64_t seed, uint32_t a, uint32_t b) {
    memset(m, 0, sizeof *m);
    m->lam = 1.0f;
    uint64_t next = 0;
    MixKind kind = mixup_alpha > 0 ? MIX_MIXUP : MIX_NONE;
    if (cutmix_alpha > 0 && (mixup_alpha <= 0 || rng_u01(rng_word(seed, RNG_MIX, a, b, next++)) >= 0.5f))
        kind = MIX_CUTMIX;
    if (kind == MIX_NONE) return;
    float lam = mix_beta(kind == MIX_MIXUP ? mixup_alpha : cutmix_alpha, seed, a, b, &next);
    if (kind == MIX_MIXUP) {
        m->kind = MIX_MIXUP;
        m->lam = lam;
        return;
    }
    int r_x = (int)(rng_u01(rng_word(seed, RNG_MIX, a, b, next++)) * (float)S);
    int r_y = (int)(rng_u01(rng_word(seed, RNG_MIX, a, b, next++)) * (float)S);
    mix_cutmix_box(m, lam, r_x < S ? r_x : S - 1, r_y < S ? r_y : S - 1, S);
}

/* dst = lam * dst + (1 - lam) * src over count floats, as v2.MixUp computes
 * it in float: src * (1 - lam) + dst * lam. */
static void blend(float *dst, const float *src, size_t count, float lam) {
    float keep = lam, take = (float)(1.0 - (double)lam);
    for (size_t i = 0; i < count; i++) {
        float rolled = src[i] * take, own = dst[i] * keep;
        dst[i] = rolled + own;
    }
}

/* The CutMix box of src pasted into dst (one sample each). */
static void paste_box(float *dst, const float *src, int S, InputFormat fmt, const Mix *m) {
    size_t plane = (size_t)S * S, w = (size_t)(m->x2 - m->x1);
    for (int y = m->y1; y < m->y2; y++) {
        if (fmt == INPUT_F32_NCHW) {
            for (int c = 0; c < 3; c++) {
                size_t at = (size_t)c * plane + (size_t)y * S + (size_t)m->x1;
                memcpy(dst + at, src + at, w * sizeof(float));
            }
        } else {
            size_t at = ((size_t)y * S + (size_t)m->x1) * 3;
            memcpy(dst + at, src + at, w * 3 * sizeof(float));
        }
    }
}

void mix_apply(void *data, int n, int S, InputFormat fmt, const Mix *m, void *scratch) {
    if (m->kind == MIX_NONE || n < 1) return;
    CHECK(fmt == INPUT_F32_NCHW || fmt == INPUT_F32_NHWC, "mix_apply: %s is not a float format", input_format_name(fmt));
    size_t count = (size_t)3 * S * S;
    float *x = data;
    /* sample i takes from sample i - 1 as it was: go down from the last, which sample 0 needs, so keep it */
    memcpy(scratch, x + (size_t)(n - 1) * count, count * sizeof(float));
    for (int i = n - 1; i >= 0; i--) {
        const float *src = i > 0 ? x + (size_t)(i - 1) * count : scratch;
        float *dst = x + (size_t)i * count;
        if (m->kind == MIX_MIXUP) blend(dst, src, count, m->lam);
        else paste_box(dst, src, S, fmt, m);
    }
}

void mix_second_labels(int32_t *second, const int32_t *labels, int n) {
    for (int i = 0; i < n; i++) second[i] = labels[(i + n - 1) % n];
}

int32_t mix_top_label(int32_t label, int32_t second, float lam) {
    if (lam > 0.5f) return label;
    if (lam < 0.5f) return second;
    return label < second ? label : second;
}
