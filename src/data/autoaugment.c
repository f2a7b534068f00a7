/*
 * autoaugment.c — the policies' draws and the 15 ops with Pillow's
 * arithmetic (see autoaugment.h).
 *
 * Each op is what torchvision's _apply_op calls on a PIL image, written from
 * Pillow's code paths: Image.transform(AFFINE) takes ImagingScaleAffine for a
 * pure translation, the 16.16 fixed-point affine_fixed for other matrices
 * (nearest) and ImagingGenericTransform with bilinear_filter32RGB (bilinear);
 * rotate() takes its transpose fast paths at 0/90/270 degrees on a square;
 * ImageEnhance blends against black, the "L" image, its rounded mean or the
 * SMOOTH filter; ImageOps builds 256-entry lookup tables. Floating-point
 * expressions keep Pillow's and Python's order of operations (no FMA
 * contraction in ISO C mode), so the bytes are theirs.
 */
#include "data/autoaugment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "data/transforms.h"

static const char *const POLICY_NAMES[] = { "none", "ta_wide", "ra", "imagenet", "cifar10", "svhn" };
static const char *const OP_NAMES[AUG_N_OPS] = { "Identity",  "ShearX",     "ShearY",       "TranslateX", "TranslateY",
                                                 "Rotate",    "Brightness", "Color",        "Contrast",   "Sharpness",
                                                 "Posterize", "Solarize",   "AutoContrast", "Equalize",   "Invert" };

int autoaug_policy_parse(const char *name) {
    for (int p = 0; p < (int)(sizeof POLICY_NAMES / sizeof POLICY_NAMES[0]); p++)
        if (strcmp(name, POLICY_NAMES[p]) == 0) return p;
    return -1;
}

const char *autoaug_policy_name(AutoAugmentPolicy p) { return POLICY_NAMES[p]; }

int autoaug_op_parse(const char *name) {
    for (int op = 0; op < AUG_N_OPS; op++)
        if (strcmp(name, OP_NAMES[op]) == 0) return op;
    return -1;
}

const char *autoaug_op_name(AugOp op) { return OP_NAMES[op]; }

/* ---- magnitude tables ---------------------------------------------------- */

/* torch.linspace(start, end, steps)[i] in float32 as PyTorch's CPU kernel
 * computes it with its AVX2 / AVX-512 code (every x86-64 since 2013): runs
 * of two 8-lane vectors while 16 elements remain, each lane base + k*step
 * (base from the scalar formula, no fused multiply-add), then the scalar
 * formula for the tail, which that build fuses: start + step*i below
 * halfway, end - step*(steps-1-i) from there. Checked against torch in the
 * tests, bin by bin. */
static float torch_linspace(double start_d, double end_d, int steps, int i) {
    const float start = (float)start_d, end = (float)end_d;
    if (steps == 1) return start;
    const float step = (end - start) / (float)(steps - 1);
    const int halfway = steps / 2, lanes = 8;
    int vector_end = 0;
    while (vector_end <= steps - 2 * lanes) vector_end += 2 * lanes;
    if (i < vector_end) {
        int base_i = i / lanes * lanes, k = i - base_i;
        float base = base_i < halfway ? start + step * (float)base_i : end - step * (float)(steps - base_i - 1);
        return k == 0 ? base : base + (float)k * step;
    }
    return i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)(steps - i - 1), end);
}

/* 8 - (arange(bins) / ((bins - 1) / levels)).round().int(): float32 division,
 * round half to even. */
static float posterize_bits(int bins, double levels, int i) {
    float q = (float)i / (float)((double)(bins - 1) / levels);
    return (float)(8 - (int)nearbyintf(q));
}

