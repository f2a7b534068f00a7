/*
 * net.h — what a network *is*: an ordered list of layers with their shapes and
 * the table of parameter tensors, independent of any backend.
 *
 * Presets (--backbone):
 *   alexnet              torchvision geometry, seed dropout 0.35, seed init (default)
 *   alexnet_torchvision  torchvision geometry, dropout 0.5, PyTorch default init
 *   alexnet_2012         Krizhevsky 2012: 96-256-384-384-256, conv2/4/5 in
 *                        2 groups, LRN after conv1/conv2, dropout 0.5
 * Layers are named like torchvision's nn.Sequential children ("features.3",
 * "classifier.6"), so parameter names are torchvision's state_dict keys.
 *
 * Activation shapes are per sample, (C, H, W); a linear layer's input is the
 * previous activation flattened in C, H, W order (torchvision's flatten).
 */
#ifndef ALEXNET_NET_H
#define ALEXNET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define NET_MAX_LAYERS 32
#define NET_MAX_PARAMS 16
#define NET_MIN_IMAGE  63   /* smallest input whose conv5 output is non-empty */
#define NET_MAX_IMAGE  4096 /* largest input a net is built for */

typedef enum {
    LAYER_CONV,
    LAYER_RELU,
    LAYER_MAXPOOL,
    LAYER_LRN,
    LAYER_AVGPOOL, /* adaptive average pool to (out_h, out_w) */
    LAYER_DROPOUT,
    LAYER_LINEAR,
} LayerKind;

typedef enum {
    INIT_SEED,  /* conv: Kaiming-normal fan_out ReLU gain; FC: N(0, 0.01); biases 0 */
    INIT_TORCH, /* PyTorch defaults: kaiming_uniform(a=sqrt 5), bias U(+-1/sqrt fan_in) */
} InitKind;

typedef struct {
    LayerKind kind;
    char name[24];           /* "features.0" */
    int in_c, in_h, in_w;    /* per-sample input shape  */
    int out_c, out_h, out_w; /* per-sample output shape */
    int kernel, stride, pad; /* conv, maxpool */
    int groups;              /* conv */
    int lrn_size;            /* LRN: PyTorch LocalResponseNorm semantics */
    float lrn_alpha, lrn_beta, lrn_k;
    float drop_p; /* dropout probability of zeroing */
    int weight;   /* index into Net.params of the weight, -1 if none; bias is weight+1 */
} Layer;

/* One parameter tensor: a named view into the flat parameter buffer. */
typedef struct {
    char name[40]; /* torchvision state_dict key */
    int ndim;
    int shape[4];         /* conv OIHW (I = in/groups), linear [out, in], bias [out] */
    size_t offset, numel; /* in floats, into the flat buffer */
    int decay;            /* 1: weight decay applies (weights), 0: biases */
    int layer;            /* owning layer index */
    int frozen;           /* 1: not trained (--freeze): no gradient, momentum or weight decay */
    float lr_scale;       /* the optimizer's lr for this tensor is lr * lr_scale (1 by default) */
} ParamTensor;

typedef struct {
    char backbone[32];
    int num_classes, image_size;
    float dropout;
    InitKind init;
    int n_layers;
    Layer layers[NET_MAX_LAYERS];
    int n_params;
    ParamTensor params[NET_MAX_PARAMS];
    size_t param_count; /* total floats in the flat parameter buffer */
    /* builder state (net_begin/net_add_*) */
    char b_prefix[16];
    int b_seq, b_c, b_h, b_w;
} Net;

/* Builds a preset. Returns 0, or -1 with a user-facing message (unknown
 * backbone, num_classes < 1, image_size < NET_MIN_IMAGE). dropout < 0 keeps
 * the preset's rate. */
int net_build(Net *net, const char *backbone, int num_classes, int image_size, float dropout, Error *err);

/* Builder for custom nets (tests, op-by-op backend checks). Input is
 * [3, image_size, image_size]; layers are named "<section>.<index>" with the
 * section "features" until net_section() changes it; the last layer must be
 * a linear layer with num_classes outputs (its output is the logits). */
void net_begin(Net *net, const char *name, int num_classes, int image_size);
void net_section(Net *net, const char *prefix);
void net_add_conv(Net *net, int out_c, int kernel, int stride, int pad, int groups);
void net_add_relu(Net *net);
void net_add_maxpool(Net *net, int kernel, int stride);
void net_add_lrn(Net *net, int size, float alpha, float beta, float k);
void net_add_avgpool(Net *net, int out_h, int out_w);
void net_add_dropout(Net *net, float p);
void net_add_linear(Net *net, int out_features);

/* Comma-separated list of backbone names, for help texts. */
const char *net_backbone_names(void);
/* 1 when name is a preset (--backbone). */
int net_backbone_known(const char *name);

/* Floats per sample of a layer's input [C,H,W] and output. */
static inline size_t layer_in_elems(const Layer *l) { return (size_t)l->in_c * l->in_h * l->in_w; }
static inline size_t layer_out_elems(const Layer *l) { return (size_t)l->out_c * l->out_h * l->out_w; }

/* Largest activation (floats per sample) over all layer outputs and the input. */
size_t net_max_activation(const Net *net);

/* Multiply-accumulates of one forward pass for one sample. */
double net_forward_macs(const Net *net);
double layer_forward_macs(const Layer *l);

/* The first parameter tensor of params[param_count] holding a value that is
 * not finite: 1 with *tensor (index into net->params) and *element (within
 * it) set, or 0 when every value is finite. */
int net_find_nonfinite(const Net *net, const float *params, int *tensor, int64_t *element);

/* Fine-tuning: which tensors train, and at which lr.
 *   freeze "none"      everything trains (the default)
 *          "features"  the convolutions (every "features.*" tensor) are frozen
 *          "backbone"  everything but the last layer (the classifier head) is frozen
 *   backbone_lr_scale  multiplies the lr of every trained tensor but the head's
 * 0, or -1 with a user-facing message naming --freeze / --lr_backbone_scale. */
int net_set_training(Net *net, const char *freeze, double backbone_lr_scale, Error *err);
/* The layer has parameters and they train. */
static inline int layer_trains(const Net *net, const Layer *l) {
    return l->weight >= 0 && !net->params[l->weight].frozen;
}
/* Floats of the tensors that train. */
size_t net_trained_count(const Net *net);
/* Multiply-accumulates of one backward pass for one sample, given what trains:
 * a trained layer's weight gradient, and the input gradient of every layer
 * above the first trained one (below it nothing needs a gradient). */
double net_backward_macs(const Net *net);

/* Fills the flat parameter buffer with the preset's initialisation, keyed by seed. */
void net_init_params(const Net *net, float *params, uint64_t seed);

const char *layer_kind_name(LayerKind k);

#endif
