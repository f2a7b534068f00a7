/*
 * commands.h — the `alexnet` commands. Each takes the whole argv (argv[1] is
 * the command name) and returns the process exit status: 0 success,
 * 1 failure while running, 2 usage error (bad flag/value/file).
 */
#ifndef ALEXNET_COMMANDS_H
#define ALEXNET_COMMANDS_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} Command;

int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_average(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_bench_data(int argc, char **argv);

#endif
