/*
 * env.h — the environment switches the program reads (ALEXNET_*: tuning and
 * diagnostic knobs of the backends, never needed for a correct run), read
 * once into one struct. One row per switch below; `alexnet info` prints the
 * ones that are set, and docs/ENVIRONMENT.md lists them all (ctest
 * doc_env checks that list against this table and that nothing else in
 * src/ calls getenv for an ALEXNET_ name).
 *
 * The values: unset or empty is the default; a flag is off for "0" and on
 * for anything else; a number that does not parse keeps the default (with a
 * warning).
 */
#ifndef ALEXNET_ENV_H
#define ALEXNET_ENV_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(kind, field, NAME, default, what it does): kind ENV_FLAG (int 0/1),
 * ENV_INT (int), ENV_STR (const char *, never NULL). */
#define ALEXNET_ENV_SWITCHES(X)                                                                                        \
    X(ENV_FLAG, dnnl_verbose, "ALEXNET_DNNL_VERBOSE", 0,                                                               \
      "1: print each oneDNN plan (layouts, kernels, precision per layer) on stderr")                                   \
    X(ENV_FLAG, dnnl_winograd, "ALEXNET_DNNL_WINOGRAD", 1,                                                             \
      "0: never try Winograd for 3x3 stride-1 fp32 convolutions (oneDNN 2.x on AVX-512)")                              \
    X(ENV_INT, dnnl_inference_nhwc, "ALEXNET_DNNL_INFERENCE_NHWC", -1,                                                 \
      "inference plans' bf16 convolutions on nhwc: 0 never, 1 all but a space-to-depth first one; unset: the rule "   \
      "(>= 256 input channels and >= 13x13 outputs)")                                                                  \
    X(ENV_STR, dnnl_fp32_layers, "ALEXNET_DNNL_FP32_LAYERS", "",                                                       \
      "comma-separated layer names (features.0,classifier.1) that bf16 plans keep in fp32")                            \
    X(ENV_FLAG, dnnl_blocked_train, "ALEXNET_DNNL_BLOCKED_TRAIN", 0,                                                   \
      "1: trained bf16 linear layers keep oneDNN's blocked weights (re-blocked every step) instead of plain bf16 "    \
      "copies written by the SGD update")                                                                              \
    X(ENV_FLAG, dnnl_no_s2d, "ALEXNET_DNNL_NO_S2D", 0,                                                                 \
      "1: the first convolution runs strided instead of as a space-to-depth convolution")                              \
    X(ENV_FLAG, dnnl_no_fold, "ALEXNET_DNNL_NO_FOLD", 0,                                                               \
      "1: a linear layer after an average pool that enlarges its map (AlexNet below 224 px) multiplies the pool's "  \
      "output, not its smaller input (no fold)")                                                                       \
    X(ENV_FLAG, dnnl_int8_u8, "ALEXNET_DNNL_INT8_U8", 1,                                                               \
      "0: int8 layers write fp32 and each int8 layer quantizes its input (no u8 chains)")      \
    X(ENV_FLAG, cuda_verbose, "ALEXNET_CUDA_VERBOSE", 0, "1: print the cuda backend's device, settings and memory")   \
    X(ENV_FLAG, cuda_graph, "ALEXNET_CUDA_GRAPH", 1, "0: run each step's kernels without CUDA graphs")                 \
    X(ENV_STR, cuda_input, "ALEXNET_CUDA_INPUT", "",                                                                   \
      "u8 | f32 | f32nhwc: the input format the cuda backend asks for (unset: u8 in bf16, f32 in fp32)")             \
    X(ENV_INT, cuda_cpad, "ALEXNET_CUDA_CPAD", 0,                                                                      \
      "the first convolution's input channels, zero-padded (3 to 8; 0: 4 in bf16, 3 in fp32)")                        \
    X(ENV_INT, cuda_ws_mb, "ALEXNET_CUDA_WS_MB", 1024, "cuDNN workspace limit, MiB")                                   \
    X(ENV_STR, cuda_allreduce, "ALEXNET_CUDA_ALLREDUCE", "",                                                           \
      "bf16: NCCL all-reduces the gradients in bf16 (unset: fp32)")                                                    \
    X(ENV_INT, nccl_bucket_mb, "ALEXNET_NCCL_BUCKET_MB", 0,                                                            \
      "the NCCL all-reduce's bucket size, MiB (0: the MPI all-reduce's 25)")                                           \
    X(ENV_STR, budget_clock, "ALEXNET_BUDGET_CLOCK", "",                                                               \
      "STEP,END: --time_budget counts each step as STEP seconds and each epoch end as END (tests: exact plans)")        \
    X(ENV_INT, kill_at_write, "ALEXNET_KILL_AT_WRITE", 0,                                                              \
      "N > 0: the process kills itself (SIGKILL) at the N-th phase of its atomic file writes (tests: a kill at "       \
      "every moment of a save)")

#define ENV_FIELD_ENV_FLAG(f) int f;
#define ENV_FIELD_ENV_INT(f)  int f;
#define ENV_FIELD_ENV_STR(f)  const char *f;
#define ENV_FIELD(kind, field, name, def, help) ENV_FIELD_##kind(field)
typedef struct {
    ALEXNET_ENV_SWITCHES(ENV_FIELD)
} EnvSwitches;
#undef ENV_FIELD

/* The switches, read from the environment on the first call. */
const EnvSwitches *env_switches(void);
/* Reads them again (a test that changed one with setenv). */
void env_switches_reload(void);

/* The table, for `info` and the docs: name, what it does, and the value in
 * effect as text ("" when the switch is unset). i in [0, env_switch_count()). */
int env_switch_count(void);
const char *env_switch_name(int i);
const char *env_switch_help(int i);
const char *env_switch_setting(int i);

#ifdef __cplusplus
}
#endif

#endif
