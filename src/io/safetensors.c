/*
 * safetensors.c — validated reader and atomic writer for safetensors files
 * (see safetensors.h). JSON goes through cJSON.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "io/atomic_file.h"

#define ST_MAX_HEADER (100u << 20) /* the format's own limit */

static const struct {
    const char *name;
    int size;
} DTYPES[] = {
    [ST_F32] = { "F32", 4 }, [ST_F16] = { "F16", 2 }, [ST_BF16] = { "BF16", 2 }, [ST_F64] = { "F64", 8 },
    [ST_I64] = { "I64", 8 }, [ST_I32] = { "I32", 4 }, [ST_U8] = { "U8", 1 },     [ST_I8] = { "I8", 1 },
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

const char *st_dtype_name(StDtype d) { return DTYPES[d].name; }

void st_free(StFile *f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    if (f->fd_open) close(f->fd);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int open_file(StFile *f, const char *path, Error *err) {
    int64_t file_size;
    int fd = open_regular_file(path, &file_size, err);
    if (fd < 0) {
        if (strstr(err->msg, "cannot read"))
            strncat(err->msg, " (a .safetensors file is needed)", sizeof err->msg - strlen(err->msg) - 1);
        return -1;
    }
    if ((uint64_t)file_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return error_set(err, "cannot read %s: file of %lld bytes is too large", path, (long long)file_size);
    }
    f->fd = fd;
    f->fd_open = 1;
    f->size = (size_t)file_size;
    return 0;
}

/* n bytes at offset, all of them: 0, or -1 naming the file (it is shorter
 * than when it was opened: it changed while being read). */
static int read_at(const StFile *f, void *out, size_t n, uint64_t offset, Error *err) {
    uint8_t *p = out;
    while (n > 0) {
        ssize_t got = pread(f->fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return error_set(err, "cannot read %s: %s", f->path,
                             got < 0 ? strerror(errno) : "it is shorter than when it was opened (it changed)");
        p += got;
        n -= (size_t)got;
        offset += (uint64_t)got;
    }
    return 0;
}

typedef struct {
    size_t begin, end;
} Range;
static int cmp_range(const void *a, const void *b) {
    const Range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A JSON number that is a whole number in [0, max]. */
static int whole(const cJSON *v, double max) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= max && v->valuedouble == floor(v->valuedouble);
}

static int parse_tensor(StTensor *t, const cJSON *item, uint64_t data_start, size_t data_size, const char *path,
                        Error *err) {
    const char *name = item->string;
    if (!cJSON_IsObject(item)) return error_set(err, "%s: entry '%s' is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return error_set(err, "%s: tensor '%s' needs dtype, shape and data_offsets", path, name);
    int d = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].name && strcmp(dt->valuestring, DTYPES[i].name) == 0) d = i;
    if (d < 0) return error_set(err, "%s: tensor '%s' has unsupported dtype %.32s", path, name, dt->valuestring);
    t->dtype = (StDtype)d;
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > ST_MAX_DIMS)
        return error_set(err, "%s: tensor '%s' has %d dimensions (max %d)", path, name, t->ndim, ST_MAX_DIMS);
    /* numel, and the product of the non-zero sizes: both stay below
     * ST_MAX_ELEMENTS, so no product of sizes overflows anywhere later (a
     * [1e15, 1e15, 0] tensor is empty but useless and refused). */
    double numel = 1, nonzero = 1;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, sh) {
        if (!whole(v, ST_MAX_ELEMENTS)) return error_set(err, "%s: tensor '%s' has an invalid shape", path, name);
        t->shape[i++] = (int64_t)v->valuedouble;
        numel *= v->valuedouble;
        if (v->valuedouble > 0) nonzero *= v->valuedouble;
        if (nonzero > ST_MAX_ELEMENTS) return error_set(err, "%s: tensor '%s' is impossibly large", path, name);
    }
    t->numel = (int64_t)numel;
    if (cJSON_GetArraySize(off) != 2)
        return error_set(err, "%s: tensor '%s' data_offsets must have 2 numbers", path, name);
    const cJSON *ob = cJSON_GetArrayItem(off, 0), *oe = cJSON_GetArrayItem(off, 1);
    if (!whole(ob, (double)data_size) || !whole(oe, (double)data_size) || oe->valuedouble < ob->valuedouble)
        return error_set(
            err, "%s: tensor '%s' data_offsets [%.0f, %.0f] lie outside the %zu data bytes (file truncated?)", path,
            name, cJSON_IsNumber(ob) ? ob->valuedouble : -1.0, cJSON_IsNumber(oe) ? oe->valuedouble : -1.0, data_size);
    size_t b = (size_t)ob->valuedouble, e = (size_t)oe->valuedouble;
    t->nbytes = e - b;
    if ((double)t->nbytes != numel * DTYPES[d].size)
        return error_set(err, "%s: tensor '%s' has %zu bytes but shape and dtype need %.0f", path, name, t->nbytes,
                         numel * DTYPES[d].size);
    t->offset = data_start + b;
    t->name = xstrdup(name);
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_metadata(StFile *f, const cJSON *item, const char *path, Error *err) {
    if (f->meta_keys) return error_set(err, "%s: __metadata__ appears twice", path);
    if (!cJSON_IsObject(item)) return error_set(err, "%s: __metadata__ is not an object", path);
    int m = cJSON_GetArraySize(item);
    f->meta_keys = xcalloc((size_t)m, sizeof(char *));
    f->meta_values = xcalloc((size_t)m, sizeof(char *));
    const cJSON *kv;
    cJSON_ArrayForEach(kv, item) {
        if (!cJSON_IsString(kv)) return error_set(err, "%s: metadata '%s' is not a string", path, kv->string);
        f->meta_keys[f->n_meta] = xstrdup(kv->string);
        f->meta_values[f->n_meta++] = xstrdup(kv->valuestring);
    }
    /* Duplicate keys would make st_meta's answer depend on their order. */
    char **sorted = xmalloc(sizeof(char *) * (size_t)(m > 0 ? m : 1));
    memcpy(sorted, f->meta_keys, sizeof(char *) * (size_t)m);
    qsort(sorted, (size_t)m, sizeof(char *), cmp_str);
    int dup = -1;
    for (int i = 1; i < m && dup < 0; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) dup = i;
    int rc = dup < 0 ? 0 : error_set(err, "%s: metadata key '%s' appears twice", path, sorted[dup]);
    free(sorted);
    return rc;
}

int st_read(StFile *f, const char *path, Error *err) {
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    cJSON *root = NULL;
    Range *ranges = NULL;
    char *header = NULL;
    uint8_t len8[8];
    if (open_file(f, path, err) != 0) goto fail;
    if (f->size < 8) {
        error_set(err, "%s: not a safetensors file (%zu bytes, too short)", path, f->size);
        goto fail;
    }
    if (read_at(f, len8, 8, 0, err) != 0) goto fail;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    if (hlen > ST_MAX_HEADER || 8 + hlen > f->size) {
        error_set(err, "%s: not a safetensors file or truncated (header of %llu bytes, file of %zu)", path,
                  (unsigned long long)hlen, f->size);
        goto fail;
    }
    header = xmalloc((size_t)hlen + 1);
    if (read_at(f, header, (size_t)hlen, 8, err) != 0) goto fail;
    root = cJSON_ParseWithLength(header, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        error_set(err, "%s: the safetensors header is not a valid JSON object", path);
        goto fail;
    }
    uint64_t data_start = 8 + hlen;
    size_t data_size = f->size - (size_t)data_start;
    int count = cJSON_GetArraySize(root);
    f->tensors = xcalloc((size_t)count, sizeof *f->tensors);
    ranges = xcalloc((size_t)count, sizeof *ranges);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (read_metadata(f, item, path, err) != 0) goto fail;
            continue;
        }
        if (parse_tensor(&f->tensors[f->n], item, data_start, data_size, path, err) != 0) goto fail;
        ranges[f->n].begin = (size_t)(f->tensors[f->n].offset - data_start);
        ranges[f->n].end = ranges[f->n].begin + f->tensors[f->n].nbytes;
        f->n++;
    }
    /* Sorted by name: duplicates are neighbours and st_find is a binary search
     * (a header of millions of tiny entries loads in O(n log n)). */
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
            error_set(err, "%s: tensor '%s' appears twice", path, f->tensors[i].name);
            goto fail;
        }
    qsort(ranges, (size_t)f->n, sizeof *ranges, cmp_range);
    for (int i = 1; i < f->n; i++)
        if (ranges[i].begin < ranges[i - 1].end) {
            error_set(err, "%s: tensors overlap in the data section", path);
            goto fail;
        }
    cJSON_Delete(root);
    free(ranges);
    free(header);
    return 0;
