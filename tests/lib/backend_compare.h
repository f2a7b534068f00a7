/*
 * backend_compare.h — one backend against the reference backend, the way
 * ggml's test-backend-ops checks every op on every backend against the CPU:
 * the same Net, weights and batches run on "ref" (fp32, the oracle) and on
 * the backend under test side by side, and everything the facade exposes is
 * compared. Used by backends/test_backend_ops.c (the op table),
 * backends/test_backend_net.c (the presets), backends/test_cuda_comm.c and
 * anything else that holds two backends up against each other.
 *
 * What one comparison runs (compare_pair), with dropout on:
 *  - `steps` training steps (3 by default: the cuda backend runs step 0
 *    eagerly, captures a CUDA graph at step 1 and replays it at step 2):
 *    each step's logits, loss and every parameter gradient; ready() must
 *    fire once per trained tensor, in reverse order, never for a frozen one,
 *    and (where the gradient buffer is host memory) the gradient it reports
 *    final must not change afterwards; frozen tensors' gradients stay zero;
 *  - one training step on a partial batch (n - 1 samples) with PyTorch's
 *    label-smoothing form and a global-batch divisor: loss and gradients;
 *  - momentum and parameters after the optimizer steps;
 *  - an eval forward (dropout off) of a partial batch: logits.
 * Inputs are uint8 images converted to whatever input_format() each backend
 * asks for (fp32 NCHW or NHWC normalised on the host, or raw uint8 NHWC
 * normalised on the device), so every input path is fed the same pixels.
 * Parameters start PyTorch-default-like (U(+-1/sqrt(fan_in)), biases too, so
 * the bias paths count from the first step).
 *
 * --- The tolerances: one table (backend_compare.c, TOLERANCES) -----------
 *
 * Errors are the normalised max error max|got - want| / max|want| ("max")
 * or the relative L2 error ||got - want|| / ||want|| ("L2") of one tensor.
 * The column is the tested side's precision, and for bf16 whether the net
 * routes gradients by ReLU or max-pool decisions ("flips"):
 *
 *   quantity                       fp32       bf16     bf16 flips
 *   OUT    logits of step 0, the   max 1e-4   L2 2e-2  L2 2e-2
 *          loss of every step
 *   LATER  logits of later steps   max 1e-4   L2 2e-2  L2 0.2
 *          and of the eval forward
 *   GRAD   gradients, momentum     max 1e-4*  L2 2e-2  L2 0.5
 *   WEIGHT weights after the steps max 1e-5*  L2 5e-3  L2 0.2
 *   BIAS   biases after the steps  max 1e-5*  L2 5e-3  L2 0.2
 *   TRACK  the loss of every step  max 1e-3   max 5e-2 max 5e-2
 *          of a long run (CompareOpts.loss_only)
 *   * nets with large maps (CompareOpts.wide): L2 1e-2
 *   cuda, until a GPU run measures its own: bf16 L2 2e-2 and 5e-3 become
 *   L2 3e-2 with max 0.15; bf16 flips: LATER L2 0.1, WEIGHT L2 3e-2 with
 *   max 0.15, BIAS L2 0.5; fp32 WEIGHT and BIAS max 1e-4.
 *
 * Why these numbers:
 *  - fp32, max 1e-4: both sides compute in fp32 but sum in different orders
 *    (im2col GEMM vs oneDNN's blocked kernels or cuDNN's algorithms,
 *    different K-splits over threads), giving ~1e-6 relative (measured on
 *    the oneDNN backend for these very nets); 1e-4 is stable, and a wrong
 *    index, a missing term, a wrong window or a wrong dropout mask fails by
 *    orders of magnitude (errors of order 1). The loss is a double reduction
 *    of the logits: the same bound.
 *  - fp32 WEIGHT and BIAS, max 1e-5: parameters move by lr*v, so their relative error
 *    is the momentum's times lr*|v|/|w|.
 *  - wide nets, L2 1e-2: among the 2 x 64 x 55 x 55 conv1 outputs of AlexNet at
 *    224 px about one lies within fp32 rounding of zero, so two correct fp32
 *    implementations can take a different ReLU decision there and route one
 *    position's gradient into a whole filter. Seen between the oneDNN and
 *    reference backends on this very case: one of 64 conv1 filters off,
 *    1.5e-2 of the tensor's max, 3.6e-3 relative L2; an indexing error is O(1).
 *  - bf16 keeps 8 significant bits (unit roundoff 2^-9 = 2e-3), and each
 *    layer rounds its input and weights (the cuda backend its outputs too;
 *    gradients pass twice as many roundings), so the bf16 backend is compared
 *    with the fp32 reference by relative L2 error. OUT 2e-2: measured on the
 *    oneDNN backend <= 5e-3 logits, <= 1e-2 gradients (a PyTorch bf16-vs-fp32
 *    run of such nets gives 2e-3..1e-2); a wrong layout, type or index is O(1).
 *  - WEIGHT and BIAS 5e-3: parameters move by lr*v from identical fp32
 *    masters (measured <= 2e-3).
 *  - GRAD 0.5 through decisions: a pre-activation within bf16 rounding of zero (or of its
 *    window's maximum) takes the other branch and routes or drops a whole
 *    gradient element; on these small nets one flip among ~100 live elements
 *    is already ~10%, and the error compounds downwards, layer after layer
 *    (measured up to 0.46 at n=1). PyTorch's own bf16 AlexNet gradients
 *    differ from its fp32 ones by 6e-2 (classifier) to 2.6e-1 (conv1) at
 *    init. An uncorrelated (wrong) gradient has relative L2 error >= 1. The
 *    fp32 runs check the same kernels exactly; these catch bf16-specific
 *    mistakes (types, layouts of the library calls).
 *  - LATER, WEIGHT and BIAS 0.2 through decisions: outputs after training
 *    on such gradients (measured up to 0.11: a classifier bias, tiny and
 *    moved by lr*v; a first conv's weights 5e-2 after 4 steps).
 *  - TRACK: over 20 training steps the loss stays within 1e-3 (fp32) or 5%
 *    (bf16) of the reference's at every step: same data, same dropout
 *    masks, same updates (PyTorch bf16 autocast vs fp32 on this setup:
 *    <= 6.5e-3).
 *  - cuda: the former test_cuda_ops.c/test_cuda_net.c set their bounds by
 *    the same reasoning without a measurement on the cuda backend (bf16 3e-2
 *    with max 0.15, eval logits 0.1, zero-initialised biases at the
 *    gradients' 0.5, fp32 parameters 1e-4); they are kept for cuda, none
 *    looser than before, until a GPU run measures them: every comparison
 *    prints its tightest check.
 */
