/*
 * lr_schedule.c — the seed's learning-rate schedules (see lr_schedule.h).
 */
#include "train/lr_schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double lr_at(const LrSchedule *s, long step) {
    long per_epoch = s->steps_per_epoch > 0 ? s->steps_per_epoch : 1;
    long warmup = (long)floor(s->warmup_epochs * (double)per_epoch);
    if (step < warmup) return s->base * (double)(step + 1) / (double)warmup;
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
    }
    return s->eta_min + (s->base - s->eta_min) * f;
}

int lr_kind_parse(LrKind *kind, const char *name, Error *err) {
    if (strcmp(name, "cosine_annealing") == 0) *kind = LR_COSINE_ANNEALING;
    else if (strcmp(name, "step") == 0) *kind = LR_STEP;
    else if (strcmp(name, "exponential") == 0) *kind = LR_EXPONENTIAL;
    else return error_set(err, "unknown LR schedule '%s' (choose cosine_annealing, step or exponential)", name);
    return 0;
}

const char *lr_kind_name(LrKind kind) {
    switch (kind) {
    case LR_COSINE_ANNEALING: return "cosine_annealing";
    case LR_STEP: return "step";
    case LR_EXPONENTIAL: return "exponential";
    }
    return "?";
}

int lr_milestones_parse(LrSchedule *s, const char *list, Error *err) {
    s->n_milestones = 0;
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 1000000 || (*end && *end != ','))
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

void lr_describe(const LrSchedule *s, char *buf, size_t len) {
    long warmup = (long)floor(s->warmup_epochs * (double)s->steps_per_epoch);
    int n = snprintf(buf, len, "%s, base %g, warmup %g epochs (%ld steps) from 0", lr_kind_name(s->kind), s->base,
                     s->warmup_epochs, warmup);
    if (n < 0 || (size_t)n >= len) return;
    switch (s->kind) {
    case LR_COSINE_ANNEALING:
        snprintf(buf + n, len - (size_t)n, ", cosine per epoch over T_max %d to eta_min %g", s->T_max, s->eta_min);
        break;
    case LR_STEP: {
        int m = snprintf(buf + n, len - (size_t)n, ", x%g at epochs", s->gamma);
        for (int i = 0; i < s->n_milestones && m > 0 && (size_t)(n + m) < len; i++)
            m += snprintf(buf + n + m, len - (size_t)(n + m), "%s%d", i ? "," : " ", s->milestones[i]);
        break;
    }
    case LR_EXPONENTIAL: snprintf(buf + n, len - (size_t)n, ", x%g per epoch", s->gamma); break;
    }
}
