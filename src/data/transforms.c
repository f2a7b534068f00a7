/*
 * transforms.c — augmentation parameters, PIL-exact colour jitter and the
 * output conversion (see transforms.h).
 *
 * torchvision applies ColorJitter to a PIL image, so each op is PIL's
 * ImageEnhance: Image.blend(degenerate, img, f) = trunc(clip(d + f*(v - d)))
 * in float per byte, with degenerate = black (brightness), the rounded mean
 * of the "L" image (contrast) or the "L" image itself (saturation). Doing the
 * same here in uint8 gives torchvision's bytes exactly. Images are planar
 * ([3][S][S], see resize.h) so every op is a straight vector loop.
 */
#include "data/transforms.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512VBMI__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif

#include "common/philox.h"
#include "common/util.h"

/* Word offsets inside an attempt's slice of the (epoch, index) stream. */
enum { W_TRY = 0, W_FLIP = 40, W_JITTER = 41, W_ORDER = 44 };

static uint32_t key_word(const AugmentKey *k, uint32_t w) {
    return rng_word(k->seed, RNG_AUGMENT, k->epoch, k->index, (uint64_t)k->attempt * AUGMENT_WORDS_PER_ATTEMPT + w);
}

static double key_uniform(const AugmentKey *k, uint32_t w, double lo, double hi) {
    return lo + (hi - lo) * (double)rng_u01(key_word(k, w));
}

/* torch.randint(0, n): uniform in [0, n). */
static int key_randint(const AugmentKey *k, uint32_t w, int n) {
    return (int)(((uint64_t)key_word(k, w) * (uint64_t)n) >> 32);
}

CropBox rrc_params(int width, int height, float scale_min, const AugmentKey *key) {
    double area = (double)width * (double)height;
    double log_lo = log(RRC_RATIO_MIN), log_hi = log(RRC_RATIO_MAX);
    for (int t = 0; t < 10; t++) {
        double target = area * key_uniform(key, W_TRY + 4 * t, scale_min, 1.0);
        double aspect = exp(key_uniform(key, W_TRY + 4 * t + 1, log_lo, log_hi));
        int w = (int)nearbyint(sqrt(target * aspect)); /* Python's round(): half to even */
        int h = (int)nearbyint(sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            CropBox c = { key_randint(key, W_TRY + 4 * t + 2, height - h + 1),
                          key_randint(key, W_TRY + 4 * t + 3, width - w + 1), h, w };
            return c;
        }
    }
    double in_ratio = (double)width / (double)height;
    int w = width, h = height;
    if (in_ratio < RRC_RATIO_MIN) {
        h = (int)nearbyint(w / RRC_RATIO_MIN);
    } else if (in_ratio > RRC_RATIO_MAX) {
        w = (int)nearbyint(h * RRC_RATIO_MAX);
    }
    CropBox c = { (height - h) / 2, (width - w) / 2, h, w };
    return c;
}

static uint32_t erase_word(const AugmentKey *k, uint32_t w) {
    return rng_word(k->seed, RNG_ERASE, k->epoch, k->index, (uint64_t)k->attempt * AUGMENT_WORDS_PER_ATTEMPT + w);
}

int erase_draw(CropBox *box, int S, float p, const AugmentKey *key) {
    if (!(p > 0) || rng_u01(erase_word(key, 0)) >= p) return 0;
    double area = (double)S * (double)S, log_lo = log(ERASE_RATIO_MIN), log_hi = log(ERASE_RATIO_MAX);
    for (uint32_t t = 0; t < 10; t++) {
        uint32_t w0 = 1 + 4 * t;
        double target = area * (ERASE_SCALE_MIN + (ERASE_SCALE_MAX - ERASE_SCALE_MIN) * rng_u01(erase_word(key, w0)));
        double aspect = exp(log_lo + (log_hi - log_lo) * rng_u01(erase_word(key, w0 + 1)));
        int h = (int)nearbyint(sqrt(target * aspect)), w = (int)nearbyint(sqrt(target / aspect));
        if (!(h < S && w < S)) continue;
        box->i = (int)(((uint64_t)erase_word(key, w0 + 2) * (uint64_t)(S - h + 1)) >> 32);
        box->j = (int)(((uint64_t)erase_word(key, w0 + 3) * (uint64_t)(S - w + 1)) >> 32);
        box->h = h;
        box->w = w;
        return 1;
    }
    return 0;
}

