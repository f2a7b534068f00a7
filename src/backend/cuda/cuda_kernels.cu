/*
 * cuda_kernels.cu — the cuda backend's own kernels: input normalisation,
 * bias + ReLU epilogue, bias gradient, max/avg pooling, LRN, element-wise
 * ReLU/dropout with layout change, softmax cross-entropy, the fused SGD
 * update and small casts. See cuda_kernels.h for shapes and semantics.
 *
 * Arithmetic is fp32 (double for the loss) whatever the storage type; the
 * order of every sum matches the reference ops where it cheaply can (pooling
 * backward adds window contributions in the same order), so fp32 results are
 * close to bit-identical with nn/ops.h. No kernel uses atomics.
 */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_check.h"
#include "common/philox.h"
#include "model/input.h"

typedef __nv_bfloat16 bf16;

#define THREADS 256

static unsigned blocks_for(long long work) { return (unsigned)((work + THREADS - 1) / THREADS); }

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<bf16>(bf16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float v) { return __float2bfloat16(v); }

/* V consecutive elements loaded or stored as one access (16 bytes for
 * 8 x bf16 or 4 x fp32); callers guarantee alignment (c % V == 0). */
template <typename T, int V> struct alignas(sizeof(T) * V) Pack { T v[V]; };

/* Runs the statement with T the storage type and V the widest vector that divides c. */
#define DISPATCH_VEC(dt, c, ...) \
    do {                         \
        if ((dt) == DT_BF16) {   \
            typedef bf16 T;      \
            if ((c) % 8 == 0) {  \
                const int V = 8; \
                __VA_ARGS__;     \
            } else {             \
                const int V = 1; \
                __VA_ARGS__;     \
            }                    \
        } else {                 \
            typedef float T;     \
            if ((c) % 4 == 0) {  \
                const int V = 4; \
                __VA_ARGS__;     \
            } else {             \
                const int V = 1; \
                __VA_ARGS__;     \
            }                    \
        }                        \
    } while (0)

#define DISPATCH(dt, ...)      \
    do {                       \
        if ((dt) == DT_BF16) { \
            typedef bf16 T;    \
            __VA_ARGS__;       \
        } else {               \
            typedef float T;   \
            __VA_ARGS__;       \
        }                      \
    } while (0)

/* ------------------------------------------------------------------ input */

/* The input contract's normalisation (model/input.h). */
__constant__ float c_mean[3] = IMAGENET_MEAN_INIT;
__constant__ float c_std[3] = IMAGENET_STD_INIT;

template <typename T>
__global__ void input_kernel(RawFormat fmt, const void *raw, T *x0, long long pixels, long hw, int cp, DevKeys *keys,
                             unsigned long long step, unsigned long long off, int train) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p == 0) {
        keys->step = step;
        keys->sample_offset = off;
        keys->train = train;
    }
    if (p >= pixels) return;
    float v[3];
    if (fmt == RAW_U8_NHWC) {
        const uint8_t *r = (const uint8_t *)raw + p * 3;
        for (int c = 0; c < 3; c++) v[c] = ((float)r[c] / 255.0f - c_mean[c]) / c_std[c];
    } else if (fmt == RAW_F32_NHWC) {
        const float *r = (const float *)raw + p * 3;
        for (int c = 0; c < 3; c++) v[c] = r[c];
    } else {
        long long n = p / hw, q = p % hw;
        const float *r = (const float *)raw + n * 3 * hw + q;
        for (int c = 0; c < 3; c++) v[c] = r[(long long)c * hw];
    }
    T *o = x0 + p * cp;
    if (cp == 4) {
        Pack<T, 4> q = { { from_f<T>(v[0]), from_f<T>(v[1]), from_f<T>(v[2]), from_f<T>(0.0f) } };
        *(Pack<T, 4> *)o = q;
    } else {
        for (int c = 0; c < cp; c++) o[c] = from_f<T>(c < 3 ? v[c] : 0.0f);
    }
}

