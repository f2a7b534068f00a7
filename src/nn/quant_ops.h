/*
 * quant_ops.h — the int8 inference operators (post-training quantization,
 * model/quant.h): the plain-C reference the fast int8 paths are checked
 * against. Forward only: an int8 model is for inference.
 *
 * Activations are u8 with a zero point, weights s8 per output channel,
 * products summed exactly in int32; the result goes back to fp32:
 *   q = clamp(nearbyint(x / in_scale) + in_zero, 0, 255)          (u8; ONNX's QuantizeLinear)
 *   out[o] = (float)sum (q - in_zero) * wq[o, ...] * (in_scale * w_scale[o]) + bias[o]
 * The scale product is one float multiply, then the float product with
 * the sum, then the bias: the order the fast backends are compared in. */
#ifndef ALEXNET_QUANT_OPS_H
#define ALEXNET_QUANT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops.h"

/* u8 of count floats (the quantization of one layer's input), saturated to
 * 0..255; NaN (a diverged layer before it) gives 0. */
void quantize_u8(uint8_t *q, const float *x, size_t count, float scale, int zero);

/* int32 workspace elements conv2d_int8_forward needs (its im2col, one
 * group of one sample, and the sums). */
size_t conv2d_int8_workspace(const ConvShape *s);
void conv2d_int8_forward(float *out, const uint8_t *inp, int in_zero, float in_scale, const int8_t *weight,
                         const float *w_scale, const float *bias, const ConvShape *s, int32_t *workspace);
/* out[n, o] for inp [n, in] (u8) and weight [out, in] (s8). */
void linear_int8_forward(float *out, const uint8_t *inp, int in_zero, float in_scale, const int8_t *weight,
                         const float *w_scale, const float *bias, int n, int in, int out_features);

#endif
