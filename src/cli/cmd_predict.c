/*
 * cmd_predict.c — `alexnet predict`: the top-K classes and probabilities for
 * each image, named from --class_names FILE, else from the checkpoint's
 * metadata (the index when neither names them). The inputs are image files,
 * folders (walked as a data folder is) and packs (every record).
 *
 * An image that can't be read is reported where its result would be (a
 * line on stderr; with --json also {"file", "error"} on stdout, in order)
 * and the others are still predicted. Exit status: 0 when an image was
 * predicted (failures reported as they came), 1 when none could be, or with
 * --strict when any failed; 2 for a usage error.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/json.h"
#include "data/dataset.h"
#include "data/pack.h"
#include "data/sample.h"
#include "data/transforms.h"
#include "engine/model_open.h"

#define PREDICT_BATCH 16
#define MAX_IMAGES    100000

/* Softmax in double for the probabilities; returns the top-k indices, best first. */
static void top_k(const float *z, int K, int k, int *idx, double *prob) {
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < K; j++) mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < K; j++) sum += exp((double)z[j] - mx);
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int j = 0; j < K; j++) {
            int taken = 0;
            for (int u = 0; u < t; u++) taken |= idx[u] == j;
            if (!taken && (best < 0 || z[j] > z[best])) best = j;
        }
        idx[t] = best;
        prob[t] = exp((double)z[best] - mx) / sum;
    }
}

/* names: [K] or NULL; logits: add every logit to the JSON object. */
static void print_result(const char *file, const float *z, int K, int k, char *const *names, int json, int logits) {
    int *idx = xmalloc(sizeof(int) * (size_t)k);
    double *prob = xmalloc(sizeof(double) * (size_t)k);
    top_k(z, K, k, idx, prob);
    if (json) {
        cJSON *o = cJSON_CreateObject(), *arr;
        json_add_str(o, "file", file);
        arr = cJSON_AddArrayToObject(o, "top");
        for (int t = 0; t < k; t++) {
            cJSON *e = cJSON_CreateObject();
            json_add_num(e, "index", idx[t]);
            json_add_str(e, "class", names ? names[idx[t]] : "");
            json_add_num(e, "prob", prob[t]);
            cJSON_AddItemToArray(arr, e);
        }
        if (logits) {
            arr = cJSON_AddArrayToObject(o, "logits");
            for (int j = 0; j < K; j++) cJSON_AddItemToArray(arr, json_num(z[j]));
        }
        char *s = json_print(o, 0);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s\n", file);
        for (int t = 0; t < k; t++) {
            if (names) printf("  %6.2f%%  %s (%d)\n", 100 * prob[t], names[idx[t]], idx[t]);
            else printf("  %6.2f%%  class %d\n", 100 * prob[t], idx[t]);
        }
    }
    fflush(stdout);
    free(idx);
    free(prob);
}

/* Reads one class name per line (a last empty line is allowed) into
 * info->class_names, replacing the checkpoint's. 0, or -1 with err. */
static int read_class_names(const char *path, ModelInfo *info, Error *err) {
    Error why = { { 0 } };
    FILE *f = fopen_regular(path, &why);
    if (!f) return error_set(err, "--class_names: %s", why.msg);
    char **names = xcalloc((size_t)info->num_classes, sizeof(char *));
    char line[1024];
    int n = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc =
                error_set(err, "--class_names %s: line %d is longer than %zu characters", path, n + 1, sizeof line - 2);
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) {
            int c = fgetc(f);
            if (c == EOF) break; /* the file's last line, empty */
            rc = error_set(err, "--class_names %s: line %d is empty (one class name per line)", path, n + 1);
            break;
        }
        if (n >= info->num_classes) {
            n++;
            continue;
        }
        names[n++] = xstrdup(line);
    }
    fclose(f);
    if (rc == 0 && n != info->num_classes)
        rc = error_set(err, "--class_names %s has %d names but the checkpoint predicts %d classes", path, n,
                       info->num_classes);
    if (rc != 0) {
        for (int i = 0; i < info->num_classes; i++) free(names[i]);
        free(names);
        return -1;
    }
    for (int i = 0; i < info->n_classes_named; i++) free(info->class_names[i]);
    free(info->class_names);
    info->class_names = names;
    info->n_classes_named = n;
    return 0;
}

typedef struct {
    InferFlags in;
    const char *class_names;
    int json, want_logits, topk, topk_seen, strict;
    const char **files; /* [nfiles] images and folders, pointing into argv */
    int nfiles;
} PredictFlags;