void cuda_input(DType dt, RawFormat raw_fmt, const void *raw, void *x0, int n, long hw, int cp, DevKeys *keys,
                unsigned long long step, unsigned long long sample_offset, int train, cudaStream_t s) {
    long long pixels = (long long)n * hw;
    DISPATCH(dt, input_kernel<T><<<blocks_for(pixels), THREADS, 0, s>>>(raw_fmt, raw, (T *)x0, pixels, hw, cp, keys,
                                                                        step, sample_offset, train));
    KERNEL_CHECK();
}

/* ------------------------------------------------------ bias + activation */

template <typename T, int V> __global__ void bias_act_kernel(T *y, const float *bias, long long vecs, int c, int relu) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= vecs) return;
    Pack<T, V> *py = (Pack<T, V> *)y + i;
    Pack<T, V> p = *py;
    int c0 = (int)((i * V) % c);
#pragma unroll
    for (int j = 0; j < V; j++) {
        float f = to_f(p.v[j]) + bias[c0 + j];
        p.v[j] = from_f<T>(relu ? fmaxf(f, 0.0f) : f);
    }
    *py = p;
}

void cuda_bias_act(DType dt, void *y, const float *bias, long long rows, int c, int relu, cudaStream_t s) {
    DISPATCH_VEC(dt, c, {
        long long vecs = rows * c / V;
        bias_act_kernel<T, V><<<blocks_for(vecs), THREADS, 0, s>>>((T *)y, bias, vecs, c, relu);
    });
    KERNEL_CHECK();
}

/* ---------------------------------------------------------- bias gradient */

/* Thread layout of a block: `lanes` vector columns side by side, `rg` row
 * groups of them; columns beyond 256 lanes are done in chunks. */
#define BG_MAX_BLOCKS 1024

static void bg_shape(long long rows, int c, int v, int *lanes, int *rg, int *blocks) {
    int lv = c / v;
    *lanes = lv < THREADS ? lv : THREADS;
    *rg = THREADS / *lanes;
    long long b = (rows + *rg - 1) / *rg;
    *blocks = (int)(b < BG_MAX_BLOCKS ? b : BG_MAX_BLOCKS);
}

size_t cuda_bias_grad_partial_floats(long long rows, int c) {
    int lanes, rg, blocks;
    bg_shape(rows, c, 1, &lanes, &rg, &blocks); /* V = 1 gives the most blocks */
    return (size_t)blocks * c;
}

template <typename T, int V>
__global__ void bias_grad_partial_kernel(T *dy, const T *mask, float *partial, long long rows, int c, int lanes,
                                         int rg) {
    __shared__ float sm[THREADS * V];
    int lane = threadIdx.x % lanes, g = threadIdx.x / lanes;
    int lv = c / V;
    for (int cb = 0; cb < lv; cb += lanes) {
        int cv = cb + lane;
        float acc[V];
#pragma unroll
        for (int j = 0; j < V; j++) acc[j] = 0.0f;
        if (g < rg && cv < lv) {
            for (long long r = (long long)blockIdx.x * rg + g; r < rows; r += (long long)gridDim.x * rg) {
                long long e = r * c + (long long)cv * V;
                Pack<T, V> p = *(const Pack<T, V> *)(dy + e);
                if (mask) {
                    Pack<T, V> m = *(const Pack<T, V> *)(mask + e);
#pragma unroll
                    for (int j = 0; j < V; j++)
                        if (!(to_f(m.v[j]) > 0.0f)) p.v[j] = from_f<T>(0.0f);
                    *(Pack<T, V> *)(dy + e) = p;
                }
#pragma unroll
                for (int j = 0; j < V; j++) acc[j] += to_f(p.v[j]);
            }
        }
#pragma unroll
        for (int j = 0; j < V; j++) sm[threadIdx.x * V + j] = acc[j];
        __syncthreads();
        for (int t = threadIdx.x; t < lanes * V; t += blockDim.x) {
            int ln = t / V, j = t % V;
            if (cb + ln < lv) {
                float s = 0.0f;
                for (int q = 0; q < rg; q++) s += sm[(q * lanes + ln) * V + j];
                partial[(long long)blockIdx.x * c + (long long)(cb + ln) * V + j] = s;
            }
        }
        __syncthreads();
    }
}

__global__ void bias_grad_final_kernel(const float *partial, float *db, int blocks, int c) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    float s = 0.0f;
    for (int b = 0; b < blocks; b++) s += partial[(long long)b * c + j];
    db[j] = s;
}

