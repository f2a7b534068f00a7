/*
 * ema.c — the weights' moving average (see ema.h).
 */
#include "train/ema.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

double ema_adjusted_decay(double decay, int64_t global_batch, int steps_between, double epochs) {
    double adjust = (double)global_batch * steps_between / epochs;
    double alpha = (1.0 - decay) * adjust;
    return 1.0 - (alpha < 1.0 ? alpha : 1.0);
}

void ema_init(Ema *e, const float *start, size_t count, double decay, int64_t global_batch, int steps_between,
              int epochs) {
    e->decay = ema_adjusted_decay(decay, global_batch, steps_between, epochs);
    e->count = count;
    e->updates = 0;
    e->w = xaligned_alloc(count * sizeof(float));
    memcpy(e->w, start, count * sizeof(float));
}

void ema_update(Ema *e, const float *params, int in_warmup) {
    float k = (float)(1.0 - e->decay);
    if (e->updates == 0) {
        memcpy(e->w, params, e->count * sizeof(float));
    } else {
        float *restrict w = e->w;
        const float *restrict p = params;
        size_t n = e->count;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) w[i] += k * (p[i] - w[i]);
    }
    e->updates = in_warmup ? 0 : e->updates + 1;
}

void ema_free(Ema *e) {
    free(e->w);
    memset(e, 0, sizeof *e);
}
