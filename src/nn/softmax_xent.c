/*
 * softmax_xent.c — softmax cross-entropy with label smoothing in the seed's
 * form (eps/(K-1) on the wrong classes) or PyTorch's (eps/K on all classes).
 *
 * With mixing (MixUp/CutMix), a row's target is lam times its own label's
 * smoothed one-hot plus (1 - lam) times the second label's. With class
 * weights (--class_balance loss), a row's loss is scaled by its label's.
 *
 *   logits, dlogits [n, k]; labels, mix->labels [n] in [0, k)
 */
#include <math.h>

#include "nn/ops.h"

double softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int n, int k, const XentArgs *a) {
    const LabelMix *mix = a->mix;
    double eps = a->eps, divisor = a->divisor, on, off;
    if (a->form == SMOOTH_SEED) {
        on = 1.0 - eps;
        off = k > 1 ? eps / (double)(k - 1) : 0.0;
    } else {
        on = 1.0 - eps + eps / (double)k;
        off = eps / (double)k;
    }
    double total = 0.0;
    for (int s = 0; s < n; s++) {
        const float *z = logits + (size_t)s * k;
        double mx = z[0];
        for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
        double logsum = log(sum) + mx;
        double loss = 0.0;
        double w = mix ? mix->lam : 1.0;
        int second = mix ? mix->labels[s] : labels[s];
        double row = a->class_weight ? w * a->class_weight[labels[s]] + (1.0 - w) * a->class_weight[second] : 1.0;
        for (int j = 0; j < k; j++) {
            double t = w * (j == labels[s] ? on : off) + (1.0 - w) * (j == second ? on : off);
            double logp = (double)z[j] - logsum;
            loss -= t * logp;
            if (dlogits) dlogits[(size_t)s * k + j] += (float)(row * (exp(logp) - t) / divisor);
        }
        total += row * loss;
    }
    return total / divisor;
}
