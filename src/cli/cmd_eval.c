/*
 * cmd_eval.c — `alexnet eval`: top-1/top-5 of a checkpoint over every image
 * of a folder (no dropped remainder, dropout off), optionally over MPI ranks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/json.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "dist/dist.h"
#include "engine/evaluate.h"
#include "engine/model_open.h"
#include "engine/node_scan.h"
#include "io/atomic_file.h"
#include "io/confusion_svg.h"
#include "train/fingerprint.h"

/* The most classes whose K x K confusion matrix eval keeps (32 MB of counts);
 * per-class results need only 4 K counts and have no such limit. */
#define EVAL_CONFUSION_MAX_CLASSES 2048

typedef struct {
    InferFlags in;
    const char *data_dir, *confusion_svg;
    int batch, workers, json, strict, is_distributed, per_class;
} EvalFlags;

static int parse_flags(EvalFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        { "data_dir", ARG_STR, &f->data_dir, "images to evaluate: DIR/<class>/<image>, or a pack file", 1, 0, NULL },
        { "per_batch_size", ARG_INT, &f->batch, "images per forward pass", 1, 65536, NULL },
        INFER_FLAG_SPECS(f->in),
        { "workers", ARG_INT, &f->workers, "image decoding threads (0: one per core)", 0, 1024, NULL },
        { "strict_data", ARG_FLAG, &f->strict, "stop at the first unreadable image instead of skipping it", 1, 0,
          NULL },
        { "is_distributed", ARG_INT, &f->is_distributed, "1: split over MPI ranks, 0: off, -1: auto", -1, 1, NULL },
        { "json", ARG_FLAG, &f->json, "print only a JSON object on stdout (the readable line goes to stderr)", 1, 0,
          NULL },
        { "per_class", ARG_FLAG, &f->per_class,
          "also each class's images, top-1 (= recall), top-5 and precision; with --json the confusion matrix too", 1, 0,
          NULL },
        { "confusion_svg", ARG_STR, &f->confusion_svg,
          "write the confusion matrix as an SVG heatmap to FILE (implies --per_class)", 1, 0, NULL },
    };
    int st = cli_parse("eval", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                       "--data_dir VAL --pretrained CKPT [options]",
                       "Top-1 and top-5 accuracy over every image (resize, center crop, normalize).");
    if (st != CLI_GO_ON) return st;
    Error err = { { 0 } };
    if (!f->data_dir) return cli_usage_error("eval", "--data_dir is required");
    if (infer_flags_check(&f->in, &err) != 0) return cli_usage_error("eval", err.msg);
    if (f->confusion_svg) f->per_class = 1;
    return CLI_GO_ON;
}

/* Labels: by class name when the checkpoint names its classes and every
 * folder is one of them (a subset of the classes evaluates correctly);
 * otherwise by the sorted folder order. */
static int map_labels(Dataset *ds, const ModelInfo *info, const EvalFlags *f, Error *err) {
    int by_name = info->n_classes_named > 0;
    int *map = xmalloc(sizeof(int) * (size_t)ds->n_classes);
    for (int i = 0; i < ds->n_classes && by_name; i++) {
        map[i] = -1;
        for (int j = 0; j < info->n_classes_named; j++)
            if (strcmp(ds->classes[i], info->class_names[j]) == 0) map[i] = j;
        by_name = map[i] >= 0;
    }
    int rc = 0;
    if (by_name) {
        for (int64_t i = 0; i < ds->n; i++) ds->labels[i] = map[ds->labels[i]];
    } else if (ds->n_classes != info->num_classes) {
        rc = error_set(err, "%s has %d class folders but %s predicts %d classes%s", f->data_dir, ds->n_classes,
                       f->in.pretrained, info->num_classes,
                       info->n_classes_named ? " (and the folder names are not among its class names)" : "");
    } else if (info->n_classes_named) {
        warnf("the class folders of %s differ from the checkpoint's class names; labels follow the sorted folder order",
              f->data_dir);
    }
    free(map);
    return rc;
}

/* Every rank must see the same images: its share of them depends on the list. */
static int check_ranks(Dist *d, const Dataset *ds, const Net *net, const EvalFlags *f, Error *err) {
    RunFingerprint fp = { .world_size = d->world,
                          .global_batch = f->batch * d->world,
                          .train_images = ds->n,
                          .train_files_hash = fingerprint_files(ds),
                          .num_classes = net->num_classes,
                          .classes_hash = fingerprint_classes(ds->classes, ds->n_classes),
                          .val_images = -1,
                          .param_count = (int64_t)net->param_count };
    snprintf(fp.backbone, sizeof fp.backbone, "%s", net->backbone);
    return fingerprint_check_ranks(d, &fp, f->data_dir, err);
}

static double share(int64_t part, int64_t whole) { return whole ? (double)part / (double)whole : NAN; }

