/*
 * prepare.h — making image folders for training: Fashion-MNIST from Debian's
 * dataset-fashion-mnist IDX files, and synthetic photo-like JPEGs.
 */
#ifndef ALEXNET_PREPARE_H
#define ALEXNET_PREPARE_H

#include <stdint.h>

#include "common/util.h"

#define FMNIST_DEFAULT_SOURCE "/usr/share/datasets/fashion-mnist"
#define FMNIST_QUALITY        100

/* Folder names of the ten classes, in label order; the digit prefix makes
 * sorted order (ImageFolder's labels) equal the label order. */
extern const char *const FMNIST_CLASSES[10];

typedef struct {
    const char *out;    /* writes out/train/<class>/NNNNN.jpg and out/val/<class>/NNNNN.jpg */
    const char *source; /* folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz */
    int64_t limit;      /* > 0: `limit` images per split, the first limit/10 of each class */
    int quiet;
} FmnistConfig;

/* The prepare functions return 0; -1 with err naming a bad input (a flag, an
 * IDX file and what is wrong with it); or -2 when writing the output failed. */
int prepare_fashion_mnist(const FmnistConfig *c, Error *err);

typedef struct {
    const char *out; /* writes out/class_NNN/img_NNNNN.jpg */
    int classes, per_class;
    int width, height;
    int quality; /* JPEG quality; 0 = 90 */
    uint64_t seed;
} SyntheticConfig;

int prepare_synthetic(const SyntheticConfig *c, Error *err);

#endif