int autoaug_space(AutoAugmentPolicy p, AugOp op, int width, int height, float *out, int *is_signed) {
    const int wide = p == AA_TA_WIDE, bins = p == AA_RA || wide ? AA_RA_BINS : 10;
    *is_signed = 0;
    double lo = 0, hi = 0;
    switch (op) {
    case AUG_SHEAR_X:
    case AUG_SHEAR_Y: hi = wide ? 0.99 : 0.3; break;
    case AUG_TRANSLATE_X: hi = wide ? 32.0 : 150.0 / 331.0 * width; break;
    case AUG_TRANSLATE_Y: hi = wide ? 32.0 : 150.0 / 331.0 * height; break;
    case AUG_ROTATE: hi = wide ? 135.0 : 30.0; break;
    case AUG_BRIGHTNESS:
    case AUG_COLOR:
    case AUG_CONTRAST:
    case AUG_SHARPNESS: hi = wide ? 0.99 : 0.9; break;
    case AUG_POSTERIZE:
        for (int i = 0; i < bins; i++) out[i] = posterize_bits(bins, wide ? 6 : 4, i);
        return bins;
    case AUG_SOLARIZE:
        for (int i = 0; i < bins; i++) out[i] = torch_linspace(255.0, 0.0, bins, i);
        return bins;
    default: return 0;
    }
    *is_signed = 1;
    for (int i = 0; i < bins; i++) out[i] = torch_linspace(lo, hi, bins, i);
    return bins;
}

/* ---- draws ------------------------------------------------------------- */

typedef struct {
    uint8_t op;
    float p;
    int8_t bin; /* -1: None */
} SubOp;

/* AutoAugment's policies, torchvision's tables: 25 pairs each. */
static const SubOp POLICY_IMAGENET[25][2] = {
    { { AUG_POSTERIZE, 0.4f, 8 }, { AUG_ROTATE, 0.6f, 9 } },
    { { AUG_SOLARIZE, 0.6f, 5 }, { AUG_AUTOCONTRAST, 0.6f, -1 } },
    { { AUG_EQUALIZE, 0.8f, -1 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_POSTERIZE, 0.6f, 7 }, { AUG_POSTERIZE, 0.6f, 6 } },
    { { AUG_EQUALIZE, 0.4f, -1 }, { AUG_SOLARIZE, 0.2f, 4 } },
    { { AUG_EQUALIZE, 0.4f, -1 }, { AUG_ROTATE, 0.8f, 8 } },
    { { AUG_SOLARIZE, 0.6f, 3 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_POSTERIZE, 0.8f, 5 }, { AUG_EQUALIZE, 1.0f, -1 } },
    { { AUG_ROTATE, 0.2f, 3 }, { AUG_SOLARIZE, 0.6f, 8 } },
    { { AUG_EQUALIZE, 0.6f, -1 }, { AUG_POSTERIZE, 0.4f, 6 } },
    { { AUG_ROTATE, 0.8f, 8 }, { AUG_COLOR, 0.4f, 0 } },
    { { AUG_ROTATE, 0.4f, 9 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_EQUALIZE, 0.0f, -1 }, { AUG_EQUALIZE, 0.8f, -1 } },
    { { AUG_INVERT, 0.6f, -1 }, { AUG_EQUALIZE, 1.0f, -1 } },
    { { AUG_COLOR, 0.6f, 4 }, { AUG_CONTRAST, 1.0f, 8 } },
    { { AUG_ROTATE, 0.8f, 8 }, { AUG_COLOR, 1.0f, 2 } },
    { { AUG_COLOR, 0.8f, 8 }, { AUG_SOLARIZE, 0.8f, 7 } },
    { { AUG_SHARPNESS, 0.4f, 7 }, { AUG_INVERT, 0.6f, -1 } },
    { { AUG_SHEAR_X, 0.6f, 5 }, { AUG_EQUALIZE, 1.0f, -1 } },
    { { AUG_COLOR, 0.4f, 0 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_EQUALIZE, 0.4f, -1 }, { AUG_SOLARIZE, 0.2f, 4 } },
    { { AUG_SOLARIZE, 0.6f, 5 }, { AUG_AUTOCONTRAST, 0.6f, -1 } },
    { { AUG_INVERT, 0.6f, -1 }, { AUG_EQUALIZE, 1.0f, -1 } },
    { { AUG_COLOR, 0.6f, 4 }, { AUG_CONTRAST, 1.0f, 8 } },
    { { AUG_EQUALIZE, 0.8f, -1 }, { AUG_EQUALIZE, 0.6f, -1 } },
};