void erase_sample(void *dst, int S, InputFormat fmt, const CropBox *box) {
    for (int y = box->i; y < box->i + box->h; y++) {
        for (int x = box->j; x < box->j + box->w; x++) {
            size_t px = (size_t)y * (size_t)S + (size_t)x;
            for (int c = 0; c < 3; c++) {
                if (fmt == INPUT_U8_NHWC) ((uint8_t *)dst)[3 * px + c] = (uint8_t)nearbyintf(255.0f * IMAGENET_MEAN[c]);
                else if (fmt == INPUT_F32_NHWC) ((float *)dst)[3 * px + c] = 0.0f;
                else ((float *)dst)[(size_t)c * S * S + px] = 0.0f;
            }
        }
    }
}

int flip_mode_parse(const char *name) {
    static const char *const names[] = { "random", "alternate", "none" };
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

void augment_draw(Augment *a, int width, int height, float scale_min, int color_jitter, FlipMode flip,
                  const AugmentKey *key) {
    memset(a, 0, sizeof *a);
    a->crop = rrc_params(width, height, scale_min, key);
    if (flip == FLIP_ALTERNATE) {
        AugmentKey first = *key;
        first.epoch = 0;
        a->flip = (rng_u01(key_word(&first, W_FLIP)) < 0.5f) ^ (int)(key->epoch & 1u);
    } else {
        a->flip = flip == FLIP_RANDOM && rng_u01(key_word(key, W_FLIP)) < 0.5f;
    }
    a->jitter = color_jitter;
    for (int f = 0; f < 3; f++)
        a->factor[f] = 1.0f - JITTER_STRENGTH + 2.0f * JITTER_STRENGTH * rng_u01(key_word(key, W_JITTER + f));
    uint8_t order[3] = { 0, 1, 2 };
    for (int i = 2; i > 0; i--) { /* Fisher-Yates: a uniform permutation */
        int j = key_randint(key, W_ORDER + (uint32_t)(2 - i), i + 1);
        uint8_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    memcpy(a->order, order, sizeof order);
}

/* Pillow's ImagingBlend on one byte: degenerate d, image v, factor f:
 * float d + f*(v - d), clipped to [0, 255], truncated. Truncating first and
 * clamping the integer is the same function (no value is NaN or huge) and
 * vectorises to plain min/max. No FMA contraction (ISO C mode's default),
 * as in Pillow. */
#pragma STDC FP_CONTRACT OFF
static inline uint8_t blend(float d, float v, float f) {
    int32_t t = (int32_t)(d + f * (v - d));
    t = t < 0 ? 0 : t;
    return (uint8_t)(t > 255 ? 255 : t);
}

/* Pillow's "L": (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
static inline int32_t luma(int32_t r, int32_t g, int32_t b) {
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/* v -> blend(d, v, f) on every byte. With AVX-512 VBMI the 256 answers sit
 * in four registers and a byte permute looks 64 of them up at a time;
 * otherwise the float blend itself is the fastest vector loop. */
static void blend_all(uint8_t *px, size_t count, float d, float f) {
    size_t i = 0;
#if defined(__AVX512VBMI__) && defined(__AVX512BW__)
    uint8_t table[256];
    for (int v = 0; v < 256; v++) table[v] = blend(d, (float)v, f);
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    for (; i + 64 <= count; i += 64) {
        __m512i v = _mm512_loadu_si512(px + i);
        __m512i low = _mm512_permutex2var_epi8(t0, v, t1), high = _mm512_permutex2var_epi8(t2, v, t3);
        _mm512_storeu_si512(px + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), low, high));
    }
#endif
    for (; i < count; i++) px[i] = blend(d, (float)px[i], f);
}

void adjust_brightness(uint8_t *px, size_t n, float f) { blend_all(px, 3 * n, 0.0f, f); }

void adjust_contrast(uint8_t *px, size_t n, float f) {
    const uint8_t *r = px, *g = px + n, *b = px + 2 * n;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += luma(r[i], g[i], b[i]);
    /* ImageStat's mean of the "L" image, then int(mean + 0.5). */
    float mean = (float)(int)((double)sum / (double)n + 0.5);
    blend_all(px, 3 * n, mean, f);
}

