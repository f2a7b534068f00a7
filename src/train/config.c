/*
 * config.c — TrainConfig defaults and its JSON form (via cJSON). One table
 * lists every field once, so saving and loading can't drift apart.
 */
#include "train/config.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef enum { F_STR, F_INT, F_I64, F_U64, F_DBL } FieldType;
typedef struct {
    const char *name;
    FieldType type;
    size_t offset, size;
} Field;

#define S(f) {#f, F_STR, offsetof(TrainConfig, f), sizeof(((TrainConfig *)0)->f)}
#define I(f) {#f, F_INT, offsetof(TrainConfig, f), sizeof(int)}
#define L(f) {#f, F_I64, offsetof(TrainConfig, f), sizeof(int64_t)}
#define U(f) {#f, F_U64, offsetof(TrainConfig, f), sizeof(uint64_t)}
#define D(f) {#f, F_DBL, offsetof(TrainConfig, f), sizeof(double)}
static const Field FIELDS[] = {
    S(data_dir), S(val_dir), I(per_batch_size), I(eval_batch_size), I(image_size), I(workers), I(color_jitter),
    I(strict_data), D(min_crop_scale), L(max_image_pixels), S(backbone), S(pretrained), D(dropout),
    S(lr_scheduler), S(lr_epochs), D(lr), D(momentum), D(weight_decay), D(eta_min), D(lr_gamma), D(warmup_epochs),
    I(T_max), I(max_epoch), I(label_smooth), D(label_smooth_factor), S(smoothing_form), U(seed), I(threads),
    S(device), S(backend), S(precision), I(is_distributed), S(out_dir), I(ckpt_interval), L(save_every_steps),
    I(log_interval), L(max_steps),
};
#undef S
#undef I
#undef L
#undef U
#undef D

void config_defaults(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    c->per_batch_size = 256;
    c->eval_batch_size = 0; /* 0: per_batch_size */
    c->image_size = 224;
    c->workers = 0;         /* 0: one per core */
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
    c->T_max = 150;
    c->max_epoch = 150;
    c->label_smooth = 1;
    c->label_smooth_factor = 0.1;
    snprintf(c->smoothing_form, sizeof c->smoothing_form, "seed");
    c->seed = 1;
    snprintf(c->device, sizeof c->device, "cpu");
    snprintf(c->precision, sizeof c->precision, "auto");
    c->is_distributed = -1;
    c->log_interval = 20;
}

char *config_to_json(const TrainConfig *c) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const Field *f = &FIELDS[i];
        const char *p = (const char *)c + f->offset;
        char num[32];
        switch (f->type) {
        case F_STR: cJSON_AddStringToObject(o, f->name, p); break;
        case F_INT: cJSON_AddNumberToObject(o, f->name, *(const int *)p); break;
        case F_DBL: cJSON_AddNumberToObject(o, f->name, *(const double *)p); break;
        /* 64-bit integers as strings: JSON numbers are doubles */
        case F_I64: snprintf(num, sizeof num, "%lld", (long long)*(const int64_t *)p); cJSON_AddStringToObject(o, f->name, num); break;
        case F_U64: snprintf(num, sizeof num, "%llu", (unsigned long long)*(const uint64_t *)p); cJSON_AddStringToObject(o, f->name, num); break;
        }
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    CHECK(s, "cJSON_Print failed");
    return s;
}

int config_from_json(TrainConfig *c, const char *json, Error *err) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return error_set(err, "the saved training configuration is not valid JSON");
    }
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const Field *f = &FIELDS[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);
        if (!v) continue;
        char *p = (char *)c + f->offset;
        int ok = 1;
        switch (f->type) {
        case F_STR:
            if ((ok = cJSON_IsString(v)) != 0) snprintf(p, f->size, "%s", v->valuestring);
            break;
        case F_INT:
            if ((ok = cJSON_IsNumber(v)) != 0) *(int *)p = v->valueint;
            break;
        case F_DBL:
            if ((ok = cJSON_IsNumber(v)) != 0) *(double *)p = v->valuedouble;
            break;
        case F_I64:
            if ((ok = cJSON_IsString(v) && sscanf(v->valuestring, "%lld", (long long *)p) == 1) != 0) {}
            break;
        case F_U64:
            if ((ok = cJSON_IsString(v) && sscanf(v->valuestring, "%llu", (unsigned long long *)p) == 1) != 0) {}
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
