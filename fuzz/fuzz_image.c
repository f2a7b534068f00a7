/*
 * fuzz_image.c — libFuzzer target: image open and decode (JPEG and PNG,
 * sniffed from the bytes) followed by the transforms of training and eval.
 *
 * Input: 8 parameter bytes, then the image file. p[0] picks the path:
 *   0  eval transform (resize + centre crop), as the eval loader and predict
 *   1  train transform with a RandomResizedCrop drawn from p[4..7] (the loader)
 *   2  train transform with a crop box, flip and jitter taken from p[2..7]
 *      (any box, also invalid ones, to exercise the checks)
 *   3  image_open + image_decode of a rectangle at scale (p[1] % 8 + 1)/8
 *   4  image_open alone under a 10^12-pixel limit (headers of huge images:
 *      the per-side caps), then a small-rectangle decode when the image is small
 * p[1] picks the output size S and the exact (full-scale) flag. Pixel limit
 * 1 M for paths 0-3, so any input finishes quickly. Workers are kept across
 * inputs, as the loader's threads keep theirs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/sample.h"
#include "data/transforms.h"
#include "fuzz_file.h"

#define FUZZ_MAX_PIXELS (1LL << 20)
static const int SIZES[4] = { 1, 17, 64, 227 };
static SampleWorker *workers[4][2];
static ImageDecoder *decoder;
static uint8_t out[227 * 227 * 3 * sizeof(float)];

static SampleWorker *worker(int s, int exact) {
    if (!workers[s][exact]) {
        SampleConfig cfg = {
            .image_size = SIZES[s], .scale_min = 0.08f, .color_jitter = 1, .exact = exact, .max_pixels = FUZZ_MAX_PIXELS
        };
        workers[s][exact] = sample_worker_create(&cfg);
    }
    return workers[s][exact];
}

static int u16(const uint8_t *p) { return p[0] | p[1] << 8; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8) return 0;
    const uint8_t *p = data;
    const char *path = fuzz_write_file("image", data + 8, size - 8);
    SampleWorker *w = worker(p[1] % 4, (p[1] >> 2) & 1);
    InputFormat fmt = (InputFormat)((p[1] >> 3) % 3);
    Error err;
    if (!decoder) decoder = image_decoder_create();
    switch (p[0] % 5) {
    case 0: sample_eval(w, path, out, fmt, &err); break;
    case 1: {
        AugmentKey key = { u16(p + 4), p[2], p[3], p[6] };
        sample_train(w, path, &key, NULL, out, fmt, &err);
        break;
    }
    case 2: {
        Augment a = { .crop = { (int16_t)u16(p + 2) / 8, (int16_t)u16(p + 4) / 8, p[6] * 4 - 64,
                                (p[7] & 0x7f) * 4 - 64 },
                      .flip = p[7] >> 7,
                      .jitter = p[6] & 1,
                      .factor = { 0.6f + p[2] / 320.0f, 0.6f + p[3] / 320.0f, 1.4f - p[4] / 320.0f },
                      .order = { 2, 0, 1 },
                      .erase = p[5] & 1,
                      .erase_box = { p[3] - 8, p[4] - 8, p[5] / 2, p[2] / 2 } };
        sample_train(w, path, NULL, &a, out, fmt, &err);
        break;
    }
    case 3:
    case 4: {
        int big = p[0] % 5 == 4, width, height;
        if (image_open(decoder, path, big ? 1000000000000LL : FUZZ_MAX_PIXELS, &width, &height, &err) != 0) break;
        if ((int64_t)width * height > FUZZ_MAX_PIXELS) break; /* the next open closes it */
        int num = big ? 8 : p[1] % 8 + 1, sw, sh;
        if (!image_can_scale(decoder)) num = 8;
        image_scaled_size(decoder, num, &sw, &sh);
        int x0 = p[2] % (sw > 0 ? sw : 1), y0 = p[3] % (sh > 0 ? sh : 1);
        int x1 = x0 + 1 + p[4] * 4 % (sw - x0 > 0 ? sw - x0 : 1), y1 = y0 + 1 + p[5] * 4 % (sh - y0 > 0 ? sh - y0 : 1);
        Pixels px = { 0 };
        if (image_decode(decoder, num, x0, y0, x1, y1, &px, &err) == 0 && px.h > 0)
            memcpy(out, px.px + (size_t)(px.h - 1) * px.stride, 4); /* the last row is there */
        pixels_free(&px);
        break;
    }
    }
    return 0;
}
