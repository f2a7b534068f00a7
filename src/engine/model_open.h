/*
 * model_open.h — the one way to get a model ready to run: a checkpoint's
 * weights (or a fresh initialisation), the Net they fit, a backend holding
 * them. train, eval, predict, bench and export all start here.
 *
 * engine/ is the layer that joins a Net (model/), its weights (io/) and a
 * backend (backend/), and runs it over data (evaluate.h): what train/ and
 * every command in cli/ share.
 */
#ifndef ALEXNET_MODEL_OPEN_H
#define ALEXNET_MODEL_OPEN_H

#include <stdint.h>

#include "backend/backend.h"
#include "common/util.h"
#include "io/checkpoint.h"
#include "model/net.h"
#include "model/quant.h"

#define EVAL_RESIZE_FROM_CHECKPOINT (-2)

typedef struct {
    /* the net and its weights */
    const char *checkpoint; /* a model file: its backbone, classes and weights; NULL: a fresh net */
    const char *backbone;   /* fresh: the preset */
    int num_classes;        /* fresh: classifier outputs */
    int image_size;         /* input size S (SxS); 0: the checkpoint's validation crop, else its training size */
    const char *size_flag;  /* the flag named when image_size is under NET_MIN_IMAGE ("--image_size") */
    int eval_resize;        /* >= 0: the eval geometry's --val_resize_size, checked; -1: no check;
                               EVAL_RESIZE_FROM_CHECKPOINT: the checkpoint's validation resize (else 0), checked */
    float dropout;          /* 0 for inference; -1: the backbone's */
    const char *freeze;     /* training: net_set_training(freeze, lr_backbone_scale); NULL: all layers */
    double lr_backbone_scale;
    uint64_t seed;  /* fresh weights' initialisation, and the backend's dropout key */
    int no_weights; /* fresh: no host weights (a second copy of a net whose weights the caller sets) */
    /* the backend */
    int no_backend;        /* the net and weights alone (export) */
    const char *backend;   /* ref | dnnl | cuda; NULL or "": the fastest for device */
    const char *device;    /* cpu | gpu */
    const char *precision; /* auto | fp32 | bf16 | int8 (an int8 model's; auto picks it for one); NULL: fp32 */
    int batch;             /* the largest batch the backend runs */
    int threads;           /* compute threads; 0: all cores (sets OpenMP's count) */
    int local_rank;        /* the GPU of this process on its node */
    int inference;         /* forward only (eval, predict): BackendOptions.inference */
    int accept_int8;       /* an int8 model file is fine without inference (export); else refused */
} ModelOptions;

typedef struct {
    Net net;
    float *params;  /* [net.param_count] the host copy of the weights, as the backend got them; or NULL */
    ModelInfo info; /* the checkpoint's metadata (class names); zeros for a fresh net */
    Backend be;
    int has_backend;
    const char *backend_name; /* resolved: never NULL when has_backend */
    Precision precision;      /* resolved from "auto" */
    int threads;              /* resolved from 0 */
    int eval_resize;          /* the eval transform's resize, resolved (ModelOptions.eval_resize) */
    int quantized;            /* the checkpoint is an int8 model (quant holds its numbers; params dequantized) */
    QuantModel quant;
    BackendOptions backend_options; /* what the backend was created with (model_resize makes another alike) */
    int batch;                      /* ModelOptions.batch */
} Model;

/* Opens the model. 0, or -1 with err naming the file or the flag and what
 * to do; nothing is left to close then. */
int model_open(Model *m, const ModelOptions *o, Error *err);
void model_close(Model *m);
/* The same model at another input size (progressive resizing): the net is
 * rebuilt at image_size, keeping which tensors train, and the backend is
 * made anew alike; the weights move over (m->params gets the old backend's),
 * and so does the momentum of a training backend, through momentum (a host
 * buffer of param_count floats; NULL for an inference backend). 0, or -1
 * with err; the model has no backend then and can only be closed. */
int model_resize(Model *m, int image_size, float *momentum, Error *err);

#endif
