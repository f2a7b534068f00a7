/*
 * progressive.c — the size ramp of progressive resizing (see progressive.h).
 */
#include "train/progressive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Multiply-adds of a training step (forward and backward) per image at size. */
static int step_macs(const Net *like, int size, double *macs, Error *err) {
    Net n;
    if (net_build(&n, like->backbone, like->num_classes, size, like->dropout, err) != 0) return -1;
    for (int t = 0; t < n.n_params; t++) n.params[t].frozen = like->params[t].frozen;
    *macs = net_forward_macs(&n) + net_backward_macs(&n);
    return 0;
}

int progressive_init(Progressive *p, const TrainConfig *c, const Net *net, Error *err) {
    memset(p, 0, sizeof *p);
    p->full_size = c->image_size;
    if (c->progressive_min_size <= 0) return 0;
    p->min_size = c->progressive_min_size;
    p->step = c->progressive_step;
    p->start = c->progressive_start;
    p->end = c->progressive_end;
    int n = (p->full_size - p->min_size + p->step - 1) / p->step + 1; /* min, min + step, ..., full */
    p->sizes = xmalloc(sizeof(int) * (size_t)n);
    p->cost = xmalloc(sizeof(double) * (size_t)n);
    p->n_sizes = n;
    double full;
    if (step_macs(net, p->full_size, &full, err) != 0) {
        progressive_free(p);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int s = p->min_size + i * p->step;
        p->sizes[i] = s < p->full_size ? s : p->full_size;
        double macs;
        if (step_macs(net, p->sizes[i], &macs, err) != 0) {
            progressive_free(p);
            return -1;
        }
        p->cost[i] = macs / full;
    }
    return 0;
}

void progressive_free(Progressive *p) {
    free(p->sizes);
    free(p->cost);
    memset(p, 0, sizeof *p);
}

int progressive_size(const Progressive *p, double u) {
    if (!progressive_on(p) || u >= p->end) return p->full_size;
    if (u <= p->start) return p->min_size;
    double x = p->min_size + (u - p->start) / (p->end - p->start) * (double)(p->full_size - p->min_size);
    int lo = p->min_size + (int)floor((x - p->min_size) / p->step) * p->step; /* the nearest size of the ramp */
    if (lo >= p->full_size) return p->full_size;
    int hi = lo + p->step < p->full_size ? lo + p->step : p->full_size;
    return x - lo < hi - x ? lo : hi;
}

double progressive_cost(const Progressive *p, int size) {
    if (!progressive_on(p) || size >= p->full_size) return 1.0;
    int i = (size - p->min_size) / p->step;
    return i >= 0 && i < p->n_sizes && p->sizes[i] == size ? p->cost[i] : 1.0;
}
