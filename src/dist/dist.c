/*
 * dist.c — MPI implementation of dist.h, or its single-process stand-in when
 * the build has no MPI.
 */
#include "dist/dist.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ALEXNET_HAVE_MPI
#include <mpi.h>
#include <pthread.h>

#define MPI_CHECK(call)                          \
    do {                                         \
        int rc_ = (call);                        \
        if (rc_ != MPI_SUCCESS) {                \
            char msg_[MPI_MAX_ERROR_STRING];     \
            int len_ = 0;                        \
            MPI_Error_string(rc_, msg_, &len_);  \
            FATAL("%s failed: %s", #call, msg_); \
        }                                        \
    } while (0)

static pthread_t g_main_thread;

/* The fatal hook. MPI was initialised MPI_THREAD_FUNNELED: only the main
 * thread may call MPI, and a fatal error can happen on a loader thread. There
 * the process just exits: mpirun/srun end the whole job when a rank exits
 * non-zero without MPI_Finalize (the message is already on stderr). */
static void abort_all(int code) {
    if (!pthread_equal(pthread_self(), g_main_thread)) {
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, code);
}

/* Launched by mpirun/srun/hydra with more than one process? */
static int launched_in_parallel(void) {
    const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS", "MPI_LOCALNRANKS" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) return 1;
    }
    return getenv("OMPI_COMM_WORLD_RANK") != NULL || getenv("PMIX_RANK") != NULL;
}

int dist_is_built(void) { return 1; }

int dist_init(Dist *d, int want, int *argc, char ***argv, Error *err) {
    (void)err;
    memset(d, 0, sizeof *d);
    d->world = d->local_world = 1;
    d->timeout = DIST_TIMEOUT_DEFAULT;
    snprintf(d->host, sizeof d->host, "this machine");
    if (want == 0 || (want < 0 && !launched_in_parallel())) return 0;
    int provided;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    d->initialized = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &d->world));
    MPI_Comm *node = xmalloc(sizeof *node);
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, node));
    MPI_CHECK(MPI_Comm_rank(*node, &d->local_rank));
    MPI_CHECK(MPI_Comm_size(*node, &d->local_world));
    d->node_comm = node;
    int len = 0;
    char name[MPI_MAX_PROCESSOR_NAME];
    MPI_CHECK(MPI_Get_processor_name(name, &len));
    snprintf(d->host, sizeof d->host, "%.*s", DIST_HOST_LEN - 1, name);
    d->hosts = xcalloc((size_t)d->world, DIST_HOST_LEN);
    MPI_CHECK(MPI_Allgather(d->host, DIST_HOST_LEN, MPI_CHAR, d->hosts, DIST_HOST_LEN, MPI_CHAR, MPI_COMM_WORLD));
    d->requests = xcalloc(DIST_MAX_BUCKETS, sizeof(MPI_Request));
    g_main_thread = pthread_self();
    set_fatal_hook(abort_all);
    if (d->world > 1) set_log_rank(d->rank);
    return 0;
}

void dist_finalize(Dist *d) {
    if (d->node_comm) MPI_Comm_free((MPI_Comm *)d->node_comm);
    free(d->node_comm);
    if (d->initialized) MPI_Finalize();
    free(d->requests);
    free(d->hosts);
    memset(d, 0, sizeof *d);
}

void dist_abort(Dist *d, int code) {
    fflush(stdout);
    fflush(stderr);
    if (d->initialized) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

const char *dist_host(const Dist *d, int rank) {
    return d->hosts && rank >= 0 && rank < d->world ? d->hosts + (size_t)rank * DIST_HOST_LEN : d->host;
}

/* A collective that outlived --dist_timeout: the peers it waits for are all
 * the other ranks (a collective can't tell which one is silent), so name
 * their hosts, then end the job. MPI_Abort may itself need the lost node, so
 * the process exits on its own: the launcher ends the others when a rank
 * exits without MPI_Finalize. */
static void lost_peer(Dist *d, const char *what, double waited) {
    char peers[1024] = "";
    size_t used = 0;
    int listed = 0;
    for (int r = 0; r < d->world && used + 80 < sizeof peers; r++) {
        if (r == d->rank) continue;
        if (listed == 8) {
            used += (size_t)snprintf(peers + used, sizeof peers - used, ", ... (%d ranks in all)", d->world);
            break;
        }
        used += (size_t)snprintf(peers + used, sizeof peers - used, "%srank %d on %s", listed ? ", " : "", r,
                                 dist_host(d, r));
        listed++;
    }
    errorf("(on %s) %s has not finished after %.0f s (--dist_timeout %g): a node or the network to it is lost. "
           "Waiting for: %s. Stopping the job; continue from the last saved state with --resume RUN_DIR on the "
           "nodes that work.",
           d->host, what, waited, d->timeout, peers);
    _exit(1);
}

/* MPI_Waitall with a deadline. Spins for the first few milliseconds (a
 * collective's latency), then yields the core between polls. */
static void wait_watched(Dist *d, int n, MPI_Request *reqs, const char *what) {
    double t0 = now_seconds();
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE));
        if (done) return;
        double waited = now_seconds() - t0;
        if (d->timeout > 0 && waited > d->timeout) lost_peer(d, what, waited);
        if (waited > 0.01) sched_yield();
    }
}

