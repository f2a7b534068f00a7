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
#include "io/checkpoint.h"
#ifdef ALEXNET_HAVE_ONNX
#include "io/onnx/onnx_export.h"
#else
#define ONNX_OPSET_MIN 11
#define ONNX_OPSET_MAX 17
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

int cmd_export(int argc, char **argv) {
    const char *pretrained = NULL, *out = NULL;
    int opset = ONNX_OPSET_MAX, dynamic_batch = 0, include_normalize = 0, image_size = 0;
    ArgSpec specs[] = {
        {"pretrained", ARG_STR, &pretrained, "checkpoint (.safetensors, ours or torchvision's)", 1, 0, NULL},
        {"out", ARG_STR, &out, "the ONNX file to write", 1, 0, NULL},
        {"opset", ARG_INT, &opset, "ONNX opset (" STR(ONNX_OPSET_MIN) " to " STR(ONNX_OPSET_MAX) ")", ONNX_OPSET_MIN, ONNX_OPSET_MAX, NULL},
        {"dynamic_batch", ARG_FLAG, &dynamic_batch, "batch dimension \"N\" (any size) instead of 1", 1, 0, NULL},
        {"image_size", ARG_INT, &image_size, "the fixed input size S (SxS; 0: the checkpoint's, else 224)", 0, 4096, NULL},
        {"include_normalize", ARG_FLAG, &include_normalize, "input RGB in [0, 1]; the ImageNet mean/std normalisation inside the graph", 1, 0, NULL},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]), help;
    Error err = {{0}};
    if (args_parse(specs, nspecs, argc, argv, 2, NULL, 0, NULL, &help, &err) != 0) return cli_usage_error("export", err.msg);
    if (help) {
        args_print_help("export", "--pretrained CKPT --out MODEL.onnx [--opset N] [--dynamic_batch] [--image_size S]",
                        "Write the eval network (dropout gone) as ONNX, input NCHW float32 [N, 3, S, S] normalised like the\n"
                        "eval transform ((x/255 - mean)/std), or RGB in [0, 1] with --include_normalize; output logits.",
                        specs, nspecs);
        return 0;
    }
    if (!pretrained) return cli_usage_error("export", "--pretrained is required (a .safetensors checkpoint)");
    if (!out) return cli_usage_error("export", "--out is required (the .onnx file to write)");
#ifndef ALEXNET_HAVE_ONNX
    (void)opset; (void)dynamic_batch; (void)include_normalize; (void)image_size;
    return cli_usage_error("export", "this build has no ONNX export: install libprotobuf-c-dev protobuf-c-compiler "
                                     "libonnx-dev (scripts/install-deps.sh build) and rebuild");
#else
    if (image_size && image_size < NET_MIN_IMAGE) {
        error_set(&err, "--image_size %d: AlexNet needs at least %d pixels", image_size, NET_MIN_IMAGE);
        return cli_usage_error("export", err.msg);
    }
    ModelFile ckpt;
    if (checkpoint_open(pretrained, &ckpt, &err) != 0) return cli_usage_error("export", err.msg);
    Net net;
    int size = image_size ? image_size : ckpt.info.image_size;
    int rc = net_build(&net, ckpt.info.backbone, ckpt.info.num_classes, size, 0.0f, &err);
    if (rc == 0) rc = checkpoint_match(&ckpt, &net, &err);
    float *params = rc == 0 ? xaligned_alloc(net.param_count * sizeof(float)) : NULL;
    if (rc == 0) rc = checkpoint_load(&ckpt, &net, params, &err);
    if (rc != 0) {
        free(params);
        checkpoint_close(&ckpt);
        return cli_usage_error("export", err.msg);
    }
    int named = ckpt.info.n_classes_named == net.num_classes;
    OnnxOptions o = {opset, dynamic_batch, include_normalize, named ? ckpt.info.class_names : NULL};
    rc = onnx_export(out, &net, params, &o, &err);
    checkpoint_close(&ckpt);
    free(params);
    if (rc != 0) {
        fprintf(stderr, "alexnet export: error: %s\n", err.msg);
        return 1;
    }
    printf("%s: %s, %d classes, input %s [%s, 3, %d, %d], output logits, opset %d\n", out, net.backbone,
           net.num_classes, include_normalize ? "pixels (RGB in [0, 1])" : "input (normalised)",
           dynamic_batch ? "N" : "1", size, size, opset);
    return 0;
#endif
}
