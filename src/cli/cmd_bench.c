/*
 * cmd_bench.c — `alexnet bench`: training and inference throughput of a
 * backend on synthetic data, peak memory, and a per-layer table of time and
 * achieved GFLOP/s.
 *
 * A train step is forward(train) + backward + sgd_update, closed by a
 * 1-sample read_logits so asynchronous (GPU) backends are timed to
 * completion; an inference step is forward(eval) + read_logits of the batch.
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
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/philox.h"

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

static void run_timed(Backend *be, const void *x, const int32_t *labels, int batch, int warmup, int steps,
                      float *logits, Timings *t) {
    const Net *net = be->net;
    ForwardArgs fa = {1, 0, 0};
    LossArgs la = {0.1f, SMOOTH_SEED, 0};
    SgdArgs sa = {0.01f, 0.9f, 1e-4f};
    double *ts = xmalloc(sizeof(double) * (size_t)steps);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now_seconds();
        fa.step = (uint64_t)s;
        backend_forward(be, x, batch, &fa);
        backend_backward(be, labels, batch, &la, NULL, NULL);
        backend_sgd_update(be, &sa);
        be->vt->read_logits(be->ctx, logits, 1);
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

    ForwardArgs fe = {0, 0, 0};
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now_seconds();
        backend_forward(be, x, batch, &fe);
        be->vt->read_logits(be->ctx, logits, batch);
        if (s >= warmup) ts[s - warmup] = now_seconds() - t0;
    }
    t->infer_best = ts[0];
    for (int s = 1; s < steps; s++) t->infer_best = fmin(t->infer_best, ts[s]);
    t->infer_med = median(ts, steps);
    free(ts);
    (void)net;
}

/* Mean per-layer milliseconds of `steps` profiled train steps and inference passes. */
static void run_profiled(Backend *be, const void *x, const int32_t *labels, int batch, int steps, float *logits,
                         double *fwd, double *bwd, double *inf) {
    const Net *net = be->net;
    int L = net->n_layers;
    double *tmp = xcalloc((size_t)L, sizeof(double));
    ForwardArgs fa = {1, 0, 0}, fe = {0, 0, 0};
    LossArgs la = {0.1f, SMOOTH_SEED, 0};
    SgdArgs sa = {0.01f, 0.9f, 1e-4f};
    be->vt->set_profiling(be->ctx, 1);
    be->vt->read_profile(be->ctx, fwd, bwd); /* reset */
    for (int s = 0; s < steps; s++) {
        backend_forward(be, x, batch, &fa);
        backend_backward(be, labels, batch, &la, NULL, NULL);
        backend_sgd_update(be, &sa);
        be->vt->read_logits(be->ctx, logits, 1);
    }
    be->vt->read_profile(be->ctx, fwd, bwd);
    for (int s = 0; s < steps; s++) {
        backend_forward(be, x, batch, &fe);
        be->vt->read_logits(be->ctx, logits, batch);
    }
    be->vt->read_profile(be->ctx, inf, tmp);
    be->vt->set_profiling(be->ctx, 0);
    for (int i = 0; i < L; i++) {
        fwd[i] /= steps;
        bwd[i] /= steps;
        inf[i] /= steps;
    }
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

int cmd_bench(int argc, char **argv) {
    const char *backend = NULL, *backbone = "alexnet", *device = "cpu", *precision = "auto", *freeze = "none";
    int image_size = 224, batch = 64, classes = 1000, threads = 0, steps = 5, warmup = 1, json = 0, profile_steps = -1;
    ArgSpec specs[] = {
        {"device", ARG_STR, &device, "cpu | gpu", 1, 0, NULL},
        {"backend", ARG_STR, &backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, NULL},
        {"precision", ARG_STR, &precision, "auto | fp32 | bf16 (auto: bf16 on GPU and on CPUs with native bf16)", 1, 0, NULL},
        {"backbone", ARG_STR, &backbone, "alexnet | alexnet_torchvision | alexnet_2012", 1, 0, NULL},
        {"image_size", ARG_INT, &image_size, "input size S (SxS)", NET_MIN_IMAGE, 4096, NULL},
        {"per_batch_size", ARG_INT, &batch, "images per step", 1, 65536, NULL},
        {"num_classes", ARG_INT, &classes, "classifier outputs", 1, 1000000, NULL},
        {"threads", ARG_INT, &threads, "compute threads (0: all cores)", 0, 1024, NULL},
        {"steps", ARG_INT, &steps, "timed steps per measurement (median reported)", 1, 100000, NULL},
        {"warmup", ARG_INT, &warmup, "untimed steps first", 0, 100000, NULL},
        {"profile_steps", ARG_INT, &profile_steps, "profiled steps for the per-layer table (-1: same as --steps, 0: none)", -1, 100000, NULL},
        {"freeze", ARG_STR, &freeze, "none | features | backbone: train as train --freeze does", 1, 0, NULL},
        {"json", ARG_FLAG, &json, "print one JSON object instead of the tables", 1, 0, NULL},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]), help;
    Error err = {{0}};
    if (args_parse(specs, nspecs, argc, argv, 2, NULL, 0, NULL, &help, &err) != 0) return cli_usage_error("bench", err.msg);
    if (help) {
        args_print_help("bench", "[options]",
                        "Train (forward+backward+SGD) and inference throughput on synthetic data, peak RSS, per-layer GFLOP/s.",
                        specs, nspecs);
        return 0;
    }
    if (strcmp(device, "cpu") != 0 && strcmp(device, "gpu") != 0 && strcmp(device, "cuda") != 0) return cli_usage_error("bench", "--device must be cpu or gpu");
    if (profile_steps < 0) profile_steps = steps;
    Net net;
    if (net_build(&net, backbone, classes, image_size, -1.0f, &err) != 0 || net_set_training(&net, freeze, 1.0, &err) != 0)
        return cli_usage_error("bench", err.msg);
    if (threads <= 0) threads = cpu_count();
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    const char *be_name = backend ? backend : backend_default(device);
    Precision prec;
    if (precision_parse(precision, be_name, &prec) != 0) return cli_usage_error("bench", "--precision must be fp32, bf16 or auto");
    BackendOptions bo = {threads, 0, prec, 1};
    Backend be;
    double rss_before = peak_rss_mb();
    if (backend_create(&be, be_name, &net, batch, &bo, &err) != 0) return cli_usage_error("bench", err.msg);

    float *params = xaligned_alloc(net.param_count * sizeof(float));
    net_init_params(&net, params, 1);
    be.vt->set_params(be.ctx, params);
    memset(params, 0, net.param_count * sizeof(float));
    be.vt->set_momentum(be.ctx, params);
    free(params);
    void *x = make_input(be.vt->input_format(be.ctx), batch, image_size);
    int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)batch);
    for (int i = 0; i < batch; i++) labels[i] = (int32_t)(rng_word(7, RNG_SYNTHETIC, 2, 0, (uint64_t)i) % (uint32_t)classes);
    float *logits = xmalloc(sizeof(float) * (size_t)batch * classes);

    Timings t = {0};
    run_timed(&be, x, labels, batch, warmup, steps, logits, &t);
    int L = net.n_layers;
    double fwd[NET_MAX_LAYERS] = {0}, bwd[NET_MAX_LAYERS] = {0}, inf[NET_MAX_LAYERS] = {0};
    int profiled = profile_steps > 0 && be.vt->set_profiling && be.vt->read_profile;
    if (profiled) run_profiled(&be, x, labels, batch, profile_steps, logits, fwd, bwd, inf);
    double peak = peak_rss_mb();

    double macs = net_forward_macs(&net);
    double step_flops = 0;
    for (int i = 0; i < L; i++) step_flops += 2.0 * layer_forward_macs(&net.layers[i]) + layer_bwd_flops(&net, i);
    double train_img_s = batch / t.train_med, infer_img_s = batch / t.infer_med;

    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "backend", be_name);
        cJSON_AddStringToObject(o, "backbone", backbone);
        cJSON_AddStringToObject(o, "precision", precision_name(prec));
        cJSON_AddNumberToObject(o, "image_size", image_size);
        cJSON_AddNumberToObject(o, "batch", batch);
        cJSON_AddNumberToObject(o, "num_classes", classes);
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddNumberToObject(o, "steps", steps);
        cJSON_AddNumberToObject(o, "train_img_s", train_img_s);
        cJSON_AddNumberToObject(o, "train_img_s_best", batch / t.train_best);
        cJSON_AddNumberToObject(o, "infer_img_s", infer_img_s);
        cJSON_AddNumberToObject(o, "infer_img_s_best", batch / t.infer_best);
        cJSON_AddNumberToObject(o, "train_gflops", step_flops * batch / t.train_med / 1e9);
        cJSON_AddNumberToObject(o, "infer_gflops", 2.0 * macs * batch / t.infer_med / 1e9);
        cJSON_AddNumberToObject(o, "peak_rss_mb", peak);
        cJSON_AddNumberToObject(o, "rss_before_backend_mb", rss_before);
        cJSON_AddNumberToObject(o, "rss_growth_mb", t.rss_last - t.rss_first);
        cJSON_AddNumberToObject(o, "rss_growth_second_half_mb", t.rss_last - t.rss_mid);
        if (profiled) {
            cJSON *arr = cJSON_AddArrayToObject(o, "layers");
            for (int i = 0; i < L; i++) {
                const Layer *l = &net.layers[i];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "name", l->name);
                cJSON_AddStringToObject(e, "kind", layer_kind_name(l->kind));
                char pr[48] = "";
                if (be.vt->layer_precision) be.vt->layer_precision(be.ctx, i, pr, sizeof pr);
                cJSON_AddStringToObject(e, "precision", pr[0] ? pr : precision_name(prec));
                cJSON_AddNumberToObject(e, "fwd_ms", fwd[i]);
                cJSON_AddNumberToObject(e, "bwd_ms", bwd[i]);
                cJSON_AddNumberToObject(e, "infer_ms", inf[i]);
                cJSON_AddNumberToObject(e, "fwd_gflops", gflops(2.0 * layer_forward_macs(l), batch, fwd[i]));
                cJSON_AddNumberToObject(e, "bwd_gflops", gflops(layer_bwd_flops(&net, i), batch, bwd[i]));
                cJSON_AddItemToArray(arr, e);
            }
        }
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("bench: %s backend, %s, %s, %dx%d, batch %d, %d classes, %d threads, %d steps (median; best in brackets)%s%s\n",
               be_name, precision_name(prec), backbone, image_size, image_size, batch, classes, threads, steps,
               strcmp(freeze, "none") ? ", --freeze " : "", strcmp(freeze, "none") ? freeze : "");
        printf("train:     %8.1f img/s  [%.1f]  %7.1f ms/step  %6.1f GFLOP/s\n", train_img_s, batch / t.train_best,
               1e3 * t.train_med, step_flops * batch / t.train_med / 1e9);
        printf("inference: %8.1f img/s  [%.1f]  %7.1f ms/batch %6.1f GFLOP/s\n", infer_img_s, batch / t.infer_best,
               1e3 * t.infer_med, 2.0 * macs * batch / t.infer_med / 1e9);
        printf("memory:    peak RSS %.0f MiB (%.0f MiB before the backend); RSS change over the timed steps %+.1f MiB"
               " (second half %+.1f)\n", peak, rss_before, t.rss_last - t.rss_first, t.rss_last - t.rss_mid);
        if (profiled) {
            printf("\n%-14s %-8s %-24s %9s %8s %9s %8s %9s\n", "layer", "kind", "precision", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s", "infer ms");
            double sf = 0, sb = 0, si = 0;
            for (int i = 0; i < L; i++) {
                const Layer *l = &net.layers[i];
                double gf = gflops(2.0 * layer_forward_macs(l), batch, fwd[i]), gb = gflops(layer_bwd_flops(&net, i), batch, bwd[i]);
                char a[16] = "", b[16] = "";
                if (gf > 0) snprintf(a, sizeof a, "%.1f", gf);
                if (gb > 0) snprintf(b, sizeof b, "%.1f", gb);
                char pr[48] = "";
                if (be.vt->layer_precision) be.vt->layer_precision(be.ctx, i, pr, sizeof pr);
                printf("%-14s %-8s %-24s %9.2f %8s %9.2f %8s %9.2f\n", l->name, layer_kind_name(l->kind),
                       pr[0] ? pr : precision_name(prec), fwd[i], a, bwd[i], b, inf[i]);
                sf += fwd[i]; sb += bwd[i]; si += inf[i];
            }
            printf("%-14s %-8s %-24s %9.2f %8s %9.2f %8s %9.2f\n", "total", "", "", sf, "", sb, "", si);
            printf("(fused layers show 0 forward time: a ReLU fused into the convolution before it; the loss counts into the last layer's backward)\n");
        }
    }
    free(x); free(labels); free(logits);
    backend_destroy(&be);
    return 0;
}
