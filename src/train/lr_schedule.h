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
 */
#ifndef ALEXNET_LR_SCHEDULE_H
#define ALEXNET_LR_SCHEDULE_H

#include "common/util.h"

#define LR_MAX_MILESTONES 32

typedef enum { LR_COSINE_ANNEALING, LR_STEP, LR_EXPONENTIAL } LrKind;

typedef struct {
    LrKind kind;
    double base, eta_min, gamma;
    double warmup_epochs;
    int T_max;
    long steps_per_epoch;
    int n_milestones;
    int milestones[LR_MAX_MILESTONES]; /* epochs, ascending */
} LrSchedule;

double lr_at(const LrSchedule *s, long step);

/* "cosine_annealing" | "step" | "exponential"; -1 with a message otherwise. */
int lr_kind_parse(LrKind *kind, const char *name, Error *err);
const char *lr_kind_name(LrKind kind);
/* "30,60,90,120" -> milestones; -1 with a message on a malformed list. */
int lr_milestones_parse(LrSchedule *s, const char *list, Error *err);
/* One line describing the schedule, for the start-of-run summary. */
void lr_describe(const LrSchedule *s, char *buf, size_t len);

#endif
