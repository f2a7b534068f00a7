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
#include "io/safetensors.h"
#include "model/net.h"

/* The most classes a checkpoint may declare (the range of bench --num_classes). */
#define CHECKPOINT_MAX_CLASSES 1000000

typedef struct {
    char backbone[32];
    int num_classes, image_size;
    int n_classes_named; /* number of class names (0 when the file has none) */
    char **class_names;  /* [n_classes_named], owned */
    int epoch;           /* epochs finished; -1 when unknown */
    int64_t step;
    /* the eval transform its training validated with: CenterCrop(val_crop_size)
     * after Resize(val_resize_size) (0: the seed's square); 0 and -1 when the
     * file does not say (torchvision's, older ones) */
    int val_crop_size, val_resize_size;
} ModelInfo;

void model_info_free(ModelInfo *info);

/* What a model file says about itself besides its tensors. */
typedef struct {
    char *const *class_names;           /* [num_classes], or NULL */
    int epoch;                          /* epochs finished */
    int64_t step;                       /* optimizer steps */
    const char *weights;                /* "ema" or "raw" (which of the two a best.safetensors holds), or NULL */
    int val_crop_size, val_resize_size; /* the eval transform it was validated with (crop 0: unknown) */
} ModelMeta;

/* Writes a model file atomically. */
int checkpoint_save_model(const char *path, const Net *net, const float *params, const ModelMeta *meta, Error *err);
/* The same with tensors added or put in place of a parameter of the same
 * name (an int8 model's), and metadata added. */
#define CHECKPOINT_MAX_EXTRA (4 * NET_MAX_LAYERS)
int checkpoint_save_model_with(const char *path, const Net *net, const float *params, const ModelMeta *meta,
                               const StWriteTensor *extra, int n_extra, const char *const *extra_keys,
                               const char *const *extra_values, int n_extra_meta, Error *err);
/* The metadata key an int8 model (alexnet quantize) carries; its value
 * describes the scheme. Such files are refused by checkpoint_match and
 * checkpoint_load_except (training, averaging) and opened by
 * io/quant_file.h. */
#define CHECKPOINT_QUANT_KEY "quantization"

/* A model file read once: its bytes and what they describe. Opening checks
 * everything a net will be sized from (class count 1..CHECKPOINT_MAX_CLASSES,
 * image size, epoch, step: errors name the file and the value), so a caller
 * can build the Net from info, call checkpoint_match before allocating the
 * parameters, then checkpoint_load. */
typedef struct {
    StFile st;
    ModelInfo info;
} ModelFile;

int checkpoint_open(const char *path, ModelFile *m, Error *err);
void checkpoint_close(ModelFile *m);
int checkpoint_is_quantized(const ModelFile *m);
/* Tensor name (numel elements, any floating-point dtype) as float32 into
 * out; missing, another size or a value that is not finite: -1 naming it. */
int checkpoint_read_tensor(const ModelFile *m, const char *name, int64_t numel, float *out, Error *err);
/* 0 when the file holds every tensor of net (backbone, class count, names,
 * shapes, floating-point dtypes); else -1 naming the file and what differs
 * (an int8 model: refused, saying so). */
int checkpoint_match(const ModelFile *m, const Net *net, Error *err);
/* checkpoint_match, then the weights as float32 into params[net->param_count]. */
int checkpoint_load(const ModelFile *m, const Net *net, float *params, Error *err);

/* Fine-tuning: loads every tensor of net except those whose names start with
 * skip_prefix (the classifier's last layer, for another set of classes),
 * which keep what params holds. The backbone must be compatible and the
 * loaded tensors must have net's shapes. */
int checkpoint_load_except(const ModelFile *m, const Net *net, float *params, const char *skip_prefix, Error *err);

typedef struct {
    int epoch;           /* epoch in progress (or next to start when batch == 0) */
    int64_t batch;       /* next batch within that epoch */
    int64_t step;        /* optimizer steps done */
    double best_top1;    /* -1 when no evaluation yet */
    char *config_json;   /* owned */
    char *run_json;      /* owned; the trainer's own record (fingerprint, running sums); NULL in old states */
    int64_t ema_updates; /* EMA updates so far (0: the next one copies the weights) */
} TrainPosition;

/* ema: the weights' moving average ("ema.<name>" tensors), or NULL without --model_ema. */
int checkpoint_save_state(const char *path, const Net *net, const float *params, const float *momentum,
                          const float *ema, const TrainPosition *pos, Error *err);
/* Reads the configuration and position only (to rebuild the run before
 * loading tensors); epoch, batch, step and best_top1 are range-checked. */
int checkpoint_read_state_info(const char *path, TrainPosition *pos, Error *err);
int checkpoint_load_state(const char *path, const Net *net, float *params, float *momentum, float *ema, Error *err);

#endif
