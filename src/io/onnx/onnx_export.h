/*
 * onnx_export.h — a Net and its weights as an ONNX model: the eval network
 * (dropout gone), fixed input size, float32.
 *
 * Graph: input [N, 3, S, S] NCHW float ("input": normalised like the eval
 * transform, (x/255 - mean)/std; with include_normalize, "pixels" in [0, 1]
 * as ToTensor gives them, and Sub/Div by the ImageNet mean/std in the graph),
 * then per layer Conv (group for the 2012 preset) / Relu / MaxPool / LRN
 * (PyTorch's LocalResponseNorm is ONNX's LRN with the same size, alpha, beta,
 * bias = k) / the adaptive average pool / Flatten + Gemm (transB); output
 * "logits" [N, classes]. The adaptive pool is fixed to the input size: no
 * node when its input is already 6x6 (224 px), AveragePool when the sides
 * divide evenly, otherwise Reshape + MatMul by the constant pooling matrix
 * (adaptive windows overlap and differ in size, which no ONNX pool expresses
 * for a fixed 6x6 output). N is 1, or the symbolic "N" (dynamic_batch).
 * Weights are initializers named like torchvision's state_dict. An int8
 * model's int8 layers are written in ONNX Runtime's static QDQ format: the
 * input through QuantizeLinear / DequantizeLinear (u8, its scale and zero
 * point), the s8 weight through a per-channel DequantizeLinear (axis 0).
 */
#ifndef ALEXNET_ONNX_EXPORT_H
#define ALEXNET_ONNX_EXPORT_H

#include "common/util.h"
#include "model/net.h"
#include "model/quant.h"

/* The opsets written: every op used is the same in all of them; 17 is the
 * newest Debian 12's onnx (1.12) checks. */
#define ONNX_OPSET_MIN 11
#define ONNX_OPSET_MAX 17

typedef struct {
    int opset;                /* ONNX_OPSET_MIN .. ONNX_OPSET_MAX */
    int dynamic_batch;        /* 1: batch dimension "N"; 0: 1 */
    int include_normalize;    /* 1: input in [0, 1], normalised in the graph */
    char *const *class_names; /* [num_classes] or NULL: metadata "classes" (a JSON array) */
    const QuantModel *quant;  /* an int8 model: its int8 layers as QDQ pairs (opset >= 13); NULL: fp32 */
} OnnxOptions;

/* Writes path atomically. 0, or -1 with err naming the file. */
int onnx_export(const char *path, const Net *net, const float *params, const OnnxOptions *opt, Error *err);

#endif
