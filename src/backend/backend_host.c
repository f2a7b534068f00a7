/*
 * backend_host.c — the host-side pieces the backends share (see
 * backend_host.h): profile counters, the dropout key, the SGD update.
 */
#include "backend/backend_host.h"

#include <string.h>

double profile_start(const LayerProfile *p) { return p->on ? now_seconds() : 0.0; }

void profile_lap(LayerProfile *p, int dir, int layer, double *t0) {
    if (!p->on) return;
    double t1 = now_seconds();
    p->ms[dir][layer] += 1e3 * (t1 - *t0);
    *t0 = t1;
}

void profile_read(LayerProfile *p, int n_layers, double *fwd_ms, double *bwd_ms) {
    memcpy(fwd_ms, p->ms[PROFILE_FWD], sizeof(double) * (size_t)n_layers);
    memcpy(bwd_ms, p->ms[PROFILE_BWD], sizeof(double) * (size_t)n_layers);
    memset(p->ms, 0, sizeof p->ms);
}

int dropout_key_for(DropoutKey *key, uint64_t seed, const ForwardArgs *fwd, int layer, const Layer *l) {
    if (!fwd->train || l->drop_p <= 0.0f) return 0;
    key->seed = seed;
    key->step = fwd->step;
    key->sample_offset = fwd->sample_offset;
    key->layer = (uint32_t)layer;
    key->p = l->drop_p;
    return 1;
}

void sgd_update_host(const Net *net, float *params, const float *grads, float *momentum, const SgdArgs *a,
                     uint16_t *const *bf16_copy) {
    const float m = a->momentum;
#pragma omp parallel
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        if (p->frozen) continue;
        const float wd = p->decay ? a->weight_decay : 0.0f, lr = a->lr * p->lr_scale;
        float *restrict w = params + p->offset, *restrict v = momentum + p->offset;
        const float *restrict g = grads + p->offset;
        uint16_t *restrict c = bf16_copy ? bf16_copy[t] : NULL;
        long cnt = (long)p->numel;
        if (c) {
#pragma omp for simd schedule(static) nowait
            for (long i = 0; i < cnt; i++) {
                float vi = m * v[i] + (g[i] + wd * w[i]), wi = w[i] - lr * vi;
                v[i] = vi;
                w[i] = wi;
                c[i] = bf16_round(wi);
            }
        } else {
#pragma omp for simd schedule(static) nowait
            for (long i = 0; i < cnt; i++) {
                float vi = m * v[i] + (g[i] + wd * w[i]);
                v[i] = vi;
                w[i] -= lr * vi;
            }
        }
    }
}
