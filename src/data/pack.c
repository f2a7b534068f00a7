/*
 * pack.c — opening and reading packed datasets (see pack.h). Nothing in a
 * pack can crash the reader: every offset and count is checked against the
 * file before it is used.
 */
#include "data/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

/* Far above any real dataset; keeps every size computation small. */
#define PACK_MAX_RECORDS (1LL << 32)
#define PACK_MAX_CLASSES 1000000

int pack_sniff(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    char m[8];
    ssize_t r = read(fd, m, sizeof m);
    close(fd);
    return r == (ssize_t)sizeof m && memcmp(m, PACK_MAGIC, sizeof m) == 0;
}

/* Splits a block of NUL-terminated strings into exactly n pointers. */
static int split_names(const uint8_t *block, uint64_t len, int64_t n, const char **out) {
    if (len == 0 || block[len - 1] != 0) return -1;
    uint64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pos >= len) return -1;
        const char *s = (const char *)block + pos;
        size_t l = strlen(s); /* stops at the block's final NUL at the latest */
        if (l == 0) return -1;
        out[i] = s;
        pos += l + 1;
    }
    return pos == len ? 0 : -1;
}

static uint32_t crc_of(uint32_t crc, const uint8_t *p, uint64_t n) { return (uint32_t)crc32_z(crc, p, (z_size_t)n); }

