/*
 * progress.h — what the user sees while training: on a terminal a live line
 * (epoch, step/steps, loss, lr, img/s, ETA) rewritten in place; elsewhere
 * (logs, CI) a plain line every `interval` steps.
 */
#ifndef ALEXNET_PROGRESS_H
#define ALEXNET_PROGRESS_H

#include <stdint.h>

typedef struct {
    int enabled, tty, live; /* live: a partial line is on screen */
    int interval;
    double last_draw;
} Progress;

void progress_init(Progress *p, int enabled, int interval);
void progress_step(Progress *p, int epoch, int max_epoch, int64_t batch, int64_t batches, int64_t step, double loss,
                   double lr, double img_s, double eta_seconds);
/* Prints a whole line (ending any live line first). */
void progress_line(Progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void progress_done(Progress *p);

/* "1h02m", "4m05s", "12s" */
void format_duration(double seconds, char *buf, int len);

#endif
