/*
 * sample.h — one file to one S x S sample: open, draw or take the
 * augmentation, pick the DCT scale, decode only the needed rectangle,
 * resample (flip folded in), colour-jitter, apply the automatic augmentation
 * policy's ops, convert to the output format.
 *
 * The fast path decodes a JPEG at the smallest scale n/8 that keeps the crop
 * at least S pixels on both sides, so the resampler still shrinks (and
 * antialiases); `exact` decodes at full size, which makes the output
 * byte-identical to torchvision's PIL pipeline for the same parameters.
 */
#ifndef ALEXNET_SAMPLE_H
#define ALEXNET_SAMPLE_H

#include <stdint.h>

#include "common/util.h"
#include "data/image.h"
#include "data/transforms.h"
#include "model/input.h"

typedef struct {
    int image_size;     /* S */
    float scale_min;    /* RandomResizedCrop lower bound */
    int flip;           /* train: a FlipMode (data/transforms.h) */
    int color_jitter;   /* 1: on */
    int exact;          /* 1: no DCT-domain downscaling */
    int64_t max_pixels; /* 0: IMAGE_DEFAULT_MAX_PIXELS */
    int resize_size;    /* eval: see eval_resized_dims (0: the seed's square resize) */
    float erase_p;      /* train: RandomErasing's probability (0: off) */
    int auto_augment;   /* train: an AutoAugmentPolicy (AA_NONE: off) */
    int ra_magnitude;   /* RandAugment's magnitude bin */
    int aa_bilinear;    /* the policy's geometry: 1 bilinear, 0 nearest */
} SampleConfig;

typedef struct SampleWorker SampleWorker; /* per-thread decoder and scratch */

SampleWorker *sample_worker_create(const SampleConfig *cfg);
void sample_worker_destroy(SampleWorker *w);

/* Training sample of path into out (fmt). The augmentation is drawn from key,
 * or taken from fixed when non-NULL (tests). 0, or -1 with err naming the
 * file and the reason. */
int sample_train(SampleWorker *w, const char *path, const AugmentKey *key, const Augment *fixed, void *out,
                 InputFormat fmt, Error *err);

/* Eval sample: resize (eval_resized_dims), centre crop S. */
int sample_eval(SampleWorker *w, const char *path, void *out, InputFormat fmt, Error *err);

/* The same from any source (a file, or a pack record in memory). */
int sample_train_src(SampleWorker *w, const ImageSource *src, const AugmentKey *key, const Augment *fixed, void *out,
                     InputFormat fmt, Error *err);
int sample_eval_src(SampleWorker *w, const ImageSource *src, void *out, InputFormat fmt, Error *err);

/* "path: reason" for the last sample's file if the decoder warned but the
 * image was still used (e.g. a JPEG ending mid-scan), or NULL. */
const char *sample_worker_warning(const SampleWorker *w);

#endif
