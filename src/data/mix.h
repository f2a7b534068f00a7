/*
 * mix.h — MixUp and CutMix on a training batch, as torchvision's
 * transforms.v2.MixUp / v2.CutMix do it and references/classification/
 * train.py uses them (--mixup-alpha, --cutmix-alpha; with both, one of the
 * two per batch, each with probability 0.5):
 *   MixUp:  lam ~ Beta(a, a); x = lam * x + (1 - lam) * x.roll(1, 0)
 *   CutMix: lam ~ Beta(a, a); a box of area about (1 - lam) around a uniform
 *           centre takes the rolled batch's pixels; lam becomes the part of
 *           the image left as it was
 *   targets: lam * onehot(y) + (1 - lam) * onehot(y.roll(1, 0))
 * on the normalised float batch (after every per-sample transform). Every
 * draw comes from philox (RNG_MIX, a = optimizer step, b = the micro-batch's
 * place in the step's global batch), so a resumed run mixes as the
 * uninterrupted one did.
 */
#ifndef ALEXNET_MIX_H
#define ALEXNET_MIX_H

#include <stdint.h>

#include "model/input.h"

typedef enum { MIX_NONE, MIX_MIXUP, MIX_CUTMIX } MixKind;

/* One batch's mixing. */
typedef struct {
    MixKind kind;
    float lam;          /* weight of each sample's own image and label (CutMix: after the box) */
    int x1, y1, x2, y2; /* CutMix: columns [x1, x2) and rows [y1, y2) come from the rolled batch */
} Mix;

/* Beta(alpha, alpha) from the philox stream (seed, RNG_MIX, a, b) starting
 * at word *next, which it advances (Marsaglia-Tsang gamma variates, in logs
 * so that small alphas do not underflow). alpha > 0. */
float mix_beta(double alpha, uint64_t seed, uint32_t a, uint32_t b, uint64_t *next);

/* The draws of one batch of S x S images: MixUp when only mixup_alpha > 0,
 * CutMix when only cutmix_alpha > 0, one of the two with probability 0.5
 * when both are; kind MIX_NONE when neither. The CutMix box as v2.CutMix:
 * centre (r_x, r_y) uniform over the pixels, half sides int(r * S) with
 * r = 0.5 * sqrt(1 - lam), clamped to the image. */
void mix_draw(Mix *m, double mixup_alpha, double cutmix_alpha, int S, uint64_t seed, uint32_t a, uint32_t b);

/* The CutMix box and lam for a drawn lam and centre (mix_draw's second
 * half; also what the tests feed torchvision). */
void mix_cutmix_box(Mix *m, float lam, int r_x, int r_y, int S);

/* Mixes n samples of S x S in fmt (a float format) in place, as m says.
 * scratch: room for one sample (input_sample_bytes). */
void mix_apply(void *data, int n, int S, InputFormat fmt, const Mix *m, void *scratch);

/* The second labels: second[i] = labels[(i - 1) mod n] (the rolled batch's). */
void mix_second_labels(int32_t *second, const int32_t *labels, int n);

/* The label train.py scores training top-1 against under mixing: the
 * mixed target's argmax (utils.accuracy: target.max(dim=1)); on a tie
 * (lam = 0.5) the smaller class index, as torch.max returns the first. */
int32_t mix_top_label(int32_t label, int32_t second, float lam);

#endif
