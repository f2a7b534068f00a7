/*
 * budget.h — training to a deadline (--time_budget). The run measures its
 * own speed on its first steps, turns the time left into a number of
 * optimizer steps, lays the lr schedule over exactly those (lr_plan), and
 * re-plans as the speed drifts (another process takes a core), so the run
 * ends on time with the lr at its floor.
 *
 * The budget counts what the run does: training steps and epoch ends
 * (validation and saving), not the start-up (scanning the data, building the
 * model). The plan's end need not be an epoch's: the last epoch may be
 * partial, and is validated and saved like a whole one.
 *
 * The speeds are measured: the first steps' (BUDGET_PROBE_STEPS) and, before
 * the first plan, a few batches of validation (run_budget.c), so the epoch
 * end the plan reserves is the validation set at its measured speed.
 *
 * For tests, ALEXNET_BUDGET_CLOCK=STEP,END makes each step cost STEP seconds
 * and each epoch end END seconds of the budget instead of the wall clock, so
 * a plan is exactly reproducible.
 */
#ifndef ALEXNET_BUDGET_H
#define ALEXNET_BUDGET_H

#include <stdint.h>

#include "common/util.h"
#include "train/lr_schedule.h"

/* Steps measured before the first plan (the first two, which warm caches
 * and build kernels, are not counted in the speed). */
#define BUDGET_PROBE_STEPS 8

typedef struct {
    double seconds;       /* the budget */
    double used;          /* spent so far (over resumes) */
    int64_t total_steps;  /* the plan; 0 before the first */
    int64_t planned_at;   /* step of the last plan */
    int64_t replan_every; /* steps between re-plans */
    double step_seconds;  /* the estimates behind the plan (a step at the full --image_size) */
    double end_seconds;
    int replans;          /* plans after the first that changed the end */
    /* not saved: the step times behind the next plan (each plan keeps a
     * share of them, so older steps fade out), those since the last plan,
     * and the last epoch end measured with the step time of that moment */
    double window_seconds, window_steps;
    double recent_seconds, recent_steps;
    double end_measured, end_step_seconds;
    /* the training size when end_step_seconds and val_step_seconds were measured (0: unknown, taken as the
     * current one): the epoch end scales with the step speed only at the same size, since a full-size step's
     * time inferred from a smaller one's is an estimate (progressive resizing's relative costs are arithmetic) */
    int end_step_size, val_step_size;
    /* validation's seconds per image, measured before the first plan, and
     * the step time of that moment */
    double val_image_seconds, val_step_seconds;
} Budget;

/* Whether the run trains to a time budget (--time_budget was given). */
static inline int budget_set(const Budget *b) { return b->seconds > 0; }
/* "1h30m", "12m05s", "45s". */
char *budget_format(double seconds);

/* What steps cost in units of step_seconds (progressive resizing makes the
 * early ones cheaper): sum(user, from, to, total), the steps [from, to) of a
 * plan of `total` steps. */
typedef struct {
    double (*sum)(const void *user, int64_t from, int64_t to, int64_t total);
    const void *user;
} StepCost;

/* The most steps from `step` on whose time fits in `left` seconds: each step
 * step_seconds (times its relative cost; cost NULL: 1), an epoch end at
 * every epoch boundary reached, and one at the run's end when that is not a
 * boundary. 0 when not even one fits. */
int64_t budget_fit(double left, int64_t step, int64_t steps_per_epoch, double step_seconds, double end_seconds,
                   const StepCost *cost);

/* The plan and the schedule's knots as a JSON object's text (NULL without a
 * budget), for the state; and back, every number range-checked. */
char *budget_to_json(const Budget *b, const LrSchedule *s);
int budget_from_json(Budget *b, LrSchedule *s, const char *json, Error *err);

/* Seconds a step or an epoch end costs the budget: measured, or the test
 * clock's (ALEXNET_BUDGET_CLOCK; a step's times its relative cost). */
double budget_step_cost(double measured, double relative);
double budget_end_cost(double measured);
/* What measuring validation's speed costs the budget: measured, or nothing
 * under the test clock. */
double budget_probe_cost(double measured);

#endif
