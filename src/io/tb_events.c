/*
 * tb_events.c — TensorBoard event files (see tb_events.h).
 *
 * CRC-32C: Debian 12 packages no C library that exports it (Google's crc32c
 * is not in bookworm; zlib's crc32 is another polynomial), and every x86-64
 * CPU since 2008 computes it in one instruction (SSE4.2's crc32); other CPUs
 * take the bitwise definition, fast enough for a few hundred bytes a step.
 */
#include "io/tb_events.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#ifdef ALEXNET_HAVE_TENSORBOARD
#include "tensorboard.pb-c.h"
#endif

#define CRC32C_POLY 0x82f63b78u /* Castagnoli's, reflected */

static uint32_t crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (CRC32C_POLY & (0u - (crc & 1u)));
    }
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    crc = (uint32_t)c;
    for (; n; n--, p++) crc = _mm_crc32_u8(crc, *p);
    return crc;
}
#endif

uint32_t crc32c(const void *data, size_t n) {
    const unsigned char *p = data;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_sse42(~0u, p, n);
#endif
    return ~crc32c_bitwise(~0u, p, n);
}

uint32_t crc32c_masked(const void *data, size_t n) {
    uint32_t c = crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

struct TbWriter {
    FILE *f;
    char *path;
    int failed;
};

const char *tb_path(const TbWriter *w) { return w->path; }

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static void put_le(unsigned char *out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) out[i] = (unsigned char)(v >> (8 * i));
}

/* One TFRecord: length, its CRC, the data, its CRC. */
static void write_record(TbWriter *w, const unsigned char *data, size_t n) {
    if (w->failed) return;
    unsigned char head[12], tail[4];
    put_le(head, n, 8);
    put_le(head + 8, crc32c_masked(head, 8), 4);
    put_le(tail, crc32c_masked(data, n), 4);
    if (fwrite(head, 1, 12, w->f) != 12 || fwrite(data, 1, n, w->f) != n || fwrite(tail, 1, 4, w->f) != 4 ||
        fflush(w->f) != 0) {
        w->failed = 1;
        warnf("cannot write the TensorBoard log %s: %s; training goes on without it", w->path, strerror(errno));
    }
}

#ifdef ALEXNET_HAVE_TENSORBOARD
static void write_event(TbWriter *w, AlexnetTb__Event *ev) {
    size_t n = alexnet_tb__event__get_packed_size(ev);
    unsigned char *buf = xmalloc(n ? n : 1);
    alexnet_tb__event__pack(ev, buf);
    write_record(w, buf, n);
    free(buf);
}

TbWriter *tb_open(const char *dir, int64_t first_step, Error *err) {
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    char *path = xasprintf("%s/events.out.tfevents.%010lld.%s.%ld.alexnet", dir, (long long)wall_time(), host,
                           (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        error_set(err, "--tensorboard: cannot write %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        free(path);
        return NULL;
    }
    TbWriter *w = xcalloc(1, sizeof *w);
    w->f = f;
    w->path = path;
    AlexnetTb__Event ev = ALEXNET_TB__EVENT__INIT;
    ev.has_wall_time = 1;
    ev.wall_time = wall_time();
    ev.what_case = ALEXNET_TB__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    write_event(w, &ev);
    if (first_step > 0) {
        AlexnetTb__SessionLog log = ALEXNET_TB__SESSION_LOG__INIT;
        log.has_status = 1;
        log.status = ALEXNET_TB__SESSION_LOG__SESSION_STATUS__START;
        AlexnetTb__Event start = ALEXNET_TB__EVENT__INIT;
        start.has_wall_time = start.has_step = 1;
        start.wall_time = wall_time();
        start.step = first_step;
        start.what_case = ALEXNET_TB__EVENT__WHAT_SESSION_LOG;
        start.session_log = &log;
        write_event(w, &start);
    }
    if (w->failed) {
        error_set(err, "--tensorboard: cannot write %s", path);
        tb_close(w);
        return NULL;
    }
    return w;
}

void tb_scalars(TbWriter *w, int64_t step, const char *const *tags, const double *values, int n) {
    if (!w || w->failed || n <= 0) return;
    AlexnetTb__SummaryValue *vals = xcalloc((size_t)n, sizeof *vals);
    AlexnetTb__SummaryValue **ptrs = xcalloc((size_t)n, sizeof *ptrs);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        alexnet_tb__summary_value__init(&vals[m]);
        vals[m].tag = (char *)tags[i];
        vals[m].has_simple_value = 1;
        vals[m].simple_value = (float)values[i];
        ptrs[m] = &vals[m];
        m++;
    }
    if (m > 0) {
        AlexnetTb__Summary summary = ALEXNET_TB__SUMMARY__INIT;
        summary.n_value = (size_t)m;
        summary.value = ptrs;
        AlexnetTb__Event ev = ALEXNET_TB__EVENT__INIT;
        ev.has_wall_time = ev.has_step = 1;
        ev.wall_time = wall_time();
        ev.step = step;
        ev.what_case = ALEXNET_TB__EVENT__WHAT_SUMMARY;
        ev.summary = &summary;
        write_event(w, &ev);
    }
    free(vals);
    free(ptrs);
}
#else
TbWriter *tb_open(const char *dir, int64_t first_step, Error *err) {
    (void)dir;
    (void)first_step;
    error_set(err, "--tensorboard: this build has no TensorBoard output: install libprotobuf-c-dev "
                   "protobuf-c-compiler (scripts/install-deps.sh build) and rebuild");
    return NULL;
}

void tb_scalars(TbWriter *w, int64_t step, const char *const *tags, const double *values, int n) {
    (void)w, (void)step, (void)tags, (void)values, (void)n;
    (void)write_record;
}
#endif

void tb_close(TbWriter *w) {
    if (!w) return;
    if (w->f && fclose(w->f) != 0 && !w->failed)
        warnf("cannot write the TensorBoard log %s: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
}
