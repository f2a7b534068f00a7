/*
 * prepare_synthetic.c — `alexnet prepare synthetic`: photo-like JPEGs whose
 * class a network can learn, for tests and benchmarks.
 *
 * Each image: a two-colour gradient background with a soft texture, a few
 * distractor blobs, one object whose shape (circle, box, triangle, ring,
 * striped disc) and hue depend on the class, and per-pixel noise. The noise
 * and texture give the files the entropy (size, decode cost) of real photos,
 * which is what a loader benchmark needs. All randomness is philox
 * (RNG_SYNTHETIC, a = class, b = image), so a folder is a pure function of
 * the flags; images are made in parallel (OpenMP).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "data/jpeg_encode.h"
#include "data/prepare.h"

#define NOISE_WORD0 1024u /* first stream word used for per-pixel noise */

typedef struct {
    float r, g, b;
} Rgb;

static Rgb hsv(float h, float s, float v) {
    h = fmodf(h, 1.0f);
    if (h < 0) h += 1.0f;
    float x = h * 6.0f;
    int i = (int)x;
    float f = x - (float)i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    Rgb c;
    switch (i % 6) {
    case 0: c = (Rgb){ v, t, p }; break;
    case 1: c = (Rgb){ q, v, p }; break;
    case 2: c = (Rgb){ p, v, t }; break;
    case 3: c = (Rgb){ p, q, v }; break;
    case 4: c = (Rgb){ t, p, v }; break;
    default: c = (Rgb){ v, p, q }; break;
    }
    return (Rgb){ c.r * 255, c.g * 255, c.b * 255 };
}

typedef struct {
    uint64_t seed;
    uint32_t cls, idx, next;
} Draw;

static float draw(Draw *d, float lo, float hi) {
    return lo + (hi - lo) * rng_u01(rng_word(d->seed, RNG_SYNTHETIC, d->cls, d->idx, d->next++));
}

/* 1 if (x, y) is inside shape `kind` centred at (cx, cy) with radius r. */
static int inside(int kind, float x, float y, float cx, float cy, float r) {
    float dx = x - cx, dy = y - cy, d2 = dx * dx + dy * dy;
    switch (kind) {
    case 0: return d2 < r * r;
    case 1: return fabsf(dx) < r && fabsf(dy) < 0.6f * r;
    case 2: return dy < 0.8f * r && dy > -r + 2.0f * fabsf(dx);
    case 3: return d2 < r * r && d2 > 0.36f * r * r;
    default: return d2 < r * r && ((int)floorf((dx + dy) / (0.25f * r)) & 1);
    }
}

