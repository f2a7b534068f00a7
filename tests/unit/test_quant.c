/*
 * test_quant.c — the int8 arithmetic (model/quant.h, nn/quant_ops.h) on
 * small shapes, fast enough for the sanitizer run (the whole-model checks
 * against PyTorch are tests/cli/quant_test.py):
 *  1. quantize_u8: round half to even, clamping at 0 and 255, the zero point,
 *     NaN and infinities (a diverged layer's output) to 0 / 255 / 0;
 *  2. conv2d_int8_forward (groups, stride, padding) and linear_int8_forward
 *     against the formula computed here with exact integer sums in int64:
 *     bit-identical (the same float operations after the exact sum);
 *  3. quant_weights / quant_dequantize: scale = max |w| / 127 per channel, a
 *     zero channel and a subnormal one (scale 1), error at most half a step,
 *     a NaN or infinite weight refused; quant_range's zero point;
 *  4. the observers: min/max, a percentile inside it, the entropy threshold
 *     of a long-tailed distribution below its maximum.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/quant.h"
#include "nn/quant_ops.h"

static uint32_t lcg(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

static void check_quantize(void) {
    const float x[] = { 0.5f, 1.5f, 2.5f, -0.5f, -3.0f, 1000.0f, 0.49f, -1.5f };
    uint8_t q[8];
    quantize_u8(q, x, 8, 1.0f, 2);
    const uint8_t want[8] = { 2, 4, 4, 2, 0, 255, 2, 0 }; /* 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2 */
    EXPECT(memcmp(q, want, 8) == 0, "u8 %d %d %d %d %d %d %d %d", q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]);
    const float odd[3] = { NAN, INFINITY, -INFINITY };
    quantize_u8(q, odd, 3, 0.5f, 3);
    EXPECT(q[0] == 0 && q[1] == 255 && q[2] == 0, "NaN, inf, -inf -> %d %d %d (want 0 255 0)", q[0], q[1], q[2]);
}

static void check_conv(int groups, int stride, int pad) {
    ConvShape s = { 2, 4, 7, 6, 6, 0, 0, 3, stride, pad, groups };
    s.oh = (s.h + 2 * pad - s.k) / stride + 1;
    s.ow = (s.w + 2 * pad - s.k) / stride + 1;
    const int cg = s.c / groups, og = s.oc / groups, K = cg * s.k * s.k, P = s.oh * s.ow;
    size_t nin = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)s.oc * K, nout = (size_t)s.n * s.oc * P;
    uint8_t *in = malloc(nin);
    int8_t *w = malloc(nw);
    float ws[6], bias[6], *out = malloc(nout * sizeof(float));
    uint32_t seed = 7;
    for (size_t i = 0; i < nin; i++) in[i] = (uint8_t)(lcg(&seed) >> 24);
    for (size_t i = 0; i < nw; i++) w[i] = (int8_t)((int)(lcg(&seed) >> 24) % 255 - 127);
    for (int o = 0; o < 6; o++) ws[o] = 0.001f * (float)(o + 1), bias[o] = 0.25f * (float)o - 0.5f;
    const int zero = 37;
    const float in_scale = 0.0173f;
    int32_t *work = malloc(conv2d_int8_workspace(&s) * sizeof(int32_t));
    conv2d_int8_forward(out, in, zero, in_scale, w, ws, bias, &s, work);
    int bad = 0;
    for (int n = 0; n < s.n; n++)
        for (int o = 0; o < s.oc; o++)
            for (int y = 0; y < s.oh; y++)
                for (int x = 0; x < s.ow; x++) {
                    int g = o / og;
                    int64_t acc = 0;
                    for (int c = 0; c < cg; c++)
                        for (int kh = 0; kh < s.k; kh++)
                            for (int kw = 0; kw < s.k; kw++) {
                                int iy = y * stride - pad + kh, ix = x * stride - pad + kw;
                                int v = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w
                                            ? in[(((size_t)n * s.c + g * cg + c) * s.h + iy) * s.w + ix] - zero
                                            : 0;
                                acc += (int64_t)v * w[(((size_t)o * cg + c) * s.k + kh) * s.k + kw];
                            }
                    float want = (float)acc * (in_scale * ws[o]) + bias[o];
                    bad += out[(((size_t)n * s.oc + o) * s.oh + y) * s.ow + x] != want;
                }
    EXPECT(bad == 0, "conv groups %d stride %d pad %d: %d outputs differ from the exact formula", groups, stride, pad,
           bad);
    free(in);
    free(w);
    free(out);
    free(work);
}

static void check_linear(void) {
    enum { N = 3, IN = 50, OUT = 7 };
    uint8_t in[N * IN];
    int8_t w[OUT * IN];
    float ws[OUT], bias[OUT], out[N * OUT];
    uint32_t seed = 11;
    for (int i = 0; i < N * IN; i++) in[i] = (uint8_t)(lcg(&seed) >> 24);
    for (int i = 0; i < OUT * IN; i++) w[i] = (int8_t)((int)(lcg(&seed) >> 24) % 255 - 127);
    for (int o = 0; o < OUT; o++) ws[o] = 0.002f * (float)(o + 1), bias[o] = (float)o;
    linear_int8_forward(out, in, 0, 0.03f, w, ws, bias, N, IN, OUT);
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            int64_t acc = 0;
            for (int k = 0; k < IN; k++) acc += (int64_t)in[n * IN + k] * w[o * IN + k];
            bad += out[n * OUT + o] != (float)acc * (0.03f * ws[o]) + bias[o];
        }
    EXPECT(bad == 0, "linear: %d outputs differ from the exact formula", bad);
}

