/*
 * checkpoint.c — model files and training state on top of safetensors.c
 * (see checkpoint.h).
 */
#include "io/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

void model_info_free(ModelInfo *info) {
    for (int i = 0; i < info->n_classes_named; i++) free(info->class_names[i]);
    free(info->class_names);
    memset(info, 0, sizeof *info);
}

/* One StWriteTensor per parameter, named prefix + torchvision name. */
static StWriteTensor *param_tensors(const Net *net, const float *buf, const char *prefix, char (*names)[64],
                                    StWriteTensor *out) {
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        snprintf(names[t], 64, "%s%s", prefix, p->name);
        out[t].name = names[t];
        out[t].dtype = ST_F32;
        out[t].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) out[t].shape[d] = p->shape[d];
        out[t].data = buf + p->offset;
    }
    return out + net->n_params;
}

int checkpoint_save_model(const char *path, const Net *net, const float *params, const ModelMeta *meta, Error *err) {
    return checkpoint_save_model_with(path, net, params, meta, NULL, 0, NULL, NULL, 0, err);
}

int checkpoint_save_model_with(const char *path, const Net *net, const float *params, const ModelMeta *meta,
                               const StWriteTensor *extra, int n_extra, const char *const *extra_keys,
                               const char *const *extra_values, int n_extra_meta, Error *err) {
    StWriteTensor t[NET_MAX_PARAMS + CHECKPOINT_MAX_EXTRA];
    char names[NET_MAX_PARAMS][64];
    param_tensors(net, params, "", names, t);
    int nt = net->n_params;
    CHECK(n_extra <= CHECKPOINT_MAX_EXTRA && n_extra_meta <= CHECKPOINT_MAX_EXTRA, "too many extra tensors");
    for (int e = 0; e < n_extra; e++) {
        int slot = nt;
        for (int i = 0; i < net->n_params; i++)
            if (strcmp(t[i].name, extra[e].name) == 0) slot = i;
        t[slot] = extra[e];
        if (slot == nt) nt++;
    }
    char classes_json_buf[32] = "[]", *classes_json = classes_json_buf;
    if (meta->class_names) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < net->num_classes; i++) cJSON_AddItemToArray(arr, json_str(meta->class_names[i]));
        classes_json = json_print(arr, 0);
        cJSON_Delete(arr);
    }
    char size[16], ncls[16], ep[16], st[32], crop[16], resize[16];
    snprintf(size, sizeof size, "%d", net->image_size);
    snprintf(ncls, sizeof ncls, "%d", net->num_classes);
    snprintf(ep, sizeof ep, "%d", meta->epoch);
    snprintf(st, sizeof st, "%lld", (long long)meta->step);
    snprintf(crop, sizeof crop, "%d", meta->val_crop_size);
    snprintf(resize, sizeof resize, "%d", meta->val_resize_size);
    const char *keys[11 + CHECKPOINT_MAX_EXTRA] = { "format",     "backbone", "num_classes", "classes",
                                                    "image_size", "step",     "version" };
    const char *vals[11 + CHECKPOINT_MAX_EXTRA] = { "pt", net->backbone,           ncls, classes_json, size,
                                                    st,   "alexnet.c " ALX_VERSION };
    int n = 7;
    if (meta->epoch >= 0) keys[n] = "epoch", vals[n++] = ep; /* -1: not known (a torchvision file's, averaged) */
    if (meta->val_crop_size > 0) {
        keys[n] = "val_crop_size", vals[n++] = crop;
        keys[n] = "val_resize_size", vals[n++] = resize;
    }
    if (meta->weights) keys[n] = "weights", vals[n++] = meta->weights;
    for (int e = 0; e < n_extra_meta; e++) keys[n] = extra_keys[e], vals[n++] = extra_values[e];
    int rc = st_write(path, t, nt, keys, vals, n, err);
    if (classes_json != classes_json_buf) free(classes_json);
    return rc;
}

/* Backbone from the conv1 width and conv2's input channels when metadata lacks it. */
static const char *infer_backbone(const StFile *f) {
    const StTensor *w0 = st_find(f, "features.0.weight");
    if (w0 && w0->ndim == 4 && w0->shape[0] == 96) return "alexnet_2012";
    return "alexnet";
}

