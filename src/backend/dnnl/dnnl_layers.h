/*
 * dnnl_layers.h — the oneDNN backend's plan: per-layer primitives, memory
 * layouts and buffers, all built once by dnnl_plan_build() (dnnl_layers.c)
 * and executed by dnnl_backend.c.
 *
 * Layouts. Tensors are [B, C, H, W] (B = max_batch). Every activation act[i]
 * (input of layer i; act[0] the network input) has the memory desc amd[i]
 * chosen by the layer that wrote it: convolutions pick theirs (format_tag_any,
 * blocked, e.g. nChw16c on AVX-512), pooling/LRN/ReLU keep their input's, and
 * our own C ops (avgpool, dropout, even-size LRN) and linear layers use plain
 * NCHW, which is also the C,H,W flatten order of torchvision's classifier.
 * A layer whose wanted src desc differs from amd[i] gets a reorder into its
 * cvt buffer before forward and the reverse reorder of its input gradient.
 * Inference plans (BackendOptions.inference: no backward primitives, no
 * gradient or momentum buffers) run bf16 convolutions other than a
 * space-to-depth first one on nhwc instead (dnnl_layers.c, conv_act_tag).
 *
 * Precision (bf16 plans, BackendOptions.precision): convolutions and linear
 * layers compute in bf16 (bf16 src, weights and dst; fp32 accumulation,
 * bias, weight and bias gradients) unless the rule in dnnl_layers.c keeps
 * them in fp32 (the logits layer; a layer oneDNN has no bf16 kernel for;
 * ALEXNET_DNNL_FP32_LAYERS=name,...). Pooling, LRN and ReLU take their
 * input's type; our own C ops stay fp32 plain. A change of type between
 * layers is one more layout difference: the same cvt reorders convert it,
 * and gradients travel in their activation's type. The flat master copies
 * stay fp32; the weight reorders below round them to bf16.
 *
 * Fusion. A ReLU right after a convolution or linear layer runs as that
 * layer's eltwise post-op; the ReLU layer is then `absorbed` (no forward of
 * its own; act[i] and act[i+1] alias) and its backward uses the fused output
 * (relu_use_dst_for_bwd), applied in place on the incoming gradient.
 *
 * Parameters. The flat torchvision-order buffers (params, grads, momentum)
 * are the master copies. Biases, and linear weights in the backward passes,
 * are used in place; conv weights and the linear forward's weights are
 * reordered flat -> blocked before a forward when the params changed (a
 * trained bf16 hidden linear layer runs on a plain bf16 copy instead, which
 * the SGD update refreshes in its own pass: 30 ms a step of blocked bf16
 * reorders outweighed the blocked GEMM's 3 ms gain), and
 * conv weight gradients blocked -> flat right after each layer's
 * backward-weights, so grad_buffer() is always the flat gradient.
 *
 * Kernels. 3x3 stride-1 convolutions use Winograd where oneDNN has it
 * (2.x on AVX-512; 3.2 and later dropped x64 Winograd, see dnnl_compat.h),
 * a strided first convolution runs in space-to-depth form
 * (dnnl_ops.h), and a GEMM convolution with a plain output is reordered to
 * the blocked layout. ALEXNET_DNNL_WINOGRAD=0 / ALEXNET_DNNL_NO_S2D=1 turn
 * the first two off; ALEXNET_DNNL_VERBOSE=1 prints the plan.
 *
 * Folding. A linear layer right after an adaptive average pool that
 * enlarges its map (AlexNet below 224 px: conv5's pooled 2x2 map copied
 * into 6x6 at 96 px), with at most a dropout between that never drops in
 * this plan (rate 0, or an inference plan), multiplies the pool's input
 * instead: y = W P x = V x with V = W P (P: the pool, a linear map), so
 * its three products run on C*h*w inputs instead of C*6*6 (1,024 instead
 * of 9,216 at 96 px). V's rows are the pool's backward applied to W's rows
 * and dW's rows the pool's forward applied to dV's (dnnl_ops.h), so the
 * parameters, their gradient, the optimizer and the checkpoints stay W's;
 * V is refolded whenever the weight copies are refreshed. The pool and
 * the dropout are then skipped, forward and backward (`folded_away`).
 * ALEXNET_DNNL_NO_FOLD=1 turns it off.
 *
 * Backward gradients ping-pong between two buffers (dbuf[0..1]); the
 * assignment is fixed at build time so every argument list is static.
 */
#ifndef ALEXNET_DNNL_LAYERS_H
#define ALEXNET_DNNL_LAYERS_H

#include <oneapi/dnnl/dnnl.h>

#include "backend/backend.h"
#include "backend/dnnl/dnnl_ops.h"
#include "backend/dnnl/dnnl_util.h"