void cuda_bias_grad(DType dt, void *dy, const void *mask_y, float *db, float *partial, long long rows, int c,
                    cudaStream_t s) {
    int lanes = 0, rg = 0, blocks = 0;
    DISPATCH_VEC(dt, c, {
        bg_shape(rows, c, V, &lanes, &rg, &blocks);
        bias_grad_partial_kernel<T, V>
            <<<blocks, THREADS, 0, s>>>((T *)dy, (const T *)mask_y, partial, rows, c, lanes, rg);
    });
    KERNEL_CHECK();
    bias_grad_final_kernel<<<blocks_for(c), THREADS, 0, s>>>(partial, db, blocks, c);
    KERNEL_CHECK();
}

/* ---------------------------------------------------------------- maxpool */

/* Element i of an NHWC tensor [.., h, w, cs] (cs channels or channel packs)
 * as (sample b, row y, column x, channel ch). */
struct NhwcIndex {
    long long b;
    int y, x, ch;
};
__device__ __forceinline__ NhwcIndex nhwc_split(long long i, int h, int w, int cs) {
    NhwcIndex r;
    r.ch = (int)(i % cs);
    long long q = i / cs;
    r.x = (int)(q % w);
    q /= w;
    r.y = (int)(q % h);
    r.b = q / h;
    return r;
}

template <typename T, int V>
__global__ void maxpool_fwd_kernel(const T *x, T *y, uint8_t *argmax, int n, int c, int h, int w, int oh, int ow, int k,
                                   int stride) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int cvs = c / V;
    long long total = (long long)n * oh * ow * cvs;
    if (i >= total) return;
    NhwcIndex e = nhwc_split(i, oh, ow, cvs);
    long long b = e.b;
    int cv = e.ch, y0 = e.y * stride, x0 = e.x * stride;
    const T *base = x + ((b * h + y0) * w + x0) * c + (long long)cv * V;
    Pack<T, V> p = *(const Pack<T, V> *)base;
    float best[V];
    uint8_t pos[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        best[j] = to_f(p.v[j]);
        pos[j] = 0;
    }
    for (int wy = 0; wy < k; wy++)
        for (int wx = 0; wx < k; wx++) {
            Pack<T, V> q2 = *(const Pack<T, V> *)(base + ((long long)wy * w + wx) * c);
#pragma unroll
            for (int j = 0; j < V; j++) {
                float f = to_f(q2.v[j]);
                if (f > best[j]) {
                    best[j] = f;
                    pos[j] = (uint8_t)(wy * k + wx);
                }
            }
        }
    Pack<T, V> o;
#pragma unroll
    for (int j = 0; j < V; j++) o.v[j] = from_f<T>(best[j]);
    *((Pack<T, V> *)y + i) = o;
    if (argmax) {
        Pack<uint8_t, V> a;
#pragma unroll
        for (int j = 0; j < V; j++) a.v[j] = pos[j];
        *((Pack<uint8_t, V> *)argmax + i) = a;
    }
}

void cuda_maxpool_forward(DType dt, const void *x, void *y, uint8_t *argmax, int n, int c, int h, int w, int oh, int ow,
                          int k, int stride, cudaStream_t s) {
    DISPATCH_VEC(dt, c, {
        long long total = (long long)n * oh * ow * (c / V);
        maxpool_fwd_kernel<T, V>
            <<<blocks_for(total), THREADS, 0, s>>>((const T *)x, (T *)y, argmax, n, c, h, w, oh, ow, k, stride);
    });
    KERNEL_CHECK();
}

/* Output windows (along one axis) that contain input position i: o with
 * o*stride <= i <= o*stride + k - 1, 0 <= o < out. */
__device__ __forceinline__ void window_range(int i, int k, int stride, int out, int *lo, int *hi) {
    int a = i - k + 1;
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = i / stride;
    *hi = b < out - 1 ? b : out - 1;
}