/* A whole decimal number in [lo, hi] and nothing else. */
static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Metadata key as an integer in [lo, hi]; absent leaves *out. */
static int meta_int(const StFile *f, const char *key, long long lo, long long hi, long long *out, Error *err) {
    const char *v = st_meta(f, key);
    if (v && parse_int(v, lo, hi, out) != 0)
        return error_set(err, "%s: metadata %s '%.40s' is not a whole number in [%lld, %lld]", f->path, key, v, lo, hi);
    return 0;
}

void checkpoint_close(ModelFile *m) {
    model_info_free(&m->info);
    st_free(&m->st);
}

/* What the tensors and metadata describe; every number is range-checked here,
 * before anything is sized from it. */
static int describe(ModelFile *m, Error *err) {
    const StFile *f = &m->st;
    ModelInfo *info = &m->info;
    info->epoch = -1;
    const StTensor *head = st_find(f, "classifier.6.weight");
    if (!head && st_find(f, "model.classifier.6.weight"))
        return error_set(err,
                         "%s is a training state (train_state.safetensors: weights, momentum and position, for "
                         "--resume), not a model file: use last.safetensors or best.safetensors from the same run "
                         "folder",
                         f->path);
    if (!head || head->ndim != 2)
        return error_set(err, "%s: not an AlexNet checkpoint (no 2-D classifier.6.weight tensor)", f->path);
    if (head->shape[0] < 1 || head->shape[0] > CHECKPOINT_MAX_CLASSES || head->shape[1] < 1)
        return error_set(
            err, "%s: classifier.6.weight has shape %lldx%lld; a classifier has 1 to %d classes and some inputs",
            f->path, (long long)head->shape[0], (long long)head->shape[1], CHECKPOINT_MAX_CLASSES);
    info->num_classes = (int)head->shape[0];
    const char *bb = st_meta(f, "backbone");
    if (bb && strlen(bb) >= sizeof info->backbone)
        return error_set(err, "%s: metadata backbone '%.40s...' is not a backbone name", f->path, bb);
    snprintf(info->backbone, sizeof info->backbone, "%s", bb ? bb : infer_backbone(f));
    long long size = 224, epoch = -1, step = 0;
    if (meta_int(f, "image_size", NET_MIN_IMAGE, 4096, &size, err) != 0) return -1;
    if (meta_int(f, "epoch", 0, 1000000000, &epoch, err) != 0) return -1;
    if (meta_int(f, "step", 0, INT64_MAX, &step, err) != 0) return -1;
    info->image_size = (int)size;
    info->epoch = (int)epoch;
    info->step = step;
    long long crop = 0, resize = -1;
    if (meta_int(f, "val_crop_size", NET_MIN_IMAGE, NET_MAX_IMAGE, &crop, err) != 0 ||
        meta_int(f, "val_resize_size", 0, NET_MAX_IMAGE, &resize, err) != 0)
        return -1;
    if (crop > 0 && resize > 0 && resize < crop)
        return error_set(err, "%s: metadata val_resize_size %lld is smaller than its val_crop_size %lld", f->path,
                         resize, crop);
    info->val_crop_size = (int)crop;
    info->val_resize_size = crop > 0 && resize >= 0 ? (int)resize : -1;
    Net probe; /* an unknown backbone named with the file */
    Error e;
    if (net_build(&probe, info->backbone, info->num_classes, info->image_size, 0.0f, &e) != 0)
        return error_set(err, "%s: %s", f->path, e.msg);
    const char *classes = st_meta(f, "classes");
    if (classes) {
        cJSON *arr = cJSON_Parse(classes);
        int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
        if (n == info->num_classes) {
            info->class_names = xcalloc((size_t)n, sizeof(char *));
            const cJSON *v;
            cJSON_ArrayForEach(v, arr) {
                const char *s = cJSON_IsString(v) ? v->valuestring : "?";
                size_t len = strlen(s) + 1;
                info->class_names[info->n_classes_named] = xmalloc(len);
                memcpy(info->class_names[info->n_classes_named++], s, len);
            }
        }
        cJSON_Delete(arr);
    }
    return 0;
}

int checkpoint_open(const char *path, ModelFile *m, Error *err) {
    memset(m, 0, sizeof *m);
    if (st_read(&m->st, path, err) != 0) return -1;
    if (describe(m, err) != 0) {
        checkpoint_close(m);
        return -1;
    }
    return 0;
}

