/*
 * fingerprint.c — the run fingerprint (see fingerprint.h).
 */
#include "train/fingerprint.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME  1099511628211ull

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

uint64_t fingerprint_classes(char *const *names, int n) {
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < n; i++) h = fnv(h, names[i], strlen(names[i]) + 1); /* the NUL separates */
    return h;
}

uint64_t fingerprint_files(const Dataset *ds) {
    uint64_t h = FNV_OFFSET;
    size_t root = strlen(ds->root);
    for (int64_t i = 0; i < ds->n; i++) {
        const char *p = ds->paths[i];
        if (strncmp(p, ds->root, root) == 0) p += root;
        while (*p == '/') p++;
        h = fnv(h, p, strlen(p) + 1);
        h = fnv(h, &ds->labels[i], sizeof ds->labels[i]);
    }
    if (ds->pack) { /* other pixels than the folder's: a pack is other data */
        int32_t how[4] = { (int32_t)ds->pack->mode, ds->pack->quality, ds->pack->max_side, ds->pack->short_side };
        h = fnv(h, "pack", 5);
        h = fnv(h, how, sizeof how);
    }
    return h;
}

char *fingerprint_to_json(const RunFingerprint *f) {
    cJSON *o = cJSON_CreateObject();
    CHECK(o, "out of memory writing the run fingerprint");
    char hex[3][24];
    snprintf(hex[0], sizeof hex[0], "%016" PRIx64, f->train_files_hash);
    snprintf(hex[1], sizeof hex[1], "%016" PRIx64, f->classes_hash);
    snprintf(hex[2], sizeof hex[2], "%016" PRIx64, f->val_files_hash);
    json_add_num(o, "world_size", f->world_size);
    json_add_num(o, "global_batch", f->global_batch);
    json_add_num(o, "train_images", (double)f->train_images);
    json_add_str(o, "train_files_hash", hex[0]);
    json_add_num(o, "num_classes", f->num_classes);
    json_add_str(o, "classes_hash", hex[1]);
    json_add_num(o, "val_images", (double)f->val_images);
    json_add_str(o, "val_files_hash", hex[2]);
    json_add_num(o, "param_count", (double)f->param_count);
    json_add_str(o, "backbone", f->backbone);
    char *s = json_print(o, 0);
    cJSON_Delete(o);
    return s;
}

static int get_int(const cJSON *o, const char *k, double lo, double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < lo || v->valuedouble > hi)
        return -1;
    *out = v->valuedouble;
    return 0;
}

static int get_hash(const cJSON *o, const char *k, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 16) return -1;
    char *end;
    unsigned long long x = strtoull(v->valuestring, &end, 16);
    if (*end) return -1;
    *out = (uint64_t)x;
    return 0;
}

int fingerprint_from_json(RunFingerprint *f, const char *json, Error *err) {
    memset(f, 0, sizeof *f);
    cJSON *o = cJSON_Parse(json);
    double w = 0, g = 0, n = 0, k = 0, v = 0, p = 0;
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(o, "backbone");
    int bad = !cJSON_IsObject(o) || get_int(o, "world_size", 1, 1e7, &w) || get_int(o, "global_batch", 1, 1e12, &g) ||
              get_int(o, "train_images", 0, 1e15, &n) || get_hash(o, "train_files_hash", &f->train_files_hash) ||
              get_int(o, "num_classes", 1, 1e9, &k) || get_hash(o, "classes_hash", &f->classes_hash) ||
              get_int(o, "val_images", -1, 1e15, &v) || get_hash(o, "val_files_hash", &f->val_files_hash) ||
              get_int(o, "param_count", 0, 1e15, &p) || !cJSON_IsString(bb) ||
              strlen(bb->valuestring) >= sizeof f->backbone || g > 2147483647.0;
    if (!bad) {
        f->world_size = (int)w;
        f->global_batch = (int)g;
        f->train_images = (int64_t)n;
        f->num_classes = (int)k;
        f->val_images = (int64_t)v;
        f->param_count = (int64_t)p;
        snprintf(f->backbone, sizeof f->backbone, "%s", bb->valuestring);
    }
    cJSON_Delete(o);
    return bad ? error_set(err, "the saved run fingerprint is malformed") : 0;
}

int fingerprint_check_resume(const RunFingerprint *s, const RunFingerprint *now, int allow_data_change,
                             const char *run_dir, Error *err) {
    if (strcmp(s->backbone, now->backbone) != 0 || s->param_count != now->param_count)
        return error_set(err,
                         "%s was trained as %s with %lld parameters, but it would now be %s with %lld; "
                         "the run's model can't change on resume",
                         run_dir, s->backbone, (long long)s->param_count, now->backbone, (long long)now->param_count);
    if (s->num_classes != now->num_classes || s->classes_hash != now->classes_hash)
        return error_set(err,
                         "the training data now has %d classes%s, but %s was trained on %d other ones: "
                         "labels would change meaning. Resume with the run's data (--data_dir)",
                         now->num_classes, s->num_classes == now->num_classes ? " with other names" : "", run_dir,
                         s->num_classes);
    if (s->global_batch != now->global_batch) {
        int per = now->world_size > 0 && s->global_batch % now->world_size == 0 ? s->global_batch / now->world_size : 0;
        if (per > 0)
            return error_set(err,
                             "%s was trained with a global batch of %d (%d process%s); now it would be %d (%d x %d). "
                             "Its position and lr schedule count global batches: resume with %d processes, or "
                             "pass --per_batch_size %d to keep the global batch",
                             run_dir, s->global_batch, s->world_size, s->world_size > 1 ? "es" : "", now->global_batch,
                             now->world_size, now->global_batch / now->world_size, s->world_size, per);
        return error_set(err,
                         "%s was trained with a global batch of %d (%d process%s); now it would be %d (%d x %d). "
                         "Its position and lr schedule count global batches: resume with %d processes",
                         run_dir, s->global_batch, s->world_size, s->world_size > 1 ? "es" : "", now->global_batch,
                         now->world_size, now->global_batch / now->world_size, s->world_size);
    }
    if (!allow_data_change && (s->train_images != now->train_images || s->train_files_hash != now->train_files_hash)) {
        if (s->train_images != now->train_images)
            return error_set(
                err,
                "the training data now has %lld images; %s was trained on %lld. Each epoch's shuffle "
                "depends on the file list, so samples would be skipped or repeated. Use the run's data, or "
                "pass --allow_data_change to continue anyway",
                (long long)now->train_images, run_dir, (long long)s->train_images);
        return error_set(err,
                         "the training data has the same number of images (%lld) as when %s was trained, but other "
                         "files (renamed, replaced or relabelled). Use the run's data, or pass --allow_data_change to "
                         "continue anyway",
                         (long long)now->train_images, run_dir);
    }
    return 0;
}

