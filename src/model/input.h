/*
 * input.h — the input contract between the data pipeline and the backends:
 * the formats a batch may come in, and the normalisation every float format
 * has had applied (ImageNet's mean and std, as torchvision's Normalize).
 * A leaf: the decoders, the loader, the backends, ONNX export and the tests
 * take these from here, and nothing else from each other.
 *
 * Plain C and C++ (the CUDA kernels include it).
 */
#ifndef ALEXNET_INPUT_H
#define ALEXNET_INPUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    INPUT_F32_NCHW, /* normalised floats [n, 3, S, S] */
    INPUT_F32_NHWC, /* normalised floats [n, S, S, 3] */
    INPUT_U8_NHWC,  /* raw RGB bytes [n, S, S, 3]; the backend normalises them */
} InputFormat;

/* Normalize(mean, std) of ToTensor's [0, 1] RGB: x = (byte / 255 - mean) / std.
 * The initialisers are for device constants; C code uses the arrays. */
#define IMAGENET_MEAN_INIT { 0.485f, 0.456f, 0.406f }
#define IMAGENET_STD_INIT  { 0.229f, 0.224f, 0.225f }
extern const float IMAGENET_MEAN[3], IMAGENET_STD[3];

/* Bytes of one S x S sample in fmt. */
size_t input_sample_bytes(InputFormat fmt, int image_size);

/* "f32 nchw", "f32 nhwc", "u8 nhwc". */
const char *input_format_name(InputFormat fmt);

#ifdef __cplusplus
}
#endif

#endif