static const SubOp POLICY_CIFAR10[25][2] = {
    { { AUG_INVERT, 0.1f, -1 }, { AUG_CONTRAST, 0.2f, 6 } },
    { { AUG_ROTATE, 0.7f, 2 }, { AUG_TRANSLATE_X, 0.3f, 9 } },
    { { AUG_SHARPNESS, 0.8f, 1 }, { AUG_SHARPNESS, 0.9f, 3 } },
    { { AUG_SHEAR_Y, 0.5f, 8 }, { AUG_TRANSLATE_Y, 0.7f, 9 } },
    { { AUG_AUTOCONTRAST, 0.5f, -1 }, { AUG_EQUALIZE, 0.9f, -1 } },
    { { AUG_SHEAR_Y, 0.2f, 7 }, { AUG_POSTERIZE, 0.3f, 7 } },
    { { AUG_COLOR, 0.4f, 3 }, { AUG_BRIGHTNESS, 0.6f, 7 } },
    { { AUG_SHARPNESS, 0.3f, 9 }, { AUG_BRIGHTNESS, 0.7f, 9 } },
    { { AUG_EQUALIZE, 0.6f, -1 }, { AUG_EQUALIZE, 0.5f, -1 } },
    { { AUG_CONTRAST, 0.6f, 7 }, { AUG_SHARPNESS, 0.6f, 5 } },
    { { AUG_COLOR, 0.7f, 7 }, { AUG_TRANSLATE_X, 0.5f, 8 } },
    { { AUG_EQUALIZE, 0.3f, -1 }, { AUG_AUTOCONTRAST, 0.4f, -1 } },
    { { AUG_TRANSLATE_Y, 0.4f, 3 }, { AUG_SHARPNESS, 0.2f, 6 } },
    { { AUG_BRIGHTNESS, 0.9f, 6 }, { AUG_COLOR, 0.2f, 8 } },
    { { AUG_SOLARIZE, 0.5f, 2 }, { AUG_INVERT, 0.0f, -1 } },
    { { AUG_EQUALIZE, 0.2f, -1 }, { AUG_AUTOCONTRAST, 0.6f, -1 } },
    { { AUG_EQUALIZE, 0.2f, -1 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_COLOR, 0.9f, 9 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_AUTOCONTRAST, 0.8f, -1 }, { AUG_SOLARIZE, 0.2f, 8 } },
    { { AUG_BRIGHTNESS, 0.1f, 3 }, { AUG_COLOR, 0.7f, 0 } },
    { { AUG_SOLARIZE, 0.4f, 5 }, { AUG_AUTOCONTRAST, 0.9f, -1 } },
    { { AUG_TRANSLATE_Y, 0.9f, 9 }, { AUG_TRANSLATE_Y, 0.7f, 9 } },
    { { AUG_AUTOCONTRAST, 0.9f, -1 }, { AUG_SOLARIZE, 0.8f, 3 } },
    { { AUG_EQUALIZE, 0.8f, -1 }, { AUG_INVERT, 0.1f, -1 } },
    { { AUG_TRANSLATE_Y, 0.7f, 9 }, { AUG_AUTOCONTRAST, 0.9f, -1 } },
};

