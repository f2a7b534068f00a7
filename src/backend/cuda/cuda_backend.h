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

#ifdef __cplusplus
}
#endif

#endif
