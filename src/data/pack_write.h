/*
 * pack_write.h — making a pack file (pack.h) from an image folder: every image
 * decoded in full, downscaled Pillow-exactly (resize.c; never upscaled) to the
 * size bound, and stored re-encoded as JPEG (libjpeg-turbo) or as raw RGB. An
 * encoded pack keeps an image that needs no downscaling as its original file.
 */
#ifndef ALEXNET_PACK_WRITE_H
#define ALEXNET_PACK_WRITE_H

#include <stdint.h>

#include "common/util.h"

/* The default bound, chosen by measurement (docs/DATA.md, "Packs"). */
#define PACK_DEFAULT_SHORT_SIDE 256

typedef struct {
    const char *data_dir, *out;
    int max_side;   /* > 0: longer side at most this */
    int short_side; /* > 0: shorter side at most this (like torchvision's Resize(N)) */
    int quality;    /* JPEG quality of re-encoded images */
    int raw;        /* 1: raw RGB records */
    int workers;    /* decoding threads (>= 1) */
    int64_t max_image_pixels;
    int quiet;           /* no per-file warnings or progress */
    const char *made_by; /* for the header's info, e.g. "alexnet <commit>" */
} PackConfig;

typedef struct {
    int64_t images, skipped, bytes;
    int classes;
    double seconds;
} PackStats;

/* The stored size of a w x h image under the bound (never larger). */
void pack_target_size(const PackConfig *c, int w, int h, int *tw, int *th);

/* Writes c->out through a temporary file renamed at the end (an interrupted
 * run leaves only OUT.tmp.PID, never a file that looks complete). Bad source
 * files are warned about (named) and counted, not packed. 0; -1 with err on
 * bad input (the folder, no usable image); -2 when writing failed. */
int pack_write(const PackConfig *c, PackStats *st, Error *err);

#endif
