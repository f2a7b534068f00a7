/*
 * prepare_fmnist.c — `alexnet prepare fashion-mnist`: Debian's
 * dataset-fashion-mnist IDX files to an ImageFolder tree of JPEGs.
 *
 * train-* becomes out/train, t10k-* becomes out/val. Images are written as
 * 28x28 grayscale JPEGs at quality 100 (error at most a few levels; the
 * loader replicates gray to RGB). File names are the index within the split
 * (00000.jpg ...), so folder order is the IDX order. A limit takes the
 * first limit/10 images of each class, so no class folder is left empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/idx.h"
#include "data/jpeg_encode.h"
#include "data/prepare.h"

const char *const FMNIST_CLASSES[10] = { "0-T-shirt_top", "1-Trouser", "2-Pullover", "3-Dress", "4-Coat",
                                         "5-Sandal",      "6-Shirt",   "7-Sneaker",  "8-Bag",   "9-Ankle_boot" };

static int write_split(const FmnistConfig *c, const char *prefix, const char *split, Error *err) {
    char ipath[4096], lpath[4096];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", c->source, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", c->source, prefix);
    IdxArray im, lb;
    if (idx_read(ipath, 3, &im, err) != 0) return -1;
    if (idx_read(lpath, 1, &lb, err) != 0) {
        idx_free(&im);
        return -1;
    }
    int rc = -1;
    int64_t n = im.dims[0];
    int rows = (int)im.dims[1], cols = (int)im.dims[2];
    if (lb.dims[0] != n) {
        error_set(err, "%s has %lld images but %s has %lld labels", ipath, (long long)n, lpath, (long long)lb.dims[0]);
        goto out;
    }
    if (rows > 4096 || cols > 4096) {
        error_set(err, "%s: images of %dx%d pixels are not Fashion-MNIST", ipath, cols, rows);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        if (lb.data[i] > 9) {
            error_set(err, "%s: label %d of image %lld is not a class 0..9", lpath, lb.data[i], (long long)i);
            goto out;
        }
    }
    for (int k = 0; k < 10; k++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s/%s", c->out, split, FMNIST_CLASSES[k]);
        if (mkdir_p(dir, err) != 0) {
            rc = -2;
            goto out;
        }
    }
    /* --limit N: the first N/10 images of each class (file order), so every
     * class gets images; file names stay the IDX index. */
    int64_t *pick = xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1)), m = 0;
    int64_t quota[10];
    for (int k = 0; k < 10; k++) quota[k] = c->limit > 0 ? c->limit / 10 + (k < c->limit % 10) : n;
    for (int64_t i = 0; i < n; i++)
        if (quota[lb.data[i]] > 0) quota[lb.data[i]]--, pick[m++] = i;
    FirstError first = { { { 0 } }, 0 };
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t j = 0; j < m; j++) {
        int64_t i = pick[j];
        if (first_error_seen(&first)) continue;
        char path[4300];
        snprintf(path, sizeof path, "%s/%s/%s/%05lld.jpg", c->out, split, FMNIST_CLASSES[lb.data[i]], (long long)i);
        Error e;
        if (jpeg_write_file(path, im.data + (size_t)i * (size_t)rows * (size_t)cols, cols, rows, 1, FMNIST_QUALITY,
                            &e) != 0) {
            first_error_keep(&first, &e);
        }
    }
    free(pick);
    if (first.failed) {
        if (err) *err = first.err;
        rc = -2;
        goto out;
    }
    if (!c->quiet) printf("prepare: %s: %lld images -> %s/%s/<class>/\n", prefix, (long long)m, c->out, split);
    rc = 0;
out:
    idx_free(&im);
    idx_free(&lb);
    return rc;
}

int prepare_fashion_mnist(const FmnistConfig *c, Error *err) {
    int rc = write_split(c, "train", "train", err);
    return rc != 0 ? rc : write_split(c, "t10k", "val", err);
}
