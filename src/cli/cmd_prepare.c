/*
 * cmd_prepare.c — `alexnet prepare fashion-mnist|synthetic`: makes image
 * folders (DIR/<split>/<class>/<image>.jpg) the loader reads. --out must be
 * new or empty: writing into an old dataset would mix its images with the
 * new ones. `alexnet prepare pack` turns such a folder into one pack file
 * (data/pack.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include <sys/stat.h>

#include "cli/args.h"
#include "cli/build_info.h"
#include "cli/commands.h"
#include "data/image.h"
#include "data/pack_write.h"
#include "data/prepare.h"

/* 0 when `out` does not exist or is an empty folder; else -1 with err. */
static int check_out_empty(const char *out, Error *err) {
    DIR *d = opendir(out);
    if (!d) return 0; /* missing (created later), or not a folder (mkdir_p says so) */
    long entries = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) entries++;
    closedir(d);
    if (entries)
        return error_set(err,
                         "--out %s is not empty (%ld entries); writing into it would mix old and new images: "
                         "remove it or choose a new folder",
                         out, entries);
    return 0;
}

static int run_fmnist(int argc, char **argv) {
    const char *cmd = "prepare fashion-mnist";
    set_log_command(cmd);
    FmnistConfig c = { .source = FMNIST_DEFAULT_SOURCE };
    int64_t limit = 0;
    ArgSpec specs[] = {
        { "out", ARG_STR, &c.out, "output folder: OUT/train/<class>/*.jpg and OUT/val/<class>/*.jpg", 1, 0, NULL },
        { "source", ARG_STR, &c.source, "folder of the IDX files (Debian's dataset-fashion-mnist)", 1, 0, NULL },
        { "limit", ARG_I64, &limit, "N images per split, the first N/10 of each class (0 = all; else >= 10)", 0, 1e9,
          NULL },
    };
    int parsed = cli_parse(cmd, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                           "--out DIR [--source DIR] [--limit N]",
                           "Converts Fashion-MNIST (gzipped IDX: train-images-idx3-ubyte.gz, ...) to 28x28 grayscale\n"
                           "JPEGs (quality 100). Class folders are 0-T-shirt_top ... 9-Ankle_boot so that sorted\n"
                           "order is label order. DIR must be new or empty.");
    if (parsed != CLI_GO_ON) return parsed;
    Error err = { { 0 } };
    if (!c.out) return cli_usage_error(cmd, "--out is required");
    if (limit > 0 && limit < 10) {
        snprintf(err.msg, sizeof err.msg,
                 "--limit %lld leaves some of the 10 classes without images; use 10 or more (0: all)",
                 (long long)limit);
        return cli_usage_error(cmd, err.msg);
    }
    if (check_out_empty(c.out, &err) != 0) return cli_usage_error(cmd, err.msg);
    c.limit = limit;
    int rc = prepare_fashion_mnist(&c, &err);
    if (rc == -1) return cli_usage_error(cmd, err.msg);
    if (rc != 0) {
        errorf("%s", err.msg);
        return 1;
    }
    return 0;
}

static int run_synthetic(int argc, char **argv) {
    const char *cmd = "prepare synthetic";
    set_log_command(cmd);
    SyntheticConfig c = { .classes = 10, .per_class = 60, .quality = 90, .seed = 1 };
    const char *size = "500x375";
    int64_t seed = 1;
    ArgSpec specs[] = {
        { "out", ARG_STR, &c.out, "output folder: OUT/class_NNN/img_NNNNN.jpg", 1, 0, NULL },
        { "num_classes", ARG_INT, &c.classes, "number of classes", 1, 1000, NULL },
        { "classes", ARG_INT, &c.classes, NULL, 1, 1000, NULL }, /* the old name, hidden */
        { "per_class", ARG_INT, &c.per_class, "images per class", 1, 1e7, NULL },
        { "size", ARG_STR, &size, "image size WxH", 1, 0, NULL },
        { "quality", ARG_INT, &c.quality, "JPEG quality", 1, 100, NULL },
        { "seed", ARG_I64, &seed, "random seed", 0, 9.2e18, NULL },
    };
    int parsed =
        cli_parse(cmd, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                  "--out DIR [--num_classes C] [--per_class N] [--size WxH] [--seed S]",
                  "Writes photo-like JPEGs (gradients, texture, shapes, noise; shape and hue depend on\n"
                  "the class) for tests and benchmarks. Deterministic in the flags. DIR must be new or empty.");
    if (parsed != CLI_GO_ON) return parsed;
    Error err = { { 0 } };
    if (!c.out) return cli_usage_error(cmd, "--out is required");
    char tail;
    if (strspn(size, "0123456789x") != strlen(size) || !(size[0] >= '0' && size[0] <= '9') ||
        sscanf(size, "%dx%d%c", &c.width, &c.height, &tail) != 2) { /* digits 'x' digits, nothing else */
        snprintf(err.msg, sizeof err.msg, "--size expects WxH, e.g. 500x375 (got '%s')", size);
        return cli_usage_error(cmd, err.msg);
    }
    if (check_out_empty(c.out, &err) != 0) return cli_usage_error(cmd, err.msg);
    c.seed = (uint64_t)seed;
    double t0 = now_seconds();
    int rc = prepare_synthetic(&c, &err);
    if (rc == -1) return cli_usage_error(cmd, err.msg);
    if (rc != 0) {
        errorf("%s", err.msg);
        return 1;
    }
    printf("prepare: %d images of %dx%d in %d classes -> %s (%.1f s)\n", c.classes * c.per_class, c.width, c.height,
           c.classes, c.out, now_seconds() - t0);
    return 0;
}

