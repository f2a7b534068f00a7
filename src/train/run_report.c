/*
 * run_report.c — what a training run prints (see run.h): the summary before
 * the first step, where each rank runs, the progress line, and how the run
 * ended. Rank 0 prints (stdout); failures are errorf lines on stderr from
 * the rank that met them.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/transforms.h"
#include "train/run.h"

/* A failure while running, from whichever rank met it (errorf names the rank). */
void report_failure(Run *r, const char *msg) {
    progress_done(&r->prog);
    errorf("%s", msg);
}

/* What --freeze and --lr_backbone_scale leave training, and the backward work a freeze saves. */
static void print_training_set(const Run *r) {
    const TrainConfig *c = &r->c;
    const Net *n = &r->model.net;
    if (strcmp(c->freeze, "none") != 0) {
        Net all = *n;
        Error ignored = { { 0 } };
        net_set_training(&all, "none", 1.0, &ignored);
        double fwd = net_forward_macs(n), bwd = net_backward_macs(n), bwd_all = net_backward_macs(&all);
        printf("  trains     --freeze %s: %.2f M of %.1f M parameters (frozen: no gradient, momentum or weight decay); "
               "backward %.2f instead of %.2f GFLOP/image, a step %.0f%% less work\n",
               c->freeze, net_trained_count(n) / 1e6, n->param_count / 1e6, 2 * bwd / 1e9, 2 * bwd_all / 1e9,
               100.0 * (bwd_all - bwd) / (fwd + bwd_all));
        if (!c->pretrained[0])
            printf("  note       --freeze %s without --pretrained keeps those layers at their random initialisation\n",
                   c->freeze);
    }
    if (c->lr_backbone_scale != 1.0)
        printf("  trains     lr x %g for every trained layer but the last (%s)\n", c->lr_backbone_scale,
               n->layers[n->n_layers - 1].name);
}

/* Settings that are allowed (PyTorch allows them too) but rarely what was meant: said once, at the start. */
static void warn_recipe(const TrainConfig *c, LrKind kind, int classes) {
    if (c->lr == 0)
        warnf("--lr 0: every update is zero, so the weights stay as they start (and the loss only moves with "
              "dropout and augmentation); give --lr > 0 to train");
    else if (c->eta_min > c->lr && kind != LR_STEP && kind != LR_EXPONENTIAL) /* the decays that end at eta_min */
        warnf("--eta_min %g is above --lr %g: the %s schedule rises toward it instead of decaying; give --eta_min "
              "below --lr",
              c->eta_min, c->lr, c->lr_scheduler);
    /* the true class's smoothed target against a wrong class's: seed form 1-e vs e/(K-1), torch 1-e+e/K vs e/K */
    double e = c->label_smooth ? c->label_smooth_factor : 0.0;
    int torch = strcmp(c->smoothing_form, "torch") == 0;
    double right = torch ? 1.0 - e + e / classes : 1.0 - e,
           wrong = classes > 1 ? e / (torch ? classes : classes - 1) : 0;
    if (classes > 1 && e > 0 && right <= wrong)
        warnf("--label_smooth_factor %g with %d classes (%s form) gives the true class a target of %.3g and each "
              "other class %.3g: the loss no longer prefers the label; give a factor below %.3g",
              e, classes, c->smoothing_form, right, wrong, torch ? 1.0 : (double)(classes - 1) / classes);
}

