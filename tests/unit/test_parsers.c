/*
 * test_parsers.c — unit regressions of issue 12's parser fixes that the CLI
 * test (parsers_cli.py) can't see from outside: a model file is read once
 * (it can be deleted between open and load), the training state's position
 * is range-checked, metadata and tensor names are unique, the resampler
 * refuses geometry it can't handle instead of stopping the process, and
 * durations (--time_budget) are read by one strict grammar.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/image.h"
#include "data/resize.h"
#include "harness.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

static char dir[] = "/tmp/alexnet_test_parsers_XXXXXX";

static const char *tmp_path(const char *name) {
    static char p[4][256];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, 256, "%s/%s", dir, name);
    return s;
}

/* A tiny net with AlexNet's parameter names (features.0, classifier.1/4/6). */
static void tiny_net(Net *net) {
    net_begin(net, "tiny", 3, 63);
    net_add_conv(net, 4, 11, 4, 2, 1);
    net_add_relu(net);
    net_add_maxpool(net, 3, 2);
    net_add_avgpool(net, 1, 1);
    net_section(net, "classifier");
    net_add_dropout(net, 0.0f);
    net_add_linear(net, 8);
    net_add_relu(net);
    net_add_dropout(net, 0.0f);
    net_add_linear(net, 8);
    net_add_relu(net);
    net_add_linear(net, 3);
}

static int write_model(const char *path, const Net *net, const float *params, const char *const *keys,
                       const char *const *vals, int n_meta) {
    StWriteTensor t[NET_MAX_PARAMS];
    for (int i = 0; i < net->n_params; i++) {
        const ParamTensor *p = &net->params[i];
        t[i].name = p->name;
        t[i].dtype = ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = params + p->offset;
    }
    Error err;
    int rc = st_write(path, t, net->n_params, keys, vals, n_meta, &err);
    EXPECT(rc == 0, "%s", err.msg);
    return rc;
}

static void test_read_once(void) {
    Net net;
    tiny_net(&net);
    float *params = calloc(net.param_count, sizeof(float)), *back = calloc(net.param_count, sizeof(float));
    for (size_t i = 0; i < net.param_count; i++) params[i] = (float)i * 0.25f - 3.0f;
    const char *keys[] = { "backbone", "image_size", "classes" }, *vals[] = { "alexnet", "63", "[\"a\",\"b\",\"c\"]" };
    const char *path = tmp_path("model.safetensors");
    write_model(path, &net, params, keys, vals, 3);
    ModelFile m;
    Error err;
    EXPECT(checkpoint_open(path, &m, &err) == 0, "%s", err.msg);
    EXPECT(unlink(path) == 0, "the file can be removed after open");
    EXPECT(m.info.num_classes == 3 && m.info.image_size == 63 && m.info.n_classes_named == 3, "info %d %d %d",
           m.info.num_classes, m.info.image_size, m.info.n_classes_named);
    EXPECT(checkpoint_match(&m, &net, &err) == 0, "%s", err.msg);
    EXPECT(checkpoint_load(&m, &net, back, &err) == 0, "load without the file on disk: %s", err.msg);
    EXPECT(memcmp(params, back, net.param_count * sizeof(float)) == 0, "weights as written");
    checkpoint_close(&m);
    free(params);
    free(back);
}

static void write_meta(const char *path, const char *const *keys, const char *const *vals, int n) {
    uint8_t byte = 0;
    StWriteTensor t = { "x", ST_U8, 1, { 1 }, &byte };
    Error err;
    EXPECT(st_write(path, &t, 1, keys, vals, n, &err) == 0, "%s", err.msg);
}

