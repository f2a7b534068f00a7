/*
 * metrics.c — metrics.jsonl writer/reader (see metrics.h).
 */
#include "io/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
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

/* One record as a line of JSON (malloc'd, ending in a newline); the numbers
 * at the precision a reader needs, null where not finite. */
static char *format_line(const MetricRecord *r) {
    cJSON *o = cJSON_CreateObject();
    CHECK(o, "out of memory writing metrics");
    json_add_str(o, "type", r->is_epoch ? "epoch" : "step");
    json_add_num(o, "step", (double)r->step);
    json_add_num(o, "epoch", r->epoch);
    json_add_sig(o, "loss", r->loss, 6);
    if (r->train_top1 >= 0) json_add_fixed(o, "train_top1", r->train_top1, 6);
    json_add_sig(o, "lr", r->lr, 6);
    json_add_fixed(o, "img_s", r->img_s, 2);
    json_add_fixed(o, "time", r->time, 2);
    if (!r->is_epoch && r->image_size > 0) json_add_num(o, "image_size", r->image_size);
    if (r->is_epoch && r->top1 >= 0) {
        json_add_sig(o, "val_loss", r->val_loss, 6);
        json_add_fixed(o, "top1", r->top1, 6);
        json_add_fixed(o, "top5", r->top5, 6);
        json_add_num(o, "val_images", (double)r->val_images);
        json_add_num(o, "val_skipped", (double)r->val_skipped);
        if (r->ema_top1 >= 0) {
            json_add_fixed(o, "ema_top1", r->ema_top1, 6);
            json_add_fixed(o, "ema_top5", r->ema_top5, 6);
        }
        if (r->class_top1) {
            cJSON *arr = cJSON_AddArrayToObject(o, "val_class_top1");
            for (int c = 0; c < r->n_classes; c++)
                cJSON_AddItemToArray(arr, json_fixed(r->class_top1[c], 6));
        }
    }
    char *body = json_print(o, 0);
    cJSON_Delete(o);
    char *line = xasprintf("%s\n", body);
    free(body);
    return line;
}

int metrics_open(MetricsLog *m, const char *path, int64_t keep_until_step, Error *err) {
    memset(m, 0, sizeof *m);
    FILE *old = NULL;
    if (keep_until_step >= 0 && path_exists(path) && !(old = fopen_regular(path, err))) return -1;
    /* rewrite what is kept atomically, each line as it was (fields this
     * reader does not parse, such as val_class_top1, stay), then append */
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) {
        if (old) fclose(old);
        return -1;
    }
    if (old) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, old)) >= 0) {
            MetricRecord r;
            if (parse_line(line, &r) != 0 || r.step > keep_until_step) continue;
            push(m, &r);
            atomic_write(&a, line, (size_t)len);
            if (len == 0 || line[len - 1] != '\n') atomic_write(&a, "\n", 1);
        }
        free(line);
        fclose(old);
    }
    if (atomic_commit(&a, err) != 0) return -1;
    m->f = fopen(path, "a");
    if (!m->f) return error_set(err, "cannot append to %s: %s", path, strerror(errno));
    return 0;
}

void metrics_add(MetricsLog *m, const MetricRecord *r) {
    push(m, r);
    if (m->f) {
        char *line = format_line(r);
        fputs(line, m->f);
        fflush(m->f);
        free(line);
    }
}

double metrics_last_time(const MetricsLog *m) { return m->n ? m->rec[m->n - 1].time : 0.0; }

void metrics_close(MetricsLog *m) {
    if (m->f) fclose(m->f);
    free(m->rec);
    memset(m, 0, sizeof *m);
}
