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
 * (--batch-size, -j, --epochs, ...; the table is in args.c and docs/COMMANDS.md "Coming
 * from torchvision"), each only in commands that have its target flag. An
 * unknown flag's error suggests the closest flag ("did you mean ...?").
 * A --threads above the core count warns on stderr.
 */
#ifndef ALEXNET_ARGS_H
#define ALEXNET_ARGS_H

#include <stdint.h>

#include "common/util.h"
#include "data/image.h"
#include "engine/model_open.h"

typedef enum {
    ARG_INT,      /* int;    dst: int*     */
    ARG_I64,      /* int64;  dst: int64_t* */
    ARG_U64,      /* uint64; dst: uint64_t* (a negative value is refused) */
    ARG_FLOAT,    /* double; dst: double*  */
    ARG_DURATION, /* seconds; dst: double*; "90s", "12m", "1h30m" or seconds */
    ARG_STR,      /* string; dst: const char** (points into argv) */
    ARG_CHARS,    /* string; dst: char[max + 1], copied (a longer value is refused) */
    ARG_FLAG,     /* no value; dst: int*, set to 1 */
} ArgType;

typedef struct {
    const char *name; /* without dashes, underscores: "per_batch_size" */
    ArgType type;
    void *dst;
    const char *help; /* one line; "" hides nothing, NULL hides the flag from --help */
    double min, max;  /* numeric range (inclusive); min > max disables the check; ARG_CHARS: max is the longest value */
    int *seen;        /* optional: set to 1 when the flag was given */
} ArgSpec;

/* Parses argv[first..argc) (argv[1] is the command, for messages). Positional arguments (not starting with --) are
 * collected into positional[] (at most max_pos; more is an error).
 * Returns 0, or -1 with err set. */
int args_parse(const ArgSpec *specs, int nspecs, int argc, char **argv, int first, const char **positional, int max_pos,
               int *npos, int *help, Error *err);

/* Prints "usage: alexnet CMD SYNOPSIS" and a table of the flags with defaults. */
void args_print_help(const char *cmd, const char *synopsis, const char *about, const ArgSpec *specs, int nspecs);

/* The CLI's answer to a user error: "alexnet CMD: error: MSG" plus a hint to
 * run --help, on stderr. Returns 2, the exit status for usage errors. */
int cli_usage_error(const char *cmd, const char *msg);

/* What a command's setup step returns to go on; anything else is the exit
 * status to return (0 after --help, 2 after a usage error). */
#define CLI_GO_ON (-1)

/* Parses the flags of command cmd ("train", or "prepare pack": its words are
 * argv[1..], the flags follow), prints the help when asked. CLI_GO_ON, 0
 * (help shown) or 2 (reported). positional/max_pos/npos as args_parse. */
int cli_parse(const char *cmd, ArgSpec *specs, int nspecs, int argc, char **argv, const char **positional, int max_pos,
              int *npos, const char *synopsis, const char *about);

/* 0 when --device is cpu or gpu (cuda is taken for gpu), else -1 with err. */
int device_check(const char *device, Error *err);

/* The flags eval and predict share: a checkpoint and how images reach it. */
typedef struct {
    const char *pretrained, *device, *backend, *tta, *precision;
    int image_size, resize_size, threads;
    int64_t max_pixels;
} InferFlags;
#define INFER_FLAGS_DEFAULT                                                                              \
    {                                                                                                    \
        .device = "cpu", .tta = "none", .precision = "auto", .resize_size = EVAL_RESIZE_FROM_CHECKPOINT, \
        .max_pixels = IMAGE_DEFAULT_MAX_PIXELS                                                           \
    }
/* clang-format off */
#define INFER_FLAG_SPECS(f) \
    { "pretrained", ARG_STR, &(f).pretrained, "checkpoint (.safetensors, ours or torchvision's)", 1, 0, NULL }, \
    { "image_size", ARG_INT, &(f).image_size, \
      "input size = center crop (0: the checkpoint's validation crop, else its training size)", 0, \
      NET_MAX_IMAGE, NULL }, \
    { "val_crop_size", ARG_INT, &(f).image_size, "the same as --image_size (torchvision's name)", 0, NET_MAX_IMAGE, \
      NULL }, \
    { "val_resize_size", ARG_INT, &(f).resize_size, \
      "resize the shorter side to N before the crop (0: round(crop*256/224) square; default: the checkpoint's " \
      "validation resize, else 0)", 0, NET_MAX_IMAGE, NULL }, \
    { "tta", ARG_STR, &(f).tta, "none | flip (mean of the logits of the image and its mirror)", 1, 0, NULL }, \
    { "threads", ARG_INT, &(f).threads, "compute threads (0: all cores)", 0, 1024, NULL }, \
    { "device", ARG_STR, &(f).device, "cpu | gpu", 1, 0, NULL }, \
    { "backend", ARG_STR, &(f).backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, NULL }, \
    { "precision", ARG_STR, &(f).precision, \
      "auto | fp32 | bf16 | int8 (an int8 model's, alexnet quantize; auto: int8 for one, else as train: bf16 " \
      "where it measures faster than fp32 here)", 1, 0, NULL }, \
    { "max_image_pixels", ARG_I64, &(f).max_pixels, "reject images declaring more pixels", 1, 1e12, NULL }
/* clang-format on */
/* How eval and predict open their model from the shared flags, batch images a pass. */
ModelOptions infer_model_options(const InferFlags *f, int batch);
/* --pretrained given, --device and --tta known: 0, or -1 with err. */
int infer_flags_check(const InferFlags *f, Error *err);

#endif