void report_summary(const Run *r, int resumed) {
    const TrainConfig *c = &r->c;
    const Net *n = &r->model.net;
    char *sched = lr_describe(&r->sched, budget_set(&r->budget) ? "at the plan's last step" : NULL);
    printf("alexnet train: %lld image%s in %d classes (%s)", (long long)r->train.n, plural_s(r->train.n),
           r->train.n_classes, c->data_dir);
    if (r->have_val) printf(", validation %lld image%s (%s)", (long long)r->val.n, plural_s(r->val.n), c->val_dir);
    printf("; started in %.1f s (data %.1f s, model and loaders %.1f s)", r->startup_seconds[0] + r->startup_seconds[1],
           r->startup_seconds[0], r->startup_seconds[1]);
    Net full = *n; /* at --image_size, also while progressive resizing trains smaller */
    Error ignored = { { 0 } };
    if (n->image_size != c->image_size)
        net_build(&full, n->backbone, n->num_classes, c->image_size, n->dropout, &ignored);
    printf("\n  model      %s, %dx%d input, %d classes, dropout %.2f, %.1f M parameters, %.2f GFLOP/image forward\n",
           n->backbone, full.image_size, full.image_size, n->num_classes, n->dropout, n->param_count / 1e6,
           2 * net_forward_macs(&full) / 1e9);
    if (progressive_on(&r->ramp)) {
        const Progressive *p = &r->ramp;
        printf("  sizes      progressive resizing: %d px, growing to %d between %.0f%% and %.0f%% of the schedule (",
               p->min_size, p->full_size, 100 * p->start, 100 * p->end);
        for (int i = 0; i < p->n_sizes; i++) printf("%s%d", i ? ", " : "", p->sizes[i]);
        printf("; a step at %d px is %.2f of one at %d by arithmetic); now %d px\n", p->min_size, p->cost[0],
               p->full_size, r->image_size);
    }
    if (r->have_val) {
        int crop = config_val_crop(c), R = c->val_resize_size;
        if (R) printf("  validation shorter side resized to %d, center crop %d\n", R, crop);
        else
            printf("  validation resized to %dx%d, center crop %d\n", eval_resize_size(crop), eval_resize_size(crop),
                   crop);
    }
    printf("  backend    %s, %s, %d thread%s, %d loader worker%s\n", r->model.backend_name,
           precision_name(r->model.precision), r->model.threads, plural_s(r->model.threads), r->workers,
           plural_s(r->workers));
    printf("  batch      %d per process x %d process%s = %lld global; %lld step%s per epoch", c->per_batch_size,
           r->d->world, r->d->world > 1 ? "es" : "", (long long)r->img_global, (long long)r->steps_per_epoch,
           plural_s(r->steps_per_epoch));
    if (budget_set(&r->budget)) {
        char *budget = budget_format(c->time_budget);
        printf("; a time budget of %s for training, validation and saving (at most %d epochs): the plan follows "
               "the first steps\n",
               budget, c->max_epoch);
        free(budget);
    } else {
        printf(", %d epoch%s\n", c->max_epoch, plural_s(c->max_epoch));
    }
    printf("  schedule   %s\n", sched);
    free(sched);
    printf("  loss       softmax cross-entropy, label smoothing %g (%s form)\n",
           c->label_smooth ? c->label_smooth_factor : 0.0, c->smoothing_form);
    printf("  optimizer  SGD momentum %g, weight decay %g on weights only\n", c->momentum, c->weight_decay);
    print_training_set(r);
    printf("  run dir    %s\n", c->out_dir);
    /* the seed's lr 0.13 is for 2048 images per step; linear scaling gives the rest */
    double scaled = 0.13 * (double)r->img_global / 2048.0;
    if (c->lr > 0 && (c->lr > 2 * scaled || c->lr < 0.5 * scaled))
        printf("  note       lr %g at a global batch of %lld is %.2gx the seed's rate per image (0.13 at 2048); the "
               "linear-scaling rule gives %.4g\n",
               c->lr, (long long)r->img_global, c->lr / scaled, scaled);
    if (!resumed && c->warmup_epochs > 0 && c->warmup_epochs >= c->max_epoch)
        warnf("--warmup_epochs %g is not shorter than the run (--max_epoch %d): the lr rises for the whole run and "
              "never reaches --lr %g; lower --warmup_epochs",
              c->warmup_epochs, c->max_epoch, c->lr);
    if (!resumed) warn_recipe(c, r->sched.kind, n->num_classes);
    /* epochs count from 0: the last epoch, max_epoch - 1, is at the floor when T_max = max_epoch - 1 */
    if (r->sched.kind == LR_COSINE_ANNEALING && c->T_max < c->max_epoch - 1)
        printf("  note       T_max %d < max_epoch %d: from epoch %d on (counting from 1) the seed's cosine rises "
               "again\n",
               c->T_max, c->max_epoch, c->T_max + 2);
    fflush(stdout);
}

/* Where each rank runs, one line per rank from rank 0: on a cluster the first
 * thing to check (two ranks on one node, a GPU shared, threads over cores). */
void report_placement(Run *r) {
    Dist *d = r->d;
    if (d->world == 1) return;
    char cpus[128], dev[32], line[DIST_LINE_LEN];
    dist_cpu_list(cpus, sizeof cpus);
    if (strcmp(r->c.device, "gpu") == 0) snprintf(dev, sizeof dev, "GPU %d", d->local_rank);
    else snprintf(dev, sizeof dev, "CPU");
    snprintf(line, sizeof line, "%s: local rank %d of %d, pid %d, %s, compute threads %d on CPUs %s",
             dist_host(d, d->rank), d->local_rank, d->local_world, (int)getpid(), dev, r->model.threads, cpus);
    if (r->is_root)
        printf("alexnet train: %d processes on %d node%s\n", d->world, dist_node_count(d),
               dist_node_count(d) > 1 ? "s" : "");
    dist_print_lines(d, line, "  rank ");
}

/* Epochs of the run for display: the time budget's plan rounded up (0:
 * not planned yet), else --max_epoch. */
static int epochs_total(const Run *r) {
    if (!budget_set(&r->budget)) return r->c.max_epoch;
    return (int)((r->budget.total_steps + r->steps_per_epoch - 1) / r->steps_per_epoch);
}

/* The progress line: speed and ETA from step time only; evaluation and saving are added per epoch end. A time
 * budget's ETA is what is left of it. */
