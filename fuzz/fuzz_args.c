/*
 * fuzz_args.c — libFuzzer target: the command-line parser. The input is
 * split at NUL bytes into arguments. p[0] picks the path:
 *   even  args_parse on a table with every flag type, ranges, a "seen" flag
 *         and up to 3 positional arguments
 *   odd   a real command (train, eval, predict, bench, bench-data, prepare
 *         fashion-mnist / synthetic, quantize) with "--help" first, so it parses every
 *         flag of its own table and stops before doing anything
 * Output goes to /dev/null (stdout here, stderr by -close_fd_mask=2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (!freopen("/dev/null", "w", stdout)) abort(); /* stderr: run-fuzz.sh passes -close_fd_mask=2 */
    return 0;
}

static int parse_table(int argc, char **argv) {
    int i = 0, flag = 0, seen = 0, help = 0, npos = 0;
    int64_t big = 0;
    uint64_t seed = 0;
    double x = 0;
    const char *s = NULL, *pos[3];
    char word[8] = "";
    ArgSpec specs[] = {
        { "count", ARG_INT, &i, "an int", 1, 100, NULL },
        { "any_int", ARG_INT, &i, "no range", 1, 0, NULL },
        { "big", ARG_I64, &big, "an int64", 0, 1e12, &seen },
        { "rate", ARG_FLOAT, &x, "a float", -1, 1, NULL },
        { "name", ARG_STR, &s, "a string", 1, 0, NULL },
        { "json", ARG_FLAG, &flag, "a flag", 1, 0, NULL },
        { "hidden", ARG_INT, &i, NULL, 0, 10, NULL },
        { "seed", ARG_U64, &seed, "a uint64", 1, 0, NULL },
        { "word", ARG_CHARS, &word, "a char[8]", 1, sizeof word - 1, NULL },
        { "budget", ARG_DURATION, &x, "a duration", 1, 1e8, NULL },
    };
    int n = (int)(sizeof specs / sizeof specs[0]);
    Error err;
    int rc = args_parse(specs, n, argc, argv, 1, pos, 3, &npos, &help, &err);
    if (help) args_print_help("fuzz", "[options]", "the fuzz table", specs, n);
    if (rc != 0) cli_usage_error("fuzz", err.msg);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const CMDS[][2] = { { "train", NULL },          { "eval", NULL },
                                           { "predict", NULL },        { "bench", NULL },
                                           { "bench-data", NULL },     { "prepare", "fashion-mnist" },
                                           { "prepare", "synthetic" }, { "quantize", NULL } };
    int (*const RUN[])(int, char **) = { cmd_train,      cmd_eval,    cmd_predict, cmd_bench,
                                         cmd_bench_data, cmd_prepare, cmd_prepare, cmd_quantize };
    int which = (data[0] >> 1) % 8, real = data[0] & 1;
    char *copy = malloc(size); /* arguments: NUL-terminated pieces of the rest */
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    char *argv[MAX_ARGS + 5];
    int argc = 0;
    argv[argc++] = "alexnet";
    if (real) {
        argv[argc++] = (char *)CMDS[which][0];
        if (CMDS[which][1]) argv[argc++] = (char *)CMDS[which][1];
        argv[argc++] = "--help";
    }
    for (size_t k = 0; k < size - 1 && argc < MAX_ARGS;) {
        argv[argc++] = copy + k;
        k += strlen(copy + k) + 1;
    }
    argv[argc] = NULL;
    if (real) RUN[which](argc, argv);
    else parse_table(argc, argv);
    free(copy);
    return 0;
}
