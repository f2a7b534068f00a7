/*
 * relu.c — reference ReLU.
 */
#include "nn/ops.h"

void relu_forward(float *out, const float *inp, size_t count) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t count) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}
