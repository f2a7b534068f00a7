/*
 * metrics.h — the run's history: RUN_DIR/metrics.jsonl, one JSON object per
 * logged step and per finished epoch, kept in memory too for the curves.
 *
 *   {"type":"step","step":120,"epoch":2,"loss":1.23,"train_top1":0.61,"lr":0.01,"img_s":310.5,"time":421.7
 *    [,"image_size":64]}
 *   {"type":"epoch","step":468,"epoch":1,"loss":1.5,"train_top1":0.55,"lr":0.01,"img_s":305.2,"time":1530.2,
 *    "val_loss":1.31,"top1":0.81,"top5":0.98,"val_images":10000,"val_skipped":0[,"ema_top1":..,"ema_top5":..]}
 * step = optimizer steps done; epoch counts from 1 as on the console (a step
 * record's epoch is the one in progress, an epoch record's the one finished);
 * loss and train_top1 average the steps since the previous record of the same
 * type (train_top1: top-1 of the training batches, with augmentation and
 * dropout on); time = training seconds since the run began, summed over
 * resumes; top1/top5 are fractions. A value that is not finite is written as
 * null, so every line is valid JSON.
 */
#ifndef ALEXNET_METRICS_H
#define ALEXNET_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

typedef struct {
    int is_epoch;
    int64_t step;
    int epoch;
    double loss, lr, img_s, time;
    double train_top1;           /* < 0 when not measured */
    double val_loss, top1, top5; /* epoch records with evaluation; top1 < 0 when none */
    double ema_top1, ema_top5;   /* the weights' EMA (--model_ema); < 0 when none */
    int64_t val_images, val_skipped;
    /* written, not read back: each class's validation top-1 (NaN: no image
     * of it), [n_classes], or NULL (--val_per_class off) */
    const double *class_top1;
    int n_classes;
    int image_size; /* written, not read back: step records of a run with progressive resizing, the training
                       size of the record's last step (0: not written) */
} MetricRecord;

typedef struct {
    FILE *f;
    int n, cap;
    MetricRecord *rec;
} MetricsLog;

/* Opens path for appending. Existing records with step <= keep_until_step are
 * kept (resume: later ones belong to the interrupted, replayed stretch and
 * are dropped); keep_until_step < 0 starts a fresh file. */
int metrics_open(MetricsLog *m, const char *path, int64_t keep_until_step, Error *err);
void metrics_add(MetricsLog *m, const MetricRecord *r);
void metrics_close(MetricsLog *m);
/* Training seconds recorded so far (the last record's time). */
double metrics_last_time(const MetricsLog *m);

#endif
