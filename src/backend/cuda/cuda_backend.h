/*
 * cuda_backend.h — what tests and tools may ask of the cuda backend outside
 * the BackendVTable (plain C).
 */
#ifndef ALEXNET_CUDA_BACKEND_H
#define ALEXNET_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 with the reason in msg when there is none
 * (no driver, no GPU, or a driver older than the runtime). */
int cuda_backend_device_count(char *msg, size_t len);

#define CUDA_INFO_MAX_GPUS 16

/* Library versions ("12.4", "9.1.0") and the GPUs, for `alexnet info`. */
typedef struct {
    char runtime[32], driver[64], cudnn[32], nccl[64];
    int n_gpus;
    char no_gpu[160];                   /* why there is none, when n_gpus == 0 */
    char gpus[CUDA_INFO_MAX_GPUS][320]; /* "0: NVIDIA H200, 139.8 GiB, compute capability 9.0, 132 SMs" */
} CudaInfo;

void cuda_backend_info(CudaInfo *info);

#ifdef __cplusplus
}
#endif

#endif
