/*
 * cuda_info.c — versions and devices for `alexnet info`: CUDA runtime and
 * driver, cuDNN, NCCL, and each GPU (see cuda_backend.h). Asks the libraries
 * only; works (and says why) on a machine without a GPU or driver.
 */
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>
#ifdef ALEXNET_HAVE_NCCL
#include <nccl.h>
#endif

#include "backend/cuda/cuda_backend.h"

static void cuda_version(char *out, size_t len, int v) {
    if (v <= 0) snprintf(out, len, "none");
    else snprintf(out, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

void cuda_backend_info(CudaInfo *info) {
    memset(info, 0, sizeof *info);
    int v = 0;
    if (cudaRuntimeGetVersion(&v) != cudaSuccess) v = 0;
    cuda_version(info->runtime, sizeof info->runtime, v);
    v = 0;
    if (cudaDriverGetVersion(&v) != cudaSuccess) v = 0;
    if (v > 0) cuda_version(info->driver, sizeof info->driver, v);
    else snprintf(info->driver, sizeof info->driver, "none (no NVIDIA driver loaded)");
    size_t dn = cudnnGetVersion();
    /* cuDNN 9 encodes major*10000 + minor*100 + patch, cuDNN 8 major*1000 + ... */
    size_t unit = dn >= 90000 ? 10000 : 1000;
    snprintf(info->cudnn, sizeof info->cudnn, "%zu.%zu.%zu", dn / unit, (dn % unit) / 100, dn % 100);
#ifdef ALEXNET_HAVE_NCCL
    int nv = 0;
    if (ncclGetVersion(&nv) == ncclSuccess) { /* like cuDNN: 2.9 and later use a 10000 unit */
        int major = nv >= 10000 ? nv / 10000 : nv / 1000, minor = nv >= 10000 ? (nv % 10000) / 100 : (nv % 1000) / 100;
        snprintf(info->nccl, sizeof info->nccl, "%d.%d.%d", major, minor, nv % 100);
    } else {
        snprintf(info->nccl, sizeof info->nccl, "unavailable");
    }
#else
    snprintf(info->nccl, sizeof info->nccl, "not built (MPI all-reduce through host memory)");
#endif
    info->n_gpus = cuda_backend_device_count(info->no_gpu, sizeof info->no_gpu);
    if (info->n_gpus > CUDA_INFO_MAX_GPUS) info->n_gpus = CUDA_INFO_MAX_GPUS;
    for (int i = 0; i < info->n_gpus; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            snprintf(info->gpus[i], sizeof info->gpus[i], "%d: (properties unavailable)", i);
            continue;
        }
        snprintf(info->gpus[i], sizeof info->gpus[i], "%d: %.200s, %.1f GiB, compute capability %d.%d, %d SMs", i,
                 p.name, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor,
                 p.multiProcessorCount);
    }
}
