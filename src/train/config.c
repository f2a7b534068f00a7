/*
 * config.c — TrainConfig defaults, its one validation and its JSON form (via
 * cJSON). One table lists every field once, with its range, so saving,
 * loading, the CLI's flags and validation can't drift apart.
 */
#include "train/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/transforms.h"
#include "model/net.h"
#include "train/lr_schedule.h"

typedef enum { F_STR, F_INT, F_I64, F_U64, F_DBL } FieldType;
typedef struct {
    const char *name;
    FieldType type;
    size_t offset, size;
    double min, max; /* numeric fields: the allowed range, inclusive */
} Field;

#define S(f) \
    { #f, F_STR, offsetof(TrainConfig, f), sizeof(((TrainConfig *)0)->f), 0, 0 }
#define I(f, lo, hi) \
    { #f, F_INT, offsetof(TrainConfig, f), sizeof(int), lo, hi }
#define L(f, lo, hi) \
    { #f, F_I64, offsetof(TrainConfig, f), sizeof(int64_t), lo, hi }
#define U(f, lo, hi) \
    { #f, F_U64, offsetof(TrainConfig, f), sizeof(uint64_t), lo, hi }
#define D(f, lo, hi) \
    { #f, F_DBL, offsetof(TrainConfig, f), sizeof(double), lo, hi }
static const Field FIELDS[] = {
    S(data_dir),
    S(val_dir),
    I(per_batch_size, 1, 65536),
    I(image_size, 63, 4096),
    I(workers, 0, 1024),
    I(color_jitter, 0, 1),
    I(strict_data, 0, 1),
    D(min_crop_scale, 0.001, 1),
    L(max_image_pixels, 1, 1e12),
    S(backbone),
    S(pretrained),
    D(dropout, -1, 0.99),
    S(lr_scheduler),
    S(lr_epochs),
    D(lr, 0, 1e3),
    D(momentum, 0, 1),
    D(weight_decay, 0, 1),
    D(eta_min, 0, 1e3),
    D(lr_gamma, 0, 1e3),
    D(warmup_epochs, 0, 1e6),
    I(T_max, 0, 1e6),
    I(max_epoch, 1, 1e6),
    I(label_smooth, 0, 1),
    D(label_smooth_factor, 0, 1),
    S(smoothing_form),
    U(seed, 0, CONFIG_MAX_SEED),
    I(threads, 0, 1024),
    S(device),
    S(backend),
    S(precision),
    I(is_distributed, -1, 1),
    D(dist_timeout, 0, 1e6),
    S(out_dir),
    I(ckpt_interval, 0, 1e6),
    I(save_best, 0, 1),
    L(save_every_steps, 0, 1e12),
    I(log_interval, 1, 1e6),
    L(max_steps, 0, 1e12),
    I(model_ema, 0, 1),
    I(model_ema_steps, 1, 1e6),
    D(model_ema_decay, 0, 1),
    S(freeze),
    D(lr_backbone_scale, 0, 1000),
    D(time_budget, 0, 1e8),
    I(val_resize_size, 0, 4096),
    I(val_crop_size, 0, 4096),
};
#undef S
#undef I
#undef L
#undef U
#undef D
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

void config_defaults(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    c->per_batch_size = 256;
    c->image_size = 224;
    c->workers = 0; /* 0: one per core */
    c->color_jitter = 1;
    c->min_crop_scale = 0.08;
    c->max_image_pixels = 100000000;
    snprintf(c->backbone, sizeof c->backbone, "alexnet");
    c->dropout = -1;
    snprintf(c->lr_scheduler, sizeof c->lr_scheduler, "cosine_annealing");
    snprintf(c->lr_epochs, sizeof c->lr_epochs, "30,60,90,120");
    c->lr = 0.13;
    c->momentum = 0.9;
    c->weight_decay = 1e-4;
    c->eta_min = 0.0;
    c->lr_gamma = 0.1;
    c->warmup_epochs = 5;
    c->T_max = 0; /* follows max_epoch: the seed's 150 with 150 epochs */
    c->max_epoch = 150;
    c->label_smooth = 1;
    c->label_smooth_factor = 0.1;
    snprintf(c->smoothing_form, sizeof c->smoothing_form, "seed");
    c->seed = 1;
    snprintf(c->device, sizeof c->device, "cpu");
    snprintf(c->precision, sizeof c->precision, "auto");
    c->is_distributed = -1;
    c->dist_timeout = 300; /* dist.h's DIST_TIMEOUT_DEFAULT */
    c->save_best = 1;
    c->log_interval = 20;
    c->model_ema = 0;
    c->model_ema_steps = 32; /* torchvision's defaults */
    c->model_ema_decay = 0.99998;
    snprintf(c->freeze, sizeof c->freeze, "none");
    c->lr_backbone_scale = 1.0;
}

int config_val_crop(const TrainConfig *c) { return c->val_crop_size > 0 ? c->val_crop_size : c->image_size; }

static const Field *find_field(const char *name) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(FIELDS[i].name, name) == 0) return &FIELDS[i];
    return NULL;
}

int config_field_range(const char *name, double *min, double *max) {
    const Field *f = find_field(name);
    if (!f || f->type == F_STR) return 0;
    *min = f->min;
    *max = f->max;
    return 1;
}

static double field_number(const TrainConfig *c, const Field *f) {
    const char *p = (const char *)c + f->offset;
    switch (f->type) {
    case F_INT: return *(const int *)p;
    case F_I64: return (double)*(const int64_t *)p;
    case F_U64: return (double)*(const uint64_t *)p;
    case F_DBL: return *(const double *)p;
    case F_STR: break;
    }
    return 0;
}

static int one_of(const char *v, const char *const *names) {
    for (; *names; names++)
        if (strcmp(v, *names) == 0) return 1;
    return 0;
}

int config_validate(const TrainConfig *c, const char *source, Error *err) {
    for (size_t i = 0; i < N_FIELDS; i++) {
        const Field *f = &FIELDS[i];
        if (f->type == F_STR) continue;
        double v = field_number(c, f);
        if (!(v >= f->min && v <= f->max)) {
            if (source)
                return error_set(err, "%s: '%s' is %.17g, outside [%g, %g]; the file is damaged or was edited", source,
                                 f->name, v, f->min, f->max);
            return error_set(err, "--%s %.17g: must be between %g and %g", f->name, v, f->min, f->max);
        }
    }
    static const char *const forms[] = { "seed", "torch", NULL }, *const devices[] = { "cpu", "gpu", "cuda", NULL },
                             *const precisions[] = { "auto", "fp32", "bf16", NULL },
                             *const backends[] = { "", "ref", "dnnl", "cuda", NULL },
                             *const freezes[] = { "none", "features", "backbone", NULL };
    const char *bad = NULL, *want = NULL, *value = NULL;
    if (!one_of(c->smoothing_form, forms)) bad = "smoothing_form", want = "seed or torch", value = c->smoothing_form;
    else if (!one_of(c->device, devices)) bad = "device", want = "cpu or gpu", value = c->device;
    else if (!one_of(c->precision, precisions)) bad = "precision", want = "auto, fp32 or bf16", value = c->precision;
    else if (!one_of(c->backend, backends)) bad = "backend", want = "ref, dnnl or cuda", value = c->backend;
    else if (!one_of(c->freeze, freezes)) bad = "freeze", want = "none, features or backbone", value = c->freeze;
    if (bad) {
        if (source) return error_set(err, "%s: '%s' is \"%s\": must be %s", source, bad, value, want);
        return error_set(err, "--%s %s: must be %s", bad, value, want);
    }
    Error sub = { { 0 } };
    int crop = config_val_crop(c);
    if (crop < NET_MIN_IMAGE) {
        if (source)
            return error_set(err, "%s: 'val_crop_size' is %d: must be 0 or at least %d", source, crop, NET_MIN_IMAGE);
        return error_set(err, "--val_crop_size %d: AlexNet needs at least %d pixels (0: --image_size)", crop,
                         NET_MIN_IMAGE);
    }
    if (eval_geometry_check(crop, c->val_resize_size, &sub) != 0) {
        if (source) return error_set(err, "%s: %s", source, sub.msg);
        return error_set(err, "%s", sub.msg);
    }
    LrSchedule probe = { 0 };
    if (lr_kind_parse(&probe.kind, c->lr_scheduler, &sub) != 0 ||
        lr_milestones_parse(&probe, c->lr_epochs, &sub) != 0) {
        if (source) return error_set(err, "%s: %s", source, sub.msg);
        return error_set(err, "%s", sub.msg);
    }
    return 0;
}

cJSON *config_to_cjson(const TrainConfig *c) {
    cJSON *o = cJSON_CreateObject();
    CHECK(o, "out of memory writing the configuration");
    for (size_t i = 0; i < N_FIELDS; i++) {
        const Field *f = &FIELDS[i];
        const char *p = (const char *)c + f->offset;
        if (f->type == F_STR) cJSON_AddStringToObject(o, f->name, p);
        else cJSON_AddNumberToObject(o, f->name, field_number(c, f)); /* every range fits 2^53: exact */
    }
    return o;
}

char *config_to_json(const TrainConfig *c) {
    cJSON *o = config_to_cjson(c);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    CHECK(s, "cJSON_Print failed");
    return s;
}

/* A JSON value as an integer in [lo, hi]: a number with no fraction, or (as
 * older versions saved 64-bit fields) a string of digits. */
static int json_integer(const cJSON *v, double lo, double hi, double *out) {
    double x;
    if (cJSON_IsNumber(v)) {
        x = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        char *end;
        x = strtod(v->valuestring, &end);
        if (end == v->valuestring || *end) return 0;
    } else {
        return 0;
    }
    if (!isfinite(x) || x != floor(x) || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

int config_from_json(TrainConfig *c, const char *json, Error *err) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return error_set(err, "the saved training configuration is not valid JSON");
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const Field *f = &FIELDS[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);
        if (!v) continue;
        char *p = (char *)c + f->offset;
        double x = 0;
        int ok = 1;
        switch (f->type) {
        case F_STR:
            ok = cJSON_IsString(v) && strlen(v->valuestring) < f->size;
            if (ok) snprintf(p, f->size, "%s", v->valuestring);
            break;
        case F_INT:
            if ((ok = json_integer(v, -2147483648.0, 2147483647.0, &x)) != 0) *(int *)p = (int)x;
            break;
        case F_I64:
            if ((ok = json_integer(v, -9.2e18, 9.2e18, &x)) != 0) *(int64_t *)p = (int64_t)x;
            break;
        case F_U64:
            if ((ok = json_integer(v, 0, 1.8e19, &x)) != 0) *(uint64_t *)p = (uint64_t)x;
            break;
        case F_DBL:
            ok = cJSON_IsNumber(v) && isfinite(v->valuedouble);
            if (ok) *(double *)p = v->valuedouble;
            break;
        }
        if (!ok) {
            cJSON_Delete(o);
            return error_set(err, "the saved training configuration has a malformed '%s'", f->name);
        }
    }
    cJSON_Delete(o);
    return 0;
}
