/*
 * loader.h — batches of augmented images from a Dataset, made by a pool of
 * worker threads into a fixed ring of preallocated batches.
 *
 * Determinism: a sample depends only on (seed, epoch, dataset index) and the
 * file's bytes — never on the worker count or timing. The train order is a
 * permutation of 0..n-1 drawn from (seed, epoch) (philox RNG_SHUFFLE); the
 * augmentation of a sample from (seed, epoch, index) (RNG_AUGMENT).
 *
 * Sharding (rank r of world ranks, per-rank batch B, global batch G = B*world):
 *  - train: step t of rank r takes perm[t*G + r*B + j], j < B; an epoch has
 *    floor(n / G) steps (the last partial global batch is dropped). Two ranks
 *    with B/2 see exactly the samples one rank with B sees.
 *  - eval: no shuffle; rank r takes the contiguous indices
 *    [r*n/world, (r+1)*n/world) in batches of B, the last one partial; every
 *    image is visited exactly once over all ranks.
 *
 * Bad files (unreadable, not an image, bad header, over max_image_pixels,
 * corrupt data): one warning per file naming it and the reason, counted. In
 * train the sample is replaced by another one drawn from (seed, epoch,
 * index), so batches stay full; in eval it is dropped and the batch
 * compacted (Batch.n shrinks; a batch left empty is skipped, its count
 * carried to the next). strict: loader_next() fails naming the file.
 * A JPEG that ends mid-scan is used (the missing part is grey) with one
 * warning; in strict mode it is an error too.
 *
 * Memory: (prefetch + 1) batches (LoaderOptions), one decoder and scratch per worker, the
 * epoch's permutation (8 bytes an image) and one flag byte per image.
 */
#ifndef ALEXNET_LOADER_H
#define ALEXNET_LOADER_H

#include <stdint.h>

#include "common/util.h"
#include "data/dataset.h"
#include "model/input.h"

/* The output sizes S the loader makes (bench-data may go below the net's smallest input). */
#define LOADER_MIN_IMAGE 8
#define LOADER_MAX_IMAGE 4096

typedef enum { LOADER_TRAIN, LOADER_EVAL } LoaderMode;

typedef struct {
    LoaderMode mode;
    int batch;      /* per-rank batch */
    int image_size; /* S */
    int workers;    /* >= 1 decoding threads */
    uint64_t seed;
    int color_jitter;         /* 1 = on */
    float scale_min;          /* RandomResizedCrop scale lower bound; <= 0: 0.08 */
    int flip;                 /* train: a FlipMode (data/transforms.h; 0: random, p 0.5) */
    int rank, world;          /* world 0 is taken as 1 */
    InputFormat format;       /* the backend's (model/input.h) */
    int64_t max_image_pixels; /* 0: IMAGE_DEFAULT_MAX_PIXELS */
    int strict;
    int quiet;        /* 1: don't print per-file warnings (still counted) */
    int resize_size;  /* eval: torchvision's Resize(R) before CenterCrop(S); 0: the seed's square */
    float erase_p;    /* train: RandomErasing's probability after normalising (0: off) */
    int auto_augment; /* train: an AutoAugmentPolicy (data/autoaugment.h; 0: none) */
    int ra_magnitude; /* RandAugment's magnitude bin (0..30) */
    int aa_bilinear;  /* 1: the policy's geometry resamples bilinearly (train.py), 0: nearest */
    int ra_reps;      /* train: repeated augmentation, torchvision's RASampler(repetitions) (0, 1: off) */
    int balanced;     /* train: 1 = an epoch is n draws with replacement weighted by 1 / (images of the class):
                        PyTorch's WeightedRandomSampler(1 / class count, n), instead of a shuffle */
} LoaderConfig;

/* Less common knobs, kept out of LoaderConfig so its initialisers stay short. */
typedef struct {
    int prefetch; /* batches made ahead of the consumer; 0 = 2 */
    int exact;    /* 1: decode JPEGs at full size (torchvision's bytes; slower) */
} LoaderOptions;

typedef struct {
    int n;                  /* samples (== batch except eval's last / eval with skipped files) */
    void *data;             /* n images in cfg.format; the consumer may change them until loader_release (MixUp) */
    const int32_t *labels;  /* [n] */
    const int64_t *indices; /* [n] dataset indices of the samples (train: of the replacement, if any) */
    int64_t batch_index;    /* within the epoch */
    int bad;                /* bad files met while producing this batch */
} Batch;

typedef struct Loader Loader;

/* The dataset must outlive the loader. NULL with a message on a bad config
 * (naming the field) or a train set smaller than one global batch. */
Loader *loader_create(const Dataset *ds, const LoaderConfig *cfg, Error *err);
/* The same with options (NULL: defaults). */
Loader *loader_create_opts(const Dataset *ds, const LoaderConfig *cfg, const LoaderOptions *opt, Error *err);
int64_t loader_batches_per_epoch(const Loader *l);
/* Images an epoch of this rank covers: train, the batches' images; eval, its share of the set. */
int64_t loader_images(const Loader *l);
/* Starts (or restarts) an epoch; first_batch > 0 resumes mid-epoch with the
 * same batches an uninterrupted epoch would give from there. Batches still
 * held from before become invalid. */
void loader_start_epoch(Loader *l, int epoch, int64_t first_batch);
/* 1: a batch; 0: the epoch is done; -1: fatal (strict mode), err names the file.
 * Release each batch (loader_release) before asking for prefetch + 1 more. */
int loader_next(Loader *l, Batch *b, Error *err);
void loader_release(Loader *l, Batch *b);
/* Distinct bad files seen so far (each counted once however often met). */
int64_t loader_bad_files(const Loader *l);
/* Distinct files used despite a decoder warning (JPEG ending mid-scan, ...). */
int64_t loader_warned_files(const Loader *l);
/* Stops the workers (even mid-epoch) and frees everything. */
void loader_destroy(Loader *l);

#endif
