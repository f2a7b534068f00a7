/*
 * input.c — the input contract's constants and sizes (see input.h).
 */
#include "model/input.h"

const float IMAGENET_MEAN[3] = IMAGENET_MEAN_INIT;
const float IMAGENET_STD[3] = IMAGENET_STD_INIT;

size_t input_sample_bytes(InputFormat fmt, int image_size) {
    size_t n = (size_t)image_size * (size_t)image_size * 3;
    return fmt == INPUT_U8_NHWC ? n : n * sizeof(float);
}

const char *input_format_name(InputFormat fmt) {
    switch (fmt) {
    case INPUT_F32_NCHW: return "f32 nchw";
    case INPUT_F32_NHWC: return "f32 nhwc";
    case INPUT_U8_NHWC: return "u8 nhwc";
    }
    return "?";
}
