/*
 * run_budget.c — a run's time budget (--time_budget; budget.h has the
 * arithmetic): the first plan after the probe steps, the re-plans every few
 * percent of the run and after each epoch end, shared by every rank, and
 * the plan's record in the state, config.json and the console.
 *
 * Rank 0 measures and decides; the other ranks learn a decision through the
 * step's all-reduce (StepSums.plan) and the plan itself through a broadcast,
 * so every rank follows one plan at the same step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "train/budget.h"
#include "train/run.h"

/* A plan's end moves only when the estimate moved by more than this share
 * of it (or 2 steps): noise in the step times does not re-plan. Steps on a
 * shared 2-core VM vary by +-8% over the 2% of a run between plans; the
 * speed behind a plan is a fading average over ~4 such stretches (each plan
 * keeps WINDOW_KEEP of the measurement), which halves that, and a plan moves
 * for more than 1.5%. A slowdown (another process taking a core) moves the
 * estimate by far more within a stretch or two, and the end follows it. */
#define REPLAN_TOLERANCE 0.015
#define WINDOW_KEEP      0.75
/* Steps since the last plan this much slower or faster than the fading
 * average are a new speed, not noise (3 standard deviations of it): the
 * average restarts from them, so a run that lost a core plans with the new
 * speed at once instead of ~4 plans later. */
#define SPEED_SHIFT      0.15

int budget_done(const Run *r) {
    return budget_set(&r->budget) && r->budget.total_steps > 0 && r->step >= r->budget.total_steps;
}

/* Validation's speed, measured before the first plan: a few batches of the
 * validation set through the validation backend with the weights of the
 * moment (the first batch builds kernels and is not counted). Every rank
 * measures its own shard's, locally; rank 0's plans. Seconds per image, 0
 * without validation or when the set is too small to time. */
#define VAL_PROBE_BATCHES 4
#define VAL_PROBE_SECONDS 1.0
static double probe_validation(Run *r) {
    if (!r->have_val) return 0.0;
    double t_start = now_seconds();
    backend_get_params(&r->model.be, r->model.params);
    backend_set_params(&r->val_model.be, r->model.params);
    Loader *l = r->val_loader;
    loader_start_epoch(l, 0, 0);
    ForwardArgs inference = { .train = 0 };
    Batch b;
    Error err;
    int64_t images = 0;
    double t0 = 0.0;
    for (int i = 0; loader_next(l, &b, &err) == 1; i++) {
        if (b.n > 0) backend_forward(&r->val_model.be, b.data, b.n, &inference);
        if (i > 0) images += b.n;
        loader_release(l, &b);
        if (i == 0) t0 = now_seconds();
        else if (i >= VAL_PROBE_BATCHES && now_seconds() - t0 >= VAL_PROBE_SECONDS) break;
    }
    double t1 = now_seconds();
    loader_start_epoch(l, 0, 0); /* abandons the rest: validation starts it again */
    r->budget.used += budget_probe_cost(now_seconds() - t_start);
    return images > 0 ? (t1 - t0) / (double)images : 0.0;
}

/* Whether a speed measured at training size `size` compares with the current one's (0: unknown, taken as yes). */
static int same_size(const Run *r, int size) { return size == 0 || size == r->image_size; }

/* What an epoch end (validation and saving) will cost before one was
 * measured: validation at the probe's speed (scaled with the steps' speed
 * since), plus writing the model files and the state at 400 MB/s. A set too
 * small to time is reckoned at half a training step per image (make run's
 * measured 0.46: a forward is a third of a step's arithmetic, but decoding
 * is a whole image's). */
#define VAL_IMAGE_STEP_SHARE 0.5
static double first_end_estimate(const Run *r) {
    const Budget *b = &r->budget;
    double per_image = b->val_image_seconds > 0
                           ? b->val_image_seconds * (b->val_step_seconds > 0 && same_size(r, b->val_step_size)
                                                         ? b->step_seconds / b->val_step_seconds
                                                         : 1.0)
                           : b->step_seconds / (double)r->img_global * VAL_IMAGE_STEP_SHARE;
    double val = r->have_val ? (double)r->val.n / (double)r->d->world * per_image : 0.0;
    double bytes = (double)r->model.net.param_count * sizeof(float) * 4; /* last, best, state: weights and momentum */
    return val + bytes / 400e6;
}

