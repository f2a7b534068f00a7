/*
 * cmd_train.c — `alexnet train`: the seed's training flags (also spelled with
 * dashes) plus ours, or `--resume RUN` to continue a run exactly. Flags and a
 * resumed run's saved configuration go through the same check
 * (config_validate), and the numeric flags take their ranges from config.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "dist/dist.h"
#include "io/checkpoint.h"
#include "train/budget.h"
#include "train/trainer.h"

/* String flags land here, then are copied into the fixed-size config fields. */
typedef struct {
    const char *data_dir, *val_dir, *backbone, *pretrained, *lr_scheduler, *lr_epochs, *smoothing_form;
    const char *device, *backend, *precision, *out, *resume, *freeze, *time_budget;
} StrFlags;

#define MAX_FLAGS 64

/* Everything the flags set: the config's fields, the strings, and which flags were given. */
typedef struct {
    TrainConfig c;
    StrFlags s;
    int64_t seed;
    int allow_data_change, train_crop;
    ArgSpec specs[MAX_FLAGS];
    int seen[MAX_FLAGS];
    int nspecs;
} TrainFlags;

/* What may change when a run is resumed: where the data is, how fast it runs,
 * how long it goes on, what it logs and keeps. Everything else is the run's. */
static const char *const RESUME_FLAGS[] = { "max_epoch",     "max_steps",      "workers",
                                            "threads",       "log_interval",   "save_every_steps",
                                            "ckpt_interval", "save_best",      "data_dir",
                                            "val_dir",       "per_batch_size", "allow_data_change",
                                            "resume",        "dist_timeout",   NULL };

static int copy_str(char *dst, size_t size, const char *src, const char *flag, Error *err) {
    if (!src || src == dst) return 0;
    if (strlen(src) >= size) return error_set(err, "--%s is too long (max %zu characters)", flag, size - 1);
    snprintf(dst, size, "%s", src);
    return 0;
}

/* A data folder as an absolute path, so the run can be resumed from any
 * directory; left as given when it can't be resolved (the scan then names it). */
static int copy_dir(char *dst, size_t size, const char *src, const char *flag, Error *err) {
    if (!src) return 0;
    char abs[PATH_MAX];
    return copy_str(dst, size, realpath(src, abs) ? abs : src, flag, err);
}

static int is_resume_flag(const char *name) {
    for (const char *const *f = RESUME_FLAGS; *f; f++)
        if (strcmp(*f, name) == 0) return 1;
    return 0;
}

static int flag_seen(const TrainFlags *f, const char *name) {
    for (int i = 0; i < f->nspecs; i++)
        if (strcmp(f->specs[i].name, name) == 0) return f->seen[i];
    return 0;
}

/* --resume takes the run directory or its state file. */
static void resume_dir(const char *arg, char *dir, size_t size) {
    struct stat st;
    snprintf(dir, size, "%s", arg);
    if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, size, ".");
        else if (slash == dir) dir[1] = '\0';
        else *slash = '\0';
    }
}

/* The saved run, with what may change taken from the flags. 0, 1 (nothing
 * to do: the run is finished) or -1 with err set. */
