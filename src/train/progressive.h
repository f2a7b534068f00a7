/*
 * progressive.h — progressive resizing (--progressive_min_size): the
 * training crop grows with the lr schedule's progress u (lr_progress), from
 * --progressive_min_size to --image_size between --progressive_start and
 * --progressive_end, in steps of --progressive_step: FFCV's ramp. Early
 * steps on small images are cheap, and training below the evaluation size
 * is FixRes's point (a RandomResizedCrop enlarges objects; a smaller
 * training size brings them back to the size evaluation shows them at).
 *
 * The size is a function of u alone, so a resumed run recomputes it, every
 * rank agrees on it, and a time budget can reckon what the steps it plans
 * will cost (progressive_cost: a step's multiply-adds at a size, relative to
 * the full size's).
 */
#ifndef ALEXNET_PROGRESSIVE_H
#define ALEXNET_PROGRESSIVE_H

#include "common/util.h"
#include "model/net.h"
#include "train/config.h"

typedef struct {
    int min_size, full_size, step; /* min_size 0: off (always full_size) */
    double start, end;
    int n_sizes;
    int *sizes;   /* [n_sizes] the sizes the ramp passes through, ascending; the last is full_size */
    double *cost; /* [n_sizes] a training step's multiply-adds at each, relative to full_size's */
} Progressive;

/* From the configuration; net: the training net (at any size: its backbone,
 * classes and which tensors train are what counts). 0, or -1 with err (a
 * size the backbone can't be built at). Off: nothing is allocated. */
int progressive_init(Progressive *p, const TrainConfig *c, const Net *net, Error *err);
void progressive_free(Progressive *p);
static inline int progressive_on(const Progressive *p) { return p->min_size > 0; }
/* The training size at the schedule's progress u in [0, 1]. */
int progressive_size(const Progressive *p, double u);
/* A step at size, relative to one at full_size (1 when off). */
double progressive_cost(const Progressive *p, int size);

#endif
