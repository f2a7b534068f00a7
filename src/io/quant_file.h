/*
 * quant_file.h — int8 model files (alexnet quantize's output): a model file
 * whose quantized layers hold, beside the fp32 bias,
 *   <layer>.weight              I8  [out, ...]  weight = weight * weight_scale[out]
 *   <layer>.weight_scale        F32 [out]       per output channel, > 0
 *   <layer>.input_scale         F32 [1]         the layer input's u8 scale, > 0
 *   <layer>.input_zero_point    U8  [1]         its zero point
 * (layers kept fp32 hold an F32 weight and none of these), and the metadata
 * "quantization" (the scheme, in words), "quant_method", "calib_images".
 */
#ifndef ALEXNET_QUANT_FILE_H
#define ALEXNET_QUANT_FILE_H

#include "common/util.h"
#include "io/checkpoint.h"
#include "model/net.h"
#include "model/quant.h"

/* Writes Q's layers and params' other tensors (biases, fp32 layers) to path,
 * atomically. */
int quant_save(const char *path, const Net *net, const float *params, const QuantModel *q, const ModelMeta *meta,
               Error *err);

/* An int8 model file opened with checkpoint_open (checkpoint_is_quantized)
 * into q and params (the dequantized weights, so fp32 runs of the file work
 * too). Everything is checked before use: dtypes, shapes against net, scales
 * normal, positive and below 1e30 with finite products (input scale times
 * each weight scale), weights -127..127, zero points, no NaN; -1 naming the
 * file, the tensor and the value. quant_save refuses the same. */
int quant_load(const ModelFile *m, const Net *net, float *params, QuantModel *q, Error *err);

#endif
