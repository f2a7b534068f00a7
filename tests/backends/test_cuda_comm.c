/*
 * test_cuda_comm.c — the cuda backend's in-backend NCCL all-reduce on one
 * rank (its own ctest entry, so a stuck NCCL start-up cannot take the other
 * cuda tests with it). The all-reduce is a sum over one rank, so a cuda
 * backend with a communicator matches one without it, compared by the shared
 * harness (lib/backend_compare.h: compare_pair, alexnet at 67 px, 4 steps
 * over 4 batches, then a partial batch and an eval forward; steps 2+ replay
 * a graph holding the NCCL calls):
 *  - fp32 all-reduce: within the fp32 bounds (the two backends may pick
 *    different cuDNN algorithms);
 *  - bf16 all-reduce (ALEXNET_CUDA_ALLREDUCE=bf16, set in-process before
 *    comm_init reads it): within the bf16 bounds through ReLU/max-pool
 *    decisions, since bf16 rounding of the gradients moves those decisions
 *    in later steps as bf16 compute does.
 * A broken reduction (double counting, a wrong range) is off by O(1).
 *
 * Registered only when the build has the cuda backend with NCCL. Skipped
 * (77) without a GPU, or when NCCL cannot start on this machine (its
 * bootstrap needs a network interface), saying which.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"
#include "backend/backend.h"
#include "backend_compare.h"
#include "harness.h"

/* A cuda backend with a one-rank communicator; 0, or -1 with err set. */
static int create_with_comm(Backend *be, const Net *net, int B, const BackendOptions *opt, Error *err) {
    if (backend_create(be, "cuda", net, B, opt, err) != 0) return -1;
    uint8_t id[COMM_ID_BYTES];
    if (backend_comm_create_id(be, id, err) == 0 && backend_comm_init(be, 0, 1, id, err) == 0) return 0;
    backend_destroy(be);
    return -1;
}

int main(void) {
    Net net;
    Error err = { { 0 } };
    CHECK(net_build(&net, "alexnet", 10, 67, -1.0f, &err) == 0, "%s", err.msg);
    char why[400];
    int can = compare_can_run("cuda", &net, PRECISION_FP32, why, sizeof why);
    if (can == 0) return test_skip("%s", why);
    if (can < 0) {
        fprintf(stderr, "FAIL %s\n", why);
        return 1;
    }
    setenv("NCCL_DEBUG", "WARN", 0);
    /* NCCL's bootstrap wants a network interface; a lone VM may only have lo */
    setenv("NCCL_SOCKET_IFNAME", "lo", 0);
    const int B = 4;
    BackendOptions opt = { 0, 0, PRECISION_FP32, 42, 0, NULL };
    Backend plain, comm;
    CHECK(backend_create(&plain, "cuda", &net, B, &opt, &err) == 0, "%s", err.msg);
    EXPECT(backend_has_comm(&plain), "the cuda backend of this build has no NCCL all-reduce (the test is registered "
                                     "only for builds with NCCL)");
    if (!backend_has_comm(&plain)) return test_summary("test_cuda_comm");
    if (create_with_comm(&comm, &net, B, &opt, &err) != 0) {
        backend_destroy(&plain);
        return test_skip("NCCL could not start on this machine: %s", err.msg);
    }
    CompareOpts o = { .n = B, .max_batch = B, .steps = 4, .batches = 4, .lr = 0.02f };
    compare_pair("cuda NCCL one rank, fp32 all-reduce", &plain, &comm, &o, "cuda", PRECISION_FP32);
    backend_destroy(&comm);

    setenv("ALEXNET_CUDA_ALLREDUCE", "bf16", 1);
    env_switches_reload(); /* the program reads its switches once */
    int ok = create_with_comm(&comm, &net, B, &opt, &err) == 0;
    unsetenv("ALEXNET_CUDA_ALLREDUCE");
    env_switches_reload();
    EXPECT(ok, "NCCL with a bf16 all-reduce: %s", err.msg);
    if (ok) {
        compare_pair("cuda NCCL one rank, bf16 all-reduce", &plain, &comm, &o, "cuda", PRECISION_BF16);
        backend_destroy(&comm);
    }
    backend_destroy(&plain);
    return test_summary("test_cuda_comm: NCCL on one rank against no communicator");
}
