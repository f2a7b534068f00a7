/*
 * args.c — command-line flag parsing for the `alexnet` commands (see args.h):
 * the flag table, torchvision train.py's spellings as aliases, "did you mean"
 * for unknown flags, and the --threads oversubscription warning.
 */
#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum {
    AL_PLAIN,     /* same meaning, another spelling */
    AL_SMOOTHING, /* --label-smoothing EPS: epsilon, smoothing on when EPS > 0, torch's form */
    AL_DATA_ROOT, /* --data-path ROOT: torchvision's ROOT/train and ROOT/val */
    AL_WEIGHTS,   /* --weights FILE: a file here, not torchvision's enum name */
} AliasKind;

/* torchvision's references/classification/train.py spellings whose meaning
 * is ours (docs/COMMANDS.md, "Coming from torchvision"). An alias applies to a command
 * only when that command has the target flag. */
static const struct {
    const char *alias, *target;
    AliasKind kind;
} ALIASES[] = {
    { "batch_size", "per_batch_size", AL_PLAIN },
    { "b", "per_batch_size", AL_PLAIN },
    { "epochs", "max_epoch", AL_PLAIN },
    { "data_path", "data_dir", AL_DATA_ROOT },
    { "output_dir", "out", AL_PLAIN },
    { "label_smoothing", "label_smooth_factor", AL_SMOOTHING },
    { "print_freq", "log_interval", AL_PLAIN },
    { "weights", "pretrained", AL_WEIGHTS },
    { "wd", "weight_decay", AL_PLAIN },
    { "j", "workers", AL_PLAIN },
    { "lr_warmup_epochs", "warmup_epochs", AL_PLAIN },
    { "lr_min", "eta_min", AL_PLAIN },
    { "grad_accum_steps", "accum_steps", AL_PLAIN }, /* timm's train.py */
};
#define N_ALIASES ((int)(sizeof ALIASES / sizeof ALIASES[0]))

/* torchvision flags with no same-meaning counterpart: what to use instead. */
static const struct {
    const char *flag, *needs, *hint;
} TV_HINTS[] = {
    { "model", "backbone", "torchvision's --model: here --backbone; alexnet_torchvision is torchvision's AlexNet" },
    { "lr_step_size", "lr_epochs",
      "torchvision's --lr-step-size: here --lr_scheduler step --lr_epochs E1,E2,... (milestones)" },
    { "train_crop_size", "val_crop_size",
      "--train_crop_size is the training crop (alexnet train); the crop here is --val_crop_size" },
    { "amp", "precision", "torchvision's --amp: here --precision bf16 (GPU)" },
    { "lr_warmup_method", "warmup_epochs", "warmup here is linear from 0 over --warmup_epochs (no other method)" },
    { "lr_warmup_decay", "warmup_epochs", "warmup here is linear from 0 over --warmup_epochs (no other method)" },
    { "test_only", NULL, "torchvision's --test-only: here the command alexnet eval --data_dir VAL --pretrained CKPT" },
    { "start_epoch", "resume", "torchvision's --start-epoch: here --resume RUN_DIR continues where the run stopped" },
    { "world_size", NULL, "processes come from mpirun here: mpirun -np N alexnet train ..." },
    { "dist_url", NULL, "processes come from mpirun here: mpirun -np N alexnet train ..." },
    { "opt", NULL, "SGD with momentum is the only optimiser here" },
    { "use_deterministic_algorithms", NULL, "runs here are deterministic already (same flags and seed, same bits)" },
};

/* Names other trainers use for flags of ours: an unknown one is answered with
 * ours ("did you mean") before spelling closeness is tried, which would
 * match --num_epochs to --lr_epochs. */
