/*
 * args.c — command-line flag parsing for the `alexnet` commands (see args.h).
 */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compares a user-typed flag name with a spec name, treating '-' as '_'. */
static int name_eq(const char *typed, size_t len, const char *spec) {
    size_t i = 0;
    for (; i < len && spec[i]; i++) {
        char c = typed[i] == '-' ? '_' : typed[i];
        if (c != spec[i]) return 0;
    }
    return i == len && spec[i] == '\0';
}

static int set_value(const ArgSpec *s, const char *v, Error *err) {
    char *end;
    errno = 0;
    int ranged = s->min <= s->max;
    switch (s->type) {
    case ARG_INT:
    case ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno)
            return error_set(err, "--%s expects an integer (got '%s')", s->name, v);
        if (ranged && ((double)x < s->min || (double)x > s->max))
            return error_set(err, "--%s must be between %.0f and %.0f (got %s)", s->name, s->min, s->max, v);
        if (s->type == ARG_INT) {
            if (x < -2147483647LL || x > 2147483647LL)
                return error_set(err, "--%s is out of range (got %s)", s->name, v);
            *(int *)s->dst = (int)x;
        } else {
            *(int64_t *)s->dst = (int64_t)x;
        }
        return 0;
    }
    case ARG_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return error_set(err, "--%s expects a number (got '%s')", s->name, v);
        if (ranged && (x < s->min || x > s->max))
            return error_set(err, "--%s must be between %g and %g (got %s)", s->name, s->min, s->max, v);
        *(double *)s->dst = x;
        return 0;
    }
    case ARG_STR:
        if (!*v) return error_set(err, "--%s expects a value (got an empty string)", s->name);
        *(const char **)s->dst = v;
        return 0;
    case ARG_FLAG:
        *(int *)s->dst = 1;
        return 0;
    }
    return 0;
}

int args_parse(const ArgSpec *specs, int nspecs, int argc, char **argv, int first,
               const char **positional, int max_pos, int *npos, int *help, Error *err) {
    if (npos) *npos = 0;
    if (help) *help = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (help) *help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (a[0] == '-' && a[1] != '\0' && strcmp(a, "-") != 0)
                return error_set(err, "unknown option '%s'", a);
            if (!positional || !npos || *npos >= max_pos)
                return error_set(err, "unexpected argument '%s'", a);
            positional[(*npos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ArgSpec *s = NULL;
        for (int k = 0; k < nspecs; k++)
            if (name_eq(name, len, specs[k].name)) s = &specs[k];
        if (!s) return error_set(err, "unknown option '--%.*s'", (int)len, name);
        const char *value = NULL;
        if (s->type == ARG_FLAG) {
            if (eq) return error_set(err, "--%s takes no value", s->name);
        } else if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) return error_set(err, "--%s expects a value", s->name);
            value = argv[++i];
        }
        if (set_value(s, value, err) != 0) return -1;
        if (s->seen) *s->seen = 1;
    }
    return 0;
}

void args_print_help(const char *cmd, const char *synopsis, const char *about, const ArgSpec *specs, int nspecs) {
    printf("usage: alexnet %s %s\n\n%s\n\noptions:\n", cmd, synopsis, about);
    for (int k = 0; k < nspecs; k++) {
        const ArgSpec *s = &specs[k];
        if (!s->help) continue;
        char flag[64], def[64] = "";
        const char *meta = s->type == ARG_INT || s->type == ARG_I64 ? " N" : s->type == ARG_FLOAT ? " X" : s->type == ARG_STR ? " S" : "";
        snprintf(flag, sizeof flag, "--%s%s", s->name, meta);
        switch (s->type) {
        case ARG_INT: snprintf(def, sizeof def, " (default %d)", *(int *)s->dst); break;
        case ARG_I64: snprintf(def, sizeof def, " (default %lld)", (long long)*(int64_t *)s->dst); break;
        case ARG_FLOAT: snprintf(def, sizeof def, " (default %g)", *(double *)s->dst); break;
        case ARG_STR:
            if (*(const char **)s->dst) snprintf(def, sizeof def, " (default %s)", *(const char **)s->dst);
            break;
        case ARG_FLAG: break;
        }
        printf("  %-28s %s%s\n", flag, s->help, def);
    }
    printf("  %-28s %s\n", "--help", "show this help");
    printf("\nFlags may be spelled with underscores (--per_batch_size) or dashes (--per-batch-size).\n");
}

int cli_usage_error(const char *cmd, const char *msg) {
    fflush(stdout);
    fprintf(stderr, "alexnet %s: error: %s\nRun 'alexnet %s --help' for usage.\n", cmd, msg, cmd);
    return 2;
}
