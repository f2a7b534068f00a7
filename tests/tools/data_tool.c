/*
 * data_tool.c — a test-only front end to the image pipeline, driven by the
 * Python tests (tests/data_*.py) that compare it with PIL and torchvision:
 *
 *   decode FILE OUT                       full-size RGB; prints "W H"
 *   region FILE NUM X0 Y0 X1 Y1 OUT       RGB of a rectangle at scale NUM/8;
 *                                         prints "x0 y0 w h full_w full_h"
 *   train FILE OUT S FMT EXACT I J H W FLIP JITTER FB FC FS O0 O1 O2 [EI EJ EH EW]
 *         [aa INTERP OP MAG [OP MAG]]     train transform with fixed parameters
 *                                         (INTERP bilinear|nearest, OP torchvision's name)
 *   aa-op IN W H OUT OP MAG INTERP        one automatic augmentation op on raw
 *                                         interleaved RGB (H x W x 3) into OUT
 *   aa-space POLICY W H                   each op's magnitude bins on a W x H image:
 *                                         "OP SIGNED V..." (no values: none)
 *   aa-draw POLICY RA_MAG S SEED N        the ops of samples 0..N-1 of epoch 0:
 *                                         "OP MAG [OP MAG]" or "-"
 *   eval FILE OUT S FMT EXACT [R]         eval transform (R: --val_resize_size)
 *   predict FILE OUT S FMT [R]            what `alexnet predict` does to one file
 *                                         (a default SampleWorker, sample_eval)
 *   loader DIR MODE WORKERS BATCH S STRICT [WORLD RANK EPOCH [RA_REPS [BALANCED]]]
 *       (with RA_REPS > 1 a "hashes" line follows each batch: each sample's;
 *       BALANCED 1: the class-balanced sampler)
 *                                         one epoch; prints per batch
 *                                         "batch B n N bad K hash H idx I..."
 *                                         and "bad_files N warned M"
 *   speed DIR NUM                         single-thread decode img/s at NUM/8
 *   ycck IN W H OUT                       writes raw CMYK bytes as a YCCK JPEG
 *                                         (PIL can't write YCCK)
 *   pack PACK                             lists a pack: "classes N", the names,
 *                                         "record I label L w W h H size S name N..."
 *   packrec PACK I OUT                    writes record I's stored bytes to OUT
 *   erase-draw S P SEED N                 random erasing's draws for samples
 *                                         0..N-1 of epoch 0: "I J H W" or "-"
 *   mix IN OUT FMT S N KIND LAM [RX RY]   MixUp (KIND mixup) or CutMix (cutmix, box
 *                                         centre RX RY) of N float samples with that
 *                                         lam; prints "lam X1 Y1 X2 Y2"
 *   mix-draw MIXUP CUTMIX S SEED N        the draws of steps 0..N-1:
 *                                         "none|mixup|cutmix LAM X1 Y1 X2 Y2"
 *
 * FILE may also be PACK@I: record I of a pack, read the way the loader does.
 *
 * FMT is nchw, nhwc or u8. Outputs are raw little-endian arrays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/mix.h"
#include "data/sample.h"
#include "data/transforms.h"

static int parse_fmt(const char *s, InputFormat *f) {
    if (strcmp(s, "nchw") == 0) *f = INPUT_F32_NCHW;
    else if (strcmp(s, "nhwc") == 0) *f = INPUT_F32_NHWC;
    else if (strcmp(s, "u8") == 0) *f = INPUT_U8_NHWC;
    else return -1;
    return 0;
}

static int write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "data_tool: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int cmd_region(const char *path, int num, int x0, int y0, int x1, int y1, const char *out) {
    ImageDecoder *d = image_decoder_create();
    Error err;
    int w, h, rc = 1;
    Pixels px = { 0 };
    if (image_open(d, path, 0, &w, &h, &err) != 0 || image_decode(d, num, x0, y0, x1, y1, &px, &err) != 0) {
        fprintf(stderr, "data_tool: %s\n", err.msg);
        goto done;
    }
    if (image_warning(d)) fprintf(stderr, "data_tool: warning: %s\n", image_warning(d));
    printf("%d %d %d %d %d %d\n", px.x0, px.y0, px.w, px.h, px.full_w, px.full_h);
    uint8_t *tight = malloc((size_t)px.w * (size_t)px.h * 3);
    for (int y = 0; y < px.h; y++)
        for (int x = 0; x < px.w; x++)
            memcpy(tight + ((size_t)y * px.w + x) * 3, px.px + (size_t)y * px.stride + 4 * x, 3);
    rc = write_raw(out, tight, (size_t)px.w * (size_t)px.h * 3);
    free(tight);
done:
    pixels_free(&px);
    image_decoder_destroy(d);
    return rc;
}

static int cmd_decode(const char *path, const char *out) {
    ImageDecoder *d = image_decoder_create();
    Error err;
    int w, h;
    if (image_open(d, path, 0, &w, &h, &err) != 0) {
        fprintf(stderr, "data_tool: %s\n", err.msg);
        image_decoder_destroy(d);
        return 1;
    }
    image_decoder_destroy(d);
    return cmd_region(path, 8, 0, 0, w, h, out);
}

/* FILE or PACK@I as an image source; *ds holds the pack (free it after). */
static int open_source(const char *arg, Dataset *ds, ImageSource *src, Error *err) {
    memset(ds, 0, sizeof *ds);
    memset(src, 0, sizeof *src);
    src->name = arg;
    const char *at = strrchr(arg, '@');
    if (!at) return 0;
    char pack[4096];
    snprintf(pack, sizeof pack, "%.*s", (int)(at - arg), arg);
    if (dataset_scan(ds, pack, err) != 0) return -1;
    int64_t i = atoll(at + 1);
    if (i < 0 || i >= ds->n) return error_set(err, "%s has no record %lld", pack, (long long)i);
    return dataset_source(ds, i, src, err);
}

