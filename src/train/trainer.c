/*
 * trainer.c — the training loop (see trainer.h): per epoch the steps, then
 * the end of the epoch (validate, record, save); run.h says which file of
 * train/ does the rest.
 *
 * Exactness: every random choice is a function of (seed, epoch, sample) or
 * (seed, step, layer, element), the loader can start an epoch at any batch,
 * and the saved state holds parameters, momentum, the position and the
 * running sums of the metrics. So a run resumed from any saved state replays
 * bit for bit what the uninterrupted run would have done (same machine, same
 * thread count), its metrics included.
 */
#include "train/trainer.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/mix.h"
#include "engine/evaluate.h"
#include "train/run.h"

static volatile sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
    if (g_interrupted) _exit(128 + sig); /* a second Ctrl-C: stop now */
    g_interrupted = 1;
}

/* ------------------------------------------------------------ one epoch */

/* What the ranks sum after each step, in one small all-reduce, so that all of
 * them agree to stop (a non-finite loss or Ctrl-C on any rank). */
typedef union {
    struct {
        double loss, nonfinite, interrupted, correct, images;
    };
    double all[5];
} StepSums;
_Static_assert(sizeof(StepSums) == 5 * sizeof(double), "StepSums is summed as an array");

static void add_sums(RunSums *s, const StepSums *step, double seconds) {
    s->loss += step->loss;
    s->steps++;
    s->correct += (int64_t)step->correct;
    s->seen += (int64_t)step->images;
    s->seconds += seconds;
}

/* A step record from the window, which then starts afresh. */
static void log_window(Run *r, double lr) {
    RunSums *w = &r->window;
    if (w->steps == 0) return;
    MetricRecord m = { .is_epoch = 0,
                       .step = r->step,
                       .epoch = r->epoch + 1,
                       .loss = w->loss / (double)w->steps,
                       .lr = lr,
                       .img_s = w->seconds > 0 ? (double)w->steps * (double)r->img_global / w->seconds : 0.0,
                       .time = r->time_base + now_seconds() - r->t_session,
                       .train_top1 = w->seen ? (double)w->correct / (double)w->seen : -1.0,
                       .val_loss = NAN,
                       .top1 = -1,
                       .top5 = -1,
                       .ema_top1 = -1,
                       .ema_top5 = -1,
                       .image_size = progressive_on(&r->ramp) ? r->image_size : 0 };
    run_record(r, &m);
    memset(w, 0, sizeof *w);
}

/* Forward and backward of one optimizer step's batch — --accum_steps
 * micro-batches of it, whose gradients are summed on the host (each is
 * already divided by the whole step's global batch) —, one all-reduce of the
 * sum, and the sums the ranks agree on; the update waits for that agreement.
 * *rc: 1, or what loader_next said (0: the data ended; -1: err). */