static const SubOp POLICY_SVHN[25][2] = {
    { { AUG_SHEAR_X, 0.9f, 4 }, { AUG_INVERT, 0.2f, -1 } },
    { { AUG_SHEAR_Y, 0.9f, 8 }, { AUG_INVERT, 0.7f, -1 } },
    { { AUG_EQUALIZE, 0.6f, -1 }, { AUG_SOLARIZE, 0.6f, 6 } },
    { { AUG_INVERT, 0.9f, -1 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_EQUALIZE, 0.6f, -1 }, { AUG_ROTATE, 0.9f, 3 } },
    { { AUG_SHEAR_X, 0.9f, 4 }, { AUG_AUTOCONTRAST, 0.8f, -1 } },
    { { AUG_SHEAR_Y, 0.9f, 8 }, { AUG_INVERT, 0.4f, -1 } },
    { { AUG_SHEAR_Y, 0.9f, 5 }, { AUG_SOLARIZE, 0.2f, 6 } },
    { { AUG_INVERT, 0.9f, -1 }, { AUG_AUTOCONTRAST, 0.8f, -1 } },
    { { AUG_EQUALIZE, 0.6f, -1 }, { AUG_ROTATE, 0.9f, 3 } },
    { { AUG_SHEAR_X, 0.9f, 4 }, { AUG_SOLARIZE, 0.3f, 3 } },
    { { AUG_SHEAR_Y, 0.8f, 8 }, { AUG_INVERT, 0.7f, -1 } },
    { { AUG_EQUALIZE, 0.9f, -1 }, { AUG_TRANSLATE_Y, 0.6f, 6 } },
    { { AUG_INVERT, 0.9f, -1 }, { AUG_EQUALIZE, 0.6f, -1 } },
    { { AUG_CONTRAST, 0.3f, 3 }, { AUG_ROTATE, 0.8f, 4 } },
    { { AUG_INVERT, 0.8f, -1 }, { AUG_TRANSLATE_Y, 0.0f, 2 } },
    { { AUG_SHEAR_Y, 0.7f, 6 }, { AUG_SOLARIZE, 0.4f, 8 } },
    { { AUG_INVERT, 0.6f, -1 }, { AUG_ROTATE, 0.8f, 4 } },
    { { AUG_SHEAR_Y, 0.3f, 7 }, { AUG_TRANSLATE_X, 0.9f, 3 } },
    { { AUG_SHEAR_X, 0.1f, 6 }, { AUG_INVERT, 0.6f, -1 } },
    { { AUG_SOLARIZE, 0.7f, 2 }, { AUG_TRANSLATE_Y, 0.6f, 7 } },
    { { AUG_SHEAR_Y, 0.8f, 4 }, { AUG_INVERT, 0.8f, -1 } },
    { { AUG_SHEAR_X, 0.7f, 9 }, { AUG_TRANSLATE_Y, 0.8f, 3 } },
    { { AUG_SHEAR_Y, 0.8f, 5 }, { AUG_AUTOCONTRAST, 0.7f, -1 } },
    { { AUG_SHEAR_X, 0.7f, 2 }, { AUG_INVERT, 0.1f, -1 } },
};

/* Words of an attempt's slice (AUGMENT_WORDS_PER_ATTEMPT) per op k:
 * choice (op or sub-policy), probability, bin, sign. */
enum { W_CHOICE = 0, W_PROB = 1, W_BIN = 2, W_SIGN = 3, W_PER_OP = 4 };

typedef struct {
    uint64_t seed;
    uint32_t epoch, index, attempt;
} DrawKey;

static uint32_t draw_word(const DrawKey *k, int op, int w) {
    return rng_word(k->seed, RNG_AUTOAUG, k->epoch, k->index,
                    (uint64_t)k->attempt * AUGMENT_WORDS_PER_ATTEMPT + (uint64_t)(op * W_PER_OP + w));
}

/* torch.randint(0, n) */
static int draw_int(const DrawKey *k, int op, int w, int n) {
    return (int)(((uint64_t)draw_word(k, op, w) * (uint64_t)n) >> 32);
}

static void plan_push(AugPlan *plan, int op, double magnitude) {
    plan->op[plan->n] = (uint8_t)op;
    plan->magnitude[plan->n] = magnitude;
    plan->n++;
}

