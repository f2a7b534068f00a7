/*
 * backend.c — the registry of backends compiled into this build.
 */
#include "backend/backend.h"

#include <string.h>

static const BackendVTable *const ALL[] = {
    &backend_ref,
#ifdef ALEXNET_HAVE_DNNL
    &backend_dnnl,
#endif
#ifdef ALEXNET_HAVE_CUDA
    &backend_cuda,
#endif
};
#define N_ALL ((int)(sizeof ALL / sizeof ALL[0]))

const char *backend_names(void) {
    static char names[64];
    if (!names[0]) {
        for (int i = 0; i < N_ALL; i++) {
            if (i) strcat(names, ", ");
            strcat(names, ALL[i]->name);
        }
    }
    return names;
}

const char *backend_default(const char *device) {
    if (device && (strcmp(device, "gpu") == 0 || strcmp(device, "cuda") == 0)) return "cuda";
#ifdef ALEXNET_HAVE_DNNL
    return "dnnl";
#else
    return "ref";
#endif
}

Precision backend_auto_precision(const char *name) {
    for (int i = 0; i < N_ALL; i++)
        if (strcmp(ALL[i]->name, name) == 0 && ALL[i]->auto_precision) return ALL[i]->auto_precision();
    return strcmp(name, "cuda") == 0 ? PRECISION_BF16 : PRECISION_FP32;
}

int precision_parse(const char *s, const char *backend, Precision *out) {
    if (strcmp(s, "fp32") == 0) *out = PRECISION_FP32;
    else if (strcmp(s, "bf16") == 0) *out = PRECISION_BF16;
    else if (strcmp(s, "auto") == 0) *out = backend_auto_precision(backend);
    else return -1;
    return 0;
}

int backend_create(Backend *b, const char *name, const Net *net, int max_batch, const BackendOptions *opt, Error *err) {
    memset(b, 0, sizeof *b);
    for (int i = 0; i < N_ALL; i++) {
        if (strcmp(ALL[i]->name, name) != 0) continue;
        if (max_batch < 1) return error_set(err, "batch size must be at least 1");
        b->vt = ALL[i];
        b->net = net;
        b->max_batch = max_batch;
        b->inference = opt->inference;
        b->ctx = ALL[i]->create(net, max_batch, opt, err);
        return b->ctx ? 0 : -1;
    }
    if (strcmp(name, "cuda") == 0)
        return error_set(
            err,
            "this build has no CUDA backend (built: %s); rebuild on a machine with nvcc and cuDNN, or use --device cpu",
            backend_names());
    if (strcmp(name, "dnnl") == 0)
        return error_set(err, "this build has no oneDNN backend (built: %s); install libdnnl-dev and rebuild",
                         backend_names());
    return error_set(err, "unknown backend '%s' (built: %s)", name, backend_names());
}

void backend_destroy(Backend *b) {
    if (b->vt && b->ctx) b->vt->destroy(b->ctx);
    memset(b, 0, sizeof *b);
}
