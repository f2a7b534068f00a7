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
 * loss, I/O; already reported), 2 a user error found before the first step
 * (message in err on the ranks that have one; every rank returns 2, so the
 * job ends without MPI_Abort). allow_data_change: resume even though the
 * training files differ from the run's (--allow_data_change). */
int train_run(const TrainConfig *cfg, const TrainPosition *resume, int allow_data_change, Dist *d, Error *err);

/* The resumable state inside a run directory. */
#define STATE_FILE "train_state.safetensors"

#endif
