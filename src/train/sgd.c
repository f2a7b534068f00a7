/*
 * sgd.c — the host implementation of the optimizer update (see sgd.h).
 */
#include "train/sgd.h"

void sgd_update_host(const Net *net, float *params, const float *grads, float *momentum, const SgdArgs *a) {
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        if (p->frozen) continue;
        float wd = p->decay ? a->weight_decay : 0.0f, m = a->momentum, lr = a->lr * p->lr_scale;
        float *w = params + p->offset, *v = momentum + p->offset;
        const float *g = grads + p->offset;
        long n = (long)p->numel;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) {
            float vi = m * v[i] + (g[i] + wd * w[i]);
            v[i] = vi;
            w[i] -= lr * vi;
        }
    }
}
