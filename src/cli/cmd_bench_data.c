/*
 * cmd_bench_data.c — `alexnet bench-data`: images per second through the
 * real training loader (decode + RandomResizedCrop + flip + ColorJitter +
 * normalise), nothing else. Like the torchvision peer measurement, the first
 * batch (thread start, cold caches) is not timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/json.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/autoaugment.h"
#include "data/loader.h"

#define CMD "bench-data"

typedef struct {
    const char *data_dir, *format, *auto_augment;
    int workers, image_size, batch, batches, json, color_jitter, exact, ra_magnitude, policy;
    int64_t seed, max_pixels;
    double scale_min;
    InputFormat fmt;
} BenchDataFlags;

static int parse_flags(BenchDataFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        { "data_dir", ARG_STR, &f->data_dir, "image folder (DIR/<class>/<image>) or pack file", 1, 0, NULL },
        { "workers", ARG_INT, &f->workers, "image decoding threads (0: one per core)", 0, 1024, NULL },
        { "image_size", ARG_INT, &f->image_size, "output size S", LOADER_MIN_IMAGE, LOADER_MAX_IMAGE, NULL },
        { "per_batch_size", ARG_INT, &f->batch, "batch size", 1, 1 << 16, NULL },
        { "batches", ARG_INT, &f->batches, "timed batches (0 = the rest of one epoch)", 0, 1 << 30, NULL },
        { "color_jitter", ARG_INT, &f->color_jitter, "ColorJitter 0.4 on (1) or off (0)", 0, 1, NULL },
        { "min_crop_scale", ARG_FLOAT, &f->scale_min, "RandomResizedCrop smallest area fraction", 0.001, 1, NULL },
        { "scale_min", ARG_FLOAT, &f->scale_min, NULL, 0.001, 1, NULL }, /* the old name, hidden */
        { "format", ARG_STR, &f->format, "output: nchw, nhwc (float) or u8 (bytes, NHWC)", 1, 0, NULL },
        { "seed", ARG_I64, &f->seed, "random seed", 0, 9.2e18, NULL },
        { "max_image_pixels", ARG_I64, &f->max_pixels, "reject images declaring more pixels", 1, 1e12, NULL },
        { "auto_augment", ARG_STR, &f->auto_augment, "none | ta_wide | ra | imagenet | cifar10 | svhn (train's)", 1, 0,
          NULL },
        { "ra_magnitude", ARG_INT, &f->ra_magnitude, "RandAugment's magnitude bin", 0, AA_RA_BINS - 1, NULL },
        { "exact", ARG_FLAG, &f->exact, "decode JPEGs at full size (no DCT scaling)", 1, 0, NULL },
        { "json", ARG_FLAG, &f->json, "print one JSON object", 1, 0, NULL },
    };
    int st = cli_parse(CMD, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                       "--data_dir DIR [--workers N] [--image_size S] [--json]",
                       "Measures decoded and augmented images per second through the training loader.");
    if (st != CLI_GO_ON) return st;
    if (!f->data_dir) return cli_usage_error(CMD, "--data_dir is required");
    if (f->workers == 0) f->workers = cpu_count();
    if (strcmp(f->format, "nchw") == 0) f->fmt = INPUT_F32_NCHW;
    else if (strcmp(f->format, "nhwc") == 0) f->fmt = INPUT_F32_NHWC;
    else if (strcmp(f->format, "u8") == 0) f->fmt = INPUT_U8_NHWC;
    else return cli_usage_error(CMD, "--format must be nchw, nhwc or u8");
    if ((f->policy = autoaug_policy_parse(f->auto_augment)) < 0)
        return cli_usage_error(CMD, "--auto_augment must be none, ta_wide, ra, imagenet, cifar10 or svhn");
    return CLI_GO_ON;
}

/* Batches through the loader, the first one untimed; across epochs when
 * --batches asks for more than one holds. 0, or -1 with err. */
static int time_loader(Loader *l, int64_t want, int64_t *images, double *seconds, Error *err) {
    int epoch = 0;
    int64_t timed = -1; /* batch -1 is the untimed warm-up */
    double t0 = 0;
    *images = 0;
    loader_start_epoch(l, epoch, 0);
    while (timed < want) {
        Batch b;
        int r = loader_next(l, &b, err);
        if (r < 0) return -1;
        if (r == 0) {
            loader_start_epoch(l, ++epoch, 0);
            continue;
        }
        if (timed >= 0) *images += b.n;
        loader_release(l, &b);
        if (++timed == 0) t0 = now_seconds();
    }
    *seconds = now_seconds() - t0;
    return 0;
}

int cmd_bench_data(int argc, char **argv) {
    BenchDataFlags f = { .format = "nchw",
                         .auto_augment = "none",
                         .ra_magnitude = AA_RA_MAGNITUDE,
                         .workers = 2,
                         .image_size = 224,
                         .batch = 64,
                         .color_jitter = 1,
                         .seed = 1,
                         .max_pixels = IMAGE_DEFAULT_MAX_PIXELS,
                         .scale_min = 0.08,
                         .fmt = INPUT_F32_NCHW };
    int status = parse_flags(&f, argc, argv);
    if (status != CLI_GO_ON) return status;
    Dataset ds;
    Error err = { { 0 } };
    if (dataset_scan(&ds, f.data_dir, &err) != 0) return cli_usage_error(CMD, err.msg);
    LoaderConfig cfg = { .mode = LOADER_TRAIN,
                         .batch = f.batch,
                         .image_size = f.image_size,
                         .workers = f.workers,
                         .seed = (uint64_t)f.seed,
                         .color_jitter = f.color_jitter,
                         .scale_min = (float)f.scale_min,
                         .rank = 0,
                         .world = 1,
                         .format = f.fmt,
                         .max_image_pixels = f.max_pixels,
                         .auto_augment = f.policy,
                         .ra_magnitude = f.ra_magnitude,
                         .aa_bilinear = 1 };
    LoaderOptions options = { .exact = f.exact };
    Loader *l = loader_create_opts(&ds, &cfg, &options, &err);
    if (!l) {
        dataset_free(&ds);
        return cli_usage_error(CMD, err.msg);
    }
    int64_t want = f.batches > 0 ? f.batches : loader_batches_per_epoch(l) - 1, images;
    double dt;
    if (time_loader(l, want < 1 ? 1 : want, &images, &dt, &err) != 0) {
        errorf("%s", err.msg);
        status = 1;
    } else if (f.json) {
        cJSON *o = cJSON_CreateObject();
        json_add_fixed(o, "img_s", dt > 0 ? (double)images / dt : 0, 1);
        json_add_num(o, "images", (double)images);
        json_add_fixed(o, "seconds", dt, 3);
        json_add_num(o, "workers", f.workers);
        json_add_num(o, "image_size", f.image_size);
        json_add_num(o, "batch", f.batch);
        json_add_num(o, "color_jitter", f.color_jitter);
        json_add_str(o, "format", f.format);
        json_add_str(o, "auto_augment", f.auto_augment);
        json_add_num(o, "bad_files", (double)loader_bad_files(l));
        char *text = json_print(o, 0);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
        status = 0;
    } else {
        printf("bench-data: %lld images in %.2f s: %.1f img/s (%d workers, %d px, batch %d, jitter %d, "
               "auto-augment %s, %s)\n",
               (long long)images, dt, dt > 0 ? (double)images / dt : 0, f.workers, f.image_size, f.batch,
               f.color_jitter, f.auto_augment, f.format);
        status = 0;
    }
    loader_destroy(l);
    dataset_free(&ds);
    return status;
}