void budget_open(Run *r) {
    Budget *b = &r->budget;
    memset(b, 0, sizeof *b);
    b->seconds = r->c.time_budget;
}

int budget_after_step(Run *r, double wall) {
    Budget *b = &r->budget;
    if (!budget_set(&r->budget)) return 0;
    /* the speeds are kept as a full-size step's: a step at a progressive size counts as its time over its
     * relative cost */
    double relative = progressive_cost(&r->ramp, r->image_size);
    double cost = budget_step_cost(wall, relative);
    b->used += cost;
    if (r->step > 2) { /* the first steps build kernels and warm caches */
        b->window_seconds += cost / relative;
        b->window_steps++;
        b->recent_seconds += cost / relative;
        b->recent_steps++;
    }
    if (!r->is_root) return 0;
    if (!b->total_steps)
        return (b->window_steps >= BUDGET_PROBE_STEPS - 2) || (b->used >= 0.25 * b->seconds && b->window_steps >= 1) ||
               b->used >= b->seconds;
    return r->step - b->planned_at >= b->replan_every;
}

void budget_after_end(Run *r, double wall) {
    Budget *b = &r->budget;
    if (!budget_set(b)) return;
    b->end_measured = budget_end_cost(wall);
    b->end_step_seconds = b->window_steps > 0 ? b->window_seconds / b->window_steps : b->step_seconds;
    b->end_step_size = r->image_size;
    b->end_seconds = b->end_measured;
    b->used += b->end_measured;
}

/* The speed behind a plan: the fading average, restarted from the steps
 * since the last plan when they show a new speed. */
static void estimate_step(Budget *b) {
    if (b->recent_steps >= 3 && b->window_steps > 0) {
        double recent = b->recent_seconds / b->recent_steps, faded = b->window_seconds / b->window_steps;
        if (fabs(recent / faded - 1.0) > SPEED_SHIFT) {
            b->window_seconds = b->recent_seconds;
            b->window_steps = b->recent_steps;
        }
    }
    if (b->window_steps > 0) b->step_seconds = b->window_seconds / b->window_steps;
    b->recent_seconds = 0;
    b->recent_steps = 0;
}

/* An epoch end (validation and saving) costs what the last one did, scaled
 * by how much slower or faster the steps run now (a lost core slows both);
 * before one was measured, first_end_estimate at the current speed. */
static void estimate_end(Budget *b, const Run *r) {
    if (b->end_measured > 0)
        b->end_seconds = budget_end_cost(
            b->end_measured * (b->end_step_seconds > 0 && b->step_seconds > 0 && same_size(r, b->end_step_size)
                                   ? b->step_seconds / b->end_step_seconds
                                   : 1.0));
    else b->end_seconds = budget_end_cost(first_end_estimate(r));
}

/* The lr schedule laid over a plan of total steps, made at step (the first
 * plan, or a re-plan that keeps the decay's progress continuous). */
static void lay_schedule(LrSchedule *s, int first, int64_t step, int64_t total) {
    if (first && lr_warmup_steps(s) > total / 4) { /* a warmup longer than a quarter of the run is cut to that */
        s->warmup_steps = total / 4 > step ? total / 4 : step;
        if (s->warmup_steps < 1) s->warmup_steps = 1;
        lr_plan(s, total);
    } else {
        lr_replan(s, step, total);
    }
}

/* With progressive resizing, what the steps of a candidate plan cost: each
 * at the size the schedule laid over that plan gives it. */
typedef struct {
    const Run *r;
    int first;
} PlanSizes;

static double sized_steps(const void *user, int64_t from, int64_t to, int64_t total) {
    const PlanSizes *p = user;
    LrSchedule s = p->r->sched;
    lay_schedule(&s, p->first, from, total);
    double units = 0;
    for (int64_t i = from; i < to; i++)
        units += progressive_cost(&p->r->ramp, progressive_size(&p->r->ramp, lr_progress(&s, i)));
    return units;
}

