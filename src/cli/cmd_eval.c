/*
 * cmd_eval.c — `alexnet eval`: top-1/top-5 of a checkpoint over every image
 * of a folder (no dropped remainder, dropout off), optionally over MPI ranks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "dist/dist.h"
#include "io/checkpoint.h"
#include "train/evaluate.h"
#include "train/fingerprint.h"

int cmd_eval(int argc, char **argv) {
    const char *data_dir = NULL, *pretrained = NULL, *device = "cpu", *backend = NULL, *precision = "auto", *tta = "none";
    int batch = 32, workers = 0, threads = 0, json = 0, image_size = 0, resize_size = 0, strict = 0, is_distributed = -1;
    int64_t mpixels = 100000000;
    ArgSpec specs[] = {
        {"data_dir", ARG_STR, &data_dir, "images to evaluate: DIR/<class>/<image>, or a pack file", 1, 0, NULL},
        {"pretrained", ARG_STR, &pretrained, "checkpoint (.safetensors, ours or torchvision's)", 1, 0, NULL},
        {"per_batch_size", ARG_INT, &batch, "images per forward pass", 1, 65536, NULL},
        {"image_size", ARG_INT, &image_size, "input size = center crop (0: the checkpoint's, else 224)", 0, 4096, NULL},
        {"val_crop_size", ARG_INT, &image_size, "the same as --image_size (torchvision's name)", 0, 4096, NULL},
        {"val_resize_size", ARG_INT, &resize_size, "resize the shorter side to N before the crop (0: round(crop*256/224) square)", 0, 4096, NULL},
        {"tta", ARG_STR, &tta, "none | flip (mean of the logits of the image and its mirror)", 1, 0, NULL},
        {"workers", ARG_INT, &workers, "image decoding threads (0: one per core)", 0, 1024, NULL},
        {"threads", ARG_INT, &threads, "compute threads (0: all cores)", 0, 1024, NULL},
        {"device", ARG_STR, &device, "cpu | gpu", 1, 0, NULL},
        {"backend", ARG_STR, &backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, NULL},
        {"precision", ARG_STR, &precision, "auto | fp32 | bf16 (auto, as train: bf16 on GPU and on CPUs with native bf16, else fp32)", 1, 0, NULL},
        {"strict_data", ARG_FLAG, &strict, "stop at the first unreadable image instead of skipping it", 1, 0, NULL},
        {"max_image_pixels", ARG_I64, &mpixels, "reject images declaring more pixels", 1, 1e12, NULL},
        {"is_distributed", ARG_INT, &is_distributed, "1: split over MPI ranks, 0: off, -1: auto", -1, 1, NULL},
        {"json", ARG_FLAG, &json, "print only a JSON object on stdout (the readable line goes to stderr)", 1, 0, NULL},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]), help;
    Error err = {{0}};
    if (args_parse(specs, nspecs, argc, argv, 2, NULL, 0, NULL, &help, &err) != 0) return cli_usage_error("eval", err.msg);
    if (help) {
        args_print_help("eval", "--data_dir VAL --pretrained CKPT [options]",
                        "Top-1 and top-5 accuracy over every image (resize, center crop, normalize).", specs, nspecs);
        return 0;
    }
    if (!data_dir) return cli_usage_error("eval", "--data_dir is required");
    if (!pretrained) return cli_usage_error("eval", "--pretrained is required (a .safetensors checkpoint)");
    if (strcmp(device, "cpu") != 0 && strcmp(device, "gpu") != 0 && strcmp(device, "cuda") != 0) return cli_usage_error("eval", "--device must be cpu or gpu");
    Precision prec;
    if (precision_parse(precision, backend ? backend : backend_default(device), &prec) != 0)
        return cli_usage_error("eval", "--precision must be fp32, bf16 or auto");
    if (strcmp(tta, "none") != 0 && strcmp(tta, "flip") != 0) return cli_usage_error("eval", "--tta must be none or flip");

    ModelFile ckpt;
    if (checkpoint_open(pretrained, &ckpt, &err) != 0) return cli_usage_error("eval", err.msg);
    const ModelInfo *info = &ckpt.info;
    Dataset ds;
    if (dataset_scan(&ds, data_dir, &err) != 0) { checkpoint_close(&ckpt); return cli_usage_error("eval", err.msg); }
    /* Labels: by class name when the checkpoint names its classes and every
     * folder is one of them (a subset of the classes evaluates correctly);
     * otherwise by the sorted folder order. */
    int by_name = info->n_classes_named > 0;
    int *map = xmalloc(sizeof(int) * (size_t)ds.n_classes);
    for (int i = 0; i < ds.n_classes && by_name; i++) {
        map[i] = -1;
        for (int j = 0; j < info->n_classes_named; j++)
            if (strcmp(ds.classes[i], info->class_names[j]) == 0) map[i] = j;
        by_name = map[i] >= 0;
    }
    if (by_name) {
        for (int64_t i = 0; i < ds.n; i++) ds.labels[i] = map[ds.labels[i]];
    } else if (ds.n_classes != info->num_classes) {
        error_set(&err, "%s has %d class folders but %s predicts %d classes%s", data_dir, ds.n_classes,
                 pretrained, info->num_classes, info->n_classes_named ? " (and the folder names are not among its class names)" : "");
        free(map); dataset_free(&ds); checkpoint_close(&ckpt);
        return cli_usage_error("eval", err.msg);
    } else if (info->n_classes_named) {
        warnf("the class folders of %s differ from the checkpoint's class names; labels follow the sorted folder order", data_dir);
    }
    free(map);

    Net net;
    int size = image_size ? image_size : info->image_size;
    int rc = size < NET_MIN_IMAGE ? error_set(&err, "--val_crop_size (--image_size) %d: AlexNet needs at least %d pixels",
                                              size, NET_MIN_IMAGE)
                                  : eval_geometry_check(size, resize_size, &err);
    if (rc == 0) rc = net_build(&net, info->backbone, info->num_classes, size, 0.0f, &err);
    if (rc == 0) rc = checkpoint_match(&ckpt, &net, &err);
    float *params = rc == 0 ? xaligned_alloc(net.param_count * sizeof(float)) : NULL;
    if (rc == 0) rc = checkpoint_load(&ckpt, &net, params, &err);
    checkpoint_close(&ckpt);
    if (rc != 0) { free(params); dataset_free(&ds); return cli_usage_error("eval", err.msg); }

    Dist d;
    if (dist_init(&d, is_distributed, &argc, &argv, &err) != 0) { free(params); dataset_free(&ds); return cli_usage_error("eval", err.msg); }
    /* every rank must see the same images: its share of them depends on the list */
    RunFingerprint fp = {d.world, batch * d.world, ds.n, fingerprint_files(&ds), net.num_classes,
                         fingerprint_classes(ds.classes, ds.n_classes), -1, 0, (int64_t)net.param_count, ""};
    snprintf(fp.backbone, sizeof fp.backbone, "%s", net.backbone);
    if (fingerprint_check_ranks(&d, &fp, "eval", data_dir, &err) != 0) {
        if (err.msg[0]) fprintf(stderr, "alexnet eval: error: %s\n", err.msg);
        free(params); dataset_free(&ds); dist_finalize(&d);
        return 2;
    }
    if (threads <= 0) threads = cpu_count();
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    const char *be_name = backend ? backend : backend_default(device);
    BackendOptions bo = {threads, 0, prec, 0};
    Backend be;
    if (backend_create(&be, be_name, &net, batch, &bo, &err) != 0) {
        free(params); dataset_free(&ds);
        int st = cli_usage_error("eval", err.msg);
        if (d.world > 1) dist_abort(&d, st);
        return st;
    }
    be.vt->set_params(be.ctx, params);
    LoaderConfig lc = {LOADER_EVAL, batch, size, workers > 0 ? workers : cpu_count(), 0, 0, 0.08f, d.rank, d.world,
                       be.vt->input_format(be.ctx), mpixels, strict, 0, resize_size};
    Loader *loader = loader_create(&ds, &lc, &err);
    int status = 0;
    if (!loader) {
        status = cli_usage_error("eval", err.msg);
    } else {
        float *logits = xmalloc((size_t)batch * net.num_classes * sizeof(float));
        double t0 = now_seconds();
        EvalCounts ev;
        if (evaluate_tta(&be, loader, &d, logits, strcmp(tta, "flip") == 0, &ev, &err) != 0) {
            if (d.rank == 0) fprintf(stderr, "alexnet eval: error: %s\n", err.msg);
            status = 1;
        } else if (d.rank == 0) {
            double top1 = ev.images ? (double)ev.correct1 / (double)ev.images : 0.0;
            double top5 = ev.images ? (double)ev.correct5 / (double)ev.images : 0.0;
            double secs = now_seconds() - t0;
            /* With --json, stdout is the JSON object alone (for jq and scripts);
             * the human line goes to stderr. */
            fprintf(json ? stderr : stdout, "%s on %s: top-1 %.2f%%  top-5 %.2f%%  (%lld images, %lld skipped, %.1f img/s, %s backend, %s)\n",
                   pretrained, data_dir, 100 * top1, 100 * top5, (long long)ev.images, (long long)ev.skipped,
                   (double)ev.images / (secs > 0 ? secs : 1), be_name, precision_name(prec));
            if (json)
                printf("{\"top1\": %.6f, \"top5\": %.6f, \"loss\": %.9g, \"images\": %lld, \"skipped\": %lld}\n", top1,
                       top5, ev.images ? ev.loss_sum / (double)ev.images : 0.0, (long long)ev.images, (long long)ev.skipped);
            fflush(stdout);
        }
        free(logits);
        loader_destroy(loader);
    }
    backend_destroy(&be);
    free(params);
    dataset_free(&ds);
    if (status != 0 && d.world > 1) dist_abort(&d, status);
    dist_finalize(&d);
    return status;
}
