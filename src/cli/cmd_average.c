/*
 * cmd_average.c — `alexnet average A.safetensors B.safetensors ... --out C`:
 * the element-wise mean of model files of one model (timm's
 * avg_checkpoints.py: the last few epochs' weights, averaged, often score
 * better than any one of them).
 *
 * As timm does it: each tensor summed in float64 in the order the files are
 * given, divided by their count in float64, rounded once to float32. Every
 * file must hold the same backbone, classes (names too, where both name them)
 * and shapes as the first; a file with a non-finite weight is refused by the
 * load. The output is a model file like train's, written atomically, with the
 * first file's class names and eval geometry (when all files agree on it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/model_open.h"

#define AVERAGE_MAX_FILES 256

typedef struct {
    const char *files[AVERAGE_MAX_FILES];
    int nfiles;
    const char *out;
} AverageFlags;

static int parse_flags(AverageFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        { "out", ARG_STR, &f->out, "the model file to write (.safetensors)", 1, 0, NULL },
    };
    int st = cli_parse("average", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, f->files,
                       AVERAGE_MAX_FILES, &f->nfiles, "CKPT CKPT [CKPT...] --out AVERAGED.safetensors",
                       "The element-wise mean of model files of one model (the same backbone, classes and shapes),\n"
                       "as timm's avg_checkpoints.py computes it: float64 sums, rounded once to float32.");
    if (st != CLI_GO_ON) return st;
    if (!f->out) return cli_usage_error("average", "--out is required (the .safetensors file to write)");
    if (f->nfiles < 2)
        return cli_usage_error("average", f->nfiles ? "give at least two model files to average (got one)"
                                                    : "give the model files to average (at least two)");
    return CLI_GO_ON;
}

/* Both files name their classes and the names differ: other classes, though as many. */
static int same_class_names(const ModelInfo *a, const ModelInfo *b) {
    if (!a->n_classes_named || !b->n_classes_named) return 1;
    if (a->n_classes_named != b->n_classes_named) return 0;
    for (int i = 0; i < a->n_classes_named; i++)
        if (strcmp(a->class_names[i], b->class_names[i]) != 0) return 0;
    return 1;
}

/* Adds file `path`'s weights to sum[P]; checks it against the first file's model. */
static int add_file(const char *path, const Model *first, double *sum, float *scratch, int *same_geometry,
                    Error *err) {
    ModelFile mf;
    if (checkpoint_open(path, &mf, err) != 0) return -1;
    int rc = checkpoint_load(&mf, &first->net, scratch, err);
    if (rc == 0 && !same_class_names(&mf.info, &first->info))
        rc = error_set(err, "%s names other classes than the first file (as many, %d, but not the same): averaging "
                            "models of different classes makes no model",
                       path, first->net.num_classes);
    if (rc == 0) {
        for (size_t i = 0; i < first->net.param_count; i++) sum[i] += (double)scratch[i];
        *same_geometry = *same_geometry && mf.info.val_crop_size == first->info.val_crop_size &&
                         mf.info.val_resize_size == first->info.val_resize_size;
    }
    checkpoint_close(&mf);
    return rc;
}

int cmd_average(int argc, char **argv) {
    AverageFlags f = { .nfiles = 0 };
    int status = parse_flags(&f, argc, argv);
    if (status != CLI_GO_ON) return status;
    Error err = { { 0 } };
    Model first;
    ModelOptions mo = { .checkpoint = f.files[0], .eval_resize = -1, .no_backend = 1 };
    if (model_open(&first, &mo, &err) != 0) return cli_usage_error("average", err.msg);
    size_t P = first.net.param_count;
    double *sum = xmalloc(P * sizeof *sum);
    float *scratch = xmalloc(P * sizeof *scratch);
    for (size_t i = 0; i < P; i++) sum[i] = (double)first.params[i];
    int same_geometry = 1;
    for (int k = 1; k < f.nfiles && status == CLI_GO_ON; k++)
        if (add_file(f.files[k], &first, sum, scratch, &same_geometry, &err) != 0) status = 2;
    if (status == CLI_GO_ON) {
        for (size_t i = 0; i < P; i++) first.params[i] = (float)(sum[i] / (double)f.nfiles);
        int named = first.info.n_classes_named == first.net.num_classes;
        ModelMeta meta = { .class_names = named ? first.info.class_names : NULL,
                           .epoch = first.info.epoch,
                           .step = first.info.step,
                           .val_crop_size = same_geometry ? first.info.val_crop_size : 0,
                           .val_resize_size = same_geometry ? first.info.val_resize_size : 0 };
        if (checkpoint_save_model(f.out, &first.net, first.params, &meta, &err) != 0) {
            errorf("%s", err.msg);
            status = 1;
        } else {
            printf("%s: the mean of %d model files (%s, %d classes, %zu weights)\n", f.out, f.nfiles,
                   first.net.backbone, first.net.num_classes, P);
            status = 0;
        }
    } else {
        errorf("%s", err.msg);
        fprintf(stderr, "Run 'alexnet average --help' for usage.\n");
    }
    free(sum);
    free(scratch);
    model_close(&first);
    return status;
}
