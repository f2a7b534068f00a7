/*
 * backend_impl.h — what a backend implements: the table of functions behind
 * the facade of backend.h. Private to src/backend/: the rest of the program
 * calls backend_* (backend.h), which hold the checks every backend relies on
 * (batch sizes, the inference-only contract, what it supports), so a backend
 * may trust its arguments.
 *
 * Adding a backend: a vtable here (backend_NAME), its entry in backend.c's
 * registry, and a `supports` that answers before `create` is tried.
 */
#ifndef ALEXNET_BACKEND_IMPL_H
#define ALEXNET_BACKEND_IMPL_H

#include "backend/backend.h"

struct BackendVTable {
    const char *name;
    /* 0 when the backend can run net at precision, else -1 with why in err
     * (one sentence naming what is missing and what to do). Cheap: it
     * allocates nothing, and backend_create asks it first. */
    int (*supports)(const Net *net, Precision precision, Error *err);
    /* Returns the backend's context, or NULL with a message in err. */
    void *(*create)(const Net *net, int max_batch, const BackendOptions *opt, Error *err);
    void (*destroy)(void *ctx);
    InputFormat (*input_format)(void *ctx);

    /* Host <-> backend copies of the flat buffers (Net.param_count floats).
     * The momentum and gradient calls never reach an inference backend. */
    void (*set_params)(void *ctx, const float *params);
    void (*get_params)(void *ctx, float *params);
    void (*set_momentum)(void *ctx, const float *momentum);
    void (*get_momentum)(void *ctx, float *momentum);
    void (*get_grads)(void *ctx, float *grads);
    float *(*grad_buffer)(void *ctx);

    /* 1 <= n <= max_batch (checked by the facade). */
    void (*forward)(void *ctx, const void *input, int n, const ForwardArgs *args);
    void (*read_logits)(void *ctx, float *logits, int n);
    /* n is the last forward's (checked); never on an inference backend. */
    double (*backward)(void *ctx, const int32_t *labels, int n, const LossArgs *args, GradReadyFn ready, void *user);
    void (*sgd_update)(void *ctx, const SgdArgs *args);

    /* --- optional (NULL when unsupported) --- */
    void (*set_profiling)(void *ctx, int on);
    void (*read_profile)(void *ctx, double *fwd_ms, double *bwd_ms);
    int (*comm_create_id)(void *ctx, uint8_t *id, Error *err);
    int (*comm_init)(void *ctx, int rank, int world, const uint8_t *id, Error *err);
    /* what --precision auto means here; why (may be NULL) gets the reason */
    Precision (*auto_precision)(char *why, size_t len);
    void (*layer_precision)(void *ctx, int layer, char *buf, size_t len);
    int (*native_bf16)(void); /* bf16 on hardware dot products here, not emulated */
};

/* Vtables of the built backends. */
extern const BackendVTable backend_ref;
#ifdef ALEXNET_HAVE_DNNL
extern const BackendVTable backend_dnnl;
#endif
#ifdef ALEXNET_HAVE_CUDA
extern const BackendVTable backend_cuda;
#endif

#endif
