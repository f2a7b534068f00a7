/*
 * philox.h — the counter-based random generator behind every random number.
 *
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11; the generator of cuRAND and PyTorch). A random word is a pure function
 * of (seed, counter), so a dropout mask, an initial weight or an augmentation
 * depends only on *what* it is for — (seed, domain, step/epoch, layer/sample,
 * element) — never on thread count, timing or backend. Header-only and usable
 * from CUDA so GPU dropout masks match the CPU bit for bit.
 */
#ifndef ALEXNET_PHILOX_H
#define ALEXNET_PHILOX_H

#include <stdint.h>

#if defined(__CUDACC__)
#define ALX_HD __host__ __device__ __forceinline__
#else
#define ALX_HD static inline
#endif

/* What a random stream is for; the domain is part of the counter. */
enum {
    RNG_DROPOUT = 1,   /* a = step, b = layer index, i = element / 4          */
    RNG_INIT = 2,      /* a = parameter tensor index, b = 0, i = element / 4  */
    RNG_SHUFFLE = 3,   /* a = epoch                                           */
    RNG_AUGMENT = 4,   /* a = epoch, b = sample index                         */
    RNG_SYNTHETIC = 5, /* test/benchmark data                                 */
    RNG_ERASE = 6,     /* a = epoch, b = sample index (random erasing)         */
    RNG_MIX = 7,       /* a = optimizer step, b = micro-batch of the global batch (MixUp, CutMix) */
    RNG_AUTOAUG = 8,   /* a = epoch, b = sample index (automatic augmentation's ops) */
};

typedef struct {
    uint32_t v[4];
} Philox4;

ALX_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* Ten rounds of Philox4x32 on counter (c0..c3) with a 64-bit key. */
ALX_HD Philox4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint64_t key) {
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        philox_mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        philox_mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    Philox4 out = { { c0, c1, c2, c3 } };
    return out;
}

/* Counter layout shared by all users: (i, a, b, domain). */
ALX_HD Philox4 rng_block(uint64_t seed, uint32_t domain, uint32_t a, uint32_t b, uint32_t i) {
    return philox4x32(i, a, b, domain, seed);
}

/* The element-th word of the stream (seed, domain, a, b). */
ALX_HD uint32_t rng_word(uint64_t seed, uint32_t domain, uint32_t a, uint32_t b, uint64_t element) {
    Philox4 r = rng_block(seed, domain, a, b, (uint32_t)(element >> 2));
    return r.v[element & 3];
}

/* Uniform in [0, 1) with 24 bits, exact in float on every platform. */
ALX_HD float rng_u01(uint32_t word) { return (float)(word >> 8) * (1.0f / 16777216.0f); }

#endif
