/*
 * config.h — everything that defines a training run, and the one check of it.
 * Defaults are the seed's recipe (recipe.md). The whole struct is saved in
 * the run's state so `alexnet train --resume RUN_DIR` continues with exactly
 * the same settings; the CLI and resume validate it with the same function
 * (config_validate), so a saved configuration can't bypass a range check.
 */
#ifndef ALEXNET_CONFIG_H
#define ALEXNET_CONFIG_H

#include <stdint.h>

#include "common/util.h"

/* Seeds are stored as JSON numbers (doubles): integers up to 2^53 are exact. */
#define CONFIG_MAX_SEED 9007199254740991.0

typedef struct {
    /* data */
    char data_dir[1024], val_dir[1024];
    int per_batch_size, image_size, workers, color_jitter, strict_data;
    double min_crop_scale;
    int64_t max_image_pixels;
    int val_resize_size; /* validation Resize(R), shorter side; 0: round(crop*256/224) square (the seed's) */
    int val_crop_size;   /* validation CenterCrop; 0: image_size (the train crop) */
    /* model */
    char backbone[32], pretrained[1024];
    double dropout;           /* < 0: the preset's */
    char freeze[16];          /* none | features | backbone: what does not train (net_set_training) */
    double lr_backbone_scale; /* lr factor of every trained tensor but the last layer's */
    /* optimisation */
    char lr_scheduler[32], lr_epochs[256];
    double lr, momentum, weight_decay, eta_min, lr_gamma, warmup_epochs;
    int T_max, max_epoch; /* T_max 0: max_epoch (resolved when the run starts) */
    int label_smooth;     /* 0/1, the seed's switch */
    double label_smooth_factor;
    char smoothing_form[8]; /* "seed" (eps/(K-1)) or "torch" (eps/K) */
    /* execution */
    uint64_t seed;
    int threads;
    char device[8], backend[16], precision[8];
    int is_distributed;  /* -1 auto (MPI environment), 0 off, 1 on */
    double dist_timeout; /* seconds a collective may wait for the other ranks; 0 = forever */
    /* output */
    char out_dir[1024];
    int ckpt_interval;        /* epochs between epoch_N.safetensors; 0 = none */
    int save_best;            /* 1: keep best.safetensors (with --val_dir) */
    int64_t save_every_steps; /* mid-epoch resumable state; 0 = epoch ends only */
    int log_interval;         /* steps between metrics lines / plain progress lines */
    int64_t max_steps;        /* stop (resumably) after this many steps in total; 0 = no limit */
    double time_budget;       /* seconds of training, validation and saving; 0 = none (train/budget.h) */
    /* weight averaging, as torchvision's train.py defines it */
    int model_ema;          /* 1: keep an exponential moving average of the weights */
    int model_ema_steps;    /* steps between EMA updates */
    double model_ema_decay; /* per-update decay before torchvision's adjustment for batch and epochs */
} TrainConfig;

void config_defaults(TrainConfig *c);

/* The validation crop: val_crop_size, or image_size when that is 0. */
int config_val_crop(const TrainConfig *c);

/* The allowed range of a numeric field (by its name, which is also its flag's
 * name); 0 when name is not a numeric field. The CLI takes its ranges from
 * here. */
int config_field_range(const char *name, double *min, double *max);

/* Every field in range and every name known. source: NULL when the values
 * came from flags (messages say "--lr_gamma ..."), else where they came from
 * (messages say "SOURCE: 'lr_gamma' ..."). 0, or -1 with err set. */
int config_validate(const TrainConfig *c, const char *source, Error *err);

/* JSON object text of the whole config, numbers as numbers (caller frees). */
char *config_to_json(const TrainConfig *c);
/* The same as a cJSON object (caller owns it), to add more members. */
struct cJSON *config_to_cjson(const TrainConfig *c);
/* Fills c from JSON written by config_to_json (64-bit integers also as
 * strings, as older versions wrote them); unknown keys are ignored, missing
 * keys keep their current value. -1 with a message on malformed JSON or a
 * value of the wrong type. Does not validate ranges: call config_validate. */
int config_from_json(TrainConfig *c, const char *json, Error *err);

#endif
