/*
 * sample.c — the per-sample pipeline shared by the loader and `predict`
 * (see sample.h).
 *
 * Geometry: PIL crops the box (j, i, w, h) and resizes it to S x S. After
 * decoding at scale f = n/8 the same box is [j*f, (j+w)*f) in the scaled
 * image — fractional, which Pillow's coefficient formula takes as is — and
 * the taps stay inside the scaled box's pixels. At f = 1 this is Pillow's
 * computation exactly.
 */
#include "data/sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/pixels.h"
#include "data/resize.h"

struct SampleWorker {
    SampleConfig cfg;
    ImageDecoder *dec;
    Pixels pix;
    ResampleAxis ax, ay;
    uint8_t *tmp; /* resampler scratch */
    size_t tmp_cap;
    uint8_t *rgb;        /* [3][S][S] planes before the output conversion */
    uint8_t *aa_scratch; /* automatic augmentation's copy of rgb */
    int width, height;
    int has_warning;
    char warning[sizeof(Error) + 64];
};

/* Scratch bigger than this (a huge PNG) is given back after the sample. */
#define KEEP_SCRATCH (32u << 20)

/* DCT scales used, as numerators of n/8. libjpeg-turbo has SIMD inverse DCTs
 * for 1/8, 1/4, 1/2 and 1; the other sizes are plain C. */
static const int SCALES[] = { 1, 2, 4, 8 };

SampleWorker *sample_worker_create(const SampleConfig *cfg) {
    CHECK(cfg->image_size > 0, "image size %d", cfg->image_size);
    SampleWorker *w = xcalloc(1, sizeof *w);
    w->cfg = *cfg;
    w->dec = image_decoder_create();
    w->rgb = xaligned_alloc((size_t)cfg->image_size * (size_t)cfg->image_size * 3);
    w->aa_scratch = xmalloc(autoaug_scratch_bytes(cfg->image_size, cfg->image_size));
    return w;
}

void sample_worker_destroy(SampleWorker *w) {
    if (!w) return;
    image_decoder_destroy(w->dec);
    pixels_free(&w->pix);
    resample_axis_free(&w->ax);
    resample_axis_free(&w->ay);
    free(w->tmp);
    free(w->rgb);
    free(w->aa_scratch);
    free(w);
}

const char *sample_worker_warning(const SampleWorker *w) { return w->has_warning ? w->warning : NULL; }

/* The smallest scale n/8 at which the crop still covers outw x outh pixels. */
static int choose_scale(const SampleWorker *w, int cw, int ch, int outw, int outh) {
    if (w->cfg.exact || !image_can_scale(w->dec)) return 8;
    for (size_t s = 0; s < sizeof SCALES / sizeof SCALES[0]; s++)
        if ((int64_t)cw * SCALES[s] >= 8LL * outw && (int64_t)ch * SCALES[s] >= 8LL * outh) return SCALES[s];
    return 8;
}

/* Crop (cx, cy, cw, ch) of the open image, resized to outw x outh, of which
 * the S x S window at (winx, winy) is written to dst (mirrored if asked). */
static int produce(SampleWorker *w, const char *path, int cx, int cy, int cw, int ch, int outw, int outh, int winx,
                   int winy, int mirror, uint8_t *dst, Error *err) {
    const int S = w->cfg.image_size;
    int num = choose_scale(w, cw, ch, outw, outh);
    int sw, sh;
    image_scaled_size(w->dec, num, &sw, &sh);
    double f = num / 8.0;
    double in0x = cx * f, in1x = (cx + cw) * f, in0y = cy * f, in1y = (cy + ch) * f;
    int lox = (int)floor(in0x), hix = (int)ceil(in1x), loy = (int)floor(in0y), hiy = (int)ceil(in1y);
    if (hix > sw) hix = sw;
    if (hiy > sh) hiy = sh;
    if (resample_axis_init(&w->ax, in0x, in1x, lox, hix, outw, winx, S, mirror) != 0 ||
        resample_axis_init(&w->ay, in0y, in1y, loy, hiy, outh, winy, S, 0) != 0) {
        image_close(w->dec);
        return error_set(err, "%s: cannot resample the %dx%d crop at (%d, %d) of the %dx%d image to %dx%d pixels", path,
                         cw, ch, cx, cy, w->width, w->height, outw, outh);
    }
    if (image_decode(w->dec, num, w->ax.first, w->ay.first, w->ax.last, w->ay.last, &w->pix, err) != 0) return -1;
    const char *warn = image_warning(w->dec);
    if (warn) {
        snprintf(w->warning, sizeof w->warning, "%s: %s", path, warn);
        w->has_warning = 1;
    }
    if (!(w->pix.x0 <= w->ax.first && w->pix.x0 + w->pix.w >= w->ax.last && w->pix.y0 <= w->ay.first &&
          w->pix.y0 + w->pix.h >= w->ay.last))
        return error_set(err,
                         "%s: the decoder returned rows %d..%d, columns %d..%d of %d..%d, %d..%d (a damaged file?)",
                         path, w->pix.y0, w->pix.y0 + w->pix.h, w->pix.x0, w->pix.x0 + w->pix.w, w->ay.first,
                         w->ay.last, w->ax.first, w->ax.last);
    size_t need = resample_tmp_bytes(&w->ax, &w->ay);
    if (need > w->tmp_cap) {
        free(w->tmp);
        w->tmp = malloc(need);
        w->tmp_cap = w->tmp ? need : 0;
        if (!w->tmp) return error_set(err, "%s: not enough memory (%zu bytes) to resample the image", path, need);
    }
    resample_rgbx(dst, w->pix.px, w->pix.stride, w->pix.x0, w->pix.y0, &w->ax, &w->ay, w->tmp);
    if (w->pix.cap > KEEP_SCRATCH) pixels_free(&w->pix);
    if (w->tmp_cap > KEEP_SCRATCH) {
        free(w->tmp);
        w->tmp = NULL;
        w->tmp_cap = 0;
    }
    return 0;
}