typedef struct DLayer {
    const Layer *l;
    int index;
    int fused_relu;       /* conv/linear: a ReLU post-op (the next layer is absorbed) */
    int absorbed;         /* ReLU run inside the previous layer */
    int own;              /* computed by dnnl_ops.c on plain NCHW (avgpool, dropout, even-size LRN) */
    dnnl_data_type_t dt;  /* conv/linear: the compute type of src/weights/dst (f32 or bf16) */
    const char *fp32_why; /* conv/linear of a bf16 plan kept in fp32: why (the precision rule) */
    int need_dx;          /* some layer below has parameters that train */
    Md src_md, dst_md;
    int cvt;        /* src_md differs from amd[index]: reorders around the layer */
    float *cvt_buf; /* [src_md] the converted input, kept for backward */
    const float *x; /* what forward reads: act[index] or cvt_buf (plain for own ops) */
    float *y;       /* what forward writes: act[index + 1] */
    DnnlExec cvt_fwd, cvt_bwd;
    int s2d;               /* first conv run in space-to-depth form (dnnl_ops.h) */
    dnnl_alg_kind_t alg;   /* conv: direct or Winograd */
    float *s2d_w, *s2d_dw; /* [O, Cs, ks, ks] plain: transformed weights, their gradient */
    Md raw_md;             /* conv computed by GEMM: its plain output, reordered (post_cvt) to dst_md; else NULL */
    float *raw_buf;
    DnnlExec post_cvt;
    DnnlExec fwd, bwd_data, bwd_weights, relu_bwd;
    /* conv weights: flat -> forward format, flat -> backward-data format, diff -> flat */
    DnnlExec w_fwd, w_bwd, dw_flat;
    float *w_fwd_buf, *w_bwd_buf, *dw_buf, *workspace;
    int dy_buf, dx_buf, dxa_buf; /* gradient ping-pong slots: incoming, produced (src_md), after cvt (amd) */
    /* The fold (see Folding above). A folded linear layer: */
    const struct DLayer *fold_pool;  /* the pool whose plain fp32 input it multiplies; NULL: not folded */
    int fold_in;                     /* its input features: the pool's input C*h*w */
    float *fold_w, *fold_dw;         /* [out, fold_in] fp32 plain: V = W P, and dV */
    FoldTable fold_tab;              /* the pool's windows (dnnl_ops.h) */
    float *fold_xq;                  /* bf16 layer: the pool's input in bf16 [B, fold_in]; else NULL */
    DnnlExec fold_cvt, fold_cvt_bwd; /* pool input -> fold_xq; dx [B, fold_in] -> the pool's dx, fp32 */
    int folded_away;                 /* the pool (only its input reorder runs) or dropout (nothing runs) of a fold */
    char impl_fwd[40], impl_bwd_data[40], impl_bwd_weights[40];
} DLayer;

/* How stale the weight copies are: a new plan or set_params makes them all
 * stale; an SGD update only those of layers that train (frozen layers keep
 * theirs: fine-tuning a classifier re-converts nothing of the backbone). */
enum { DIRTY_NONE = 0, DIRTY_TRAINED = 1, DIRTY_ALL = 2 };

typedef struct {
    const Net *net;
    int B, threads;
    Precision precision; /* asked for; each layer's own type is DLayer.dt */
    int inference;       /* forward only (BackendOptions.inference): no backward, grads or momentum */
    int native_block;    /* channel block of the direct convolutions (8 or 16) */
    uint64_t seed;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    InputFormat input_format;
    int input_reorder;    /* amd[0] is not the user's plain format */
    float *input_stage;   /* [B,3,S,S] plain when input_reorder ([B,Cs,Hs,Ws] for space-to-depth) */
    S2dLayout s2d_layout; /* space-to-depth: how load_input writes act[0] (or input_stage) */
    DnnlExec input_cvt;

    float *params, *grads, *momentum; /* flat, Net.params order */
    int params_dirty;                 /* weight copies to convert before a forward: DIRTY_* */
    /* per param tensor: its plain bf16 copy (a trained bf16 linear layer's
     * w_fwd_buf), which the SGD update refreshes in its own pass; else NULL */
    uint16_t *bf16_copy[NET_MAX_PARAMS];
    int copies_fresh; /* the last change of the params was an SGD update that refreshed bf16_copy */

    float *act[NET_MAX_LAYERS + 1]; /* act[i]: input of layer i, in amd[i] */
    Md amd[NET_MAX_LAYERS + 1];
    int act_owned[NET_MAX_LAYERS + 1]; /* 0 for aliases */
    float *dbuf[2];                    /* backward ping-pong, max activation bytes each */
    float *scratch;                    /* the shared user scratchpad */
    size_t scratch_bytes;
    DLayer layers[NET_MAX_LAYERS];

    MdPool mds;          /* every memory desc, released in destroy */
    dnnl_memory_t *mems; /* every memory object, released in destroy */
    int n_mems, cap_mems;
    dnnl_memory_t *scratch_mems; /* the subset bound to the scratchpad */
    int n_scratch;
    dnnl_primitive_attr_t attr, attr_relu; /* user scratchpad; plus a ReLU post-op */
} DnnlPlan;

/* Layer l's parameters train in this plan (never in an inference plan). */
static inline int plan_trains(const DnnlPlan *p, const Layer *l) { return !p->inference && layer_trains(p->net, l); }

/* Builds everything for net at batch B (forward only when inference).
 * Returns 0, or -1 with err set. */
int dnnl_plan_build(DnnlPlan *p, const Net *net, int B, int threads, Precision precision, int inference, uint64_t seed,
                    Error *err);
void dnnl_plan_free(DnnlPlan *p);
/* Layer i's precision for tables: "bf16", "fp32", "fp32 wino", "fp32 (why)". */
void dnnl_layer_precision(const DnnlPlan *p, int i, char *buf, size_t len);
/* dnnl_probe.c, each asked once per process. Whether oneDNN has real (not
 * reference) bf16 convolution kernels for this CPU, as limited by
 * ONEDNN_MAX_CPU_ISA; fp32 time / bf16 time of one AlexNet-sized
 * convolution here (0 without bf16 dot products). */
int dnnl_has_bf16_kernels(void);
double dnnl_bf16_speedup(void);
/* One line per layer: layouts and implementations (ALEXNET_DNNL_VERBOSE=1). */
void dnnl_plan_print(const DnnlPlan *p, FILE *f);

#endif
