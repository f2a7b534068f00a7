/*
 * test_config.c — the configuration's table (config.h's TRAIN_CONFIG_FIELDS)
 * drives everything: every field is a key of config.json and comes back from
 * it unchanged, is a `train` flag shown in --help with its default, and a
 * value outside its range is refused both as a flag and from a saved state.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "harness.h"
#include "train/config.h"

static char *field_at(TrainConfig *c, const ConfigField *f) { return (char *)c + f->offset; }

/* A value of the field's type, within its range, that differs from its default. */
static void set_other_value(TrainConfig *c, const ConfigField *f) {
    char *p = field_at(c, f);
    switch (f->type) {
    case CONFIG_INT:
    case CONFIG_SWITCH: *(int *)p = *(int *)p == (int)f->max ? (int)f->min : (int)f->max; break;
    case CONFIG_I64: *(int64_t *)p = *(int64_t *)p == (int64_t)f->max ? (int64_t)f->min : (int64_t)f->max; break;
    case CONFIG_U64: *(uint64_t *)p = *(uint64_t *)p == (uint64_t)f->max ? (uint64_t)f->min : (uint64_t)f->max; break;
    case CONFIG_DBL:
    case CONFIG_DUR: *(double *)p = *(double *)p == f->max ? f->min : f->max; break;
    case CONFIG_TEXT:
        memset(p, 'x', f->size - 1); /* the longest value that fits */
        p[f->size - 1] = '\0';
        break;
    }
}

static void test_json(void) {
    int n;
    const ConfigField *fields = config_fields(&n);
    TrainConfig c, back;
    config_defaults(&c);
    cJSON *o = config_to_cjson(&c);
    EXPECT(cJSON_GetArraySize(o) == n, "config.json has %d keys, the table %d rows", cJSON_GetArraySize(o), n);
    for (int i = 0; i < n; i++)
        EXPECT(cJSON_GetObjectItemCaseSensitive(o, fields[i].name), "'%s' is a key of config.json", fields[i].name);
    cJSON_Delete(o);
    Error err = { { 0 } };
    EXPECT(config_validate(&c, NULL, &err) == 0, "the defaults are valid: %s", err.msg);

    /* the seed at 2^53 - 1 among them, which cJSON's own printing rounds */
    for (int i = 0; i < n; i++) set_other_value(&c, &fields[i]);
    char *json = config_to_json(&c);
    config_defaults(&back);
    EXPECT(config_from_json(&back, json, &err) == 0, "%s", err.msg);
    for (int i = 0; i < n; i++)
        EXPECT(memcmp(field_at(&c, &fields[i]), field_at(&back, &fields[i]), fields[i].size) == 0,
               "'%s' comes back from config.json as it was saved", fields[i].name);
    free(json);
}

