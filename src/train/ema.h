/*
 * ema.h — an exponential moving average of the weights (--model_ema), as
 * torchvision's references/classification/train.py keeps it: updated after
 * batch i of an epoch when i % --model_ema_steps == 0 (so at least once an
 * epoch), with a decay adjusted for the batch and the run's length, and
 * reset to the weights during the warmup epochs.
 */
#ifndef ALEXNET_EMA_H
#define ALEXNET_EMA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float *w;        /* [count] the average; NULL when there is none */
    size_t count;    /* floats: Net.param_count */
    double decay;    /* per update, after the adjustment */
    int64_t updates; /* updates so far; 0: the next one copies the weights */
} Ema;

/* torchvision's adjustment: alpha = min(1, (1 - decay) * global_batch *
 * steps_between / epochs), decay' = 1 - alpha. */
double ema_adjusted_decay(double decay, int64_t global_batch, int steps_between, double epochs);
/* An average that starts as start, with the adjusted decay. */
void ema_init(Ema *e, const float *start, size_t count, double decay, int64_t global_batch, int steps_between,
              int epochs);
/* One update from the current weights, torch's lerp form: w += (1 - decay) *
 * (params - w); the first one (and each during warmup, where torchvision
 * resets its count) copies them. */
void ema_update(Ema *e, const float *params, int in_warmup);
void ema_free(Ema *e);

#endif