void dist_print_lines(Dist *d, const char *mine, const char *prefix) {
    char line[DIST_LINE_LEN];
    snprintf(line, sizeof line, "%s", mine);
    char *all = d->rank == 0 ? xcalloc((size_t)d->world, DIST_LINE_LEN) : NULL;
    if (d->world > 1) {
        MPI_Request req;
        MPI_CHECK(MPI_Igather(line, DIST_LINE_LEN, MPI_CHAR, all, DIST_LINE_LEN, MPI_CHAR, 0, MPI_COMM_WORLD, &req));
        wait_watched(d, 1, &req, "gathering every rank's placement");
    } else if (all) {
        memcpy(all, line, DIST_LINE_LEN);
    }
    if (all) {
        for (int r = 0; r < d->world; r++) printf("%s%d  %s\n", prefix, r, all + (size_t)r * DIST_LINE_LEN);
        fflush(stdout);
    }
    free(all);
}

void dist_bcast(Dist *d, void *buf, size_t bytes, int root) {
    if (d->world == 1) return;
    char *p = buf;
    while (bytes > 0) { /* MPI counts are int */
        int chunk = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        MPI_Request req;
        MPI_CHECK(MPI_Ibcast(p, chunk, MPI_BYTE, root, MPI_COMM_WORLD, &req));
        wait_watched(d, 1, &req, "a broadcast from rank 0");
        p += chunk;
        bytes -= (size_t)chunk;
    }
}

void dist_node_bcast(Dist *d, void *buf, size_t bytes) {
    if (d->local_world == 1) return;
    char *p = buf;
    while (bytes > 0) {
        int chunk = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        MPI_Request req;
        MPI_CHECK(MPI_Ibcast(p, chunk, MPI_BYTE, 0, *(MPI_Comm *)d->node_comm, &req));
        wait_watched(d, 1, &req, "a broadcast from the first rank on this machine");
        p += chunk;
        bytes -= (size_t)chunk;
    }
}

static void allreduce(Dist *d, void *v, int n, MPI_Datatype type, MPI_Op op, const char *what) {
    MPI_Request req;
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, v, n, type, op, MPI_COMM_WORLD, &req));
    wait_watched(d, 1, &req, what);
}

void dist_sum_doubles(Dist *d, double *v, int n) {
    if (d->world > 1) allreduce(d, v, n, MPI_DOUBLE, MPI_SUM, "a sum over the ranks");
}

void dist_sum_i64(Dist *d, int64_t *v, int n) {
    if (d->world > 1) allreduce(d, v, n, MPI_INT64_T, MPI_SUM, "a sum over the ranks");
}

int dist_any(Dist *d, int flag) {
    if (d->world > 1) allreduce(d, &flag, 1, MPI_INT, MPI_LOR, "agreeing with the other ranks");
    return flag;
}

void dist_barrier(Dist *d) {
    if (d->world == 1) return;
    MPI_Request req;
    MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &req));
    wait_watched(d, 1, &req, "a barrier");
}

static void start_bucket(Dist *d, int b) {
    MPI_Request *req = d->requests;
    if (d->first_start == 0.0) d->first_start = now_seconds();
    CHECK(d->bucket_count[b] <= (size_t)2147483647, "gradient bucket too large for one MPI call");
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, d->grads + d->bucket_offset[b], (int)d->bucket_count[b], MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD, &req[b]));
    d->started[b] = 1;
}

void dist_grad_ready(void *dist, int param) {
    Dist *d = dist;
    if (d->world == 1 || d->n_buckets == 0) return;
    int b = d->bucket_of[param];
    if (b < 0) return;
    if (--d->remaining[b] == 0) start_bucket(d, b);
    /* drive progress of what is in flight: MPI progresses inside MPI calls */
    int done;
    MPI_CHECK(MPI_Testall(d->n_buckets, d->requests, &done, MPI_STATUSES_IGNORE));
}

void dist_grads_wait(Dist *d) {
    if (d->world == 1 || d->n_buckets == 0) return;
    double t0 = now_seconds();
    for (int b = 0; b < d->n_buckets; b++)
        if (!d->started[b]) start_bucket(d, b); /* a backend that never called the hook */
    wait_watched(d, d->n_buckets, d->requests, "the gradient all-reduce");
    double t1 = now_seconds();
    d->wait_total += t1 - t0;
    d->span_total += t1 - d->first_start;
    d->comm_steps++;
    for (int b = 0; b < d->n_buckets; b++) {
        d->remaining[b] = d->bucket_tensors[b];
        d->started[b] = 0;
        ((MPI_Request *)d->requests)[b] = MPI_REQUEST_NULL;
    }
    d->first_start = 0.0;
}

