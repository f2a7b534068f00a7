/*
 * fuzz_pack.c — libFuzzer target: the pack reader (data/pack.c) through its
 * real entry points — dataset_scan() of a file (sniff, mmap, header, class
 * and file names, index), dataset_source() of every record (bounds, CRC32)
 * and the eval and train transforms on what it returns (JPEG, PNG or raw).
 *
 * Input: 1 parameter byte, then the pack file. The CRC32s would stop almost
 * every mutation at the header, so p[0] says which ones to recompute over the
 * mutated bytes first: bit 0 the header's, bit 1 the metadata's (with the
 * header's fuzzed offsets, when inside the input), bit 2 every record's.
 * Pixel limit 1 M and at most 8 records per input, so any input finishes
 * quickly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "data/dataset.h"
#include "data/pack.h"
#include "data/sample.h"
#include "fuzz_file.h"

#define FUZZ_MAX_PIXELS (1LL << 20)
static SampleWorker *worker;
static uint8_t out[32 * 32 * 3 * sizeof(float)];

static int inside(uint64_t off, uint64_t len, size_t size) { return off <= size && len <= size - off; }

/* Recomputes the CRCs p[0] asks for, in place. */
static void fix_crcs(uint8_t *d, size_t size, int what) {
    if (size < PACK_HEADER_BYTES) return;
    uint64_t coff = pack_get64(d + PH_CLASSES_OFF), clen = pack_get64(d + PH_CLASSES_LEN);
    uint64_t noff = pack_get64(d + PH_NAMES_OFF), nlen = pack_get64(d + PH_NAMES_LEN);
    uint64_t ioff = pack_get64(d + PH_INDEX_OFF), n = pack_get64(d + PH_RECORDS);
    if ((what & 4) && n < (1u << 20) && inside(ioff, n * PACK_RECORD_BYTES, size)) {
        for (uint64_t i = 0; i < n; i++) {
            uint8_t *e = d + ioff + i * PACK_RECORD_BYTES;
            uint64_t off = pack_get64(e), len = pack_get32(e + 8);
            if (inside(off, len, size)) pack_put32(e + 24, (uint32_t)crc32_z(0, d + off, len));
        }
    }
    if ((what & 2) && n < (1u << 20) && inside(coff, clen, size) && inside(noff, nlen, size) &&
        inside(ioff, n * PACK_RECORD_BYTES, size)) {
        uint32_t c = (uint32_t)crc32_z(0, d + coff, clen);
        c = (uint32_t)crc32_z(c, d + noff, nlen);
        pack_put32(d + PH_META_CRC, (uint32_t)crc32_z(c, d + ioff, n * PACK_RECORD_BYTES));
    }
    if (what & 1) pack_put32(d + PH_CRC, (uint32_t)crc32_z(0, d, PH_CRC));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!worker) {
        SampleConfig cfg = { .image_size = 32, .scale_min = 0.08f, .color_jitter = 1, .max_pixels = FUZZ_MAX_PIXELS };
        worker = sample_worker_create(&cfg);
    }
    size_t n = size - 1;
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, data + 1, n);
    fix_crcs(copy, n, data[0]);
    const char *path = fuzz_write_file("pack", copy, n);
    free(copy);
    Dataset ds;
    Error err;
    if (dataset_scan(&ds, path, &err) != 0) return 0;
    for (int64_t i = 0; i < ds.n && i < 8; i++) {
        ImageSource src;
        if (dataset_source(&ds, i, &src, &err) != 0) continue;
        if (i % 2 == 0) {
            sample_eval_src(worker, &src, out, INPUT_F32_NCHW, &err);
        } else {
            AugmentKey key = { 1, 0, (uint32_t)i, 0 };
            sample_train_src(worker, &src, &key, NULL, out, INPUT_U8_NHWC, &err);
        }
    }
    dataset_free(&ds);
    return 0;
}
