/*
 * cmd_train.c — `alexnet train`: the seed's training flags (also spelled with
 * dashes) plus ours, or `--resume RUN` to continue a run exactly. A flag per
 * field of the configuration, made from its table (config.h's
 * TRAIN_CONFIG_FIELDS: name, default, range, help, whether --resume may
 * change it), and the few flags that are not fields. Flags and a resumed
 * run's saved configuration go through the same check (config_validate).
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
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/trainer.h"

#define MAX_FLAGS 96

/* Everything the flags set: the config, the flags that are not its fields,
 * and per flag whether it was given, the field it sets (NULL: none) and
 * whether it may be given with --resume. */
typedef struct {
    TrainConfig c;
    const char *resume;
    int allow_data_change, train_crop;
    ArgSpec specs[MAX_FLAGS];
    int seen[MAX_FLAGS];
    const ConfigField *field[MAX_FLAGS];
    int with_resume[MAX_FLAGS];
    int nspecs;
} TrainFlags;

/* A data folder as an absolute path, so the run can be resumed from any
 * directory; left as given when it can't be resolved (the scan then names it). */
static int make_absolute(char *dir, size_t size, const char *flag, Error *err) {
    char abs[PATH_MAX];
    if (!realpath(dir, abs)) return 0;
    if (strlen(abs) >= size) return error_set(err, "--%s is too long (max %zu characters)", flag, size - 1);
    memcpy(dir, abs, strlen(abs) + 1);
    return 0;
}

/* The folders given as flags, made absolute. 0, or -1 with err set. */
static int absolute_dirs(TrainFlags *f, Error *err) {
    for (int i = 0; i < f->nspecs; i++) {
        const ConfigField *field = f->field[i];
        if (f->seen[i] && field && field->kind == CONFIG_DIR &&
            make_absolute((char *)&f->c + field->offset, field->size, field->name, err) != 0)
            return -1;
    }
    return 0;
}

static int flag_seen(const TrainFlags *f, const char *name) {
    for (int i = 0; i < f->nspecs; i++)
        if (strcmp(f->specs[i].name, name) == 0) return f->seen[i];
    return 0;
}

/* Appends ", --name" (or "--name" first) to list when it fits. */
static void list_flag(char *list, size_t size, const char *name) {
    size_t used = strlen(list);
    if (used + strlen(name) + 4 < size) snprintf(list + used, size - used, "%s--%s", used ? ", " : "", name);
}

