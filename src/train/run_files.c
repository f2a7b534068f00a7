/*
 * run_files.c — what a training run keeps in its directory (see run.h): the
 * model files (last, best, epoch_N), the resumable state, config.json,
 * curves.svg, and the records of metrics.jsonl and the TensorBoard log. Rank 0 writes them, each atomically (a temporary file renamed
 * into place), so a kill at any moment leaves the previous version whole.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "io/atomic_file.h"
#include "io/curves_svg.h"
#include "train/run.h"
#include "train/trainer.h"

/* One model file of the run: NAME in the run directory, with the classes and
 * the eval transform validation used, so eval, predict and export of it
 * default to what the run measured. */
static int save_model(Run *r, const char *name, const float *weights, int epochs_done, const char *weights_kind,
                      Error *err) {
    char *path = path_join(r->c.out_dir, name);
    ModelMeta meta = { .class_names = r->train.classes,
                       .epoch = epochs_done,
                       .step = r->step,
                       .weights = weights_kind,
                       .val_crop_size = config_val_crop(&r->c),
                       .val_resize_size = r->c.val_resize_size };
    /* the file's size is the run's --image_size, also while progressive resizing trains smaller */
    Net net = r->model.net;
    int rc = net.image_size == r->c.image_size
                 ? 0
                 : net_build(&net, net.backbone, net.num_classes, r->c.image_size, net.dropout, err);
    if (rc == 0) rc = checkpoint_save_model(path, &net, weights, &meta, err);
    free(path);
    return rc;
}

/* The weights about to be saved are finite (the loss can stay finite over
 * NaN weights: a ReLU turns a NaN convolution into zeros and the model
 * predicts chance); else the run stops, keeping the files it has. */
static int weights_finite(Run *r, Error *err) {
    int t;
    int64_t i;
    if (!net_find_nonfinite(&r->model.net, r->model.params, &t, &i)) return 0;
    return error_set(err,
                     "the weights stopped being finite by step %lld (%s, element %lld) although the loss did not: "
                     "training diverged; nothing was saved over the files in %s. Try a lower --lr or a longer "
                     "--warmup_epochs",
                     (long long)r->step, r->model.net.params[t].name, (long long)i, r->c.out_dir);
}

int run_save_models(Run *r, int epochs_done, const float *best, const char *best_kind, Error *err) {
    const TrainConfig *c = &r->c;
    backend_get_params(&r->model.be, r->model.params);
    if (weights_finite(r, err) != 0) return -1;
    if (save_model(r, "last.safetensors", r->model.params, epochs_done, NULL, err) != 0) return -1;
    if (best && c->save_best &&
        save_model(r, "best.safetensors", best, epochs_done, r->ema.w ? best_kind : NULL, err) != 0)
        return -1;
    if (c->ckpt_interval > 0 && epochs_done > 0 && epochs_done % c->ckpt_interval == 0) {
        char *name = xasprintf("epoch_%d.safetensors", epochs_done);
        int rc = save_model(r, name, r->model.params, epochs_done, NULL, err);
        free(name);
        if (rc != 0) return -1;
    }
    return 0;
}

int run_save_state(Run *r, Error *err) {
    backend_get_params(&r->model.be, r->model.params);
    if (weights_finite(r, err) != 0) return -1;
    backend_get_momentum(&r->model.be, r->momentum);
    char *plan = budget_to_json(&r->budget, &r->sched);
    TrainPosition pos = { .epoch = r->epoch,
                          .batch = r->batch,
                          .step = r->step,
                          .best_top1 = r->best,
                          .config_json = config_to_json(&r->c),
                          .run_json = run_record_to_json(&r->fp, &r->epoch_sums, &r->window, plan),
                          .ema_updates = r->ema.updates };
    char *path = path_join(r->c.out_dir, STATE_FILE);
    int rc = checkpoint_save_state(path, &r->model.net, r->model.params, r->momentum, r->ema.w, &pos, err);
    free(path);
    free(plan);
    free(pos.config_json);
    free(pos.run_json);
    return rc;
}

/* config.json: the effective configuration (what this run really uses),
 * typed, with the class list and the fingerprint. */
