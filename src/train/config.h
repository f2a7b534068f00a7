/*
 * config.h — everything that defines a training run, and the one check of it.
 * Defaults are the seed's recipe (recipe.md). The whole struct is saved in
 * the run's state so `alexnet train --resume RUN_DIR` continues with exactly
 * the same settings; the CLI and resume validate it with the same function
 * (config_validate), so a saved configuration can't bypass a range check.
 *
 * TRAIN_CONFIG_FIELDS is the one list of the settings: the struct, the
 * defaults, the ranges, the JSON form, the `train` flags with their help and
 * what --resume may change are all made from its rows.
 */
#ifndef ALEXNET_CONFIG_H
#define ALEXNET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "data/autoaugment.h"
#include "data/image.h"
#include "dist/dist.h"
#include "model/net.h"

/* Seeds are stored as JSON numbers (doubles): integers up to 2^53 are exact. */
#define CONFIG_MAX_SEED 9007199254740991.0

/* One row per setting, in `train --help`'s order (the seed's; config.json's
 * too). The field's name is also its config.json key and its flag (--name).
 *   NUM(type, name, default, min, max, on_resume, help)
 *     type: INT (int), I64 (int64_t), U64 (uint64_t), DBL (double),
 *           SWITCH (int 0/1; the flag takes no value); [min, max] inclusive
 *   TEXT(name, size, default, on_resume, kind, help)
 *     a char[size] field; kind: DIR (a folder, made an absolute path so the
 *     run resumes from anywhere) or PLAIN
 * on_resume: KEEP (the run's saved value stays; the flag is named as
 * ignored) or TAKE (a flag given with --resume changes it).
 * help: the flag's help line; NULL: no flag of its own (--out, cmd_train.c). */
