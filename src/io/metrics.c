/*
 * metrics.c — metrics.jsonl writer/reader (see metrics.h).
 */
#include "io/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"

static void push(MetricsLog *m, const MetricRecord *r) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->rec = realloc(m->rec, (size_t)m->cap * sizeof *m->rec);
        CHECK(m->rec, "out of memory for metrics");
    }
    m->rec[m->n++] = *r;
}

static double num(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int parse_line(const char *line, MetricRecord *r) {
    cJSON *o = cJSON_Parse(line);
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return -1; }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    memset(r, 0, sizeof *r);
    r->is_epoch = cJSON_IsString(type) && strcmp(type->valuestring, "epoch") == 0;
    r->step = (int64_t)num(o, "step", 0);
    r->epoch = (int)num(o, "epoch", 0);
    r->loss = num(o, "loss", 0);
    r->lr = num(o, "lr", 0);
    r->img_s = num(o, "img_s", 0);
    r->time = num(o, "time", 0);
    r->top1 = num(o, "top1", -1);
    r->top5 = num(o, "top5", -1);
    r->val_images = (int64_t)num(o, "val_images", 0);
    r->val_skipped = (int64_t)num(o, "val_skipped", 0);
    cJSON_Delete(o);
    return 0;
}

static void format_line(const MetricRecord *r, char *buf, size_t len) {
    int n = snprintf(buf, len, "{\"type\":\"%s\",\"step\":%lld,\"epoch\":%d,\"loss\":%.6g,\"lr\":%.6g,\"img_s\":%.2f,\"time\":%.2f",
                     r->is_epoch ? "epoch" : "step", (long long)r->step, r->epoch, r->loss, r->lr, r->img_s, r->time);
    if (r->is_epoch && r->top1 >= 0 && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ",\"top1\":%.6f,\"top5\":%.6f,\"val_images\":%lld,\"val_skipped\":%lld",
                      r->top1, r->top5, (long long)r->val_images, (long long)r->val_skipped);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, "}\n");
}

int metrics_open(MetricsLog *m, const char *path, int64_t keep_until_step, Error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    FILE *old = keep_until_step >= 0 ? fopen(path, "r") : NULL;
    if (old) {
        char line[4096];
        while (fgets(line, sizeof line, old)) {
            MetricRecord r;
            if (parse_line(line, &r) == 0 && r.step <= keep_until_step) push(m, &r);
        }
        fclose(old);
    }
    /* rewrite what is kept atomically, then append */
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) return -1;
    char buf[512];
    for (int i = 0; i < m->n; i++) {
        format_line(&m->rec[i], buf, sizeof buf);
        atomic_write(&a, buf, strlen(buf));
    }
    if (atomic_commit(&a, err) != 0) return -1;
    m->f = fopen(path, "a");
    if (!m->f) return error_set(err, "cannot append to %s: %s", path, strerror(errno));
    return 0;
}

void metrics_add(MetricsLog *m, const MetricRecord *r) {
    push(m, r);
    char buf[512];
    format_line(r, buf, sizeof buf);
    if (m->f) {
        fputs(buf, m->f);
        fflush(m->f);
    }
}

double metrics_last_time(const MetricsLog *m) { return m->n ? m->rec[m->n - 1].time : 0.0; }

void metrics_close(MetricsLog *m) {
    if (m->f) fclose(m->f);
    free(m->rec);
    memset(m, 0, sizeof *m);
}