/* INTERP OP MAG [OP MAG] */
static int parse_plan(int argc, char **argv, AugPlan *plan) {
    memset(plan, 0, sizeof *plan);
    if (argc < 1 || argc % 2 != 1 || argc > 1 + 2 * AA_MAX_OPS) return -1;
    plan->bilinear = strcmp(argv[0], "bilinear") == 0;
    for (int k = 1; k < argc; k += 2) {
        int op = autoaug_op_parse(argv[k]);
        if (op < 0) return -1;
        plan->op[plan->n] = (uint8_t)op;
        plan->magnitude[plan->n++] = atof(argv[k + 1]);
    }
    return 0;
}

static int cmd_aa_op(const char *in, int W, int H, const char *out, const char *op_name, double mag,
                     const char *interp) {
    int op = autoaug_op_parse(op_name);
    if (op < 0 || W < 1 || H < 1) return 2;
    size_t n = (size_t)W * (size_t)H;
    uint8_t *rgb = malloc(3 * n), *planes = malloc(3 * n), *scratch = malloc(autoaug_scratch_bytes(W, H));
    FILE *f = fopen(in, "rb");
    int rc = f && fread(rgb, 1, 3 * n, f) == 3 * n ? 0 : 1;
    if (f) fclose(f);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) planes[c * n + i] = rgb[3 * i + c];
        autoaug_op(planes, scratch, W, H, (AugOp)op, mag, strcmp(interp, "bilinear") == 0);
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) rgb[3 * i + c] = planes[c * n + i];
        rc = write_raw(out, rgb, 3 * n);
    } else {
        fprintf(stderr, "data_tool: cannot read %zu bytes from %s\n", 3 * n, in);
    }
    free(rgb);
    free(planes);
    free(scratch);
    return rc;
}

static int cmd_aa_space(const char *policy, int W, int H) {
    int p = autoaug_policy_parse(policy);
    if (p <= 0) return 2;
    for (int op = 0; op < AUG_N_OPS; op++) {
        float v[AA_RA_BINS];
        int is_signed, bins = autoaug_space((AutoAugmentPolicy)p, (AugOp)op, W, H, v, &is_signed);
        printf("%s %d", autoaug_op_name((AugOp)op), is_signed);
        for (int i = 0; i < bins; i++) printf(" %.9g", (double)v[i]);
        printf("\n");
    }
    return 0;
}

static int cmd_aa_draw(const char *policy, int ra_mag, int S, uint64_t seed, int n) {
    int p = autoaug_policy_parse(policy);
    if (p <= 0) return 2;
    for (int i = 0; i < n; i++) {
        AugPlan plan;
        autoaug_draw(&plan, (AutoAugmentPolicy)p, ra_mag, 1, S, seed, 0, (uint32_t)i, 0);
        if (!plan.n) printf("-");
        for (int k = 0; k < plan.n; k++)
            printf("%s%s %.9g", k ? " " : "", autoaug_op_name((AugOp)plan.op[k]), plan.magnitude[k]);
        printf("\n");
    }
    return 0;
}

