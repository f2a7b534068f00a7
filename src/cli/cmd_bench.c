/*
 * cmd_bench.c — `alexnet bench`: training and inference throughput of a
 * backend on synthetic data, peak memory, and a per-layer table of time and
 * achieved GFLOP/s.
 *
 * A train step is forward(train) + backward + sgd_update, closed by a
 * 1-sample read_logits so asynchronous (GPU) backends are timed to
 * completion; an inference step is forward(eval) + read_logits of the batch,
 * on a second backend created for inference, as eval and predict create
 * theirs (BackendOptions.inference: it may choose other layouts).
 * Throughput is batch / median step time (robust to other load on the
 * machine); the best step is reported too. The per-layer table comes from a
 * separate profiled pass (set_profiling), so its overhead does not touch the
 * throughput numbers. FLOPs: forward 2*MACs; backward 4*MACs (data + weights
 * gradients), 2*MACs for a first layer (no input gradient).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/json.h"
#include "common/philox.h"
#include "engine/model_open.h"

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static double current_rss_mb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0.0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Synthetic batch in the backend's input format: normalised-looking floats or raw bytes. */
static void *make_input(InputFormat fmt, int batch, int size) {
    size_t n = (size_t)batch * 3 * size * size;
    if (fmt == INPUT_U8_NHWC) {
        uint8_t *x = xmalloc(n);
        for (size_t i = 0; i < n; i++) x[i] = (uint8_t)(rng_word(7, RNG_SYNTHETIC, 1, 0, i) >> 24);
        return x;
    }
    float *x = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = 4.0f * rng_u01(rng_word(7, RNG_SYNTHETIC, 1, 0, i)) - 2.0f;
    return x;
}

typedef struct {
    double train_med, train_best, infer_med, infer_best; /* seconds per batch */
    double rss_first, rss_mid, rss_last;                 /* MiB after the first, middle and last timed train step */
} Timings;

static void time_train(Backend *be, const void *x, const int32_t *labels, int batch, int warmup, int steps,
                       float *logits, Timings *t) {
    ForwardArgs train = { .train = 1 };
    LossArgs loss = { .smoothing = 0.1f, .form = SMOOTH_SEED };
    SgdArgs sgd = { .lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-4f };
    double *ts = xmalloc(sizeof(double) * (size_t)steps);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now_seconds();
        train.step = (uint64_t)s;
        backend_forward(be, x, batch, &train);
        backend_backward(be, labels, batch, &loss, NULL, NULL);
        backend_sgd_update(be, &sgd);
        backend_read_logits(be, logits, 1);
        if (s >= warmup) {
            ts[s - warmup] = now_seconds() - t0;
            if (s == warmup) t->rss_first = current_rss_mb();
            if (s == warmup + steps / 2) t->rss_mid = current_rss_mb();
        }
    }
    t->rss_last = current_rss_mb();
    t->train_best = ts[0];
    for (int s = 1; s < steps; s++) t->train_best = fmin(t->train_best, ts[s]);
    t->train_med = median(ts, steps);
    free(ts);
}

static void time_inference(Backend *be, const void *x, int batch, int warmup, int steps, float *logits, Timings *t) {
    double *ts = xmalloc(sizeof(double) * (size_t)steps);
    ForwardArgs inference = { .train = 0 };
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now_seconds();
        backend_forward(be, x, batch, &inference);
        backend_read_logits(be, logits, batch);
        if (s >= warmup) ts[s - warmup] = now_seconds() - t0;
    }
    t->infer_best = ts[0];
    for (int s = 1; s < steps; s++) t->infer_best = fmin(t->infer_best, ts[s]);
    t->infer_med = median(ts, steps);
    free(ts);
}