void autoaug_draw(AugPlan *plan, AutoAugmentPolicy p, int ra_magnitude, int bilinear, int S, uint64_t seed,
                  uint32_t epoch, uint32_t index, uint32_t attempt) {
    memset(plan, 0, sizeof *plan);
    plan->bilinear = bilinear;
    if (p == AA_NONE) return;
    const DrawKey key = { seed, epoch, index, attempt };
    float table[AA_RA_BINS];
    int is_signed;
    if (p == AA_TA_WIDE || p == AA_RA) {
        /* TrivialAugmentWide: one op of 14, a uniform bin; RandAugment: two,
         * each at bin ra_magnitude. Either: negated with probability 1/2. */
        const int ops = p == AA_RA ? AA_MAX_OPS : 1;
        for (int k = 0; k < ops; k++) {
            int op = draw_int(&key, k, W_CHOICE, AUG_INVERT);
            int bins = autoaug_space(p, (AugOp)op, S, S, table, &is_signed);
            double m = 0.0;
            if (bins > 0) m = table[p == AA_RA ? ra_magnitude : draw_int(&key, k, W_BIN, bins)];
            if (is_signed && draw_int(&key, k, W_SIGN, 2)) m = -m;
            plan_push(plan, op, m);
        }
        return;
    }
    /* AutoAugment: one of 25 sub-policies; each op applied if rand <= p,
     * negated if its sign draw is 0. */
    const SubOp(*policy)[2] = p == AA_IMAGENET ? POLICY_IMAGENET : p == AA_CIFAR10 ? POLICY_CIFAR10 : POLICY_SVHN;
    const int id = draw_int(&key, 0, W_CHOICE, 25);
    for (int k = 0; k < 2; k++) {
        const SubOp *s = &policy[id][k];
        if (!(rng_u01(draw_word(&key, k, W_PROB)) <= s->p)) continue;
        double m = 0.0;
        int bins = autoaug_space(p, (AugOp)s->op, S, S, table, &is_signed);
        if (s->bin >= 0 && bins > 0) m = table[s->bin];
        if (is_signed && draw_int(&key, k, W_SIGN, 2) == 0) m = -m;
        plan_push(plan, s->op, m);
    }
}

/* ---- geometry ------------------------------------------------------------ */

#define COORD(v) ((v) < 0.0 ? -1 : (int)(v))
#define FLOOR(v) ((v) < 0.0 ? (int)floor(v) : (int)(v))

/* Python's round(v, 15), a correctly rounded decimal. */
static double round15(double v) {
    char text[64];
    snprintf(text, sizeof text, "%.15f", v);
    return strtod(text, NULL);
}

/* Python's float %: the result takes the divisor's sign. */
static double py_fmod(double v, double m) {
    double r = fmod(v, m);
    if (r != 0.0) {
        if ((m < 0) != (r < 0)) r += m;
    } else {
        r = copysign(0.0, m);
    }
    return r;
}

/* Pillow's nearest-neighbour affine on the three planes ([3][H][W]); out
 * pre-zeroed (the fill). */
