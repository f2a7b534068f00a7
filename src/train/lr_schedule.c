/*
 * lr_schedule.c — the seed's learning-rate schedules (see lr_schedule.h).
 */
#include "train/lr_schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t lr_warmup_steps(const LrSchedule *s) {
    if (s->warmup_steps > 0) return s->warmup_steps;
    long per_epoch = s->steps_per_epoch > 0 ? s->steps_per_epoch : 1;
    return (int64_t)floor(s->warmup_epochs * (double)per_epoch);
}

int lr_per_step(LrKind kind) { return kind == LR_COSINE || kind == LR_LINEAR; }

void lr_plan(LrSchedule *s, int64_t total) {
    s->total_steps = total;
    s->n_knots = 1;
    s->knots[0] = (LrKnot){ lr_warmup_steps(s), 0.0 };
}

/* The decay's progress at step (>= the warmup), in [0, 1]. */
static double progress(const LrSchedule *s, int64_t step) {
    int k = s->n_knots - 1;
    while (k > 0 && s->knots[k].step > step) k--;
    const LrKnot *a = &s->knots[k];
    int64_t end = k + 1 < s->n_knots ? s->knots[k + 1].step : s->total_steps - 1;
    double u_end = k + 1 < s->n_knots ? s->knots[k + 1].u : 1.0;
    if (end <= a->step) return u_end;
    double u = a->u + (u_end - a->u) * (double)(step - a->step) / (double)(end - a->step);
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

double lr_progress(const LrSchedule *s, int64_t step) {
    if (lr_per_step(s->kind)) return s->n_knots < 1 || step < s->knots[0].step ? 0.0 : progress(s, step);
    double span = (double)(s->T_max > 0 ? s->T_max : 1) * (double)(s->steps_per_epoch > 0 ? s->steps_per_epoch : 1);
    double u = (double)step / span;
    return u < 1 ? u : 1;
}

void lr_replan(LrSchedule *s, int64_t step, int64_t total) {
    if (step <= s->knots[0].step) { /* still warming up: the decay has not begun */
        s->n_knots = 1;
        s->total_steps = total;
        return;
    }
    double u = progress(s, step);
    while (s->n_knots > 1 && s->knots[s->n_knots - 1].step >= step) s->n_knots--;
    if (s->n_knots == LR_MAX_KNOTS) s->n_knots--; /* the oldest history goes first: only curves.svg draws it */
    s->knots[s->n_knots++] = (LrKnot){ step, u };
    s->total_steps = total;
}

double lr_at(const LrSchedule *s, long step) {
    long per_epoch = s->steps_per_epoch > 0 ? s->steps_per_epoch : 1;
    long warmup = (long)lr_warmup_steps(s);
    if (step < warmup) return s->base * (double)(step + 1) / (double)warmup;
    if (lr_per_step(s->kind)) {
        double u = progress(s, step);
        double f = s->kind == LR_COSINE ? (1.0 + cos(M_PI * u)) / 2.0 : 1.0 - u;
        return s->eta_min + (s->base - s->eta_min) * f;
    }
    long e = step / per_epoch;
    double f = 1.0;
    switch (s->kind) {
    case LR_COSINE_ANNEALING: f = (1.0 + cos(M_PI * (double)e / (double)(s->T_max > 0 ? s->T_max : 1))) / 2.0; break;
    case LR_STEP: {
        int k = 0;
        for (int i = 0; i < s->n_milestones; i++) k += s->milestones[i] <= e;
        f = pow(s->gamma, k);
        break;
    }
    case LR_EXPONENTIAL: f = pow(s->gamma, (double)e); break;
    case LR_COSINE:
    case LR_LINEAR: break;
    }
    return s->eta_min + (s->base - s->eta_min) * f;
}

int lr_kind_parse(LrKind *kind, const char *name, Error *err) {
    if (strcmp(name, "cosine_annealing") == 0) *kind = LR_COSINE_ANNEALING;
    else if (strcmp(name, "step") == 0) *kind = LR_STEP;
    else if (strcmp(name, "exponential") == 0) *kind = LR_EXPONENTIAL;
    else if (strcmp(name, "cosine") == 0) *kind = LR_COSINE;
    else if (strcmp(name, "linear") == 0) *kind = LR_LINEAR;
    else
        return error_set(err, "unknown LR schedule '%s' (choose cosine_annealing, step, exponential, cosine or linear)",
                         name);
    return 0;
}

const char *lr_kind_name(LrKind kind) {
    switch (kind) {
    case LR_COSINE_ANNEALING: return "cosine_annealing";
    case LR_STEP: return "step";
    case LR_EXPONENTIAL: return "exponential";
    case LR_COSINE: return "cosine";
    case LR_LINEAR: return "linear";
    }
    return "?";
}

int lr_milestones_parse(LrSchedule *s, const char *list, int strict, Error *err) {
    s->n_milestones = 0;
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        int loose = !(*p >= '0' && *p <= '9') || (*end == ',' && end[1] == 0);
        if (end == p || errno || v < 0 || v > 1000000 || (*end && *end != ',') || (strict && loose))
            return error_set(err, "--lr_epochs must be a comma-separated list of epochs like 30,60,90 (got '%s')",
                             list);
        if (s->n_milestones == LR_MAX_MILESTONES)
            return error_set(err, "--lr_epochs has more than %d milestones", LR_MAX_MILESTONES);
        if (s->n_milestones > 0 && v <= s->milestones[s->n_milestones - 1])
            return error_set(err, "--lr_epochs must be increasing (got '%s')", list);
        s->milestones[s->n_milestones++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

char *lr_describe(const LrSchedule *s, const char *end) {
    int64_t warmup = lr_warmup_steps(s);
    char *head = s->warmup_steps > 0 ? xasprintf("%s, base %g, warmup %lld steps from 0", lr_kind_name(s->kind),
                                                 s->base, (long long)warmup)
                                     : xasprintf("%s, base %g, warmup %g epochs (%lld steps) from 0",
                                                 lr_kind_name(s->kind), s->base, s->warmup_epochs, (long long)warmup);
    char *tail = NULL;
    switch (s->kind) {
    case LR_COSINE_ANNEALING:
        tail = xasprintf(", cosine per epoch over T_max %d to eta_min %g", s->T_max, s->eta_min);
        break;
    case LR_STEP: {
        tail = xasprintf(", x%g at epochs", s->gamma);
        for (int i = 0; i < s->n_milestones; i++) {
            char *more = xasprintf("%s%s%d", tail, i ? "," : " ", s->milestones[i]);
            free(tail);
            tail = more;
        }
        break;
    }
    case LR_EXPONENTIAL: tail = xasprintf(", x%g per epoch", s->gamma); break;
    case LR_COSINE:
    case LR_LINEAR:
        tail = end ? xasprintf(", %s per step to eta_min %g %s", s->kind == LR_COSINE ? "cosine" : "linear", s->eta_min,
                               end)
                   : xasprintf(", %s per step to eta_min %g at step %lld", s->kind == LR_COSINE ? "cosine" : "linear",
                               s->eta_min, (long long)s->total_steps);
        break;
    }
    char *all = xasprintf("%s%s", head, tail ? tail : "");
    free(head);
    free(tail);
    return all;
}