/* clang-format off */
#define TRAIN_CONFIG_FIELDS(NUM, TEXT) \
    TEXT(data_dir, 1024, "", TAKE, DIR, "training images: DIR/<class>/<image>, or a pack file (prepare pack)") \
    TEXT(val_dir, 1024, "", TAKE, DIR, \
         "validation images (folder or pack; all or some of the classes), evaluated after every epoch") \
    NUM(INT, per_batch_size, 256, 1, 65536, TAKE, "images per step per process") \
    NUM(INT, accum_steps, 1, 1, 1024, KEEP, \
        "gradient accumulation: each optimizer step sums N batches of --per_batch_size (the update of one batch " \
        "N times as large; one all-reduce a step)") \
    NUM(DBL, lr, 0.13, 0, 1e3, KEEP, "base learning rate") \
    TEXT(lr_scheduler, 32, "cosine_annealing", KEEP, PLAIN, \
         "cosine_annealing (per epoch, the seed's) | step | exponential | cosine | linear (per step to --eta_min)") \
    NUM(INT, T_max, 0, 0, 1e6, KEEP, "cosine period in epochs (0: --max_epoch)") \
    NUM(INT, max_epoch, 150, 1, 1e6, TAKE, "epochs to train (with --resume: may extend the run)") \
    NUM(DBL, warmup_epochs, 5, 0, 1e6, KEEP, "linear warmup from 0, in epochs (fractions allowed)") \
    NUM(INT, label_smooth, 1, 0, 1, KEEP, "1: label smoothing on, 0: off") \
    NUM(DBL, label_smooth_factor, 0.1, 0, 1, KEEP, "label smoothing epsilon") \
    TEXT(smoothing_form, 8, "seed", KEEP, PLAIN, "seed (eps/(K-1) on wrong classes) | torch (eps/K on all)") \
    NUM(DBL, weight_decay, 1e-4, 0, 1, KEEP, "L2 on weights (not biases)") \
    NUM(DBL, momentum, 0.9, 0, 1, KEEP, "SGD momentum") \
    NUM(DBL, eta_min, 0.0, 0, 1e3, KEEP, "learning-rate floor") \
    TEXT(lr_epochs, 256, "30,60,90,120", KEEP, PLAIN, "step schedule milestones") \
    NUM(DBL, lr_gamma, 0.1, 0, 1e3, KEEP, "step/exponential decay factor") \
    TEXT(backbone, 32, "alexnet", KEEP, PLAIN, "alexnet | alexnet_torchvision | alexnet_2012") \
    NUM(DBL, dropout, -1, -1, 0.99, KEEP, \
        "dropout rate (-1: the backbone's: 0.35 alexnet, 0.5 others; 0 below 224 px: dnnl folds classifier.1, faster)") \
    TEXT(pretrained, 1024, "", KEEP, PLAIN, "start from these weights (.safetensors, ours or torchvision's)") \
    TEXT(freeze, 16, "none", KEEP, PLAIN, \
         "none | features (train only the classifier) | backbone (only the last layer)") \
    NUM(DBL, lr_backbone_scale, 1.0, 0, 1000, KEEP, "lr factor for every trained layer but the last") \
    NUM(INT, image_size, 224, NET_MIN_IMAGE, NET_MAX_IMAGE, KEEP, \
        "input size S (>= " STRINGIFY(NET_MIN_IMAGE) "): the RandomResizedCrop size") \
    NUM(INT, progressive_min_size, 0, 0, NET_MAX_IMAGE, KEEP, \
        "progressive resizing (FFCV's, FixRes's point): train at this size early, growing to --image_size over " \
        "the run (0: off; >= " STRINGIFY(NET_MIN_IMAGE) ")") \
    NUM(DBL, progressive_start, 0.4, 0, 1, KEEP, \
        "the size starts to grow at this share of the lr schedule's progress (the decay's, after the warmup)") \
    NUM(DBL, progressive_end, 0.8, 0, 1, KEEP, "... and is --image_size from this share on") \
    NUM(INT, progressive_step, 16, 1, NET_MAX_IMAGE, KEEP, \
        "the sizes in between are --progressive_min_size + k * N (each size change rebuilds the backend)") \
    NUM(INT, val_crop_size, 0, 0, NET_MAX_IMAGE, KEEP, \
        "validation center crop (0: --image_size; another size evaluates on its own copy of the net)") \
    NUM(INT, val_resize_size, 0, 0, NET_MAX_IMAGE, KEEP, \
        "validation resize of the shorter side before the crop (0: round(crop*256/224) square)") \
    NUM(INT, color_jitter, 1, 0, 1, KEEP, "1: ColorJitter 0.4 as the seed's README says, 0: off as its code") \
    NUM(DBL, min_crop_scale, 0.08, 0.001, 1, KEEP, "RandomResizedCrop smallest area fraction") \
    TEXT(flip, 16, "random", KEEP, PLAIN, \
         "random (p 0.5) | alternate (random in the first epoch, then each image the opposite of its last: " \
         "airbench's alternating flip) | none") \
    NUM(DBL, random_erase, 0, 0, 1, KEEP, \
        "RandomErasing probability (torchvision's --random-erase: scale 0.02-0.33, ratio 0.3-3.3, value 0 after " \
        "normalising)") \
    TEXT(auto_augment, 16, "none", KEEP, PLAIN, \
         "none | ta_wide (TrivialAugmentWide) | ra (RandAugment, 2 ops at --ra_magnitude) | imagenet | cifar10 | " \
         "svhn (AutoAugment's policies): torchvision's --auto-augment, after the crop, flip and jitter") \
    NUM(INT, ra_magnitude, AA_RA_MAGNITUDE, 0, AA_RA_BINS - 1, KEEP, \
        "RandAugment's magnitude bin of 31 (torchvision's --ra-magnitude)") \
    TEXT(aa_interpolation, 16, "bilinear", KEEP, PLAIN, \
         "--auto_augment's geometry: bilinear (train.py's --interpolation) | nearest (the transforms' default)") \
    NUM(SWITCH, ra_sampler, 0, 0, 1, KEEP, \
        "repeated augmentation (torchvision's --ra-sampler, RASampler): each image --ra_reps times an epoch, each " \
        "copy augmented anew, spread over the ranks; an epoch is floor(N / 256) * 256 images") \
    NUM(INT, ra_reps, 3, 2, 64, KEEP, "copies of each image with --ra_sampler (torchvision's --ra-reps)") \
    TEXT(class_balance, 16, "none", KEEP, PLAIN, \
         "none | sampler (each epoch n draws with replacement, every class equally likely) | loss (each image's " \
         "loss times n / (classes * images of its class))") \
    NUM(DBL, mixup_alpha, 0, 0, 1e3, KEEP, \
        "MixUp (torchvision's --mixup-alpha): each batch blended with itself rolled by one, lam ~ Beta(a, a), the " \
        "targets mixed alike (0: off)") \
    NUM(DBL, cutmix_alpha, 0, 0, 1e3, KEEP, \
        "CutMix (torchvision's --cutmix-alpha): a box of the rolled batch pasted in, lam ~ Beta(a, a); with " \
        "--mixup_alpha, one of the two per batch (0: off)") \
    NUM(INT, workers, 0, 0, 1024, TAKE, "image decoding threads (0: one per core)") \
    NUM(INT, threads, 0, 0, 1024, TAKE, "compute threads (0: all cores, shared between local ranks)") \
    NUM(U64, seed, 1, 0, CONFIG_MAX_SEED, KEEP, "random seed (init, shuffle, augmentation, dropout), < 2^53") \
    TEXT(device, 8, "cpu", KEEP, PLAIN, "cpu | gpu") \
    TEXT(backend, 16, "", KEEP, PLAIN, "ref | dnnl | cuda (default: fastest for --device)") \
    TEXT(precision, 8, "auto", KEEP, PLAIN, \
         "auto | fp32 | bf16 (auto: bf16 where it measures faster than fp32 here, e.g. GPUs, AMD Zen 4/5; else fp32)") \
    NUM(INT, is_distributed, -1, -1, 1, KEEP, "1: data parallel over MPI ranks, 0: off, -1: auto (mpirun)") \
    NUM(DBL, dist_timeout, DIST_TIMEOUT_DEFAULT, 0, 1e6, TAKE, \
        "seconds the ranks wait for each other before naming a lost node and stopping (0: forever)") \
    TEXT(out_dir, 1024, "", KEEP, PLAIN, NULL) \
    NUM(SWITCH, strict_data, 0, 0, 1, KEEP, "stop at the first unreadable image instead of skipping it") \
    NUM(I64, max_image_pixels, IMAGE_DEFAULT_MAX_PIXELS, 1, 1e12, KEEP, \
        "reject images declaring more pixels (decompression bombs)") \
    NUM(INT, ckpt_interval, 0, 0, 1e6, TAKE, "also keep epoch_N.safetensors every N epochs (0: off)") \
    NUM(INT, save_best, 1, 0, 1, TAKE, "1: keep best.safetensors (best val top-1), 0: don't") \
    NUM(I64, save_every_steps, 0, 0, 1e12, TAKE, "save resumable state every N steps within epochs (0: epoch ends)") \
    NUM(INT, log_interval, 20, 1, 1e6, TAKE, "steps between metrics records and plain progress lines") \
    NUM(SWITCH, tensorboard, 0, 0, 1, TAKE, \
        "also write TensorBoard event files into the run directory (tensorboard --logdir runs/)") \
    NUM(SWITCH, val_per_class, 0, 0, 1, TAKE, \
        "also record each class's validation top-1 in metrics.jsonl's epoch records (val_class_top1)") \
    NUM(I64, max_steps, 0, 0, 1e12, TAKE, \
        "stop this session (resumably) at N steps in total (0: no limit; not kept by --resume)") \
    NUM(DUR, time_budget, 0, 0, 1e8, KEEP, \
        "train to a deadline (90s, 12m, 1h30m) of training, validation and saving: the run plans its steps from " \
        "its measured speed and lays --lr_scheduler cosine (or linear) over them; --max_epoch caps it") \
    NUM(SWITCH, model_ema, 0, 0, 1, KEEP, \
        "also keep an EMA of the weights, evaluated beside them (torchvision's --model-ema)") \
    NUM(INT, model_ema_steps, 32, 1, 1e6, KEEP, "steps between EMA updates") \
    NUM(DBL, model_ema_decay, 0.99998, 0, 1, KEEP, "EMA decay, adjusted as torchvision does for batch and epochs")
