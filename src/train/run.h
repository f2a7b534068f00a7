/*
 * run.h — one training run, as the files of train/ share it (private to
 * train/; the rest of the program sees trainer.h):
 *   run_open.c    assembling it: data, model, loaders, schedule, the run
 *                 contract (fingerprint, resumed position), the run directory
 *   trainer.c     the step and epoch loop
 *   run_files.c   what it keeps in its directory: model files, the
 *                 resumable state, config.json, curves.svg
 *   run_report.c  what it prints
 *   ema.c         the weights' moving average
 */
#ifndef ALEXNET_RUN_H
#define ALEXNET_RUN_H

#include <stdint.h>

#include "backend/backend.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "dist/dist.h"
#include "engine/evaluate.h"
#include "engine/model_open.h"
#include "io/checkpoint.h"
#include "io/metrics.h"
#include "io/tb_events.h"
#include "train/budget.h"
#include "train/config.h"
#include "train/ema.h"
#include "train/fingerprint.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/progressive.h"

/* What validation found at an epoch's end (-1 / NaN: no validation). */
typedef struct {
    EvalCounts ev;
    double top1, top5, loss, ema_top1, ema_top5;
    double *class_top1; /* [K] with --val_per_class (NaN: no image of the class), owned; else NULL */
} EpochVal;

typedef struct {
    TrainConfig c;
    Dist *d;
    int is_root; /* rank 0: prints and writes the run directory */

    /* data */
    Dataset train, val;
    int have_val;
    Loader *train_loader, *val_loader;
    int workers;
    int64_t steps_per_epoch;
    int64_t img_global; /* images per step over all ranks */

    /* model and optimisation */
    Model model;     /* the net, its host weights (params) and the training backend */
    Model val_model; /* validation's backend: built for inference at --val_crop_size, as eval builds it (exists iff
                        there is validation); it gets the weights before each validation */
    float *momentum; /* [param_count] host copy, for the state file */
    float *logits;   /* [per_batch_size, K] scratch */
    float *grad_acc; /* [param_count] the micro-batches' gradient sum with --accum_steps > 1, else NULL */
    int32_t *mix_labels; /* [per_batch_size] the rolled batch's labels with MixUp/CutMix, else NULL */
    void *mix_scratch;   /* one input sample, for mix_apply */
    float *class_weight; /* [K] --class_balance loss: n / (classes with images * images of the class), else NULL */
    Ema ema;         /* --model_ema; ema.w NULL without */
    Progressive ramp; /* --progressive_min_size: the training size as the schedule goes */
    int image_size;   /* the training crop of the step about to run: --image_size, or the ramp's */
    LrSchedule sched;
    LossArgs loss;
    int backend_comm; /* the backend all-reduces its own gradients (NCCL) */
    int allreduce_attached; /* the gradient all-reduce knows the backend's buffer (attach_allreduce) */

    /* the run contract and the position */
    RunFingerprint fp;
    int epoch;            /* in progress, 0-based */
    int64_t batch, step;  /* next batch within the epoch; optimizer steps done */
    double best;          /* best validation top-1 so far; -1 before any */
    RunSums epoch_sums;   /* behind the epoch's record */
    RunSums window;       /* behind the next step record */

    Budget budget; /* --time_budget: the plan; seconds 0 without */

    /* output and time */
    MetricsLog metrics;
    int metrics_open;
    TbWriter *tb; /* --tensorboard (rank 0), or NULL */
    Progress prog;
    double time_base;   /* the run's seconds before this session (metrics "time") */
    double t_session;   /* now_seconds() when this session's first step began */
    double end_seconds; /* the last epoch end's evaluation and saving, for the ETA */
    double t_mark;      /* now_seconds() at the end of the last step or epoch end: a step's wall time */
    double startup_seconds[2]; /* scanning the data; the model, its backend and the loaders */
} Run;

/* --- run_open.c ---------------------------------------------------------- */

/* Everything up to the first step. 0, or 2 (a user error: err set on the
 * ranks that met it, empty on the others; every rank returns 2). */
int run_open(Run *r, const TrainPosition *resume, int allow_data_change, Error *err);
void run_close(Run *r);
/* Progressive resizing, before a step: when the ramp puts the step at
 * another size than r->image_size, the training backend and loader are
 * made anew at it (the weights, momentum and position carried over; the
 * loader starts at the epoch's next batch), so a run resumed anywhere
 * trains as the uninterrupted one. 0, or -1 with err. */
int run_fit_size(Run *r, Error *err);

/* --- run_files.c ---------------------------------------------------------- */

/* Rank 0. last.safetensors (and best.safetensors when best is not NULL: the
 * weights that just became the best, best_kind "raw" or "ema"; and
 * epoch_N.safetensors every --ckpt_interval epochs). */
int run_save_models(Run *r, int epochs_done, const float *best, const char *best_kind, Error *err);
/* Rank 0: train_state.safetensors, the position after r->step. */
int run_save_state(Run *r, Error *err);
/* Rank 0: config.json, the effective configuration. */
int run_write_config(Run *r, Error *err);
/* Rank 0: curves.svg from the metrics so far. */
int run_write_curves(Run *r, Error *err);
/* Rank 0: a record into metrics.jsonl and, with --tensorboard, the event file. */
void run_record(Run *r, const MetricRecord *m);

/* --- run_budget.c --------------------------------------------------------- */

/* The run has a time budget and its plan's steps are done. */
int budget_done(const Run *r);
/* From the configuration; a resumed run then reads its plan (budget_from_json). */
void budget_open(Run *r);
/* After a step (wall: its seconds): 1 when rank 0 wants a plan now (the
 * first, after the probe; a re-plan, every few percent of the run). */
int budget_after_step(Run *r, double wall);
/* After an epoch end (wall: its seconds). */
void budget_after_end(Run *r, double wall);
/* Every rank, together: (re-)plans the steps left from rank 0's
 * measurements and lays the lr schedule over them. -1 with err when the
 * budget can't hold the steps already done. */
int budget_plan(Run *r, Error *err);

/* --- run_report.c --------------------------------------------------------- */

/* Rank 0, before the first step: what runs, on what, with which recipe. */
void report_summary(const Run *r, int resumed);
/* Every rank (rank 0 prints): one line per rank in a multi-process run. */
void report_placement(Run *r);
/* The live progress line after a step. */
void report_progress(Run *r, double lr, double loss);
/* A failure while running, from whichever rank met it. */
void report_failure(Run *r, const char *msg);
/* Rank 0: the loss stopped being finite. */
void report_divergence(Run *r, double loss);
/* Rank 0, at an epoch's end: its line (training loss, top-1, speed; the
 * validation's figures when there was one). */
void report_epoch(Run *r, int done, double loss, double train_top1, double img_s, const EpochVal *v);
/* Rank 0: the end of the run, stopped (why) or done. */
void report_stopped(Run *r, const char *why);
void report_done(Run *r);

#endif