void adjust_saturation(uint8_t *px, size_t n, float f) {
    uint8_t *r = px, *g = px + n, *b = px + 2 * n;
    for (size_t i = 0; i < n; i++) {
        float y = (float)luma(r[i], g[i], b[i]);
        r[i] = blend(y, (float)r[i], f);
        g[i] = blend(y, (float)g[i], f);
        b[i] = blend(y, (float)b[i], f);
    }
}

void color_jitter(uint8_t *px, size_t n, const Augment *a) {
    if (!a->jitter) return;
    for (int k = 0; k < 3; k++) {
        int op = a->order[k];
        float f = a->factor[op];
        if (op == JITTER_BRIGHTNESS) adjust_brightness(px, n, f);
        else if (op == JITTER_CONTRAST) adjust_contrast(px, n, f);
        else adjust_saturation(px, n, f);
    }
}

void write_sample(void *dst, const uint8_t *planes, int image_size, InputFormat fmt) {
    const size_t n = (size_t)image_size * (size_t)image_size;
    const uint8_t *r = planes, *g = planes + n, *b = planes + 2 * n;
    if (fmt == INPUT_U8_NHWC) {
        uint8_t *out = dst;
        for (size_t i = 0; i < n; i++) {
            out[3 * i + 0] = r[i];
            out[3 * i + 1] = g[i];
            out[3 * i + 2] = b[i];
        }
        return;
    }
    /* ToTensor then Normalize, in float32 as torch computes them: (v / 255 - mean) / std. */
    float *out = dst;
    if (fmt == INPUT_F32_NCHW) {
        for (int c = 0; c < 3; c++) {
            const uint8_t *p = planes + (size_t)c * n;
            float *o = out + (size_t)c * n;
            const float m = IMAGENET_MEAN[c], s = IMAGENET_STD[c];
            for (size_t i = 0; i < n; i++) o[i] = ((float)p[i] / 255.0f - m) / s;
        }
    } else {
        const float m0 = IMAGENET_MEAN[0], m1 = IMAGENET_MEAN[1], m2 = IMAGENET_MEAN[2];
        const float s0 = IMAGENET_STD[0], s1 = IMAGENET_STD[1], s2 = IMAGENET_STD[2];
        for (size_t i = 0; i < n; i++) {
            out[3 * i + 0] = ((float)r[i] / 255.0f - m0) / s0;
            out[3 * i + 1] = ((float)g[i] / 255.0f - m1) / s1;
            out[3 * i + 2] = ((float)b[i] / 255.0f - m2) / s2;
        }
    }
}

int eval_resize_size(int image_size) { return (image_size * 256 + 112) / 224; }

void eval_resized_dims(int width, int height, int crop, int resize, int *rw, int *rh) {
    if (resize <= 0) {
        *rw = *rh = eval_resize_size(crop);
        return;
    }
    int64_t shorter = width <= height ? width : height, longer = width <= height ? height : width;
    /* Python's int(r * long / short): a correctly rounded quotient, truncated */
    int scaled = (int)((double)((int64_t)resize * longer) / (double)shorter);
    *rw = width <= height ? resize : scaled;
    *rh = width <= height ? scaled : resize;
}

int eval_geometry_check(int crop, int resize, Error *err) {
    if (resize < 0)
        return error_set(err, "--val_resize_size %d: must be 0 (the seed's square resize) or a size", resize);
    if (resize > 0 && resize < crop)
        return error_set(err,
                         "--val_resize_size %d is smaller than --val_crop_size %d: the centre crop must fit in the "
                         "resized image (use a resize of at least the crop, or 0 for round(crop*256/224) square)",
                         resize, crop);
    return 0;
}

void input_mirror(void *dst, const void *src, int n, int image_size, InputFormat fmt) {
    const size_t S = (size_t)image_size, px = fmt == INPUT_U8_NHWC    ? 3
                                              : fmt == INPUT_F32_NHWC ? 3 * sizeof(float)
                                                                      : sizeof(float);
    const size_t rows = fmt == INPUT_F32_NCHW ? 3 * S * (size_t)n : S * (size_t)n, row = S * px;
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (size_t r = 0; r < rows; r++)
        for (size_t x = 0; x < S; x++) memcpy(d + r * row + x * px, s + r * row + (S - 1 - x) * px, px);
}

void tta_mean(float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (a[i] + b[i]) / 2.0f;
}
