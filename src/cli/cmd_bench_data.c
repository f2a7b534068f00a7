/*
 * cmd_bench_data.c — `alexnet bench-data`: images per second through the
 * real training loader (decode + RandomResizedCrop + flip + ColorJitter +
 * normalise), nothing else. Like the torchvision peer measurement, the first
 * batch (thread start, cold caches) is not timed.
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "data/loader.h"

int cmd_bench_data(int argc, char **argv) {
    const char *cmd = "bench-data";
    const char *data_dir = NULL, *format = "nchw";
    int workers = 2, image_size = 224, batch = 64, batches = 0, json = 0, color_jitter = 1, exact = 0;
    int64_t seed = 1, max_pixels = 100000000;
    double scale_min = 0.08;
    ArgSpec specs[] = {
        {"data_dir", ARG_STR, &data_dir, "image folder (DIR/<class>/<image>) or pack file", 1, 0, NULL},
        {"workers", ARG_INT, &workers, "image decoding threads (0: one per core)", 0, 1024, NULL},
        {"image_size", ARG_INT, &image_size, "output size S", 8, 4096, NULL},
        {"per_batch_size", ARG_INT, &batch, "batch size", 1, 1 << 16, NULL},
        {"batches", ARG_INT, &batches, "timed batches (0 = the rest of one epoch)", 0, 1 << 30, NULL},
        {"color_jitter", ARG_INT, &color_jitter, "ColorJitter 0.4 on (1) or off (0)", 0, 1, NULL},
        {"min_crop_scale", ARG_FLOAT, &scale_min, "RandomResizedCrop smallest area fraction", 0.001, 1, NULL},
        {"scale_min", ARG_FLOAT, &scale_min, NULL, 0.001, 1, NULL}, /* the old name, hidden */
        {"format", ARG_STR, &format, "output: nchw, nhwc (float) or u8 (bytes, NHWC)", 1, 0, NULL},
        {"seed", ARG_I64, &seed, "random seed", 0, 9.2e18, NULL},
        {"max_image_pixels", ARG_I64, &max_pixels, "reject images declaring more pixels", 1, 1e12, NULL},
        {"exact", ARG_FLAG, &exact, "decode JPEGs at full size (no DCT scaling)", 1, 0, NULL},
        {"json", ARG_FLAG, &json, "print one JSON object", 1, 0, NULL},
    };
    int n = sizeof specs / sizeof specs[0], help;
    Error err = {{0}};
    if (args_parse(specs, n, argc, argv, 2, NULL, 0, NULL, &help, &err) != 0) return cli_usage_error(cmd, err.msg);
    if (help) {
        args_print_help(cmd, "--data_dir DIR [--workers N] [--image_size S] [--json]",
                        "Measures decoded and augmented images per second through the training loader.", specs, n);
        return 0;
    }
    if (!data_dir) return cli_usage_error(cmd, "--data_dir is required");
    if (workers == 0) workers = cpu_count();
    InputFormat fmt;
    if (strcmp(format, "nchw") == 0) fmt = INPUT_F32_NCHW;
    else if (strcmp(format, "nhwc") == 0) fmt = INPUT_F32_NHWC;
    else if (strcmp(format, "u8") == 0) fmt = INPUT_U8_NHWC;
    else return cli_usage_error(cmd, "--format must be nchw, nhwc or u8");

    Dataset ds;
    if (dataset_scan(&ds, data_dir, &err) != 0) return cli_usage_error(cmd, err.msg);
    LoaderConfig lc = {.mode = LOADER_TRAIN, .batch = batch, .image_size = image_size, .workers = workers,
                       .seed = (uint64_t)seed, .color_jitter = color_jitter, .scale_min = (float)scale_min,
                       .rank = 0, .world = 1, .format = fmt, .max_image_pixels = max_pixels};
    LoaderOptions lo = {.exact = exact};
    Loader *l = loader_create_opts(&ds, &lc, &lo, &err);
    if (!l) {
        dataset_free(&ds);
        return cli_usage_error(cmd, err.msg);
    }
    int64_t per_epoch = loader_batches_per_epoch(l);
    int64_t want = batches > 0 ? batches : per_epoch - 1;
    if (want < 1) want = 1;
    int epoch = 0, rc = 0;
    int64_t timed = -1, images = 0; /* batch -1 is the untimed warm-up */
    double t0 = 0;
    loader_start_epoch(l, epoch, 0);
    while (timed < want) {
        Batch b;
        int r = loader_next(l, &b, &err);
        if (r < 0) {
            fprintf(stderr, "alexnet %s: error: %s\n", cmd, err.msg);
            rc = 1;
            break;
        }
        if (r == 0) {
            loader_start_epoch(l, ++epoch, 0);
            continue;
        }
        if (timed >= 0) images += b.n;
        loader_release(l, &b);
        if (++timed == 0) t0 = now_seconds();
    }
    double dt = now_seconds() - t0;
    if (rc == 0) {
        double img_s = dt > 0 ? (double)images / dt : 0;
        if (json) {
            printf("{\"img_s\": %.1f, \"images\": %lld, \"seconds\": %.3f, \"workers\": %d, \"image_size\": %d, "
                   "\"batch\": %d, \"color_jitter\": %d, \"format\": \"%s\", \"bad_files\": %lld}\n",
                   img_s, (long long)images, dt, workers, image_size, batch, color_jitter, format,
                   (long long)loader_bad_files(l));
        } else {
            printf("bench-data: %lld images in %.2f s: %.1f img/s (%d workers, %d px, batch %d, jitter %d, %s)\n",
                   (long long)images, dt, img_s, workers, image_size, batch, color_jitter, format);
        }
    }
    loader_destroy(l);
    dataset_free(&ds);
    return rc;
}