static void affine_nearest(uint8_t *out, const uint8_t *in, int W, int H, const double a[6]) {
    const size_t n = (size_t)W * (size_t)H;
#define COPY3(o, i)                       \
    do {                                  \
        size_t o_ = (o), i_ = (i);        \
        out[o_] = in[i_];                 \
        out[n + o_] = in[n + i_];         \
        out[2 * n + o_] = in[2 * n + i_]; \
    } while (0)
    if (a[1] == 0 && a[3] == 0) { /* ImagingScaleAffine */
        int *xintab = calloc((size_t)W, sizeof *xintab), xmin = W, xmax = 0;
        CHECK(xintab, "out of memory");
        double xo = a[2] + a[0] * 0.5, yo = a[5] + a[4] * 0.5;
        for (int x = 0; x < W; x++) {
            int xin = COORD(xo);
            if (xin >= 0 && xin < W) {
                xmax = x + 1;
                if (x < xmin) xmin = x;
                xintab[x] = xin;
            }
            xo += a[0];
        }
        for (int y = 0; y < H; y++) {
            int yi = COORD(yo);
            if (yi >= 0 && yi < H)
                for (int x = xmin; x < xmax; x++) COPY3((size_t)y * W + x, (size_t)yi * W + xintab[x]);
            yo += a[4];
        }
        free(xintab);
        return;
    }
    int fixed = 1;
    const int corners[4][2] = { { 0, 0 }, { W, H }, { 0, H }, { W, 0 } };
    for (int c = 0; c < 4; c++) {
        double x = corners[c][0], y = corners[c][1];
        fixed &= fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
    }
    if (fixed) { /* affine_fixed: 16.16 fixed point */
#define FIX(v) ((int64_t)FLOOR((v)*65536.0 + 0.5))
        const int64_t a0 = FIX(a[0]), a1 = FIX(a[1]), a3 = FIX(a[3]), a4 = FIX(a[4]);
        int64_t a2 = FIX(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = FIX(a[5] + a[3] * 0.5 + a[4] * 0.5);
#undef FIX
        for (int y = 0; y < H; y++) {
            int64_t xx = a2, yy = a5;
            for (int x = 0; x < W; x++) {
                int64_t xin = xx >> 16, yin = yy >> 16;
                if (xin >= 0 && xin < W && yin >= 0 && yin < H) COPY3((size_t)y * W + x, (size_t)(yin * W + xin));
                xx += a0;
                yy += a3;
            }
            a2 += a1;
            a5 += a4;
        }
        return;
    }
    double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
    for (int y = 0; y < H; y++) {
        double xx = xo, yy = yo;
        for (int x = 0; x < W; x++) {
            int xin = COORD(xx), yin = COORD(yy);
            if (xin >= 0 && xin < W && yin >= 0 && yin < H) COPY3((size_t)y * W + x, (size_t)yin * W + xin);
            xx += a[0];
            yy += a[3];
        }
        xo += a[1];
        yo += a[4];
    }
#undef COPY3
}

/* Pillow's generic transform with bilinear_filter32RGB on the three planes;
 * out pre-zeroed. */
static void affine_bilinear(uint8_t *out, const uint8_t *in, int W, int H, const double a[6]) {
    const size_t n = (size_t)W * (size_t)H;
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            double xin = a[0] * (x + 0.5) + a[1] * (y + 0.5) + a[2];
            double yin = a[3] * (x + 0.5) + a[4] * (y + 0.5) + a[5];
            if (xin < 0.0 || xin >= W || yin < 0.0 || yin >= H) continue;
            xin -= 0.5;
            yin -= 0.5;
            int xi = FLOOR(xin), yi = FLOOR(yin);
            double dx = xin - xi, dy = yin - yi;
            int x0 = xi < 0 ? 0 : xi < W ? xi : W - 1, x1 = xi + 1 < 0 ? 0 : xi + 1 < W ? xi + 1 : W - 1;
            const size_t r0 = (size_t)(yi < 0 ? 0 : yi < H ? yi : H - 1) * W, r1 = (size_t)(yi + 1) * W;
            const int has_r1 = yi + 1 >= 0 && yi + 1 < H;
            for (int c = 0; c < 3; c++) {
                const uint8_t *plane = in + c * n;
                double v1 = plane[r0 + x0] + (plane[r0 + x1] - plane[r0 + x0]) * dx, v2 = v1;
                if (has_r1) v2 = plane[r1 + x0] + (plane[r1 + x1] - plane[r1 + x0]) * dx;
                v1 = v1 + (v2 - v1) * dy;
                out[c * n + (size_t)y * W + x] = (uint8_t)v1;
            }
        }
    }
}

static void affine(uint8_t *px, uint8_t *scratch, int W, int H, const double a[6], int bilinear) {
    const size_t n = (size_t)W * (size_t)H;
    memcpy(scratch, px, 3 * n);
    memset(px, 0, 3 * n);
    if (bilinear) affine_bilinear(px, scratch, W, H, a);
    else affine_nearest(px, scratch, W, H, a);
}

/* torchvision's _get_inverse_affine_matrix(center, angle, translate, scale 1, shear). */
static void inverse_affine(double m[6], double cx, double cy, double angle, double tx, double ty, double shear_x,
                           double shear_y) {
    const double deg = M_PI / 180.0;
    double rot = angle * deg, sx = shear_x * deg, sy = shear_y * deg;
    double a = cos(rot - sy) / cos(sy);
    double b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot);
    double c = sin(rot - sy) / cos(sy);
    double d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot);
    m[0] = d;
    m[1] = -b;
    m[2] = 0.0;
    m[3] = -c;
    m[4] = a;
    m[5] = 0.0;
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
    m[2] += cx;
    m[5] += cy;
}

