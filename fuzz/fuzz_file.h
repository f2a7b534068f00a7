/*
 * fuzz_file.h — puts a fuzz input into a file, for the parsers that take a
 * path (they are fuzzed through their real entry points, file reading
 * included). The file is an in-memory one (memfd) opened by its
 * /proc/self/fd path: no disk traffic, nothing left behind.
 */
#ifndef ALEXNET_FUZZ_FILE_H
#define ALEXNET_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static inline const char *fuzz_write_file(const char *tag, const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create(tag, 0);
        if (fd < 0) {
            perror("fuzz: memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        perror("fuzz: writing the input");
        abort();
    }
    return path;
}

#endif
