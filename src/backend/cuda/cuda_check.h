/*
 * cuda_check.h — one check macro per CUDA library the cuda backend calls.
 * A failed call prints "alexnet: fatal: file:line: <the call>: <the library's
 * error string>" through fatal_at and exits 1; there is no error recovery
 * inside a training step, except that a failure while a CUDA graph is being
 * captured abandons the capture (see cuda_capture_failed). KERNEL_CHECK()
 * follows every kernel launch.
 */
#ifndef ALEXNET_CUDA_CHECK_H
#define ALEXNET_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "common/util.h"
}

/* While a CUDA graph is being captured this points at a flag: a failing
 * call sets it (and warns once) instead of exiting, so the capture can be
 * abandoned and the step run eagerly. NULL otherwise. */
extern int *cuda_capture_failed;
void cuda_check_fail(const char *file, int line, const char *call, const char *what);

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) cuda_check_fail(__FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
    } while (0)

#define CUDNN_CHECK(call)                                                                                    \
    do {                                                                                                     \
        cudnnStatus_t s_ = (call);                                                                           \
        if (s_ != CUDNN_STATUS_SUCCESS) cuda_check_fail(__FILE__, __LINE__, #call, cudnnGetErrorString(s_)); \
    } while (0)

#define CUBLAS_CHECK(call)                                                                                      \
    do {                                                                                                        \
        cublasStatus_t s_ = (call);                                                                             \
        if (s_ != CUBLAS_STATUS_SUCCESS) cuda_check_fail(__FILE__, __LINE__, #call, cublasGetStatusString(s_)); \
    } while (0)

#ifdef ALEXNET_HAVE_NCCL
#include <nccl.h>
#define NCCL_CHECK(call)                                                                           \
    do {                                                                                           \
        ncclResult_t r_ = (call);                                                                  \
        if (r_ != ncclSuccess) cuda_check_fail(__FILE__, __LINE__, #call, ncclGetErrorString(r_)); \
    } while (0)
#endif

#define KERNEL_CHECK() CUDA_CHECK(cudaGetLastError())

#endif
