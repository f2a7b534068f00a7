/*
 * checkpoint.h — model files and resumable training state.
 *
 * Model file (last/best/epoch_N.safetensors, --pretrained): fp32 tensors with
 * torchvision's state_dict names and shapes, loadable by
 * torchvision.models.alexnet(num_classes=K).load_state_dict(strict=True);
 * metadata: backbone, classes (JSON array), image_size, epoch, step, version.
 * A torchvision state_dict saved as safetensors loads too, metadata or not.
 *
 * Training state (RUN_DIR/train_state.safetensors): parameters and momentum
 * ("model.<name>", "momentum.<name>") plus the position (epoch, step, batch
 * within the epoch), the best top-1 so far and the whole configuration. It is
 * self-contained, so one atomic rename makes it consistent.
 */
#ifndef ALEXNET_CHECKPOINT_H
#define ALEXNET_CHECKPOINT_H

#include <stdint.h>

#include "common/util.h"
#include "model/net.h"

typedef struct {
    char backbone[32];
    int num_classes, image_size;
    int n_classes_named;       /* number of class names (0 when the file has none) */
    char **class_names;        /* [n_classes_named], owned */
    int epoch;                 /* epochs finished; -1 when unknown */
    int64_t step;
} ModelInfo;

void model_info_free(ModelInfo *info);

/* Writes a model file atomically. class_names may be NULL. */
int checkpoint_save_model(const char *path, const Net *net, const float *params, char *const *class_names,
                          int epoch, int64_t step, Error *err);

/* Reads what a model file describes (backbone — from metadata, else inferred
 * from the shapes —, classes, image size) without loading weights. */
int checkpoint_inspect(const char *path, ModelInfo *info, Error *err);

/* Loads weights into params for net; every tensor of net must be present with
 * the exact shape. Errors name the file and say what differs (backbone,
 * number of classes, missing tensor, shape). */
int checkpoint_load_params(const char *path, const Net *net, float *params, Error *err);

typedef struct {
    int epoch;                 /* epoch in progress (or next to start when batch == 0) */
    int64_t batch;             /* next batch within that epoch */
    int64_t step;              /* optimizer steps done */
    double best_top1;          /* -1 when no evaluation yet */
    char *config_json;         /* owned */
    char *run_json;            /* owned; the trainer's own record (fingerprint, running sums); NULL in old states */
} TrainPosition;

int checkpoint_save_state(const char *path, const Net *net, const float *params, const float *momentum,
                          const TrainPosition *pos, Error *err);
/* Reads the configuration and position only (to rebuild the run before loading tensors). */
int checkpoint_read_state_info(const char *path, TrainPosition *pos, Error *err);
int checkpoint_load_state(const char *path, const Net *net, float *params, float *momentum, Error *err);

#endif
