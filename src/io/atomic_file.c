/*
 * atomic_file.c — atomic file replacement (see atomic_file.h).
 */
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/env.h"

/* ALEXNET_KILL_AT_WRITE=N: SIGKILL at the N-th of the phases below, counted
 * over the process's writes, so a test can kill a save at each moment of
 * it: the temporary file made, written to, complete before its rename, and
 * renamed into place. */
static void phase(void) {
    static int count;
    int at = env_switches()->kill_at_write;
    if (at > 0 && ++count == at) raise(SIGKILL);
}

static void release(AtomicFile *a) {
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
}

int atomic_open(AtomicFile *a, const char *path, Error *err) {
    memset(a, 0, sizeof *a);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return error_set(err, "%s is a folder: give the path of the file to write in it", path);
    a->path = xstrdup(path);
    a->tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    unlink(a->tmp); /* a leftover of a killed process that had this pid */
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) close(fd);
        error_set(err, "cannot write %s: %s%s", path, strerror(e),
                  e == ENOENT ? " (its folder does not exist)" : "");
        release(a);
        return -1;
    }
    phase();
    return 0;
}

void atomic_write(AtomicFile *a, const void *data, size_t n) {
    if (a->failed || n == 0) return;
    if (fwrite(data, 1, n, a->f) != n) a->failed = errno ? errno : EIO;
    if (!a->written++) {
        fflush(a->f);
        phase();
    }
}

void atomic_printf(AtomicFile *a, const char *fmt, ...) {
    if (a->failed) return;
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    atomic_write(a, text, strlen(text));
    free(text);
}

void atomic_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp) unlink(a->tmp);
    release(a);
}

int atomic_commit(AtomicFile *a, Error *err) {
    int e = a->failed;
    if (!e && fflush(a->f) != 0) e = errno;
    if (!e && fsync(fileno(a->f)) != 0) e = errno;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    if (!e) phase();
    if (!e && rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        unlink(a->tmp);
        error_set(err, "cannot write %s: %s (the previous file, if any, is unchanged)", a->path, strerror(e));
        release(a);
        return -1;
    }
    char *dir = xstrdup(a->path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
    release(a);
    phase();
    return 0;
}

int atomic_write_text(const char *path, const char *text, Error *err) {
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) return -1;
    atomic_write(&a, text, strlen(text));
    return atomic_commit(&a, err);
}

/* The PID of a NAME.tmp.PID file name, or -1 when it is not one. */
static long tmp_pid(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t) return -1;
    while (strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp.");
    const char *digits = t + 5;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9) return -1;
    return atol(digits);
}

int atomic_remove_stale(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = tmp_pid(e->d_name);
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0) removed++;
        free(path);
    }
    closedir(d);
    return removed;
}