void report_progress(Run *r, double lr, double loss) {
    const TrainConfig *c = &r->c;
    double sec_per_step = r->window.seconds / (double)r->window.steps;
    if (budget_set(&r->budget)) {
        double left = r->budget.seconds - r->budget.used;
        progress_step(&r->prog, r->epoch, epochs_total(r), r->batch, r->steps_per_epoch, r->step, loss, lr,
                      (double)r->img_global / sec_per_step, left > 0 ? left : 0);
        return;
    }
    double remaining =
        (double)(r->steps_per_epoch - r->batch) + (double)(c->max_epoch - r->epoch - 1) * (double)r->steps_per_epoch;
    if (c->max_steps > 0 && remaining > (double)(c->max_steps - r->step)) remaining = (double)(c->max_steps - r->step);
    double eta = remaining * sec_per_step + (double)(c->max_epoch - r->epoch) * r->end_seconds;
    progress_step(&r->prog, r->epoch, c->max_epoch, r->batch, r->steps_per_epoch, r->step, loss, lr,
                  (double)r->img_global / sec_per_step, eta);
}

void report_divergence(Run *r, double loss) {
    if (!r->is_root) return;
    char *path = path_join(r->c.out_dir, "last.safetensors");
    progress_done(&r->prog);
    errorf("the loss is not finite (%g) at step %lld (epoch %d, batch %lld/%lld); stopping. %s%s. Try a lower --lr or "
           "a longer --warmup_epochs.",
           loss, (long long)r->step + 1, r->epoch + 1, (long long)r->batch + 1, (long long)r->steps_per_epoch,
           path_exists(path) ? "The last good checkpoint is kept: "
                             : "No checkpoint was saved yet (the first comes at "
                               "the end of epoch 1, or with --save_every_steps)",
           path_exists(path) ? path : "");
    free(path);
}

void report_done(Run *r) {
    const TrainConfig *c = &r->c;
    char dur[32];
    format_duration(now_seconds() - r->t_session, dur, sizeof dur);
    if (budget_set(&r->budget)) {
        char *budget = budget_format(r->budget.seconds), *used = budget_format(r->budget.used);
        printf("done: %lld step%s = %.2f epochs in a time budget of %s (%s of it used), %s this session",
               (long long)r->step, plural_s(r->step), (double)r->step / (double)r->steps_per_epoch, budget, used, dur);
        free(budget);
        free(used);
    } else {
        printf("done: %d epoch%s, %lld step%s, %s this session", c->max_epoch, plural_s(c->max_epoch),
               (long long)r->step, plural_s(r->step), dur);
    }
    if (r->best >= 0) printf("; best val top-1 %.2f%%", 100 * r->best);
    printf("\n  model:   %s/last.safetensors%s\n  metrics: %s/metrics.jsonl\n  curves:  %s/curves.svg\n", c->out_dir,
           r->best >= 0 && c->save_best ? " (best: best.safetensors)" : "", c->out_dir, c->out_dir);
    const Dist *d = r->d;
    if (d->comm_steps > 0) {
        double span = 1e3 * d->span_total / (double)d->comm_steps, wait = 1e3 * d->wait_total / (double)d->comm_steps;
        printf("all-reduce: %.1f MB in %d buckets; %.1f ms per step from the first bucket to the last, %.1f ms of it "
               "waited for after backward (%.0f%% overlapped with backward)\n",
               4e-6 * (double)r->model.net.param_count, d->n_buckets, span, wait,
               span > 0 ? 100.0 * (1.0 - wait / span) : 0.0);
    }
}

void report_stopped(Run *r, const char *why) {
    progress_done(&r->prog);
    char *launcher = dist_launcher(r->d);
    printf("%s at step %lld (epoch %d, batch %lld/%lld); state saved. Continue with: %s%s train --resume %s\n", why,
           (long long)r->step, r->batch ? r->epoch + 1 : r->epoch,
           (long long)(r->batch ? r->batch : r->steps_per_epoch), (long long)r->steps_per_epoch, launcher,
           program_path(), r->c.out_dir);
    free(launcher);
}

void report_epoch(Run *r, int done, double loss, double train_top1, double img_s, const EpochVal *v) {
    char *val = r->have_val
                    ? xasprintf("; val loss %.4f, top-1 %.2f%% top-5 %.2f%% (%lld images%s)", v->loss, 100 * v->top1,
                                100 * v->top5, (long long)v->ev.images, v->ev.skipped ? ", some skipped" : "")
                    : xstrdup("");
    char *ema = v->ema_top1 >= 0 ? xasprintf("; EMA top-1 %.2f%% top-5 %.2f%%", 100 * v->ema_top1, 100 * v->ema_top5)
                                 : xstrdup("");
    char of[16] = "?"; /* a time budget's first epoch may end before its plan */
    if (epochs_total(r) > 0) snprintf(of, sizeof of, "%d", epochs_total(r));
    progress_done(&r->prog);
    progress_line(&r->prog, "epoch %d/%s done: train loss %.4f, train top-1 %.2f%%, %.1f img/s%s%s\n", done, of, loss,
                  100 * train_top1, img_s, val, ema);
    free(val);
    free(ema);
}
