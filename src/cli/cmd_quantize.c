/*
 * cmd_quantize.c — `alexnet quantize --pretrained F --calib_dir DIR --out Q`:
 * post-training static int8 quantization (model/quant.h). The fp32 model runs
 * on N calibration images through its eval transform on the reference
 * backend, which shows each conv / linear layer's input; each input's range
 * (min/max, a percentile, or the entropy threshold) becomes its u8 scale and
 * zero point, each weight s8 per output channel. The output is an int8 model
 * file (io/quant_file.h) that eval, predict and bench run with --precision
 * int8.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "data/sample.h"
#include "engine/model_open.h"
#include "io/quant_file.h"
#include "model/quant.h"

#define CMD "quantize"

typedef struct {
    const char *pretrained, *calib_dir, *out, *method, *fp32_layers;
    int64_t calib_images;
    double percentile;
    int batch, threads, image_size, resize_size;
} QuantizeFlags;

static int parse_flags(QuantizeFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        { "pretrained", ARG_STR, &f->pretrained, "the fp32 model file to quantize (.safetensors)", 1, 0, NULL },
        { "calib_dir", ARG_STR, &f->calib_dir, "calibration images: a folder (DIR/<class>/<image>) or a pack", 1, 0,
          NULL },
        { "calib_images", ARG_I64, &f->calib_images, "images to calibrate on, spread evenly over the folder", 1, 1e9,
          NULL },
        { "method", ARG_STR, &f->method, "input ranges: minmax | percentile | entropy", 1, 0, NULL },
        { "percentile", ARG_FLOAT, &f->percentile, "--method percentile's share of each input's values kept", 50, 100,
          NULL },
        { "fp32_layers", ARG_STR, &f->fp32_layers, "layers kept fp32: none | first | last | first,last", 1, 0, NULL },
        { "out", ARG_STR, &f->out, "the int8 model file to write (.safetensors)", 1, 0, NULL },
        { "image_size", ARG_INT, &f->image_size, "centre crop (0: the checkpoint's validation crop)", 0, NET_MAX_IMAGE,
          NULL },
        { "val_resize_size", ARG_INT, &f->resize_size,
          "resize before the crop (default: the checkpoint's validation resize, else 0: the seed's square)", 0,
          NET_MAX_IMAGE, NULL },
        { "per_batch_size", ARG_INT, &f->batch, "images per forward pass", 1, 4096, NULL },
        { "threads", ARG_INT, &f->threads, "compute threads (0: all cores)", 0, 1024, NULL },
    };
    int st = cli_parse(CMD, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                       "--pretrained MODEL.safetensors --calib_dir DIR --out INT8.safetensors",
                       "Post-training int8 quantization: calibrates each layer's input range on images through the\n"
                       "model's eval transform, quantizes weights per output channel. eval, predict and bench run\n"
                       "the result with --precision int8.");
    if (st != CLI_GO_ON) return st;
    if (!f->pretrained) return cli_usage_error(CMD, "--pretrained is required (the fp32 model to quantize)");
    if (!f->calib_dir) return cli_usage_error(CMD, "--calib_dir is required (images like the ones the model will see)");
    if (!f->out) return cli_usage_error(CMD, "--out is required (the int8 .safetensors file to write)");
    if (strcmp(f->method, "minmax") != 0 && strcmp(f->method, "percentile") != 0 && strcmp(f->method, "entropy") != 0)
        return cli_usage_error(CMD, "--method must be " QUANT_METHODS);
    const char *ok[] = { "none", "first", "last", "first,last", "last,first" };
    int known = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) known |= strcmp(f->fp32_layers, ok[i]) == 0;
    if (!known) return cli_usage_error(CMD, "--fp32_layers must be none, first, last or first,last");
    return CLI_GO_ON;
}

typedef struct {
    QuantObserver obs[NET_MAX_LAYERS];
    int pass; /* 1: ranges, 2: histograms */
} Calibration;

static void observe(void *user, int layer, const float *x, size_t n) {
    Calibration *c = user;
    if (c->pass == 1) quant_observe_range(&c->obs[layer], x, n);
    else quant_observe_hist(&c->obs[layer], x, n);
}

/* One pass over the chosen images: decode, eval transform, forward. */
static int calibration_pass(Model *m, const Dataset *ds, const int64_t *pick, int64_t n, int batch, Calibration *c,
                            Error *err) {
    const int S = m->net.image_size;
    SampleConfig sc = { .image_size = S, .resize_size = m->eval_resize };
    SampleWorker *w = sample_worker_create(&sc);
    size_t per = input_sample_bytes(INPUT_F32_NCHW, S);
    float *buf = xaligned_alloc((size_t)batch * per);
    int rc = 0;
    ForwardArgs fa = { .train = 0, .observe = observe, .observe_user = c };
    for (int64_t start = 0; start < n && rc == 0; start += batch) {
        int b = (int)(n - start < batch ? n - start : batch);
        for (int k = 0; k < b && rc == 0; k++) {
            ImageSource src;
            int64_t i = pick[start + k];
            rc = dataset_source(ds, i, &src, err);
            if (rc == 0) rc = sample_eval_src(w, &src, (char *)buf + (size_t)k * per, INPUT_F32_NCHW, err);
            dataset_source_done(ds, i);
        }
        if (rc == 0) backend_forward(&m->be, buf, b, &fa);
    }
    free(buf);
    sample_worker_destroy(w);
    return rc;
}