template <typename T, int V>
__global__ void maxpool_bwd_kernel(const T *dy, const uint8_t *argmax, const T *mask, T *dx, int n, int c, int h, int w,
                                   int oh, int ow, int k, int stride) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int cvs = c / V;
    long long total = (long long)n * h * w * cvs;
    if (i >= total) return;
    NhwcIndex at = nhwc_split(i, h, w, cvs);
    long long b = at.b;
    int cv = at.ch, iy = at.y, ix = at.x;
    float acc[V];
#pragma unroll
    for (int j = 0; j < V; j++) acc[j] = 0.0f;
    int ylo, yhi, xlo, xhi;
    window_range(iy, k, stride, oh, &ylo, &yhi);
    window_range(ix, k, stride, ow, &xlo, &xhi);
    for (int oy = ylo; oy <= yhi; oy++)
        for (int ox = xlo; ox <= xhi; ox++) {
            long long o = ((b * oh + oy) * ow + ox) * c + (long long)cv * V;
            uint8_t here = (uint8_t)((iy - oy * stride) * k + (ix - ox * stride));
            Pack<uint8_t, V> a = *(const Pack<uint8_t, V> *)(argmax + o);
            Pack<T, V> g = *(const Pack<T, V> *)(dy + o);
#pragma unroll
            for (int j = 0; j < V; j++)
                if (a.v[j] == here) acc[j] += to_f(g.v[j]);
        }
    long long e = i * V;
    if (mask) {
        Pack<T, V> m = *(const Pack<T, V> *)(mask + e);
#pragma unroll
        for (int j = 0; j < V; j++)
            if (!(to_f(m.v[j]) > 0.0f)) acc[j] = 0.0f;
    }
    Pack<T, V> o;
#pragma unroll
    for (int j = 0; j < V; j++) o.v[j] = from_f<T>(acc[j]);
    *(Pack<T, V> *)(dx + e) = o;
}

void cuda_maxpool_backward(DType dt, const void *dy, const uint8_t *argmax, const void *mask_x, void *dx, int n, int c,
                           int h, int w, int oh, int ow, int k, int stride, cudaStream_t s) {
    DISPATCH_VEC(dt, c, {
        long long total = (long long)n * h * w * (c / V);
        maxpool_bwd_kernel<T, V><<<blocks_for(total), THREADS, 0, s>>>((const T *)dy, argmax, (const T *)mask_x,
                                                                       (T *)dx, n, c, h, w, oh, ow, k, stride);
    });
    KERNEL_CHECK();
}

/* ---------------------------------------------------------------- avgpool */

__device__ __forceinline__ int win_start(int i, int in, int out) { return (int)(((long long)i * in) / out); }
__device__ __forceinline__ int win_end(int i, int in, int out) {
    return (int)((((long long)i + 1) * in + out - 1) / out);
}

template <typename T> __global__ void avgpool_fwd_kernel(const T *x, T *y, int n, int c, int h, int w, int oh, int ow) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)n * oh * ow * c;
    if (i >= total) return;
    NhwcIndex e = nhwc_split(i, oh, ow, c);
    long long b = e.b;
    int ch = e.ch, oy = e.y, ox = e.x;
    int y0 = win_start(oy, h, oh), y1 = win_end(oy, h, oh);
    int x0 = win_start(ox, w, ow), x1 = win_end(ox, w, ow);
    float acc = 0.0f;
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) acc += to_f(x[((b * h + iy) * w + ix) * c + ch]);
    y[i] = from_f<T>(acc / (float)((y1 - y0) * (x1 - x0)));
}

template <typename T>
__global__ void avgpool_bwd_kernel(const T *dy, T *dx, int n, int c, int h, int w, int oh, int ow) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)n * h * w * c;
    if (i >= total) return;
    NhwcIndex at = nhwc_split(i, h, w, c);
    long long b = at.b;
    int ch = at.ch, iy = at.y, ix = at.x;
    float acc = 0.0f;
    for (int oy = 0; oy < oh; oy++) {
        int y0 = win_start(oy, h, oh), y1 = win_end(oy, h, oh);
        if (iy < y0 || iy >= y1) continue;
        for (int ox = 0; ox < ow; ox++) {
            int x0 = win_start(ox, w, ow), x1 = win_end(ox, w, ow);
            if (ix < x0 || ix >= x1) continue;
            float g = to_f(dy[((b * oh + oy) * ow + ox) * c + ch]) / (float)((y1 - y0) * (x1 - x0));
            acc += g;
        }
    }
    dx[i] = from_f<T>(acc);
}