static int load_resumed(TrainFlags *f, TrainPosition *pos, Error *err) {
    const TrainConfig flags = f->c;
    TrainConfig *c = &f->c;
    const StrFlags *s = &f->s;
    char dir[1024], path[sizeof dir + sizeof STATE_FILE + 1]; /* fits: never cut */
    resume_dir(s->resume, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
    if (!path_exists(path))
        return error_set(err, "--resume %s: no %s there: nothing to resume (give a run directory, or its state file)",
                         s->resume, STATE_FILE);
    char ignored[512] = "";
    for (int i = 0; i < f->nspecs; i++) {
        const char *name = f->specs[i].name;
        if (f->seen[i] && !is_resume_flag(name) && strlen(ignored) + strlen(name) + 4 < sizeof ignored)
            snprintf(ignored + strlen(ignored), sizeof ignored - strlen(ignored), "%s--%s", ignored[0] ? ", " : "",
                     name);
    }
    if (ignored[0])
        notef("with --resume the run's saved configuration is used; ignored: %s (may change: --max_epoch, --max_steps, "
              "--data_dir, --val_dir, --workers, --threads, --log_interval, --save_every_steps, --ckpt_interval, "
              "--save_best, --per_batch_size keeping the global batch)",
              ignored);
    if (checkpoint_read_state_info(path, pos, err) != 0) return -1;
    config_defaults(c);
    if (config_from_json(c, pos->config_json, err) != 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return error_set(err, "%s: %s", path, msg);
    }
    /* --max_steps stops one session; the next resume goes on to the end */
    c->max_steps = 0;
    /* states written before "auto" was resolved at the start hold "auto", which then meant fp32 on the CPU */
    if (strcmp(c->precision, "auto") == 0)
        snprintf(c->precision, sizeof c->precision, "%s",
                 strcmp(c->backend[0] ? c->backend : backend_default(c->device, NULL), "cuda") == 0 ? "bf16" : "fp32");
#define TAKE(field)                                       \
    do {                                                  \
        if (flag_seen(f, #field)) c->field = flags.field; \
    } while (0)
    TAKE(max_epoch);
    TAKE(max_steps);
    TAKE(workers);
    TAKE(threads);
    TAKE(log_interval);
    TAKE(save_every_steps);
    TAKE(ckpt_interval);
    TAKE(save_best);
    TAKE(per_batch_size);
    TAKE(dist_timeout);
#undef TAKE
    if (copy_dir(c->data_dir, sizeof c->data_dir, s->data_dir, "data_dir", err) != 0 ||
        copy_dir(c->val_dir, sizeof c->val_dir, s->val_dir, "val_dir", err) != 0)
        return -1;
    snprintf(c->out_dir, sizeof c->out_dir, "%s", dir);
    if (config_validate(c, path, err) != 0) return -1;
    if (pos->epoch >= c->max_epoch) {
        printf("%s already finished %d of max_epoch %d epochs; pass --max_epoch N to extend it\n", dir, pos->epoch,
               c->max_epoch);
        return 1;
    }
    return 0;
}

/* A new run from the flags. 0 or -1 with err set. */
static int load_new(TrainConfig *c, const StrFlags *s, Error *err) {
    if (!s->data_dir) return error_set(err, "--data_dir is required (a folder of class folders), or --resume RUN_DIR");
    if (copy_dir(c->data_dir, sizeof c->data_dir, s->data_dir, "data_dir", err) ||
        copy_dir(c->val_dir, sizeof c->val_dir, s->val_dir, "val_dir", err) ||
        copy_str(c->backbone, sizeof c->backbone, s->backbone, "backbone", err) ||
        copy_str(c->pretrained, sizeof c->pretrained, s->pretrained, "pretrained", err) ||
        copy_str(c->lr_scheduler, sizeof c->lr_scheduler, s->lr_scheduler, "lr_scheduler", err) ||
        copy_str(c->lr_epochs, sizeof c->lr_epochs, s->lr_epochs, "lr_epochs", err) ||
        copy_str(c->smoothing_form, sizeof c->smoothing_form, s->smoothing_form, "smoothing_form", err) ||
        copy_str(c->device, sizeof c->device, s->device, "device", err) ||
        copy_str(c->backend, sizeof c->backend, s->backend, "backend", err) ||
        copy_str(c->precision, sizeof c->precision, s->precision, "precision", err) ||
        copy_str(c->freeze, sizeof c->freeze, s->freeze, "freeze", err))
        return -1;
    if (config_validate(c, NULL, err) != 0) return -1;
    if (s->pretrained && !path_exists(s->pretrained))
        return error_set(err, "--pretrained %s: no such file", s->pretrained);
    if (s->out) {
        if (copy_str(c->out_dir, sizeof c->out_dir, s->out, "out", err)) return -1;
    } else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(c->out_dir, sizeof c->out_dir, "runs/alexnet-%Y%m%d-%H%M%S", &tm);
    }
    char path[sizeof c->out_dir + sizeof STATE_FILE + 1]; /* fits: never cut */
    snprintf(path, sizeof path, "%s/%s", c->out_dir, STATE_FILE);
    if (path_exists(path))
        return error_set(err, "%s already holds a run; continue it with --resume %s, or choose another --out",
                         c->out_dir, c->out_dir);
    return 0;
}

/* The flag table, with the numeric ranges from config.c. Long because it is
 * one row per flag of train (about 60): a table, not logic, so it stays whole. */
static void flag_table(TrainFlags *f) {
    const ArgSpec specs[] = {
        { "data_dir", ARG_STR, &f->s.data_dir, "training images: DIR/<class>/<image>, or a pack file (prepare pack)", 1,
          0, NULL },
        { "val_dir", ARG_STR, &f->s.val_dir,
          "validation images (folder or pack; all or some of the classes), evaluated after every epoch", 1, 0, NULL },
        { "per_batch_size", ARG_INT, &f->c.per_batch_size, "images per step per process", 0, 0, NULL },
        { "lr", ARG_FLOAT, &f->c.lr, "base learning rate", 0, 0, NULL },
        { "lr_scheduler", ARG_STR, &f->s.lr_scheduler, "cosine_annealing | step | exponential", 1, 0, NULL },
        { "T_max", ARG_INT, &f->c.T_max, "cosine period in epochs (0: --max_epoch)", 0, 0, NULL },
        { "max_epoch", ARG_INT, &f->c.max_epoch, "epochs to train (with --resume: may extend the run)", 0, 0, NULL },
        { "warmup_epochs", ARG_FLOAT, &f->c.warmup_epochs, "linear warmup from 0, in epochs (fractions allowed)", 0, 0,
          NULL },
        { "label_smooth", ARG_INT, &f->c.label_smooth, "1: label smoothing on, 0: off", 0, 0, NULL },
        { "label_smooth_factor", ARG_FLOAT, &f->c.label_smooth_factor, "label smoothing epsilon", 0, 0, NULL },
        { "smoothing_form", ARG_STR, &f->s.smoothing_form, "seed (eps/(K-1) on wrong classes) | torch (eps/K on all)",
          1, 0, NULL },
        { "weight_decay", ARG_FLOAT, &f->c.weight_decay, "L2 on weights (not biases)", 0, 0, NULL },
        { "momentum", ARG_FLOAT, &f->c.momentum, "SGD momentum", 0, 0, NULL },
        { "eta_min", ARG_FLOAT, &f->c.eta_min, "learning-rate floor", 0, 0, NULL },
        { "lr_epochs", ARG_STR, &f->s.lr_epochs, "step schedule milestones", 1, 0, NULL },
        { "lr_gamma", ARG_FLOAT, &f->c.lr_gamma, "step/exponential decay factor", 0, 0, NULL },
        { "backbone", ARG_STR, &f->s.backbone, "alexnet | alexnet_torchvision | alexnet_2012", 1, 0, NULL },
        { "dropout", ARG_FLOAT, &f->c.dropout, "dropout rate (-1: the backbone's: 0.35 alexnet, 0.5 others)", 0, 0,
          NULL },
        { "pretrained", ARG_STR, &f->s.pretrained, "start from these weights (.safetensors, ours or torchvision's)", 1,
          0, NULL },
        { "freeze", ARG_STR, &f->s.freeze,
          "none | features (train only the classifier) | backbone (only the last layer)", 1, 0, NULL },
        { "lr_backbone_scale", ARG_FLOAT, &f->c.lr_backbone_scale, "lr factor for every trained layer but the last", 0,
          0, NULL },
        { "image_size", ARG_INT, &f->c.image_size, "input size S (>= 63): the RandomResizedCrop size", 0, 0, NULL },
        { "train_crop_size", ARG_INT, &f->train_crop, "the same as --image_size (torchvision's name)", 0, 0, NULL },
        { "val_crop_size", ARG_INT, &f->c.val_crop_size,
          "validation center crop (0: --image_size; another size evaluates on its own copy of the net)", 0, 0, NULL },
        { "val_resize_size", ARG_INT, &f->c.val_resize_size,
          "validation resize of the shorter side before the crop (0: round(crop*256/224) square)", 0, 0, NULL },
        { "color_jitter", ARG_INT, &f->c.color_jitter,
          "1: ColorJitter 0.4 as the README says, 0: off as the seed's code", 0, 0, NULL },
        { "min_crop_scale", ARG_FLOAT, &f->c.min_crop_scale, "RandomResizedCrop smallest area fraction", 0, 0, NULL },
        { "workers", ARG_INT, &f->c.workers, "image decoding threads (0: one per core)", 0, 0, NULL },
        { "threads", ARG_INT, &f->c.threads, "compute threads (0: all cores, shared between local ranks)", 0, 0, NULL },
        { "seed", ARG_I64, &f->seed, "random seed (init, shuffle, augmentation, dropout), < 2^53", 0, 0, NULL },
        { "device", ARG_STR, &f->s.device, "cpu | gpu", 1, 0, NULL },
        { "backend", ARG_STR, &f->s.backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, NULL },
        { "precision", ARG_STR, &f->s.precision,
          "auto | fp32 | bf16 (auto: bf16 on GPU and on CPUs with native bf16, else fp32)", 1, 0, NULL },
        { "is_distributed", ARG_INT, &f->c.is_distributed, "1: data parallel over MPI ranks, 0: off, -1: auto (mpirun)",
          0, 0, NULL },
        { "dist_timeout", ARG_FLOAT, &f->c.dist_timeout,
          "seconds the ranks wait for each other before naming a lost node and stopping (0: forever)", 0, 0, NULL },
        { "out", ARG_STR, &f->s.out, "run directory (default runs/alexnet-DATE-TIME)", 1, 0, NULL },
        { "resume", ARG_STR, &f->s.resume,
          "continue the run in this directory (or from its train_state.safetensors) exactly", 1, 0, NULL },
        { "allow_data_change", ARG_FLAG, &f->allow_data_change,
          "with --resume: continue although the training files changed", 1, 0, NULL },
        { "strict_data", ARG_FLAG, &f->c.strict_data, "stop at the first unreadable image instead of skipping it", 1, 0,
          NULL },
        { "max_image_pixels", ARG_I64, &f->c.max_image_pixels,
          "reject images declaring more pixels (decompression bombs)", 0, 0, NULL },
        { "ckpt_interval", ARG_INT, &f->c.ckpt_interval, "also keep epoch_N.safetensors every N epochs (0: off)", 0, 0,
          NULL },
        { "save_best", ARG_INT, &f->c.save_best, "1: keep best.safetensors (best val top-1), 0: don't", 0, 0, NULL },
        { "save_every_steps", ARG_I64, &f->c.save_every_steps,
          "save resumable state every N steps within epochs (0: epoch ends)", 0, 0, NULL },
        { "log_interval", ARG_INT, &f->c.log_interval, "steps between metrics records and plain progress lines", 0, 0,
          NULL },
        { "max_steps", ARG_I64, &f->c.max_steps,
          "stop this session (resumably) at N steps in total (0: no limit; not kept by --resume)", 0, 0, NULL },
        { "time_budget", ARG_STR, &f->s.time_budget,
          "train to a deadline: 90s, 12m, 1h30m of training, validation and saving; the run plans its steps "
          "from its measured speed and lays the lr schedule (cosine or linear) over them",
          1, 0, NULL },
        { "model_ema", ARG_FLAG, &f->c.model_ema,
          "also keep an EMA of the weights, evaluated beside them (torchvision's --model-ema)", 1, 0, NULL },
        { "model_ema_steps", ARG_INT, &f->c.model_ema_steps, "steps between EMA updates", 0, 0, NULL },
        { "model_ema_decay", ARG_FLOAT, &f->c.model_ema_decay,
          "EMA decay, adjusted as torchvision does for batch and epochs", 0, 0, NULL },
    };
    f->nspecs = (int)(sizeof specs / sizeof specs[0]);
    CHECK(f->nspecs <= MAX_FLAGS, "train has %d flags, MAX_FLAGS is %d", f->nspecs, MAX_FLAGS);
    memcpy(f->specs, specs, sizeof specs);
    for (int i = 0; i < f->nspecs; i++) {
        ArgSpec *spec = &f->specs[i];
        spec->seen = &f->seen[i];
        /* numeric ranges live in one place, config.c */
        const char *field = strcmp(spec->name, "train_crop_size") == 0 ? "image_size" : spec->name;
        if (spec->type != ARG_STR && spec->type != ARG_FLAG && !config_field_range(field, &spec->min, &spec->max))
            FATAL("flag --%s has no range in config.c", spec->name);
    }
}

static int parse_flags(TrainFlags *f, int argc, char **argv) {
    memset(f, 0, sizeof *f);
    TrainConfig *c = &f->c;
    config_defaults(c);
    StrFlags *s = &f->s;
    s->backbone = c->backbone;
    s->lr_scheduler = c->lr_scheduler;
    s->lr_epochs = c->lr_epochs;
    s->smoothing_form = c->smoothing_form;
    s->device = c->device;
    s->precision = c->precision;
    s->freeze = c->freeze;
    f->seed = (int64_t)c->seed;
    flag_table(f);
    int st = cli_parse(
        "train", f->specs, f->nspecs, argc, argv, NULL, 0, NULL,
        "--data_dir DIR [options] | --resume RUN [--max_epoch N]",
        "Train AlexNet with the seed's recipe (MindSpore model zoo): SGD momentum 0.9, lr 0.13 with 5 warmup\n"
        "epochs and cosine annealing over 150 epochs, label smoothing 0.1, weight decay 1e-4, batch 256.");
    if (st != CLI_GO_ON) return st;
    c->seed = (uint64_t)f->seed;
    if (f->s.time_budget) {
        Error err = { { 0 } };
        if (budget_parse(f->s.time_budget, &c->time_budget, &err) != 0) return cli_usage_error("train", err.msg);
        /* a budget lays a per-step decay over its plan: cosine unless linear was asked for */
        if (!flag_seen(f, "lr_scheduler")) f->s.lr_scheduler = "cosine";
        else if (strcmp(f->s.lr_scheduler, "cosine") != 0 && strcmp(f->s.lr_scheduler, "linear") != 0)
            return cli_usage_error("train", "--time_budget lays the lr schedule over its plan: use --lr_scheduler "
                                            "cosine (the default with a budget) or linear");
    }
    if (flag_seen(f, "train_crop_size")) {
        if (flag_seen(f, "image_size") && f->train_crop != c->image_size)
            return cli_usage_error("train",
                                   "--train_crop_size and --image_size are the same setting; give one of them");
        c->image_size = f->train_crop;
    }
    return CLI_GO_ON;
}

/* The configuration of a new run or of the one resumed. CLI_GO_ON, 0 (the
 * resumed run is finished) or 2 (reported). */
static int load_config(TrainFlags *f, TrainPosition *pos) {
    Error err = { { 0 } };
    if (f->s.resume) {
        int rc = load_resumed(f, pos, &err);
        return rc == 0 ? CLI_GO_ON : rc > 0 ? 0 : cli_usage_error("train", err.msg);
    }
    if (f->allow_data_change) return cli_usage_error("train", "--allow_data_change goes with --resume");
    return load_new(&f->c, &f->s, &err) == 0 ? CLI_GO_ON : cli_usage_error("train", err.msg);
}

static int run_training(TrainFlags *f, const TrainPosition *pos, int argc, char **argv) {
    TrainConfig *c = &f->c;
    Dist d;
    Error err = { { 0 } };
    if (dist_init(&d, c->is_distributed, &argc, &argv, &err) != 0) return cli_usage_error("train", err.msg);
    d.timeout = c->dist_timeout;
    /* ranks sharing a machine share its cores */
    if (c->threads == 0 && d.local_world > 1) {
        int share = cpu_count() / d.local_world;
        c->threads = share > 0 ? share : 1;
    }
    int status = train_run(c, f->s.resume ? pos : NULL, f->allow_data_change, &d, &err);
    if (status == 2 && err.msg[0]) cli_usage_error("train", err.msg);
    /* a failure while running: the other ranks may be waiting in a collective */
    if (status == 1 && d.world > 1) dist_abort(&d, status);
    dist_finalize(&d);
    return status;
}

int cmd_train(int argc, char **argv) {
    TrainFlags *f = xmalloc(sizeof *f);
    TrainPosition pos = { 0 };
    int status = parse_flags(f, argc, argv);
    if (status == CLI_GO_ON) status = load_config(f, &pos);
    if (status == CLI_GO_ON) status = run_training(f, &pos, argc, argv);
    free(pos.config_json);
    free(pos.run_json);
    free(f);
    return status;
}
