/*
 * env.c — the environment switches, read once (see env.h).
 */
#include "common/env.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef enum { ENV_FLAG, ENV_INT, ENV_STR } EnvKind;

typedef struct {
    EnvKind kind;
    size_t offset;
    const char *name, *help;
    int def_int;
    const char *def_str;
} EnvSwitch;

#define DEF_INT_ENV_FLAG(d) (d)
#define DEF_INT_ENV_INT(d)  (d)
#define DEF_INT_ENV_STR(d)  0
#define DEF_STR_ENV_FLAG(d) ""
#define DEF_STR_ENV_INT(d)  ""
#define DEF_STR_ENV_STR(d)  (d)
#define ROW(kind, field, name, def, help) \
    { kind, offsetof(EnvSwitches, field), name, help, DEF_INT_##kind(def), DEF_STR_##kind(def) },
static const EnvSwitch TABLE[] = { ALEXNET_ENV_SWITCHES(ROW) };
#undef ROW
#define N_SWITCHES ((int)(sizeof TABLE / sizeof TABLE[0]))

static EnvSwitches g_env;
static const char *g_raw[N_SWITCHES]; /* as read; NULL when unset */
static int g_read;

static void read_one(int i) {
    const EnvSwitch *s = &TABLE[i];
    const char *v = g_raw[i] = getenv(s->name);
    char *field = (char *)&g_env + s->offset;
    int set = v && *v;
    switch (s->kind) {
    case ENV_STR: *(const char **)field = set ? v : s->def_str; break;
    case ENV_FLAG: *(int *)field = set ? strcmp(v, "0") != 0 : s->def_int; break;
    case ENV_INT: {
        int x = s->def_int;
        if (set) {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (*end || errno || n < -1000000 || n > 1000000 || !((*v >= '0' && *v <= '9') || *v == '-'))
                warnf("%s=%s is not a whole number; using %d", s->name, v, s->def_int);
            else x = (int)n;
        }
        *(int *)field = x;
        break;
    }
    }
}

void env_switches_reload(void) {
    for (int i = 0; i < N_SWITCHES; i++) read_one(i);
    g_read = 1;
}

const EnvSwitches *env_switches(void) {
    if (!g_read) env_switches_reload();
    return &g_env;
}

int env_switch_count(void) { return N_SWITCHES; }
const char *env_switch_name(int i) { return TABLE[i].name; }
const char *env_switch_help(int i) { return TABLE[i].help; }

const char *env_switch_setting(int i) {
    env_switches();
    return g_raw[i] ? g_raw[i] : "";
}
