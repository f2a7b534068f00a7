/*
 * test_data_loader.c — the dataset scan and the loader's contracts:
 * ImageFolder order, scan errors, RandomResizedCrop parameter ranges, the
 * flip modes (random, alternate, none),
 * bit-identical batches for 1, 2 and 4 workers, sharding (2 ranks x B/2 ==
 * 1 rank x B, sample for sample), eval coverage, mid-epoch resume, restart
 * and shutdown while workers are busy, output formats agreeing.
 */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/prepare.h"
#include "data/transforms.h"
#include "harness.h"

static char root[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *p) { nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void touch(const char *dir, const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char d[512];
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = 0;
    Error e;
    CHECK(mkdir_p(d, &e) == 0, "%s", e.msg);
    FILE *f = fopen(p, "wb");
    CHECK(f, "cannot create %s", p);
    fputs("x", f);
    fclose(f);
}

static const char *rel(const Dataset *ds, int64_t i) { return ds->paths[i] + strlen(ds->root) + 1; }

static void test_scan(void) {
    char d[128];
    snprintf(d, sizeof d, "%s/scan", root);
    const char *files[] = { "b_cls/x.JPG",     "b_cls/sub/y.png",   "b_cls/a-b/q.jpg", "b_cls/a/z.jpeg",
                            "b_cls/a/w/v.jpg", "b_cls/.hidden.jpg", "b_cls/notes.txt", "b_cls/.hid/z.jpg",
                            "a_cls/1.jpeg",    "a_cls/0.jpg",       ".git/c.jpg",      "B_upper/k.Png" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(d, files[i]);
    touch(d, "readme.txt");
    Dataset ds;
    Error err = { { 0 } };
    int rc = dataset_scan(&ds, d, &err);
    EXPECT(rc == 0, "scan failed: %s", err.msg);
    if (rc != 0) return;
    EXPECT(ds.n_classes == 3, "%d classes", ds.n_classes);
    /* Byte order, like Python's sorted(): uppercase first. */
    EXPECT(strcmp(ds.classes[0], "B_upper") == 0 && strcmp(ds.classes[1], "a_cls") == 0 &&
               strcmp(ds.classes[2], "b_cls") == 0,
           "class order %s %s %s", ds.classes[0], ds.classes[1], ds.classes[2]);
    /* torchvision: sorted(os.walk(class dir)) then sorted(file names). */
    const char *want[] = { "B_upper/k.Png",  "a_cls/0.jpg",     "a_cls/1.jpeg",    "b_cls/x.JPG",
                           "b_cls/a/z.jpeg", "b_cls/a-b/q.jpg", "b_cls/a/w/v.jpg", "b_cls/sub/y.png" };
    int32_t labels[] = { 0, 1, 1, 2, 2, 2, 2, 2 };
    EXPECT(ds.n == 8, "%lld images", (long long)ds.n);
    for (int64_t i = 0; i < ds.n && i < 8; i++) {
        EXPECT(strcmp(rel(&ds, i), want[i]) == 0, "image %lld is %s, expected %s", (long long)i, rel(&ds, i), want[i]);
        EXPECT(ds.labels[i] == labels[i], "label of %s is %d", rel(&ds, i), ds.labels[i]);
    }
    dataset_free(&ds);

    char p[256];
    snprintf(p, sizeof p, "%s/missing", root);
    EXPECT(dataset_scan(&ds, p, &err) == -1 && strstr(err.msg, p), "missing folder: %s", err.msg);
    snprintf(p, sizeof p, "%s/readme.txt", d);
    EXPECT(dataset_scan(&ds, p, &err) == -1 && strstr(err.msg, "not a folder"), "file as folder: %s", err.msg);
    snprintf(p, sizeof p, "%s/a_cls", d);
    EXPECT(dataset_scan(&ds, p, &err) == -1 && strstr(err.msg, "no class folders"), "no classes: %s", err.msg);
    snprintf(p, sizeof p, "%s/empty/c1", root);
    touch(p, "x.jpg");
    snprintf(p, sizeof p, "%s/empty/c2/sub", root);
    touch(p, "notes.txt");
    snprintf(p, sizeof p, "%s/empty", root);
    EXPECT(dataset_scan(&ds, p, &err) == -1 && strstr(err.msg, "/empty/c2") && strstr(err.msg, "no images"),
           "empty class: %s", err.msg);
    if (geteuid() != 0) { /* root reads any folder */
        snprintf(p, sizeof p, "%s/empty/c2", root);
        chmod(p, 0);
        snprintf(p, sizeof p, "%s/empty", root);
        EXPECT(dataset_scan(&ds, p, &err) == -1 && strstr(err.msg, "cannot read folder"), "unreadable: %s", err.msg);
        snprintf(p, sizeof p, "%s/empty/c2", root);
        chmod(p, 0755);
    }
}

static void test_rrc(void) {
    int W = 500, H = 375, fallback = 0, flips = 0, orders[6] = { 0 };
    double min_area = 1, max_area = 0;
    for (uint32_t i = 0; i < 4000; i++) {
        AugmentKey k = { 42, 3, i, 0 };
        Augment a;
        augment_draw(&a, W, H, 0.08f, 1, FLIP_RANDOM, &k);
        CropBox c = a.crop;
        EXPECT(c.i >= 0 && c.j >= 0 && c.h > 0 && c.w > 0 && c.i + c.h <= H && c.j + c.w <= W, "box %d %d %d %d", c.i,
               c.j, c.h, c.w);
        double area = (double)c.w * c.h / (W * H), ratio = (double)c.w / c.h;
        if (area < min_area) min_area = area;
        if (area > max_area) max_area = area;
        /* w and h are rounded, so the ratio may leave [3/4, 4/3] by a pixel's worth. */
        double slack = 1.0 / c.h + 1.0 / c.w;
        EXPECT(ratio >= 0.75 * (1 - slack) - 1e-9 && ratio <= 4.0 / 3.0 * (1 + slack) + 1e-9, "ratio %g of %dx%d",
               ratio, c.w, c.h);
        if (c.w == W && c.h == H) fallback++;
        flips += a.flip;
        for (int f = 0; f < 3; f++) EXPECT(a.factor[f] >= 0.6f && a.factor[f] < 1.4f, "factor %g", a.factor[f]);
        int code = a.order[0] * 9 + a.order[1] * 3 + a.order[2];
        int codes[6] = { 0 * 9 + 1 * 3 + 2, 0 * 9 + 2 * 3 + 1, 1 * 9 + 0 * 3 + 2,
                         1 * 9 + 2 * 3 + 0, 2 * 9 + 0 * 3 + 1, 2 * 9 + 1 * 3 + 0 };
        int found = 0;
        for (int o = 0; o < 6; o++)
            if (code == codes[o]) orders[o]++, found = 1;
        EXPECT(found, "order %d %d %d is not a permutation", a.order[0], a.order[1], a.order[2]);
        Augment b;
        augment_draw(&b, W, H, 0.08f, 1, FLIP_RANDOM, &k);
        EXPECT(memcmp(&a, &b, sizeof a) == 0, "same key, different draw");
    }
    EXPECT(min_area < 0.1 && min_area >= 0.079 && max_area > 0.9, "area range [%g, %g]", min_area, max_area);
    EXPECT(flips > 1800 && flips < 2200, "%d flips of 4000", flips);
    for (int o = 0; o < 6; o++) EXPECT(orders[o] > 500, "order %d drawn %d times of 4000", o, orders[o]);
    (void)fallback;
    /* A 1000x10 strip never fits a 3/4..4/3 box of >= 8% area: the fallback is
     * the centre crop with the ratio clamped: h = 10, w = round(10 * 4/3). */
    AugmentKey k = { 1, 0, 0, 0 };
    CropBox c = rrc_params(1000, 10, 0.08f, &k);
    EXPECT(c.h == 10 && c.w == 13 && c.i == 0 && c.j == (1000 - 13) / 2, "fallback %d %d %d %d", c.i, c.j, c.h, c.w);
    c = rrc_params(10, 1000, 0.08f, &k);
    EXPECT(c.w == 10 && c.h == 13 && c.j == 0 && c.i == (1000 - 13) / 2, "fallback %d %d %d %d", c.i, c.j, c.h, c.w);
    /* scale_min = 1: the whole image (within rounding) whenever the ratio allows. */
    c = rrc_params(400, 400, 1.0f, &k);
    EXPECT(c.w * c.h >= 400 * 400 * 0.98 || (c.w == 400 && c.h == 400), "scale 1 box %dx%d", c.w, c.h);
}

/* --flip: alternate is random at draw 0 (the same draws as random), then
 * each image the opposite of its previous draw; the rest of the sample's
 * draws do not depend on the mode; none never flips. */
static void test_flip_modes(void) {
    int first = 0, mismatched = 0, other = 0, flipped_none = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        Augment r0, a[4], nf;
        AugmentKey k0 = { 7, 0, i, 0 };
        augment_draw(&r0, 64, 64, 0.08f, 1, FLIP_RANDOM, &k0);
        for (uint32_t e = 0; e < 4; e++) {
            AugmentKey k = { 7, e, i, 0 };
            augment_draw(&a[e], 64, 64, 0.08f, 1, FLIP_ALTERNATE, &k);
            Augment r;
            augment_draw(&r, 64, 64, 0.08f, 1, FLIP_RANDOM, &k);
            augment_draw(&nf, 64, 64, 0.08f, 1, FLIP_NONE, &k);
            flipped_none += nf.flip;
            mismatched += a[e].flip != (r0.flip ^ (int)(e & 1u));
            r.flip = a[e].flip;
            other += memcmp(&r, &a[e], sizeof r) != 0;
        }
        first += a[0].flip;
    }
    EXPECT(mismatched == 0, "alternate: %d draws are not the first draw's flip xor the epoch's parity", mismatched);
    EXPECT(first > 900 && first < 1100, "alternate: %d of 2000 flipped at epoch 0", first);
    EXPECT(other == 0, "the flip mode changed %d samples' other draws", other);
    EXPECT(flipped_none == 0, "none: %d flips", flipped_none);
    EXPECT(flip_mode_parse("alternate") == FLIP_ALTERNATE && flip_mode_parse("random") == FLIP_RANDOM &&
               flip_mode_parse("none") == FLIP_NONE && flip_mode_parse("sometimes") < 0,
           "flip_mode_parse");
}

typedef struct {
    int n;
    int64_t index;
    int64_t *idx;
    int32_t *lab;
    uint8_t *data;
} Saved;

/* Runs one epoch (from first_batch) and keeps every batch. */
static int run_epoch(const Dataset *ds, LoaderConfig c, int epoch, int64_t first_batch, Saved *out, int max) {
    Error err;
    Loader *l = loader_create(ds, &c, &err);
    CHECK(l, "loader_create: %s", err.msg);
    loader_start_epoch(l, epoch, first_batch);
    size_t per = input_sample_bytes(c.format, c.image_size);
    int k = 0;
    Batch b;
    int r;
    while ((r = loader_next(l, &b, &err)) == 1) {
        CHECK(k < max, "too many batches");
        Saved *s = &out[k++];
        s->n = b.n;
        s->index = b.batch_index;
        s->idx = xmalloc(sizeof *s->idx * (size_t)b.n);
        s->lab = xmalloc(sizeof *s->lab * (size_t)b.n);
        s->data = xmalloc(per * (size_t)b.n);
        memcpy(s->idx, b.indices, sizeof *s->idx * (size_t)b.n);
        memcpy(s->lab, b.labels, sizeof *s->lab * (size_t)b.n);
        memcpy(s->data, b.data, per * (size_t)b.n);
        loader_release(l, &b);
    }
    EXPECT(r == 0, "loader_next failed: %s", err.msg);
    EXPECT(loader_bad_files(l) == 0, "%lld bad files", (long long)loader_bad_files(l));
    loader_destroy(l);
    return k;
}

static void free_saved(Saved *s, int n) {
    for (int i = 0; i < n; i++) {
        free(s[i].idx);
        free(s[i].lab);
        free(s[i].data);
    }
}

static int same(const Saved *a, const Saved *b, size_t per) {
    return a->n == b->n && a->index == b->index && memcmp(a->idx, b->idx, sizeof *a->idx * (size_t)a->n) == 0 &&
           memcmp(a->lab, b->lab, sizeof *a->lab * (size_t)a->n) == 0 &&
           memcmp(a->data, b->data, per * (size_t)a->n) == 0;
}

enum { MAXB = 64 };

static void test_loader(const Dataset *ds) {
    LoaderConfig c = { .mode = LOADER_TRAIN,
                       .batch = 8,
                       .image_size = 32,
                       .workers = 1,
                       .seed = 5,
                       .color_jitter = 1,
                       .scale_min = 0.08f,
                       .world = 1,
                       .format = INPUT_U8_NHWC };
    size_t per = input_sample_bytes(c.format, c.image_size);
    Saved w1[MAXB], w[MAXB], e1[MAXB];
    int n1 = run_epoch(ds, c, 0, 0, w1, MAXB);
    EXPECT(n1 == (int)(ds->n / 8), "%d train batches for %lld images of batch 8", n1, (long long)ds->n);

    /* Epoch order: a permutation, the last partial batch dropped. */
    int *seen = xcalloc((size_t)ds->n, sizeof *seen);
    for (int b = 0; b < n1; b++)
        for (int j = 0; j < w1[b].n; j++) seen[w1[b].idx[j]]++;
    int once = 0, twice = 0;
    for (int64_t i = 0; i < ds->n; i++) once += seen[i] == 1, twice += seen[i] > 1;
    EXPECT(once == n1 * 8 && twice == 0, "epoch visits %d images once, %d more than once", once, twice);
    free(seen);
    for (int b = 0; b < n1; b++)
        for (int j = 0; j < w1[b].n; j++) EXPECT(w1[b].lab[j] == ds->labels[w1[b].idx[j]], "label mismatch");

    /* Same batches, bit for bit, with 2 and 4 workers (and a deeper ring). */
    for (int workers = 2; workers <= 4; workers *= 2) {
        c.workers = workers;
        int n = run_epoch(ds, c, 0, 0, w, MAXB);
        int ok = n == n1;
        for (int b = 0; ok && b < n; b++) ok = same(&w1[b], &w[b], per);
        EXPECT(ok, "epoch 0 with %d workers differs from 1 worker", workers);
        free_saved(w, n);
    }
    c.workers = 2;

    /* Another epoch: another order and other augmentations. */
    int ne = run_epoch(ds, c, 1, 0, e1, MAXB);
    EXPECT(ne == n1 && memcmp(e1[0].idx, w1[0].idx, 8 * sizeof(int64_t)) != 0, "epoch 1 has epoch 0's order");
    free_saved(e1, ne);

    /* Resume mid-epoch: batches 3.. are the same as in the full epoch. */
    int nr = run_epoch(ds, c, 0, 3, w, MAXB);
    int ok = nr == n1 - 3;
    for (int b = 0; ok && b < nr; b++) ok = same(&w[b], &w1[b + 3], per);
    EXPECT(ok, "resume from batch 3 differs from the uninterrupted epoch");
    free_saved(w, nr);

    /* Sharding: 2 ranks of batch 4 see the samples 1 rank of batch 8 sees, augmented the same. */
    Saved r[2][MAXB];
    int nrk[2];
    for (int rank = 0; rank < 2; rank++) {
        LoaderConfig cr = c;
        cr.batch = 4;
        cr.world = 2;
        cr.rank = rank;
        nrk[rank] = run_epoch(ds, cr, 0, 0, r[rank], MAXB);
    }
    ok = nrk[0] == n1 && nrk[1] == n1;
    for (int b = 0; ok && b < n1; b++)
        for (int rank = 0; rank < 2; rank++)
            for (int j = 0; j < 4; j++) {
                int k = rank * 4 + j;
                ok = ok && r[rank][b].idx[j] == w1[b].idx[k] &&
                     memcmp(r[rank][b].data + per * (size_t)j, w1[b].data + per * (size_t)k, per) == 0;
            }
    EXPECT(ok, "2 ranks x batch 4 differ from 1 rank x batch 8");
    free_saved(r[0], nrk[0]);
    free_saved(r[1], nrk[1]);

    /* Output formats agree: float = normalised bytes. */
    LoaderConfig cf = c;
    cf.format = INPUT_F32_NCHW;
    Saved f[MAXB];
    int nf = run_epoch(ds, cf, 0, 0, f, MAXB);
    cf.format = INPUT_F32_NHWC;
    Saved h[MAXB];
    int nh = run_epoch(ds, cf, 0, 0, h, MAXB);
    int S = c.image_size;
    double worst = 0;
    for (int b = 0; b < nf && b < nh && b < 2; b++) {
        for (int j = 0; j < 8; j++) {
            const uint8_t *u = w1[b].data + per * (size_t)j;
            const float *fc = (const float *)f[b].data + (size_t)j * 3 * S * S;
            const float *fh = (const float *)h[b].data + (size_t)j * 3 * S * S;
            for (int p = 0; p < S * S; p++)
                for (int ch = 0; ch < 3; ch++) {
                    float want = ((float)u[3 * p + ch] / 255.0f - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
                    worst = fmax(worst, fabs(fc[ch * S * S + p] - want));
                    worst = fmax(worst, fabs(fh[3 * p + ch] - want));
                }
        }
    }
    EXPECT(worst == 0, "float formats differ from the normalised bytes by %g", worst);
    free_saved(f, nf);
    free_saved(h, nh);
    free_saved(w1, n1);

    /* Eval: every image exactly once over 3 ranks, contiguous ranges, last batch partial. */
    int *count = xcalloc((size_t)ds->n, sizeof *count);
    for (int rank = 0; rank < 3; rank++) {
        LoaderConfig ce = c;
        ce.mode = LOADER_EVAL;
        ce.batch = 7;
        ce.world = 3;
        ce.rank = rank;
        Saved e[MAXB];
        int ne2 = run_epoch(ds, ce, 0, 0, e, MAXB);
        int64_t lo = rank * ds->n / 3, hi = (rank + 1) * ds->n / 3, next = lo;
        EXPECT(ne2 == (int)((hi - lo + 6) / 7), "rank %d: %d eval batches", rank, ne2);
        for (int b = 0; b < ne2; b++) {
            EXPECT(e[b].n == (b < ne2 - 1 ? 7 : (int)(hi - lo - 7 * (ne2 - 1))), "eval batch %d has %d", b, e[b].n);
            for (int j = 0; j < e[b].n; j++) {
                EXPECT(e[b].idx[j] == next, "rank %d eval sample %lld, expected %lld", rank, (long long)e[b].idx[j],
                       (long long)next);
                count[e[b].idx[j]]++;
                next++;
            }
        }
        free_saved(e, ne2);
    }
    int bad = 0;
    for (int64_t i = 0; i < ds->n; i++) bad += count[i] != 1;
    EXPECT(bad == 0, "%d images not visited exactly once in eval", bad);
    free(count);

    /* Restart and shut down while the workers are busy: no hang, no leak (ASan). */
    Error err;
    c.workers = 3;
    Loader *l = loader_create(ds, &c, &err);
    CHECK(l, "%s", err.msg);
    loader_start_epoch(l, 0, 0);
    Batch b1, b2;
    EXPECT(loader_next(l, &b1, &err) == 1, "first batch");
    EXPECT(loader_next(l, &b2, &err) == 1, "second batch held with the first");
    loader_release(l, &b1);
    loader_start_epoch(l, 1, 2); /* b2 is dropped by the restart */
    EXPECT(loader_next(l, &b1, &err) == 1 && b1.batch_index == 2, "restart at batch 2");
    loader_release(l, &b1);
    loader_destroy(l); /* mid-epoch, workers still filling */

    /* Bad configurations are refused with a message. */
    LoaderConfig badc = c;
    badc.batch = 0;
    EXPECT(!loader_create(ds, &badc, &err) && strstr(err.msg, "batch"), "batch 0: %s", err.msg);
    badc = c;
    badc.world = 2;
    badc.rank = 2;
    EXPECT(!loader_create(ds, &badc, &err) && strstr(err.msg, "rank"), "rank 2 of 2: %s", err.msg);
    badc = c;
    badc.batch = (int)ds->n + 1;
    EXPECT(!loader_create(ds, &badc, &err) && strstr(err.msg, "global batch"), "batch > n: %s", err.msg);
}

/* Eval with a batch of nothing but bad files: skipped, its count carried on. */
/* --class_balance sampler's epochs (here under the sanitizers; the draws' statistics and the training runs are
 * recipe_class_balance's): as many batches as a shuffled epoch, every draw an image of the set with its label,
 * and an epoch started at a later batch gives the same batches from there. */
static void test_balanced(const Dataset *ds) {
    LoaderConfig c = { .mode = LOADER_TRAIN,
                       .batch = 8,
                       .image_size = 32,
                       .workers = 2,
                       .seed = 5,
                       .scale_min = 0.08f,
                       .world = 1,
                       .format = INPUT_U8_NHWC,
                       .balanced = 1 };
    size_t per = input_sample_bytes(c.format, c.image_size);
    Saved all[MAXB], tail[MAXB];
    int n = run_epoch(ds, c, 1, 0, all, MAXB);
    EXPECT(n == (int)(ds->n / 8), "balanced: %d batches for %lld images of batch 8", n, (long long)ds->n);
    for (int b = 0; b < n; b++)
        for (int j = 0; j < all[b].n; j++)
            EXPECT(all[b].idx[j] >= 0 && all[b].idx[j] < ds->n && all[b].lab[j] == ds->labels[all[b].idx[j]],
                   "balanced: draw %lld of batch %d", (long long)all[b].idx[j], b);
    int m = run_epoch(ds, c, 1, 3, tail, MAXB);
    EXPECT(m == n - 3, "balanced from batch 3: %d batches", m);
    for (int b = 0; b < m && b + 3 < n; b++) EXPECT(same(&all[b + 3], &tail[b], per), "balanced: batch %d", b + 3);
    free_saved(all, n);
    free_saved(tail, m);
}

static void test_empty_eval_batch(const Dataset *good) {
    char d[160], p[256];
    snprintf(d, sizeof d, "%s/emptybatch", root);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "a_bad/%d.jpg", i);
        touch(d, p); /* one byte: not an image */
    }
    snprintf(p, sizeof p, "%s/b_good", d);
    Error e;
    CHECK(mkdir_p(p, &e) == 0, "%s", e.msg);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/b_good/%d.jpg", d, i);
        FILE *in = fopen(good->paths[i], "rb"), *out = fopen(p, "wb");
        CHECK(in && out, "copy %s", p);
        int ch;
        while ((ch = fgetc(in)) != EOF) fputc(ch, out);
        fclose(in);
        fclose(out);
    }
    Dataset ds;
    Error err;
    CHECK(dataset_scan(&ds, d, &err) == 0, "%s", err.msg);
    LoaderConfig c = {
        .mode = LOADER_EVAL, .batch = 3, .image_size = 16, .workers = 2, .world = 1, .format = INPUT_U8_NHWC, .quiet = 1
    };
    Loader *l = loader_create(&ds, &c, &err);
    CHECK(l, "%s", err.msg);
    loader_start_epoch(l, 0, 0);
    Batch b;
    int total = 0, batches = 0, bad = 0, first_index = -1;
    while (loader_next(l, &b, &err) == 1) {
        if (first_index < 0) first_index = (int)b.batch_index;
        total += b.n;
        bad += b.bad;
        batches++;
        loader_release(l, &b);
    }
    EXPECT(total == 5 && batches == 2 && bad == 3 && first_index == 1,
           "empty eval batch: %d samples in %d batches, %d bad, first batch %d", total, batches, bad, first_index);
    EXPECT(loader_bad_files(l) == 3, "%lld bad files", (long long)loader_bad_files(l));
    loader_destroy(l);
    dataset_free(&ds);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/alexnet_test_loader_XXXXXX");
    CHECK(mkdtemp(root), "mkdtemp");
    test_scan();
    test_rrc();
    test_flip_modes();

    char d[128];
    snprintf(d, sizeof d, "%s/syn", root);
    SyntheticConfig sc = { .out = d, .classes = 3, .per_class = 20, .width = 80, .height = 60, .seed = 3 };
    Error err;
    CHECK(prepare_synthetic(&sc, &err) == 0, "%s", err.msg);
    Dataset ds;
    CHECK(dataset_scan(&ds, d, &err) == 0, "%s", err.msg);
    EXPECT(ds.n == 60 && ds.n_classes == 3, "synthetic set: %lld images, %d classes", (long long)ds.n, ds.n_classes);
    test_loader(&ds);
    test_balanced(&ds);
    test_empty_eval_batch(&ds);
    dataset_free(&ds);
    rm_rf(root);
    return test_summary("test_data_loader");
}
