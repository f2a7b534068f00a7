/*
 * layer_shapes.h — a Layer of a Net (model/net.h) as the shape structs of the
 * reference operators (nn/ops.h), for n samples. Shared by every backend that
 * calls those operators.
 */
#ifndef ALEXNET_LAYER_SHAPES_H
#define ALEXNET_LAYER_SHAPES_H

#include "model/net.h"
#include "nn/ops.h"

static inline ConvShape layer_conv_shape(const Layer *l, int n) {
    ConvShape s = {
        n, l->in_c, l->in_h, l->in_w, l->out_c, l->out_h, l->out_w, l->kernel, l->stride, l->pad, l->groups
    };
    return s;
}

static inline PoolShape layer_pool_shape(const Layer *l, int n) {
    PoolShape s = { n, l->in_c, l->in_h, l->in_w, l->out_h, l->out_w, l->kernel, l->stride };
    return s;
}

static inline LrnShape layer_lrn_shape(const Layer *l, int n) {
    LrnShape s = { n, l->in_c, l->in_h, l->in_w, l->lrn_size, l->lrn_alpha, l->lrn_beta, l->lrn_k };
    return s;
}

#endif
