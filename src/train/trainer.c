/*
 * trainer.c — the training loop (see trainer.h).
 *
 * Exactness: every random choice is a function of (seed, epoch, sample) or
 * (seed, step, layer, element), the loader can start an epoch at any batch,
 * and the saved state holds parameters, momentum and the position. So a run
 * resumed from any saved state replays bit for bit what the uninterrupted
 * run would have done (same machine, same thread count).
 */
#include "train/trainer.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/backend.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "io/atomic_file.h"
#include "io/curves_svg.h"
#include "io/metrics.h"
#include "train/evaluate.h"
#include "train/lr_schedule.h"
#include "train/progress.h"

static volatile sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
    if (g_interrupted) _exit(128 + sig); /* a second Ctrl-C: stop now */
    g_interrupted = 1;
}

void run_path(char *buf, size_t len, const char *dir, const char *file) {
    snprintf(buf, len, "%s/%s", dir, file);
}

/* A failure while running, from whichever rank met it. */
static void report(const Dist *d, const char *msg) {
    fflush(stdout);
    if (d->world > 1) fprintf(stderr, "alexnet train [rank %d]: error: %s\n", d->rank, msg);
    else fprintf(stderr, "alexnet train: error: %s\n", msg);
}

/* Everything a run holds; released in one place. */
typedef struct {
    Dataset train, val;
    int have_val;
    Net net;
    Backend be;
    Loader *train_loader, *val_loader;
    float *params, *momentum, *logits;
    MetricsLog metrics;
    int metrics_open;
} Run;

static void run_free(Run *r) {
    if (r->train_loader) loader_destroy(r->train_loader);
    if (r->val_loader) loader_destroy(r->val_loader);
    backend_destroy(&r->be);
    if (r->metrics_open) metrics_close(&r->metrics);
    dataset_free(&r->train);
    if (r->have_val) dataset_free(&r->val);
    free(r->params); free(r->momentum); free(r->logits);
}

static int same_classes(const Dataset *a, const Dataset *b) {
    if (a->n_classes != b->n_classes) return 0;
    for (int i = 0; i < a->n_classes; i++)
        if (strcmp(a->classes[i], b->classes[i]) != 0) return 0;
    return 1;
}

static Precision precision_of(const TrainConfig *c, const char *backend) {
    if (strcmp(c->precision, "bf16") == 0) return PRECISION_BF16;
    if (strcmp(c->precision, "fp32") == 0) return PRECISION_FP32;
    return strcmp(backend, "cuda") == 0 ? PRECISION_BF16 : PRECISION_FP32;
}

/* Rank 0 writes the model files of a finished epoch (or an interruption). */
static int save_model_files(Run *r, const TrainConfig *c, int epochs_done, int64_t step, int is_best, Error *err) {
    char path[4200];
    r->be.vt->get_params(r->be.ctx, r->params);
    run_path(path, sizeof path, c->out_dir, "last.safetensors");
    if (checkpoint_save_model(path, &r->net, r->params, r->train.classes, epochs_done, step, err) != 0) return -1;
    if (is_best) {
        run_path(path, sizeof path, c->out_dir, "best.safetensors");
        if (checkpoint_save_model(path, &r->net, r->params, r->train.classes, epochs_done, step, err) != 0) return -1;
    }
    if (c->ckpt_interval > 0 && epochs_done > 0 && epochs_done % c->ckpt_interval == 0) {
        char name[64];
        snprintf(name, sizeof name, "epoch_%d.safetensors", epochs_done);
        run_path(path, sizeof path, c->out_dir, name);
        if (checkpoint_save_model(path, &r->net, r->params, r->train.classes, epochs_done, step, err) != 0) return -1;
    }
    return 0;
}

static int save_state(Run *r, const TrainConfig *c, int epoch, int64_t batch, int64_t step, double best, Error *err) {
    char path[4200];
    r->be.vt->get_params(r->be.ctx, r->params);
    r->be.vt->get_momentum(r->be.ctx, r->momentum);
    TrainPosition pos = {epoch, batch, step, best, config_to_json(c)};
    run_path(path, sizeof path, c->out_dir, STATE_FILE);
    int rc = checkpoint_save_state(path, &r->net, r->params, r->momentum, &pos, err);
    free(pos.config_json);
    return rc;
}