/* Mean per-layer milliseconds of `steps` profiled train steps. */
static void profile_train(Backend *be, const void *x, const int32_t *labels, int batch, int steps, float *logits,
                          double *fwd, double *bwd) {
    int L = be->net->n_layers;
    ForwardArgs train = { .train = 1 };
    LossArgs loss = { .smoothing = 0.1f, .form = SMOOTH_SEED };
    SgdArgs sgd = { .lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-4f };
    backend_set_profiling(be, 1);
    backend_read_profile(be, fwd, bwd); /* reset */
    for (int s = 0; s < steps; s++) {
        backend_forward(be, x, batch, &train);
        backend_backward(be, labels, batch, &loss, NULL, NULL);
        backend_sgd_update(be, &sgd);
        backend_read_logits(be, logits, 1);
    }
    backend_read_profile(be, fwd, bwd);
    backend_set_profiling(be, 0);
    for (int i = 0; i < L; i++) {
        fwd[i] /= steps;
        bwd[i] /= steps;
    }
}

/* Mean per-layer milliseconds of `steps` profiled inference passes. */
static void profile_inference(Backend *be, const void *x, int batch, int steps, float *logits, double *inf) {
    int L = be->net->n_layers;
    double *tmp = xcalloc((size_t)L, sizeof(double));
    ForwardArgs inference = { .train = 0 };
    backend_set_profiling(be, 1);
    backend_read_profile(be, inf, tmp); /* reset */
    for (int s = 0; s < steps; s++) {
        backend_forward(be, x, batch, &inference);
        backend_read_logits(be, logits, batch);
    }
    backend_read_profile(be, inf, tmp);
    backend_set_profiling(be, 0);
    for (int i = 0; i < L; i++) inf[i] /= steps;
    free(tmp);
}

/* Backward FLOPs of layer i: its weight gradient if it trains, its input
 * gradient if a trained layer lies below (net_backward_macs, per layer). */
static double layer_bwd_flops(const Net *net, int i) {
    int below = 0;
    for (int j = 0; j < i; j++) below |= layer_trains(net, &net->layers[j]);
    double macs = layer_forward_macs(&net->layers[i]);
    return 2.0 * macs * ((layer_trains(net, &net->layers[i]) ? 1 : 0) + (below ? 1 : 0));
}

static double gflops(double flops_per_sample, int batch, double ms) {
    return ms > 0 && flops_per_sample > 0 ? flops_per_sample * batch / (ms * 1e6) : 0.0;
}

typedef struct {
    const char *backend, *backbone, *device, *precision, *freeze, *pretrained;
    int image_size, batch, classes, threads, steps, warmup, json, profile_steps, inference_only;
    double dropout;
} BenchFlags;

static int parse_flags(BenchFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        { "device", ARG_STR, &f->device, "cpu | gpu", 1, 0, NULL },
        { "backend", ARG_STR, &f->backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, NULL },
        { "precision", ARG_STR, &f->precision,
          "auto | fp32 | bf16 | int8 (auto: bf16 where it measures faster than fp32 here; int8 for an int8 "
          "--pretrained)",
          1, 0, NULL },
        { "pretrained", ARG_STR, &f->pretrained,
          "a model file to time (its backbone, classes and crop); an int8 one (alexnet quantize) times inference only",
          1, 0, NULL },
        { "backbone", ARG_STR, &f->backbone, "alexnet | alexnet_torchvision | alexnet_2012", 1, 0, NULL },
        { "image_size", ARG_INT, &f->image_size, "input size S (SxS; default 224, or --pretrained's crop)",
          NET_MIN_IMAGE, NET_MAX_IMAGE, NULL },
        { "per_batch_size", ARG_INT, &f->batch, "images per step", 1, 65536, NULL },
        { "num_classes", ARG_INT, &f->classes, "classifier outputs", 1, CHECKPOINT_MAX_CLASSES, NULL },
        { "threads", ARG_INT, &f->threads, "compute threads (0: all cores)", 0, 1024, NULL },
        { "steps", ARG_INT, &f->steps, "timed steps per measurement (median reported)", 1, 100000, NULL },
        { "warmup", ARG_INT, &f->warmup, "untimed steps first", 0, 100000, NULL },
        { "profile_steps", ARG_INT, &f->profile_steps,
          "profiled steps for the per-layer table (-1: same as --steps, 0: none)", -1, 100000, NULL },
        { "freeze", ARG_STR, &f->freeze, "none | features | backbone: train as train --freeze does", 1, 0, NULL },
        { "dropout", ARG_FLOAT, &f->dropout,
          "dropout rate, as train's (-1: the backbone's; 0 lets the dnnl backend fold classifier.1 over the average "
          "pool below 224 px)",
          -1, 0.99, NULL },
        { "inference_only", ARG_FLAG, &f->inference_only, "time inference only (an int8 model: always)", 1, 0, NULL },
        { "json", ARG_FLAG, &f->json, "print one JSON object instead of the tables", 1, 0, NULL },
    };
    int st = cli_parse(
        "bench", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL, "[options]",
        "Train (forward+backward+SGD) and inference throughput on synthetic data, peak RSS, per-layer GFLOP/s.");
    if (st != CLI_GO_ON) return st;
    Error err = { { 0 } };
    if (device_check(f->device, &err) != 0) return cli_usage_error("bench", err.msg);
    if (f->profile_steps < 0) f->profile_steps = f->steps;
    return CLI_GO_ON;
}

