/*
 * budget.c — the time budget's plan (see budget.h).
 */
#include "train/budget.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"
#include "common/json.h"

char *budget_format(double seconds) {
    long s = lround(seconds);
    if (s >= 3600) return s % 3600 ? xasprintf("%ldh%02ldm", s / 3600, s % 3600 / 60) : xasprintf("%ldh", s / 3600);
    if (s >= 60) return s % 60 ? xasprintf("%ldm%02lds", s / 60, s % 60) : xasprintf("%ldm", s / 60);
    return xasprintf("%lds", s);
}

/* Time of `steps` more steps from `step`, their epoch ends included. */
static double time_of(int64_t steps, int64_t step, int64_t per_epoch, double step_s, double end_s,
                      const StepCost *cost) {
    int64_t last = step + steps;
    int64_t ends = last / per_epoch - step / per_epoch + (last % per_epoch ? 1 : 0);
    double units = cost && steps > 0 ? cost->sum(cost->user, step, last, last) : (double)steps;
    return units * step_s + (double)ends * end_s;
}

int64_t budget_fit(double left, int64_t step, int64_t steps_per_epoch, double step_seconds, double end_seconds,
                   const StepCost *cost) {
    if (steps_per_epoch < 1 || !(step_seconds > 0) || left <= 0) return 0;
    int64_t lo = 0, hi = (int64_t)(left / step_seconds) + 1; /* time_of(hi) > left at full cost */
    while (cost && hi < ((int64_t)1 << 50) &&
           time_of(hi, step, steps_per_epoch, step_seconds, end_seconds, cost) <= left)
        hi *= 2;          /* cheaper steps: more fit */
    while (hi - lo > 1) { /* time_of grows with steps: bisect */
        int64_t mid = lo + (hi - lo) / 2;
        if (time_of(mid, step, steps_per_epoch, step_seconds, end_seconds, cost) <= left) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* The test clock: "STEP,END" seconds, or 0 (the wall clock). */
static int test_clock(double *step, double *end) {
    const char *v = env_switches()->budget_clock;
    return v[0] && sscanf(v, "%lf,%lf", step, end) == 2 && *step > 0 && *end >= 0;
}

double budget_step_cost(double measured, double relative) {
    double step, end;
    return test_clock(&step, &end) ? step * relative : measured;
}

double budget_end_cost(double measured) {
    double step, end;
    return test_clock(&step, &end) ? end : measured;
}

double budget_probe_cost(double measured) {
    double step, end;
    return test_clock(&step, &end) ? 0.0 : measured;
}

char *budget_to_json(const Budget *b, const LrSchedule *s) {
    if (!(b->seconds > 0)) return NULL;
    cJSON *o = cJSON_CreateObject();
    json_add_num(o, "seconds", b->seconds);
    json_add_num(o, "used", b->used);
    json_add_num(o, "total_steps", (double)b->total_steps);
    json_add_num(o, "planned_at", (double)b->planned_at);
    json_add_num(o, "replan_every", (double)b->replan_every);
    json_add_num(o, "step_seconds", b->step_seconds);
    json_add_num(o, "end_seconds", b->end_seconds);
    json_add_num(o, "replans", b->replans);
    json_add_num(o, "warmup_steps", (double)s->warmup_steps);
    json_add_num(o, "schedule_steps", (double)s->total_steps);
    cJSON *knots = cJSON_AddArrayToObject(o, "knots");
    for (int i = 0; i < s->n_knots; i++) {
        cJSON *k = cJSON_CreateArray();
        cJSON_AddItemToArray(k, json_num((double)s->knots[i].step));
        cJSON_AddItemToArray(k, json_num(s->knots[i].u));
        cJSON_AddItemToArray(knots, k);
    }
    char *text = json_print(o, 0);
    cJSON_Delete(o);
    return text;
}

static int num(const cJSON *o, const char *key, double lo, double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) return -1;
    *out = v->valuedouble;
    return 0;
}

int budget_from_json(Budget *b, LrSchedule *s, const char *json, Error *err) {
    cJSON *o = cJSON_Parse(json);
    double v[10];
    const char *keys[] = { "seconds",      "used",        "total_steps", "planned_at",   "replan_every",
                           "step_seconds", "end_seconds", "replans",     "warmup_steps", "schedule_steps" };
    const double hi[] = { 1e8, 1e9, 9e15, 9e15, 9e15, 1e9, 1e9, 1e9, 9e15, 9e15 };
    int bad = !cJSON_IsObject(o);
    for (int i = 0; i < 10 && !bad; i++) bad = num(o, keys[i], 0, hi[i], &v[i]) != 0;
    const cJSON *knots = cJSON_GetObjectItemCaseSensitive(o, "knots");
    int n = cJSON_IsArray(knots) ? cJSON_GetArraySize(knots) : 0;
    bad = bad || n < 1 || n > LR_MAX_KNOTS;
    for (int i = 0; i < n && !bad; i++) {
        const cJSON *k = cJSON_GetArrayItem(knots, i);
        const cJSON *step = cJSON_GetArrayItem(k, 0), *u = cJSON_GetArrayItem(k, 1);
        bad = !cJSON_IsArray(k) || !cJSON_IsNumber(step) || !cJSON_IsNumber(u) || !(step->valuedouble >= 0) ||
              !(step->valuedouble <= 9e15) || !(u->valuedouble >= 0 && u->valuedouble <= 1);
        if (!bad) s->knots[i] = (LrKnot){ (int64_t)step->valuedouble, u->valuedouble };
    }
    cJSON_Delete(o);
    if (bad) return error_set(err, "the saved time-budget plan is malformed");
    *b = (Budget){ .seconds = v[0],
                   .used = v[1],
                   .total_steps = (int64_t)v[2],
                   .planned_at = (int64_t)v[3],
                   .replan_every = (int64_t)v[4],
                   .step_seconds = v[5],
                   .end_seconds = v[6],
                   .replans = (int)v[7],
                   /* the saved estimate stands for a measured end at the saved speed */
                   .end_measured = v[6],
                   .end_step_seconds = v[5] };
    s->warmup_steps = (int64_t)v[8];
    s->total_steps = (int64_t)v[9];
    s->n_knots = n;
    return 0;
}
