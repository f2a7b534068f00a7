/*
 * backend.h — the interface between the training loop and the code that runs
 * a network on some hardware.
 *
 * A backend runs a whole Net (not single ops) so it can own its memory
 * layout (oneDNN blocked formats, cuDNN NHWC), fuse what it likes and build
 * its primitives once in create(). The rest of the program only ever sees:
 *  - the input batch, in the format the backend asks for (input_format);
 *  - flat fp32 buffers in torchvision state_dict order (Net.params) for
 *    parameters, gradients and momentum, copied in and out on request;
 *  - logits on the host, a loss value, and a hook telling when a parameter
 *    tensor's gradient is final (for overlapping all-reduce).
 * Nothing is allocated per step after create().
 *
 * Step protocol:  forward(train=1) -> backward(labels) -> [all-reduce of
 * grad_buffer] -> sgd_update.  Evaluation: forward(train=0) -> read_logits.
 */
#ifndef ALEXNET_BACKEND_H
#define ALEXNET_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "model/net.h"
#include "nn/ops.h"

typedef enum {
    INPUT_F32_NCHW, /* normalised floats [n, 3, S, S] */
    INPUT_F32_NHWC, /* normalised floats [n, S, S, 3] */
    INPUT_U8_NHWC,  /* raw RGB bytes [n, S, S, 3]; the backend normalises (mean/std of data/transforms.h) */
} InputFormat;

typedef enum { PRECISION_FP32, PRECISION_BF16 } Precision;

typedef struct {
    int threads; /* CPU threads; 0 = all cores */
    int device;  /* GPU ordinal */
    Precision precision;
    uint64_t seed; /* dropout key */
    /* Forward only (eval, predict): backward, sgd_update and the momentum and
     * gradient buffers are never used, so a backend may skip them and pick
     * layouts that are fastest without a backward pass (dnnl: nhwc bf16
     * convolutions). */
    int inference;
} BackendOptions;

typedef struct {
    int train;              /* 1: dropout on; 0: eval (dropout is the identity) */
    uint64_t step;          /* dropout key: optimizer step */
    uint64_t sample_offset; /* dropout key: global index of this batch's sample 0 (rank * per-rank batch) */
} ForwardArgs;

typedef struct {
    float smoothing; /* label smoothing epsilon */
    SmoothingForm form;
    int global_batch; /* gradients are divided by this (0: the local batch) */
} LossArgs;

typedef struct {
    float lr, momentum, weight_decay; /* v = m*v + g + wd*w (weights only); w -= lr*v */
} SgdArgs;

/* Called from backward() when the gradient of parameter tensor `param`
 * (index into Net.params) is final; tensors complete in reverse order. */
typedef void (*GradReadyFn)(void *user, int param);

typedef struct Backend Backend;

