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

/* Philox blocks generated together: the 10 rounds of DROP_BLOCKS counters
 * run side by side in vector lanes (the scalar generator is
 * multiply-latency bound: 2/3 of the layer's time before). */
#define DROP_BLOCKS 16

/* words[4 * k + lane] = rng_block(..., first + k).v[lane] */
static void dropout_blocks(uint32_t *words, const DropoutKey *key, uint32_t first) {
    uint32_t w0[DROP_BLOCKS], w1[DROP_BLOCKS], w2[DROP_BLOCKS], w3[DROP_BLOCKS];
    const uint32_t step = (uint32_t)key->step;
#pragma omp simd
    for (int k = 0; k < DROP_BLOCKS; k++) {
        Philox4 r = rng_block(key->seed, RNG_DROPOUT, step, key->layer, first + (uint32_t)k);
        w0[k] = r.v[0];
        w1[k] = r.v[1];
        w2[k] = r.v[2];
        w3[k] = r.v[3];
    }
    for (int k = 0; k < DROP_BLOCKS; k++) {
        words[4 * k] = w0[k];
        words[4 * k + 1] = w1[k];
        words[4 * k + 2] = w2[k];
        words[4 * k + 3] = w3[k];
    }
}

/* out = mask(in) / (1 - p): overwriting out (which may be in), or, with
 * accumulate, adding the kept values into out. Global element e draws word
 * e & 3 of block e >> 2 (rng_word's layout), so a sample's features are
 * covered by consecutive blocks, generated DROP_BLOCKS at a time. */
static void dropout_map(float *out, const float *in, int n, size_t features, const DropoutKey *key, int accumulate) {
    const float scale = 1.0f / (1.0f - key->p), p = key->p;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const uint64_t base = (key->sample_offset + (uint64_t)s) * features, end = base + features;
        const float *x = in + (size_t)s * features;
        float *y = out + (size_t)s * features;
        for (uint64_t blk = base >> 2; blk << 2 < end; blk += DROP_BLOCKS) {
            uint32_t words[4 * DROP_BLOCKS];
            dropout_blocks(words, key, (uint32_t)blk);
            uint64_t e0 = blk << 2, lo = e0 < base ? base - e0 : 0;
            uint64_t hi = end - e0 < 4 * DROP_BLOCKS ? end - e0 : 4 * DROP_BLOCKS;
            for (uint64_t j = lo; j < hi; j++) {
                size_t f = (size_t)(e0 + j - base);
                int keep = rng_u01(words[j]) >= p;
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
