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
    [ST_I64] = { "I64", 8 }, [ST_I32] = { "I32", 4 }, [ST_U8] = { "U8", 1 },
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
    free(f->bytes);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int read_all(StFile *f, const char *path, Error *err) {
    int64_t file_size;
    int fd = open_regular_file(path, &file_size, err);
    if (fd < 0) {
        if (strstr(err->msg, "cannot read"))
            strncat(err->msg, " (a .safetensors file is needed)", sizeof err->msg - strlen(err->msg) - 1);
        return -1;
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return error_set(err, "cannot open %s: out of memory", path);
    }
    if ((uint64_t)file_size > (uint64_t)SIZE_MAX / 2) {
        fclose(fp);
        return error_set(err, "cannot read %s: file of %lld bytes is too large", path, (long long)file_size);
    }
    f->size = (size_t)file_size;
    f->bytes = malloc(f->size ? f->size : 1);
    if (!f->bytes) {
        fclose(fp);
        return error_set(err, "cannot read %s: not enough memory for its %zu bytes", path, f->size);
    }
    size_t got = fread(f->bytes, 1, f->size, fp);
    int extra = got == f->size && fgetc(fp) != EOF;
    fclose(fp);
    if (got != f->size || extra) return error_set(err, "cannot read %s: it changed size while being read", path);
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

static int parse_tensor(StTensor *t, const cJSON *item, const uint8_t *data, size_t data_size, const char *path,
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
    t->data = data + b;
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
    if (read_all(f, path, err) != 0) goto fail;
    if (f->size < 8) {
        error_set(err, "%s: not a safetensors file (%zu bytes, too short)", path, f->size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->bytes[i];
    if (hlen > ST_MAX_HEADER || 8 + hlen > f->size) {
        error_set(err, "%s: not a safetensors file or truncated (header of %llu bytes, file of %zu)", path,
                  (unsigned long long)hlen, f->size);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)f->bytes + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        error_set(err, "%s: the safetensors header is not a valid JSON object", path);
        goto fail;
    }
    const uint8_t *data = f->bytes + 8 + hlen;
    size_t data_size = f->size - 8 - (size_t)hlen;
    int count = cJSON_GetArraySize(root);
    f->tensors = xcalloc((size_t)count, sizeof *f->tensors);
    ranges = xcalloc((size_t)count, sizeof *ranges);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (read_metadata(f, item, path, err) != 0) goto fail;
            continue;
        }
        if (parse_tensor(&f->tensors[f->n], item, data, data_size, path, err) != 0) goto fail;
        ranges[f->n].begin = (size_t)(f->tensors[f->n].data - data);
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
    return 0;
fail:
    cJSON_Delete(root);
    free(ranges);
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

int st_to_f32(const StTensor *t, float *out, Error *err) {
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case ST_F32: memcpy(&out[i], p + 4 * i, 4); break;
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
        case ST_BF16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&out[i], &u, 4);
            break;
        }
        default:
            return error_set(err, "tensor '%s' has dtype %s; a floating-point tensor is needed", t->name,
                             st_dtype_name(t->dtype));
        }
    }
    return 0;
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