static int run_pack(int argc, char **argv) {
    const char *cmd = "prepare pack";
    set_log_command(cmd);
    PackConfig c = { .short_side = PACK_DEFAULT_SHORT_SIDE,
                     .quality = 90,
                     .max_image_pixels = IMAGE_DEFAULT_MAX_PIXELS };
    int workers = 0, max_side = 0, short_side = -1;
    ArgSpec specs[] = {
        { "data_dir", ARG_STR, &c.data_dir, "image folder (DIR/<class>/<image>)", 1, 0, NULL },
        { "out", ARG_STR, &c.out, "the pack file to write (must not exist)", 1, 0, NULL },
        { "short_side", ARG_INT, &short_side, "downscale so the shorter side is at most N (default 256; 0 = no bound)",
          0, 65535, NULL },
        { "max_side", ARG_INT, &max_side, "downscale so the longer side is at most N (0 = no bound)", 0, 65535, NULL },
        { "quality", ARG_INT, &c.quality, "JPEG quality of re-encoded images", 1, 100, NULL },
        { "raw", ARG_FLAG, &c.raw, "store raw RGB pixels (no decoding when reading; ~10x the disk)", 1, 0, NULL },
        { "workers", ARG_INT, &workers, "converting threads (0: one per core)", 0, 1024, NULL },
        { "max_image_pixels", ARG_I64, &c.max_image_pixels, "reject images declaring more pixels", 1, 1e12, NULL },
        { "quiet", ARG_FLAG, &c.quiet, "no per-file warnings or progress", 1, 0, NULL },
    };
    int parsed = cli_parse(cmd, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                           "--data_dir DIR --out FILE [--short_side N | --max_side N] [--quality Q] [--raw]",
                           "Packs an image folder into one file read with mmap wherever a folder is accepted\n"
                           "(train --data_dir/--val_dir, eval, bench-data). Each image is downscaled Pillow-exactly\n"
                           "(bilinear, antialiased; never upscaled) to the bound and re-encoded as JPEG, or stored\n"
                           "raw; an image already within the bound is stored as it is. Bad files are named and left\n"
                           "out. See docs/DATA.md.");
    if (parsed != CLI_GO_ON) return parsed;
    Error err = { { 0 } };
    if (!c.data_dir) return cli_usage_error(cmd, "--data_dir is required");
    if (!c.out) return cli_usage_error(cmd, "--out is required");
    struct stat st;
    if (stat(c.out, &st) == 0) {
        snprintf(err.msg, sizeof err.msg, "--out %s exists; remove it or choose another name", c.out);
        return cli_usage_error(cmd, err.msg);
    }
    if (short_side < 0) short_side = max_side > 0 ? 0 : PACK_DEFAULT_SHORT_SIDE; /* --max_side alone replaces it */
    c.short_side = short_side;
    c.max_side = max_side;
    c.workers = workers > 0 ? workers : cpu_count();
    char made_by[96];
    snprintf(made_by, sizeof made_by, "alexnet %.40s", alexnet_git_commit);
    c.made_by = made_by;
    PackStats ps;
    int rc = pack_write(&c, &ps, &err);
    if (rc == -1) return cli_usage_error(cmd, err.msg);
    if (rc != 0) {
        errorf("%s", err.msg);
        return 1;
    }
    printf("prepare pack: %lld images in %d classes -> %s (%.1f MB, %.1f KB an image; %lld bad files left out; "
           "%.1f s)\n",
           (long long)ps.images, ps.classes, c.out, (double)ps.bytes / 1e6, (double)ps.bytes / 1e3 / (double)ps.images,
           (long long)ps.skipped, ps.seconds);
    return 0;
}

int cmd_prepare(int argc, char **argv) {
    const char *what = argc > 2 ? argv[2] : "";
    if (strcmp(what, "fashion-mnist") == 0 || strcmp(what, "fashion_mnist") == 0) return run_fmnist(argc, argv);
    if (strcmp(what, "synthetic") == 0) return run_synthetic(argc, argv);
    if (strcmp(what, "pack") == 0) return run_pack(argc, argv);
    if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
        printf("usage: alexnet prepare fashion-mnist --out DIR [--source DIR] [--limit N]\n"
               "       alexnet prepare synthetic --out DIR [--num_classes C] [--per_class N] [--size WxH] [--seed S]\n"
               "       alexnet prepare pack --data_dir DIR --out FILE [--short_side N | --max_side N] [--quality Q] "
               "[--raw]\n"
               "(alexnet prepare <what> --help for the options)\n");
        return 0;
    }
    return cli_usage_error("prepare", *what ? "unknown dataset (expected fashion-mnist, synthetic or pack)"
                                            : "what to prepare? fashion-mnist, synthetic or pack");
}