/* Image.rotate(angle) about the centre, no expand. */
static void rotate(uint8_t *px, uint8_t *scratch, int W, int H, double degrees, int bilinear) {
    const size_t n = (size_t)W * (size_t)H;
    double angle = py_fmod(degrees, 360.0);
    if (angle == 0) return;
    if (W == H && (angle == 90 || angle == 180 || angle == 270)) { /* transpose fast paths */
        memcpy(scratch, px, 3 * n);
        for (int c = 0; c < 3; c++) {
            const uint8_t *in = scratch + c * n;
            uint8_t *out = px + c * n;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    uint8_t v = in[(size_t)y * W + x];
                    if (angle == 90) out[(size_t)(W - 1 - x) * W + y] = v;
                    else if (angle == 270) out[(size_t)x * W + (H - 1 - y)] = v;
                    else out[(size_t)(H - 1 - y) * W + (W - 1 - x)] = v;
                }
        }
        return;
    }
    if (angle == 180) { /* ROTATE_180 for any shape */
        memcpy(scratch, px, 3 * n);
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < n; i++) px[c * n + i] = scratch[c * n + (n - 1 - i)];
        return;
    }
    const double cx = W / 2.0, cy = H / 2.0, r = -(angle * (M_PI / 180.0));
    double m[6] = { round15(cos(r)), round15(sin(r)), 0.0, round15(-sin(r)), round15(cos(r)), 0.0 };
    double tx = m[0] * -cx + m[1] * -cy + m[2], ty = m[3] * -cx + m[4] * -cy + m[5];
    m[2] = tx + cx;
    m[5] = ty + cy;
    affine(px, scratch, W, H, m, bilinear);
}

/* ---- colour and histogram ---------------------------------------------- */

/* ImageEnhance.Sharpness: blend with Pillow's SMOOTH filter (3x3 kernel
 * 1 1 1 / 1 5 1 / 1 1 1, divisor 13, border rows and columns copied). */
static void sharpness(uint8_t *px, uint8_t *scratch, int W, int H, float f) {
    const size_t n = (size_t)W * (size_t)H;
    uint8_t *smooth = scratch;
    memcpy(smooth, px, 3 * n);
    const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f, offset = 0.0f + 0.5f;
    for (int c = 0; c < 3; c++) {
        const uint8_t *in = px + c * n;
        uint8_t *o = smooth + c * n;
        for (int y = 1; y < H - 1; y++) {
            const uint8_t *up = in + (size_t)(y - 1) * W, *mid = in + (size_t)y * W, *down = in + (size_t)(y + 1) * W;
            for (int x = 1; x < W - 1; x++) {
                float ss = offset;
                ss += (float)down[x - 1] * k1 + (float)down[x] * k1 + (float)down[x + 1] * k1;
                ss += (float)mid[x - 1] * k1 + (float)mid[x] * k5 + (float)mid[x + 1] * k1;
                ss += (float)up[x - 1] * k1 + (float)up[x] * k1 + (float)up[x + 1] * k1;
                ss = ss < 0.0f ? 0.0f : ss;
                ss = ss > 255.0f ? 255.0f : ss;
                o[(size_t)y * W + x] = (uint8_t)ss;
            }
        }
    }
    for (size_t i = 0; i < 3 * n; i++) {
        int32_t t = (int32_t)((float)smooth[i] + f * ((float)px[i] - (float)smooth[i]));
        px[i] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
    }
}

static void apply_lut(uint8_t *plane, size_t n, const uint8_t lut[256]) {
    for (size_t i = 0; i < n; i++) plane[i] = lut[plane[i]];
}

static void histogram(const uint8_t *plane, size_t n, uint64_t h[256]) {
    memset(h, 0, 256 * sizeof *h);
    for (size_t i = 0; i < n; i++) h[plane[i]]++;
}

/* ImageOps.autocontrast (cutoff 0), per band. */
static void autocontrast(uint8_t *plane, size_t n) {
    uint64_t h[256];
    histogram(plane, n, h);
    int lo = 0, hi = 255;
    while (lo < 255 && !h[lo]) lo++;
    while (hi > 0 && !h[hi]) hi--;
    if (hi <= lo) return;
    uint8_t lut[256];
    double scale = 255.0 / (hi - lo), offset = -lo * scale;
    for (int ix = 0; ix < 256; ix++) {
        double v = ix * scale + offset;
        int t = (int)v; /* Python's int(): toward zero */
        lut[ix] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
    }
    apply_lut(plane, n, lut);
}

