/*
 * cmd_predict.c — `alexnet predict`: the top-K classes and probabilities for
 * each image, named from --class_names FILE, else from the checkpoint's
 * metadata (the index when neither names them).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/transforms.h"
#include "io/checkpoint.h"

#define PREDICT_BATCH 16
#define MAX_IMAGES 100000

/* Softmax in double for the probabilities; returns the top-k indices, best first. */
static void top_k(const float *z, int K, int k, int *idx, double *prob) {
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < K; j++) mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < K; j++) sum += exp((double)z[j] - mx);
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int j = 0; j < K; j++) {
            int taken = 0;
            for (int u = 0; u < t; u++) taken |= idx[u] == j;
            if (!taken && (best < 0 || z[j] > z[best])) best = j;
        }
        idx[t] = best;
        prob[t] = exp((double)z[best] - mx) / sum;
    }
}

/* names: [K] or NULL; logits: add every logit to the JSON object. */
static void print_result(const char *file, const float *z, int K, int k, char *const *names, int json, int logits) {
    int *idx = xmalloc(sizeof(int) * (size_t)k);
    double *prob = xmalloc(sizeof(double) * (size_t)k);
    top_k(z, K, k, idx, prob);
    if (json) {
        cJSON *o = cJSON_CreateObject(), *arr;
        cJSON_AddStringToObject(o, "file", file);
        arr = cJSON_AddArrayToObject(o, "top");
        for (int t = 0; t < k; t++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "index", idx[t]);
            cJSON_AddStringToObject(e, "class", names ? names[idx[t]] : "");
            cJSON_AddNumberToObject(e, "prob", prob[t]);
            cJSON_AddItemToArray(arr, e);
        }
        if (logits) {
            arr = cJSON_AddArrayToObject(o, "logits");
            for (int j = 0; j < K; j++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(z[j]));
        }
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s\n", file);
        for (int t = 0; t < k; t++) {
            if (names) printf("  %6.2f%%  %s (%d)\n", 100 * prob[t], names[idx[t]], idx[t]);
            else printf("  %6.2f%%  class %d\n", 100 * prob[t], idx[t]);
        }
    }
    fflush(stdout);
    free(idx);
    free(prob);
}

/* Reads one class name per line (a last empty line is allowed) into
 * info->class_names, replacing the checkpoint's. 0, or -1 with err. */
static int read_class_names(const char *path, ModelInfo *info, Error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return error_set(err, "--class_names %s: cannot open it (%s)", path, strerror(errno));
    char **names = xcalloc((size_t)info->num_classes, sizeof(char *));
    char line[1024];
    int n = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = error_set(err, "--class_names %s: line %d is longer than %zu characters", path, n + 1, sizeof line - 2);
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) {
            int c = fgetc(f);
            if (c == EOF) break; /* the file's last line, empty */
            rc = error_set(err, "--class_names %s: line %d is empty (one class name per line)", path, n + 1);
            break;
        }
        if (n >= info->num_classes) {
            n++;
            continue;
        }
        names[n++] = xstrdup(line);
    }
    fclose(f);
    if (rc == 0 && n != info->num_classes)
        rc = error_set(err, "--class_names %s has %d names but the checkpoint predicts %d classes", path, n, info->num_classes);
    if (rc != 0) {
        for (int i = 0; i < info->num_classes; i++) free(names[i]);
        free(names);
        return -1;
    }
    for (int i = 0; i < info->n_classes_named; i++) free(info->class_names[i]);
    free(info->class_names);
    info->class_names = names;
    info->n_classes_named = n;
    return 0;
}