#ifndef ALEXNET_TEST_BACKEND_COMPARE_H
#define ALEXNET_TEST_BACKEND_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* --- tolerances ----------------------------------------------------------- */

/* What is compared (the rows of the table above). */
typedef enum { Q_OUT, Q_LATER, Q_GRAD, Q_WEIGHT, Q_BIAS, Q_TRACK, Q_KINDS } Quantity;
/* The columns: the tested precision, and what the net is. */
typedef enum { COL_FP32, COL_FP32_WIDE, COL_BF16, COL_BF16_FLIPS, COLS } TolColumn;

typedef struct {
    double max_err; /* bound on max|got - want| / max|want|; 0: not checked */
    double rel_l2;  /* bound on ||got - want|| / ||want||; 0: not checked */
} Bound;

/* The column of a comparison at precision p of net (wide: CompareOpts.wide). */
TolColumn compare_column(Precision p, const Net *net, int wide);
/* The bound of quantity q in column c for backend (the table above). */
Bound compare_bound(const char *backend, TolColumn c, Quantity q);

/* One check: got against want within every bound b sets (NaN fails). Prints
 * FAIL with both errors, or "ok" with TEST_VERBOSE; the summary line of a
 * comparison names its tightest check. Returns 1 when it held. */
int compare_expect(const char *what, const float *got, const float *want, size_t n, Bound b);

/* --- what this machine can run -------------------------------------------- */

/* Whether `backend` can run net at precision p here: 1 yes; 0 this machine
 * lacks what it needs (no GPU, no native bf16), why says what — a skip;
 * -1 the backend refuses for another reason (why: backend_supports' answer) —
 * a failure, since it is built and should run it. */
int compare_can_run(const char *backend, const Net *net, Precision p, char *why, size_t len);

/* What a test program ran over, for its exit status. */
typedef struct {
    int ran;            /* (backend, precision) pairs run */
    char skipped[1024]; /* what this machine lacked, "; "-separated */
} CompareRuns;