static StepSums train_step(Run *r, int *rc, Error *err) {
    Dist *d = r->d;
    int K = r->model.net.num_classes, N = r->c.accum_steps;
    float *g = N > 1 ? backend_grad_buffer(&r->model.be) : NULL;
    size_t P = r->model.net.param_count;
    StepSums sums = { .loss = 0 };
    for (int k = 0; k < N; k++) {
        Batch b;
        if ((*rc = loader_next(r->train_loader, &b, err)) != 1) return sums;
        /* dropout's key: the sample's place in the step's global batch */
        ForwardArgs train = { .train = 1,
                              .step = (uint64_t)r->step,
                              .sample_offset = ((uint64_t)k * (uint64_t)d->world + (uint64_t)d->rank) *
                                               (uint64_t)r->c.per_batch_size };
        LossArgs loss_args = r->loss;
        Mix mix = { .kind = MIX_NONE, .lam = 1.0f };
        if (r->mix_labels) { /* one draw per micro-batch of each rank, as train.py mixes each loaded batch */
            mix_draw(&mix, r->c.mixup_alpha, r->c.cutmix_alpha, r->image_size, r->c.seed, (uint32_t)r->step,
                     (uint32_t)(k * d->world + d->rank));
            mix_apply(b.data, b.n, r->image_size, backend_input_format(&r->model.be), &mix, r->mix_scratch);
            mix_second_labels(r->mix_labels, b.labels, b.n);
            loss_args.mix = (LabelMix){ r->mix_labels, mix.lam };
        }
        backend_forward(&r->model.be, b.data, b.n, &train);
        backend_read_logits(&r->model.be, r->logits, b.n);
        double correct = 0;
        for (int i = 0; i < b.n; i++) { /* under mixing, against the mixed target's argmax (train.py) */
            int32_t y = r->mix_labels ? mix_top_label(b.labels[i], r->mix_labels[i], mix.lam) : b.labels[i];
            correct += label_rank(r->logits + (size_t)i * K, K, y) == 0;
        }
        /* the hook only when there is something to overlap: a GPU backend syncs per call; accumulated
         * gradients are all-reduced once, after the last micro-batch */
        GradReadyFn ready = N == 1 && d->world > 1 && !r->backend_comm ? dist_grad_ready : NULL;
        double loss = backend_backward(&r->model.be, b.labels, b.n, &loss_args, ready, d);
        if (N > 1 && k == 0) {
            memcpy(r->grad_acc, g, P * sizeof(float));
        } else if (N > 1 && k < N - 1) {
            for (size_t i = 0; i < P; i++) r->grad_acc[i] += g[i];
        } else if (N > 1) { /* the sum in the backend's buffer, which dist_grads_wait all-reduces whole */
            for (size_t i = 0; i < P; i++) g[i] += r->grad_acc[i];
        }
        sums.loss += loss;
        sums.nonfinite += isfinite(loss) ? 0.0 : 1.0;
        sums.correct += correct;
        sums.images += (double)b.n;
        loader_release(r->train_loader, &b);
    }
    if (!r->backend_comm) dist_grads_wait(d);
    sums.interrupted = g_interrupted ? 1.0 : 0.0;
    dist_sum_doubles(d, sums.all, 5);
    return sums;
}

typedef enum { EPOCH_DONE, EPOCH_STOPPED, EPOCH_FAILED } EpochEnd;

/* The steps of r->epoch from r->batch on. *why_stopped: "interrupted" or
 * "reached --max_steps" when a stop was asked for (even at the epoch's last
 * batch, which then still gets its end of epoch). */
static EpochEnd run_epoch(Run *r, const char **why_stopped, Error *err) {
    const TrainConfig *c = &r->c;
    loader_start_epoch(r->train_loader, r->epoch, r->batch * c->accum_steps);
    int rc = 1;
    while (!budget_done(r) && r->batch < r->steps_per_epoch) {
        if (run_fit_size(r, err) != 0) {
            report_failure(r, err->msg);
            return EPOCH_FAILED;
        }
        double t0 = now_seconds(), lr = lr_at(&r->sched, r->step);
        StepSums sums = train_step(r, &rc, err);
        if (rc != 1) break;
        if (sums.nonfinite > 0) {
            report_divergence(r, sums.loss);
            err->msg[0] = '\0';
            return EPOCH_FAILED;
        }
        SgdArgs sgd = { .lr = (float)lr, .momentum = (float)c->momentum, .weight_decay = (float)c->weight_decay };
        backend_sgd_update(&r->model.be, &sgd);
        r->step++;
        r->batch++;
        /* torchvision's rule: batch i of the epoch updates when i % steps == 0, so the first batch of every epoch
         * does (an epoch shorter than --model_ema_steps still moves the average) */
        if (r->ema.w && (r->batch - 1) % c->model_ema_steps == 0) {
            backend_get_params(&r->model.be, r->model.params);
            ema_update(&r->ema, r->model.params, r->epoch < c->warmup_epochs);
        }
        double secs = now_seconds() - t0;
        add_sums(&r->window, &sums, secs);
        add_sums(&r->epoch_sums, &sums, secs);
        report_progress(r, lr, sums.loss);
        if (r->step % c->log_interval == 0) log_window(r, lr);
        double now = now_seconds(), wall = now - r->t_mark;
        r->t_mark = now;
        if (budget_set(&r->budget) && dist_any(r->d, budget_after_step(r, wall)) && budget_plan(r, err) != 0) {
            report_failure(r, err->msg);
            return EPOCH_FAILED;
        }

        int interrupted = sums.interrupted > 0, at_limit = c->max_steps > 0 && r->step >= c->max_steps;
        if (interrupted || at_limit) *why_stopped = interrupted ? "interrupted" : "reached --max_steps";
        if (r->batch == r->steps_per_epoch) continue; /* the end of the epoch saves everything */
        if (*why_stopped || (c->save_every_steps > 0 && r->step % c->save_every_steps == 0)) {
            if (r->is_root &&
                (run_save_state(r, err) != 0 || (*why_stopped && run_save_models(r, r->epoch, NULL, NULL, err) != 0))) {
                report_failure(r, err->msg);
                return EPOCH_FAILED;
            }
            if (*why_stopped) return EPOCH_STOPPED;
        }
    }
    if (rc < 0) {
        report_failure(r, err->msg);
        return EPOCH_FAILED;
    }
    return EPOCH_DONE;
}

