/*
 * autoaugment.h — torchvision's automatic augmentation policies
 * (TrivialAugmentWide, RandAugment, AutoAugment's ImageNet / CIFAR10 / SVHN
 * policies) and their 15 ops, on planar uint8 RGB ([3][H][W]) with PIL's
 * arithmetic, as torchvision's train.py runs them on PIL images:
 *
 *   geometry (ShearX/Y, TranslateX/Y, Rotate): Image.transform / rotate,
 *     nearest (Pillow's 16.16 fixed-point affine) or bilinear (its generic
 *     transform), fill 0 outside the image;
 *   colour (Brightness, Color, Contrast, Sharpness): ImageEnhance's blends,
 *     Sharpness against Pillow's SMOOTH 3x3 filter;
 *   histogram (Posterize, Solarize, AutoContrast, Equalize, Invert): ImageOps'
 *     lookup tables.
 *
 * The magnitude bins are torch.linspace's float32 values, as the policies
 * build them; a plan holds the signed magnitudes _apply_op receives. Draws
 * come from philox (RNG_AUTOAUG, a = epoch, b = sample index), so a sample's
 * ops do not depend on the thread that makes it and leave the crop, flip,
 * jitter and erase draws unchanged.
 */
#ifndef ALEXNET_AUTOAUGMENT_H
#define ALEXNET_AUTOAUGMENT_H

#include <stddef.h>
#include <stdint.h>

/* torchvision's --auto-augment values. */
typedef enum { AA_NONE = 0, AA_TA_WIDE, AA_RA, AA_IMAGENET, AA_CIFAR10, AA_SVHN } AutoAugmentPolicy;

/* The ops, in TrivialAugmentWide's / RandAugment's order (their op index);
 * Invert is AutoAugment's only. */
typedef enum {
    AUG_IDENTITY = 0,
    AUG_SHEAR_X,
    AUG_SHEAR_Y,
    AUG_TRANSLATE_X,
    AUG_TRANSLATE_Y,
    AUG_ROTATE,
    AUG_BRIGHTNESS,
    AUG_COLOR,
    AUG_CONTRAST,
    AUG_SHARPNESS,
    AUG_POSTERIZE,
    AUG_SOLARIZE,
    AUG_AUTOCONTRAST,
    AUG_EQUALIZE,
    AUG_INVERT,
    AUG_N_OPS
} AugOp;

#define AA_MAX_OPS      2  /* RandAugment's num_ops, AutoAugment's sub-policy length */
#define AA_RA_BINS      31 /* RandAugment's num_magnitude_bins; --ra_magnitude in [0, 30] */
#define AA_RA_MAGNITUDE 9  /* torchvision's default --ra-magnitude */

/* The ops one sample receives, in order, with _apply_op's magnitude (signed;
 * degrees, pixels, factors - 1, bits or thresholds by op). */
typedef struct {
    int n;
    int bilinear; /* geometry's resampling: 1 bilinear (train.py's), 0 nearest */
    uint8_t op[AA_MAX_OPS];
    double magnitude[AA_MAX_OPS];
} AugPlan;

/* "none", "ta_wide", "ra", "imagenet", "cifar10", "svhn" -> policy; -1 if unknown. */
int autoaug_policy_parse(const char *name);
const char *autoaug_policy_name(AutoAugmentPolicy p);
/* torchvision's op names ("ShearX", ...); -1 if unknown. */
int autoaug_op_parse(const char *name);
const char *autoaug_op_name(AugOp op);

/* The policy's magnitude table for op on a width x height image (the
 * _augmentation_space of torchvision's class): bins values into out (at most
 * AA_RA_BINS), *is_signed; returns the count (0: the op takes none). */
int autoaug_space(AutoAugmentPolicy p, AugOp op, int width, int height, float *out, int *is_signed);

/* The plan of one sample (seed, epoch, index, attempt: see AugmentKey) on an
 * S x S image; ra_magnitude is RandAugment's bin. */
void autoaug_draw(AugPlan *plan, AutoAugmentPolicy p, int ra_magnitude, int bilinear, int S, uint64_t seed,
                  uint32_t epoch, uint32_t index, uint32_t attempt);

/* Bytes of scratch autoaug_apply needs for a width x height image. */
size_t autoaug_scratch_bytes(int width, int height);

/* One op on planar px ([3][height][width]) in place; scratch of
 * autoaug_scratch_bytes. */
void autoaug_op(uint8_t *px, uint8_t *scratch, int width, int height, AugOp op, double magnitude, int bilinear);

/* A plan's ops in order. */
void autoaug_apply(uint8_t *px, uint8_t *scratch, int width, int height, const AugPlan *plan);

#endif
