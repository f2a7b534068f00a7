/*
 * backend.h — the interface between the training loop and the code that runs
 * a network on some hardware.
 *
 * A backend runs a whole Net (not single ops) so it can own its memory
 * layout (oneDNN blocked formats, cuDNN NHWC), fuse what it likes and build
 * its primitives once in create(). The rest of the program calls the
 * backend_* functions below (the table of functions behind them is private
 * to src/backend/: backend_impl.h) and only ever sees:
 *  - what a backend supports, asked before it is created (backend_supports);
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
#include "model/input.h"
#include "model/net.h"
#include "model/quant.h"
#include "nn/ops.h"

/* INT8: an int8 model's quantized layers (model/quant.h), inference only. */
typedef enum { PRECISION_FP32, PRECISION_BF16, PRECISION_INT8 } Precision;

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
    const QuantModel *quant; /* PRECISION_INT8: the int8 model's numbers (kept by the caller) */
} BackendOptions;

typedef struct {
    int train;              /* 1: dropout on; 0: eval (dropout is the identity) */
    uint64_t step;          /* dropout key: optimizer step */
    uint64_t sample_offset; /* dropout key: global index of this batch's sample 0 (rank * per-rank batch) */
    /* calibration (alexnet quantize; the ref backend): called with each conv / linear layer's fp32 input
     * before the layer runs (count floats: the batch's); NULL: none */
    void (*observe)(void *user, int layer, const float *input, size_t count);
    void *observe_user;
} ForwardArgs;

typedef struct {
    float smoothing; /* label smoothing epsilon */
    SmoothingForm form;
    int global_batch; /* gradients are divided by this (0: the local batch) */
    LabelMix mix;     /* MixUp/CutMix targets of this batch; mix.labels NULL: none (cuda: none) */
    const float
        *class_weight; /* [num_classes] per-class loss weights (--class_balance loss); NULL: none (cuda: none) */
} LossArgs;

/* The op's arguments for a loss of n rows. */
static inline XentArgs loss_xent_args(const LossArgs *a, int n) {
    XentArgs x = { .eps = a->smoothing,
                   .form = a->form,
                   .divisor = (double)(a->global_batch > 0 ? a->global_batch : n),
                   .mix = a->mix.labels ? &a->mix : NULL,
                   .class_weight = a->class_weight };
    return x;
}

typedef struct {
    float lr, momentum, weight_decay; /* v = m*v + g + wd*w (weights only); w -= lr*v */
} SgdArgs;

/* Called from backward() when the gradient of parameter tensor `param`
 * (index into Net.params) is final; tensors complete in reverse order. */
typedef void (*GradReadyFn)(void *user, int param);

typedef struct BackendVTable BackendVTable; /* backend_impl.h: private to src/backend/ */

#define COMM_ID_BYTES     128
/* The gradient all-reduce's bucket size (PyTorch DDP's default): the MPI
 * all-reduce's (dist_grads_attach) and the cuda backend's NCCL one. */
#define GRAD_BUCKET_BYTES (25u << 20)

/* A created backend. The fields are read-only outside backend.c. */
typedef struct {
    const BackendVTable *vt;
    void *ctx;
    const char *name; /* "ref", "dnnl", "cuda" */
    const Net *net;
    int max_batch;
    Precision precision;
    int inference; /* BackendOptions.inference: the training calls are bugs */
    int n;         /* samples of the last backend_forward: backward must match */
} Backend;

/* --- the registry ------------------------------------------------------- */

/* Names compiled into this build, comma-separated ("ref, dnnl, cuda"). */
const char *backend_names(void);
/* The i-th of them, NULL past the last. */
const char *backend_name_at(int i);
/* Whether backend `name` can run net at precision here: 1, or 0 with the
 * reason in why (not built, no GPU, a precision or a layer it lacks; one
 * sentence saying what to do). Allocates nothing. */
int backend_supports(const char *name, const Net *net, Precision precision, Error *why);
/* The backend --backend "" means for device ("cpu", "gpu"/"cuda"): on the
 * CPU the fastest built one that supports net (dnnl, else ref); on a GPU
 * cuda. net NULL: for AlexNet-like nets. */
