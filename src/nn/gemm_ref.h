/*
 * gemm_ref.h — the two small matrix kernels the reference ops are built on.
 * Deterministic: every output element is produced by one thread, summing in
 * a fixed order, whatever the thread count.
 */
#ifndef ALEXNET_GEMM_REF_H
#define ALEXNET_GEMM_REF_H

#include <stddef.h>

/* C[M, P] += sum_k A(m, k) * B[K, P], where A(m, k) = a[m*sam + k*sak]
 * (strides let A be used transposed). Rows of B and C are contiguous. */
void gemm_acc_ab(float *c, const float *a, size_t sam, size_t sak, const float *b, int M, int K, int P);

/* C[M, N] = (beta ? C : 0) + sum_p A[M, P] · B[N, P] (row dot products). */
void gemm_dot_abt(float *c, const float *a, const float *b, int M, int N, int P, int accumulate);

#endif
