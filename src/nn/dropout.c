/*
 * dropout.c — reference dropout with a counter-based mask (see ops.h).
 *
 *   inp, out [n, features]
 */
#include "common/philox.h"
#include "nn/ops.h"

int dropout_keep(const DropoutKey *key, uint64_t element) {
    uint32_t w = rng_word(key->seed, RNG_DROPOUT, (uint32_t)key->step, key->layer, element);
    return rng_u01(w) >= key->p;
}

void dropout_forward(float *out, const float *inp, int n, size_t features, const DropoutKey *key) {
    float scale = 1.0f / (1.0f - key->p);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        uint64_t base = (key->sample_offset + (uint64_t)s) * features;
        for (size_t f = 0; f < features; f++) {
            size_t i = (size_t)s * features + f;
            out[i] = dropout_keep(key, base + f) ? inp[i] * scale : 0.0f;
        }
    }
}

void dropout_backward(float *dinp, const float *dout, int n, size_t features, const DropoutKey *key) {
    float scale = 1.0f / (1.0f - key->p);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        uint64_t base = (key->sample_offset + (uint64_t)s) * features;
        for (size_t f = 0; f < features; f++) {
            size_t i = (size_t)s * features + f;
            if (dropout_keep(key, base + f)) dinp[i] += dout[i] * scale;
        }
    }
}