const char *backend_default(const char *device, const Net *net);
/* What --precision auto resolves to for backend `name` and net: bf16 where
 * the backend supports it and it pays here (dnnl: measured >= 1.15x faster
 * than fp32 on this CPU, dnnl_probe.c; cuda: always), else fp32. why (may be
 * NULL) gets the reason in a few words. */
Precision backend_auto_precision(const char *name, const Net *net, char *why, size_t len);
/* 1 when backend `name` runs bf16 on hardware here (dnnl: AVX512_BF16 or
 * AMX, within ONEDNN_MAX_CPU_ISA; cuda: always), whether or not it is the
 * faster precision: the tests' "this machine has bf16". */
int backend_native_bf16(const char *name);
/* "fp32" / "bf16" / "int8" / "auto" -> 0 with *out set (auto resolved for
 * backend and net: never int8, which model_open picks for int8 files), or -1. */
int precision_parse(const char *s, const char *backend, const Net *net, Precision *out);
static inline const char *precision_name(Precision p) {
    return p == PRECISION_BF16 ? "bf16" : p == PRECISION_INT8 ? "int8" : "fp32";
}

/* --- one backend -------------------------------------------------------- */

/* Creates a backend by name ("ref", "dnnl", "cuda"). 0, or -1 with a
 * user-facing message: max_batch < 1, or what backend_supports says. */
int backend_create(Backend *b, const char *name, const Net *net, int max_batch, const BackendOptions *opt, Error *err);
void backend_destroy(Backend *b);

/* The format batches must come in (model/input.h). */
InputFormat backend_input_format(const Backend *b);

/* Host <-> backend copies of the flat buffers (Net.param_count floats,
 * Net.params order). Momentum and gradients exist only in training
 * backends: calling these on an inference backend is a bug (CHECK). */
void backend_set_params(Backend *b, const float *params);
void backend_get_params(const Backend *b, float *params);
void backend_set_momentum(Backend *b, const float *momentum);
void backend_get_momentum(const Backend *b, float *momentum);
void backend_get_grads(const Backend *b, float *grads);
/* The gradient buffer in the backend's own memory (host or device): what
 * data-parallel training all-reduces in place. */
float *backend_grad_buffer(Backend *b);

/* input: n samples in backend_input_format(), on the host; 1 <= n <= max_batch. */
void backend_forward(Backend *b, const void *input, int n, const ForwardArgs *args);
/* logits [n, num_classes] of the last forward, to the host; n <= its batch. */
void backend_read_logits(const Backend *b, float *logits, int n);
/* Loss of the last forward(train=1) and backward through the whole net.
 * Gradients are overwritten (not accumulated across calls); ready(user,
 * param) is called as each parameter's gradient becomes final. Returns the
 * loss summed over the n samples and divided by args->global_batch (0: n).
 * n must be the last forward's. */
double backend_backward(Backend *b, const int32_t *labels, int n, const LossArgs *args, GradReadyFn ready, void *user);
void backend_sgd_update(Backend *b, const SgdArgs *args);

/* Per-layer timing: while on, forward/backward add milliseconds per layer
 * into the backend's counters (Net.n_layers each; the loss counts into the
 * last layer's backward); read_profile copies them out and resets them.
 * Without the capability, read_profile gives zeros. */
int backend_can_profile(const Backend *b);
void backend_set_profiling(Backend *b, int on);
void backend_read_profile(Backend *b, double *fwd_ms, double *bwd_ms);

/* In-backend gradient all-reduce across ranks (NCCL on GPUs): rank 0 calls
 * comm_create_id, the id (COMM_ID_BYTES) is broadcast over MPI, every rank
 * calls comm_init. From then on backward() itself averages the gradients
 * over the ranks, and the trainer skips its own all-reduce. */
int backend_has_comm(const Backend *b);
int backend_comm_create_id(Backend *b, uint8_t *id, Error *err);
int backend_comm_init(Backend *b, int rank, int world, const uint8_t *id, Error *err);

/* Layer i's compute precision for tables ("bf16", "fp32 wino", "fp32
 * (logits)"); the backend's precision when it says nothing finer. */
const char *backend_layer_precision(const Backend *b, int layer, char *buf, size_t len);

#endif
