/*
 * idx.c — IDX reading through zlib's gzread (see idx.h).
 */
#include "data/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define IDX_MAX_BYTES   (1LL << 32)
#define IDX_FIRST_CHUNK ((size_t)1 << 20)

/* Reads exactly n bytes; 0, or -1 if the file ends first or is corrupt. */
static int read_exact(gzFile f, void *dst, size_t n, const char *path, const char *what, Error *err) {
    uint8_t *p = dst;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got < 0) {
            int e;
            const char *msg = gzerror(f, &e);
            return error_set(err, "%s: corrupt gzip data while reading the %s: %s", path, what, msg);
        }
        if (got == 0) return error_set(err, "%s: file ends early (in the %s)", path, what);
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int idx_read(const char *path, int ndim, IdxArray *a, Error *err) {
    memset(a, 0, sizeof *a);
    CHECK(ndim >= 1 && ndim <= 4, "idx_read: ndim %d", ndim);
    int64_t file_size;
    int fd = open_regular_file(path, &file_size, err);
    if (fd < 0) return -1;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return error_set(err, "cannot open %s: out of memory", path);
    }
    uint8_t magic[4];
    if (read_exact(f, magic, 4, path, "header", err) != 0) goto fail;
    if (magic[0] != 0 || magic[1] != 0) {
        error_set(err, "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 08 %02x)", path, magic[0],
                  magic[1], magic[2], magic[3], ndim);
        goto fail;
    }
    if (magic[2] != 0x08) {
        error_set(err, "%s: IDX data type 0x%02x, expected 0x08 (unsigned bytes)", path, magic[2]);
        goto fail;
    }
    if (magic[3] != ndim) {
        error_set(err, "%s: IDX file has %d dimensions, expected %d", path, magic[3], ndim);
        goto fail;
    }
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        uint8_t b[4];
        if (read_exact(f, b, 4, path, "header", err) != 0) goto fail;
        int64_t d = ((int64_t)b[0] << 24) | ((int64_t)b[1] << 16) | ((int64_t)b[2] << 8) | b[3];
        if (d <= 0 || d > (1 << 24)) {
            error_set(err, "%s: IDX size %lld of dimension %d is out of range", path, (long long)d, i);
            goto fail;
        }
        a->dims[i] = d;
        total *= d;
        if (total > IDX_MAX_BYTES) {
            error_set(err, "%s: IDX header declares more than %lld bytes", path, (long long)IDX_MAX_BYTES);
            goto fail;
        }
    }
    a->ndim = ndim;
    a->size = (size_t)total;
    /* The buffer grows with the data actually read, so a few header bytes
     * declaring gigabytes cost no more memory than the file holds. */
    size_t cap = a->size < IDX_FIRST_CHUNK ? a->size : IDX_FIRST_CHUNK, have = 0;
    a->data = xmalloc(cap);
    while (have < a->size) {
        if (have == cap) {
            cap = cap * 2 < a->size ? cap * 2 : a->size;
            uint8_t *p = realloc(a->data, cap);
            if (!p) {
                error_set(err, "%s: not enough memory for the %lld bytes its header declares", path, (long long)total);
                goto fail;
            }
            a->data = p;
        }
        if (read_exact(f, a->data + have, cap - have, path, "data", err) != 0) goto fail;
        have = cap;
    }
    uint8_t extra;
    int more = gzread(f, &extra, 1);
    if (more != 0) {
        error_set(err, "%s: %s after the %lld bytes the header declares", path,
                  more < 0 ? "corrupt data" : "extra data", (long long)total);
        goto fail;
    }
    gzclose(f);
    return 0;
fail:
    gzclose(f);
    idx_free(a);
    return -1;
}

void idx_free(IdxArray *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}
