/*
 * transforms.h — the seed's augmentations with torchvision's semantics, on
 * uint8 RGB like torchvision's PIL path:
 *   RandomResizedCrop(S, scale=(scale_min, 1), ratio=(3/4, 4/3))
 *   RandomHorizontalFlip(0.5)
 *   ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)  (random order)
 *   ToTensor + Normalize(IMAGENET_MEAN, IMAGENET_STD)
 * and the eval transform: Resize((R, R)), R = round(S*256/224) (the seed's), or
 * torchvision's Resize(R) (shorter side to R, --val_resize_size), then
 * CenterCrop(S).
 *
 * Every random number of a sample comes from philox (RNG_AUGMENT, a = epoch,
 * b = sample index), so a sample is the same whatever thread makes it.
 * The geometry (crop + resample) lives in sample.c/resize.c; this file holds
 * the parameter draws, the colour ops and the output conversion.
 */
#ifndef ALEXNET_TRANSFORMS_H
#define ALEXNET_TRANSFORMS_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "data/autoaugment.h"
#include "model/input.h"

#define RRC_RATIO_MIN   (3.0 / 4.0)
#define RRC_RATIO_MAX   (4.0 / 3.0)
#define JITTER_STRENGTH 0.4f /* brightness, contrast and saturation factors in U[0.6, 1.4] */

/* A crop box in torchvision's order: top, left, height, width. */
typedef struct {
    int i, j, h, w;
} CropBox;

enum { JITTER_BRIGHTNESS = 0, JITTER_CONTRAST = 1, JITTER_SATURATION = 2 };

/* Everything random about one training sample. */
typedef struct {
    CropBox crop;
    int flip;
    int jitter;       /* 0: no colour jitter */
    float factor[3];  /* by JITTER_* */
    uint8_t order[3]; /* JITTER_* in the order they are applied */
    int erase;        /* fixed augmentations (tests): erase erase_box after normalising */
    CropBox erase_box;
    AugPlan aa; /* automatic augmentation's ops, after the jitter (n 0: none) */
} Augment;

/* Where a sample's random numbers come from. attempt > 0: the draws for a
 * replacement after a bad file (a different stream slice, same key). */
typedef struct {
    uint64_t seed;
    uint32_t epoch, index, attempt;
} AugmentKey;

/* Words of the (epoch, index) stream used per attempt. */
#define AUGMENT_WORDS_PER_ATTEMPT 64

/* RandomResizedCrop.get_params for a width x height image: up to 10 tries of
 * area U(scale_min, 1)*W*H and log-ratio U(log 3/4, log 4/3), else the centre
 * crop with the ratio clamped. */
CropBox rrc_params(int width, int height, float scale_min, const AugmentKey *key);

/* RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0), as
 * torchvision draws it on the S x S sample: with probability p, up to 10
 * tries of area U(scale)*S*S and log-ratio U(log 0.3, log 3.3), h =
 * round(sqrt(area*ratio)), w = round(sqrt(area/ratio)), the first with h < S
 * and w < S placed uniformly; none fits: no erase. From its own stream
 * (RNG_ERASE, epoch, sample), so the other draws do not change. 1 when *box
 * is to be erased. */
#define ERASE_SCALE_MIN 0.02
#define ERASE_SCALE_MAX 0.33
#define ERASE_RATIO_MIN 0.3
#define ERASE_RATIO_MAX 3.3
int erase_draw(CropBox *box, int S, float p, const AugmentKey *key);
/* The box of one S x S sample in fmt set to 0 after normalisation, as
 * torchvision erases the normalised tensor (raw bytes, normalised on the
 * device: each channel's mean byte, round(255 * mean), the nearest to 0). */
void erase_sample(void *dst, int S, InputFormat fmt, const CropBox *box);

/* The horizontal flip of a training sample (--flip):
 *   FLIP_RANDOM     p 0.5 at every draw (RandomHorizontalFlip, the seed's);
 *   FLIP_ALTERNATE  the first draw (epoch 0) random, then flip = f0(index)
 *                   xor (draw & 1): an image drawn once an epoch (a shuffle)
 *                   is seen both ways in any two consecutive epochs
 *                   (airbench's "alternating flip"); with --class_balance
 *                   sampler's draws with replacement, the copies of an image
 *                   in one epoch share its flip;
 *   FLIP_NONE       never (text, digits: orientation carries the class). */
typedef enum { FLIP_RANDOM = 0, FLIP_ALTERNATE, FLIP_NONE } FlipMode;
#define FLIP_MODES "random, alternate or none"
/* "random" | "alternate" | "none" -> FlipMode, else -1. */
int flip_mode_parse(const char *name);

/* All draws of one training sample. */
void augment_draw(Augment *a, int width, int height, float scale_min, int color_jitter, FlipMode flip,
                  const AugmentKey *key);

/* ColorJitter pieces on n pixels in place, planar (px: [3][n], R G B), with
 * PIL's ImageEnhance arithmetic (Image.blend: float blend, truncated). */
void adjust_brightness(uint8_t *px, size_t n, float f);
void adjust_contrast(uint8_t *px, size_t n, float f);
void adjust_saturation(uint8_t *px, size_t n, float f);
void color_jitter(uint8_t *px, size_t n, const Augment *a);

/* Converts planar bytes ([3][S][S]) into one sample of fmt at dst
 * (ToTensor + Normalize for the float formats, interleaving for U8_NHWC). */
void write_sample(void *dst, const uint8_t *planes, int image_size, InputFormat fmt);

/* R for the eval transform: round(S * 256 / 224). */
int eval_resize_size(int image_size);

/* The eval transform's resized size of a width x height image for crop S:
 * resize 0, the seed's square round(S*256/224) on both sides; else
 * torchvision's Resize(resize): the shorter side to resize, the longer to
 * int(resize * long / short). */
void eval_resized_dims(int width, int height, int crop, int resize, int *rw, int *rh);

/* The eval geometry's one rule: resize 0 (the seed's square, always larger
 * than the crop) or at least the crop, so the centre crop fits. 0, or -1 with
 * err naming --val_resize_size and --val_crop_size. */
int eval_geometry_check(int crop, int resize, Error *err);

/* The flip test-time augmentation's logits: a = (a + b) / 2, element-wise in
 * float (logits are averaged, not probabilities). */
void tta_mean(float *a, const float *b, size_t n);

/* n samples of fmt (S x S) mirrored left-right, src to dst (not overlapping). */
void input_mirror(void *dst, const void *src, int n, int image_size, InputFormat fmt);

#endif