/* What one bench run measured. */
typedef struct {
    Timings t;
    int profiled;
    double fwd[NET_MAX_LAYERS], bwd[NET_MAX_LAYERS], inf[NET_MAX_LAYERS]; /* per layer, ms */
    double rss_before, peak;      /* MiB: before the backend existed, the peak */
    double step_flops, fwd_flops; /* per image: a train step, an inference */
    int inference_only;           /* an int8 model: no training measured */
} Measured;

/* Timed and profiled inference of m (opened for inference) on a synthetic batch. */
static void measure_inference(Model *m, const BenchFlags *f, Measured *r, float *logits) {
    void *x = make_input(backend_input_format(&m->be), f->batch, f->image_size);
    time_inference(&m->be, x, f->batch, f->warmup, f->steps, logits, &r->t);
    if (f->profile_steps > 0 && backend_can_profile(&m->be)) {
        r->profiled = 1;
        profile_inference(&m->be, x, f->batch, f->profile_steps, logits, r->inf);
    }
    free(x);
}

/* The timed and profiled steps on a synthetic batch: training on m, then
 * inference on a model opened from mo for inference only. 0, or -1 with err
 * set when that second model does not open. */
static int measure(Model *m, const ModelOptions *mo, const BenchFlags *f, Measured *r, Error *err) {
    Backend *be = &m->be;
    int batch = f->batch;
    float *zero = xaligned_alloc(m->net.param_count * sizeof(float)); /* momentum starts at zero */
    backend_set_momentum(be, zero);
    free(zero);
    void *x = make_input(backend_input_format(be), batch, f->image_size);
    int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)batch);
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)(rng_word(7, RNG_SYNTHETIC, 2, 0, (uint64_t)i) % (uint32_t)f->classes);
    float *logits = xmalloc(sizeof(float) * (size_t)batch * f->classes);
    time_train(be, x, labels, batch, f->warmup, f->steps, logits, &r->t);
    r->profiled = f->profile_steps > 0 && backend_can_profile(be);
    if (r->profiled) profile_train(be, x, labels, batch, f->profile_steps, logits, r->fwd, r->bwd);
    r->peak = peak_rss_mb();
    free(x);

    ModelOptions io = *mo;
    io.inference = 1;
    io.freeze = NULL;
    Model inf;
    if (model_open(&inf, &io, err) != 0) {
        free(labels);
        free(logits);
        return -1;
    }
    measure_inference(&inf, f, r, logits);
    model_close(&inf);
    r->fwd_flops = 2.0 * net_forward_macs(&m->net);
    r->step_flops = 0;
    for (int i = 0; i < m->net.n_layers; i++)
        r->step_flops += 2.0 * layer_forward_macs(&m->net.layers[i]) + layer_bwd_flops(&m->net, i);
    free(labels);
    free(logits);
    return 0;
}

