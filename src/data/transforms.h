/*
 * transforms.h — the seed's augmentations with torchvision's semantics, on
 * uint8 RGB like torchvision's PIL path:
 *   RandomResizedCrop(S, scale=(scale_min, 1), ratio=(3/4, 4/3))
 *   RandomHorizontalFlip(0.5)
 *   ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)  (random order)
 *   ToTensor + Normalize(IMAGENET_MEAN, IMAGENET_STD)
 * and the eval transform Resize((R, R)), CenterCrop(S), R = round(S*256/224).
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

#include "backend/backend.h"

extern const float IMAGENET_MEAN[3], IMAGENET_STD[3];

#define RRC_RATIO_MIN (3.0 / 4.0)
#define RRC_RATIO_MAX (4.0 / 3.0)
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
    int jitter;        /* 0: no colour jitter */
    float factor[3];   /* by JITTER_* */
    uint8_t order[3];  /* JITTER_* in the order they are applied */
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

/* All draws of one training sample. */
void augment_draw(Augment *a, int width, int height, float scale_min, int color_jitter, const AugmentKey *key);

/* ColorJitter pieces on n pixels in place, planar (px: [3][n], R G B), with
 * PIL's ImageEnhance arithmetic (Image.blend: float blend, truncated). */
void adjust_brightness(uint8_t *px, size_t n, float f);
void adjust_contrast(uint8_t *px, size_t n, float f);
void adjust_saturation(uint8_t *px, size_t n, float f);
void color_jitter(uint8_t *px, size_t n, const Augment *a);

/* Bytes of one S x S sample in fmt. */
size_t input_sample_bytes(InputFormat fmt, int image_size);

/* Converts planar bytes ([3][S][S]) into one sample of fmt at dst
 * (ToTensor + Normalize for the float formats, interleaving for U8_NHWC). */
void write_sample(void *dst, const uint8_t *planes, int image_size, InputFormat fmt);

/* R for the eval transform: round(S * 256 / 224). */
int eval_resize_size(int image_size);

#endif