/* Calls fn(backend, precs, n_precs, user) for every backend built but ref
 * (or only_backend, when not NULL) with the precisions, of fp32 and bf16 (or
 * only_precision, "fp32"/"bf16"), that this machine can run probe at; prints
 * and records a skip for what it lacks (compare_can_run 0) and fails for
 * what a built backend refuses (-1). Returns -1, having printed why, when
 * only_backend is not built or only_precision is not a precision; else 0. */
int compare_each_backend(CompareRuns *r, const char *only_backend, const char *only_precision, const Net *probe,
                         void (*fn)(const char *backend, const Precision *precs, int n_precs, void *user), void *user);
/* main's exit status: TEST_SKIPPED (saying what this machine lacks) when
 * nothing ran for that reason alone, else test_summary(name). */
int compare_finish(const CompareRuns *r, const char *name);

/* --- inputs ----------------------------------------------------------------- */

/* Batch `id` of a synthetic stream: n images of random bytes [n, S, S, 3] and
 * labels in [0, K). */
void compare_batch(uint8_t *u8, int32_t *labels, int n, int S, int K, uint64_t seed, int id);
/* u8 images [n, S, S, 3] in input format fmt into out (n*S*S*3 floats or
 * bytes): fp32 normalised by the ImageNet mean and std as the loader does. */
void compare_to_format(InputFormat fmt, const uint8_t *u8, void *out, int n, int S);
/* PyTorch-default-like parameters: each tensor U(-b, b), b = 1/sqrt(fan_in)
 * of its layer's weight (biases non-zero). */
void compare_init_params(const Net *net, float *params, uint64_t seed);
/* The net routes gradients by ReLU or max-pool decisions (rounding can flip them). */
int compare_net_has_decisions(const Net *net);

/* --- comparisons ------------------------------------------------------------ */

typedef struct {
    int n;            /* samples per training step (<= max_batch) */
    int max_batch;    /* the backends' batch; 0: n */
    int steps;        /* training steps; 0: 3 */
    int batches;      /* distinct batches, reused in turn; 0: a new one each step */
    float lr;         /* 0: 0.05 */
    float grad_scale; /* 0 or 1: none; else grad_buffer() *= grad_scale between
                       * backward and sgd_update (an all-reduce's average); needs
                       * the gradient buffer in host memory */
    int threads;      /* CPU threads of each backend; 0: all cores */
    int wide;         /* large maps: fp32 gradients, momentum and parameters by
                       * relative L2 (the table's *) */
    int loss_only;    /* compare the loss of every step only (TRACK), and check
                       * that the oracle's falls */
    uint64_t seed;    /* weights and batches; 0: 3 */
} CompareOpts;

/* The most backends one comparison drives beside the reference. */
#define COMPARE_MAX_SIDES 4

/* One tested side of a comparison. */
typedef struct {
    const char *title;       /* names its checks and its result line */
    Backend *be;             /* created for the same net and max_batch as the reference */
    const char *tol_backend; /* the tolerance table's column: be->name, */
    Precision tol_precision; /* and be->precision, unless the test says otherwise */
} CompareSide;

/* Runs the protocol above on the created backends want (the oracle) and
 * got[0..n_got), side by side (want runs once for all of them), and
 * compares each with want by its own tolerances. Prints one line per side:
 * title, result, time, tightest check. Returns the number of failed checks. */
int compare_group(Backend *want, const CompareSide *got, int n_got, const CompareOpts *o);
/* compare_group with one side. */
int compare_pair(const char *title, Backend *want, Backend *got, const CompareOpts *o, const char *tol_backend,
                 Precision tol_precision);

/* ref (fp32) against `backend` at each precision of precs[0..n_precs) on net,
 * in one compare_group (titles "<backend> <precision> <title>"). Creates the
 * backends; the caller asks compare_can_run first, and one that then fails
 * to create is a failed check. Returns the number of failed checks. */
int compare_backend(const char *backend, const Precision *precs, int n_precs, const char *title, const Net *net,
                    const CompareOpts *o);

/* Dropout masks bit for bit against the reference: batch 1, dropout ->
 * linear, 8 steps of different keys; dW[k, f] = dy[k] x[f] is zero exactly
 * where the mask dropped feature f (no input is zero). Returns failed checks. */
int compare_dropout_masks(const char *backend, Precision p);

#endif
