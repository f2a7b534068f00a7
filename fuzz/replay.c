/*
 * replay.c — runs a fuzz target's LLVMFuzzerTestOneInput over files and
 * folders of inputs without libFuzzer: the regression tests of `make test`
 * (fuzz/CMakeLists.txt) replay the seed corpora and every input that once
 * crashed, in the normal and the ASan+UBSan builds.
 *
 * Outside the sanitizers the address space is capped at 2 GiB, like the
 * fuzzer's -malloc_limit_mb=2048, so an input that makes a parser allocate
 * gigabytes fails here too (as "out of memory").
 *
 * usage: replay_<target> FILE_OR_DIR...   (exit 0 when every input returns)
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return -1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
#ifndef __SANITIZE_ADDRESS__
    struct rlimit as = { (rlim_t)2 << 30, (rlim_t)2 << 30 };
    if (setrlimit(RLIMIT_AS, &as) != 0) perror("replay: setrlimit");
#endif
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or folder: %s\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0) return 2;
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 2;
        }
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (e->d_name[0] == '.') continue;
            names = realloc(names, (n + 1) * sizeof *names);
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[n] = malloc(len);
            snprintf(names[n++], len, "%s/%s", argv[i], e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_name);
        for (size_t k = 0; k < n; k++) {
            if (run_file(names[k]) != 0) return 2;
            files++;
            free(names[k]);
        }
        free(names);
    }
    printf("replay: %d inputs, no crash\n", files);
    return files > 0 ? 0 : 2;
}
