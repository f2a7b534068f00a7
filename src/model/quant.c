/*
 * quant.c — int8 quantization's arithmetic: weight scales, input ranges
 * from calibration (min/max, percentile, entropy), dequantization (see
 * quant.h).
 */
#include "model/quant.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define HIST_BINS 2048

void quant_free(QuantModel *q) {
    for (int i = 0; i < NET_MAX_LAYERS; i++) {
        free(q->w_scale[i]);
        free(q->w_q[i]);
    }
    memset(q, 0, sizeof *q);
}

int quant_weights(QuantModel *q, const Net *net, int layer, const float *w, Error *err) {
    const Layer *l = &net->layers[layer];
    const ParamTensor *p = &net->params[l->weight];
    const int out = p->shape[0];
    const size_t per = p->numel / (size_t)out;
    for (size_t k = 0; k < p->numel; k++)
        if (!isfinite(w[k]))
            return error_set(err,
                             "%s holds %g at element %zu: a model with non-finite weights can't be quantized "
                             "(it diverged; quantize an earlier checkpoint)",
                             p->name, (double)w[k], k);
    free(q->w_scale[layer]);
    free(q->w_q[layer]);
    q->w_scale[layer] = xmalloc(sizeof(float) * (size_t)out);
    q->w_q[layer] = xmalloc(p->numel);
    for (int o = 0; o < out; o++) {
        const float *row = w + (size_t)o * per;
        float amax = 0.0f;
        for (size_t k = 0; k < per; k++) amax = fmaxf(amax, fabsf(row[k]));
        float s = amax / 127.0f;
        if (!(s >= FLT_MIN)) s = 1.0f; /* zeros, or weights so small that they quantize to 0 at any normal scale */
        q->w_scale[layer][o] = s;
        for (size_t k = 0; k < per; k++) {
            float v = nearbyintf(row[k] / s);
            q->w_q[layer][(size_t)o * per + k] = (int8_t)(v < -127.0f ? -127.0f : v > 127.0f ? 127.0f : v);
        }
    }
    q->int8[layer] = 1;
    return 0;
}

void quant_range(float lo, float hi, float *scale, int *zero) {
    lo = fminf(lo, 0.0f);
    hi = fmaxf(hi, 0.0f);
    float s = (hi - lo) / 255.0f;
    if (!(s >= FLT_MIN && s < 1e30f)) s = 1.0f; /* the range the file loader accepts */
    float z = nearbyintf(-lo / s);
    *scale = s;
    *zero = (int)(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
}

void quant_dequantize(const QuantModel *q, const Net *net, int layer, float *params) {
    const ParamTensor *p = &net->params[net->layers[layer].weight];
    const size_t per = p->numel / (size_t)p->shape[0];
    float *w = params + p->offset;
    for (size_t i = 0; i < p->numel; i++) w[i] = (float)q->w_q[layer][i] * q->w_scale[layer][i / per];
}

void quant_observe_range(QuantObserver *o, const float *x, size_t n) {
    double lo = o->count ? o->lo : INFINITY, hi = o->count ? o->hi : -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    o->lo = lo;
    o->hi = hi;
    o->count += (int64_t)n;
}

static double hist_max(const QuantObserver *o) { return fmax(fabs(o->lo), fabs(o->hi)); }

void quant_observe_hist(QuantObserver *o, const float *x, size_t n) {
    double amax = hist_max(o);
    if (!(amax > 0)) return;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        int b = (int)(fabs(x[i]) / amax * HIST_BINS);
        o->hist[b >= HIST_BINS ? HIST_BINS - 1 : b] += 1.0;
    }
}

/* The smallest threshold (in bins) holding fraction p of the histogram. */
static int percentile_bins(const double *h, double p) {
    double total = 0, acc = 0;
    for (int i = 0; i < HIST_BINS; i++) total += h[i];
    for (int i = 0; i < HIST_BINS; i++) {
        acc += h[i];
        if (acc >= p * total) return i + 1;
    }
    return HIST_BINS;
}

/* TensorRT's entropy calibration for `levels` quantization levels: the
 * threshold i (bins) minimising KL(P || Q), P the histogram clipped at i
 * (the tail added to its last bin), Q its quantization to `levels` bins
 * spread back over the non-empty bins. */
static int entropy_bins(const double *h, int levels) {
    int best = HIST_BINS;
    double best_kl = INFINITY;
    double *p = xmalloc(sizeof(double) * HIST_BINS), *q = xmalloc(sizeof(double) * HIST_BINS);
    for (int i = levels; i <= HIST_BINS; i++) {
        double tail = 0;
        for (int j = i; j < HIST_BINS; j++) tail += h[j];
        memcpy(p, h, sizeof(double) * (size_t)i);
        p[i - 1] += tail;
        for (int b = 0; b < levels; b++) {
            int start = (int)((int64_t)b * i / levels), stop = (int)((int64_t)(b + 1) * i / levels);
            double sum = 0;
            int nonzero = 0;
            for (int j = start; j < stop; j++) {
                sum += h[j];
                nonzero += h[j] != 0;
            }
            for (int j = start; j < stop; j++) q[j] = h[j] != 0 ? sum / nonzero : 0;
        }
        double ps = 0, qs = 0;
        for (int j = 0; j < i; j++) {
            ps += p[j];
            qs += q[j];
        }
        if (!(ps > 0) || !(qs > 0)) continue;
        double kl = 0;
        for (int j = 0; j < i; j++) {
            if (p[j] == 0) continue;
            double pj = p[j] / ps, qj = q[j] / qs;
            kl += qj > 0 ? pj * log(pj / qj) : pj * log(pj / 1e-12);
        }
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
    }
    free(p);
    free(q);
    return best;
}

void quant_observer_range(const QuantObserver *o, const char *method, double percentile, float *lo, float *hi) {
    double l = o->count ? o->lo : 0, h = o->count ? o->hi : 0, amax = hist_max(o);
    if (amax > 0 && strcmp(method, "minmax") != 0) {
        /* u8 levels on the side that holds the values: 256 on one side (after a ReLU), 128 each for a signed input */
        int levels = l < 0 ? 128 : 256;
        int bins = strcmp(method, "entropy") == 0 ? entropy_bins(o->hist, levels)
                                                  : percentile_bins(o->hist, percentile / 100.0);
        double t = amax * bins / HIST_BINS;
        l = fmax(l, -t);
        h = fmin(h, t);
    }
    *lo = (float)l;
    *hi = (float)h;
}