/* Validation of the model (weights NULL) or of other weights (the EMA) on
 * the validation backend; the training backend is not touched. */
static int validate(Run *r, const float *weights, EvalPerClass *pc, EvalCounts *ev, Error *err) {
    if (!weights) {
        backend_get_params(&r->model.be, r->model.params);
        weights = r->model.params;
    }
    Backend *be = &r->val_model.be;
    backend_set_params(be, weights);
    EvalOptions opt = { .per_class = pc };
    return evaluate_tta(be, r->val_loader, r->d, r->logits, &opt, ev, err);
}

static double fraction(int64_t part, int64_t whole) { return whole ? (double)part / (double)whole : -1; }

/* The model on --val_dir, and its EMA with --model_ema. 0, or -1 (reported). */
static int validate_epoch(Run *r, EpochVal *v, Error *err) {
    memset(v, 0, sizeof *v);
    v->top1 = v->top5 = v->ema_top1 = v->ema_top5 = -1;
    v->loss = NAN;
    if (!r->have_val) return 0;
    EvalCounts ev_ema = { 0 };
    int K = r->model.net.num_classes;
    EvalPerClass pc = { .counts = r->c.val_per_class ? xcalloc(4 * (size_t)K, sizeof(int64_t)) : NULL };
    if (validate(r, NULL, pc.counts ? &pc : NULL, &v->ev, err) != 0 ||
        (r->ema.w && validate(r, r->ema.w, NULL, &ev_ema, err) != 0)) {
        free(pc.counts);
        report_failure(r, err->msg);
        return -1;
    }
    if (pc.counts) {
        v->class_top1 = xmalloc(sizeof(double) * (size_t)K);
        for (int c = 0; c < K; c++) v->class_top1[c] = pc.counts[c] ? fraction(pc.counts[K + c], pc.counts[c]) : NAN;
        free(pc.counts);
    }
    v->top1 = fraction(v->ev.correct1, v->ev.images);
    v->top5 = fraction(v->ev.correct5, v->ev.images);
    v->loss = v->ev.images ? v->ev.loss_sum / (double)v->ev.images : NAN;
    if (r->ema.w) {
        v->ema_top1 = fraction(ev_ema.correct1, ev_ema.images);
        v->ema_top5 = fraction(ev_ema.correct5, ev_ema.images);
    }
    return 0;
}

/* Rank 0, with the position already past the epoch: the epoch's line, its
 * metrics record, the model files, the state and the curves. */
static int record_epoch(Run *r, int done, const RunSums *e, const EpochVal *v, const float *best,
                        const char *best_kind, Error *err) {
    double mean_loss = e->steps ? e->loss / (double)e->steps : NAN;
    double train_top1 = fraction(e->correct, e->seen);
    double img_s = e->seconds > 0 ? (double)e->steps * (double)r->img_global / e->seconds : 0.0;
    report_epoch(r, done, mean_loss, train_top1, img_s, v);
    MetricRecord m = { .is_epoch = 1,
                       .step = r->step,
                       .epoch = done,
                       .loss = mean_loss,
                       .lr = lr_at(&r->sched, r->step > 0 ? r->step - 1 : 0),
                       .img_s = img_s,
                       .time = r->time_base + now_seconds() - r->t_session,
                       .train_top1 = train_top1,
                       .val_loss = v->loss,
                       .top1 = v->top1,
                       .top5 = v->top5,
                       .ema_top1 = v->ema_top1,
                       .ema_top5 = v->ema_top5,
                       .val_images = v->ev.images,
                       .val_skipped = v->ev.skipped,
                       .class_top1 = v->class_top1,
                       .n_classes = r->model.net.num_classes };
    run_record(r, &m);
    if (run_save_models(r, done, best, best_kind, err) != 0 || run_save_state(r, err) != 0 ||
        run_write_curves(r, err) != 0) {
        report_failure(r, err->msg);
        return -1;
    }
    return 0;
}

