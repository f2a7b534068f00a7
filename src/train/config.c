/*
 * config.c — TrainConfig's defaults, its one validation and its JSON form
 * (via cJSON), each made from the rows of TRAIN_CONFIG_FIELDS (config.h), so
 * saving, loading, the CLI's flags and validation can't drift apart.
 */
#include "train/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "data/transforms.h"
#include "model/net.h"
#include "train/lr_schedule.h"

/* clang-format off */
#define FIELD_AT(f) .name = #f, .offset = offsetof(TrainConfig, f), .size = sizeof(((TrainConfig *)0)->f)
#define FIELD_NUM(num_type, field, def, lo, hi, resume, flag_help) \
    { FIELD_AT(field), .type = CONFIG_##num_type, .min = lo, .max = hi, .on_resume = CONFIG_##resume, \
      .help = flag_help },
#define FIELD_TEXT(field, bytes, def, resume, text_kind, flag_help) \
    { FIELD_AT(field), .type = CONFIG_TEXT, .on_resume = CONFIG_##resume, .kind = CONFIG_##text_kind, \
      .help = flag_help },
/* clang-format on */
static const ConfigField FIELDS[] = { TRAIN_CONFIG_FIELDS(FIELD_NUM, FIELD_TEXT) };
#undef FIELD_AT
#undef FIELD_NUM
#undef FIELD_TEXT
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

const ConfigField *config_fields(int *n) {
    *n = (int)N_FIELDS;
    return FIELDS;
}

void config_defaults(TrainConfig *c) {
    memset(c, 0, sizeof *c);
#define DEFAULT_NUM(num_type, field, def, lo, hi, resume, flag_help)  c->field = def;
#define DEFAULT_TEXT(field, bytes, def, resume, text_kind, flag_help) snprintf(c->field, sizeof c->field, "%s", def);
    TRAIN_CONFIG_FIELDS(DEFAULT_NUM, DEFAULT_TEXT)
#undef DEFAULT_NUM
#undef DEFAULT_TEXT
}

int config_val_crop(const TrainConfig *c) { return c->val_crop_size > 0 ? c->val_crop_size : c->image_size; }

static double field_number(const TrainConfig *c, const ConfigField *f) {
    const char *p = (const char *)c + f->offset;
    switch (f->type) {
    case CONFIG_INT:
    case CONFIG_SWITCH: return *(const int *)p;
    case CONFIG_I64: return (double)*(const int64_t *)p;
    case CONFIG_U64: return (double)*(const uint64_t *)p;
    case CONFIG_DBL:
    case CONFIG_DUR: return *(const double *)p;
    case CONFIG_TEXT: break;
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
        const ConfigField *f = &FIELDS[i];
        if (f->type == CONFIG_TEXT) continue;
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
                             *const freezes[] = { "none", "features", "backbone", NULL },
                             *const balances[] = { "none", "sampler", "loss", NULL },
                             *const interpolations[] = { "bilinear", "nearest", NULL };
    const char *bad = NULL, *want = NULL, *value = NULL;
    if (!one_of(c->smoothing_form, forms)) bad = "smoothing_form", want = "seed or torch", value = c->smoothing_form;
    else if (!one_of(c->device, devices)) bad = "device", want = "cpu or gpu", value = c->device;
    else if (!one_of(c->precision, precisions)) bad = "precision", want = "auto, fp32 or bf16", value = c->precision;
    else if (!one_of(c->backend, backends)) bad = "backend", want = "ref, dnnl or cuda", value = c->backend;
    else if (!one_of(c->freeze, freezes)) bad = "freeze", want = "none, features or backbone", value = c->freeze;
    else if (!one_of(c->class_balance, balances))
        bad = "class_balance", want = "none, sampler or loss", value = c->class_balance;
    else if (flip_mode_parse(c->flip) < 0) bad = "flip", want = FLIP_MODES, value = c->flip;
    else if (autoaug_policy_parse(c->auto_augment) < 0)
        bad = "auto_augment", want = "none, ta_wide, ra, imagenet, cifar10 or svhn", value = c->auto_augment;
    else if (!one_of(c->aa_interpolation, interpolations))
        bad = "aa_interpolation", want = "bilinear or nearest", value = c->aa_interpolation;
    else if (!net_backbone_known(c->backbone))
        bad = "backbone", want = "one of alexnet, alexnet_torchvision, alexnet_2012", value = c->backbone;
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
    if (c->progressive_min_size > 0 &&
        (c->progressive_min_size < NET_MIN_IMAGE || c->progressive_min_size >= c->image_size)) {
        if (source)
            return error_set(err, "%s: 'progressive_min_size' is %d: must be 0 or in [%d, image_size %d)", source,
                             c->progressive_min_size, NET_MIN_IMAGE, c->image_size);
        return error_set(err,
                         "--progressive_min_size %d: the size progressive resizing starts at must be at least %d "
                         "(AlexNet's smallest input) and below --image_size %d (0: off)",
                         c->progressive_min_size, NET_MIN_IMAGE, c->image_size);
    }
    if (c->progressive_start > c->progressive_end) {
        if (source)
            return error_set(err, "%s: 'progressive_start' %g is after 'progressive_end' %g", source,
                             c->progressive_start, c->progressive_end);
        return error_set(err, "--progressive_start %g is after --progressive_end %g: the size grows between them",
                         c->progressive_start, c->progressive_end);
    }
    LrSchedule probe = { 0 };
    if (lr_kind_parse(&probe.kind, c->lr_scheduler, &sub) != 0 ||
        lr_milestones_parse(&probe, c->lr_epochs, source == NULL, &sub) != 0) {
        if (source) return error_set(err, "%s: %s", source, sub.msg);
        return error_set(err, "%s", sub.msg);
    }
    return 0;
}

cJSON *config_to_cjson(const TrainConfig *c) {
    cJSON *o = cJSON_CreateObject();
    CHECK(o, "out of memory writing the configuration");
    for (size_t i = 0; i < N_FIELDS; i++) {
        const ConfigField *f = &FIELDS[i];
        const char *p = (const char *)c + f->offset;
        if (f->type == CONFIG_TEXT) json_add_path(o, f->name, p); /* a folder named in Latin-1 must reopen */
        else json_add_num(o, f->name, field_number(c, f));        /* every range fits 2^53: exact */
    }
    return o;
}

char *config_to_json(const TrainConfig *c) {
    cJSON *o = config_to_cjson(c);
    char *s = json_print(o, 1);
    cJSON_Delete(o);
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
        const ConfigField *f = &FIELDS[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);
        char *bytes_key = xasprintf("%s_bytes", f->name);
        if (!v) v = cJSON_GetObjectItemCaseSensitive(o, bytes_key);
        free(bytes_key);
        if (!v) continue;
        char *p = (char *)c + f->offset;
        double x = 0;
        int ok = 1;
        switch (f->type) {
        case CONFIG_TEXT: ok = json_get_bytes(o, f->name, p, f->size) == 0; break;
        case CONFIG_INT:
        case CONFIG_SWITCH:
            if ((ok = json_integer(v, -2147483648.0, 2147483647.0, &x)) != 0) *(int *)p = (int)x;
            break;
        case CONFIG_I64:
            if ((ok = json_integer(v, -9.2e18, 9.2e18, &x)) != 0) *(int64_t *)p = (int64_t)x;
            break;
        case CONFIG_U64:
            if ((ok = json_integer(v, 0, 1.8e19, &x)) != 0) *(uint64_t *)p = (uint64_t)x;
            break;
        case CONFIG_DBL:
        case CONFIG_DUR:
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
