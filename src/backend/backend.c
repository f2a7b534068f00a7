/*
 * backend.c — the facade of backend.h over the backends compiled into this
 * build: the registry, what each supports, and the call-throughs holding the
 * checks every backend relies on (batch sizes, the inference-only contract).
 */
#include "backend/backend_impl.h"

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

static const BackendVTable *find(const char *name) {
    for (int i = 0; i < N_ALL; i++)
        if (strcmp(ALL[i]->name, name) == 0) return ALL[i];
    return NULL;
}

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

const char *backend_name_at(int i) { return i >= 0 && i < N_ALL ? ALL[i]->name : NULL; }

static int not_built(const char *name, Error *why) {
    if (strcmp(name, "cuda") == 0)
        return error_set(
            why,
            "this build has no CUDA backend (built: %s); rebuild on a machine with nvcc and cuDNN, or use --device cpu",
            backend_names());
    if (strcmp(name, "dnnl") == 0)
        return error_set(why, "this build has no oneDNN backend (built: %s); install libdnnl-dev and rebuild",
                         backend_names());
    return error_set(why, "unknown backend '%s' (built: %s)", name, backend_names());
}

int backend_supports(const char *name, const Net *net, Precision precision, Error *why) {
    const BackendVTable *vt = find(name);
    if (!vt) return not_built(name, why), 0;
    return vt->supports(net, precision, why) == 0;
}

const char *backend_default(const char *device, const Net *net) {
    if (device && (strcmp(device, "gpu") == 0 || strcmp(device, "cuda") == 0)) return "cuda";
#ifdef ALEXNET_HAVE_DNNL
    Error ignored;
    if (!net || backend_supports("dnnl", net, PRECISION_FP32, &ignored)) return "dnnl";
#else
    (void)net;
#endif
    return "ref";
}

Precision backend_auto_precision(const char *name, const Net *net, char *why, size_t len) {
    const BackendVTable *vt = find(name);
    if (why && len) why[0] = 0;
    if (!vt || !vt->auto_precision) return PRECISION_FP32;
    Precision p = vt->auto_precision(why, len);
    Error ignored;
    if (p == PRECISION_BF16 && net && vt->supports(net, PRECISION_BF16, &ignored) != 0) {
        if (why && len) snprintf(why, len, "this network has no bf16 kernels");
        return PRECISION_FP32;
    }
    return p;
}

int backend_native_bf16(const char *name) {
    const BackendVTable *vt = find(name);
    return vt && vt->native_bf16 && vt->native_bf16();
}

int precision_parse(const char *s, const char *backend, const Net *net, Precision *out) {
    if (strcmp(s, "fp32") == 0) *out = PRECISION_FP32;
    else if (strcmp(s, "bf16") == 0) *out = PRECISION_BF16;
    else if (strcmp(s, "int8") == 0) *out = PRECISION_INT8;
    else if (strcmp(s, "auto") == 0) *out = backend_auto_precision(backend, net, NULL, 0);
    else return -1;
    return 0;
}

int backend_create(Backend *b, const char *name, const Net *net, int max_batch, const BackendOptions *opt, Error *err) {
    memset(b, 0, sizeof *b);
    const BackendVTable *vt = find(name);
    if (!vt) return not_built(name, err);
    if (max_batch < 1) return error_set(err, "batch size must be at least 1");
    if (opt->precision == PRECISION_INT8 && (!opt->quant || !opt->inference))
        return error_set(err, "--precision int8 runs an int8 model (alexnet quantize) for inference: eval, predict, "
                              "bench; training is fp32 or bf16");
    if (vt->supports(net, opt->precision, err) != 0) return -1;
    void *ctx = vt->create(net, max_batch, opt, err);
    if (!ctx) return -1;
    *b = (Backend){ .vt = vt,
                    .ctx = ctx,
                    .name = vt->name,
                    .net = net,
                    .max_batch = max_batch,
                    .precision = opt->precision,
                    .inference = opt->inference };
    return 0;
}

void backend_destroy(Backend *b) {
    if (b->vt && b->ctx) b->vt->destroy(b->ctx);
    memset(b, 0, sizeof *b);
}