static void test_state_info(void) {
    const char *keys[] = { "epoch", "batch", "step", "best_top1", "config" };
    const char *good[] = { "2", "5", "77", "0.25", "{\"log_interval\": 3}" };
    const char *path = tmp_path("state.safetensors");
    TrainPosition pos;
    Error err;
    write_meta(path, keys, good, 5);
    EXPECT(checkpoint_read_state_info(path, &pos, &err) == 0 && pos.epoch == 2 && pos.batch == 5 && pos.step == 77 &&
               pos.best_top1 == 0.25,
           "good state: %s", err.msg);
    free(pos.config_json);
    const struct {
        int key;
        const char *value;
    } bad[] = {
        { 0, "-1" },
        { 0, "x" },
        { 0, "99999999999" },
        { 1, "-3" },
        { 1, "1.5" },
        { 2, "" },
        { 2, "18446744073709551616" },
        { 3, "nan" },
        { 3, "2" },
        { 3, "-0.5" },
        { 3, "inf" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *vals[5];
        memcpy(vals, good, sizeof vals);
        vals[bad[i].key] = bad[i].value;
        write_meta(path, keys, vals, 5);
        memset(&err, 0, sizeof err);
        int rc = checkpoint_read_state_info(path, &pos, &err);
        EXPECT(rc != 0 && strstr(err.msg, path) && strstr(err.msg, keys[bad[i].key]),
               "%s = '%s' refused naming file and key: %s", keys[bad[i].key], bad[i].value, err.msg);
        if (rc == 0) free(pos.config_json);
    }
    const char *fresh[] = { "0", "0", "0", "-1", "{}" };
    write_meta(path, keys, fresh, 5);
    EXPECT(checkpoint_read_state_info(path, &pos, &err) == 0 && pos.best_top1 == -1.0, "no evaluation yet: %s",
           err.msg);
    free(pos.config_json);
}

static void test_names_unique(void) {
    const char *keys[] = { "a", "b", "a" }, *vals[] = { "1", "2", "3" };
    const char *path = tmp_path("meta.safetensors");
    write_meta(path, keys, vals, 3);
    StFile f;
    Error err;
    EXPECT(st_read(&f, path, &err) != 0 && strstr(err.msg, "'a' appears twice"), "duplicate metadata key: %s", err.msg);
    write_meta(path, keys, vals, 2);
    EXPECT(st_read(&f, path, &err) == 0 && strcmp(st_meta(&f, "b"), "2") == 0 && st_find(&f, "x") && !st_find(&f, "y"),
           "unique keys load: %s", err.msg);
    st_free(&f);
    EXPECT(st_read(&f, dir, &err) != 0 && strstr(err.msg, "is a directory") && strstr(err.msg, dir),
           "a folder is named as one: %s", err.msg);
}

static void test_resample_geometry(void) {
    ResampleAxis a = { 0 };
    EXPECT(resample_axis_init(&a, 0, 10, 0, 10, 4, 0, 4, 0) == 0, "a plain shrink");
    EXPECT(resample_axis_init(&a, 0, 10, 5, 5, 4, 0, 4, 0) != 0, "empty source pixels [5, 5)");
    EXPECT(resample_axis_init(&a, 3, 3, 0, 10, 4, 0, 4, 0) != 0, "empty source interval");
    EXPECT(resample_axis_init(&a, 0, 10, 0, 10, 4, 2, 4, 0) != 0, "window past the output");
    EXPECT(resample_axis_init(&a, 0, 2e9, 0, 2000000000, 256, 0, 224, 0) != 0, "1.3e9-pixel-like span refused");
    EXPECT(resample_axis_init(&a, 0, IMAGE_MAX_SIDE, 0, IMAGE_MAX_SIDE, 1, 0, 1, 1) == 0, "widest image to 1 pixel");
    EXPECT(a.n == 1 && a.len[0] > 0 && a.first == 0 && a.last <= IMAGE_MAX_SIDE, "taps %d [%d, %d)", a.len[0], a.first,
           a.last);
    resample_axis_free(&a);
    EXPECT(image_jpeg_memory(0) == 300000000u + (16u << 20), "libjpeg limit at the default pixel limit");
}

static void test_durations(void) {
    const struct {
        const char *text;
        double seconds; /* -1: refused */
    } cases[] = {
        { "90s", 90 },    { "12m", 720 },  { "1h30m", 5400 }, { "2h", 7200 }, { "1.5h", 5400 }, { "1h2m3s", 3723 },
        { "45", 45 },     { "0.5", 0.5 },  { ".5m", 30 },     { "0s", 0 },    { "", -1 },       { "5m5m", -1 },
        { "30m1h", -1 },  { "12m30", -1 }, { "0x10s", -1 },   { "1e3s", -1 }, { "-5m", -1 },    { "+5m", -1 },
        { " 5m", -1 },    { "\t5m", -1 },  { "5 m", -1 },     { "5m ", -1 },  { "inf", -1 },    { "nan", -1 },
        { "1.2.3s", -1 }, { ".", -1 },     { "m", -1 },       { "5d", -1 },   { "5M", -1 },     { "1h-30m", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = -1;
        int rc = parse_duration(cases[i].text, &got);
        if (cases[i].seconds < 0) EXPECT(rc != 0, "duration '%s' refused (read as %g s)", cases[i].text, got);
        else
            EXPECT(rc == 0 && got == cases[i].seconds, "duration '%s' is %g s (rc %d, %g)", cases[i].text,
                   cases[i].seconds, rc, got);
    }
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_read_once();
    test_state_info();
    test_names_unique();
    test_resample_geometry();
    test_durations();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("test_parsers");
}
