/*
 * dnnl_int8.h — the oneDNN backend's plan for int8 models (PRECISION_INT8,
 * model/quant.h): forward only, built by dnnl_int8_build() and run by
 * dnnl_int8_forward().
 *
 * Layout: every activation is fp32 NHWC [B, H, W, C] (the network input
 * too: INPUT_F32_NHWC), unblocked and unpadded, so quantizing a layer's
 * input is one elementwise pass whatever wrote it, and a linear layer reads
 * its [C, H, W] input through a 4-d weight desc in torchvision's order.
 *
 * A quantized conv / linear layer quantizes its input with quantize_u8 (the
 * reference's own loop, nn/quant_ops.c: the u8 inputs are bit-identical to
 * the ref backend's), then runs a u8 x s8 primitive with s32 sums, the
 * per-channel scale products in_scale * w_scale[o] the reference uses, the
 * bias, and the next layer's ReLU fused (dnnl_compat.h, int8_attr). The
 * only difference from the reference is how oneDNN rounds the last
 * multiply-add (fused or not): at most one rounding of each output, which
 * the next layer's quantization can turn into one u8 step.
 *
 * u8 chains (dnnl_int8.c, find_u8_chains): where only ReLU, max pooling,
 * dropout or an identity average pool lie between two int8 layers and the
 * second's zero point is 0, the first writes the second's u8 input itself
 * and the pooling runs on u8 (exact: max pooling commutes with the monotone
 * quantization), as ONNX Runtime's QDQ graphs do: 13% faster at 224 px
 * batch 64. oneDNN then rounds y / scale its own way, which moves a u8
 * step at ties (3 of 200 Fashion-MNIST images' logits differ, by <= 4e-3
 * of the largest); ALEXNET_DNNL_INT8_U8=0 turns the chains off (then all
 * 200 equal the reference's bit for bit: the `alexnet` model, every layer
 * int8; an fp32-kept layer and odd-size LRN, alexnet_2012's, run oneDNN's
 * own sums and can move a u8 step too). Layers kept fp32
 * (--fp32_layers) run fp32 primitives on the same layouts. Max pooling and
 * odd-size LRN are oneDNN primitives on NHWC; ReLU (unfused), average
 * pooling and even-size LRN are the plain-C ops (on an NCHW copy where
 * they need one); dropout is the identity.
 */
#ifndef ALEXNET_DNNL_INT8_H
#define ALEXNET_DNNL_INT8_H

#include "backend/backend.h"
#include "backend/backend_host.h"

typedef struct Int8Plan Int8Plan;

/* NULL with err set when oneDNN has no primitive for a layer. quant is kept. */
Int8Plan *dnnl_int8_build(const Net *net, const QuantModel *quant, int B, int threads, Error *err);
void dnnl_int8_free(Int8Plan *p);
/* Flat fp32 params (Net.params order): biases, and the weights of layers kept fp32. */
void dnnl_int8_set_params(Int8Plan *p, const float *params);
void dnnl_int8_get_params(const Int8Plan *p, float *params);
/* input: n samples [n, S, S, 3] fp32 NHWC; runs the whole batch B (tail zeros). */
void dnnl_int8_forward(Int8Plan *p, const float *input, int n, LayerProfile *prof);
void dnnl_int8_read_logits(const Int8Plan *p, float *logits, int n);
/* "int8" or "fp32" and oneDNN's implementation, for tables. */
void dnnl_int8_layer_precision(const Int8Plan *p, int layer, char *buf, size_t len);

#endif
