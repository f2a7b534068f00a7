/*
 * fuzz_idx.c — libFuzzer target: the IDX reader of `prepare fashion-mnist`
 * (plain or gzip files) on arbitrary bytes. The first byte picks the rank
 * the caller expects (1..4); the rest is the file.
 */
#include <stdint.h>

#include "data/idx.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int ndim = 1 + data[0] % 4;
    const char *path = fuzz_write_file("idx", data + 1, size - 1);
    IdxArray a;
    Error err;
    if (idx_read(path, ndim, &a, &err) == 0) idx_free(&a);
    return 0;
}
