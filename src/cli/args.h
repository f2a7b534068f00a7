/*
 * args.h — table-driven command-line flags shared by every `alexnet` command.
 *
 * Each command declares an array of ArgSpec; args_parse() accepts
 * `--name value` and `--name=value`, with the name spelled with underscores
 * (the seed's spelling, --per_batch_size) or dashes (--per-batch-size).
 * Values are validated (whole-string numbers, ranges); the first problem is
 * reported in err, naming the flag. `--help` / `-h` sets *help.
 *
 * torchvision train.py's spellings are aliases where the meaning is the same
 * (--batch-size, -j, --epochs, ...; the table is in args.c and README "Coming
 * from torchvision"), each only in commands that have its target flag. An
 * unknown flag's error suggests the closest flag ("did you mean ...?").
 * A --threads above the core count warns on stderr.
 */
#ifndef ALEXNET_ARGS_H
#define ALEXNET_ARGS_H

#include <stdint.h>

#include "common/util.h"

typedef enum {
    ARG_INT,    /* int;    dst: int*     */
    ARG_I64,    /* int64;  dst: int64_t* */
    ARG_FLOAT,  /* double; dst: double*  */
    ARG_STR,    /* string; dst: const char** (points into argv) */
    ARG_FLAG,   /* no value; dst: int*, set to 1 */
} ArgType;

typedef struct {
    const char *name;  /* without dashes, underscores: "per_batch_size" */
    ArgType type;
    void *dst;
    const char *help;  /* one line; "" hides nothing, NULL hides the flag from --help */
    double min, max;   /* numeric range (inclusive); min > max disables the check */
    int *seen;         /* optional: set to 1 when the flag was given */
} ArgSpec;

/* Parses argv[first..argc) (argv[1] is the command, for messages). Positional arguments (not starting with --) are
 * collected into positional[] (at most max_pos; more is an error).
 * Returns 0, or -1 with err set. */
int args_parse(const ArgSpec *specs, int nspecs, int argc, char **argv, int first,
               const char **positional, int max_pos, int *npos, int *help, Error *err);

/* Prints "usage: alexnet CMD SYNOPSIS" and a table of the flags with defaults. */
void args_print_help(const char *cmd, const char *synopsis, const char *about, const ArgSpec *specs, int nspecs);

/* The CLI's answer to a user error: "alexnet CMD: error: MSG" plus a hint to
 * run --help, on stderr. Returns 2, the exit status for usage errors. */
int cli_usage_error(const char *cmd, const char *msg);

#endif