void cuda_avgpool_forward(DType dt, const void *x, void *y, int n, int c, int h, int w, int oh, int ow,
                          cudaStream_t s) {
    long long total = (long long)n * oh * ow * c;
    DISPATCH(dt, avgpool_fwd_kernel<T><<<blocks_for(total), THREADS, 0, s>>>((const T *)x, (T *)y, n, c, h, w, oh, ow));
    KERNEL_CHECK();
}

void cuda_avgpool_backward(DType dt, const void *dy, void *dx, int n, int c, int h, int w, int oh, int ow,
                           cudaStream_t s) {
    long long total = (long long)n * h * w * c;
    DISPATCH(dt,
             avgpool_bwd_kernel<T><<<blocks_for(total), THREADS, 0, s>>>((const T *)dy, (T *)dx, n, c, h, w, oh, ow));
    KERNEL_CHECK();
}

/* -------------------------------------------------------------------- LRN */

/* k + alpha/size * sum of squares over the window [ch - size/2, ch + (size-1)/2]. */
template <typename T>
__device__ __forceinline__ float lrn_scale(const T *px, int ch, int c, int size, float alpha, float k) {
    int lo = ch - size / 2, hi = ch + (size - 1) / 2;
    if (lo < 0) lo = 0;
    if (hi > c - 1) hi = c - 1;
    float sum = 0.0f;
    for (int j = lo; j <= hi; j++) {
        float v = to_f(px[j]);
        sum += v * v;
    }
    return k + alpha / (float)size * sum;
}

template <typename T>
__global__ void lrn_fwd_kernel(const T *x, T *y, long long pixels, int c, int size, float alpha, float beta, float k) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pixels * c) return;
    int ch = (int)(i % c);
    const T *px = x + (i - ch);
    y[i] = from_f<T>(to_f(x[i]) * powf(lrn_scale(px, ch, c, size, alpha, k), -beta));
}

/* dx[c] = dy[c] scale[c]^-beta - 2 alpha beta / size * x[c] *
 *         sum_{c': c in window(c')} dy[c'] x[c'] scale[c']^(-beta-1)        */
template <typename T>
__global__ void lrn_bwd_kernel(const T *x, const T *dy, T *dx, long long pixels, int c, int size, float alpha,
                               float beta, float k) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pixels * c) return;
    int ch = (int)(i % c);
    const T *px = x + (i - ch), *pdy = dy + (i - ch);
    int lo = ch - (size - 1) / 2, hi = ch + size / 2;
    if (lo < 0) lo = 0;
    if (hi > c - 1) hi = c - 1;
    float acc = 0.0f;
    for (int j = lo; j <= hi; j++) {
        float sc = lrn_scale(px, j, c, size, alpha, k);
        acc += to_f(pdy[j]) * to_f(px[j]) * powf(sc, -beta - 1.0f);
    }
    float own = lrn_scale(px, ch, c, size, alpha, k);
    float coef = 2.0f * alpha * beta / (float)size;
    dx[i] = from_f<T>(to_f(pdy[ch]) * powf(own, -beta) - coef * to_f(px[ch]) * acc);
}

void cuda_lrn_forward(DType dt, const void *x, void *y, long long pixels, int c, int size, float alpha, float beta,
                      float k, cudaStream_t s) {
    DISPATCH(dt, lrn_fwd_kernel<T>
             <<<blocks_for(pixels * c), THREADS, 0, s>>>((const T *)x, (T *)y, pixels, c, size, alpha, beta, k));
    KERNEL_CHECK();
}

void cuda_lrn_backward(DType dt, const void *x, const void *dy, void *dx, long long pixels, int c, int size,
                       float alpha, float beta, float k, cudaStream_t s) {
    DISPATCH(dt, lrn_bwd_kernel<T><<<blocks_for(pixels * c), THREADS, 0, s>>>((const T *)x, (const T *)dy, (T *)dx,
                                                                              pixels, c, size, alpha, beta, k));
    KERNEL_CHECK();
}

/* --------------------------------------------------- ReLU / dropout / copy */