static void print_summary(const Run *r, const TrainConfig *c, const Dist *d, const LrSchedule *s, const char *backend,
                          Precision prec, int threads, int workers) {
    const Net *n = &r->net;
    char sched[512];
    lr_describe(s, sched, sizeof sched);
    printf("alexnet train: %lld images in %d classes (%s)", (long long)r->train.n, r->train.n_classes, c->data_dir);
    if (r->have_val) printf(", validation %lld images (%s)", (long long)r->val.n, c->val_dir);
    printf("\n  model      %s, %dx%d input, %d classes, dropout %.2f, %.1f M parameters, %.2f GFLOP/image forward\n",
           n->backbone, n->image_size, n->image_size, n->num_classes, n->dropout, n->param_count / 1e6,
           2 * net_forward_macs(n) / 1e9);
    printf("  backend    %s, %s, %d threads, %d loader workers\n", backend, prec == PRECISION_BF16 ? "bf16" : "fp32",
           threads, workers);
    printf("  batch      %d per process x %d process%s = %d global; %lld steps per epoch, %d epochs\n",
           c->per_batch_size, d->world, d->world > 1 ? "es" : "", c->per_batch_size * d->world,
           (long long)s->steps_per_epoch, c->max_epoch);
    printf("  schedule   %s\n", sched);
    printf("  loss       softmax cross-entropy, label smoothing %g (%s form)\n",
           c->label_smooth ? c->label_smooth_factor : 0.0, c->smoothing_form);
    printf("  optimizer  SGD momentum %g, weight decay %g on weights only\n", c->momentum, c->weight_decay);
    printf("  run dir    %s\n", c->out_dir);
    if (d->world == 1 && c->lr == 0.13 && c->per_batch_size == 256)
        printf("  note       lr 0.13 is the seed's value for 8 x 256 = 2048 images per step; its 1-device script uses 0.01625\n");
    fflush(stdout);
}