static void print_json(const Model *m, const BenchFlags *f, const Measured *r) {
    const Timings *t = &r->t;
    int batch = f->batch;
    cJSON *o = cJSON_CreateObject();
    json_add_str(o, "backend", m->backend_name);
    json_add_str(o, "backbone", f->backbone);
    json_add_str(o, "precision", precision_name(m->precision));
    json_add_num(o, "image_size", f->image_size);
    json_add_num(o, "batch", batch);
    json_add_num(o, "num_classes", f->classes);
    json_add_num(o, "threads", m->threads);
    json_add_num(o, "steps", f->steps);
    if (r->inference_only) {
        cJSON_AddBoolToObject(o, "inference_only", 1);
    } else {
        json_add_num(o, "train_img_s", batch / t->train_med);
        json_add_num(o, "train_img_s_best", batch / t->train_best);
        json_add_num(o, "train_gflops", r->step_flops * batch / t->train_med / 1e9);
    }
    json_add_num(o, "infer_img_s", batch / t->infer_med);
    json_add_num(o, "infer_img_s_best", batch / t->infer_best);
    json_add_num(o, "infer_gflops", r->fwd_flops * batch / t->infer_med / 1e9);
    json_add_num(o, "peak_rss_mb", r->peak);
    json_add_num(o, "rss_before_backend_mb", r->rss_before);
    json_add_num(o, "rss_growth_mb", t->rss_last - t->rss_first);
    json_add_num(o, "rss_growth_second_half_mb", t->rss_last - t->rss_mid);
    if (r->profiled) {
        cJSON *arr = cJSON_AddArrayToObject(o, "layers");
        for (int i = 0; i < m->net.n_layers; i++) {
            const Layer *l = &m->net.layers[i];
            cJSON *e = cJSON_CreateObject();
            char pr[48];
            json_add_str(e, "name", l->name);
            json_add_str(e, "kind", layer_kind_name(l->kind));
            json_add_str(e, "precision", backend_layer_precision(&m->be, i, pr, sizeof pr));
            json_add_num(e, "fwd_ms", r->fwd[i]);
            json_add_num(e, "bwd_ms", r->bwd[i]);
            json_add_num(e, "infer_ms", r->inf[i]);
            json_add_num(e, "fwd_gflops", gflops(2.0 * layer_forward_macs(l), batch, r->fwd[i]));
            json_add_num(e, "bwd_gflops", gflops(layer_bwd_flops(&m->net, i), batch, r->bwd[i]));
            cJSON_AddItemToArray(arr, e);
        }
    }
    char *s = json_print(o, 0);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void print_layer_table(const Model *m, const BenchFlags *f, const Measured *r) {
    printf("\n%-14s %-8s %-24s %9s %8s %9s %8s %9s\n", "layer", "kind", "precision", "fwd ms", "GFLOP/s", "bwd ms",
           "GFLOP/s", "infer ms");
    double sum_fwd = 0, sum_bwd = 0, sum_inf = 0;
    for (int i = 0; i < m->net.n_layers; i++) {
        const Layer *l = &m->net.layers[i];
        double gf = gflops(2.0 * layer_forward_macs(l), f->batch, r->fwd[i]);
        double gb = gflops(layer_bwd_flops(&m->net, i), f->batch, r->bwd[i]);
        char a[16] = "", b[16] = "", pr[48];
        if (gf > 0) snprintf(a, sizeof a, "%.1f", gf);
        if (gb > 0) snprintf(b, sizeof b, "%.1f", gb);
        printf("%-14s %-8s %-24s %9.2f %8s %9.2f %8s %9.2f\n", l->name, layer_kind_name(l->kind),
               backend_layer_precision(&m->be, i, pr, sizeof pr), r->fwd[i], a, r->bwd[i], b, r->inf[i]);
        sum_fwd += r->fwd[i];
        sum_bwd += r->bwd[i];
        sum_inf += r->inf[i];
    }
    printf("%-14s %-8s %-24s %9.2f %8s %9.2f %8s %9.2f\n", "total", "", "", sum_fwd, "", sum_bwd, "", sum_inf);
    printf("(fused layers show 0 forward time: a ReLU fused into the convolution before it; the loss counts into the "
           "last layer's backward)\n");
}

static void print_tables(const Model *m, const BenchFlags *f, const Measured *r) {
    const Timings *t = &r->t;
    int batch = f->batch, frozen = strcmp(f->freeze, "none") != 0;
    printf(
        "bench: %s backend, %s, %s, %dx%d, batch %d, %d classes, %d threads, %d steps (median; best in brackets)%s%s\n",
        m->backend_name, precision_name(m->precision), f->backbone, f->image_size, f->image_size, batch, f->classes,
        m->threads, f->steps, frozen ? ", --freeze " : "", frozen ? f->freeze : "");
    if (r->inference_only)
        printf("train:     - (%s)\n", m->quantized ? "an int8 model runs inference only" : "--inference_only");
    else
        printf("train:     %8.1f img/s  [%.1f]  %7.1f ms/step  %6.1f GFLOP/s\n", batch / t->train_med,
               batch / t->train_best, 1e3 * t->train_med, r->step_flops * batch / t->train_med / 1e9);
    printf("inference: %8.1f img/s  [%.1f]  %7.1f ms/batch %6.1f GFLOP/s\n", batch / t->infer_med,
           batch / t->infer_best, 1e3 * t->infer_med, r->fwd_flops * batch / t->infer_med / 1e9);
    printf("memory:    peak RSS %.0f MiB (%.0f MiB before the backend); RSS change over the timed steps %+.1f MiB"
           " (second half %+.1f)\n",
           r->peak, r->rss_before, t->rss_last - t->rss_first, t->rss_last - t->rss_mid);
    if (r->profiled) print_layer_table(m, f, r);
}

int cmd_bench(int argc, char **argv) {
    BenchFlags f = { .backbone = "alexnet",
                     .device = "cpu",
                     .precision = "auto",
                     .freeze = "none",
                     .dropout = -1,
                     .image_size = 0,
                     .batch = 64,
                     .classes = 1000,
                     .steps = 5,
                     .warmup = 1,
                     .profile_steps = -1 };
    int status = parse_flags(&f, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (!f.pretrained && f.image_size == 0) f.image_size = 224;
    ModelOptions mo = { .checkpoint = f.pretrained,
                        .size_flag = "--image_size",
                        .backbone = f.backbone,
                        .num_classes = f.classes,
                        .image_size = f.image_size,
                        .eval_resize = -1,
                        .dropout = (float)f.dropout,
                        .freeze = f.freeze,
                        .lr_backbone_scale = 1.0,
                        .seed = 1,
                        .backend = f.backend,
                        .device = f.device,
                        .precision = f.precision,
                        .batch = f.batch,
                        .threads = f.threads };
    Measured r = { 0 };
    r.rss_before = peak_rss_mb();
    Model m;
    Error err = { { 0 } };
    /* an int8 model, or --precision int8: inference only */
    mo.inference = f.inference_only || strcmp(f.precision, "int8") == 0;
    if (f.pretrained && !mo.inference) {
        Model probe;
        ModelOptions po = mo;
        po.no_backend = 1;
        po.inference = 1;
        if (model_open(&probe, &po, &err) != 0) return cli_usage_error("bench", err.msg);
        mo.inference = probe.quantized;
        model_close(&probe);
    }
    if (model_open(&m, &mo, &err) != 0) return cli_usage_error("bench", err.msg);
    f.image_size = m.net.image_size;
    f.classes = m.net.num_classes;
    f.backbone = m.net.backbone;
    r.inference_only = mo.inference;
    if (r.inference_only) {
        float *logits = xmalloc(sizeof(float) * (size_t)f.batch * f.classes);
        measure_inference(&m, &f, &r, logits);
        free(logits);
        r.peak = peak_rss_mb();
        r.fwd_flops = 2.0 * net_forward_macs(&m.net);
    } else if (measure(&m, &mo, &f, &r, &err) != 0) {
        model_close(&m);
        return cli_usage_error("bench", err.msg);
    }
    if (f.json) print_json(&m, &f, &r);
    else print_tables(&m, &f, &r);
    model_close(&m);
    return 0;
}
