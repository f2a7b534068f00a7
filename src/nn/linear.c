/*
 * linear.c — reference fully connected layer.
 *
 *   inp    [n, in]
 *   weight [out, in]
 *   out    [n, out]
 */
#include "nn/gemm_ref.h"
#include "nn/ops.h"

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int n, int in,
                    int out_features) {
    gemm_dot_abt(out, inp, weight, n, out_features, in, 0);
    for (int s = 0; s < n; s++)
        for (int o = 0; o < out_features; o++) out[(size_t)s * out_features + o] += bias[o];
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int n, int in, int out_features) {
    if (dweight) {
        for (int o = 0; o < out_features; o++) {
            float acc = 0.0f;
            for (int s = 0; s < n; s++) acc += dout[(size_t)s * out_features + o];
            dbias[o] += acc;
        }
        /* dweight[o, i] += sum_s dout[s, o] * inp[s, i] */
        gemm_acc_ab(dweight, dout, 1, (size_t)out_features, inp, out_features, n, in);
    }
    /* dinp[s, i] += sum_o dout[s, o] * weight[o, i] */
    if (dinp) gemm_acc_ab(dinp, dout, (size_t)out_features, 1, weight, n, out_features, in);
}