/* ImageOps.equalize, per band. */
static void equalize(uint8_t *plane, size_t n) {
    uint64_t h[256], total = 0, last = 0;
    int used = 0;
    histogram(plane, n, h);
    for (int i = 0; i < 256; i++)
        if (h[i]) {
            used++;
            total += h[i];
            last = h[i];
        }
    if (used <= 1) return;
    uint64_t step = (total - last) / 255;
    if (!step) return;
    uint8_t lut[256];
    uint64_t acc = step / 2;
    for (int i = 0; i < 256; i++) {
        uint64_t v = acc / step;
        lut[i] = (uint8_t)(v > 255 ? 255 : v);
        acc += h[i];
    }
    apply_lut(plane, n, lut);
}

size_t autoaug_scratch_bytes(int width, int height) { return 3 * (size_t)width * (size_t)height; }

void autoaug_op(uint8_t *px, uint8_t *scratch, int W, int H, AugOp op, double magnitude, int bilinear) {
    const size_t n = (size_t)W * (size_t)H;
    double m[6];
    uint8_t lut[256];
    switch (op) {
    case AUG_IDENTITY: break;
    case AUG_SHEAR_X:
        inverse_affine(m, 0, 0, 0.0, 0, 0, atan(magnitude) * (180.0 / M_PI), 0.0);
        affine(px, scratch, W, H, m, bilinear);
        break;
    case AUG_SHEAR_Y:
        inverse_affine(m, 0, 0, 0.0, 0, 0, 0.0, atan(magnitude) * (180.0 / M_PI));
        affine(px, scratch, W, H, m, bilinear);
        break;
    case AUG_TRANSLATE_X:
    case AUG_TRANSLATE_Y: {
        double t = (double)(int64_t)magnitude; /* int(magnitude) */
        inverse_affine(m, W * 0.5, H * 0.5, 0.0, op == AUG_TRANSLATE_X ? t : 0, op == AUG_TRANSLATE_Y ? t : 0, 0.0,
                       0.0);
        affine(px, scratch, W, H, m, bilinear);
        break;
    }
    case AUG_ROTATE: rotate(px, scratch, W, H, magnitude, bilinear); break;
    case AUG_BRIGHTNESS: adjust_brightness(px, n, (float)(1.0 + magnitude)); break;
    case AUG_COLOR: adjust_saturation(px, n, (float)(1.0 + magnitude)); break;
    case AUG_CONTRAST: adjust_contrast(px, n, (float)(1.0 + magnitude)); break;
    case AUG_SHARPNESS: sharpness(px, scratch, W, H, (float)(1.0 + magnitude)); break;
    case AUG_POSTERIZE: {
        int bits = (int)magnitude;
        bits = bits < 0 ? 0 : bits > 8 ? 8 : bits;
        uint8_t mask = (uint8_t) ~((1u << (8 - bits)) - 1u);
        for (int i = 0; i < 256; i++) lut[i] = (uint8_t)(i & mask);
        apply_lut(px, 3 * n, lut);
        break;
    }
    case AUG_SOLARIZE:
        for (int i = 0; i < 256; i++) lut[i] = (uint8_t)(i < magnitude ? i : 255 - i);
        apply_lut(px, 3 * n, lut);
        break;
    case AUG_AUTOCONTRAST:
        for (int c = 0; c < 3; c++) autocontrast(px + c * n, n);
        break;
    case AUG_EQUALIZE:
        for (int c = 0; c < 3; c++) equalize(px + c * n, n);
        break;
    case AUG_INVERT:
        for (size_t i = 0; i < 3 * n; i++) px[i] = (uint8_t)(255 - px[i]);
        break;
    default: break;
    }
}

void autoaug_apply(uint8_t *px, uint8_t *scratch, int width, int height, const AugPlan *plan) {
    for (int k = 0; k < plan->n; k++)
        autoaug_op(px, scratch, width, height, (AugOp)plan->op[k], plan->magnitude[k], plan->bilinear);
}