int pack_open_mem(Pack *p, const char *name, const uint8_t *d, size_t size, Error *err) {
    memset(p, 0, sizeof *p);
    if (size < 12 || memcmp(d, PACK_MAGIC, 8) != 0)
        return error_set(err, "%s is not an alexnet pack (no %s magic; make one with alexnet prepare pack)", name,
                         PACK_MAGIC);
    uint32_t version = pack_get32(d + PH_VERSION);
    if (version != PACK_VERSION)
        return error_set(err,
                         "%s is a version %u pack; this alexnet reads version %u: re-create it with this "
                         "alexnet's prepare pack",
                         name, version, PACK_VERSION);
    if (size < PACK_HEADER_BYTES)
        return error_set(err, "%s is truncated: %zu bytes, less than its %u-byte header; re-create it", name, size,
                         PACK_HEADER_BYTES);
    if (crc_of(0, d, PH_CRC) != pack_get32(d + PH_CRC))
        return error_set(err, "%s: the header's CRC32 does not match (a damaged pack); re-create it", name);
    uint64_t nclasses = pack_get32(d + PH_CLASSES), n = pack_get64(d + PH_RECORDS);
    uint64_t coff = pack_get64(d + PH_CLASSES_OFF), clen = pack_get64(d + PH_CLASSES_LEN);
    uint64_t noff = pack_get64(d + PH_NAMES_OFF), nlen = pack_get64(d + PH_NAMES_LEN);
    uint64_t ioff = pack_get64(d + PH_INDEX_OFF), doff = pack_get64(d + PH_DATA_OFF);
    uint64_t fbytes = pack_get64(d + PH_FILE_BYTES);
    uint32_t mode = pack_get32(d + PH_MODE), info_len = pack_get32(d + PH_INFO_LEN);
    /* Every offset and length is below 2^60, so no sum of two or three of them wraps. */
    const uint64_t lim = 1ULL << 60;
    if (pack_get32(d + PH_HEADER_BYTES) != PACK_HEADER_BYTES || (mode != PACK_ENCODED && mode != PACK_RAW) ||
        nclasses < 1 || nclasses > PACK_MAX_CLASSES || n < 1 || n > (uint64_t)PACK_MAX_RECORDS ||
        info_len > PACK_INFO_MAX || d[PH_INFO + info_len] != 0 || coff != PACK_HEADER_BYTES || clen > lim ||
        noff > lim || nlen > lim || ioff > lim || fbytes > lim || noff < coff + clen || ioff < noff + nlen ||
        doff < ioff + n * PACK_RECORD_BYTES || doff > fbytes || nclasses > clen || n > nlen)
        return error_set(err,
                         "%s: the header's fields are inconsistent (a damaged pack or a bug in its writer); "
                         "re-create it",
                         name);
    if (doff > size)
        return error_set(err, "%s is truncated: %zu of %llu bytes, and its index is lost with the end; re-create it",
                         name, size, (unsigned long long)fbytes);
    uint32_t crc = crc_of(0, d + coff, clen);
    crc = crc_of(crc, d + noff, nlen);
    crc = crc_of(crc, d + ioff, n * PACK_RECORD_BYTES);
    if (crc != pack_get32(d + PH_META_CRC))
        return error_set(err,
                         "%s: the CRC32 of its class names, file names and index does not match (a damaged "
                         "pack); re-create it",
                         name);

    p->classes = xmalloc(sizeof *p->classes * nclasses);
    p->names = xmalloc(sizeof *p->names * n);
    if (split_names(d + coff, clen, (int64_t)nclasses, (const char **)p->classes) != 0 ||
        split_names(d + noff, nlen, (int64_t)n, p->names) != 0) {
        pack_close(p);
        return error_set(err, "%s: its class or file names do not match the header's counts; re-create it", name);
    }
    /* every label in range, and every class with a record: a model is sized
     * from the class count, and a folder refuses an empty class too */
    int64_t *per_class = xcalloc(nclasses, sizeof *per_class);
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = d + ioff + i * PACK_RECORD_BYTES;
        uint32_t label = pack_get32(e + 12);
        if (label >= nclasses) {
            error_set(err, "%s: record %llu (%s) has label %u, but there are %llu classes; re-create it", name,
                      (unsigned long long)i, p->names[i], label, (unsigned long long)nclasses);
            free(per_class);
            pack_close(p);
            return -1;
        }
        per_class[label]++;
    }
    for (uint64_t c = 0; c < nclasses; c++)
        if (per_class[c] == 0) {
            error_set(err,
                      "%s: class %llu (%s) of its %llu has no image; a class needs images (a data folder refuses "
                      "an empty class folder too): re-create the pack",
                      name, (unsigned long long)c, p->classes[c], (unsigned long long)nclasses);
            free(per_class);
            pack_close(p);
            return -1;
        }
    free(per_class);
    p->path = xstrdup(name);
    p->map = d;
    p->size = size;
    p->mode = (PackMode)mode;
    p->quality = (int)pack_get32(d + PH_QUALITY);
    p->max_side = (int)pack_get32(d + PH_MAX_SIDE);
    p->short_side = (int)pack_get32(d + PH_SHORT_SIDE);
    p->n_classes = (int)nclasses;
    p->n = (int64_t)n;
    p->index = d + ioff;
    p->skipped = (int64_t)pack_get64(d + PH_SKIPPED);
    memcpy(p->info, d + PH_INFO, info_len + 1);
    p->checked = xcalloc(n, sizeof *p->checked);
    if (size < fbytes)
        warnf("%s is truncated (%zu of %llu bytes): the records past its end will be skipped as bad", name, size,
              (unsigned long long)fbytes);
    return 0;
}

static uint64_t page_size(void) {
    long s = sysconf(_SC_PAGESIZE);
    return s > 0 ? (uint64_t)s : 4096;
}

/* The pages of [off, off + n) of the mapping: whole pages around it. */
static void record_pages(const Pack *p, uint64_t off, uint64_t n, uint8_t **start, size_t *len) {
    uint64_t page = page_size(), a = off & ~(page - 1), b = (off + n + page - 1) & ~(page - 1);
    if (b > p->size) b = p->size;
    *start = (uint8_t *)p->map + a;
    *len = (size_t)(b - a);
}

