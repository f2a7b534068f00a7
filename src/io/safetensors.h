/*
 * safetensors.h — reading and writing the safetensors format
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON {name: {dtype, shape, data_offsets},
 * "__metadata__": {string: string}}, then the raw little-endian tensor bytes.
 *
 * Reading validates everything a damaged or hostile file could get wrong
 * (a folder or other non-file, sizes, JSON, dtypes, shapes, offsets inside
 * the data, overlaps, duplicate names or metadata) in O(n log n) for n
 * entries, and names the problem and the file; the tensors' bytes are read
 * only when asked for. Writing is atomic: temporary file, fsync, rename.
 */
#ifndef ALEXNET_SAFETENSORS_H
#define ALEXNET_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define ST_MAX_DIMS     8
/* Most elements of a tensor (and product of its non-zero sizes): 2^50. */
#define ST_MAX_ELEMENTS 1125899906842624.0

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_U8, ST_I8 } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t offset; /* of its bytes in the file */
    size_t nbytes;
} StTensor;

/* An open file: its header parsed, its tensors read on demand (st_to_f32),
 * straight into the caller's buffer: a 489 MB training state costs its
 * header, not its size, until its tensors are asked for. */
typedef struct {
    char *path;
    int fd, fd_open; /* open until st_free (a zeroed StFile holds none) */
    size_t size;     /* of the file, when opened */
    int n;
    StTensor *tensors; /* sorted by name */
    int n_meta;
    char **meta_keys, **meta_values;
} StFile;

int st_read(StFile *f, const char *path, Error *err);
void st_free(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
const char *st_meta(const StFile *f, const char *key); /* NULL when absent */
const char *st_dtype_name(StDtype d);
/* Reads a tensor of F32/F16/BF16/F64 as float32 into out[numel]; -1 for
 * other dtypes, or when the file no longer holds its bytes (it changed). */
int st_to_f32(const StFile *f, const StTensor *t, float *out, Error *err);
/* A tensor's raw bytes (little-endian, its dtype) into out[nbytes]. */
int st_read_bytes(const StFile *f, const StTensor *t, void *out, Error *err);

/* --- writing --- */
typedef struct {
    const char *name;
    StDtype dtype; /* any: the bytes are written as they are */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} StWriteTensor;

/* Writes path atomically. meta: n_meta key/value string pairs (may be 0).
 * Returns 0, or -1 with a message (the previous file at path is untouched). */
int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta, Error *err);

#endif
