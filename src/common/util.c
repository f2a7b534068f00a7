/*
 * util.c — error reporting, checked allocation, folders and the clock (see util.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void (*fatal_hook)(int code);
static int log_rank = -1;
static const char *log_command;

void set_fatal_hook(void (*hook)(int code)) { fatal_hook = hook; }
void set_log_rank(int rank) { log_rank = rank; }
static const char *g_program = "alexnet";

void set_program_path(const char *argv0) {
    if (argv0 && *argv0) g_program = argv0;
}

const char *program_path(void) { return g_program; }

void set_log_command(const char *cmd) { log_command = cmd; }

/* "alexnet[ CMD][ [rank N]]: KIND: " */
static void prefix(const char *kind) {
    fprintf(stderr, "alexnet%s%s", log_command ? " " : "", log_command ? log_command : "");
    if (log_rank >= 0) fprintf(stderr, " [rank %d]", log_rank);
    fprintf(stderr, ": %s: ", kind);
}

static void message(const char *kind, const char *fmt, va_list ap) {
    fflush(stdout);
    prefix(kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
}

int error_set(Error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->msg) { /* said as cut, at a character boundary, never cut silently */
            size_t end = sizeof err->msg - 4;
            while (end > 0 && ((unsigned char)err->msg[end] & 0xC0) == 0x80) end--;
            memcpy(err->msg + end, "...", 4);
        }
    }
    return -1;
}

void fatal_at(const char *file, int line, const char *fmt, ...) {
    fflush(stdout);
    prefix("fatal");
    fprintf(stderr, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (fatal_hook) fatal_hook(1);
    exit(1);
}

void errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    message("error", fmt, ap);
    va_end(ap);
}

void warnf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    message("warning", fmt, ap);
    va_end(ap);
}

void notef(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    message("note", fmt, ap);
    va_end(ap);
}

void *malloc_check(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) fatal_at(file, line, "out of memory allocating %zu bytes", size);
    return p;
}

void *calloc_check(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) fatal_at(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *aligned_alloc_check(size_t size, const char *file, int line) {
    void *p = NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        fatal_at(file, line, "out of memory allocating %zu aligned bytes", size);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *strdup_check(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *d = malloc_check(n, file, line);
    memcpy(d, s, n);
    return d;
}

char *xvasprintf(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    CHECK(n >= 0, "vsnprintf failed on \"%s\"", fmt);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

/* The first number in a one-line file; -1 when absent or not a number ("max"). */
static int64_t read_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long v = -1;
    if (fscanf(f, "%lld", &v) != 1) v = -1;
    fclose(f);
    return v;
}

int64_t memory_available(void) {
    int64_t avail = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long long kb;
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) avail = (int64_t)kb * 1024;
    }
    if (f) fclose(f);
    static const char *const limits[][2] = {
        { "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current" },
        { "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes" },
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        int64_t limit = read_number(limits[i][0]), used = read_number(limits[i][1]);
        if (limit <= 0 || used < 0 || limit >= ((int64_t)1 << 60)) continue; /* no limit */
        int64_t left = limit > used ? limit - used : 0;
        if (avail < 0 || left < avail) avail = left;
    }
    return avail;
}

/* A plain decimal at p ("12", "0.5", ".5": digits with at most one point),
 * its length, or 0: no sign, exponent, hex or "inf" (strtod's extras). */
static size_t decimal_span(const char *p) {
    size_t n = 0, digits = 0, points = 0;
    for (; (p[n] >= '0' && p[n] <= '9') || p[n] == '.'; n++) {
        if (p[n] == '.') points++;
        else digits++;
    }
    return digits > 0 && points <= 1 ? n : 0;
}

int parse_duration(const char *text, double *seconds) {
    static const char units[] = "hms";
    static const double unit_seconds[] = { 3600, 60, 1 };
    const char *p = text;
    double total = 0;
    int parts = 0, next_unit = 0; /* units in the order h, m, s, each at most once */
    while (*p) {
        size_t n = decimal_span(p);
        if (n == 0) return -1;
        double v = strtod(p, NULL);
        p += n;
        if (*p == 0) { /* a bare number: plain seconds, and only on its own */
            if (parts > 0) return -1;
            total = v;
            parts++;
            break;
        }
        const char *u = strchr(units, *p);
        if (!u || (int)(u - units) < next_unit) return -1;
        next_unit = (int)(u - units) + 1;
        total += v * unit_seconds[u - units];
        parts++;
        p++;
    }
    if (parts == 0 || !isfinite(total)) return -1;
    *seconds = total;
    return 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mkdir_p(const char *path, Error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return error_set(err, "bad folder name '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return error_set(err, "cannot create folder %s: %s", buf, strerror(errno));
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return error_set(err, "%s exists and is not a folder", buf);
        buf[i] = c;
    }
    return 0;
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    return xasprintf("%.*s%s%s", (int)n, dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void first_error_keep(FirstError *f, const Error *e) {
#pragma omp critical(alexnet_first_error)
    if (!f->failed) {
        f->err = *e;
#pragma omp atomic write
        f->failed = 1;
    }
}

int first_error_seen(FirstError *f) {
    int v;
#pragma omp atomic read
    v = f->failed;
    return v;
}

int open_regular_file(const char *path, int64_t *size, Error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return error_set(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        return error_set(err, "cannot read %s: %s", path, dir ? "it is a directory" : "not a regular file");
    }
    *size = (int64_t)st.st_size;
    return fd;
}

FILE *fopen_regular(const char *path, Error *err) {
    int64_t size;
    int fd = open_regular_file(path, &size, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        error_set(err, "cannot read %s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

int cpu_count_online(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The cgroup's CPU quota in CPUs (quota / period, rounded up); 0 when none. */
static int cgroup_cpus(void) {
    long long quota = -1, period = 0;
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r"); /* v2: "max 100000" or "200000 100000" */
    if (f) {
        char q[32] = "";
        if (fscanf(f, "%31s %lld", q, &period) == 2 && strcmp(q, "max") != 0) quota = atoll(q);
        fclose(f);
    } else {
        quota = read_number("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); /* v1; -1 when unlimited */
        period = read_number("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    }
    if (quota <= 0 || period <= 0) return 0;
    return (int)((quota + period - 1) / period);
}

int cpu_count(void) {
    int n = cpu_count_online();
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = CPU_COUNT(&set);
    int quota = cgroup_cpus();
    if (quota > 0 && quota < n) n = quota;
    return n > 0 ? n : 1;
}