int run_write_config(Run *r, Error *err) {
    TrainConfig eff = r->c;
    eff.val_crop_size = config_val_crop(&r->c);
    eff.threads = r->model.threads;
    eff.workers = r->workers;
    char dropout[32];
    snprintf(dropout, sizeof dropout, "%g", r->model.net.dropout); /* the float's shortest decimal, not its double */
    eff.dropout = strtod(dropout, NULL);
    snprintf(eff.backend, sizeof eff.backend, "%s", r->model.backend_name);
    snprintf(eff.precision, sizeof eff.precision, "%s", precision_name(r->model.precision));
    cJSON *o = config_to_cjson(&eff);
    json_add_num(o, "num_classes", r->train.n_classes);
    cJSON *classes = cJSON_AddArrayToObject(o, "classes");
    for (int i = 0; i < r->train.n_classes; i++) cJSON_AddItemToArray(classes, json_str(r->train.classes[i]));
    json_add_num(o, "steps_per_epoch", (double)r->steps_per_epoch);
    if (budget_set(&r->budget) && r->budget.total_steps > 0) { /* the time budget's plan, as it stands */
        const Budget *b = &r->budget;
        cJSON *plan = cJSON_AddObjectToObject(o, "plan");
        json_add_num(plan, "time_budget", b->seconds);
        json_add_num(plan, "steps", (double)b->total_steps);
        json_add_fixed(plan, "epochs", (double)b->total_steps / (double)r->steps_per_epoch, 3);
        json_add_fixed(plan, "img_s", b->step_seconds > 0 ? (double)r->img_global / b->step_seconds : 0, 1);
        json_add_fixed(plan, "step_seconds", b->step_seconds, 4);
        json_add_fixed(plan, "epoch_end_seconds", b->end_seconds, 3);
        json_add_str(plan, "schedule", lr_kind_name(r->sched.kind));
        json_add_num(plan, "warmup_steps", (double)lr_warmup_steps(&r->sched));
        json_add_num(plan, "eta_min", r->sched.eta_min);
        json_add_num(plan, "replans", b->replans);
    }
    if (progressive_on(&r->ramp)) { /* each size of the ramp, what a step at it costs, and where the plan starts it */
        const Progressive *p = &r->ramp;
        cJSON *ramp = cJSON_AddObjectToObject(o, "progressive");
        cJSON *sizes = cJSON_AddArrayToObject(ramp, "sizes"), *cost = cJSON_AddArrayToObject(ramp, "relative_cost"),
              *first = cJSON_AddArrayToObject(ramp, "first_step");
        int64_t total = budget_set(&r->budget) && r->budget.total_steps > 0
                            ? r->budget.total_steps
                            : (int64_t)r->c.max_epoch * r->steps_per_epoch;
        int64_t *at = xmalloc(sizeof *at * (size_t)p->n_sizes); /* -1: skipped, or past the plan's end */
        int i = 0;                                              /* the size grows with the step: one pass */
        for (int64_t step = 0; step < total && i < p->n_sizes; step++) {
            int size = progressive_size(p, lr_progress(&r->sched, step));
            for (; i < p->n_sizes && p->sizes[i] <= size; i++) at[i] = p->sizes[i] == size ? step : -1;
        }
        for (; i < p->n_sizes; i++) at[i] = -1;
        for (i = 0; i < p->n_sizes; i++) {
            cJSON_AddItemToArray(sizes, json_num(p->sizes[i]));
            cJSON_AddItemToArray(cost, json_fixed(p->cost[i], 4));
            cJSON_AddItemToArray(first, json_num((double)at[i]));
        }
        free(at);
    }
    char *fp = fingerprint_to_json(&r->fp);
    cJSON_AddItemToObject(o, "fingerprint", cJSON_Parse(fp));
    free(fp);
    json_add_str(o, "version", "alexnet.c " ALX_VERSION);
    char *text = json_print(o, 1);
    cJSON_Delete(o);
    char *path = path_join(r->c.out_dir, "config.json");
    int rc = atomic_write_text(path, text, err);
    free(path);
    free(text);
    return rc;
}

static double schedule_lr(const void *sched, int64_t step) { return lr_at((const LrSchedule *)sched, step); }

int run_write_curves(Run *r, Error *err) {
    char *path = path_join(r->c.out_dir, "curves.svg");
    char *title = xasprintf("alexnet.c — %s on %s", r->model.net.backbone, r->c.data_dir);
    LrCurve lr = { .at = schedule_lr, .ctx = &r->sched };
    int rc = curves_write_svg(path, &r->metrics, &lr, title, err);
    free(path);
    free(title);
    return rc;
}

/* TensorBoard's tags: train/ for the steps' windows and the epochs' training
 * sums, val/ for validation (the curves.svg panels, one chart each). */
static void tb_record(TbWriter *tb, const MetricRecord *m) {
    const char *tags[10];
    double v[10];
    int n = 0;
    if (!m->is_epoch) {
        tags[n] = "train/loss", v[n++] = m->loss;
        tags[n] = "train/lr", v[n++] = m->lr;
        tags[n] = "train/img_per_s", v[n++] = m->img_s;
        if (m->train_top1 >= 0) tags[n] = "train/top1", v[n++] = m->train_top1;
    } else {
        tags[n] = "epoch/train_loss", v[n++] = m->loss;
        if (m->train_top1 >= 0) tags[n] = "epoch/train_top1", v[n++] = m->train_top1;
        tags[n] = "epoch/epoch", v[n++] = m->epoch;
        if (m->top1 >= 0) {
            tags[n] = "val/loss", v[n++] = m->val_loss;
            tags[n] = "val/top1", v[n++] = m->top1;
            tags[n] = "val/top5", v[n++] = m->top5;
        }
        if (m->ema_top1 >= 0) {
            tags[n] = "val/ema_top1", v[n++] = m->ema_top1;
            tags[n] = "val/ema_top5", v[n++] = m->ema_top5;
        }
    }
    tb_scalars(tb, m->step, tags, v, n);
}

void run_record(Run *r, const MetricRecord *m) {
    if (!r->is_root) return;
    metrics_add(&r->metrics, m);
    if (r->tb) tb_record(r->tb, m);
}