static int cmd_transform(int argc, char **argv, int train) {
    const char *out = argv[3];
    int S = atoi(argv[4]);
    InputFormat fmt;
    if (parse_fmt(argv[5], &fmt) != 0) return 2;
    SampleConfig cfg = { .image_size = S,
                         .exact = atoi(argv[6]),
                         .resize_size = !train && argc > 7 ? atoi(argv[7]) : 0 };
    SampleWorker *w = sample_worker_create(&cfg);
    size_t bytes = input_sample_bytes(fmt, S);
    void *buf = malloc(bytes);
    Error err;
    int rc;
    Dataset ds;
    ImageSource src;
    if (open_source(argv[2], &ds, &src, &err) != 0) {
        rc = -1;
    } else if (train) {
        if (argc < 19) return 2;
        Augment a = { .crop = { atoi(argv[7]), atoi(argv[8]), atoi(argv[9]), atoi(argv[10]) },
                      .flip = atoi(argv[11]),
                      .jitter = atoi(argv[12]),
                      .factor = { (float)atof(argv[13]), (float)atof(argv[14]), (float)atof(argv[15]) },
                      .order = { (uint8_t)atoi(argv[16]), (uint8_t)atoi(argv[17]), (uint8_t)atoi(argv[18]) } };
        int next = 19;
        if (argc >= 23 && strcmp(argv[19], "aa") != 0) { /* random erasing's box, after normalising */
            a.erase = 1, a.erase_box = (CropBox){ atoi(argv[19]), atoi(argv[20]), atoi(argv[21]), atoi(argv[22]) };
            next = 23;
        }
        if (next < argc && strcmp(argv[next], "aa") == 0 && parse_plan(argc - next - 1, argv + next + 1, &a.aa) != 0)
            return 2;
        rc = sample_train_src(w, &src, NULL, &a, buf, fmt, &err);
    } else {
        rc = sample_eval_src(w, &src, buf, fmt, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "data_tool: %s\n", err.msg);
    } else {
        rc = write_raw(out, buf, bytes);
    }
    free(buf);
    sample_worker_destroy(w);
    dataset_free(&ds);
    return rc;
}

static int cmd_pack(const char *path) {
    Dataset ds;
    Error err;
    if (dataset_scan(&ds, path, &err) != 0 || !ds.pack) {
        fprintf(stderr, "data_tool: %s\n", ds.pack ? err.msg : "not a pack");
        return 2;
    }
    printf("classes %d\n", ds.n_classes);
    for (int c = 0; c < ds.n_classes; c++) printf("%s\n", ds.classes[c]);
    for (int64_t i = 0; i < ds.n; i++) {
        PackRecord r;
        pack_record(ds.pack, i, &r);
        printf("record %lld label %d w %u h %u size %u name %s\n", (long long)i, ds.labels[i], r.width, r.height,
               r.size, ds.pack->names[i]);
    }
    printf("skipped %lld mode %d\n", (long long)ds.pack->skipped, (int)ds.pack->mode);
    dataset_free(&ds);
    return 0;
}

static int cmd_packrec(const char *path, int64_t i, const char *out) {
    Dataset ds;
    ImageSource src;
    Error err;
    char arg[4200];
    snprintf(arg, sizeof arg, "%s@%lld", path, (long long)i);
    int rc = open_source(arg, &ds, &src, &err) == 0 ? write_raw(out, src.data, src.size) : 1;
    if (rc && !src.data) fprintf(stderr, "data_tool: %s\n", err.msg);
    dataset_free(&ds);
    return rc;
}

static int cmd_predict(const char *path, const char *out, int S, const char *fmts, int R) {
    InputFormat fmt;
    if (parse_fmt(fmts, &fmt) != 0) return 2;
    size_t bytes = input_sample_bytes(fmt, S);
    void *buf = malloc(bytes);
    Error err;
    SampleConfig cfg = { .image_size = S, .resize_size = R };
    SampleWorker *w = sample_worker_create(&cfg);
    int rc = sample_eval(w, path, buf, fmt, &err) == 0 ? 0 : 1;
    if (rc != 0) fprintf(stderr, "data_tool: %s\n", err.msg);
    else rc = write_raw(out, buf, bytes);
    sample_worker_destroy(w);
    free(buf);
    return rc;
}