int cmd_predict(int argc, char **argv) {
    const char *pretrained = NULL, *device = "cpu", *backend = NULL, *class_names = NULL, *tta = "none";
    int json = 0, want_logits = 0, image_size = 0, resize_size = 0, threads = 0, topk = 5, topk_seen = 0;
    int64_t mpixels = 100000000;
    ArgSpec specs[] = {
        {"pretrained", ARG_STR, &pretrained, "checkpoint (.safetensors, ours or torchvision's)", 1, 0, NULL},
        {"image_size", ARG_INT, &image_size, "input size = center crop (0: the checkpoint's, else 224)", 0, 4096, NULL},
        {"val_crop_size", ARG_INT, &image_size, "the same as --image_size (torchvision's name)", 0, 4096, NULL},
        {"val_resize_size", ARG_INT, &resize_size, "resize the shorter side to N before the crop (0: round(crop*256/224) square)", 0, 4096, NULL},
        {"tta", ARG_STR, &tta, "none | flip (mean of the logits of the image and its mirror)", 1, 0, NULL},
        {"threads", ARG_INT, &threads, "compute threads (0: all cores)", 0, 1024, NULL},
        {"device", ARG_STR, &device, "cpu | gpu", 1, 0, NULL},
        {"backend", ARG_STR, &backend, "ref | dnnl | cuda (default: fastest for --device)", 1, 0, NULL},
        {"max_image_pixels", ARG_I64, &mpixels, "reject images declaring more pixels", 1, 1e12, NULL},
        {"topk", ARG_INT, &topk, "classes shown per image (at most the checkpoint's classes)", 1, 1000000, &topk_seen},
        {"class_names", ARG_STR, &class_names, "class names, one per line in label order (else the checkpoint's)", 1, 0, NULL},
        {"json", ARG_FLAG, &json, "only JSON on stdout: one object per image, {file, top: [{index, class, prob}]}", 1, 0, NULL},
        {"logits", ARG_FLAG, &want_logits, "with --json: also \"logits\", every class's (after --tta's mean)", 1, 0, NULL},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]), help, nfiles = 0;
    const char **files = xmalloc(sizeof(char *) * MAX_IMAGES);
    Error err = {{0}};
    if (args_parse(specs, nspecs, argc, argv, 2, files, MAX_IMAGES, &nfiles, &help, &err) != 0) {
        free(files);
        return cli_usage_error("predict", err.msg);
    }
    if (help) {
        args_print_help("predict", "--pretrained CKPT [--topk K] [--class_names FILE] [--json] IMAGE|FOLDER...",
                        "Top-K classes with probabilities for each image (eval transform: resize, center crop, normalize);\n"
                        "a folder is walked like a data folder (its .jpg/.jpeg/.png files, sorted, hidden names skipped),\n"
                        "results stream as they come, and an unreadable image is named and counted, not fatal.",
                        specs, nspecs);
        free(files);
        return 0;
    }
    if (!pretrained) { free(files); return cli_usage_error("predict", "--pretrained is required (a .safetensors checkpoint)"); }
    if (nfiles == 0) { free(files); return cli_usage_error("predict", "no images given"); }
    if (strcmp(device, "cpu") != 0 && strcmp(device, "gpu") != 0 && strcmp(device, "cuda") != 0) { free(files); return cli_usage_error("predict", "--device must be cpu or gpu"); }
    if (strcmp(tta, "none") != 0 && strcmp(tta, "flip") != 0) { free(files); return cli_usage_error("predict", "--tta must be none or flip"); }
    int flip = strcmp(tta, "flip") == 0;
    if (want_logits && !json) { free(files); return cli_usage_error("predict", "--logits goes with --json"); }

    ModelFile ckpt;
    if (checkpoint_open(pretrained, &ckpt, &err) != 0) { free(files); return cli_usage_error("predict", err.msg); }
    if (class_names && read_class_names(class_names, &ckpt.info, &err) != 0) {
        free(files); checkpoint_close(&ckpt);
        return cli_usage_error("predict", err.msg);
    }
    if (topk > ckpt.info.num_classes) {
        if (topk_seen) {
            error_set(&err, "--topk %d is more than the %d classes of %s", topk, ckpt.info.num_classes, pretrained);
            free(files); checkpoint_close(&ckpt);
            return cli_usage_error("predict", err.msg);
        }
        topk = ckpt.info.num_classes;
    }
    Net net;
    int size = image_size ? image_size : ckpt.info.image_size;
    float *params = NULL;
    if (size < NET_MIN_IMAGE)
        error_set(&err, "--val_crop_size (--image_size) %d: AlexNet needs at least %d pixels", size, NET_MIN_IMAGE);
    if (size < NET_MIN_IMAGE || eval_geometry_check(size, resize_size, &err) != 0) {
        free(files); checkpoint_close(&ckpt);
        return cli_usage_error("predict", err.msg);
    }
    int rc = net_build(&net, ckpt.info.backbone, ckpt.info.num_classes, size, 0.0f, &err);
    if (rc == 0) rc = checkpoint_match(&ckpt, &net, &err);
    if (rc == 0) {
        params = xaligned_alloc(net.param_count * sizeof(float));
        rc = checkpoint_load(&ckpt, &net, params, &err);
    }
    /* The weights are in params now; only the class names are kept. */
    ModelInfo info = ckpt.info;
    memset(&ckpt.info, 0, sizeof ckpt.info);
    checkpoint_close(&ckpt);
    Backend be;
    if (threads <= 0) threads = cpu_count();
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    BackendOptions bo = {threads, 0, PRECISION_FP32, 0};
    if (rc == 0) rc = backend_create(&be, backend ? backend : backend_default(device), &net, PREDICT_BATCH, &bo, &err);
    if (rc != 0) {
        free(params); free(files); model_info_free(&info);
        return cli_usage_error("predict", err.msg);
    }
    be.vt->set_params(be.ctx, params);
    InputFormat fmt = be.vt->input_format(be.ctx);
    size_t per_image = (size_t)3 * size * size * (fmt == INPUT_U8_NHWC ? 1 : sizeof(float));
    unsigned char *batch = xmalloc(per_image * PREDICT_BATCH), *mirrored = flip ? xmalloc(per_image * PREDICT_BATCH) : NULL;
    const size_t nlogits = PREDICT_BATCH * (size_t)net.num_classes;
    float *logits = xmalloc(sizeof(float) * nlogits), *logits_flip = flip ? xmalloc(sizeof(float) * nlogits) : NULL;
    const char *names[PREDICT_BATCH];
    int failed = 0;
    ForwardArgs fa = {0, 0, 0};
    int64_t total = 0;
    for (int a = 0; a < nfiles; a++) {
        /* a folder is walked as the loader walks one: its images, sorted, hidden names skipped */
        char **paths = NULL, *one[1] = {(char *)files[a]};
        int64_t npaths = 1;
        struct stat st;
        if (stat(files[a], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (dataset_list_images(files[a], &paths, &npaths, &err) != 0) {
                fprintf(stderr, "alexnet predict: error: %s\n", err.msg);
                failed++;
                continue;
            }
            if (npaths == 0) fprintf(stderr, "alexnet predict: warning: folder %s holds no images (.jpg, .jpeg, .png)\n", files[a]);
        }
        char **list = paths ? paths : one;
        total += npaths;
        for (int64_t i = 0; i < npaths;) {
            int n = 0;
            for (; i < npaths && n < PREDICT_BATCH; i++) {
                if (image_load_eval(list[i], size, resize_size, fmt, batch + (size_t)n * per_image, mpixels, &err) != 0) {
                    fprintf(stderr, "alexnet predict: error: %s\n", err.msg);
                    failed++;
                    continue;
                }
                names[n++] = list[i];
            }
            if (n == 0) continue;
            backend_forward(&be, batch, n, &fa);
            be.vt->read_logits(be.ctx, logits, n);
            if (flip) {
                input_mirror(mirrored, batch, n, size, fmt);
                backend_forward(&be, mirrored, n, &fa);
                be.vt->read_logits(be.ctx, logits_flip, n);
                tta_mean(logits, logits_flip, (size_t)n * (size_t)net.num_classes);
            }
            for (int j = 0; j < n; j++)
                print_result(names[j], logits + (size_t)j * net.num_classes, net.num_classes, topk,
                             info.n_classes_named ? info.class_names : NULL, json, want_logits);
            fflush(stdout); /* results stream, batch by batch */
        }
        if (paths) {
            for (int64_t i = 0; i < npaths; i++) free(paths[i]);
            free(paths);
        }
    }
    if (failed)
        fprintf(stderr, "alexnet predict: %d of %lld image%s could not be read (named above); the others were predicted\n",
                failed, (long long)total, total == 1 ? "" : "s");
    backend_destroy(&be);
    free(batch); free(mirrored); free(logits); free(logits_flip); free(params); free(files);
    model_info_free(&info);
    return failed ? 2 : 0;
}
