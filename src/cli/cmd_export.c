/*
 * cmd_export.c — `alexnet export`: a checkpoint as an ONNX model of the eval
 * network at a fixed input size (io/onnx/onnx_export.h says what the graph
 * holds). Builds without protobuf-c / onnx.proto answer that export is not
 * built in, and how to get it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/model_open.h"
#include "io/onnx/onnx_export.h"

typedef struct {
    const char *pretrained, *out;
    int opset, dynamic_batch, include_normalize, image_size;
} ExportFlags;

static int parse_flags(ExportFlags *f, int argc, char **argv) {
    ArgSpec specs[] = {
        { "pretrained", ARG_STR, &f->pretrained, "checkpoint (.safetensors, ours or torchvision's)", 1, 0, NULL },
        { "out", ARG_STR, &f->out, "the ONNX file to write", 1, 0, NULL },
        { "opset", ARG_INT, &f->opset, "ONNX opset (" STRINGIFY(ONNX_OPSET_MIN) " to " STRINGIFY(ONNX_OPSET_MAX) ")",
          ONNX_OPSET_MIN, ONNX_OPSET_MAX, NULL },
        { "dynamic_batch", ARG_FLAG, &f->dynamic_batch, "batch dimension \"N\" (any size) instead of 1", 1, 0, NULL },
        { "image_size", ARG_INT, &f->image_size, "the fixed input size S (SxS; 0: the checkpoint's, else 224)", 0,
          NET_MAX_IMAGE, NULL },
        { "include_normalize", ARG_FLAG, &f->include_normalize,
          "input RGB in [0, 1]; the ImageNet mean/std normalisation inside the graph", 1, 0, NULL },
    };
    int st =
        cli_parse("export", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL,
                  "--pretrained CKPT --out MODEL.onnx [--opset N] [--dynamic_batch] [--image_size S]",
                  "Write the eval network (dropout gone) as ONNX, input NCHW float32 [N, 3, S, S] normalised like the\n"
                  "eval transform ((x/255 - mean)/std), or RGB in [0, 1] with --include_normalize; output logits.");
    if (st != CLI_GO_ON) return st;
    if (!f->pretrained) return cli_usage_error("export", "--pretrained is required (a .safetensors checkpoint)");
    if (!f->out) return cli_usage_error("export", "--out is required (the .onnx file to write)");
    return CLI_GO_ON;
}

int cmd_export(int argc, char **argv) {
    ExportFlags f = { .opset = ONNX_OPSET_MAX };
    int status = parse_flags(&f, argc, argv);
    if (status != CLI_GO_ON) return status;
#ifndef ALEXNET_HAVE_ONNX
    return cli_usage_error("export", "this build has no ONNX export: install libprotobuf-c-dev protobuf-c-compiler "
                                     "libonnx-dev (scripts/install-deps.sh build) and rebuild");
#else
    Error err = { { 0 } };
    if (f.image_size && f.image_size < NET_MIN_IMAGE) {
        error_set(&err, "--image_size %d: AlexNet needs at least %d pixels", f.image_size, NET_MIN_IMAGE);
        return cli_usage_error("export", err.msg);
    }
    ModelOptions mo = {
        .checkpoint = f.pretrained, .image_size = f.image_size, .eval_resize = -1, .no_backend = 1, .accept_int8 = 1
    };
    Model m;
    if (model_open(&m, &mo, &err) != 0) return cli_usage_error("export", err.msg);
    if (m.quantized && f.opset < 13) {
        model_close(&m);
        return cli_usage_error("export", "an int8 model needs --opset 13 or later (per-channel DequantizeLinear)");
    }
    int named = m.info.n_classes_named == m.net.num_classes;
    OnnxOptions o = { .opset = f.opset,
                      .dynamic_batch = f.dynamic_batch,
                      .include_normalize = f.include_normalize,
                      .class_names = named ? m.info.class_names : NULL,
                      .quant = m.quantized ? &m.quant : NULL };
    if (onnx_export(f.out, &m.net, m.params, &o, &err) != 0) {
        errorf("%s", err.msg);
        status = 1;
    } else {
        int size = m.net.image_size;
        printf("%s: %s%s, %d classes, input %s [%s, 3, %d, %d], output logits, opset %d\n", f.out, m.net.backbone,
               m.quantized ? " int8 (QDQ)" : "", m.net.num_classes,
               f.include_normalize ? "pixels (RGB in [0, 1])" : "input (normalised)", f.dynamic_batch ? "N" : "1", size,
               size, f.opset);
        status = 0;
    }
    model_close(&m);
    return status;
#endif
}
