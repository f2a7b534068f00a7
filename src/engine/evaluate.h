/*
 * evaluate.h — top-1/top-5 accuracy of a backend over an evaluation loader:
 * every image of this rank's share exactly once (no dropped remainder),
 * dropout off; counts are summed over ranks exactly.
 */
#ifndef ALEXNET_EVALUATE_H
#define ALEXNET_EVALUATE_H

#include <stdint.h>

#include "backend/backend.h"
#include "data/loader.h"
#include "dist/dist.h"

typedef struct {
    int64_t images, correct1, correct5, skipped;
    double loss_sum; /* sum over images of the cross-entropy -log softmax(logits)[label], no smoothing */
} EvalCounts;

/* Rank of the true class among the logits (0 = predicted), ties broken
 * towards the lower class index; a non-finite true logit ranks last. */
int label_rank(const float *logits, int k, int label);
/* -log softmax(logits)[label], computed stably in double; +inf for a
 * non-finite true logit. */
double label_xent(const float *logits, int k, int label);

/* Runs the whole evaluation set. logits: scratch of [max_batch, K] floats.
 * Returns 0, or -1 with err set (a bad file in strict mode). */
int evaluate(Backend *be, Loader *loader, Dist *d, float *logits, EvalCounts *out, Error *err);
/* What else an evaluation does. flip 1: each image's logits are the mean of
 * its own and its mirror's (test-time augmentation, eval --tta flip);
 * progress 1: this rank reports how far it is on stderr (images, img/s, ETA;
 * a line rewritten in place on a terminal, else a line every 10%).
 * per_class (NULL: off): per-class counts, summed over ranks like the totals. */
typedef struct {
    /* [4 * K]: of each true class its images, those whose top-1 is right,
     * those with it in their top 5; then how many images were predicted as
     * each class (the top-1 class: predicted_class) */
    int64_t *counts;
    /* [K * K] or NULL: row the true class, column the predicted one (the
     * diagonal is the second row of counts) */
    int64_t *confusion;
} EvalPerClass;

typedef struct {
    int flip, progress;
    EvalPerClass *per_class;
} EvalOptions;

/* The predicted class: the largest logit (NaN as -inf), ties to the lower
 * index; the true label when label_rank ranks it first. */
int predicted_class(const float *logits, int k, int label);

int evaluate_tta(Backend *be, Loader *loader, Dist *d, float *logits, const EvalOptions *opt, EvalCounts *out,
                 Error *err);

#endif