/* The tensor `name` of f exists with p's shape and a floating-point dtype. */
static int match_one(const StFile *f, const ParamTensor *p, const char *name, Error *err) {
    const StTensor *s = st_find(f, name);
    if (!s) return error_set(err, "%s: tensor '%s' is missing", f->path, name);
    int same = s->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = s->shape[d] == p->shape[d];
    if (!same) {
        char want[64] = "", got[200] = "";
        for (int d = 0; d < p->ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "x" : "", p->shape[d]);
        for (int d = 0; d < s->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)s->shape[d]);
        return error_set(err, "%s: tensor '%s' has shape %s, this model needs %s", f->path, name,
                         s->ndim ? got : "(scalar)", want);
    }
    if (s->dtype != ST_F32 && s->dtype != ST_F16 && s->dtype != ST_BF16 && s->dtype != ST_F64)
        return error_set(err, "%s: tensor '%s' has dtype %s; a floating-point tensor is needed", f->path, name,
                         st_dtype_name(s->dtype));
    return 0;
}

/* Every tensor of net under prefix is present, floating point, with net's shape. */
static int match_named(const StFile *f, const Net *net, const char *prefix, Error *err) {
    for (int t = 0; t < net->n_params; t++) {
        char name[80];
        snprintf(name, sizeof name, "%s%s", prefix, net->params[t].name);
        if (match_one(f, &net->params[t], name, err) != 0) return -1;
    }
    return 0;
}

/* Tensor `name` of f into out as float32. A value that is not finite is
 * refused, naming the file and the tensor: NaN weights would load without a
 * word and train a model that predicts chance. */
static int load_tensor(const StFile *f, const char *name, float *out, Error *err) {
    const StTensor *t = st_find(f, name);
    if (st_to_f32(f, t, out, err) != 0) return -1;
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(out[i]))
            return error_set(err,
                             "%s: tensor '%s' holds %s (element %lld of %lld); the file is damaged, or the run that "
                             "wrote it diverged: use an earlier checkpoint",
                             f->path, name, isnan(out[i]) ? "NaN" : "an infinite value", (long long)i,
                             (long long)t->numel);
    return 0;
}

int checkpoint_read_tensor(const ModelFile *m, const char *name, int64_t numel, float *out, Error *err) {
    const StTensor *t = st_find(&m->st, name);
    if (!t) return error_set(err, "%s: tensor '%s' is missing", m->st.path, name);
    if (t->numel != numel)
        return error_set(err, "%s: tensor '%s' has %lld elements, this model needs %lld", m->st.path, name,
                         (long long)t->numel, (long long)numel);
    return load_tensor(&m->st, name, out, err);
}

static int load_named(const StFile *f, const Net *net, const char *prefix, float *buf, Error *err) {
    if (match_named(f, net, prefix, err) != 0) return -1;
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        char name[80];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        if (load_tensor(f, name, buf + p->offset, err) != 0) return -1;
    }
    return 0;
}

/* alexnet and alexnet_torchvision share their geometry; alexnet_2012 is its own. */
static int backbone_compatible(const char *file, const char *net) {
    return strcmp(file, net) == 0 || (strcmp(file, "alexnet_2012") != 0 && strcmp(net, "alexnet_2012") != 0);
}

int checkpoint_is_quantized(const ModelFile *m) { return st_meta(&m->st, CHECKPOINT_QUANT_KEY) != NULL; }

static int refuse_quantized(const ModelFile *m, Error *err) {
    return error_set(err,
                     "%s is an int8 model (alexnet quantize): eval, predict and export take it; train and "
                     "average need the fp32 model it was quantized from",
                     m->st.path);
}

int checkpoint_match(const ModelFile *m, const Net *net, Error *err) {
    const ModelInfo *info = &m->info;
    if (checkpoint_is_quantized(m)) return refuse_quantized(m, err);
    if (!backbone_compatible(info->backbone, net->backbone) || info->num_classes != net->num_classes)
        return error_set(err, "%s holds the %s backbone with %d classes; this model is %s with %d classes", m->st.path,
                         info->backbone, info->num_classes, net->backbone, net->num_classes);
    return match_named(&m->st, net, "", err);
}

int checkpoint_load(const ModelFile *m, const Net *net, float *params, Error *err) {
    if (checkpoint_match(m, net, err) != 0) return -1;
    return load_named(&m->st, net, "", params, err);
}

int checkpoint_load_except(const ModelFile *m, const Net *net, float *params, const char *skip_prefix, Error *err) {
    const ModelInfo *info = &m->info;
    if (checkpoint_is_quantized(m)) return refuse_quantized(m, err);
    if (!backbone_compatible(info->backbone, net->backbone))
        return error_set(err, "%s holds the %s backbone; this model is %s", m->st.path, info->backbone, net->backbone);
    size_t skip = strlen(skip_prefix);
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        if (strncmp(p->name, skip_prefix, skip) == 0) continue;
        if (match_one(&m->st, p, p->name, err) != 0) return -1;
    }
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        if (strncmp(p->name, skip_prefix, skip) == 0) continue;
        if (load_tensor(&m->st, p->name, params + p->offset, err) != 0) return -1;
    }
    return 0;
}