/* With --resume, the flags given that can't change the run are named. */
static void note_ignored(const TrainFlags *f) {
    char ignored[512] = "", may[512] = "";
    for (int i = 0; i < f->nspecs; i++) {
        if (f->field[i] && f->with_resume[i]) list_flag(may, sizeof may, f->specs[i].name);
        if (f->seen[i] && !f->with_resume[i]) list_flag(ignored, sizeof ignored, f->specs[i].name);
    }
    if (ignored[0])
        notef("with --resume the run's saved configuration is used; ignored: %s (may change: %s; --per_batch_size "
              "only keeping the global batch)",
              ignored, may);
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

/* The configuration a run saved in its folder: the state's, or (killed
 * before its first state) config.json's, which is written before the first
 * step; *fresh says it was the latter (the run starts from the beginning).
 * 0 or -1 with err set. */
static int saved_config(const char *dir, const char *arg, TrainConfig *c, TrainPosition *pos, int *fresh,
                        Error *err) {
    char state[1024 + sizeof STATE_FILE + 1], json[1024 + sizeof "config.json" + 1]; /* fits: never cut */
    snprintf(state, sizeof state, "%s/%s", dir, STATE_FILE);
    snprintf(json, sizeof json, "%s/config.json", dir);
    *fresh = !path_exists(state);
    const char *from = *fresh ? json : state;
    if (*fresh && !path_exists(json))
        return error_set(err,
                         "--resume %s: no %s there, nor the config.json a run writes before its first step: nothing "
                         "to resume (give a run directory or its state file; a run killed before it began is started "
                         "again with the command that started it)",
                         arg, STATE_FILE);
    config_defaults(c);
    char *text = NULL;
    if (*fresh) {
        FILE *f = fopen_regular(json, err);
        if (!f) return -1;
        size_t cap = 0;
        if (getdelim(&text, &cap, '\0', f) < 0) {
            free(text);
            text = NULL;
        }
        fclose(f);
        if (!text) return error_set(err, "cannot read %s", json);
    } else {
        if (checkpoint_read_state_info(state, pos, err) != 0) return -1;
    }
    int rc = config_from_json(c, *fresh ? text : pos->config_json, err);
    free(text);
    if (rc != 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return error_set(err, "%s: %s", from, msg);
    }
    return 0;
}

/* The saved run, with what may change taken from the flags. 0, 1 (nothing
 * to do: the run is finished) or -1 with err set. *fresh: the run had saved
 * no state yet and starts from the beginning. */
static int load_resumed(TrainFlags *f, TrainPosition *pos, int *fresh, Error *err) {
    const TrainConfig flags = f->c;
    TrainConfig *c = &f->c;
    char dir[1024], path[sizeof dir + sizeof STATE_FILE + 1]; /* fits: never cut */
    resume_dir(f->resume, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
    note_ignored(f);
    if (saved_config(dir, f->resume, c, pos, fresh, err) != 0) return -1;
    int stale = atomic_remove_stale(dir); /* a kill while saving; also when nothing is left to train */
    if (stale)
        notef("removed %d temporary file%s left in %s by a run that was killed while saving", stale, plural_s(stale),
              dir);
    if (*fresh)
        notef("%s holds no saved state yet (the run stopped before its first save): starting it from the beginning "
              "with its saved configuration (config.json)",
              dir);
    const int saved_max_epoch = c->max_epoch;
    /* --max_steps stops one session; the next resume goes on to the end */
    c->max_steps = 0;
    /* states written before "auto" was resolved at the start hold "auto", which then meant fp32 on the CPU */
    if (strcmp(c->precision, "auto") == 0)
        snprintf(c->precision, sizeof c->precision, "%s",
                 strcmp(c->backend[0] ? c->backend : backend_default(c->device, NULL), "cuda") == 0 ? "bf16" : "fp32");
    for (int i = 0; i < f->nspecs; i++) {
        const ConfigField *field = f->field[i];
        if (f->seen[i] && field && f->with_resume[i])
            memcpy((char *)c + field->offset, (const char *)&flags + field->offset, field->size);
    }
    if (absolute_dirs(f, err) != 0) return -1;
    snprintf(c->out_dir, sizeof c->out_dir, "%s", dir);
    if (*fresh) snprintf(path, sizeof path, "%s/config.json", dir);
    if (config_validate(c, path, err) != 0) return -1;
    if (*fresh) return 0;
    LrKind kind;
    if (lr_kind_parse(&kind, c->lr_scheduler, err) != 0) return -1;
    /* A longer run stretches a schedule that was to end with it, from where the run is: the per-epoch cosine's
     * T_max moves by the epochs added (a cosine that ended at the floor would train the new epochs at eta_min,
     * then rise again), a per-step decay is laid over the new length. A T_max set to end before the run (the
     * seed's rising cosine) is kept; step and exponential go on as they are. */
    int added = c->max_epoch - saved_max_epoch;
    if (added > 0 && c->time_budget <= 0) {
        if (kind == LR_COSINE_ANNEALING && c->T_max >= saved_max_epoch - 1) {
            notef("the run is %d epoch%s longer: the cosine is stretched to end with it (T_max %d -> %d), from "
                  "epoch %d on",
                  added, plural_s(added), c->T_max, c->T_max + added, pos->epoch + 1);
            c->T_max += added;
        } else if (lr_per_step(kind)) {
            notef("the run is %d epoch%s longer: its per-step %s decay is laid over the new length, from step %lld "
                  "on (the lr rises to where the longer schedule is there)",
                  added, plural_s(added), c->lr_scheduler, (long long)pos->step);
        }
    }
    if (pos->epoch >= c->max_epoch && c->time_budget <= 0) {
        printf("%s already finished %d of max_epoch %d epoch%s; pass --max_epoch N to extend it\n", dir, pos->epoch,
               c->max_epoch, plural_s(c->max_epoch));
        return 1;
    }
    return 0;
}

/* A new run from the flags. 0 or -1 with err set. */
static int load_new(TrainFlags *f, Error *err) {
    TrainConfig *c = &f->c;
    if (!c->data_dir[0])
        return error_set(err, "--data_dir is required (a folder of class folders), or --resume RUN_DIR");
    if (absolute_dirs(f, err) != 0 || config_validate(c, NULL, err) != 0) return -1;
    if (c->pretrained[0] && !path_exists(c->pretrained))
        return error_set(err, "--pretrained %s: no such file", c->pretrained);
    if (!c->out_dir[0]) {
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

static void add_flag(TrainFlags *f, ArgSpec spec, const ConfigField *field, int with_resume) {
    CHECK(f->nspecs < MAX_FLAGS, "train has more than MAX_FLAGS (%d) flags", MAX_FLAGS);
    int i = f->nspecs++;
    f->specs[i] = spec;
    f->specs[i].seen = &f->seen[i];
    f->field[i] = field;
    f->with_resume[i] = with_resume;
}

static ArgType arg_type(ConfigType t) {
    switch (t) {
    case CONFIG_INT: return ARG_INT;
    case CONFIG_I64: return ARG_I64;
    case CONFIG_U64: return ARG_U64;
    case CONFIG_DBL: return ARG_FLOAT;
    case CONFIG_DUR: return ARG_DURATION;
    case CONFIG_SWITCH: return ARG_FLAG;
    case CONFIG_TEXT: break;
    }
    return ARG_CHARS;
}

/* A flag per field of the configuration, in the table's order, and train's
 * flags that are not fields of their own, each after the field it is about. */
static void flag_table(TrainFlags *f) {
    int n;
    const ConfigField *fields = config_fields(&n);
    for (int k = 0; k < n; k++) {
        const ConfigField *field = &fields[k];
        char *dst = (char *)&f->c + field->offset;
        double min = field->min, max = field->max;
        if (field->type == CONFIG_TEXT) min = 1, max = (double)field->size - 1; /* the longest value */
        if (field->type == CONFIG_SWITCH) min = 1, max = 0;                     /* no value, no range */
        if (field->help)
            add_flag(f,
                     (ArgSpec){ .name = field->name,
                                .type = arg_type(field->type),
                                .dst = dst,
                                .help = field->help,
                                .min = min,
                                .max = max },
                     field, field->on_resume == CONFIG_TAKE);
        if (strcmp(field->name, "image_size") == 0)
            add_flag(f,
                     (ArgSpec){ .name = "train_crop_size",
                                .type = ARG_INT,
                                .dst = &f->train_crop,
                                .help = "the same as --image_size (torchvision's name)",
                                .min = field->min,
                                .max = field->max },
                     NULL, 0);
        if (strcmp(field->name, "out_dir") == 0) {
            add_flag(f,
                     (ArgSpec){ .name = "out",
                                .type = ARG_CHARS,
                                .dst = dst,
                                .help = "run directory (default runs/alexnet-DATE-TIME)",
                                .min = 1,
                                .max = (double)field->size - 1 },
                     field, 0);
            add_flag(f,
                     (ArgSpec){ .name = "resume",
                                .type = ARG_STR,
                                .dst = &f->resume,
                                .help = "continue the run in this directory (or from its train_state.safetensors) "
                                        "exactly",
                                .min = 1 },
                     NULL, 1);
            add_flag(f,
                     (ArgSpec){ .name = "allow_data_change",
                                .type = ARG_FLAG,
                                .dst = &f->allow_data_change,
                                .help = "with --resume: continue although the training files changed",
                                .min = 1 },
                     NULL, 1);
        }
    }
}

static int parse_flags(TrainFlags *f, int argc, char **argv) {
    memset(f, 0, sizeof *f);
    config_defaults(&f->c);
    flag_table(f);
    int st = cli_parse(
        "train", f->specs, f->nspecs, argc, argv, NULL, 0, NULL,
        "--data_dir DIR [options] | --resume RUN [--max_epoch N]",
        "Train AlexNet with the seed's recipe (MindSpore model zoo): SGD momentum 0.9, lr 0.13 with 5 warmup\n"
        "epochs and cosine annealing over 150 epochs, label smoothing 0.1, weight decay 1e-4, batch 256.");
    if (st != CLI_GO_ON) return st;
    if (flag_seen(f, "time_budget") && f->c.time_budget <= 0)
        return cli_usage_error("train", "--time_budget must be longer than 0 s; leave it out to train "
                                        "--max_epoch epochs");
    if (f->c.time_budget > 0) { /* a budget lays a per-step decay over its plan: cosine unless linear is asked for */
        if (!flag_seen(f, "lr_scheduler")) snprintf(f->c.lr_scheduler, sizeof f->c.lr_scheduler, "cosine");
        else if (strcmp(f->c.lr_scheduler, "cosine") != 0 && strcmp(f->c.lr_scheduler, "linear") != 0)
            return cli_usage_error("train", "--time_budget lays the lr schedule over its plan: use --lr_scheduler "
                                            "cosine (the default with a budget) or linear");
    }
    if (flag_seen(f, "train_crop_size")) {
        if (flag_seen(f, "image_size") && f->train_crop != f->c.image_size)
            return cli_usage_error("train",
                                   "--train_crop_size and --image_size are the same setting; give one of them");
        f->c.image_size = f->train_crop;
    }
    return CLI_GO_ON;
}

/* The configuration of a new run or of the one resumed. CLI_GO_ON, 0 (the
 * resumed run is finished) or 2 (reported). */
static int load_config(TrainFlags *f, TrainPosition *pos) {
    Error err = { { 0 } };
    if (f->resume) {
        int fresh = 0;
        int rc = load_resumed(f, pos, &fresh, &err);
        if (rc == 0 && fresh) f->resume = NULL; /* nothing saved: a new run in the same folder */
        return rc == 0 ? CLI_GO_ON : rc > 0 ? 0 : cli_usage_error("train", err.msg);
    }
    if (f->allow_data_change) return cli_usage_error("train", "--allow_data_change goes with --resume");
    return load_new(f, &err) == 0 ? CLI_GO_ON : cli_usage_error("train", err.msg);
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
    int status = train_run(c, f->resume ? pos : NULL, f->allow_data_change, &d, &err);
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
