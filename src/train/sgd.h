/*
 * sgd.h — momentum SGD in PyTorch's form over the flat parameter buffer:
 *   v = momentum * v + (g + wd * w)     (wd only on tensors with decay=1)
 *   w = w - lr * v
 * Each tensor's lr is lr * ParamTensor.lr_scale; frozen tensors are skipped
 * (no momentum, no weight decay: they stay exactly as loaded).
 */
#ifndef ALEXNET_SGD_H
#define ALEXNET_SGD_H

#include "backend/backend.h"
#include "model/net.h"

void sgd_update_host(const Net *net, float *params, const float *grads, float *momentum, const SgdArgs *a);

#endif