static const struct {
    const char *name, *ours;
} SYNONYMS[] = {
    { "num_epochs", "max_epoch" },
    { "n_epochs", "max_epoch" },
    { "max_epochs", "max_epoch" },
    { "learning_rate", "lr" },
    { "num_workers", "workers" },
    { "img_size", "image_size" },
    { "input_size", "image_size" },
    { "resolution", "image_size" },
    { "train_dir", "data_dir" },
    { "data", "data_dir" },
    { "dataset", "data_dir" },
    { "val_data", "val_dir" },
    { "output", "out" },
    { "save_dir", "out" },
    { "checkpoint", "pretrained" },
    { "ckpt", "pretrained" },
    { "resume_from", "resume" },
    { "warmup", "warmup_epochs" },
    { "min_lr", "eta_min" },
    { "smoothing", "label_smooth_factor" },
    { "gpu", "device" },
    { "steps", "max_steps" },
    { "time", "time_budget" },
    { "budget", "time_budget" },
    { "deadline", "time_budget" },
    { "classes", "class_names" },
};

static void normalise(const char *typed, size_t len, char *out, size_t size) {
    size_t i = 0;
    for (; i < len && i + 1 < size; i++) out[i] = typed[i] == '-' ? '_' : typed[i];
    out[i] = '\0';
}

static const ArgSpec *find_spec(const ArgSpec *specs, int nspecs, const char *name) {
    for (int k = 0; k < nspecs; k++)
        if (strcmp(specs[k].name, name) == 0) return &specs[k];
    return NULL;
}

static int find_alias(const ArgSpec *specs, int nspecs, const char *name) {
    for (int a = 0; a < N_ALIASES; a++)
        if (strcmp(ALIASES[a].alias, name) == 0 && find_spec(specs, nspecs, ALIASES[a].target)) return a;
    return -1;
}

/* The alias as a user types it: -j, --batch-size. */
static void alias_spelling(int a, char *out, size_t size) {
    const char *n = ALIASES[a].alias;
    if (strlen(n) == 1) {
        snprintf(out, size, "-%s", n);
        return;
    }
    snprintf(out, size, "--%s", n);
    for (char *p = out + 2; *p; p++)
        if (*p == '_') *p = '-';
}

/* Only what a decimal number is written with (strtod alone also takes hex,
 * "0x1p-3", and leading spaces; strtoll leading spaces): a sign, digits and,
 * for a real number, a point and an exponent. */
static int decimal_chars(const char *v, int real) {
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || (real && (*p == '.' || *p == 'e' || *p == 'E'))))
            return 0;
    return 1;
}

static int set_value(const ArgSpec *s, const char *flag, const char *v, Error *err) {
    char *end;
    errno = 0;
    int ranged = s->min <= s->max;
    switch (s->type) {
    case ARG_INT:
    case ARG_I64:
    case ARG_U64: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno || !decimal_chars(v, 0))
            return error_set(err, "%s expects an integer (got '%s')", flag, v);
        if (ranged && ((double)x < s->min || (double)x > s->max))
            return error_set(err, "%s must be between %.0f and %.0f (got %s)", flag, s->min, s->max, v);
        if (s->type == ARG_INT) {
            if (x < -2147483647LL || x > 2147483647LL) return error_set(err, "%s is out of range (got %s)", flag, v);
            *(int *)s->dst = (int)x;
        } else if (s->type == ARG_U64) {
            if (x < 0) return error_set(err, "%s expects a non-negative integer (got %s)", flag, v);
            *(uint64_t *)s->dst = (uint64_t)x;
        } else {
            *(int64_t *)s->dst = (int64_t)x;
        }
        return 0;
    }
    case ARG_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x) || !decimal_chars(v, 1))
            return error_set(err, "%s expects a number (got '%s')", flag, v);
        if (ranged && (x < s->min || x > s->max))
            return error_set(err, "%s must be between %g and %g (got %s)", flag, s->min, s->max, v);
        *(double *)s->dst = x;
        return 0;
    }
    case ARG_DURATION: {
        double x;
        if (parse_duration(v, &x) != 0)
            return error_set(err, "%s expects a duration like 90s, 12m or 1h30m (got '%s')", flag, v);
        if (ranged && (x < s->min || x > s->max))
            return error_set(err, "%s must be between %gs and %gs (got %s)", flag, s->min, s->max, v);
        *(double *)s->dst = x;
        return 0;
    }
    case ARG_STR:
        if (!*v) return error_set(err, "%s expects a value (got an empty string)", flag);
        *(const char **)s->dst = v;
        return 0;
    case ARG_CHARS:
        if (!*v) return error_set(err, "%s expects a value (got an empty string)", flag);
        CHECK(ranged, "%s: ARG_CHARS without its longest value", flag);
        if ((double)strlen(v) > s->max) return error_set(err, "%s is too long (max %.0f characters)", flag, s->max);
        memcpy(s->dst, v, strlen(v) + 1);
        return 0;
    case ARG_FLAG: *(int *)s->dst = 1; return 0;
    }
    return 0;
}

