/*
 * cmd_eval.c — `alexnet eval`: top-1/top-5 of a checkpoint over every image
 * of a folder (no dropped remainder, dropout off), optionally over MPI ranks.
 */
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
#include "train/fingerprint.h"

typedef struct {
    InferFlags in;
    const char *data_dir;
    int batch, workers, json, strict, is_distributed;
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
    };
    int st = cli_parse("eval", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                       "--data_dir VAL --pretrained CKPT [options]",
                       "Top-1 and top-5 accuracy over every image (resize, center crop, normalize).");
    if (st != CLI_GO_ON) return st;
    Error err = { { 0 } };
    if (!f->data_dir) return cli_usage_error("eval", "--data_dir is required");
    if (infer_flags_check(&f->in, &err) != 0) return cli_usage_error("eval", err.msg);
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

static void print_result(const EvalCounts *ev, double seconds, const Model *m, const EvalFlags *f) {
    double top1 = ev->images ? (double)ev->correct1 / (double)ev->images : 0.0;
    double top5 = ev->images ? (double)ev->correct5 / (double)ev->images : 0.0;
    /* With --json, stdout is the JSON object alone (for jq and scripts); the human line goes to stderr. */
    fprintf(f->json ? stderr : stdout,
            "%s on %s: top-1 %.2f%%  top-5 %.2f%%  (%lld images, %lld skipped, %.1f img/s, %s backend, %s)\n",
            f->in.pretrained, f->data_dir, 100 * top1, 100 * top5, (long long)ev->images, (long long)ev->skipped,
            (double)ev->images / (seconds > 0 ? seconds : 1), m->backend_name, precision_name(m->precision));
    if (f->json) {
        cJSON *o = cJSON_CreateObject();
        json_add_fixed(o, "top1", top1, 6);
        json_add_fixed(o, "top5", top5, 6);
        json_add_sig(o, "loss", ev->images ? ev->loss_sum / (double)ev->images : 0.0, 9);
        json_add_num(o, "images", (double)ev->images);
        json_add_num(o, "skipped", (double)ev->skipped);
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
    float *logits = xmalloc((size_t)f->batch * m->net.num_classes * sizeof(float));
    double t0 = now_seconds();
    EvalCounts ev;
    int status = 0;
    if (evaluate_tta(&m->be, loader, d, logits, strcmp(f->in.tta, "flip") == 0, d->rank == 0, &ev, &err) != 0) {
        if (d->rank == 0) errorf("%s", err.msg);
        status = 1;
    } else if (d->rank == 0) {
        print_result(&ev, now_seconds() - t0, m, f);
    }
    free(logits);
    loader_destroy(loader);
    return status;
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
    if (dataset_scan(&ds, f.data_dir, &err) != 0) {
        model_close(&m);
        return cli_usage_error("eval", err.msg);
    }
    Dist d;
    if (map_labels(&ds, &m.info, &f, &err) != 0 || dist_init(&d, f.is_distributed, &argc, &argv, &err) != 0) {
        status = cli_usage_error("eval", err.msg);
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
