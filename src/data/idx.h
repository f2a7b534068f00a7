/*
 * idx.h — reading (gzipped) IDX files, the MNIST / Fashion-MNIST format:
 * 0x00 0x00 <type> <ndim>, then ndim big-endian int32 sizes, then the data.
 * Only unsigned bytes (type 0x08) are needed here.
 */
#ifndef ALEXNET_IDX_H
#define ALEXNET_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct {
    int ndim;
    int64_t dims[4];
    uint8_t *data; /* dims[0] * ... * dims[ndim-1] bytes */
    size_t size;
} IdxArray;

/* Reads path (gzip or plain) expecting ndim dimensions of unsigned bytes.
 * 0, or -1 with err naming the file: wrong magic, type or rank, a zero or
 * absurd size, a short or over-long file, a corrupt gzip stream. Memory
 * grows with the bytes read (at most twice them), so a short file
 * declaring gigabytes allocates little. */
int idx_read(const char *path, int ndim, IdxArray *a, Error *err);
void idx_free(IdxArray *a);

#endif