static int levenshtein(const char *a, const char *b) {
    size_t len_a = strlen(a), len_b = strlen(b);
    if (len_a > 63 || len_b > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= len_b; j++) row[j] = (int)j;
    for (size_t i = 1; i <= len_a; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= len_b; j++) {
            int up = row[j];
            int sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int best = sub < up + 1 ? sub : up + 1;
            row[j] = best < row[j - 1] + 1 ? best : row[j - 1] + 1;
            diag = up;
        }
    }
    return row[len_b];
}

/* How close a typed name is to a candidate: lower is closer, -1 not close. */
static int closeness(const char *typed, const char *cand) {
    size_t len_typed = strlen(typed), len_cand = strlen(cand);
    int d = levenshtein(typed, cand);
    size_t shorter = len_typed < len_cand ? len_typed : len_cand;
    int allowed = shorter >= 8 ? 3 : shorter >= 5 ? 2 : 1;
    if (d <= allowed) return d;
    if (len_typed >= 5 && strstr(cand, typed)) return 10; /* --batch -> per_batch_size */
    return -1;
}

/* "unknown option '--x'" plus, when one is close, "; did you mean --y?" or a
 * torchvision hint. */
static int unknown_option(const ArgSpec *specs, int nspecs, const char *shown, const char *name, Error *err) {
    for (size_t h = 0; h < sizeof TV_HINTS / sizeof TV_HINTS[0]; h++)
        if (strcmp(TV_HINTS[h].flag, name) == 0 && (!TV_HINTS[h].needs || find_spec(specs, nspecs, TV_HINTS[h].needs)))
            return error_set(err, "unknown option '%s' (%s)", shown, TV_HINTS[h].hint);
    for (size_t i = 0; i < sizeof SYNONYMS / sizeof SYNONYMS[0]; i++)
        if (strcmp(SYNONYMS[i].name, name) == 0 && find_spec(specs, nspecs, SYNONYMS[i].ours))
            return error_set(err, "unknown option '%s'; did you mean --%s?", shown, SYNONYMS[i].ours);
    const char *best = NULL;
    int best_d = 1000;
    for (int k = 0; k < nspecs; k++) {
        if (!specs[k].help) continue;
        int d = closeness(name, specs[k].name);
        if (d >= 0 && d < best_d) best = specs[k].name, best_d = d;
    }
    for (int a = 0; a < N_ALIASES; a++) {
        if (strlen(ALIASES[a].alias) < 2 || !find_spec(specs, nspecs, ALIASES[a].target)) continue;
        int d = closeness(name, ALIASES[a].alias);
        if (d >= 0 && d < best_d) best = ALIASES[a].target, best_d = d;
    }
    if (best) return error_set(err, "unknown option '%s'; did you mean --%s?", shown, best);
    return error_set(err, "unknown option '%s'", shown);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Values the parser makes up (ROOT/train, ...): static, one parse per process. */
static char root_paths[2][4200];

typedef struct {
    const ArgSpec *spec;
    const char *value;
} Implied;

/* The value an alias gives its target, and settings it implies for other
 * flags (applied at the end unless given explicitly). */
static int apply_alias(const ArgSpec *specs, int nspecs, int a, const char *flag, const char *v, const ArgSpec *target,
                       Implied *imp, int *nimp, Error *err) {
    switch (ALIASES[a].kind) {
    case AL_PLAIN: return set_value(target, flag, v, err);
    case AL_SMOOTHING: {
        if (set_value(target, flag, v, err) != 0) return -1;
        const ArgSpec *on = find_spec(specs, nspecs, "label_smooth"),
                      *form = find_spec(specs, nspecs, "smoothing_form");
        if (on) imp[(*nimp)++] = (Implied){ on, *(double *)target->dst > 0 ? "1" : "0" };
        if (form) imp[(*nimp)++] = (Implied){ form, "torch" };
        return 0;
    }
    case AL_DATA_ROOT: {
        if (!*v) return set_value(target, flag, v, err);
        const ArgSpec *val = find_spec(specs, nspecs, "val_dir");
        snprintf(root_paths[0], sizeof root_paths[0], "%s/train", v);
        snprintf(root_paths[1], sizeof root_paths[1], "%s/val", v);
        int has_train = is_dir(root_paths[0]), has_val = is_dir(root_paths[1]);
        if (!has_train && !has_val) return set_value(target, flag, v, err);
        if (val) { /* train: ROOT/train, validated on ROOT/val */
            if (has_val) imp[(*nimp)++] = (Implied){ val, root_paths[1] };
            return set_value(target, flag, has_train ? root_paths[0] : v, err);
        }
        if (find_spec(specs, nspecs, "pretrained")) /* eval: ROOT/val */
            return set_value(target, flag, has_val ? root_paths[1] : v, err);
        return set_value(target, flag, has_train ? root_paths[0] : v, err);
    }
    case AL_WEIGHTS: {
        struct stat st;
        if (stat(v, &st) != 0 && !strchr(v, '/') && !strstr(v, ".safetensors"))
            return error_set(err,
                             "%s takes a .safetensors file here (got '%s'); torchvision's weight names are not "
                             "downloaded: save a torchvision state_dict with safetensors (docs/INTEROP.md)",
                             flag, v);
        return set_value(target, flag, v, err);
    }
    }
    return 0;
}

static void warn_threads(const ArgSpec *specs, int nspecs, const unsigned char *given) {
    for (int k = 0; k < nspecs; k++) {
        if (!given[k] || strcmp(specs[k].name, "threads") != 0 || specs[k].type != ARG_INT) continue;
        int t = *(int *)specs[k].dst, cores = cpu_count();
        if (t > cores)
            warnf("--threads %d is more than the %d cores here; oversubscribed threads run many times slower (use "
                  "--threads 0 for all cores)",
                  t, cores);
    }
}

static int parse(const char *cmd, const ArgSpec *specs, int nspecs, int argc, char **argv, int first,
                 const char **positional, int max_pos, int *npos, int *help, Error *err) {
    if (npos) *npos = 0;
    if (help) *help = 0;
    unsigned char given[128] = { 0 };
    Implied imp[16];
    int nimp = 0, asked_help = 0;
    if (nspecs > (int)sizeof given) return error_set(err, "internal: too many flags");
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            asked_help = 1;
            continue;
        }
        int dashes = strncmp(a, "--", 2) == 0 && a[2] != '\0' ? 2 : a[0] == '-' && a[1] != '\0' && a[1] != '-' ? 1 : 0;
        if (!dashes) {
            if (a[0] == '-' && a[1] != '\0') return error_set(err, "unknown option '%s'", a);
            if (!positional || !npos || *npos >= max_pos) return error_set(err, "unexpected argument '%s'", a);
            positional[(*npos)++] = a;
            continue;
        }
        const char *name = a + dashes, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *inline_value = eq ? eq + 1 : NULL;
        if (dashes == 1 && len > 1 && !eq &&
            strspn(name + 1, "0123456789") == len - 1) { /* -j4, as argparse takes it */
            len = 1;
            inline_value = name + 1;
        }
        char norm[128];
        normalise(name, len, norm, sizeof norm);
        const ArgSpec *s = NULL;
        int alias = -1;
        if (dashes == 2) s = find_spec(specs, nspecs, norm);
        if (!s) {
            alias = find_alias(specs, nspecs, norm);
            if (alias >= 0 && (strlen(ALIASES[alias].alias) == 1) != (dashes == 1)) alias = -1;
            if (alias >= 0) s = find_spec(specs, nspecs, ALIASES[alias].target);
        }
        if (!s) {
            char shown[160];
            snprintf(shown, sizeof shown, "%.*s", (int)(len + (size_t)dashes), a);
            return unknown_option(specs, nspecs, shown, norm, err);
        }
        char flag[160];
        if (alias >= 0) alias_spelling(alias, flag, sizeof flag);
        else snprintf(flag, sizeof flag, "--%s", s->name);
        const char *value = NULL;
        if (s->type == ARG_FLAG) {
            if (inline_value) return error_set(err, "%s takes no value", flag);
        } else if (inline_value) {
            value = inline_value;
        } else {
            if (i + 1 >= argc) return error_set(err, "%s expects a value", flag);
            value = argv[++i];
        }
        int rc = alias >= 0 ? apply_alias(specs, nspecs, alias, flag, value ? value : "", s, imp, &nimp, err)
                            : set_value(s, flag, value, err);
        if (rc != 0) return -1;
        if (nimp > 12) return error_set(err, "too many torchvision-style flags");
        given[s - specs] = 1;
        if (s->seen) *s->seen = 1;
    }
    for (int k = 0; k < nimp; k++) {
        int idx = (int)(imp[k].spec - specs);
        if (given[idx]) continue;
        char flag[160];
        snprintf(flag, sizeof flag, "--%s", imp[k].spec->name);
        if (set_value(imp[k].spec, flag, imp[k].value, err) != 0) return -1;
        if (imp[k].spec->seen) *imp[k].spec->seen = 1;
    }
    if (help) *help = asked_help;
    if (!asked_help && cmd) warn_threads(specs, nspecs, given);
    return 0;
}

