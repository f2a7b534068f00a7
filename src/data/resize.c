/*
 * resize.c — Pillow-exact antialiased bilinear resampling (see resize.h).
 *
 * Coefficients follow Pillow's precompute_coeffs()/normalize_coeffs_8bpc():
 * for output sample xx, centre = in0 + (xx + 0.5) * scale, support =
 * max(scale, 1), taps [(int)(centre - support + 0.5), (int)(centre + support
 * + 0.5)) clamped to the source, weights triangle((x - centre + 0.5) / fs)
 * normalised to sum 1, then rounded to 22-bit integers. Zero weights at the
 * ends are dropped (they change no sum, only what must be decoded).
 */
#include "data/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "common/util.h"

static double triangle(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

int resample_axis_init(ResampleAxis *a, double in0, double in1, int lo, int hi, int out_size, int o0, int n,
                       int mirror) {
    if (!(n > 0 && o0 >= 0 && n <= out_size - o0 && lo < hi && in0 < in1 && in1 - in0 <= RESAMPLE_MAX_SPAN)) return -1;
    double scale = (in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    /* ksize <= 2 * RESAMPLE_MAX_SPAN + 3, and n * ksize is sized in size_t. */
    int ksize = (int)ceil(support) * 2 + 1;
    if (n > a->cap_n) {
        free(a->start);
        free(a->len);
        a->start = xmalloc(sizeof *a->start * (size_t)n);
        a->len = xmalloc(sizeof *a->len * (size_t)n);
        a->cap_n = n;
    }
    size_t nk = (size_t)n * (size_t)ksize;
    if (nk > a->cap_k) {
        free(a->k);
        a->k = xmalloc(sizeof *a->k * nk);
        a->cap_k = nk;
    }
    if (ksize > a->cap_w) {
        free(a->w);
        a->w = xmalloc(sizeof *a->w * (size_t)ksize);
        a->cap_w = ksize;
    }
    double *w = a->w;
    a->n = n;
    a->ksize = ksize;
    a->first = hi;
    a->last = lo;
    double rel0 = in0 - lo; /* Pillow works in the coordinates of the cropped image */
    int size = hi - lo;
    double ss = 1.0 / filterscale;
    for (int i = 0; i < n; i++) {
        double center = rel0 + (o0 + i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > size) xmax = size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int dst = mirror ? n - 1 - i : i;
        int32_t *k = a->k + (size_t)dst * (size_t)ksize;
        int first = 0, count = 0;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            int32_t q = v < 0 ? (int32_t)(-0.5 + v * (1 << RESAMPLE_BITS)) : (int32_t)(0.5 + v * (1 << RESAMPLE_BITS));
            if (count == 0 && q == 0) {
                first = x + 1;
                continue;
            }
            k[count++] = q;
        }
        while (count > 0 && k[count - 1] == 0) count--;
        if (count == 0) return -1; /* no source pixel under this output sample */
        a->start[dst] = lo + xmin + first;
        a->len[dst] = count;
        if (a->start[dst] < a->first) a->first = a->start[dst];
        if (a->start[dst] + count > a->last) a->last = a->start[dst] + count;
    }
    return 0;
}

void resample_axis_free(ResampleAxis *a) {
    free(a->start);
    free(a->len);
    free(a->k);
    free(a->w);
    memset(a, 0, sizeof *a);
}

/* Both passes run as "line" passes — output line j is a weighted sum of
 * whole input lines — because a line pass is a plain vector loop over
 * bytes. The horizontal pass becomes one by transposing: pixels are 4-byte
 * words, so the source rectangle is transposed word-wise, resampled line by
 * line (a line is now a source column), transposed back, then resampled
 * vertically. The arithmetic is Pillow's, pass for pass, so the result is
 * the same bytes as a direct horizontal pass. */

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t resample_tmp_bytes(const ResampleAxis *ax, const ResampleAxis *ay) {
    size_t rows = (size_t)(ay->last - ay->first), cols = (size_t)(ax->last - ax->first);
    size_t a = round64(cols * rows * 4);          /* transposed source */
    size_t b = round64((size_t)ax->n * rows * 4); /* horizontal result, transposed */
    size_t c = round64((size_t)ax->n * rows * 4); /* horizontal result */
    size_t d = round64((size_t)ax->n * (size_t)ay->n * 4);
    size_t width = rows > (size_t)ax->n ? rows : (size_t)ax->n;
    return a + b + c + d + round64(width * 4 * sizeof(int32_t)) + 64;
}

/* Pillow's clip8: the sum >> 22, clamped to [0, 255] (a min/max pair in SIMD). */
static inline uint8_t clip8(int32_t v) {
    int32_t q = v >> RESAMPLE_BITS;
    q = q < 0 ? 0 : q;
    return (uint8_t)(q > 255 ? 255 : q);
}

/* dst[x][y] = src[y][x] for 4-byte words; rows x cols words, strides in words. */
static void transpose32(uint32_t *restrict dst, size_t dst_stride, const uint32_t *restrict src, size_t src_stride,
                        int rows, int cols) {
    int y = 0;
#ifdef __AVX2__
    for (; y + 8 <= rows; y += 8) {
        int x = 0;
        for (; x + 8 <= cols; x += 8) {
            __m256i r[8], t[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_si256((const __m256i *)(src + (size_t)(y + i) * src_stride + x));
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                r[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
                r[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
                r[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
                r[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
            }
            for (int i = 0; i < 4; i++) {
                t[i] = _mm256_permute2x128_si256(r[i], r[i + 4], 0x20);
                t[i + 4] = _mm256_permute2x128_si256(r[i], r[i + 4], 0x31);
            }
            for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(dst + (size_t)(x + i) * dst_stride + y), t[i]);
        }
        for (; x < cols; x++)
            for (int i = 0; i < 8; i++) dst[(size_t)x * dst_stride + y + i] = src[(size_t)(y + i) * src_stride + x];
    }
#endif
    for (; y < rows; y++)
        for (int x = 0; x < cols; x++) dst[(size_t)x * dst_stride + y] = src[(size_t)y * src_stride + x];
}

/* B bytes of one output line; B is a constant at each call, so the sums
 * live in vector registers across the taps. */
static inline __attribute__((always_inline)) void line_block(uint8_t *restrict o, const uint8_t *restrict in,
                                                             size_t stride, const int32_t *k, int len, const int B) {
    int32_t acc[64];
    for (int x = 0; x < B; x++) acc[x] = 1 << (RESAMPLE_BITS - 1);
    for (int t = 0; t < len; t++) {
        const uint8_t *line = in + (size_t)t * stride;
        const int32_t kt = k[t];
        for (int x = 0; x < B; x++) acc[x] += line[x] * kt;
    }
    for (int x = 0; x < B; x++) o[x] = clip8(acc[x]);
}

/* out[a.n][width] from in[lines][stride]: out line j = sum over its taps t of
 * k[j][t] * in line (start[j] - first + t), rounded and clipped per byte. */
static void resample_lines(uint8_t *restrict out, const uint8_t *restrict in, size_t stride, int width,
                           const ResampleAxis *a) {
    const int ks = a->ksize;
    for (int j = 0; j < a->n; j++) {
        const int32_t *k = a->k + (size_t)j * (size_t)ks;
        const int len = a->len[j];
        const uint8_t *base = in + (size_t)(a->start[j] - a->first) * stride;
        uint8_t *o = out + (size_t)j * (size_t)width;
        int x = 0;
        for (; x + 64 <= width; x += 64) line_block(o + x, base + x, stride, k, len, 64);
        for (; x + 16 <= width; x += 16) line_block(o + x, base + x, stride, k, len, 16);
        for (; x + 4 <= width; x += 4) line_block(o + x, base + x, stride, k, len, 4);
    }
}

void resample_rgbx(uint8_t *out, const uint8_t *src, size_t src_stride, int src_x0, int src_y0, const ResampleAxis *ax,
                   const ResampleAxis *ay, uint8_t *tmp) {
    const int rows = ay->last - ay->first, cols = ax->last - ax->first, n = ax->n, m = ay->n;
    uint8_t *ts = tmp;                                   /* [cols][rows] words */
    uint8_t *ht = ts + round64((size_t)cols * rows * 4); /* [n][rows] words */
    uint8_t *h = ht + round64((size_t)n * rows * 4);     /* [rows][n] words */
    uint8_t *v = h + round64((size_t)n * rows * 4);      /* [m][n] words */
    const uint8_t *s0 = src + (size_t)(ay->first - src_y0) * src_stride + (size_t)(ax->first - src_x0) * 4;

    transpose32((uint32_t *)ts, (size_t)rows, (const uint32_t *)s0, src_stride / 4, rows, cols);
    resample_lines(ht, ts, (size_t)rows * 4, rows * 4, ax);
    transpose32((uint32_t *)h, (size_t)n, (const uint32_t *)ht, (size_t)rows, n, rows);
    resample_lines(v, h, (size_t)n * 4, n * 4, ay);

    const size_t plane = (size_t)n * (size_t)m;
    for (size_t i = 0; i < plane; i++) {
        out[i] = v[4 * i + 0];
        out[plane + i] = v[4 * i + 1];
        out[2 * plane + i] = v[4 * i + 2];
    }
}