/* cmd_train with argv, stdout to out_path (NULL: discarded) and stderr discarded; its status. */
static int run_train(int argc, char **argv, const char *out_path) {
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null = open("/dev/null", O_WRONLY);
    dup2(out, 1);
    dup2(null, 2);
    int status = cmd_train(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(out);
    close(null);
    close(saved_out);
    close(saved_err);
    return status;
}

/* `train --help --NAME VALUE`: 0 when the value is taken (the help is shown), 2 when refused. */
static int train_flag(const char *name, const char *value) {
    char flag[128];
    snprintf(flag, sizeof flag, "--%s", name);
    char *argv[] = { "alexnet", "train", "--help", flag, (char *)value, NULL };
    return run_train(5, argv, NULL);
}

/* The "(default ...)" train --help prints for the field's default, "" when none. */
static void default_text(const TrainConfig *c, const ConfigField *f, char *out, size_t size) {
    const char *p = (const char *)c + f->offset;
    switch (f->type) {
    case CONFIG_INT: snprintf(out, size, " (default %d)", *(const int *)p); break;
    case CONFIG_I64: snprintf(out, size, " (default %" PRId64 ")", *(const int64_t *)p); break;
    case CONFIG_U64: snprintf(out, size, " (default %" PRIu64 ")", *(const uint64_t *)p); break;
    case CONFIG_DBL: snprintf(out, size, " (default %g)", *(const double *)p); break;
    case CONFIG_DUR:
        if (*(const double *)p > 0) snprintf(out, size, " (default %gs)", *(const double *)p);
        else out[0] = '\0';
        break;
    case CONFIG_TEXT:
        if (*p) snprintf(out, size, " (default %s)", p);
        else out[0] = '\0';
        break;
    case CONFIG_SWITCH: out[0] = '\0'; break;
    }
}

static void test_help(void) {
    char path[] = "/tmp/alexnet_test_config_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char *argv[] = { "alexnet", "train", "--help", NULL };
    EXPECT(run_train(3, argv, path) == 0, "train --help");
    static char help[65536];
    FILE *fp = fopen(path, "r");
    size_t len = fp ? fread(help, 1, sizeof help - 1, fp) : 0;
    help[len] = '\0';
    if (fp) fclose(fp);
    unlink(path);

    int n;
    const ConfigField *fields = config_fields(&n);
    TrainConfig c;
    config_defaults(&c);
    for (int i = 0; i < n; i++) {
        const ConfigField *f = &fields[i];
        if (!f->help) {
            EXPECT(strcmp(f->name, "out_dir") == 0 && strstr(help, "\n  --out S "),
                   "'%s' has no flag of its own: only out_dir (--out) may", f->name);
            continue;
        }
        char start[128], line[2048], def[1200];
        snprintf(start, sizeof start, "\n  --%s ", f->name);
        const char *at = strstr(help, start);
        EXPECT(at, "--%s is in train --help", f->name);
        if (!at) continue;
        snprintf(line, sizeof line, "%.*s", (int)strcspn(at + 1, "\n"), at + 1);
        default_text(&c, f, def, sizeof def);
        char tail[1400];
        snprintf(tail, sizeof tail, " %s%s", f->help, def);
        size_t ll = strlen(line), tl = strlen(tail);
        EXPECT(ll > tl && strcmp(line + ll - tl, tail) == 0, "--%s's help line ends with '%s' (%s)", f->name, tail,
               line);
    }
}

static void test_ranges(void) {
    int n;
    const ConfigField *fields = config_fields(&n);
    for (int i = 0; i < n; i++) {
        const ConfigField *f = &fields[i];
        char low[64], high[64], json[2048];
        Error err = { { 0 } };
        if (f->type == CONFIG_TEXT) {
            char fits[1100], too_long[1100];
            memset(fits, 'x', f->size - 1);
            fits[f->size - 1] = '\0';
            memset(too_long, 'x', f->size);
            too_long[f->size] = '\0';
            if (f->help) {
                EXPECT(train_flag(f->name, fits) == 0, "--%s takes %zu characters", f->name, f->size - 1);
                EXPECT(train_flag(f->name, too_long) == 2, "--%s refuses %zu characters", f->name, f->size);
            }
            TrainConfig c;
            config_defaults(&c);
            snprintf(json, sizeof json, "{\"%s\": \"%s\"}", f->name, too_long);
            EXPECT(config_from_json(&c, json, &err) != 0 && strstr(err.msg, f->name),
                   "a saved '%s' of %zu characters is refused (%s)", f->name, f->size, err.msg);
            continue;
        }
        /* just outside [min, max], and the bounds themselves */
        snprintf(low, sizeof low, "%.17g", f->min - 1);
        snprintf(high, sizeof high, "%.17g", f->max + 1);
        const char *outside[] = { low, high };
        for (int k = 0; k < 2; k++) {
            if (f->type != CONFIG_SWITCH)
                EXPECT(train_flag(f->name, outside[k]) == 2, "--%s %s is refused", f->name, outside[k]);
            TrainConfig c;
            config_defaults(&c);
            snprintf(json, sizeof json, "{\"%s\": %s}", f->name, outside[k]);
            err.msg[0] = '\0';
            int refused = config_from_json(&c, json, &err) != 0 || config_validate(&c, "state", &err) != 0;
            char quoted[80];
            snprintf(quoted, sizeof quoted, "'%s'", f->name);
            EXPECT(refused && strstr(err.msg, quoted), "a saved %s of %s is refused, naming it (%s)", f->name,
                   outside[k], err.msg);
        }
        if (f->type != CONFIG_SWITCH) {
            snprintf(low, sizeof low, "%.17g", f->min);
            snprintf(high, sizeof high, "%.17g", f->max);
            EXPECT(train_flag(f->name, low) == 0 && train_flag(f->name, high) == 0, "--%s takes %s and %s", f->name,
                   low, high);
        }
    }
}

int main(void) {
    test_json();
    test_help();
    test_ranges();
    return test_summary("test_config");
}