/* Index of logical element (sample b, channel ch, pixel q) in a layout. */
__device__ __forceinline__ long long lay_index(Layout l, long long b, int ch, long q, int c, long hw) {
    long long f = (long long)c * hw;
    return l == LAYOUT_FLAT ? b * f + (long long)ch * hw + q : b * f + (long long)q * c + ch;
}

/* Splits an index in layout l into (b, ch, q). */
__device__ __forceinline__ void lay_split(Layout l, long long i, int c, long hw, long long *b, int *ch, long *q) {
    long long f = (long long)c * hw;
    *b = i / f;
    long long r = i % f;
    if (l == LAYOUT_FLAT) {
        *ch = (int)(r / hw);
        *q = (long)(r % hw);
    } else {
        *q = (long)(r / c);
        *ch = (int)(r % c);
    }
}

/* What an element-wise kernel does: ReLU, dropout (p > 0) or a plain copy. */
typedef struct {
    int relu;
    float p;        /* dropout rate; 0: none */
    uint32_t layer; /* dropout key: layer index */
    uint64_t seed;  /* dropout key: BackendOptions.seed */
    const DevKeys *keys;
} EltOp;

/* 1 if the dropout mask keeps element (b, ch, q); *scale the factor for kept ones. */
__device__ __forceinline__ int drop_keep(const EltOp &op, long long b, int ch, long q, int c, long hw, float *scale) {
    *scale = 1.0f;
    if (op.p <= 0.0f || !op.keys->train) return 1;
    *scale = 1.0f / (1.0f - op.p);
    unsigned long long f = (unsigned long long)c * hw;
    unsigned long long e = (op.keys->sample_offset + (unsigned long long)b) * f + (unsigned long long)ch * hw + q;
    uint32_t word = rng_word(op.seed, RNG_DROPOUT, (uint32_t)op.keys->step, op.layer, e);
    return rng_u01(word) >= op.p;
}

template <typename T>
__global__ void eltwise_fwd_kernel(const T *x, T *y, long long total, int c, long hw, Layout in, Layout out, EltOp op) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    long long b;
    int ch;
    long q;
    lay_split(out, i, c, hw, &b, &ch, &q);
    float v = to_f(x[lay_index(in, b, ch, q, c, hw)]);
    if (op.relu) v = fmaxf(v, 0.0f);
    float scale;
    if (op.p > 0.0f) v = drop_keep(op, b, ch, q, c, hw, &scale) ? v * scale : 0.0f;
    y[i] = from_f<T>(v);
}

template <typename T>
__global__ void eltwise_bwd_kernel(const T *dy, const T *x, int mask_x, T *dx, long long total, int c, long hw,
                                   Layout in, Layout out, EltOp op) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    long long b;
    int ch;
    long q;
    lay_split(in, i, c, hw, &b, &ch, &q);
    float g = to_f(dy[lay_index(out, b, ch, q, c, hw)]);
    float scale;
    if (op.p > 0.0f) g = drop_keep(op, b, ch, q, c, hw, &scale) ? g * scale : 0.0f;
    if ((op.relu || mask_x) && !(to_f(x[i]) > 0.0f)) g = 0.0f;
    dx[i] = from_f<T>(g);
}

static void eltwise_forward(DType dt, const void *x, void *y, int n, int c, long hw, Layout in, Layout out, EltOp op,
                            cudaStream_t s) {
    long long total = (long long)n * c * hw;
    DISPATCH(dt, eltwise_fwd_kernel<T>
             <<<blocks_for(total), THREADS, 0, s>>>((const T *)x, (T *)y, total, c, hw, in, out, op));
    KERNEL_CHECK();
}

static void eltwise_backward(DType dt, const void *dy, const void *x, int mask_x, void *dx, int n, int c, long hw,
                             Layout in, Layout out, EltOp op, cudaStream_t s) {
    long long total = (long long)n * c * hw;
    DISPATCH(dt, eltwise_bwd_kernel<T><<<blocks_for(total), THREADS, 0, s>>>((const T *)dy, (const T *)x, mask_x,
                                                                             (T *)dx, total, c, hw, in, out, op));
    KERNEL_CHECK();
}

