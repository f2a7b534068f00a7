/*
 * atomic_file.c — atomic file replacement (see atomic_file.h).
 */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

int atomic_open(AtomicFile *a, const char *path, Error *err) {
    memset(a, 0, sizeof *a);
    if (strlen(path) + 32 >= sizeof a->tmp) return error_set(err, "path too long: %s", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) return error_set(err, "cannot write %s: %s", a->tmp, strerror(errno));
    return 0;
}

void atomic_write(AtomicFile *a, const void *data, size_t n) {
    if (a->failed || n == 0) return;
    if (fwrite(data, 1, n, a->f) != n) a->failed = errno ? errno : EIO;
}

void atomic_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
}

int atomic_commit(AtomicFile *a, Error *err) {
    int e = a->failed;
    if (!e && fflush(a->f) != 0) e = errno;
    if (!e && fsync(fileno(a->f)) != 0) e = errno;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    if (!e && rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        unlink(a->tmp);
        return error_set(err, "cannot write %s: %s (the previous file, if any, is unchanged)", a->path, strerror(e));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", a->path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

int atomic_write_text(const char *path, const char *text, Error *err) {
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) return -1;
    atomic_write(&a, text, strlen(text));
    return atomic_commit(&a, err);
}