/* The class's name (the checkpoint's), or its index. */
static const char *class_name(const Model *m, int c, char *buf, size_t size) {
    if (m->info.n_classes_named == m->net.num_classes) return m->info.class_names[c];
    snprintf(buf, size, "%d", c);
    return buf;
}

/* One line per class: images, top-1 (the share of its images predicted as
 * it: its recall), top-5, and precision (the share of the images predicted
 * as it that are it). */
static void print_per_class(FILE *out, const Model *m, const EvalPerClass *pc) {
    int K = m->net.num_classes;
    const int64_t *n = pc->counts, *c1 = n + K, *c5 = n + 2 * K, *pred = n + 3 * K;
    fprintf(out,
            "per class (top-1 = recall; precision: of the images predicted as the class, the share that are it):\n");
    fprintf(out, "%6s  %-24s %8s %8s %8s %10s\n", "index", "class", "images", "top-1", "top-5", "precision");
    for (int c = 0; c < K; c++) {
        char idx[16], t1[16], t5[16], pr[16];
        const char *name = class_name(m, c, idx, sizeof idx);
        double p = share(c1[c], pred[c]);
        snprintf(t1, sizeof t1, n[c] ? "%.2f%%" : "-", 100 * share(c1[c], n[c]));
        snprintf(t5, sizeof t5, n[c] ? "%.2f%%" : "-", 100 * share(c5[c], n[c]));
        snprintf(pr, sizeof pr, pred[c] ? "%.2f%%" : "-", 100 * p);
        char *text = utf8_text(name);
        fprintf(out, "%6d  %-24s %8lld %8s %8s %10s\n", c, text, (long long)n[c], t1, t5, pr);
        free(text);
    }
}