int args_parse(const ArgSpec *specs, int nspecs, int argc, char **argv, int first, const char **positional, int max_pos,
               int *npos, int *help, Error *err) {
    const char *cmd = argc > 1 ? argv[1] : NULL;
    return parse(cmd, specs, nspecs, argc, argv, first, positional, max_pos, npos, help, err);
}

void args_print_help(const char *cmd, const char *synopsis, const char *about, const ArgSpec *specs, int nspecs) {
    printf("usage: alexnet %s %s\n\n%s\n\noptions:\n", cmd, synopsis, about);
    for (int k = 0; k < nspecs; k++) {
        const ArgSpec *s = &specs[k];
        if (!s->help) continue;
        char flag[64], def[64] = "";
        const char *meta = s->type == ARG_INT || s->type == ARG_I64 || s->type == ARG_U64 ? " N"
                           : s->type == ARG_FLOAT                                         ? " X"
                           : s->type == ARG_STR || s->type == ARG_CHARS                   ? " S"
                           : s->type == ARG_DURATION                                      ? " T"
                                                                                          : "";
        snprintf(flag, sizeof flag, "--%s%s", s->name, meta);
        switch (s->type) {
        case ARG_INT: /* a default outside the range is a "not given" the help text explains */
            if (s->min > s->max || *(int *)s->dst >= s->min) snprintf(def, sizeof def, " (default %d)", *(int *)s->dst);
            break;
        case ARG_I64: snprintf(def, sizeof def, " (default %lld)", (long long)*(int64_t *)s->dst); break;
        case ARG_U64: snprintf(def, sizeof def, " (default %llu)", (unsigned long long)*(uint64_t *)s->dst); break;
        case ARG_FLOAT: snprintf(def, sizeof def, " (default %g)", *(double *)s->dst); break;
        case ARG_DURATION:
            if (*(double *)s->dst > 0) snprintf(def, sizeof def, " (default %gs)", *(double *)s->dst);
            break;
        case ARG_STR:
            if (*(const char **)s->dst) snprintf(def, sizeof def, " (default %s)", *(const char **)s->dst);
            break;
        case ARG_CHARS:
            if (*(const char *)s->dst) snprintf(def, sizeof def, " (default %s)", (const char *)s->dst);
            break;
        case ARG_FLAG: break;
        }
        printf("  %-28s %s%s\n", flag, s->help, def);
    }
    printf("  %-28s %s\n", "--help", "show this help");
    printf("\nFlags may be spelled with underscores (--per_batch_size) or dashes (--per-batch-size).\n");
    int any = 0, col = 0;
    for (int a = 0; a < N_ALIASES; a++) {
        if (!find_spec(specs, nspecs, ALIASES[a].target)) continue;
        char sp[64], item[160];
        alias_spelling(a, sp, sizeof sp);
        snprintf(item, sizeof item, "%s = --%s", sp, ALIASES[a].target);
        if (!any) printf("torchvision train.py spellings (docs/COMMANDS.md, \"Coming from torchvision\"):\n ");
        else if (col + (int)strlen(item) > 96) col = 0, printf(",\n ");
        else col += printf(",");
        col += printf(" %s", item);
        any = 1;
    }
    if (!any) return;
    printf("\n");
    if (find_alias(specs, nspecs, "data_path") >= 0)
        printf("  --data-path ROOT with ROOT/train, ROOT/val (torchvision's layout): %s\n",
               find_spec(specs, nspecs, "val_dir")      ? "trains on ROOT/train, validates on ROOT/val"
               : find_spec(specs, nspecs, "pretrained") ? "evaluates ROOT/val"
                                                        : "reads ROOT/train");
    if (find_alias(specs, nspecs, "label_smoothing") >= 0)
        printf(
            "  --label-smoothing EPS: torch's smoothing (--smoothing_form torch), on when EPS > 0 (--label_smooth)\n");
}