/* clang-format on */

#define CONFIG_CTYPE_INT    int
#define CONFIG_CTYPE_I64    int64_t
#define CONFIG_CTYPE_U64    uint64_t
#define CONFIG_CTYPE_DBL    double
#define CONFIG_CTYPE_DUR    double
#define CONFIG_CTYPE_SWITCH int

#define CONFIG_DECLARE_NUM(type, name, def, min, max, on_resume, help) CONFIG_CTYPE_##type name;
#define CONFIG_DECLARE_TEXT(name, size, def, on_resume, kind, help)    char name[size];
typedef struct {
    TRAIN_CONFIG_FIELDS(CONFIG_DECLARE_NUM, CONFIG_DECLARE_TEXT)
} TrainConfig;
#undef CONFIG_DECLARE_NUM
#undef CONFIG_DECLARE_TEXT

typedef enum { CONFIG_INT, CONFIG_I64, CONFIG_U64, CONFIG_DBL, CONFIG_DUR, CONFIG_SWITCH, CONFIG_TEXT } ConfigType;
typedef enum { CONFIG_KEEP, CONFIG_TAKE } ConfigOnResume;
typedef enum { CONFIG_PLAIN, CONFIG_DIR } ConfigTextKind;

/* A row of TRAIN_CONFIG_FIELDS as data, for code that walks every field. */
typedef struct {
    const char *name;
    ConfigType type;
    size_t offset, size; /* where the field is in TrainConfig */
    double min, max;     /* numbers: the allowed range, inclusive */
    ConfigOnResume on_resume;
    ConfigTextKind kind;
    const char *help; /* NULL: no flag of its own */
} ConfigField;

/* The rows, in their order; *n is set to how many. */
const ConfigField *config_fields(int *n);

void config_defaults(TrainConfig *c);

/* The validation crop: val_crop_size, or image_size when that is 0. */
int config_val_crop(const TrainConfig *c);

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