static void render(uint8_t *px, int W, int H, int classes, uint64_t seed, uint32_t cls, uint32_t idx, float *tx) {
    Draw d = { seed, cls, idx, 0 };
    float hue = (float)cls / (float)classes;
    Rgb c0 = hsv(draw(&d, 0, 1), draw(&d, 0.2f, 0.6f), draw(&d, 0.3f, 0.9f));
    Rgb c1 = hsv(draw(&d, 0, 1), draw(&d, 0.2f, 0.6f), draw(&d, 0.3f, 0.9f));
    float ang = draw(&d, 0, 6.2832f), gx = cosf(ang) / (float)W, gy = sinf(ang) / (float)H;
    float fx = draw(&d, 0.02f, 0.15f), fy = draw(&d, 0.02f, 0.15f), ph = draw(&d, 0, 6.2832f);
    float tex = draw(&d, 8, 24);
    /* A fine texture as well (foliage, fabric): JPEG's high frequencies. */
    float hx = draw(&d, 0.5f, 1.4f), hy = draw(&d, 0.5f, 1.4f), hph = draw(&d, 0, 6.2832f), htex = draw(&d, 10, 24);
    for (int x = 0; x < W; x++) {
        tx[x] = sinf(fx * (float)x + ph);
        tx[W + x] = htex * sinf(hx * (float)x + hph);
    }
    enum { BLOBS = 4 };
    float bx[BLOBS], by[BLOBS], br[BLOBS];
    Rgb bc[BLOBS];
    for (int k = 0; k < BLOBS; k++) {
        bx[k] = draw(&d, 0, (float)W);
        by[k] = draw(&d, 0, (float)H);
        br[k] = draw(&d, 0.04f, 0.12f) * (float)(W < H ? W : H);
        bc[k] = hsv(draw(&d, 0, 1), draw(&d, 0.1f, 0.5f), draw(&d, 0.2f, 1.0f));
    }
    int kind = (int)(cls % 5);
    float m = (float)(W < H ? W : H);
    float ocx = draw(&d, 0.3f, 0.7f) * (float)W, ocy = draw(&d, 0.3f, 0.7f) * (float)H;
    float orad = draw(&d, 0.2f, 0.38f) * m;
    Rgb oc = hsv(hue + draw(&d, -0.03f, 0.03f), draw(&d, 0.6f, 0.9f), draw(&d, 0.6f, 1.0f));
    float noise = draw(&d, 24, 36);

    for (int y = 0; y < H; y++) {
        float ty = sinf(fy * (float)y), hty = sinf(hy * (float)y);
        uint8_t *row = px + (size_t)y * (size_t)W * 3;
        for (int x = 0; x < W; x += 4) {
            uint64_t e = (uint64_t)y * (uint64_t)((W + 3) / 4) + (uint64_t)(x / 4);
            Philox4 rnd = rng_block(seed, RNG_SYNTHETIC, cls, idx, NOISE_WORD0 + (uint32_t)e);
            for (int q = 0; q < 4 && x + q < W; q++) {
                int xx = x + q;
                float t = gx * (float)xx + gy * (float)y + 0.5f;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                Rgb c = { c0.r + t * (c1.r - c0.r), c0.g + t * (c1.g - c0.g), c0.b + t * (c1.b - c0.b) };
                float s = tex * tx[xx] * ty + tx[W + xx] * hty;
                c.r += s;
                c.g += s;
                c.b += s;
                for (int k = 0; k < BLOBS; k++)
                    if (inside(0, (float)xx, (float)y, bx[k], by[k], br[k])) c = bc[k];
                if (inside(kind, (float)xx, (float)y, ocx, ocy, orad)) {
                    float shade = 1.0f - 0.35f * ((float)y - ocy + orad) / (2 * orad);
                    c = (Rgb){ oc.r * shade, oc.g * shade, oc.b * shade };
                }
                uint32_t w = rnd.v[q];
                /* Two bytes summed: a triangular distribution, close enough to sensor noise. */
                float n0 = noise * ((float)((w & 255) + ((w >> 8) & 255)) / 255.0f - 1.0f);
                float n1 = noise * ((float)(((w >> 16) & 255) + ((w >> 24) & 255)) / 255.0f - 1.0f);
                float v[3] = { c.r + n0, c.g + 0.5f * (n0 + n1), c.b + n1 };
                for (int ch = 0; ch < 3; ch++) {
                    float z = v[ch] + 0.5f;
                    row[3 * xx + ch] = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
                }
            }
        }
    }
}

int prepare_synthetic(const SyntheticConfig *c, Error *err) {
    if (c->classes < 1 || c->classes > 1000) return error_set(err, "--classes must be 1..1000 (got %d)", c->classes);
    if (c->per_class < 1) return error_set(err, "--per_class must be at least 1 (got %d)", c->per_class);
    if (c->width < 8 || c->height < 8 || c->width > 8192 || c->height > 8192)
        return error_set(err, "--size must be between 8x8 and 8192x8192 (got %dx%d)", c->width, c->height);
    int quality = c->quality > 0 ? c->quality : 90;
    for (int k = 0; k < c->classes; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/class_%03d", c->out, k);
        if (mkdir_p(dir, err) != 0) return -2;
    }
    int64_t total = (int64_t)c->classes * c->per_class;
    FirstError first = { { { 0 } }, 0 };
#pragma omp parallel
    {
        uint8_t *px = xmalloc((size_t)c->width * (size_t)c->height * 3);
        float *tx = xmalloc(sizeof(float) * 2 * (size_t)c->width);
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < total; i++) {
            if (first_error_seen(&first)) continue;
            uint32_t cls = (uint32_t)(i / c->per_class), idx = (uint32_t)(i % c->per_class);
            render(px, c->width, c->height, c->classes, c->seed, cls, idx, tx);
            char path[4200];
            snprintf(path, sizeof path, "%s/class_%03u/img_%05u.jpg", c->out, cls, idx);
            Error e;
            if (jpeg_write_file(path, px, c->width, c->height, 3, quality, &e) != 0) {
                first_error_keep(&first, &e);
            }
        }
        free(px);
        free(tx);
    }
    if (first.failed) {
        if (err) *err = first.err;
        return -2;
    }
    return 0;
}