static uint64_t fnv(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static int cmd_loader(int argc, char **argv) {
    if (argc < 8) return 2;
    Dataset ds;
    Error err;
    if (dataset_scan(&ds, argv[2], &err) != 0) {
        fprintf(stderr, "data_tool: %s\n", err.msg);
        return 2;
    }
    LoaderConfig c = { .mode = strcmp(argv[3], "eval") == 0 ? LOADER_EVAL : LOADER_TRAIN,
                       .workers = atoi(argv[4]),
                       .batch = atoi(argv[5]),
                       .image_size = atoi(argv[6]),
                       .strict = atoi(argv[7]),
                       .seed = 7,
                       .color_jitter = 1,
                       .scale_min = 0.08f,
                       .world = argc > 8 ? atoi(argv[8]) : 1,
                       .rank = argc > 9 ? atoi(argv[9]) : 0,
                       .format = INPUT_U8_NHWC };
    int epoch = argc > 10 ? atoi(argv[10]) : 0;
    c.ra_reps = argc > 11 ? atoi(argv[11]) : 0;
    c.balanced = argc > 12 ? atoi(argv[12]) : 0;
    Loader *l = loader_create(&ds, &c, &err);
    if (!l) {
        fprintf(stderr, "data_tool: %s\n", err.msg);
        dataset_free(&ds);
        return 2;
    }
    loader_start_epoch(l, epoch, 0);
    int rc = 0;
    size_t per = input_sample_bytes(c.format, c.image_size);
    for (;;) {
        Batch b;
        int r = loader_next(l, &b, &err);
        if (r < 0) {
            fprintf(stderr, "data_tool: loader failed: %s\n", err.msg);
            rc = 3;
            break;
        }
        if (r == 0) break;
        printf("batch %lld n %d bad %d hash %016llx idx", (long long)b.batch_index, b.n, b.bad,
               (unsigned long long)fnv(b.data, per * (size_t)b.n));
        for (int j = 0; j < b.n; j++) printf(" %lld:%d", (long long)b.indices[j], b.labels[j]);
        printf("\n");
        if (c.ra_reps > 1) { /* each sample's pixels: the copies of an image must differ */
            printf("hashes");
            for (int j = 0; j < b.n; j++)
                printf(" %016llx", (unsigned long long)fnv((const uint8_t *)b.data + per * (size_t)j, per));
            printf("\n");
        }
        loader_release(l, &b);
    }
    printf("bad_files %lld warned %lld\n", (long long)loader_bad_files(l), (long long)loader_warned_files(l));
    loader_destroy(l);
    dataset_free(&ds);
    return rc;
}

static int cmd_speed(const char *dir, int num) {
    Dataset ds;
    Error err;
    if (dataset_scan(&ds, dir, &err) != 0) {
        fprintf(stderr, "data_tool: %s\n", err.msg);
        return 2;
    }
    ImageDecoder *d = image_decoder_create();
    Pixels px = { 0 };
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_seconds();
        for (int64_t i = 0; i < ds.n; i++) {
            int w, h, sw, sh;
            if (image_open(d, ds.paths[i], 0, &w, &h, &err) != 0) continue;
            image_scaled_size(d, num, &sw, &sh);
            image_decode(d, num, 0, 0, sw, sh, &px, &err);
        }
        double r = (double)ds.n / (now_seconds() - t0);
        if (r > best) best = r;
    }
    printf("decode %d/8: %.0f img/s (best of 3, one thread)\n", num, best);
    pixels_free(&px);
    image_decoder_destroy(d);
    dataset_free(&ds);
    return 0;
}

static int cmd_ycck(const char *in, int w, int h, const char *out) {
    size_t n = (size_t)w * (size_t)h * 4;
    uint8_t *px = malloc(n);
    FILE *f = fopen(in, "rb");
    if (!f || fread(px, 1, n, f) != n) return 1;
    fclose(f);
    FILE *o = fopen(out, "wb");
    if (!o) return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, o);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * (size_t)w * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(o);
    free(px);
    return 0;
}