int train_run(const TrainConfig *cfg_in, const TrainPosition *resume, Dist *d, Error *err) {
    TrainConfig cfg = *cfg_in;
    TrainConfig *c = &cfg;
    Run r;
    memset(&r, 0, sizeof r);
    int is0 = d->rank == 0, status = 2;
    char path[4200];

    /* --- data and model --- */
    if (dataset_scan(&r.train, c->data_dir, err) != 0) goto out;
    if (c->val_dir[0]) {
        if (dataset_scan(&r.val, c->val_dir, err) != 0) goto out;
        r.have_val = 1;
        if (!same_classes(&r.train, &r.val)) {
            error_set(err, "--val_dir %s has classes that differ from --data_dir %s (%d vs %d folders, or other names)",
                      c->val_dir, c->data_dir, r.val.n_classes, r.train.n_classes);
            goto out;
        }
    }
    if (net_build(&r.net, c->backbone, r.train.n_classes, c->image_size, (float)c->dropout, err) != 0) goto out;
    if (c->T_max <= 0) c->T_max = c->max_epoch;

    /* --- backend and parameters --- */
    const char *backend = c->backend[0] ? c->backend : backend_default(c->device);
    int threads = c->threads > 0 ? c->threads : cpu_count();
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    BackendOptions bo = {threads, d->local_rank, precision_of(c, backend), c->seed}; /* one GPU per local rank */
    if (backend_create(&r.be, backend, &r.net, c->per_batch_size, &bo, err) != 0) goto out;
    size_t P = r.net.param_count;
    r.params = xaligned_alloc(P * sizeof(float));
    r.momentum = xaligned_alloc(P * sizeof(float));
    r.logits = xmalloc((size_t)c->per_batch_size * r.net.num_classes * sizeof(float));
    if (resume) {
        run_path(path, sizeof path, c->out_dir, STATE_FILE);
        if (checkpoint_load_state(path, &r.net, r.params, r.momentum, err) != 0) goto out;
    } else if (c->pretrained[0]) {
        if (checkpoint_load_params(c->pretrained, &r.net, r.params, err) != 0) goto out;
    } else {
        net_init_params(&r.net, r.params, c->seed);
    }
    dist_bcast(d, r.params, P * sizeof(float), 0);
    dist_bcast(d, r.momentum, P * sizeof(float), 0);
    r.be.vt->set_params(r.be.ctx, r.params);
    r.be.vt->set_momentum(r.be.ctx, r.momentum);

    /* --- loaders and schedule --- */
    int workers = c->workers > 0 ? c->workers : cpu_count();
    InputFormat fmt = r.be.vt->input_format(r.be.ctx);
    LoaderConfig lc = {LOADER_TRAIN, c->per_batch_size, c->image_size, workers, c->seed, c->color_jitter,
                       (float)c->min_crop_scale, d->rank, d->world, fmt, c->max_image_pixels, c->strict_data, 0};
    if (!(r.train_loader = loader_create(&r.train, &lc, err))) goto out;
    int64_t S = loader_batches_per_epoch(r.train_loader);
    if (S < 1) {
        error_set(err, "--data_dir %s has %lld images: fewer than one global batch of %d; lower --per_batch_size",
                  c->data_dir, (long long)r.train.n, c->per_batch_size * d->world);
        goto out;
    }
    if (r.have_val) {
        LoaderConfig vc = lc;
        vc.mode = LOADER_EVAL;
        vc.batch = c->per_batch_size;
        if (!(r.val_loader = loader_create(&r.val, &vc, err))) goto out;
    }
    LrSchedule sched = {0};
    if (lr_kind_parse(&sched.kind, c->lr_scheduler, err) != 0) goto out;
    if (lr_milestones_parse(&sched, c->lr_epochs, err) != 0) goto out;
    sched.base = c->lr; sched.eta_min = c->eta_min; sched.gamma = c->lr_gamma;
    sched.warmup_epochs = c->warmup_epochs; sched.T_max = c->T_max; sched.steps_per_epoch = S;
    LossArgs la = {c->label_smooth ? (float)c->label_smooth_factor : 0.0f,
                   strcmp(c->smoothing_form, "torch") == 0 ? SMOOTH_TORCH : SMOOTH_SEED, c->per_batch_size * d->world};

    /* --- run directory (rank 0) --- */
    int start_epoch = resume ? resume->epoch : 0;
    int64_t start_batch = resume ? resume->batch : 0, step = resume ? resume->step : 0;
    double best = resume ? resume->best_top1 : -1.0;
    if (is0) {
        if (mkdir_p(c->out_dir, err) != 0) goto out;
        char *json = config_to_json(c);
        run_path(path, sizeof path, c->out_dir, "config.json");
        int rc = atomic_write_text(path, json, err);
        free(json);
        if (rc != 0) goto out;
        run_path(path, sizeof path, c->out_dir, "metrics.jsonl");
        if (metrics_open(&r.metrics, path, resume ? step : -1, err) != 0) goto out;
        r.metrics_open = 1;
        print_summary(&r, c, d, &sched, backend, bo.precision, threads, workers);
        if (resume) printf("resuming at epoch %d, batch %lld (step %lld)\n", start_epoch + 1, (long long)start_batch, (long long)step);
    }

    /* --- gradient all-reduce: in the backend (NCCL) or over MPI buckets --- */
    int backend_comm = 0;
    if (d->world > 1 && r.be.vt->comm_init) {
        uint8_t id[COMM_ID_BYTES] = {0};
        if (is0 && r.be.vt->comm_create_id(r.be.ctx, id, err) != 0) FATAL("%s", err->msg);
        dist_bcast(d, id, sizeof id, 0);
        if (r.be.vt->comm_init(r.be.ctx, d->rank, d->world, id, err) != 0) FATAL("%s", err->msg);
        backend_comm = 1;
    } else {
        dist_grads_attach(d, &r.net, r.be.vt->grad_buffer(r.be.ctx), 25u << 20);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* --- the loop --- */
    Progress prog;
    /* mpirun hands ranks a pseudo-terminal even when its own output is a file: plain lines there */
    progress_init(&prog, is0, c->log_interval);
    if (d->world > 1) prog.tty = 0;
    double time_base = is0 ? metrics_last_time(&r.metrics) : 0.0, t_run = now_seconds();
    double t_mark = now_seconds(), loss_sum = 0.0;
    int64_t img_global = (int64_t)c->per_batch_size * d->world, mark_steps = 0;
    int stop = 0;
    status = 1;
    for (int epoch = start_epoch; epoch < c->max_epoch && !stop; epoch++) {
        int64_t batch = epoch == start_epoch ? start_batch : 0;
        double epoch_loss = 0.0, t_epoch = now_seconds();
        int64_t epoch_steps = 0;
        loader_start_epoch(r.train_loader, epoch, batch);
        Batch b;
        int rc;
        while ((rc = loader_next(r.train_loader, &b, err)) == 1) {
            double lr = lr_at(&sched, step);
            ForwardArgs fa = {1, (uint64_t)step, (uint64_t)d->rank * (uint64_t)c->per_batch_size};
            backend_forward(&r.be, b.data, b.n, &fa);
            /* the hook only when there is something to overlap: a GPU backend syncs per call */
            GradReadyFn ready = d->world > 1 && !backend_comm ? dist_grad_ready : NULL;
            double loss = backend_backward(&r.be, b.labels, b.n, &la, ready, d);
            if (!backend_comm) dist_grads_wait(d);
            double v[3] = {loss, isfinite(loss) ? 0.0 : 1.0, g_interrupted ? 1.0 : 0.0};
            dist_sum_doubles(d, v, 3);
            loader_release(r.train_loader, &b);
            if (v[1] > 0) {
                progress_done(&prog);
                if (is0)
                    fprintf(stderr, "alexnet train: error: the loss is not finite (%g) at step %lld (epoch %d, batch %lld); "
                            "stopping. The last good checkpoint in %s is kept. Try a lower --lr or a longer warmup.\n",
                            loss, (long long)step, epoch + 1, (long long)batch, c->out_dir);
                status = 1;
                goto out_noerr;
            }
            SgdArgs sg = {(float)lr, (float)c->momentum, (float)c->weight_decay};
            backend_sgd_update(&r.be, &sg);
            step++; batch++; epoch_steps++; mark_steps++;
            loss_sum += v[0];
            epoch_loss += v[0];

            double now = now_seconds(), img_s = (double)mark_steps * (double)img_global / (now - t_mark + 1e-12);
            double remaining = (double)(S - batch) + (double)(c->max_epoch - epoch - 1) * (double)S;
            progress_step(&prog, epoch, c->max_epoch, batch, S, step, v[0], lr, img_s, remaining * img_global / img_s);
            if (is0 && step % c->log_interval == 0) {
                MetricRecord m = {0, step, epoch, loss_sum / (double)mark_steps, lr, img_s,
                                  time_base + now - t_run, -1, -1, 0, 0};
                metrics_add(&r.metrics, &m);
                loss_sum = 0.0; mark_steps = 0; t_mark = now;
            }
            int interrupted = v[2] > 0, at_limit = c->max_steps > 0 && step >= c->max_steps;
            if (interrupted || at_limit || (c->save_every_steps > 0 && step % c->save_every_steps == 0)) {
                if (is0 && (save_state(&r, c, epoch, batch, step, best, err) != 0 ||
                            ((interrupted || at_limit) && save_model_files(&r, c, epoch, step, 0, err) != 0))) {
                    progress_done(&prog);
                    report(d, err->msg);
                    goto out_noerr;
                }
                if (interrupted || at_limit) {
                    progress_done(&prog);
                    if (is0)
                        printf("%s at step %lld (epoch %d, batch %lld/%lld); state saved. Continue with: alexnet train --resume %s\n",
                               interrupted ? "interrupted" : "reached --max_steps", (long long)step, epoch + 1,
                               (long long)batch, (long long)S, c->out_dir);
                    stop = 1;
                    break;
                }
            }
        }
        if (rc < 0) {
            progress_done(&prog);
            report(d, err->msg);
            goto out_noerr;
        }
        if (stop) break;

        /* --- end of epoch: evaluate, checkpoint, plot --- */
        double train_img_s = (double)epoch_steps * (double)img_global / (now_seconds() - t_epoch + 1e-12);
        EvalCounts ev = {0};
        if (r.have_val) {
            if (evaluate(&r.be, r.val_loader, d, r.logits, &ev, err) != 0) {
                progress_done(&prog);
                report(d, err->msg);
                goto out_noerr;
            }
        }
        double top1 = ev.images ? (double)ev.correct1 / (double)ev.images : -1;
        double top5 = ev.images ? (double)ev.correct5 / (double)ev.images : -1;
        int is_best = r.have_val && top1 > best;
        if (is_best) best = top1;
        if (is0) {
            double mean_loss = epoch_steps ? epoch_loss / (double)epoch_steps : NAN;
            progress_done(&prog);
            char line[256];
            int n = snprintf(line, sizeof line, "epoch %d/%d done: train loss %.4f, %.1f img/s", epoch + 1,
                             c->max_epoch, mean_loss, train_img_s);
            if (r.have_val)
                snprintf(line + n, sizeof line - (size_t)n, "; val top-1 %.2f%% top-5 %.2f%% (%lld images%s)", 100 * top1,
                         100 * top5, (long long)ev.images, ev.skipped ? ", some skipped" : "");
            progress_line(&prog, "%s\n", line);
            MetricRecord m = {1, step, epoch, mean_loss, lr_at(&sched, step > 0 ? step - 1 : 0), train_img_s,
                              time_base + now_seconds() - t_run, top1, top5, ev.images, ev.skipped};
            metrics_add(&r.metrics, &m);
            run_path(path, sizeof path, c->out_dir, "curves.svg");
            char title[256];
            snprintf(title, sizeof title, "alexnet.c — %s on %.180s", r.net.backbone, c->data_dir);
            if (save_model_files(&r, c, epoch + 1, step, is_best, err) != 0 ||
                save_state(&r, c, epoch + 1, 0, step, best, err) != 0 ||
                curves_write_svg(path, &r.metrics, title, err) != 0) {
                report(d, err->msg);
                goto out_noerr;
            }
        }
        if (dist_any(d, g_interrupted != 0)) {
            if (is0) printf("interrupted after epoch %d; state saved. Continue with: alexnet train --resume %s\n", epoch + 1, c->out_dir);
            stop = 1;
        }
    }
    if (is0 && !stop) {
        char dur[32];
        format_duration(now_seconds() - t_run, dur, sizeof dur);
        printf("done: %d epochs, %lld steps, %s this session", c->max_epoch, (long long)step, dur);
        if (best >= 0) printf("; best val top-1 %.2f%%", 100 * best);
        printf("\n  model:   %s/last.safetensors%s\n  metrics: %s/metrics.jsonl\n  curves:  %s/curves.svg\n", c->out_dir,
               best >= 0 ? " (best: best.safetensors)" : "", c->out_dir, c->out_dir);
    }
    if (is0 && d->comm_steps > 0) {
        double span = 1e3 * d->span_total / (double)d->comm_steps, wait = 1e3 * d->wait_total / (double)d->comm_steps;
        printf("all-reduce: %.1f MB in %d buckets; %.1f ms per step from the first bucket to the last, %.1f ms of it "
               "waited for after backward (%.0f%% overlapped with backward)\n", 4e-6 * (double)r.net.param_count, d->n_buckets,
               span, wait, span > 0 ? 100.0 * (1.0 - wait / span) : 0.0);
    }
    status = 0;
out_noerr:
    err->msg[0] = '\0';
out:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    run_free(&r);
    return status;
}
