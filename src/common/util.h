/*
 * util.h — failure handling shared by every part of alexnet.c, checked
 * allocation, folders and the clock.
 *
 * Two kinds of failure, two tools (docs/ARCHITECTURE.md, "Errors"):
 *  - Internal/library failures that must never happen in a correct program
 *    (out of memory, a failed fwrite, a library call that errors): the CHECK
 *    family prints file:line plus the reason and exits with status 1.
 *  - Failures a user can cause (bad flag, bad file): functions report them
 *    through an `Error` so the caller decides; the CLI prints one line with
 *    errorf ("alexnet CMD: error: what and where; what to do") and exits
 *    with status 2 (cli_usage_error), or 1 when a run failed midway.
 */
#ifndef ALEXNET_UTIL_H
#define ALEXNET_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define ALX_VERSION "0.1.0"

/* A macro's value as a string literal: STRINGIFY(NET_MIN_IMAGE) is "63". */
#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

#if defined(__GNUC__)
#define ALX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ALX_NORETURN     __attribute__((noreturn))
#else
#define ALX_PRINTF(a, b)
#define ALX_NORETURN
#endif

/* A user-facing error message; empty when there is none. */
typedef struct {
    char msg[2048];
} Error;

/* Formats into err (if non-NULL) and returns -1, so `return error_set(...)` reads naturally. */
int error_set(Error *err, const char *fmt, ...) ALX_PRINTF(2, 3);

/* Internal failure: prints "alexnet: fatal: file:line: message" and exits 1. */
ALX_NORETURN void fatal_at(const char *file, int line, const char *fmt, ...) ALX_PRINTF(3, 4);
#define FATAL(...) fatal_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) fatal_at(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

void *malloc_check(size_t size, const char *file, int line);
void *calloc_check(size_t n, size_t size, const char *file, int line);
/* 64-byte aligned, zero-filled; release with free(). */
void *aligned_alloc_check(size_t size, const char *file, int line);
#define xmalloc(n)        malloc_check((n), __FILE__, __LINE__)
#define xcalloc(n, s)     calloc_check((n), (s), __FILE__, __LINE__)
#define xaligned_alloc(n) aligned_alloc_check((n), __FILE__, __LINE__)
/* A malloc'd copy of a string; release with free(). */
char *strdup_check(const char *s, const char *file, int line);
#define xstrdup(s) strdup_check((s), __FILE__, __LINE__)
/* printf into a malloc'd string of the length it needs (never cut); release
 * with free(). */
char *xasprintf(const char *fmt, ...) ALX_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) ALX_PRINTF(1, 0);

/* Called by FATAL before exiting (data-parallel runs register MPI_Abort so
 * the other ranks stop too). */
void set_fatal_hook(void (*hook)(int code));
/* In a multi-process run, messages are prefixed with "[rank N]". */
void set_log_rank(int rank);
/* The command running ("train"): messages read "alexnet train: ...". */
void set_log_command(const char *cmd);
/* The program as the user invoked it (argv[0]: "build/alexnet"), for the
 * commands the program tells the user to run. */
void set_program_path(const char *argv0);
const char *program_path(void);

/* Messages to the user: one line on stderr, "alexnet CMD [rank N]: KIND: MSG"
 * (KIND error, warning or note), stdout flushed first so the two streams
 * interleave in order. */
void errorf(const char *fmt, ...) ALX_PRINTF(1, 2);
void warnf(const char *fmt, ...) ALX_PRINTF(1, 2);
void notef(const char *fmt, ...) ALX_PRINTF(1, 2);

/* The first error of a parallel loop (later ones are dropped): workers call
 * first_error_keep() on failure and may skip their work once
 * first_error_seen() says another has failed. */
typedef struct {
    Error err;
    int failed;
} FirstError;
void first_error_keep(FirstError *f, const Error *e);
int first_error_seen(FirstError *f);

/* mkdir -p; 0 or -1 with a message naming the folder. */
int mkdir_p(const char *path, Error *err);
/* "dir/name", malloc'd (one slash between them, however dir ends). */
char *path_join(const char *dir, const char *name);
/* 1 if path exists (any type). */
int path_exists(const char *path);
/* Opens path read-only without blocking (a FIFO would wait for a writer) and
 * refuses anything but a regular file: the fd and *size, or -1 with err
 * ("cannot open PATH: why", "cannot read PATH: it is a directory" or
 * "... not a regular file"). */
int open_regular_file(const char *path, int64_t *size, Error *err);
/* The same as a stdio stream for reading ("rb"); NULL with err set. */
FILE *fopen_regular(const char *path, Error *err);
/* The CPUs this process may use: its affinity mask (taskset, Slurm's
 * --cpus-per-task with task affinity), lowered to its cgroup's CPU quota
 * (containers, Slurm with cgroups), rounded up; at least 1. What --threads 0
 * and --workers 0 mean. */
int cpu_count(void);
/* The machine's online CPUs, for reports. */
int cpu_count_online(void);
/* Bytes of memory this process can still get: MemAvailable, lowered to
 * what its cgroup (v1 or v2: Slurm, containers) has left; -1 when unknown. */
int64_t memory_available(void);

/* "s" unless n is 1: "%d epoch%s", n, plural_s(n). */
static inline const char *plural_s(int64_t n) { return n == 1 ? "" : "s"; }

/* A duration: "90s", "12m", "1h30m", "2h", "1.5h", or plain seconds on their
 * own ("45", "0.5"): decimal numbers, each followed by h, m or s in that
 * order and at most once. Signs, exponents, hex, spaces, "12m30" and "5m5m"
 * are refused. 0 with *seconds set, or -1. */
int parse_duration(const char *text, double *seconds);

/* Monotonic wall clock in seconds. */
double now_seconds(void);

#endif
