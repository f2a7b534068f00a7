/*
 * cmd_train.c — `alexnet train`: the seed's training flags (also spelled with
 * dashes) plus ours, or `--resume RUN_DIR` to continue a run exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "dist/dist.h"
#include "io/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/trainer.h"

/* String flags land here, then are copied into the fixed-size config fields. */
typedef struct {
    const char *data_dir, *val_dir, *backbone, *pretrained, *lr_scheduler, *lr_epochs, *smoothing_form;
    const char *device, *backend, *precision, *out, *resume;
} StrFlags;

static int copy_str(char *dst, size_t size, const char *src, const char *flag, Error *err) {
    if (!src || src == dst) return 0;
    if (strlen(src) >= size) return error_set(err, "--%s is too long (max %zu characters)", flag, size - 1);
    snprintf(dst, size, "%s", src);
    return 0;
}

int cmd_train(int argc, char **argv) {
    TrainConfig c;
    config_defaults(&c);
    StrFlags s = {0};
    s.backbone = c.backbone; s.lr_scheduler = c.lr_scheduler; s.lr_epochs = c.lr_epochs;
    s.smoothing_form = c.smoothing_form; s.device = c.device; s.precision = c.precision;
    int64_t seed = (int64_t)c.seed;
    int max_epoch_seen = 0, workers_seen = 0, max_steps_seen = 0, log_seen = 0, nflags_seen = 0;
    int64_t mpixels = c.max_image_pixels;
    ArgSpec specs[] = {
        {"data_dir", ARG_STR, &s.data_dir, "training images: DIR/<class>/<image>", 1, 0, &nflags_seen},
        {"val_dir", ARG_STR, &s.val_dir, "validation images, evaluated after every epoch", 1, 0, &nflags_seen},
        {"per_batch_size", ARG_INT, &c.per_batch_size, "images per step per process", 1, 65536, &nflags_seen},
        {"lr", ARG_FLOAT, &c.lr, "base learning rate", 0, 1e3, &nflags_seen},
        {"lr_scheduler", ARG_STR, &s.lr_scheduler, "cosine_annealing | step | exponential", 1, 0, &nflags_seen},
        {"T_max", ARG_INT, &c.T_max, "cosine period in epochs (0: --max_epoch)", 0, 1e6, &nflags_seen},
        {"max_epoch", ARG_INT, &c.max_epoch, "epochs to train (with --resume: may extend the run)", 1, 1e6, &max_epoch_seen},
        {"warmup_epochs", ARG_FLOAT, &c.warmup_epochs, "linear warmup from 0, in epochs (fractions allowed)", 0, 1e6, &nflags_seen},
        {"label_smooth", ARG_INT, &c.label_smooth, "1: label smoothing on, 0: off", 0, 1, &nflags_seen},
        {"label_smooth_factor", ARG_FLOAT, &c.label_smooth_factor, "label smoothing epsilon", 0, 1, &nflags_seen},
        {"smoothing_form", ARG_STR, &s.smoothing_form, "seed (eps/(K-1) on wrong classes) | torch (eps/K on all)", 1, 0, &nflags_seen},
        {"weight_decay", ARG_FLOAT, &c.weight_decay, "L2 on weights (not biases)", 0, 1, &nflags_seen},
        {"momentum", ARG_FLOAT, &c.momentum, "SGD momentum", 0, 1, &nflags_seen},
        {"eta_min", ARG_FLOAT, &c.eta_min, "learning-rate floor", 0, 1e3, &nflags_seen},
        {"lr_epochs", ARG_STR, &s.lr_epochs, "step schedule milestones", 1, 0, &nflags_seen},
        {"lr_gamma", ARG_FLOAT, &c.lr_gamma, "step/exponential decay factor", 0, 1e3, &nflags_seen},
        {"backbone", ARG_STR, &s.backbone, "alexnet | alexnet_torchvision | alexnet_2012", 1, 0, &nflags_seen},
        {"dropout", ARG_FLOAT, &c.dropout, "dropout rate (-1: the backbone's: 0.35 alexnet, 0.5 others)", -1, 0.99, &nflags_seen},
        {"pretrained", ARG_STR, &s.pretrained, "start from these weights (.safetensors, ours or torchvision's)", 1, 0, &nflags_seen},
        {"image_size", ARG_INT, &c.image_size, "input size S (>= 63); eval resizes to S*256/224 and crops S", 63, 4096, &nflags_seen},
        {"color_jitter", ARG_INT, &c.color_jitter, "1: ColorJitter 0.4 as the README says, 0: off as the seed's code", 0, 1, &nflags_seen},
        {"min_crop_scale", ARG_FLOAT, &c.min_crop_scale, "RandomResizedCrop smallest area fraction", 0.001, 1, &nflags_seen},
        {"workers", ARG_INT, &c.workers, "image decoding threads (0: one per core)", 0, 1024, &workers_seen},
        {"threads", ARG_INT, &c.threads, "compute threads (0: all cores, shared between local ranks)", 0, 1024, &nflags_seen},
        {"seed", ARG_I64, &seed, "random seed (init, shuffle, augmentation, dropout)", 0, 9.2e18, &nflags_seen},
        {"device", ARG_STR, &s.device, "cpu | gpu", 1, 0, &nflags_seen},
        {"backend", ARG_STR, &s.backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, &nflags_seen},
        {"precision", ARG_STR, &s.precision, "auto | fp32 | bf16 (auto: bf16 on GPU, fp32 on CPU)", 1, 0, &nflags_seen},
        {"is_distributed", ARG_INT, &c.is_distributed, "1: data parallel over MPI ranks, 0: off, -1: auto (mpirun)", -1, 1, &nflags_seen},
        {"out", ARG_STR, &s.out, "run directory (default runs/alexnet-DATE-TIME)", 1, 0, &nflags_seen},
        {"resume", ARG_STR, &s.resume, "continue the run in this directory exactly", 1, 0, NULL},
        {"strict_data", ARG_FLAG, &c.strict_data, "stop at the first unreadable image instead of skipping it", 1, 0, &nflags_seen},
        {"max_image_pixels", ARG_I64, &mpixels, "reject images declaring more pixels (decompression bombs)", 1, 1e12, &nflags_seen},
        {"ckpt_interval", ARG_INT, &c.ckpt_interval, "also keep epoch_N.safetensors every N epochs (0: off)", 0, 1e6, &nflags_seen},
        {"save_every_steps", ARG_I64, &c.save_every_steps, "save resumable state every N steps within epochs (0: epoch ends)", 0, 1e12, &nflags_seen},
        {"log_interval", ARG_INT, &c.log_interval, "steps between metrics records and plain progress lines", 1, 1e6, &log_seen},
        {"max_steps", ARG_I64, &c.max_steps, "stop (resumably) after this many steps in total (0: no limit)", 0, 1e12, &max_steps_seen},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]), help;
    Error err = {{0}};
    if (args_parse(specs, nspecs, argc, argv, 2, NULL, 0, NULL, &help, &err) != 0) return cli_usage_error("train", err.msg);
    if (help) {
        args_print_help("train", "--data_dir DIR [options] | --resume RUN_DIR [--max_epoch N]",
                        "Train AlexNet with the seed's recipe (MindSpore model zoo): SGD momentum 0.9, lr 0.13 with 5 warmup\n"
                        "epochs and cosine annealing over 150 epochs, label smoothing 0.1, weight decay 1e-4, batch 256.",
                        specs, nspecs);
        return 0;
    }
    c.seed = (uint64_t)seed;
    c.max_image_pixels = mpixels;

    TrainPosition pos = {0};
    if (s.resume) {
        if (nflags_seen)
            fprintf(stderr, "alexnet train: note: with --resume the run's saved configuration is used; only --max_epoch, "
                            "--max_steps, --workers and --log_interval may be changed\n");
        char path[4200];
        run_path(path, sizeof path, s.resume, STATE_FILE);
        if (!path_exists(path)) {
            error_set(&err, "%s has no %s: nothing to resume (was it a run directory?)", s.resume, STATE_FILE);
            return cli_usage_error("train", err.msg);
        }
        if (checkpoint_read_state_info(path, &pos, &err) != 0) return cli_usage_error("train", err.msg);
        TrainConfig saved;
        config_defaults(&saved);
        int rc = config_from_json(&saved, pos.config_json, &err);
        if (rc != 0) { free(pos.config_json); return cli_usage_error("train", err.msg); }
        if (max_epoch_seen) saved.max_epoch = c.max_epoch;
        if (workers_seen) saved.workers = c.workers;
        if (log_seen) saved.log_interval = c.log_interval;
        if (max_steps_seen) saved.max_steps = c.max_steps;
        snprintf(saved.out_dir, sizeof saved.out_dir, "%s", s.resume);
        c = saved;
        if (pos.epoch >= c.max_epoch) {
            printf("%s already finished %d of max_epoch %d epochs; pass --max_epoch N to extend it\n", s.resume, pos.epoch, c.max_epoch);
            free(pos.config_json);
            return 0;
        }
    } else {
        if (!s.data_dir) return cli_usage_error("train", "--data_dir is required (a folder of class folders), or --resume RUN_DIR");
        if (copy_str(c.data_dir, sizeof c.data_dir, s.data_dir, "data_dir", &err) || copy_str(c.val_dir, sizeof c.val_dir, s.val_dir, "val_dir", &err) ||
            copy_str(c.backbone, sizeof c.backbone, s.backbone, "backbone", &err) || copy_str(c.pretrained, sizeof c.pretrained, s.pretrained, "pretrained", &err) ||
            copy_str(c.lr_scheduler, sizeof c.lr_scheduler, s.lr_scheduler, "lr_scheduler", &err) || copy_str(c.lr_epochs, sizeof c.lr_epochs, s.lr_epochs, "lr_epochs", &err) ||
            copy_str(c.smoothing_form, sizeof c.smoothing_form, s.smoothing_form, "smoothing_form", &err) || copy_str(c.device, sizeof c.device, s.device, "device", &err) ||
            copy_str(c.backend, sizeof c.backend, s.backend, "backend", &err) || copy_str(c.precision, sizeof c.precision, s.precision, "precision", &err))
            return cli_usage_error("train", err.msg);
        LrSchedule probe = {0};
        if (lr_kind_parse(&probe.kind, c.lr_scheduler, &err) != 0 || lr_milestones_parse(&probe, c.lr_epochs, &err) != 0)
            return cli_usage_error("train", err.msg);
        if (strcmp(c.smoothing_form, "seed") != 0 && strcmp(c.smoothing_form, "torch") != 0)
            return cli_usage_error("train", "--smoothing_form must be seed or torch");
        if (strcmp(c.device, "cpu") != 0 && strcmp(c.device, "gpu") != 0 && strcmp(c.device, "cuda") != 0)
            return cli_usage_error("train", "--device must be cpu or gpu");
        if (strcmp(c.precision, "auto") != 0 && strcmp(c.precision, "fp32") != 0 && strcmp(c.precision, "bf16") != 0)
            return cli_usage_error("train", "--precision must be auto, fp32 or bf16");
        if (s.pretrained && !path_exists(s.pretrained)) {
            error_set(&err, "--pretrained %s: no such file", s.pretrained);
            return cli_usage_error("train", err.msg);
        }
        if (s.out) {
            if (copy_str(c.out_dir, sizeof c.out_dir, s.out, "out", &err)) return cli_usage_error("train", err.msg);
        } else {
            time_t t = time(NULL);
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(c.out_dir, sizeof c.out_dir, "runs/alexnet-%Y%m%d-%H%M%S", &tm);
        }
        char path[4200];
        run_path(path, sizeof path, c.out_dir, STATE_FILE);
        if (path_exists(path)) {
            error_set(&err, "%s already holds a run; continue it with --resume %s, or choose another --out",
                     c.out_dir, c.out_dir);
            return cli_usage_error("train", err.msg);
        }
    }

    Dist d;
    if (dist_init(&d, c.is_distributed, &argc, &argv, &err) != 0) {
        free(pos.config_json);
        return cli_usage_error("train", err.msg);
    }
    /* ranks sharing a machine share its cores */
    if (c.threads == 0 && d.local_world > 1) {
        int share = cpu_count() / d.local_world;
        c.threads = share > 0 ? share : 1;
    }
    int status = train_run(&c, s.resume ? &pos : NULL, &d, &err);
    free(pos.config_json);
    if (status == 2 && (d.rank == 0 || d.world == 1)) cli_usage_error("train", err.msg);
    if (status != 0 && d.world > 1) dist_abort(&d, status); /* the other ranks may be waiting in a collective */
    dist_finalize(&d);
    return status;
}