static const EltOp ELT_COPY = { 0, 0.0f, 0, 0, NULL }, ELT_RELU = { 1, 0.0f, 0, 0, NULL };

static EltOp elt_dropout(CudaDropout key) {
    EltOp op = { 0, key.p, key.layer, key.seed, key.keys };
    return op;
}

void cuda_relu_forward(DType dt, const void *x, void *y, int n, int c, long hw, Layout in, Layout out, cudaStream_t s) {
    eltwise_forward(dt, x, y, n, c, hw, in, out, ELT_RELU, s);
}

void cuda_relu_backward(DType dt, const void *dy, const void *x, void *dx, int n, int c, long hw, Layout in, Layout out,
                        cudaStream_t s) {
    eltwise_backward(dt, dy, x, 1, dx, n, c, hw, in, out, ELT_RELU, s);
}

void cuda_dropout_forward(DType dt, const void *x, void *y, int n, int c, long hw, Layout in, Layout out,
                          CudaDropout key, cudaStream_t s) {
    eltwise_forward(dt, x, y, n, c, hw, in, out, elt_dropout(key), s);
}

void cuda_dropout_backward(DType dt, const void *dy, const void *mask_x, void *dx, int n, int c, long hw, Layout in,
                           Layout out, CudaDropout key, cudaStream_t s) {
    eltwise_backward(dt, dy, mask_x, mask_x != NULL, dx, n, c, hw, in, out, elt_dropout(key), s);
}

void cuda_flatten_forward(DType dt, const void *x, void *y, int n, int c, long hw, cudaStream_t s) {
    eltwise_forward(dt, x, y, n, c, hw, LAYOUT_NHWC, LAYOUT_FLAT, ELT_COPY, s);
}

void cuda_flatten_backward(DType dt, const void *dy, const void *mask_x, void *dx, int n, int c, long hw,
                           cudaStream_t s) {
    eltwise_backward(dt, dy, mask_x, mask_x != NULL, dx, n, c, hw, LAYOUT_NHWC, LAYOUT_FLAT, ELT_COPY, s);
}

/* ------------------------------------------------------------------- loss */

__device__ double block_reduce(double v, int is_max) {
    __shared__ double sm[THREADS];
    sm[threadIdx.x] = v;
    __syncthreads();
    for (int st = blockDim.x / 2; st > 0; st /= 2) {
        if ((int)threadIdx.x < st) {
            double o = sm[threadIdx.x + st];
            sm[threadIdx.x] = is_max ? fmax(sm[threadIdx.x], o) : sm[threadIdx.x] + o;
        }
        __syncthreads();
    }
    double r = sm[0];
    __syncthreads();
    return r;
}

template <typename T>
__global__ void softmax_xent_kernel(const float *logits, const int32_t *labels, T *dlogits, double *row_loss, int k,
                                    double on, double off, double divisor) {
    int row = blockIdx.x;
    const float *z = logits + (long long)row * k;
    int label = labels[row];
    double mx = -INFINITY;
    for (int j = threadIdx.x; j < k; j += blockDim.x) mx = fmax(mx, (double)z[j]);
    mx = block_reduce(mx, 1);
    double sum = 0.0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) sum += exp((double)z[j] - mx);
    sum = block_reduce(sum, 0);
    double logsum = log(sum) + mx;
    double loss = 0.0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        double t = j == label ? on : off;
        double logp = (double)z[j] - logsum;
        loss -= t * logp;
        dlogits[(long long)row * k + j] = from_f<T>((float)((exp(logp) - t) / divisor));
    }
    loss = block_reduce(loss, 0);
    if (threadIdx.x == 0) row_loss[row] = loss;
}

void cuda_softmax_xent(DType dt, const float *logits, const int32_t *labels, void *dlogits, double *row_loss, int n,
                       int k, float eps, int form, double divisor, cudaStream_t s) {
    double on, off;
    if (form == 0) {
        on = 1.0 - eps;
        off = k > 1 ? eps / (double)(k - 1) : 0.0;
    } else {
        on = 1.0 - eps + eps / (double)k;
        off = eps / (double)k;
    }
    DISPATCH(dt,
             softmax_xent_kernel<T><<<n, THREADS, 0, s>>>(logits, labels, (T *)dlogits, row_loss, k, on, off, divisor));
    KERNEL_CHECK();
}

