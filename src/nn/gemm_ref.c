/*
 * gemm_ref.c — plain-C matrix kernels for the reference ops (see gemm_ref.h).
 * Blocked for cache and written so GCC vectorises the inner loops without
 * reassociating sums: results stay exactly reproducible.
 */
#include "nn/gemm_ref.h"

enum { MB = 8, PB = 512 };

void gemm_acc_ab(float *c, const float *a, size_t sam, size_t sak, const float *b, int M, int K, int P) {
    int nmb = (M + MB - 1) / MB, npb = (P + PB - 1) / PB;
#pragma omp parallel for collapse(2) schedule(static)
    for (int mb = 0; mb < nmb; mb++) {
        for (int pb = 0; pb < npb; pb++) {
            int m0 = mb * MB, m1 = m0 + MB < M ? m0 + MB : M;
            int p0 = pb * PB, p1 = p0 + PB < P ? p0 + PB : P;
            for (int k = 0; k < K; k++) {
                const float *brow = b + (size_t)k * P;
                for (int m = m0; m < m1; m++) {
                    float av = a[(size_t)m * sam + (size_t)k * sak];
                    float *crow = c + (size_t)m * P;
                    for (int p = p0; p < p1; p++) crow[p] += av * brow[p];
                }
            }
        }
    }
}

/* 8 independent lanes, combined in a fixed order: vectorisable and reproducible. */
static float dot(const float *x, const float *y, int n) {
    float lane[8] = { 0 };
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += x[i + j] * y[i + j];
    float s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

void gemm_dot_abt(float *c, const float *a, const float *b, int M, int N, int P, int accumulate) {
#pragma omp parallel for schedule(static)
    for (int nn = 0; nn < N; nn++) {
        const float *brow = b + (size_t)nn * P;
        for (int m = 0; m < M; m++) {
            float d = dot(a + (size_t)m * P, brow, P);
            float *cp = c + (size_t)m * N + nn;
            *cp = accumulate ? *cp + d : d;
        }
    }
}
