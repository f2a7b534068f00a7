/*
 * config.h — everything that defines a training run. Defaults are the seed's
 * recipe (recipe.md). The whole struct is saved in the run directory (as
 * JSON) so `alexnet train --resume RUN_DIR` continues with exactly the same
 * settings.
 */
#ifndef ALEXNET_CONFIG_H
#define ALEXNET_CONFIG_H

#include <stdint.h>

#include "common/util.h"

typedef struct {
    /* data */
    char data_dir[1024], val_dir[1024];
    int per_batch_size, eval_batch_size, image_size, workers, color_jitter, strict_data;
    double min_crop_scale;
    int64_t max_image_pixels;
    /* model */
    char backbone[32], pretrained[1024];
    double dropout;               /* < 0: the preset's */
    /* optimisation */
    char lr_scheduler[32], lr_epochs[256];
    double lr, momentum, weight_decay, eta_min, lr_gamma, warmup_epochs;
    int T_max, max_epoch;
    int label_smooth;             /* 0/1, the seed's switch */
    double label_smooth_factor;
    char smoothing_form[8];       /* "seed" (eps/(K-1)) or "torch" (eps/K) */
    /* execution */
    uint64_t seed;
    int threads;
    char device[8], backend[16], precision[8];
    int is_distributed;           /* -1 auto (MPI environment), 0 off, 1 on */
    /* output */
    char out_dir[1024];
    int ckpt_interval;            /* epochs between epoch_N.safetensors; 0 = none */
    int64_t save_every_steps;     /* mid-epoch resumable state; 0 = epoch ends only */
    int log_interval;             /* steps between metrics lines / plain progress lines */
    int64_t max_steps;            /* stop (resumably) after this many steps in total; 0 = no limit */
} TrainConfig;

void config_defaults(TrainConfig *c);
/* JSON object text of the whole config (caller frees). */
char *config_to_json(const TrainConfig *c);
/* Fills c from JSON written by config_to_json; unknown keys are ignored,
 * missing keys keep their current value. -1 with a message on malformed JSON. */
int config_from_json(TrainConfig *c, const char *json, Error *err);

#endif
