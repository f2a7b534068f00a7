/*
 * progress.c — live and plain training progress (see progress.h).
 */
#include "train/progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"

void progress_init(Progress *p, int enabled, int interval) {
    p->enabled = enabled;
    p->tty = enabled && isatty(fileno(stdout));
    p->live = 0;
    p->interval = interval > 0 ? interval : 20;
    p->last_draw = 0;
}

void format_duration(double s, char *buf, int len) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, (size_t)len, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, (size_t)len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, (size_t)len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, (size_t)len, "%lds", t);
}

void progress_step(Progress *p, int epoch, int max_epoch, int64_t batch, int64_t batches, int64_t step, double loss,
                   double lr, double img_s, double eta) {
    if (!p->enabled) return;
    char eta_s[32], of[16] = "?"; /* max_epoch 0: not known yet (a time budget before its plan) */
    format_duration(eta, eta_s, sizeof eta_s);
    if (max_epoch > 0) snprintf(of, sizeof of, "%d", max_epoch);
    if (p->tty) {
        double now = now_seconds();
        if (now - p->last_draw < 0.2 && batch != batches) return;
        p->last_draw = now;
        printf("\r\033[Kepoch %d/%s  step %lld/%lld  loss %.4f  lr %.5f  %.1f img/s  ETA %s", epoch + 1, of,
               (long long)batch, (long long)batches, loss, lr, img_s, eta_s);
        fflush(stdout);
        p->live = 1;
    } else if (step % p->interval == 0 || batch == batches) {
        printf("epoch %d/%s  step %lld/%lld  loss %.4f  lr %.5f  %.1f img/s  ETA %s\n", epoch + 1, of,
               (long long)batch, (long long)batches, loss, lr, img_s, eta_s);
        fflush(stdout);
    }
}

void progress_line(Progress *p, const char *fmt, ...) {
    if (!p->enabled) return;
    if (p->live) {
        printf("\r\033[K");
        p->live = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

void progress_done(Progress *p) {
    if (p->live) {
        printf("\n");
        p->live = 0;
    }
    fflush(stdout);
}
