/*
 * lr_schedule.h — learning rate as a pure function of the optimizer step.
 *
 * All schedules start with the seed's linear warmup from ~0:
 *   i < W:  lr = base * (i + 1) / W,   W = floor(warmup_epochs * P)
 * (P: steps per epoch) then, with e = floor(i / P) (a per-epoch staircase,
 * counted from epoch 0):
 *   cosine_annealing: eta_min + (base - eta_min) * (1 + cos(pi * e / T_max)) / 2
 *   step:             eta_min + (base - eta_min) * gamma^(milestones <= e)
 *                     (milestones --lr_epochs, default 30,60,90,120: torchvision's
 *                     x0.1 every 30 epochs; the seed's code calls this "exponential")
 *   exponential:      eta_min + (base - eta_min) * gamma^e  (PyTorch ExponentialLR)
 * and two that decay per step over the run's total_steps N (the whole run,
 * or a --time_budget's plan), so the lr is eta_min exactly at the last step:
 *   cosine:           eta_min + (base - eta_min) * (1 + cos(pi * u)) / 2
 *   linear:           eta_min + (base - eta_min) * (1 - u)
 * where the decay's progress u goes from 0 at step W to 1 at step N - 1. A
 * re-plan (lr_replan: the budget's estimate of N changed) keeps u where it
 * is and spreads what is left over the new end, so the lr never jumps: u is
 * piecewise linear in the step, with a knot at each re-plan.
 */
#ifndef ALEXNET_LR_SCHEDULE_H
#define ALEXNET_LR_SCHEDULE_H

#include <stdint.h>

#include "common/util.h"

#define LR_MAX_MILESTONES 32

#define LR_MAX_KNOTS 64

typedef enum { LR_COSINE_ANNEALING, LR_STEP, LR_EXPONENTIAL, LR_COSINE, LR_LINEAR } LrKind;

/* The decay's progress u at a step (cosine, linear). */
typedef struct {
    int64_t step;
    double u;
} LrKnot;

typedef struct {
    LrKind kind;
    double base, eta_min, gamma;
    double warmup_epochs;
    int64_t warmup_steps; /* > 0: the warmup in steps, overriding warmup_epochs (a budget's plan) */
    int T_max;
    long steps_per_epoch;
    int n_milestones;
    int milestones[LR_MAX_MILESTONES]; /* epochs, ascending */
    /* cosine, linear: the run's steps, and u's knots (the first at the warmup's end, u 0) */
    int64_t total_steps;
    int n_knots;
    LrKnot knots[LR_MAX_KNOTS];
} LrSchedule;

double lr_at(const LrSchedule *s, long step);
/* Steps of linear warmup. */
int64_t lr_warmup_steps(const LrSchedule *s);
/* 1 for the kinds that decay over total_steps (cosine, linear). */
int lr_per_step(LrKind kind);
/* How far the schedule is at step, in [0, 1]: the decay's progress u for
 * cosine and linear (0 through the warmup, so it follows a budget's
 * re-plans); for the per-epoch kinds step / (T_max * steps per epoch). What
 * progressive resizing grows the image with. */
double lr_progress(const LrSchedule *s, int64_t step);
/* Starts the per-step decay over total steps (after the warmup). */
void lr_plan(LrSchedule *s, int64_t total);
/* From step on, the decay ends at total instead (u kept continuous). */
void lr_replan(LrSchedule *s, int64_t step, int64_t total);

/* "cosine_annealing" | "step" | "exponential" | "cosine" | "linear"; -1 with a message otherwise. */
int lr_kind_parse(LrKind *kind, const char *name, Error *err);
const char *lr_kind_name(LrKind kind);
/* "30,60,90,120" -> milestones; -1 with a message on a malformed list.
 * strict (a flag being given): digits and commas only; else (a saved run's
 * configuration) also what earlier versions took: spaces or a sign before a
 * number, a trailing comma ("30, 60,"), so every run they saved resumes. */
int lr_milestones_parse(LrSchedule *s, const char *list, int strict, Error *err);
/* One line describing the schedule, for the start-of-run summary (malloc'd);
 * end: where a per-step decay ends, in words (NULL: "at step N"). */
char *lr_describe(const LrSchedule *s, const char *end);

#endif