static int open_image(SampleWorker *w, const ImageSource *src, Error *err) {
    w->has_warning = 0;
    w->width = w->height = 0;
    return image_open_source(w->dec, src, w->cfg.max_pixels, &w->width, &w->height, err);
}

int sample_train(SampleWorker *w, const char *path, const AugmentKey *key, const Augment *fixed, void *out,
                 InputFormat fmt, Error *err) {
    ImageSource src = { .name = path };
    return sample_train_src(w, &src, key, fixed, out, fmt, err);
}

int sample_eval(SampleWorker *w, const char *path, void *out, InputFormat fmt, Error *err) {
    ImageSource src = { .name = path };
    return sample_eval_src(w, &src, out, fmt, err);
}

int sample_train_src(SampleWorker *w, const ImageSource *src, const AugmentKey *key, const Augment *fixed, void *out,
                     InputFormat fmt, Error *err) {
    const char *path = src->name;
    if (open_image(w, src, err) != 0) return -1;
    Augment drawn;
    const Augment *a = fixed;
    if (!a) {
        augment_draw(&drawn, w->width, w->height, w->cfg.scale_min, w->cfg.color_jitter, (FlipMode)w->cfg.flip, key);
        autoaug_draw(&drawn.aa, (AutoAugmentPolicy)w->cfg.auto_augment, w->cfg.ra_magnitude, w->cfg.aa_bilinear,
                     w->cfg.image_size, key->seed, key->epoch, key->index, key->attempt);
        a = &drawn;
    }
    const CropBox *c = &a->crop;
    if (c->i < 0 || c->j < 0 || c->h <= 0 || c->w <= 0 || c->h > w->height - c->i || c->w > w->width - c->j) {
        image_close(w->dec);
        return error_set(err, "%s: crop box (top %d, left %d, %dx%d) is outside the %dx%d image", path, c->i, c->j,
                         c->w, c->h, w->width, w->height);
    }
    const int S = w->cfg.image_size;
    if (produce(w, path, c->j, c->i, c->w, c->h, S, S, 0, 0, a->flip, w->rgb, err) != 0) return -1;
    color_jitter(w->rgb, (size_t)S * (size_t)S, a);
    if (a->aa.n < 0 || a->aa.n > AA_MAX_OPS)
        return error_set(err, "%s: %d automatic augmentation ops (at most %d)", path, a->aa.n, AA_MAX_OPS);
    autoaug_apply(w->rgb, w->aa_scratch, S, S, &a->aa);
    write_sample(out, w->rgb, S, fmt);
    CropBox erase;
    if (fixed && fixed->erase) {
        const CropBox *e = &fixed->erase_box;
        if (e->i < 0 || e->j < 0 || e->h < 0 || e->w < 0 || e->h > S - e->i || e->w > S - e->j)
            return error_set(err, "%s: erase box (top %d, left %d, %dx%d) is outside the %dx%d sample", path, e->i,
                             e->j, e->w, e->h, S, S);
        erase_sample(out, S, fmt, e);
    } else if (!fixed && erase_draw(&erase, S, w->cfg.erase_p, key)) {
        erase_sample(out, S, fmt, &erase);
    }
    return 0;
}

int sample_eval_src(SampleWorker *w, const ImageSource *src, void *out, InputFormat fmt, Error *err) {
    const char *path = src->name;
    if (open_image(w, src, err) != 0) return -1;
    const int S = w->cfg.image_size;
    int rw, rh;
    eval_resized_dims(w->width, w->height, S, w->cfg.resize_size, &rw, &rh);
    if (rw < S || rh < S) {
        image_close(w->dec);
        return error_set(err, "%s: the center crop %d is larger than the %dx%d resized image", path, S, rw, rh);
    }
    int offx = (int)nearbyint((rw - S) / 2.0),
        offy = (int)nearbyint((rh - S) / 2.0); /* CenterCrop: int(round(d / 2)) */
    if (produce(w, path, 0, 0, w->width, w->height, rw, rh, offx, offy, 0, w->rgb, err) != 0) return -1;
    write_sample(out, w->rgb, S, fmt);
    return 0;
}
