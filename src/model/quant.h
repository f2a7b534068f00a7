/*
 * quant.h — an int8 model: post-training quantization's numbers for the
 * weighted layers of a Net (alexnet quantize writes them, model files carry
 * them, io/quant_file.c reads them, the int8 backends run them).
 *
 * Scheme (oneDNN's and ONNX Runtime's static QDQ): each conv / linear layer
 * quantizes its fp32 input to u8 with one scale and zero point
 * (asymmetric: the first layer's input, a normalised image, is signed; after
 * a ReLU the zero point is 0), its weights to s8 symmetric per output channel
 * (scale = max |w[o]| / 127), sums in int32 and scales back to fp32, adds
 * the bias; ReLU, pooling, LRN and dropout stay fp32 between them. A layer
 * may be kept fp32 (fp32[layer]), e.g. the first or the last when
 * quantizing it costs accuracy.
 */
#ifndef ALEXNET_QUANT_H
#define ALEXNET_QUANT_H

#include <stdint.h>

#include "model/net.h"

#define QUANT_METHODS "minmax, percentile or entropy"

typedef struct {
    int layers;                     /* n_layers of the net it belongs to */
    int int8[NET_MAX_LAYERS];       /* 1: the conv / linear layer runs int8 */
    float in_scale[NET_MAX_LAYERS]; /* its input's u8 scale (> 0, finite) */
    int in_zero[NET_MAX_LAYERS];    /* its input's zero point, 0..255 */
    float *w_scale[NET_MAX_LAYERS]; /* [out_c] per output channel (> 0, finite) */
    int8_t *w_q[NET_MAX_LAYERS];    /* [weight numel] in the weight's layout, -127..127 */
    char method[16];                /* calibration: minmax | percentile | entropy */
    int64_t calib_images;
} QuantModel;

void quant_free(QuantModel *q);

/* Symmetric per-output-channel s8 weights of layer l (weight w: [out, ...]):
 * scale = max |w| / 127 (a channel of zeros, or one whose scale would be
 * subnormal: 1, all q 0), q = nearbyint(w / scale). -1 (err names the
 * tensor) for a NaN or infinite weight. */
int quant_weights(QuantModel *q, const Net *net, int layer, const float *w, Error *err);

/* The u8 scale and zero point of an input range [lo, hi] (lo <= 0 <= hi
 * after widening to include 0): scale = (hi - lo) / 255, zero =
 * nearbyint(-lo / scale); a range whose scale would be 0, subnormal or
 * 1e30 and above gets scale 1 (a file's scales must lie between). */
void quant_range(float lo, float hi, float *scale, int *zero);

/* w = q * scale: the fp32 weights an int8 model stands for, into the
 * layer's slice of params. */
void quant_dequantize(const QuantModel *q, const Net *net, int layer, float *params);

/* Calibration: the activations a layer's input took over the calibration
 * images, reduced to a range by method (percentile: the threshold t below
 * which that percentile of |x| lies, the range clipped to [-t, t] on both
 * sides; entropy: the threshold minimising the KL divergence between
 * the histogram and its u8 quantization, TensorRT's method). */
typedef struct {
    double lo, hi;     /* min and max seen (pass 1) */
    double hist[2048]; /* pass 2: counts of |x| in [0, max(|lo|, hi)] */
    int64_t count;
} QuantObserver;

void quant_observe_range(QuantObserver *o, const float *x, size_t n);
void quant_observe_hist(QuantObserver *o, const float *x, size_t n);
/* The range to quantize to. */
void quant_observer_range(const QuantObserver *o, const char *method, double percentile, float *lo, float *hi);

#endif
