/*
 * dropout.c — reference dropout with a counter-based mask (see ops.h); the
 * one CPU implementation (the dnnl backend runs it too).
 *
 *   inp, out [n, features]
 */
#include "common/philox.h"
#include "nn/ops.h"

int dropout_keep(const DropoutKey *key, uint64_t element) {
    uint32_t w = rng_word(key->seed, RNG_DROPOUT, (uint32_t)key->step, key->layer, element);
    return rng_u01(w) >= key->p;
}

/* out = mask(in) / (1 - p): overwriting out (which may be in), or, with
 * accumulate, adding the kept values into out. One Philox block serves 4
 * consecutive global elements (rng_word's layout), so each sample draws a
 * quarter of the blocks dropout_keep would. */
static void dropout_map(float *out, const float *in, int n, size_t features, const DropoutKey *key, int accumulate) {
    const float scale = 1.0f / (1.0f - key->p), p = key->p;
    const uint32_t step = (uint32_t)key->step;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        uint64_t base = (key->sample_offset + (uint64_t)s) * features;
        const float *x = in + (size_t)s * features;
        float *y = out + (size_t)s * features;
        size_t f = 0;
        while (f < features) {
            uint64_t e = base + f;
            Philox4 r = rng_block(key->seed, RNG_DROPOUT, step, key->layer, (uint32_t)(e >> 2));
            for (unsigned lane = (unsigned)(e & 3); lane < 4 && f < features; lane++, f++) {
                int keep = rng_u01(r.v[lane]) >= p;
                if (!accumulate) y[f] = keep ? x[f] * scale : 0.0f;
                else if (keep) y[f] += x[f] * scale;
            }
        }
    }
}

void dropout_forward(float *out, const float *inp, int n, size_t features, const DropoutKey *key) {
    dropout_map(out, inp, n, features, key, 0);
}

void dropout_backward(float *dinp, const float *dout, int n, size_t features, const DropoutKey *key) {
    dropout_map(dinp, dout, n, features, key, 1);
}
