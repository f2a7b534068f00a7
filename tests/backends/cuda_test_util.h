/*
 * cuda_test_util.h — what the two cuda test programs share: synthetic
 * batches, conversion to a backend's input format, relative L2 error, and
 * whether a GPU is there to test on.
 */
#ifndef ALEXNET_CUDA_TEST_UTIL_H
#define ALEXNET_CUDA_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "common/philox.h"
#ifdef ALEXNET_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

/* Batch batch_id of a synthetic stream: random bytes [b, S, S, 3] and labels in [0, K). */
static inline void make_batch(uint8_t *u8, int32_t *labels, int b, int S, int K, uint64_t seed, int batch_id) {
    size_t n = (size_t)b * S * S * 3;
    for (size_t i = 0; i < n; i++)
        u8[i] = (uint8_t)(rng_word(seed, RNG_SYNTHETIC, 100 + (uint32_t)batch_id, 0, i) >> 24);
    for (int i = 0; i < b; i++)
        labels[i] = (int32_t)(rng_word(seed, RNG_SYNTHETIC, 200 + (uint32_t)batch_id, 0, (uint64_t)i) % (uint32_t)K);
}

/* The batch in the backend's input format; floats normalised as the cuda input kernel does. */
static inline void to_format(InputFormat fmt, const uint8_t *u8, void *out, int b, int S) {
    size_t hw = (size_t)S * S;
    if (fmt == INPUT_U8_NHWC) {
        memcpy(out, u8, (size_t)b * hw * 3);
        return;
    }
    float *o = out;
    for (int n = 0; n < b; n++)
        for (size_t p = 0; p < hw; p++)
            for (int c = 0; c < 3; c++) {
                float v = ((float)u8[((size_t)n * hw + p) * 3 + c] / 255.0f - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
                if (fmt == INPUT_F32_NCHW) o[((size_t)n * 3 + c) * hw + p] = v;
                else o[((size_t)n * hw + p) * 3 + c] = v;
            }
}

static inline double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    if (!(num == num)) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline int gpu_present(char *why, size_t len) {
#ifdef ALEXNET_HAVE_CUDA
    char msg[200] = "";
    if (cuda_backend_device_count(msg, sizeof msg) > 0) return 1;
    snprintf(why, len, "no GPU (%s)", msg);
#else
    snprintf(why, len, "this build has no CUDA backend");
#endif
    return 0;
}

#endif