int checkpoint_save_state(const char *path, const Net *net, const float *params, const float *momentum,
                          const float *ema, const TrainPosition *pos, Error *err) {
    StWriteTensor t[3 * NET_MAX_PARAMS];
    char names[3 * NET_MAX_PARAMS][64];
    param_tensors(net, params, "model.", names, t);
    param_tensors(net, momentum, "momentum.", names + net->n_params, t + net->n_params);
    if (ema) param_tensors(net, ema, "ema.", names + 2 * net->n_params, t + 2 * net->n_params);
    int ntensors = (ema ? 3 : 2) * net->n_params;
    char ep[16], batch[32], step[32], best[32];
    snprintf(ep, sizeof ep, "%d", pos->epoch);
    snprintf(batch, sizeof batch, "%lld", (long long)pos->batch);
    snprintf(step, sizeof step, "%lld", (long long)pos->step);
    snprintf(best, sizeof best, "%.17g", pos->best_top1);
    char ema_updates[32];
    snprintf(ema_updates, sizeof ema_updates, "%lld", (long long)pos->ema_updates);
    const char *keys[8] = { "epoch", "batch", "step", "best_top1", "config", "version" };
    const char *vals[8] = { ep, batch, step, best, pos->config_json, "alexnet.c " ALX_VERSION };
    int nmeta = 6;
    if (pos->run_json) keys[nmeta] = "run", vals[nmeta++] = pos->run_json;
    if (ema) keys[nmeta] = "ema_updates", vals[nmeta++] = ema_updates;
    return st_write(path, t, ntensors, keys, vals, nmeta, err);
}

int checkpoint_read_state_info(const char *path, TrainPosition *pos, Error *err) {
    memset(pos, 0, sizeof *pos);
    StFile f;
    if (st_read(&f, path, err) != 0) return -1;
    const char *ep = st_meta(&f, "epoch"), *batch = st_meta(&f, "batch"), *step = st_meta(&f, "step");
    const char *best = st_meta(&f, "best_top1"), *cfg = st_meta(&f, "config");
    if (!ep || !batch || !step || !best || !cfg) {
        st_free(&f);
        return error_set(err, "%s: not a training state file (position or configuration missing)", path);
    }
    long long e = 0, b = 0, s = 0;
    char *end;
    double top1 = strtod(best, &end);
    int bad_top1 = end == best || *end || !(top1 == -1.0 || (top1 >= 0.0 && top1 <= 1.0));
    if (meta_int(&f, "epoch", 0, 1000000000, &e, err) != 0 || meta_int(&f, "batch", 0, INT64_MAX, &b, err) != 0 ||
        meta_int(&f, "step", 0, INT64_MAX, &s, err) != 0 ||
        (bad_top1 && error_set(err, "%s: metadata best_top1 '%.40s' is not -1 or a fraction", path, best))) {
        st_free(&f);
        return -1;
    }
    pos->epoch = (int)e;
    pos->batch = b;
    pos->step = s;
    pos->best_top1 = top1;
    long long ema_updates = 0;
    if (st_meta(&f, "ema_updates") && meta_int(&f, "ema_updates", 0, INT64_MAX, &ema_updates, err) != 0) {
        st_free(&f);
        return -1;
    }
    pos->ema_updates = ema_updates;
    size_t len = strlen(cfg) + 1;
    pos->config_json = xmalloc(len);
    memcpy(pos->config_json, cfg, len);
    const char *run = st_meta(&f, "run");
    if (run) {
        len = strlen(run) + 1;
        pos->run_json = xmalloc(len);
        memcpy(pos->run_json, run, len);
    }
    st_free(&f);
    return 0;
}

int checkpoint_load_state(const char *path, const Net *net, float *params, float *momentum, float *ema, Error *err) {
    StFile f;
    if (st_read(&f, path, err) != 0) return -1;
    int rc = load_named(&f, net, "model.", params, err);
    if (rc == 0) rc = load_named(&f, net, "momentum.", momentum, err);
    if (rc == 0 && ema) rc = load_named(&f, net, "ema.", ema, err);
    st_free(&f);
    return rc;
}
