/*
 * pack.h — the packed dataset file: one file holding an ImageFolder's images
 * (re-encoded at a bounded size, or raw RGB), their labels and class names,
 * read with mmap. Made by `alexnet prepare pack` (pack_write.c); read
 * wherever a folder is accepted (dataset.c hands the records to the loader).
 *
 * Layout (little-endian; offsets from the start of the file):
 *   [0, 4096)      header: magic "ALEXPACK", format version, how the pack was
 *                  made (mode, quality, size bound, a JSON "info" text), the
 *                  section offsets, the expected file size, the CRC32 of the
 *                  metadata sections, and its own CRC32 in the last 4 bytes
 *   classes        class names, each NUL-terminated, in label order
 *   names          each record's path relative to the source folder, NUL-terminated
 *   index          n records of 32 bytes: u64 offset, u32 size, u32 label,
 *                  u32 width, u32 height, u32 CRC32 (zlib's) of the bytes, u32 0
 *   (slack)        room reserved for source files that turned out bad
 *   data           the records' bytes, in index order
 * The metadata sit before the data, so a truncated pack keeps its index: the
 * records past the end are bad records (named and skipped like bad image
 * files), the rest are usable.
 *
 * A record is a JPEG or PNG file (stored as it was when no downscaling was
 * needed), or raw RGB (width*height*3 bytes) in a raw pack.
 */
#ifndef ALEXNET_PACK_H
#define ALEXNET_PACK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define PACK_MAGIC        "ALEXPACK"
#define PACK_VERSION      1u
#define PACK_HEADER_BYTES 4096u
#define PACK_RECORD_BYTES 32u
/* Header field offsets. */
enum {
    PH_VERSION = 8,
    PH_HEADER_BYTES = 12,
    PH_MODE = 16,
    PH_QUALITY = 20,
    PH_MAX_SIDE = 24,
    PH_SHORT_SIDE = 28,
    PH_CLASSES = 32,
    PH_RECORDS = 40,
    PH_SKIPPED = 48,
    PH_CLASSES_OFF = 56,
    PH_CLASSES_LEN = 64,
    PH_NAMES_OFF = 72,
    PH_NAMES_LEN = 80,
    PH_INDEX_OFF = 88,
    PH_DATA_OFF = 96,
    PH_FILE_BYTES = 104,
    PH_META_CRC = 112,
    PH_INFO_LEN = 116,
    PH_INFO = 120,
    PH_CRC = PACK_HEADER_BYTES - 4
};
#define PACK_INFO_MAX (PH_CRC - PH_INFO - 1)

typedef enum { PACK_ENCODED = 1, PACK_RAW = 2 } PackMode;

typedef struct {
    uint64_t offset;
    uint32_t size, label, width, height, crc;
} PackRecord;

typedef struct {
    char *path;
    const uint8_t *map; /* the whole file, read-only */
    size_t size;        /* bytes mapped (the file's size) */
    int map_owned;      /* 1: munmap on close (pack_open) */
    PackMode mode;
    int quality, max_side, short_side;
    int n_classes;
    char **classes; /* [n_classes], pointers into the map */
    int64_t n;
    const char **names; /* [n] relative paths, pointers into the map */
    const uint8_t *index;
    int64_t skipped; /* source files left out when packing */
    char info[PACK_INFO_MAX + 1];
    atomic_uchar *checked; /* [n] 1: CRC verified once already */
} Pack;

/* 1 if the file at path starts with the pack magic (so is meant as a pack). */
int pack_sniff(const char *path);

/* Maps and checks a pack: magic, version, header and metadata CRCs, sections
 * inside the file, labels below the class count. -1 with a message naming
 * the file and what is wrong (a truncated file whose index survives opens,
 * with a warning; its lost records fail pack_read). */
int pack_open(Pack *p, const char *path, Error *err);
/* The same on bytes in memory (the fuzz target); data must outlive the pack. */
int pack_open_mem(Pack *p, const char *name, const uint8_t *data, size_t size, Error *err);
void pack_close(Pack *p);

/* Record i's index entry (no checks on the bytes). */
void pack_record(const Pack *p, int64_t i, PackRecord *r);
/* Record i's bytes: inside the file, and (the first time) matching their
 * CRC32. 0, or -1 with err naming "PACK/name" and the problem. */
int pack_read(Pack *p, int64_t i, const uint8_t **data, PackRecord *r, Error *err);
/* The caller is done with record i's bytes: its pages leave this process's
 * memory (they stay in the page cache while the kernel keeps them there). */
void pack_done(const Pack *p, int64_t i);

/* Little-endian field access shared by the reader and the writer. */
static inline uint32_t pack_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t pack_get64(const uint8_t *p) {
    return (uint64_t)pack_get32(p) | (uint64_t)pack_get32(p + 4) << 32;
}
static inline void pack_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void pack_put64(uint8_t *p, uint64_t v) {
    pack_put32(p, (uint32_t)v);
    pack_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