int fingerprint_check_ranks(Dist *d, const RunFingerprint *mine, const char *data_dir, Error *err) {
    if (d->world == 1) return 0;
    RunFingerprint root = *mine;
    dist_bcast(d, &root, sizeof root, 0);
    char what[512] = "";
    if (mine->train_images != root.train_images || mine->train_files_hash != root.train_files_hash)
        snprintf(what, sizeof what, "--data_dir %s here has %lld images%s, rank 0's has %lld", data_dir,
                 (long long)mine->train_images,
                 mine->train_images == root.train_images ? " (same count, other files)" : "",
                 (long long)root.train_images);
    else if (mine->num_classes != root.num_classes || mine->classes_hash != root.classes_hash)
        snprintf(what, sizeof what, "--data_dir %s here has %d classes%s, rank 0's has %d", data_dir, mine->num_classes,
                 mine->num_classes == root.num_classes ? " (other names)" : "", root.num_classes);
    else if (mine->val_images != root.val_images || mine->val_files_hash != root.val_files_hash)
        snprintf(what, sizeof what, "--val_dir here has %lld images%s, rank 0's has %lld", (long long)mine->val_images,
                 mine->val_images == root.val_images ? " (same count, other files)" : "", (long long)root.val_images);
    else if (mine->param_count != root.param_count || strcmp(mine->backbone, root.backbone) != 0)
        snprintf(what, sizeof what, "the model here is %s with %lld parameters, rank 0's is %s with %lld",
                 mine->backbone, (long long)mine->param_count, root.backbone, (long long)root.param_count);
    if (what[0])
        errorf("on %s, %s; every rank must read the same data (a shared filesystem, or identical copies)",
               dist_host(d, d->rank), what);
    int64_t bad = what[0] != 0;
    dist_sum_i64(d, &bad, 1);
    if (bad && d->rank != 0) return -1; /* rank 0 says it once */
    if (bad)
        return error_set(err,
                         "%lld of %d ranks see other data or another model than rank 0 (each printed "
                         "its difference above); stopping",
                         (long long)bad, d->world);
    return 0;
}

static cJSON *sums_to_json(const RunSums *s) {
    cJSON *o = cJSON_CreateObject();
    json_add_num(o, "loss", s->loss);
    json_add_num(o, "steps", (double)s->steps);
    json_add_num(o, "correct", (double)s->correct);
    json_add_num(o, "seen", (double)s->seen);
    json_add_num(o, "seconds", s->seconds);
    return o;
}

static int sums_from_json(const cJSON *o, RunSums *s) {
    const char *keys[] = { "loss", "steps", "correct", "seen", "seconds" };
    double v[5];
    for (int i = 0; i < 5; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) ||
            (i != 0 && (x->valuedouble < 0 || x->valuedouble > 9e15)))
            return -1;
        v[i] = x->valuedouble;
    }
    s->loss = v[0];
    s->steps = (int64_t)v[1];
    s->correct = (int64_t)v[2];
    s->seen = (int64_t)v[3];
    s->seconds = v[4];
    return s->correct <= s->seen ? 0 : -1;
}

char *run_record_to_json(const RunFingerprint *fp, const RunSums *epoch, const RunSums *window, const char *plan) {
    cJSON *o = cJSON_CreateObject();
    CHECK(o, "out of memory writing the run record");
    char *f = fingerprint_to_json(fp);
    cJSON_AddItemToObject(o, "fingerprint", cJSON_Parse(f));
    free(f);
    cJSON_AddItemToObject(o, "epoch_sums", sums_to_json(epoch));
    cJSON_AddItemToObject(o, "window_sums", sums_to_json(window));
    if (plan) cJSON_AddItemToObject(o, "plan", cJSON_Parse(plan));
    char *s = json_print(o, 0);
    cJSON_Delete(o);
    return s;
}

int run_record_parse(const char *json, RunFingerprint *fp, RunSums *epoch, RunSums *window, char **plan,
                     Error *err) {
    cJSON *o = cJSON_Parse(json);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "plan");
    *plan = cJSON_IsObject(p) ? json_print(p, 0) : NULL;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
    char *fs = cJSON_IsObject(f) ? json_print(f, 0) : NULL;
    int rc = -1;
    if (!fs) error_set(err, "the saved run record is malformed");
    else if (fingerprint_from_json(fp, fs, err) == 0)
        rc = sums_from_json(cJSON_GetObjectItemCaseSensitive(o, "epoch_sums"), epoch) ||
                     sums_from_json(cJSON_GetObjectItemCaseSensitive(o, "window_sums"), window)
                 ? error_set(err, "the saved running sums are malformed")
                 : 0;
    free(fs);
    cJSON_Delete(o);
    return rc;
}
