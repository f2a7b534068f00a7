/*
 * metrics.c — metrics.jsonl writer/reader (see metrics.h).
 */
#include "io/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
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
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    memset(r, 0, sizeof *r);
    r->is_epoch = cJSON_IsString(type) && strcmp(type->valuestring, "epoch") == 0;
    double step = num(o, "step", -1), epoch = num(o, "epoch", 0);
    r->step = step >= 0 && step < 9e15 ? (int64_t)step : -1;
    r->epoch = epoch >= 0 && epoch < 1e9 ? (int)epoch : 0;
    r->loss = num(o, "loss", NAN);
    r->train_top1 = num(o, "train_top1", -1);
    r->lr = num(o, "lr", 0);
    r->img_s = num(o, "img_s", 0);
    r->time = num(o, "time", 0);
    r->val_loss = num(o, "val_loss", NAN);
    r->top1 = num(o, "top1", -1);
    r->top5 = num(o, "top5", -1);
    r->ema_top1 = num(o, "ema_top1", -1);
    r->ema_top5 = num(o, "ema_top5", -1);
    double vi = num(o, "val_images", 0), vs = num(o, "val_skipped", 0);
    r->val_images = vi >= 0 && vi < 9e15 ? (int64_t)vi : 0;
    r->val_skipped = vs >= 0 && vs < 9e15 ? (int64_t)vs : 0;
    cJSON_Delete(o);
    return r->step >= 0 ? 0 : -1;
}

/* Appends ,"key":value — null for a value that is not finite (JSON has no NaN). */
static size_t put_num(char *buf, size_t len, size_t n, const char *key, const char *fmt, double v) {
    if (n >= len) return n;
    int k = isfinite(v) ? snprintf(buf + n, len - n, ",\"%s\":", key) : snprintf(buf + n, len - n, ",\"%s\":null", key);
    if (k > 0) n += (size_t)k;
    if (isfinite(v) && n < len) {
        k = snprintf(buf + n, len - n, fmt, v);
        if (k > 0) n += (size_t)k;
    }
    return n;
}

static void format_line(const MetricRecord *r, char *buf, size_t len) {
    int k = snprintf(buf, len, "{\"type\":\"%s\",\"step\":%lld,\"epoch\":%d", r->is_epoch ? "epoch" : "step",
                     (long long)r->step, r->epoch);
    size_t n = k > 0 ? (size_t)k : 0;
    n = put_num(buf, len, n, "loss", "%.6g", r->loss);
    if (r->train_top1 >= 0) n = put_num(buf, len, n, "train_top1", "%.6f", r->train_top1);
    n = put_num(buf, len, n, "lr", "%.6g", r->lr);
    n = put_num(buf, len, n, "img_s", "%.2f", r->img_s);
    n = put_num(buf, len, n, "time", "%.2f", r->time);
    if (r->is_epoch && r->top1 >= 0) {
        n = put_num(buf, len, n, "val_loss", "%.6g", r->val_loss);
        n = put_num(buf, len, n, "top1", "%.6f", r->top1);
        n = put_num(buf, len, n, "top5", "%.6f", r->top5);
        if (n < len) {
            k = snprintf(buf + n, len - n, ",\"val_images\":%lld,\"val_skipped\":%lld", (long long)r->val_images,
                         (long long)r->val_skipped);
            if (k > 0) n += (size_t)k;
        }
        if (r->ema_top1 >= 0) {
            n = put_num(buf, len, n, "ema_top1", "%.6f", r->ema_top1);
            n = put_num(buf, len, n, "ema_top5", "%.6f", r->ema_top5);
        }
    }
    if (n < len) snprintf(buf + n, len - n, "}\n");
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