typedef struct {
    const char *name;
    /* Returns the backend's context, or NULL with a message in err. */
    void *(*create)(const Net *net, int max_batch, const BackendOptions *opt, Error *err);
    void (*destroy)(void *ctx);
    InputFormat (*input_format)(void *ctx);

    /* Host <-> backend copies of the flat buffers (Net.param_count floats). */
    void (*set_params)(void *ctx, const float *params);
    void (*get_params)(void *ctx, float *params);
    void (*set_momentum)(void *ctx, const float *momentum);
    void (*get_momentum)(void *ctx, float *momentum);
    void (*get_grads)(void *ctx, float *grads);
    /* The gradient buffer in the backend's own memory (host or device), flat,
     * Net.params order: what data-parallel training all-reduces in place. */
    float *(*grad_buffer)(void *ctx);

    /* input: n samples in input_format(), on the host; 1 <= n <= max_batch
     * (backend_forward checks it). */
    void (*forward)(void *ctx, const void *input, int n, const ForwardArgs *args);
    /* logits [n, num_classes] of the last forward, to the host. */
    void (*read_logits)(void *ctx, float *logits, int n);
    /* Loss of the last forward(train=1) and backward through the whole net.
     * Gradients are overwritten (not accumulated across calls). Calls
     * ready(user, param) as each parameter's gradient becomes final. Returns
     * the loss, summed over the n samples and divided by the batch in args.
     * n is the last forward's (backend_backward checks it). */
    double (*backward)(void *ctx, const int32_t *labels, int n, const LossArgs *args, GradReadyFn ready, void *user);
    void (*sgd_update)(void *ctx, const SgdArgs *args);

    /* --- optional (NULL when unsupported) --- */
    /* Per-layer timing: while on, forward/backward add milliseconds per layer
     * into the backend's counters (Net.n_layers entries; the loss counts into
     * the last layer's backward); read_profile copies them out and resets. */
    void (*set_profiling)(void *ctx, int on);
    void (*read_profile)(void *ctx, double *fwd_ms, double *bwd_ms);
    /* In-backend gradient all-reduce across ranks (NCCL on GPUs): rank 0 calls
     * comm_create_id, the id (COMM_ID_BYTES) is broadcast over MPI, every rank
     * calls comm_init. From then on backward() itself averages the gradients
     * over the ranks (bucketed, overlapped), and the trainer skips its MPI
     * all-reduce. */
    int (*comm_create_id)(void *ctx, uint8_t *id, Error *err);
    int (*comm_init)(void *ctx, int rank, int world, const uint8_t *id, Error *err);
    /* The precision "auto" means on this machine (dnnl: bf16 where the CPU
     * has native bf16 dot products). */
    Precision (*auto_precision)(void);
    /* Layer i's compute precision for tables ("bf16", "fp32 wino", "fp32 (logits)"). */
    void (*layer_precision)(void *ctx, int layer, char *buf, size_t len);
} BackendVTable;

#define COMM_ID_BYTES 128

struct Backend {
    const BackendVTable *vt;
    void *ctx;
    const Net *net;
    int max_batch;
    int n;         /* samples of the last backend_forward: backward must match */
    int inference; /* BackendOptions.inference: backward and sgd_update are bugs */
};

/* Names compiled into this build, comma-separated ("ref, dnnl, cuda"). */
const char *backend_names(void);
/* The fastest backend built for the device kind: "cpu" -> dnnl if built else ref; "gpu"/"cuda" -> cuda. */
const char *backend_default(const char *device);
/* What --precision auto resolves to for a backend: its auto_precision hook;
 * without one bf16 on "cuda", fp32 elsewhere. */
Precision backend_auto_precision(const char *name);
/* "fp32" / "bf16" / "auto" -> 0 with *out set (auto resolved for backend), or -1. */
int precision_parse(const char *s, const char *backend, Precision *out);
static inline const char *precision_name(Precision p) { return p == PRECISION_BF16 ? "bf16" : "fp32"; }
/* Creates a backend by name ("ref", "dnnl", "cuda"). 0, or -1 with a
 * user-facing message (also for max_batch < 1: no backend checks it again). */
int backend_create(Backend *b, const char *name, const Net *net, int max_batch, const BackendOptions *opt, Error *err);
void backend_destroy(Backend *b);

/* Call-throughs that read better at call sites. They hold the batch checks
 * of every backend (a failed one is a bug in the caller: CHECK), so the
 * backends' forward and backward can trust n. */
static inline void backend_forward(Backend *b, const void *x, int n, const ForwardArgs *a) {
    CHECK(n >= 1 && n <= b->max_batch, "forward: batch %d outside [1, %d]", n, b->max_batch);
    b->n = n;
    b->vt->forward(b->ctx, x, n, a);
}
static inline double backend_backward(Backend *b, const int32_t *labels, int n, const LossArgs *a, GradReadyFn ready,
                                      void *user) {
    CHECK(!b->inference, "backward on a backend created for inference only");
    CHECK(n == b->n, "backward: batch %d differs from the last forward's %d", n, b->n);
    return b->vt->backward(b->ctx, labels, n, a, ready, user);
}
static inline void backend_sgd_update(Backend *b, const SgdArgs *a) {
    CHECK(!b->inference, "sgd_update on a backend created for inference only");
    b->vt->sgd_update(b->ctx, a);
}

/* Vtables of the built backends. */
extern const BackendVTable backend_ref;
#ifdef ALEXNET_HAVE_DNNL
extern const BackendVTable backend_dnnl;
#endif
#ifdef ALEXNET_HAVE_CUDA
extern const BackendVTable backend_cuda;
#endif

#endif