static void check_weights(void) {
    Net net;
    net_begin(&net, "q", 3, 64);
    net_add_conv(&net, 4, 3, 1, 1, 1);
    net_add_relu(&net);
    net_add_avgpool(&net, 1, 1);
    net_section(&net, "classifier");
    net_add_linear(&net, 3);
    float *p = calloc(net.param_count, sizeof(float)), *d = calloc(net.param_count, sizeof(float));
    const ParamTensor *w = &net.params[net.layers[0].weight];
    uint32_t seed = 3;
    for (size_t i = 0; i < w->numel; i++) p[w->offset + i] = ((float)(lcg(&seed) >> 8) / 16777216.0f - 0.5f) * 0.2f;
    for (size_t i = 0; i < 27; i++) p[w->offset + 27 + i] = 0.0f; /* channel 1: zeros */
    p[w->offset + 2 * 27 + 5] = 1e-40f;                           /* channel 2: one subnormal weight, else 0 */
    for (size_t i = 0; i < 27; i++)
        if (i != 5) p[w->offset + 2 * 27 + i] = 0.0f;
    QuantModel q;
    memset(&q, 0, sizeof q);
    Error err = { { 0 } };
    EXPECT(quant_weights(&q, &net, 0, p + w->offset, &err) == 0, "quant_weights: %s", err.msg);
    quant_dequantize(&q, &net, 0, d);
    float amax0 = 0;
    for (int k = 0; k < 27; k++) amax0 = fmaxf(amax0, fabsf(p[w->offset + k]));
    EXPECT(q.int8[0] && q.w_scale[0][0] == amax0 / 127.0f, "channel 0 scale %g vs max/127 %g", (double)q.w_scale[0][0],
           (double)(amax0 / 127.0f));
    EXPECT(q.w_scale[0][1] == 1.0f && q.w_q[0][27] == 0, "a zero channel: scale 1, weights 0");
    EXPECT(q.w_scale[0][2] == 1.0f && q.w_q[0][2 * 27 + 5] == 0,
           "a subnormal channel: scale 1 (not %g, which a loader refuses), weights 0", (double)q.w_scale[0][2]);
    double worst = 0;
    for (size_t i = 0; i < w->numel; i++) {
        double step = q.w_scale[0][i / 27];
        worst = fmax(worst, fabs((double)d[w->offset + i] - (double)p[w->offset + i]) / step);
    }
    EXPECT(worst <= 0.5 + 1e-6, "dequantized weights within half a step (worst %.3g steps)", worst);
    const float bad[2] = { NAN, INFINITY };
    for (int b = 0; b < 2; b++) {
        p[w->offset + 7] = bad[b];
        err.msg[0] = 0;
        EXPECT(quant_weights(&q, &net, 0, p + w->offset, &err) != 0 && strstr(err.msg, w->name) &&
                   strstr(err.msg, "element 7"),
               "a %g weight refused, naming the tensor and element: '%s'", (double)bad[b], err.msg);
    }
    quant_free(&q);
    free(p);
    free(d);
    float s;
    int z;
    quant_range(-1.0f, 3.0f, &s, &z);
    EXPECT(s == 4.0f / 255.0f && z == 64, "range [-1, 3]: scale %g zero %d (want 4/255, 64)", (double)s, z);
    quant_range(0.5f, 2.0f, &s, &z);
    EXPECT(s == 2.0f / 255.0f && z == 0, "range [0.5, 2] widened to [0, 2]: scale %g zero %d", (double)s, z);
    quant_range(0.0f, 0.0f, &s, &z);
    EXPECT(s == 1.0f && z == 0, "an all-zero input: scale 1 (not 0), zero 0");
}

static void check_observers(void) {
    enum { N = 100000 };
    float *x = malloc(N * sizeof(float));
    uint32_t seed = 5;
    for (int i = 0; i < N; i++) { /* mostly small, a long tail */
        float u = (float)(lcg(&seed) >> 8) / 16777216.0f;
        x[i] = i % 1000 == 0 ? 50.0f * u : u;
    }
    QuantObserver o;
    memset(&o, 0, sizeof o);
    quant_observe_range(&o, x, N);
    quant_observe_hist(&o, x, N);
    float lo, hi, plo, phi, elo, ehi;
    quant_observer_range(&o, "minmax", 0, &lo, &hi);
    quant_observer_range(&o, "percentile", 99.0, &plo, &phi);
    quant_observer_range(&o, "entropy", 0, &elo, &ehi);
    EXPECT(lo >= 0 && hi > 40 && hi <= 50, "minmax [%g, %g]", (double)lo, (double)hi);
    EXPECT(phi < 2.0f && phi >= 0.9f, "the 99th percentile %g sits at the bulk's top (~1)", (double)phi);
    EXPECT(ehi < hi && ehi > 0.5f, "the entropy threshold %g is below the max %g", (double)ehi, (double)hi);
    free(x);
}

int main(void) {
    check_quantize();
    check_conv(1, 1, 1);
    check_conv(2, 2, 1);
    check_conv(1, 3, 0);
    check_linear();
    check_weights();
    check_observers();
    return test_summary("test_quant");
}
