/*
 * backend_host.h — what the backends share on the host, written once:
 *  - LayerProfile: the per-layer millisecond counters behind set_profiling /
 *    read_profile (ref and dnnl time with the wall clock, cuda with events);
 *  - dropout_key_for: the DropoutKey of a dropout layer in the last forward
 *    (ref, dnnl; the cuda kernels take seed, layer and p from the host and
 *    read step and sample offset from device memory, DevKeys, so a captured
 *    CUDA graph sees each step's values);
 *  - sgd_update_host: momentum SGD over host buffers (ref, dnnl; cuda's cuda_sgd_apply
 *    does the same operations in the same order on the device).
 * The checks every backend relies on are in the facade, backend.c (batch
 * sizes, the inference-only contract, what it supports).
 */
#ifndef ALEXNET_BACKEND_HOST_H
#define ALEXNET_BACKEND_HOST_H

#include <stdint.h>
#include <string.h>

#include "backend/backend_impl.h"

/* --- profiling ---------------------------------------------------------- */

enum { PROFILE_FWD = 0, PROFILE_BWD = 1 };

typedef struct {
    int on;                       /* set_profiling */
    double ms[2][NET_MAX_LAYERS]; /* [PROFILE_FWD or PROFILE_BWD][layer], summed until read */
} LayerProfile;

/* Start of the first lap: the wall clock when profiling, else 0. */
double profile_start(const LayerProfile *p);
/* Adds the time since *t0 to layer's counter of direction dir and restarts
 * *t0; nothing when profiling is off. */
void profile_lap(LayerProfile *p, int dir, int layer, double *t0);
/* Copies the first n_layers counters of each direction out and resets them. */
void profile_read(LayerProfile *p, int n_layers, double *fwd_ms, double *bwd_ms);

/* --- dropout ------------------------------------------------------------ */

/* The key of dropout layer `layer` (l) in a forward with args fwd and the
 * backend's seed. Returns 0 when the layer is the identity (eval, or
 * p == 0): then it copies its input (and gradient) through. */
int dropout_key_for(DropoutKey *key, uint64_t seed, const ForwardArgs *fwd, int layer, const Layer *l);

/* --- optimizer ---------------------------------------------------------- */

/* Momentum SGD in PyTorch's form over the flat buffers (Net.params order):
 *   v = momentum * v + (g + wd * w)     (wd only on tensors with decay=1)
 *   w = w - lr * v
 * Each tensor's lr is lr * ParamTensor.lr_scale; frozen tensors are skipped
 * (no momentum, no weight decay: they stay exactly as loaded). One parallel
 * region, vectorised; every element is independent, so the result does not
 * depend on the thread count.
 * bf16_copy (NULL, or one entry per tensor, NULL where none) names plain
 * bf16 copies of tensors to refresh in the same pass: copy[i] = bf16(w[i])
 * after the update, rounded as bf16_round does (the dnnl backend's bf16
 * weights, which otherwise cost a second pass over the fp32 weights). */
void sgd_update_host(const Net *net, float *params, const float *grads, float *momentum, const SgdArgs *a,
                     uint16_t *const *bf16_copy);

/* --- bf16 ----------------------------------------------------------------- */

/* fp32 -> bf16 rounded to nearest even, as oneDNN's reorders and CUDA's
 * __float2bfloat16 round (a NaN stays a quiet NaN). */
static inline uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#endif