static int cmd_erase_draw(int S, float p, uint64_t seed, int n) {
    for (int k = 0; k < n; k++) {
        AugmentKey key = { .seed = seed, .epoch = 0, .index = (uint32_t)k, .attempt = 0 };
        CropBox b;
        if (erase_draw(&b, S, p, &key)) printf("%d %d %d %d\n", b.i, b.j, b.h, b.w);
        else printf("-\n");
    }
    return 0;
}

static int cmd_mix(char **argv, int argc) {
    InputFormat fmt;
    int S = atoi(argv[5]), n = atoi(argv[6]);
    if (parse_fmt(argv[4], &fmt) != 0 || fmt == INPUT_U8_NHWC || S < 1 || n < 1) return 2;
    size_t bytes = input_sample_bytes(fmt, S) * (size_t)n;
    void *x = xmalloc(bytes), *scratch = xmalloc(input_sample_bytes(fmt, S));
    FILE *f = fopen(argv[2], "rb");
    if (!f || fread(x, 1, bytes, f) != bytes) return fprintf(stderr, "data_tool mix: can't read %s\n", argv[2]), 1;
    fclose(f);
    Mix m = { .kind = MIX_MIXUP, .lam = (float)atof(argv[8]) };
    if (strcmp(argv[7], "cutmix") == 0 && argc == 11) mix_cutmix_box(&m, m.lam, atoi(argv[9]), atoi(argv[10]), S);
    else if (strcmp(argv[7], "mixup") != 0) return 2;
    mix_apply(x, n, S, fmt, &m, scratch);
    printf("%.9g %d %d %d %d\n", (double)m.lam, m.x1, m.y1, m.x2, m.y2);
    int rc = write_raw(argv[3], x, bytes);
    free(x);
    free(scratch);
    return rc;
}

static int cmd_mix_draw(double mixup, double cutmix, int S, uint64_t seed, int n) {
    static const char *kinds[] = { "none", "mixup", "cutmix" };
    for (int k = 0; k < n; k++) {
        Mix m;
        mix_draw(&m, mixup, cutmix, S, seed, (uint32_t)k, 0);
        printf("%s %.9g %d %d %d %d\n", kinds[m.kind], (double)m.lam, m.x1, m.y1, m.x2, m.y2);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *c = argv[1];
    if (strcmp(c, "decode") == 0 && argc == 4) return cmd_decode(argv[2], argv[3]);
    if (strcmp(c, "region") == 0 && argc == 9)
        return cmd_region(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), argv[8]);
    if (strcmp(c, "train") == 0) return cmd_transform(argc, argv, 1);
    if (strcmp(c, "eval") == 0 && (argc == 7 || argc == 8)) return cmd_transform(argc, argv, 0);
    if (strcmp(c, "predict") == 0 && (argc == 6 || argc == 7))
        return cmd_predict(argv[2], argv[3], atoi(argv[4]), argv[5], argc == 7 ? atoi(argv[6]) : 0);
    if (strcmp(c, "loader") == 0) return cmd_loader(argc, argv);
    if (strcmp(c, "speed") == 0 && argc == 4) return cmd_speed(argv[2], atoi(argv[3]));
    if (strcmp(c, "pack") == 0 && argc == 3) return cmd_pack(argv[2]);
    if (strcmp(c, "packrec") == 0 && argc == 5) return cmd_packrec(argv[2], atoll(argv[3]), argv[4]);
    if (strcmp(c, "erase-draw") == 0 && argc == 6)
        return cmd_erase_draw(atoi(argv[2]), (float)atof(argv[3]), strtoull(argv[4], NULL, 10), atoi(argv[5]));
    if (strcmp(c, "mix") == 0 && (argc == 9 || argc == 11)) return cmd_mix(argv, argc);
    if (strcmp(c, "aa-op") == 0 && argc == 9)
        return cmd_aa_op(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], argv[6], atof(argv[7]), argv[8]);
    if (strcmp(c, "aa-space") == 0 && argc == 5) return cmd_aa_space(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (strcmp(c, "aa-draw") == 0 && argc == 7)
        return cmd_aa_draw(argv[2], atoi(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10), atoi(argv[6]));
    if (strcmp(c, "mix-draw") == 0 && argc == 7)
        return cmd_mix_draw(atof(argv[2]), atof(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10), atoi(argv[6]));
    if (strcmp(c, "ycck") == 0 && argc == 6) return cmd_ycck(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    fprintf(stderr, "data_tool: bad command line (see the comment atop tests/data_tool.c)\n");
    return 2;
}
