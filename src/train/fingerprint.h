/*
 * fingerprint.h — what a training run is bound to, so that resuming it and
 * running it on several ranks can be checked instead of silently going wrong.
 *
 * A run's position (epoch, batch within the epoch, step) and its learning-rate
 * schedule are only meaningful for one global batch and one dataset: resuming
 * a 4-rank run with 2 ranks would shift the batch index, and a rank whose copy
 * of the data lacks one file draws another permutation (samples duplicated or
 * skipped). The fingerprint is saved in the run's state (with the running
 * sums of the metrics), compared on resume, and compared across ranks at the
 * start of every run.
 */
#ifndef ALEXNET_FINGERPRINT_H
#define ALEXNET_FINGERPRINT_H

#include <stdint.h>

#include "common/util.h"
#include "data/dataset.h"
#include "dist/dist.h"

typedef struct {
    int world_size, global_batch;
    int64_t train_images;
    uint64_t train_files_hash; /* relative paths and labels, in scan order */
    int num_classes;
    uint64_t classes_hash; /* class names in label order */
    int64_t val_images;    /* -1: no --val_dir */
    uint64_t val_files_hash;
    int64_t param_count;
    char backbone[32];
} RunFingerprint;

/* Sums behind a metrics record: since the last record (window) or over the
 * epoch. Saved in the state, so records after a resume are exact. */
typedef struct {
    double loss; /* sum of per-step mean losses */
    int64_t steps;
    int64_t correct, seen; /* training top-1 over the batches */
    double seconds;        /* time spent in steps (not in evaluation or saving) */
} RunSums;

/* The trainer's record in the state ("run" metadata): the fingerprint, the
 * running sums and a time budget's plan (a JSON object's text, or NULL), as
 * JSON (caller frees) and back (-1 with a message; *plan malloc'd or NULL). */
char *run_record_to_json(const RunFingerprint *fp, const RunSums *epoch, const RunSums *window, const char *plan);
int run_record_parse(const char *json, RunFingerprint *fp, RunSums *epoch, RunSums *window, char **plan,
                     Error *err);

/* FNV-1a over the class names (with separators). */
uint64_t fingerprint_classes(char *const *names, int n);
/* FNV-1a over each file's path relative to the dataset root, and its label;
 * for a pack also how it was made (its mode, quality and size bound), so a
 * pack and its source folder are different data. */
uint64_t fingerprint_files(const Dataset *ds);

/* JSON object text (caller frees) and back; -1 with a message when malformed. */
char *fingerprint_to_json(const RunFingerprint *f);
int fingerprint_from_json(RunFingerprint *f, const char *json, Error *err);

/* Resume: the run in run_dir was saved with `saved`; this process would
 * continue it as `now`. A different model or class list is an error; so is a
 * different global batch (the message names the --per_batch_size that keeps
 * it) and a different training set, unless allow_data_change. 0 or -1. */
int fingerprint_check_resume(const RunFingerprint *saved, const RunFingerprint *now, int allow_data_change,
                             const char *run_dir, Error *err);

/* Every rank compares its own view (data, classes, model) with rank 0's and
 * prints its own differences (errorf: tagged with the command and its rank).
 * Collective; returns 0 when all agree, else -1 on every rank (with err
 * naming the ranks' count). */
int fingerprint_check_ranks(Dist *d, const RunFingerprint *mine, const char *data_dir, Error *err);

#endif
