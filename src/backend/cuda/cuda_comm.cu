/*
 * cuda_comm.cu — data-parallel gradient all-reduce with NCCL, inside
 * backward(): the flat gradient buffer is cut into buckets of whole
 * parameter tensors (about ALEXNET_NCCL_BUCKET_MB, default 25 MiB, in reverse
 * order, so each bucket is one contiguous range); a bucket's all-reduce (sum:
 * the loss is already divided by the global batch) starts on the comm stream
 * as soon as the backward of its last layer is enqueued, overlapping the rest
 * of the backward, and the compute stream waits for all of them before the
 * optimizer. ALEXNET_CUDA_ALLREDUCE=bf16 reduces a bf16 copy (half the
 * bytes, bf16 sums) instead of fp32.
 *
 * Built without NCCL, the entry points report that and do nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_internal.h"

#ifdef ALEXNET_HAVE_NCCL

static_assert(sizeof(ncclUniqueId) == COMM_ID_BYTES, "COMM_ID_BYTES must equal NCCL_UNIQUE_ID_BYTES");

typedef struct {
    size_t off, count; /* range of the flat buffer, floats */
    int last_layer;    /* the bucket is complete once this layer's backward is done */
    int started;
    cudaEvent_t ready;
} Bucket;

struct CommState {
    ncclComm_t comm;
    int rank, world, bf16;
    cudaStream_t stream;
    int nb;
    Bucket b[NET_MAX_PARAMS];
    cudaEvent_t done;
    void *buf16; /* [P] bf16, ALEXNET_CUDA_ALLREDUCE=bf16 only */
};

int comm_available(void) { return 1; }

int comm_active(const CudaCtx *c) { return c->comm != NULL; }

int comm_create_id_impl(CudaCtx *c, uint8_t *id, Error *err) {
    CUDA_CHECK(cudaSetDevice(c->device));
    ncclUniqueId uid;
    ncclResult_t r = ncclGetUniqueId(&uid);
    if (r != ncclSuccess) return error_set(err, "NCCL could not create a communicator id: %s", ncclGetErrorString(r));
    memcpy(id, &uid, COMM_ID_BYTES);
    return 0;
}

static void make_buckets(CudaCtx *c, struct CommState *s, size_t bucket_bytes) {
    const Net *net = c->net;
    size_t acc = 0;
    s->nb = 0;
    for (int t = net->n_params - 1; t >= 0; t--) {
        const ParamTensor *p = &net->params[t];
        if (acc == 0) {
            Bucket *b = &s->b[s->nb++];
            b->off = p->offset;
            b->count = 0;
            b->last_layer = p->layer;
        }
        Bucket *b = &s->b[s->nb - 1];
        b->off = p->offset; /* descending: the lowest offset wins */
        b->count += p->numel;
        if (p->layer < b->last_layer) b->last_layer = p->layer;
        acc += p->numel * sizeof(float);
        if (acc >= bucket_bytes) acc = 0;
    }
    for (int i = 0; i < s->nb; i++) CUDA_CHECK(cudaEventCreateWithFlags(&s->b[i].ready, cudaEventDisableTiming));
}

int comm_init_impl(CudaCtx *c, int rank, int world, const uint8_t *id, Error *err) {
    if (world < 1 || rank < 0 || rank >= world) return error_set(err, "bad NCCL rank %d of %d", rank, world);
    if (c->comm) return error_set(err, "NCCL communicator already initialised");
    CUDA_CHECK(cudaSetDevice(c->device));
    struct CommState *s = (struct CommState *)xcalloc(1, sizeof *s);
    ncclUniqueId uid;
    memcpy(&uid, id, COMM_ID_BYTES);
    ncclResult_t r = ncclCommInitRank(&s->comm, world, uid, rank);
    if (r != ncclSuccess) {
        free(s);
        return error_set(err, "NCCL initialisation failed on rank %d of %d: %s", rank, world, ncclGetErrorString(r));
    }
    s->rank = rank;
    s->world = world;
    const EnvSwitches *env = env_switches();
    s->bf16 = strcmp(env->cuda_allreduce, "bf16") == 0;
    size_t bucket = env->nccl_bucket_mb > 0 ? (size_t)env->nccl_bucket_mb << 20 : GRAD_BUCKET_BYTES;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming));
    if (s->bf16) CUDA_CHECK(cudaMalloc(&s->buf16, c->net->param_count * 2));
    make_buckets(c, s, bucket);
    c->comm = s;
    if (c->verbose)
        fprintf(stderr, "cuda: NCCL rank %d of %d, %d buckets, %s all-reduce\n", rank, world, s->nb,
                s->bf16 ? "bf16" : "fp32");
    return 0;
}

static void start_bucket(CudaCtx *c, Bucket *b) {
    struct CommState *s = c->comm;
    CUDA_CHECK(cudaEventRecord(b->ready, c->stream));
    CUDA_CHECK(cudaStreamWaitEvent(s->stream, b->ready, 0));
    float *g = c->grads + b->off;
    if (s->bf16) {
        void *h = (char *)s->buf16 + b->off * 2;
        cuda_f32_to_bf16(g, h, b->count, s->stream);
        NCCL_CHECK(ncclAllReduce(h, h, b->count, ncclBfloat16, ncclSum, s->comm, s->stream));
        cuda_bf16_to_f32(h, g, b->count, s->stream);
    } else {
        NCCL_CHECK(ncclAllReduce(g, g, b->count, ncclFloat, ncclSum, s->comm, s->stream));
    }
    b->started = 1;
}

void comm_layer_done(CudaCtx *c, int layer) {
    if (!c->comm) return;
    for (int i = 0; i < c->comm->nb; i++) {
        Bucket *b = &c->comm->b[i];
        if (!b->started && b->last_layer == layer) start_bucket(c, b);
    }
}

void comm_join(CudaCtx *c) {
    struct CommState *s = c->comm;
    if (!s) return;
    for (int i = 0; i < s->nb; i++)
        if (!s->b[i].started) start_bucket(c, &s->b[i]);
    CUDA_CHECK(cudaEventRecord(s->done, s->stream));
    CUDA_CHECK(cudaStreamWaitEvent(c->stream, s->done, 0));
    for (int i = 0; i < s->nb; i++) s->b[i].started = 0;
}

void comm_destroy(CudaCtx *c) {
    struct CommState *s = c->comm;
    if (!s) return;
    cudaStreamSynchronize(s->stream);
    ncclCommDestroy(s->comm);
    for (int i = 0; i < s->nb; i++) cudaEventDestroy(s->b[i].ready);
    cudaEventDestroy(s->done);
    cudaStreamDestroy(s->stream);
    if (s->buf16) cudaFree(s->buf16);
    free(s);
    c->comm = NULL;
}

#else /* built without NCCL */

int comm_available(void) { return 0; }
int comm_active(const CudaCtx *c) {
    (void)c;
    return 0;
}
int comm_create_id_impl(CudaCtx *c, uint8_t *id, Error *err) {
    (void)c;
    (void)id;
    return error_set(err, "this build of the cuda backend has no NCCL");
}
int comm_init_impl(CudaCtx *c, int rank, int world, const uint8_t *id, Error *err) {
    (void)c;
    (void)rank;
    (void)world;
    (void)id;
    return error_set(err, "this build of the cuda backend has no NCCL");
}
void comm_layer_done(CudaCtx *c, int layer) {
    (void)c;
    (void)layer;
}
void comm_join(CudaCtx *c) { (void)c; }
void comm_destroy(CudaCtx *c) { (void)c; }

#endif
