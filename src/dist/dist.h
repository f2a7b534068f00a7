/*
 * dist.h — data-parallel plumbing over MPI: who am I (rank, world), broadcast
 * of the initial weights, sums of counts and losses, and the bucketed,
 * non-blocking gradient all-reduce that overlaps backward.
 *
 * A build without MPI has the same API with world = 1 (every call is a
 * no-op), and dist_init() refuses --is_distributed 1 with a clear message.
 *
 * Gradient all-reduce: parameter tensors finish in reverse order during
 * backward (classifier.6 first, features.0 last). Consecutive tensors are
 * grouped into buckets of >= bucket_bytes over the flat gradient buffer;
 * dist_grad_ready() (a GradReadyFn) starts MPI_Iallreduce(SUM) on a bucket as
 * soon as its last tensor is ready and drives progress of the earlier ones;
 * dist_grads_wait() completes them. The loss is already divided by the
 * global batch, so the sum is the mean gradient.
 *
 * Lost nodes: over TCP a peer whose machine or link died leaves a collective
 * waiting forever (no reset ever arrives). Every collective here is
 * non-blocking and polled with a deadline (d->timeout, --dist_timeout); when
 * it passes, the rank names the hosts it was waiting for and aborts the job.
 */
#ifndef ALEXNET_DIST_H
#define ALEXNET_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "model/net.h"

#define DIST_MAX_BUCKETS     NET_MAX_PARAMS
#define DIST_HOST_LEN        64
#define DIST_LINE_LEN        256
#define DIST_TIMEOUT_DEFAULT 300.0

typedef struct {
    int rank, world;
    int local_rank, local_world; /* among the ranks on this machine (one GPU each) */
    int initialized;             /* we called MPI_Init */
    char host[DIST_HOST_LEN];    /* this rank's machine (MPI's processor name) */
    char *hosts;                 /* world x DIST_HOST_LEN: every rank's machine */
    /* watchdog: a collective not finished after this many seconds means a
     * lost node or network; the rank stops the job naming its peers' hosts */
    double timeout;
    /* gradient buckets */
    float *grads;
    int n_buckets;
    int bucket_of[NET_MAX_PARAMS];   /* param -> bucket; -1: frozen, not summed */
    int remaining[DIST_MAX_BUCKETS]; /* tensors not yet ready in this step */
    int bucket_tensors[DIST_MAX_BUCKETS];
    size_t bucket_offset[DIST_MAX_BUCKETS], bucket_count[DIST_MAX_BUCKETS];
    void *requests;  /* MPI_Request[DIST_MAX_BUCKETS] */
    void *node_comm; /* MPI_Comm *: the ranks on this machine (local_rank's communicator) */
    int started[DIST_MAX_BUCKETS];
    /* timing, summed over steps: span = first bucket started .. last finished;
     * wait = time blocked in dist_grads_wait after backward (the part not overlapped) */
    double first_start, span_total, wait_total;
    int64_t comm_steps;
} Dist;

/* want: 1 = --is_distributed 1, 0 = off, -1 = auto (on when launched by
 * mpirun/srun with more than one process). */
int dist_init(Dist *d, int want, int *argc, char ***argv, Error *err);
void dist_finalize(Dist *d);
/* Stops every rank with exit status code (MPI_Abort); plain exit without MPI. */
void dist_abort(Dist *d, int code);
int dist_is_built(void);

/* The machine rank r runs on ("this machine" without MPI). */
const char *dist_host(const Dist *d, int rank);
/* Rank 0 receives every rank's line (DIST_LINE_LEN at most) and prints them in
 * rank order, each after prefix; a collective. */
void dist_print_lines(Dist *d, const char *mine, const char *prefix);
/* How many different machines the ranks run on. */
int dist_node_count(const Dist *d);
/* How the user started this job, as a prefix of the command to run it again:
 * "mpirun -np 4 " (or "srun -n 4 " under Slurm), "" for one process.
 * Malloc'd. */
char *dist_launcher(const Dist *d);

/* The CPUs this process may run on, as "0-3,8" (sched_getaffinity). */
void dist_cpu_list(char *buf, size_t n);

/* Every collective below waits at most d->timeout seconds (--dist_timeout);
 * then the rank prints which hosts it was waiting for and ends the job. */
void dist_bcast(Dist *d, void *buf, size_t bytes, int root);
/* From local rank 0 to the other ranks on its machine (a no-op alone on it). */
void dist_node_bcast(Dist *d, void *buf, size_t bytes);
void dist_sum_doubles(Dist *d, double *v, int n);
void dist_sum_i64(Dist *d, int64_t *v, int n);
int dist_any(Dist *d, int flag); /* logical OR over ranks */
void dist_barrier(Dist *d);

/* Plans buckets over net's parameters in the flat buffer grads (which the
 * backend all-reduces in place: its grad_buffer()). */
void dist_grads_attach(Dist *d, const Net *net, float *grads, size_t bucket_bytes);
void dist_grad_ready(void *dist, int param); /* GradReadyFn */
void dist_grads_wait(Dist *d);

#endif