int pack_open(Pack *p, const char *path, Error *err) {
    memset(p, 0, sizeof *p);
    int64_t file_size;
    int fd = open_regular_file(path, &file_size, err);
    if (fd < 0) return -1;
    if (file_size < 12) {
        close(fd);
        return error_set(err, "%s is not an alexnet pack (%lld bytes; make one with alexnet prepare pack)", path,
                         (long long)file_size);
    }
    size_t size = (size_t)file_size;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return error_set(err, "cannot map %s: %s", path, strerror(e));
    /* Records are read in a random order, each once an epoch: the kernel's
     * readahead around a fault (here up to 8 MB) would read many times the
     * bytes a record needs (1,000 random records of 26 KB cost 2.2 GB of
     * reads), harmless while the pack fits in the page cache, thrashing when
     * it does not. So no readahead: the metadata (header, classes, names,
     * index: everything before the data) is asked for in one read, and
     * pack_read asks for each record's own pages. */
    madvise(m, size, MADV_RANDOM);
    uint64_t doff = size >= PH_DATA_OFF + 8 ? pack_get64((const uint8_t *)m + PH_DATA_OFF) : 0;
    madvise(m, doff > 0 && doff < size ? (size_t)doff : size, MADV_WILLNEED);
    if (pack_open_mem(p, path, m, size, err) != 0) {
        munmap(m, size);
        return -1;
    }
    p->map_owned = 1;
    return 0;
}

void pack_done(const Pack *p, int64_t i) {
    if (!p->map_owned || i < 0 || i >= p->n) return;
    PackRecord r;
    pack_record(p, i, &r);
    if (r.offset >= p->size || r.size > p->size - r.offset) return;
    /* a private read-only file mapping: a page dropped here that a
     * neighbouring record still reads is faulted in again from the file */
    uint8_t *start;
    size_t len;
    record_pages(p, r.offset, r.size, &start, &len);
    madvise(start, len, MADV_DONTNEED);
}

void pack_close(Pack *p) {
    if (!p) return;
    if (p->map_owned) munmap((void *)p->map, p->size);
    free(p->classes);
    free(p->names);
    free(p->path);
    free((void *)p->checked);
    memset(p, 0, sizeof *p);
}

void pack_record(const Pack *p, int64_t i, PackRecord *r) {
    const uint8_t *e = p->index + (uint64_t)i * PACK_RECORD_BYTES;
    r->offset = pack_get64(e);
    r->size = pack_get32(e + 8);
    r->label = pack_get32(e + 12);
    r->width = pack_get32(e + 16);
    r->height = pack_get32(e + 20);
    r->crc = pack_get32(e + 24);
}

int pack_read(Pack *p, int64_t i, const uint8_t **data, PackRecord *r, Error *err) {
    pack_record(p, i, r);
    uint64_t doff = pack_get64(p->map + PH_DATA_OFF);
    if (r->size == 0 || r->offset < doff || r->offset > p->size || r->size > p->size - r->offset)
        return error_set(err, "%s/%s: the record (%u bytes at %llu) lies %s", p->path, p->names[i], r->size,
                         (unsigned long long)r->offset,
                         r->size && r->offset >= doff ? "past the end of the pack (a truncated file?)"
                                                      : "outside the data section (a damaged pack)");
    if (p->mode == PACK_RAW && (r->width < 1 || r->height < 1 || r->width > 65535 || r->height > 65535 ||
                                (uint64_t)r->width * r->height * 3 != r->size))
        return error_set(err, "%s/%s: a raw record of %u bytes cannot be %ux%u RGB (a damaged pack)", p->path,
                         p->names[i], r->size, r->width, r->height);
    const uint8_t *b = p->map + r->offset;
    if (p->map_owned) { /* one read of the record's pages, asynchronous, instead of a fault per page */
        uint8_t *start;
        size_t len;
        record_pages(p, r->offset, r->size, &start, &len);
        madvise(start, len, MADV_WILLNEED);
    }
    if (!atomic_load_explicit(&p->checked[i], memory_order_relaxed)) {
        uint32_t got = crc_of(0, b, r->size);
        if (got != r->crc)
            return error_set(err, "%s/%s: CRC32 mismatch (stored %08x, data %08x): a damaged record", p->path,
                             p->names[i], r->crc, got);
        atomic_store_explicit(&p->checked[i], 1, memory_order_relaxed);
    }
    *data = b;
    return 0;
}
