/*
 * dataset.h — an image folder in torchvision ImageFolder order.
 *
 * Layout: DIR/<class>/.../<image>. Classes are the non-hidden subfolders of
 * DIR sorted by name (byte order, like Python's sorted()); a class's label is
 * its index. Inside a class folder the search is recursive; files are ordered
 * like torchvision's make_dataset (by folder path, then file name). Hidden
 * files and folders (names starting with '.') are ignored; files count by
 * extension (.jpg .jpeg .png, any case) — the decoder later decides the real
 * format from the file's first bytes.
 *
 * A pack file (pack.h, made by `alexnet prepare pack`) is accepted wherever a
 * folder is: its classes and records, in the order they were packed (the
 * folder's scan order), with paths shown as PACK/<relative path>. The loader
 * asks dataset_source() for "the bytes of sample i" and never needs to know
 * which of the two it reads.
 */
#ifndef ALEXNET_DATASET_H
#define ALEXNET_DATASET_H

#include <stdint.h>

#include "common/util.h"
#include "data/image.h"
#include "data/pack.h"

typedef struct {
    char *root;
    int n_classes;
    char **classes; /* [n_classes] sorted folder names */
    int64_t n;
    char **paths;     /* [n] full paths, root/class/... */
    int32_t *labels;  /* [n] class index of each path */
    Pack *pack;       /* NULL: a folder; else the records come from this pack */
    char *path_block; /* pack: the storage behind paths[] */
} Dataset;

/* 0, or -1 with a message naming the folder: missing, not a folder (nor a
 * pack), unreadable, no class folder, or a class folder without images; or
 * the pack's problem (wrong magic or version, damaged header or index). */
int dataset_scan(Dataset *ds, const char *dir, Error *err);

/* Where sample i's bytes are: its file, or its pack record (checked against
 * the pack's end and, once, its CRC32). 0, or -1 with err naming the sample. */
int dataset_source(const Dataset *ds, int64_t i, ImageSource *src, Error *err);
/* The caller is done with sample i's bytes (a pack's record leaves memory). */
void dataset_source_done(const Dataset *ds, int64_t i);
void dataset_free(Dataset *ds);

/* A folder's scan as bytes, so the ranks on one machine share one scan (the
 * first rank scans, dataset_from_bytes rebuilds it on the others): root,
 * class names, labels and paths. Returns the length; *out is owned. */
size_t dataset_to_bytes(const Dataset *ds, char **out);
/* 0, or -1 with err when buf is not what dataset_to_bytes wrote (every
 * count, string and label checked against len). */
int dataset_from_bytes(Dataset *ds, const char *buf, size_t len, Error *err);

/* Every image file under dir (recursively), with the scan's rules (extensions,
 * hidden names skipped) and order. *paths (n entries, each and the array
 * freed by the caller). 0, or -1 with a message naming the folder. */
int dataset_list_images(const char *dir, char ***paths, int64_t *n, Error *err);

/* 1 if the name ends in .jpg, .jpeg or .png (any case). */
int dataset_is_image_name(const char *name);

#endif