static cJSON *per_class_json(const Model *m, const EvalPerClass *pc) {
    int K = m->net.num_classes;
    const int64_t *n = pc->counts, *c1 = n + K, *c5 = n + 2 * K, *pred = n + 3 * K;
    cJSON *arr = cJSON_CreateArray();
    for (int c = 0; c < K; c++) {
        char idx[16];
        cJSON *o = cJSON_CreateObject();
        json_add_num(o, "index", c);
        json_add_str(o, "class", class_name(m, c, idx, sizeof idx));
        json_add_num(o, "images", (double)n[c]);
        json_add_num(o, "predicted", (double)pred[c]);
        json_add_fixed(o, "top1", share(c1[c], n[c]), 6);
        json_add_fixed(o, "top5", share(c5[c], n[c]), 6);
        json_add_fixed(o, "precision", share(c1[c], pred[c]), 6);
        json_add_fixed(o, "recall", share(c1[c], n[c]), 6);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *confusion_json(int K, const int64_t *confusion) {
    cJSON *rows = cJSON_CreateArray();
    for (int t = 0; t < K; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < K; p++) cJSON_AddItemToArray(row, json_num((double)confusion[(size_t)t * K + p]));
        cJSON_AddItemToArray(rows, row);
    }
    return rows;
}

static void print_result(const EvalCounts *ev, const EvalPerClass *pc, double seconds, const Model *m,
                         const EvalFlags *f) {
    double top1 = ev->images ? (double)ev->correct1 / (double)ev->images : 0.0;
    double top5 = ev->images ? (double)ev->correct5 / (double)ev->images : 0.0;
    /* With --json, stdout is the JSON object alone (for jq and scripts); the human line goes to stderr. */
    fprintf(f->json ? stderr : stdout,
            "%s on %s: top-1 %.2f%%  top-5 %.2f%%  (%lld images, %lld skipped, %.1f img/s, %s backend, %s)\n",
            f->in.pretrained, f->data_dir, 100 * top1, 100 * top5, (long long)ev->images, (long long)ev->skipped,
            (double)ev->images / (seconds > 0 ? seconds : 1), m->backend_name, precision_name(m->precision));
    if (pc) print_per_class(f->json ? stderr : stdout, m, pc);
    if (f->json) {
        cJSON *o = cJSON_CreateObject();
        json_add_fixed(o, "top1", top1, 6);
        json_add_fixed(o, "top5", top5, 6);
        json_add_sig(o, "loss", ev->images ? ev->loss_sum / (double)ev->images : 0.0, 9);
        json_add_num(o, "images", (double)ev->images);
        json_add_num(o, "skipped", (double)ev->skipped);
        if (pc) {
            cJSON_AddItemToObject(o, "per_class", per_class_json(m, pc));
            if (pc->confusion) cJSON_AddItemToObject(o, "confusion", confusion_json(m->net.num_classes, pc->confusion));
        }
        char *text = json_print(o, 0);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    }
    fflush(stdout);
}

/* The evaluation itself: 0, 1 (failed while running, reported) or 2 (a bad loader setting, reported). */
static int run_eval(Model *m, const Dataset *ds, Dist *d, const EvalFlags *f) {
    Error err = { { 0 } };
    LoaderConfig loader_cfg = { .mode = LOADER_EVAL,
                                .batch = f->batch,
                                .image_size = m->net.image_size,
                                .workers = f->workers > 0 ? f->workers : cpu_count(),
                                .scale_min = 0.08f,
                                .rank = d->rank,
                                .world = d->world,
                                .format = backend_input_format(&m->be),
                                .max_image_pixels = f->in.max_pixels,
                                .strict = f->strict,
                                .resize_size = m->eval_resize };
    Loader *loader = loader_create(ds, &loader_cfg, &err);
    if (!loader) return cli_usage_error("eval", err.msg);
    int K = m->net.num_classes;
    float *logits = xmalloc((size_t)f->batch * K * sizeof(float));
    EvalPerClass pc = { 0 };
    if (f->per_class) {
        pc.counts = xcalloc(4 * (size_t)K, sizeof(int64_t));
        if (K <= EVAL_CONFUSION_MAX_CLASSES) pc.confusion = xcalloc((size_t)K * K, sizeof(int64_t));
        else if (d->rank == 0)
            notef("%d classes: per-class results without the confusion matrix (kept up to %d classes)", K,
                  EVAL_CONFUSION_MAX_CLASSES);
    }
    EvalOptions opt = { .flip = strcmp(f->in.tta, "flip") == 0,
                        .progress = d->rank == 0,
                        .per_class = f->per_class ? &pc : NULL };
    double t0 = now_seconds();
    EvalCounts ev;
    int status = 0;
    if (evaluate_tta(&m->be, loader, d, logits, &opt, &ev, &err) != 0) {
        if (d->rank == 0) errorf("%s", err.msg);
        status = 1;
    } else if (d->rank == 0) {
        print_result(&ev, opt.per_class, now_seconds() - t0, m, f);
        if (f->confusion_svg && pc.confusion) {
            char *title = xasprintf("%s on %s", f->in.pretrained, f->data_dir);
            int named = m->info.n_classes_named == K;
            if (confusion_write_svg(f->confusion_svg, K, pc.confusion, named ? m->info.class_names : NULL, title,
                                    &err) != 0) {
                errorf("%s", err.msg);
                status = 1;
            } else if (!f->json) {
                printf("confusion matrix: %s\n", f->confusion_svg);
            }
            free(title);
        }
    }
    free(pc.counts);
    free(pc.confusion);
    free(logits);
    loader_destroy(loader);
    return status;
}

/* --confusion_svg is writable and its matrix can be kept, before the evaluation, not after it. */
static int check_confusion_svg(const EvalFlags *f, int K) {
    Error err = { { 0 } };
    if (K > EVAL_CONFUSION_MAX_CLASSES) {
        error_set(&err,
                  "--confusion_svg: %s predicts %d classes; the confusion matrix is kept up to %d (use "
                  "--per_class for per-class results)",
                  f->in.pretrained, K, EVAL_CONFUSION_MAX_CLASSES);
        return cli_usage_error("eval", err.msg);
    }
    AtomicFile a;
    if (atomic_open(&a, f->confusion_svg, &err) != 0) return cli_usage_error("eval", err.msg);
    atomic_abort(&a);
    return CLI_GO_ON;
}

int cmd_eval(int argc, char **argv) {
    EvalFlags f = { .in = INFER_FLAGS_DEFAULT, .batch = 32, .is_distributed = -1 };
    int status = parse_flags(&f, argc, argv);
    if (status != CLI_GO_ON) return status;
    ModelOptions mo = infer_model_options(&f.in, f.batch);
    Model m;
    Dataset ds;
    Error err = { { 0 } };
    if (model_open(&m, &mo, &err) != 0) return cli_usage_error("eval", err.msg);
    if (f.confusion_svg && (status = check_confusion_svg(&f, m.net.num_classes)) != CLI_GO_ON) {
        model_close(&m);
        return status;
    }
    Dist d;
    if (dist_init(&d, f.is_distributed, &argc, &argv, &err) != 0) {
        model_close(&m);
        return cli_usage_error("eval", err.msg);
    }
    /* the ranks of a machine share one scan; a failure on any rank stops all of them, each saying its own */
    int failed = dataset_scan_node(&d, &ds, f.data_dir, &err) != 0 || map_labels(&ds, &m.info, &f, &err) != 0;
    if (dist_any(&d, failed)) {
        status = failed && err.msg[0] ? cli_usage_error("eval", err.msg) : 2;
        dist_finalize(&d);
    } else if (check_ranks(&d, &ds, &m.net, &f, &err) != 0) {
        if (err.msg[0]) errorf("%s", err.msg);
        status = 2;
        dist_finalize(&d);
    } else {
        status = run_eval(&m, &ds, &d, &f);
        if (status != 0 && d.world > 1) dist_abort(&d, status);
        dist_finalize(&d);
    }
    model_close(&m);
    dataset_free(&ds);
    return status;
}