static int parse_flags(PredictFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        INFER_FLAG_SPECS(f->in),
        { "topk", ARG_INT, &f->topk, "classes shown per image (at most the checkpoint's classes)", 1,
          CHECKPOINT_MAX_CLASSES, &f->topk_seen },
        { "class_names", ARG_STR, &f->class_names, "class names, one per line in label order (else the checkpoint's)",
          1, 0, NULL },
        { "json", ARG_FLAG, &f->json, "only JSON on stdout: one object per image, {file, top: [{index, class, prob}]}",
          1, 0, NULL },
        { "logits", ARG_FLAG, &f->want_logits, "with --json: also \"logits\", every class's (after --tta's mean)", 1, 0,
          NULL },
        { "strict", ARG_FLAG, &f->strict, "exit 1 when any image could not be read (the others are still predicted)",
          1, 0, NULL },
    };
    int st =
        cli_parse("predict", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, f->files, MAX_IMAGES, &f->nfiles,
                  "--pretrained CKPT [--topk K] [--class_names FILE] [--json] IMAGE|FOLDER|PACK...",
                  "Top-K classes with probabilities for each image (eval transform: resize, center crop, normalize);\n"
                  "a folder is walked like a data folder (its .jpg/.jpeg/.png files, sorted, hidden names skipped),\n"
                  "a pack gives every record; results stream as they come. An unreadable image is reported in its\n"
                  "place (with --json: {\"file\", \"error\"}); exit 0 when any image was predicted (1 with\n"
                  "--strict when one failed), 1 when none was.");
    if (st != CLI_GO_ON) return st;
    Error err = { { 0 } };
    if (!f->in.pretrained) return cli_usage_error("predict", "--pretrained is required (a .safetensors checkpoint)");
    if (f->nfiles == 0) return cli_usage_error("predict", "no images given");
    if (infer_flags_check(&f->in, &err) != 0) return cli_usage_error("predict", err.msg);
    if (f->want_logits && !f->json) return cli_usage_error("predict", "--logits goes with --json");
    return CLI_GO_ON;
}

/* --class_names over the checkpoint's, and --topk within the classes. */
static int check_classes(PredictFlags *f, ModelInfo *info, Error *err) {
    if (f->class_names && read_class_names(f->class_names, info, err) != 0) return -1;
    if (f->topk > info->num_classes) {
        if (f->topk_seen)
            return error_set(err, "--topk %d is more than the %d classes of %s", f->topk, info->num_classes,
                             f->in.pretrained);
        f->topk = info->num_classes;
    }
    return 0;
}

/* The images of one batch through the model (and their mirrors with --tta flip); logits [PREDICT_BATCH, K]. */
typedef struct {
    Model *m;
    SampleWorker *worker; /* the eval transform, as the eval loader runs it */
    InputFormat fmt;
    size_t per_image; /* bytes of one input image */
    unsigned char *batch, *mirrored;
    float *logits, *logits_flip;
    const char *names[PREDICT_BATCH];
    int n;
} Batcher;

static void run_batch(Batcher *b, const PredictFlags *f) {
    ForwardArgs inference = { .train = 0 };
    int K = b->m->net.num_classes;
    backend_forward(&b->m->be, b->batch, b->n, &inference);
    backend_read_logits(&b->m->be, b->logits, b->n);
    if (b->mirrored) {
        input_mirror(b->mirrored, b->batch, b->n, b->m->net.image_size, b->fmt);
        backend_forward(&b->m->be, b->mirrored, b->n, &inference);
        backend_read_logits(&b->m->be, b->logits_flip, b->n);
        tta_mean(b->logits, b->logits_flip, (size_t)b->n * (size_t)K);
    }
    const ModelInfo *info = &b->m->info;
    for (int j = 0; j < b->n; j++)
        print_result(b->names[j], b->logits + (size_t)j * K, K, f->topk,
                     info->n_classes_named ? info->class_names : NULL, f->json, f->want_logits);
    fflush(stdout); /* results stream, batch by batch */
    b->n = 0;
}

/* An image that could not be read: on stderr, and with --json in the stream. */
static void report_unreadable(const char *file, const char *why, const PredictFlags *f) {
    errorf("%s", why);
    if (!f->json) return;
    cJSON *o = cJSON_CreateObject();
    json_add_str(o, "file", file);
    json_add_str(o, "error", why);
    char *text = json_print(o, 0);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    cJSON_Delete(o);
}