/* ------------------------------------------------- conv weight re-layouts */

template <typename T>
__global__ void wgrad_to_flat_kernel(const T *dwc, float *grad, int K, int cg, int R, int S, int cp) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)K * cg * R * S;
    if (j >= total) return;
    int s_ = (int)(j % S);
    int r = (int)((j / S) % R);
    int ci = (int)((j / ((long long)S * R)) % cg);
    long long k = j / ((long long)S * R * cg);
    grad[j] = to_f(dwc[((k * R + r) * S + s_) * cp + ci]);
}

void cuda_wgrad_to_flat(DType dt, const void *dwc, float *grad, int K, int cg, int R, int S, int cp, cudaStream_t s) {
    long long total = (long long)K * cg * R * S;
    DISPATCH(dt, wgrad_to_flat_kernel<T><<<blocks_for(total), THREADS, 0, s>>>((const T *)dwc, grad, K, cg, R, S, cp));
    KERNEL_CHECK();
}

/* -------------------------------------------------------------- optimizer */

template <typename T>
__global__ void sgd_kernel(SgdTable tab, float *w, const float *g, float *v, T *wc, float lr, float m, float wd,
                           int update) {
    int t = 0;
    while (t + 1 < tab.n && (int)blockIdx.x >= tab.t[t + 1].block0) t++;
    const SgdTensor &d = tab.t[t];
    float wdt = d.decay ? wd : 0.0f, lrt = lr * d.lr_scale;
    int step = update && !d.frozen;
    long long base = (long long)(blockIdx.x - d.block0) * SGD_ITEMS_PER_BLOCK;
#pragma unroll 4
    for (int it = 0; it < SGD_ITEMS_PER_BLOCK / THREADS; it++) {
        long long j = base + (long long)it * THREADS + threadIdx.x;
        if (j >= d.numel) break;
        long long i = d.off + j;
        float wi = w[i];
        if (step) {
            /* explicit roundings: the same operations, in the same order, as sgd_update_host */
            float vi = __fadd_rn(__fmul_rn(m, v[i]), __fadd_rn(g[i], __fmul_rn(wdt, wi)));
            wi = __fsub_rn(wi, __fmul_rn(lrt, vi));
            v[i] = vi;
            w[i] = wi;
        }
        if (d.wc_off >= 0) {
            long long dst = j;
            if (d.conv) {
                int s_ = (int)(j % d.S);
                int r = (int)((j / d.S) % d.R);
                int ci = (int)((j / ((long long)d.S * d.R)) % d.cg);
                long long k = j / ((long long)d.S * d.R * d.cg);
                dst = ((k * d.R + r) * d.S + s_) * d.cp + ci;
            }
            wc[d.wc_off + dst] = from_f<T>(wi);
        }
    }
}

void cuda_sgd_apply(DType dt, const SgdTable *tab, float *w, const float *g, float *v, void *wc, float lr,
                    float momentum, float wd, int update, cudaStream_t s) {
    if (tab->blocks == 0) return;
    DISPATCH(dt, sgd_kernel<T><<<tab->blocks, THREADS, 0, s>>>(*tab, w, g, v, (T *)wc, lr, momentum, wd, update));
    KERNEL_CHECK();
}

/* ------------------------------------------------------------------ casts */

__global__ void f32_to_bf16_kernel(const float *x, bf16 *y, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2bfloat16(x[i]);
}

__global__ void bf16_to_f32_kernel(const bf16 *x, float *y, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __bfloat162float(x[i]);
}

void cuda_f32_to_bf16(const float *x, void *y, size_t n, cudaStream_t s) {
    f32_to_bf16_kernel<<<blocks_for((long long)n), THREADS, 0, s>>>(x, (bf16 *)y, (long long)n);
    KERNEL_CHECK();
}

void cuda_bf16_to_f32(const void *x, float *y, size_t n, cudaStream_t s) {
    bf16_to_f32_kernel<<<blocks_for((long long)n), THREADS, 0, s>>>((const bf16 *)x, y, (long long)n);
    KERNEL_CHECK();
}