/* The plan line: "12m -> 5430 steps = 11.6 epochs at ~463 img/s ...". */
static void print_plan(const Run *r, int first) {
    const Budget *b = &r->budget;
    char *budget = budget_format(b->seconds), *left = budget_format(b->seconds - b->used);
    double img_s = b->step_seconds > 0 ? (double)r->img_global / b->step_seconds : 0;
    if (first)
        progress_line((Progress *)&r->prog,
                      "time budget %s -> %lld steps = %.1f epochs at ~%.0f img/s%s (epoch ends ~%.1f s); %s to %g at "
                      "step %lld\n",
                      budget, (long long)b->total_steps, (double)b->total_steps / (double)r->steps_per_epoch, img_s,
                      progressive_on(&r->ramp) ? " at full size, faster while smaller" : "", b->end_seconds,
                      lr_kind_name(r->sched.kind), r->sched.eta_min, (long long)b->total_steps);
    else
        progress_line((Progress *)&r->prog,
                      "time budget: re-planned at step %lld (%s left, ~%.0f img/s now): %lld steps = %.1f epochs\n",
                      (long long)r->step, left, img_s, (long long)b->total_steps,
                      (double)b->total_steps / (double)r->steps_per_epoch);
    free(budget);
    free(left);
}

int budget_plan(Run *r, Error *err) {
    Budget *b = &r->budget;
    int first = b->total_steps == 0;
    int64_t plan[2] = { 0, 0 }; /* total steps; 1 when the budget can't hold a step more than done */
    if (first && b->end_measured == 0 && !b->val_image_seconds) {
        b->val_image_seconds = probe_validation(r);
        b->val_step_seconds = b->window_steps > 0 ? b->window_seconds / b->window_steps : 0.0;
        b->val_step_size = r->image_size;
    }
    if (r->is_root) {
        estimate_step(b);
        estimate_end(b, r);
        PlanSizes sizes = { r, first };
        StepCost cost = { sized_steps, &sizes };
        int64_t fit = budget_fit(b->seconds - b->used, r->step, r->steps_per_epoch, b->step_seconds, b->end_seconds,
                                 progressive_on(&r->ramp) ? &cost : NULL);
        int64_t cap = (int64_t)r->c.max_epoch * r->steps_per_epoch;
        plan[0] = r->step + fit < cap ? r->step + fit : cap;
        plan[1] = first && fit == 0; /* the probe alone used the budget up */
    }
    dist_bcast(r->d, plan, sizeof plan, 0);
    if (plan[1]) {
        /* before a step was timed past the warm-up, the steps so far stand for a step's cost */
        double step = b->step_seconds > 0 ? b->step_seconds : b->used / (double)(r->step > 0 ? r->step : 1);
        /* a longer budget measures on until a quarter of it is used: what is left must still hold a step and
         * an epoch end */
        double enough = fmax(b->used + step + b->end_seconds, (2.0 * step + b->end_seconds) / 0.75);
        return error_set(err,
                         "--time_budget %g s is too short: the first %lld step%s (kernels built, speed measured) "
                         "already took %.1f s of it, and a step costs ~%.2f s and an epoch end (validation and "
                         "saving) ~%.1f s here; give at least ~%.0f s",
                         b->seconds, (long long)r->step, plural_s(r->step), b->used, step, b->end_seconds,
                         ceil(enough));
    }
    int64_t total = plan[0];
    int64_t moved = total > b->total_steps ? total - b->total_steps : b->total_steps - total;
    int64_t tolerance = (int64_t)(REPLAN_TOLERANCE * (double)total);
    b->window_seconds *= WINDOW_KEEP;
    b->window_steps *= WINDOW_KEEP;
    b->planned_at = r->step;
    if (!first && moved <= (tolerance > 2 ? tolerance : 2)) return 0;
    b->total_steps = total;
    b->replan_every = total / 50 > 10 ? total / 50 : 10;
    lay_schedule(&r->sched, first, r->step, total);
    if (first && r->ema.w) /* torchvision adjusts the decay for the run's epochs: now they are known */
        r->ema.decay = ema_adjusted_decay(r->c.model_ema_decay, r->img_global, r->c.model_ema_steps,
                                          (double)total / (double)r->steps_per_epoch);
    if (!first) b->replans++;
    if (r->is_root) {
        print_plan(r, first);
        if (run_write_config(r, err) != 0) return -1;
    }
    return 0;
}