/* One image into the batch (predicted when the batch is full). */
static void add_image(Batcher *b, const char *name, const ImageSource *src, const PredictFlags *f, int64_t *failed) {
    Error err = { { 0 } };
    void *slot = b->batch + (size_t)b->n * b->per_image;
    int rc = src ? sample_eval_src(b->worker, src, slot, b->fmt, &err) : sample_eval(b->worker, name, slot, b->fmt, &err);
    if (rc != 0) {
        if (b->n) run_batch(b, f); /* results stay in input order */
        report_unreadable(name, err.msg, f);
        (*failed)++;
        return;
    }
    if (sample_worker_warning(b->worker)) warnf("%s (decoded anyway)", sample_worker_warning(b->worker));
    b->names[b->n++] = name;
    if (b->n == PREDICT_BATCH) run_batch(b, f);
}

/* One argument: an image, a folder walked as the loader walks one (its
 * images, sorted, hidden names skipped), or a pack (its records). Returns
 * the images it names; counts those that could not be read in *failed. */
static int64_t predict_path(Batcher *b, const char *path, const PredictFlags *f, int64_t *failed) {
    Error err = { { 0 } };
    struct stat st;
    int64_t n = 1;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && pack_sniff(path)) {
        Dataset ds;
        if (dataset_scan(&ds, path, &err) != 0) {
            report_unreadable(path, err.msg, f);
            (*failed)++;
            return 1;
        }
        for (int64_t i = 0; i < ds.n; i++) {
            ImageSource src;
            if (dataset_source(&ds, i, &src, &err) != 0) {
                if (b->n) run_batch(b, f);
                report_unreadable(ds.paths[i], err.msg, f);
                (*failed)++;
                continue;
            }
            add_image(b, ds.paths[i], &src, f, failed);
            dataset_source_done(&ds, i);
        }
        if (b->n) run_batch(b, f); /* before the pack's names go */
        n = ds.n;
        dataset_free(&ds);
    } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char **paths = NULL;
        if (dataset_list_images(path, &paths, &n, &err) != 0) {
            report_unreadable(path, err.msg, f);
            (*failed)++;
            return 1;
        }
        if (n == 0) warnf("folder %s holds no images (.jpg, .jpeg, .png)", path);
        for (int64_t i = 0; i < n; i++) add_image(b, paths[i], NULL, f, failed);
        if (b->n) run_batch(b, f); /* before the names go */
        for (int64_t i = 0; i < n; i++) free(paths[i]);
        free(paths);
    } else {
        add_image(b, path, NULL, f, failed); /* its name is argv's: it stays */
    }
    return n;
}

static int predict_all(Model *m, const PredictFlags *f) {
    Batcher b = { .m = m, .fmt = backend_input_format(&m->be) };
    int size = m->net.image_size, flip = strcmp(f->in.tta, "flip") == 0;
    size_t nlogits = PREDICT_BATCH * (size_t)m->net.num_classes;
    b.per_image = input_sample_bytes(b.fmt, size);
    SampleConfig cfg = { .image_size = size, .max_pixels = f->in.max_pixels, .resize_size = m->eval_resize };
    b.worker = sample_worker_create(&cfg);
    b.batch = xmalloc(b.per_image * PREDICT_BATCH);
    b.mirrored = flip ? xmalloc(b.per_image * PREDICT_BATCH) : NULL;
    b.logits = xmalloc(sizeof(float) * nlogits);
    b.logits_flip = flip ? xmalloc(sizeof(float) * nlogits) : NULL;
    int64_t failed = 0, total = 0;
    for (int a = 0; a < f->nfiles; a++) total += predict_path(&b, f->files[a], f, &failed);
    if (b.n) run_batch(&b, f);
    if (failed)
        warnf("%lld of %lld image%s could not be read (reported in their place); %s", (long long)failed,
              (long long)total, plural_s(total),
              failed < total ? "the others were predicted" : "none was predicted");
    sample_worker_destroy(b.worker);
    free(b.batch);
    free(b.mirrored);
    free(b.logits);
    free(b.logits_flip);
    return failed == 0 ? 0 : failed < total && !f->strict ? 0 : 1;
}

int cmd_predict(int argc, char **argv) {
    PredictFlags f = { .in = INFER_FLAGS_DEFAULT, .topk = 5, .files = xmalloc(sizeof(char *) * MAX_IMAGES) };
    int status = parse_flags(&f, argc, argv);
    if (status == CLI_GO_ON) {
        ModelOptions mo = infer_model_options(&f.in, PREDICT_BATCH);
        Model m;
        Error err = { { 0 } };
        if (model_open(&m, &mo, &err) != 0) {
            status = cli_usage_error("predict", err.msg);
        } else {
            status = check_classes(&f, &m.info, &err) != 0 ? cli_usage_error("predict", err.msg) : predict_all(&m, &f);
            model_close(&m);
        }
    }
    free(f.files);
    return status;
}