void dist_grads_attach(Dist *d, const Net *net, float *grads, size_t bucket_bytes) {
    d->grads = grads;
    d->n_buckets = 0;
    if (d->world == 1) return;
    size_t acc = 0;
    for (int t = net->n_params - 1; t >= 0; t--) {
        if (net->params[t].frozen) { /* no gradient to sum; a bucket stays one contiguous range */
            d->bucket_of[t] = -1;
            acc = 0;
            continue;
        }
        if (acc == 0) {
            int b = d->n_buckets++;
            d->bucket_tensors[b] = 0;
            d->bucket_count[b] = 0;
        }
        int b = d->n_buckets - 1;
        d->bucket_of[t] = b;
        d->bucket_tensors[b]++;
        d->bucket_offset[b] = net->params[t].offset; /* descending: the lowest offset wins */
        d->bucket_count[b] += net->params[t].numel;
        acc += net->params[t].numel * sizeof(float);
        if (acc >= bucket_bytes) acc = 0;
    }
    for (int b = 0; b < d->n_buckets; b++) {
        d->remaining[b] = d->bucket_tensors[b];
        ((MPI_Request *)d->requests)[b] = MPI_REQUEST_NULL;
    }
}

#endif

int dist_node_count(const Dist *d) {
    int n = 0;
    for (int r = 0; r < d->world; r++) {
        int seen = 0;
        for (int q = 0; q < r && !seen; q++) seen = strcmp(dist_host(d, q), dist_host(d, r)) == 0;
        n += !seen;
    }
    return n;
}

char *dist_launcher(const Dist *d) {
    if (d->world <= 1) return xstrdup("");
    if (getenv("SLURM_JOB_ID") && getenv("SLURM_STEP_ID")) return xasprintf("srun -n %d ", d->world);
    return xasprintf("mpirun -np %d ", d->world);
}

void dist_cpu_list(char *buf, size_t n) {
    cpu_set_t set;
    size_t used = 0;
    buf[0] = '\0';
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        snprintf(buf, n, "?");
        return;
    }
    for (int c = 0; c < CPU_SETSIZE && used + 16 < n; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set)) e++;
        used += (size_t)(e > c ? snprintf(buf + used, n - used, "%s%d-%d", used ? "," : "", c, e)
                               : snprintf(buf + used, n - used, "%s%d", used ? "," : "", c));
        c = e;
    }
}

#ifndef ALEXNET_HAVE_MPI /* no MPI: one process */

int dist_is_built(void) { return 0; }

int dist_init(Dist *d, int want, int *argc, char ***argv, Error *err) {
    (void)argc;
    (void)argv;
    memset(d, 0, sizeof *d);
    d->world = d->local_world = 1;
    d->timeout = DIST_TIMEOUT_DEFAULT;
    snprintf(d->host, sizeof d->host, "this machine");
    if (want == 1)
        return error_set(
            err,
            "--is_distributed 1 needs MPI, and this build has none: install libopenmpi-dev openmpi-bin and rebuild");
    return 0;
}
void dist_finalize(Dist *d) { memset(d, 0, sizeof *d); }
const char *dist_host(const Dist *d, int rank) {
    (void)rank;
    return d->host;
}
void dist_print_lines(Dist *d, const char *mine, const char *prefix) {
    (void)d;
    printf("%s0  %s\n", prefix, mine);
}
void dist_abort(Dist *d, int code) {
    (void)d;
    fflush(stdout);
    exit(code);
}
void dist_bcast(Dist *d, void *buf, size_t bytes, int root) {
    (void)d;
    (void)buf;
    (void)bytes;
    (void)root;
}
void dist_node_bcast(Dist *d, void *buf, size_t bytes) {
    (void)d;
    (void)buf;
    (void)bytes;
}
void dist_sum_doubles(Dist *d, double *v, int n) {
    (void)d;
    (void)v;
    (void)n;
}
void dist_sum_i64(Dist *d, int64_t *v, int n) {
    (void)d;
    (void)v;
    (void)n;
}
int dist_any(Dist *d, int flag) {
    (void)d;
    return flag;
}
void dist_barrier(Dist *d) { (void)d; }
void dist_grads_attach(Dist *d, const Net *net, float *grads, size_t bucket_bytes) {
    (void)net;
    (void)bucket_bytes;
    d->grads = grads;
}
void dist_grad_ready(void *dist, int param) {
    (void)dist;
    (void)param;
}
void dist_grads_wait(Dist *d) { (void)d; }

#endif
