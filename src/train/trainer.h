/*
 * trainer.h — the training run: data, model, backend, schedule, the step
 * loop, per-epoch evaluation, checkpoints, metrics and curves, exact resume.
 */
#ifndef ALEXNET_TRAINER_H
#define ALEXNET_TRAINER_H

#include "common/util.h"
#include "dist/dist.h"
#include "io/checkpoint.h"
#include "train/config.h"

/* Runs (or, with resume != NULL, continues) a training run. Returns the exit
 * status: 0 done or cleanly interrupted, 1 failure while running (non-finite
 * loss, I/O), 2 a user error (message in err). */
int train_run(const TrainConfig *cfg, const TrainPosition *resume, Dist *d, Error *err);

/* Paths inside a run directory. */
void run_path(char *buf, size_t len, const char *dir, const char *file);
#define STATE_FILE "train_state.safetensors"

#endif