static int quantize(const QuantizeFlags *f, Model *m, Error *err) {
    Dataset ds;
    if (dataset_scan(&ds, f->calib_dir, err) != 0) return -1;
    int64_t n = f->calib_images < ds.n ? f->calib_images : ds.n;
    int64_t *pick = xmalloc(sizeof *pick * (size_t)(n > 0 ? n : 1));
    for (int64_t k = 0; k < n; k++) pick[k] = (int64_t)((double)k * (double)ds.n / (double)n); /* every class */
    Calibration *c = xcalloc(1, sizeof *c);
    const Net *net = &m->net;
    printf("alexnet quantize: calibrating on %lld of %lld images in %s (%s) ...\n", (long long)n, (long long)ds.n,
           f->calib_dir, f->method);
    fflush(stdout);
    double t0 = now_seconds();
    c->pass = 1;
    int rc =
        n > 0 ? calibration_pass(m, &ds, pick, n, f->batch, c, err) : error_set(err, "%s has no images", f->calib_dir);
    if (rc == 0 && strcmp(f->method, "minmax") != 0) {
        c->pass = 2;
        rc = calibration_pass(m, &ds, pick, n, f->batch, c, err);
    }
    if (rc == 0) {
        QuantModel q = { .layers = net->n_layers, .calib_images = n };
        snprintf(q.method, sizeof q.method, "%s", f->method);
        int first = -1, last = -1;
        for (int i = 0; i < net->n_layers; i++)
            if (net->layers[i].weight >= 0) {
                if (first < 0) first = i;
                last = i;
            }
        printf("%-14s %-5s %12s %12s %12s %5s\n", "layer", "", "input min", "input max", "scale", "zero");
        for (int i = 0; rc == 0 && i < net->n_layers; i++) {
            const Layer *l = &net->layers[i];
            if (l->weight < 0) continue;
            int keep = (i == first && strstr(f->fp32_layers, "first")) || (i == last && strstr(f->fp32_layers, "last"));
            float lo, hi;
            quant_observer_range(&c->obs[i], f->method, f->percentile, &lo, &hi);
            if (!keep) {
                if ((rc = quant_weights(&q, net, i, m->params + net->params[l->weight].offset, err)) != 0) break;
                quant_range(lo, hi, &q.in_scale[i], &q.in_zero[i]);
            }
            printf("%-14s %-5s %12.5g %12.5g %12.5g %5d\n", l->name, keep ? "fp32" : "int8", (double)lo, (double)hi,
                   keep ? 0.0 : (double)q.in_scale[i], keep ? 0 : q.in_zero[i]);
        }
        int named = m->info.n_classes_named == net->num_classes;
        ModelMeta meta = { .class_names = named ? m->info.class_names : NULL,
                           .epoch = m->info.epoch,
                           .step = m->info.step,
                           .val_crop_size = net->image_size,
                           .val_resize_size = m->eval_resize };
        int any = 0;
        for (int i = 0; i < net->n_layers; i++) any |= q.int8[i];
        if (rc != 0) {
            Error why = *err;
            error_set(err, "%s: %s", f->pretrained, why.msg);
        } else if (!any) rc = error_set(err, "--fp32_layers %s leaves no layer to quantize", f->fp32_layers);
        else rc = quant_save(f->out, net, m->params, &q, &meta, err);
        if (rc == 0)
            printf("%s: int8 model (%s on %lld images, %.1f s); run it with alexnet eval --pretrained %s\n", f->out,
                   f->method, (long long)n, now_seconds() - t0, f->out);
        quant_free(&q);
    }
    free(c);
    free(pick);
    dataset_free(&ds);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    QuantizeFlags f = { .calib_images = 512,
                        .method = "percentile",
                        .percentile = 99.99,
                        .fp32_layers = "none",
                        .batch = 32,
                        .resize_size = EVAL_RESIZE_FROM_CHECKPOINT };
    int status = parse_flags(&f, argc, argv);
    if (status != CLI_GO_ON) return status;
    Error err = { { 0 } };
    Model m;
    ModelOptions mo = { .checkpoint = f.pretrained,
                        .image_size = f.image_size,
                        .size_flag = "--image_size",
                        .eval_resize = f.resize_size,
                        .backend = "ref",
                        .precision = "fp32",
                        .batch = f.batch,
                        .threads = f.threads,
                        .inference = 1 };
    if (model_open(&m, &mo, &err) != 0) return cli_usage_error(CMD, err.msg);
    if (m.quantized) {
        model_close(&m);
        return cli_usage_error(CMD, "--pretrained is an int8 model already: quantize the fp32 model it came from");
    }
    status = quantize(&f, &m, &err) == 0 ? 0 : 2;
    if (status) errorf("%s", err.msg);
    model_close(&m);
    return status;
}