int cli_usage_error(const char *cmd, const char *msg) {
    errorf("%s", msg);
    fprintf(stderr, "Run 'alexnet %s --help' for usage.\n", cmd);
    return 2;
}

int cli_parse(const char *cmd, ArgSpec *specs, int nspecs, int argc, char **argv, const char **positional, int max_pos,
              int *npos, const char *synopsis, const char *about) {
    int help, first = 2;
    for (const char *c = cmd; *c; c++) first += *c == ' '; /* "prepare pack": flags from argv[3] */
    Error err = { { 0 } };
    if (args_parse(specs, nspecs, argc, argv, first, positional, max_pos, npos, &help, &err) != 0)
        return cli_usage_error(cmd, err.msg);
    if (!help) return CLI_GO_ON;
    args_print_help(cmd, synopsis, about, specs, nspecs);
    return 0;
}

int device_check(const char *device, Error *err) {
    if (strcmp(device, "cpu") != 0 && strcmp(device, "gpu") != 0 && strcmp(device, "cuda") != 0)
        return error_set(err, "--device must be cpu or gpu");
    return 0;
}

ModelOptions infer_model_options(const InferFlags *f, int batch) {
    return (ModelOptions){ .checkpoint = f->pretrained,
                           .image_size = f->image_size,
                           .size_flag = "--val_crop_size (--image_size)",
                           .eval_resize = f->resize_size,
                           .backend = f->backend,
                           .device = f->device,
                           .precision = f->precision,
                           .batch = batch,
                           .threads = f->threads,
                           .inference = 1 };
}

int infer_flags_check(const InferFlags *f, Error *err) {
    if (!f->pretrained) return error_set(err, "--pretrained is required (a .safetensors checkpoint)");
    if (device_check(f->device, err) != 0) return -1;
    if (strcmp(f->tta, "none") != 0 && strcmp(f->tta, "flip") != 0) return error_set(err, "--tta must be none or flip");
    return 0;
}