/* Evaluate, then rank 0 records and saves everything of the finished epoch. */
static int run_end_epoch(Run *r, Error *err) {
    double t0 = now_seconds();
    log_window(r, lr_at(&r->sched, r->step - 1)); /* a run shorter than --log_interval still gets step records */
    EpochVal v;
    if (validate_epoch(r, &v, err) != 0) return -1;
    const float *best = NULL;
    const char *best_kind = "raw";
    if (r->have_val && (v.top1 > r->best || v.ema_top1 > r->best)) {
        int ema_wins = v.ema_top1 > v.top1;
        best = ema_wins ? r->ema.w : r->model.params;
        best_kind = ema_wins ? "ema" : "raw";
        r->best = ema_wins ? v.ema_top1 : v.top1;
    }
    RunSums finished = r->epoch_sums;
    int done = r->epoch + 1;
    if (r->batch == r->steps_per_epoch) { /* the saved state holds the position after this epoch */
        r->epoch++;
        r->batch = 0;
    } /* else the last, partial epoch of a time budget's plan: the position stays where the plan ended it */
    memset(&r->epoch_sums, 0, sizeof r->epoch_sums);
    int rc = r->is_root ? record_epoch(r, done, &finished, &v, best, best_kind, err) : 0;
    free(v.class_top1);
    r->end_seconds = now_seconds() - t0;
    if (dist_any(r->d, rc != 0)) return -1;
    budget_after_end(r, r->end_seconds);
    if (budget_set(&r->budget) && !budget_done(r) && budget_plan(r, err) != 0) {
        report_failure(r, err->msg);
        return -1;
    }
    r->t_mark = now_seconds();
    return 0;
}

/* ------------------------------------------------------------ the run */

int train_run(const TrainConfig *cfg, const TrainPosition *resume, int allow_data_change, Dist *d, Error *err) {
    Run r;
    memset(&r, 0, sizeof r);
    r.c = *cfg;
    r.d = d;
    r.is_root = d->rank == 0;
    err->msg[0] = '\0';
    int status = run_open(&r, resume, allow_data_change, err);
    if (status != 0) {
        run_close(&r);
        return status;
    }
    if (budget_done(&r)) {
        if (r.is_root)
            printf("%s finished its time budget's plan (%lld steps); nothing to train\n", r.c.out_dir,
                   (long long)r.step);
        run_close(&r);
        return 0;
    }
    if (r.c.max_steps > 0 && r.step >= r.c.max_steps) {
        if (r.is_root)
            printf("%s is at step %lld, already at --max_steps %lld: nothing to train. Continue with: %s train "
                   "--resume %s\n",
                   r.c.out_dir, (long long)r.step, (long long)r.c.max_steps, program_path(), r.c.out_dir);
        run_close(&r);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    status = 1;
    const char *why_stopped = NULL;
    r.t_mark = now_seconds();
    while (budget_set(&r.budget) ? !budget_done(&r) : r.epoch < r.c.max_epoch) {
        EpochEnd end = run_epoch(&r, &why_stopped, err);
        if (end == EPOCH_FAILED) goto out;
        if (end == EPOCH_DONE && run_end_epoch(&r, err) != 0) goto out;
        if (end == EPOCH_DONE && !why_stopped && dist_any(d, g_interrupted != 0)) why_stopped = "interrupted";
        if (why_stopped) break;
    }
    if (r.is_root) {
        if (why_stopped) report_stopped(&r, why_stopped);
        else report_done(&r);
    }
    status = 0;
out:
    err->msg[0] = '\0'; /* failures while running were reported where they happened */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    run_close(&r);
    return status;
}