fail:
    cJSON_Delete(root);
    free(ranges);
    free(header);
    st_free(f);
    return -1;
}

const StTensor *st_find(const StFile *f, const char *name) {
    StTensor key = { .name = (char *)name };
    return f->n > 0 ? bsearch(&key, f->tensors, (size_t)f->n, sizeof key, cmp_tensor_name) : NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 0x400), (int)e - 25);
    return s ? -v : v;
}

int st_read_bytes(const StFile *f, const StTensor *t, void *out, Error *err) {
    return t->nbytes ? read_at(f, out, t->nbytes, t->offset, err) : 0;
}

/* Elements converted from a chunk of the file's bytes. */
static void convert(StDtype dtype, const uint8_t *p, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case ST_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
            break;
        }
        case ST_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = half_to_float(h);
            break;
        }
        default: { /* ST_BF16 */
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&out[i], &u, 4);
            break;
        }
        }
    }
}

#define ST_CHUNK_BYTES (4u << 20) /* what a conversion reads at a time */

int st_to_f32(const StFile *f, const StTensor *t, float *out, Error *err) {
    if (t->dtype != ST_F32 && t->dtype != ST_F64 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return error_set(err, "tensor '%s' has dtype %s; a floating-point tensor is needed", t->name,
                         st_dtype_name(t->dtype));
    if (t->dtype == ST_F32) /* float32 little-endian, as the machine's: the bytes go straight into out */
        return st_read_bytes(f, t, out, err);
    size_t elem = (size_t)DTYPES[t->dtype].size, per_chunk = ST_CHUNK_BYTES / elem;
    uint8_t *chunk = xmalloc(per_chunk * elem);
    int rc = 0;
    for (int64_t done = 0; done < t->numel && rc == 0;) {
        int64_t n = t->numel - done < (int64_t)per_chunk ? t->numel - done : (int64_t)per_chunk;
        rc = read_at(f, chunk, (size_t)n * elem, t->offset + (uint64_t)done * elem, err);
        if (rc == 0) convert(t->dtype, chunk, n, out + done);
        done += n;
    }
    free(chunk);
    return rc;
}

int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta, Error *err) {
    cJSON *root = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) json_add_str(meta, meta_keys[i], meta_values[i]);
    }
    size_t offset = 0;
    size_t *sizes = xcalloc((size_t)(n > 0 ? n : 1), sizeof *sizes);
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &tensors[i];
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        sizes[i] = numel * (size_t)DTYPES[t->dtype].size;
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        json_add_str(o, "dtype", DTYPES[t->dtype].name);
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, json_num((double)t->shape[d]));
        cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(off, json_num((double)offset));
        cJSON_AddItemToArray(off, json_num((double)(offset + sizes[i])));
        offset += sizes[i];
    }
    char *json = json_print(root, 0);
    cJSON_Delete(root);
    size_t jlen = strlen(json), padded = (jlen + 7) & ~(size_t)7;
    uint8_t hdr[8];
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) {
        free(json);
        free(sizes);
        return -1;
    }
    atomic_write(&a, hdr, 8);
    atomic_write(&a, json, jlen);
    atomic_write(&a, "        ", padded - jlen);
    for (int i = 0; i < n; i++) atomic_write(&a, tensors[i].data, sizes[i]);
    free(json);
    free(sizes);
    return atomic_commit(&a, err);
}
