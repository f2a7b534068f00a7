/*
 * main.c — `alexnet <command>`: dispatches to the command implementations.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/util.h"

static const Command COMMANDS[] = {
    { "train", cmd_train, "train AlexNet (the seed's recipe; --resume RUN_DIR continues a run)" },
    { "eval", cmd_eval, "top-1/top-5 of a checkpoint on a folder of images" },
    { "predict", cmd_predict, "top-K classes of images (default 5)" },
    { "export", cmd_export, "a checkpoint as an ONNX model (the eval network, fixed input size)" },
    { "average", cmd_average, "the element-wise mean of model files of one model (timm's avg_checkpoints)" },
    { "quantize", cmd_quantize, "post-training int8 quantization of a model file, calibrated on images" },
    { "bench", cmd_bench, "training and inference throughput on synthetic data, per-layer GFLOP/s" },
    { "prepare", cmd_prepare,
      "make image folders (Fashion-MNIST from its IDX files, synthetic JPEGs) or pack one into a file" },
    { "bench-data", cmd_bench_data, "input-pipeline throughput (decode + augment), images per second" },
    { "info", cmd_info, "for bug reports: version, git commit, compiler, OS, library versions, CPU, GPUs" },
};

static void usage(FILE *f) {
    fprintf(f, "usage: alexnet <command> [options]   (alexnet <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].about);
}

int main(int argc, char **argv) {
    set_program_path(argv[0]);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("alexnet %s\n", ALX_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) {
            set_log_command(COMMANDS[i].name);
            return COMMANDS[i].run(argc, argv);
        }
    /* bench_data, Train, evaluate: the command meant, when one is unmistakable */
    const char *near = NULL;
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        const char *c = COMMANDS[i].name, *a = argv[1];
        size_t k = 0;
        while (a[k] && c[k] && (tolower((unsigned char)a[k]) == c[k] || (a[k] == '_' && c[k] == '-'))) k++;
        if ((!a[k] && !c[k]) || (k >= 4 && !c[k])) near = c;
    }
    if (near) errorf("unknown command '%s'; did you mean '%s'?", argv[1], near);
    else errorf("unknown command '%s'", argv[1]);
    fprintf(stderr, "Run 'alexnet --help' for the list of commands.\n");
    return 2;
}