InputFormat backend_input_format(const Backend *b) { return b->vt->input_format(b->ctx); }

/* --- buffers --------------------------------------------------------------- */

static void training_only(const Backend *b, const char *call) {
    CHECK(!b->inference, "%s on the %s backend created for inference only", call, b->name);
}

void backend_set_params(Backend *b, const float *params) { b->vt->set_params(b->ctx, params); }
void backend_get_params(const Backend *b, float *params) { b->vt->get_params(b->ctx, params); }

void backend_set_momentum(Backend *b, const float *momentum) {
    training_only(b, "set_momentum");
    b->vt->set_momentum(b->ctx, momentum);
}

void backend_get_momentum(const Backend *b, float *momentum) {
    training_only(b, "get_momentum");
    b->vt->get_momentum(b->ctx, momentum);
}

void backend_get_grads(const Backend *b, float *grads) {
    training_only(b, "get_grads");
    b->vt->get_grads(b->ctx, grads);
}

float *backend_grad_buffer(Backend *b) {
    training_only(b, "grad_buffer");
    return b->vt->grad_buffer(b->ctx);
}

/* --- the step -------------------------------------------------------------- */

void backend_forward(Backend *b, const void *input, int n, const ForwardArgs *args) {
    CHECK(n >= 1 && n <= b->max_batch, "forward: batch %d outside [1, %d]", n, b->max_batch);
    CHECK(!(b->inference && args->train), "a training forward on the %s backend created for inference only", b->name);
    b->n = n;
    b->vt->forward(b->ctx, input, n, args);
}

void backend_read_logits(const Backend *b, float *logits, int n) {
    CHECK(n >= 1 && n <= b->n, "read_logits: %d rows, the last forward had %d", n, b->n);
    b->vt->read_logits(b->ctx, logits, n);
}

double backend_backward(Backend *b, const int32_t *labels, int n, const LossArgs *args, GradReadyFn ready, void *user) {
    training_only(b, "backward");
    CHECK(n == b->n, "backward: batch %d differs from the last forward's %d", n, b->n);
    return b->vt->backward(b->ctx, labels, n, args, ready, user);
}

void backend_sgd_update(Backend *b, const SgdArgs *args) {
    training_only(b, "sgd_update");
    b->vt->sgd_update(b->ctx, args);
}

/* --- optional capabilities ------------------------------------------------- */

int backend_can_profile(const Backend *b) { return b->vt->set_profiling && b->vt->read_profile; }

void backend_set_profiling(Backend *b, int on) {
    if (backend_can_profile(b)) b->vt->set_profiling(b->ctx, on);
}

void backend_read_profile(Backend *b, double *fwd_ms, double *bwd_ms) {
    if (backend_can_profile(b)) {
        b->vt->read_profile(b->ctx, fwd_ms, bwd_ms);
        return;
    }
    memset(fwd_ms, 0, sizeof(double) * (size_t)b->net->n_layers);
    memset(bwd_ms, 0, sizeof(double) * (size_t)b->net->n_layers);
}

int backend_has_comm(const Backend *b) { return b->vt->comm_create_id && b->vt->comm_init; }

int backend_comm_create_id(Backend *b, uint8_t *id, Error *err) {
    if (!backend_has_comm(b)) return error_set(err, "the %s backend has no in-backend all-reduce", b->name);
    return b->vt->comm_create_id(b->ctx, id, err);
}

int backend_comm_init(Backend *b, int rank, int world, const uint8_t *id, Error *err) {
    if (!backend_has_comm(b)) return error_set(err, "the %s backend has no in-backend all-reduce", b->name);
    training_only(b, "comm_init");
    return b->vt->comm_init(b->ctx, rank, world, id, err);
}

const char *backend_layer_precision(const Backend *b, int layer, char *buf, size_t len) {
    buf[0] = '\0';
    if (b->vt->layer_precision) b->vt->layer_precision(b->ctx, layer, buf, len);
    if (!buf[0]) snprintf(buf, len, "%s", precision_name(b->precision));
    return buf;
}
