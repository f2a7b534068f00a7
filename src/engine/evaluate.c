/*
 * evaluate.c — the evaluation loop (see evaluate.h).
 */
#include "engine/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/transforms.h"

int label_rank(const float *z, int k, int label) {
    float t = z[label];
    if (!isfinite(t)) return k;
    int rank = 0;
    for (int j = 0; j < k; j++) rank += z[j] > t || (j < label && z[j] == t);
    return rank;
}

double label_xent(const float *z, int k, int label) {
    if (!isfinite(z[label])) return INFINITY;
    double m = z[label];
    for (int j = 0; j < k; j++)
        if (z[j] > m) m = z[j];
    double sum = 0.0;
    for (int j = 0; j < k; j++) sum += exp((double)z[j] - m);
    return log(sum) + m - (double)z[label];
}

int predicted_class(const float *z, int k, int label) {
    if (label_rank(z, k, label) == 0) return label;
    int best = -1; /* the largest other logit: something outranked the label */
    for (int j = 0; j < k; j++)
        if (j != label && !isnan(z[j]) && (best < 0 || z[j] > z[best])) best = j;
    if (best >= 0) return best;
    return label == 0 && k > 1 ? 1 : 0; /* every other logit NaN: the first other class */
}

int evaluate(Backend *be, Loader *loader, Dist *d, float *logits, EvalCounts *out, Error *err) {
    EvalOptions plain = { 0 };
    return evaluate_tta(be, loader, d, logits, &plain, out, err);
}

typedef struct {
    int on, tty, last_tenth;
    double t0, last_draw;
    int64_t total; /* this rank's images */
    int64_t shown; /* images in the last line drawn (-1: none) */
} EvalProgress;

static void progress_show(EvalProgress *p, int64_t done, int final) {
    if (!p->on) return;
    double now = now_seconds(), rate = done / (now - p->t0 > 1e-9 ? now - p->t0 : 1e-9);
    int tenth = p->total ? (int)(10 * done / p->total) : 10;
    if (p->tty ? !final && now - p->last_draw < 0.5 : tenth == p->last_tenth && !final) return;
    if (final && !p->tty && done == p->shown) return; /* the last tenth's line said it already */
    p->last_draw = now;
    p->shown = done;
    p->last_tenth = tenth;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "%sevaluating: %lld/%lld images, %.0f img/s, ETA %.0f s%s", p->tty ? "\r\033[K" : "",
            (long long)done, (long long)p->total, rate, eta, p->tty && !final ? "" : "\n");
    fflush(stderr);
}

int evaluate_tta(Backend *be, Loader *loader, Dist *d, float *logits, const EvalOptions *opt, EvalCounts *out,
                 Error *err) {
    int flip = opt->flip;
    EvalPerClass *pc = opt->per_class;
    EvalProgress prog = { .on = opt->progress,
                          .tty = isatty(fileno(stderr)),
                          .t0 = now_seconds(),
                          .total = loader_images(loader),
                          .shown = -1 };
    memset(out, 0, sizeof *out);
    int K = be->net->num_classes, size = be->net->image_size;
    InputFormat fmt = backend_input_format(be);
    void *mirrored = flip ? xaligned_alloc(input_sample_bytes(fmt, size) * (size_t)be->max_batch) : NULL;
    float *logits_flip = flip ? xmalloc(sizeof(float) * (size_t)K * (size_t)be->max_batch) : NULL;
    loader_start_epoch(loader, 0, 0);
    Batch b;
    int rc, failed = 0;
    ForwardArgs inference = { .train = 0 };
    while ((rc = loader_next(loader, &b, err)) == 1) {
        if (b.n > 0) {
            backend_forward(be, b.data, b.n, &inference);
            backend_read_logits(be, logits, b.n);
            if (flip) {
                input_mirror(mirrored, b.data, b.n, size, fmt);
                backend_forward(be, mirrored, b.n, &inference);
                backend_read_logits(be, logits_flip, b.n);
                tta_mean(logits, logits_flip, (size_t)b.n * (size_t)K);
            }
            for (int i = 0; i < b.n; i++) {
                const float *z = logits + (size_t)i * K;
                int label = b.labels[i], r = label_rank(z, K, label);
                out->correct1 += r < 1;
                out->correct5 += r < 5;
                out->loss_sum += label_xent(z, K, label);
                if (pc) {
                    int p = predicted_class(z, K, label);
                    pc->counts[label]++;
                    pc->counts[K + label] += r < 1;
                    pc->counts[2 * K + label] += r < 5;
                    pc->counts[3 * K + p]++;
                    if (pc->confusion) pc->confusion[(size_t)label * (size_t)K + (size_t)p]++;
                }
            }
            out->images += b.n;
        }
        out->skipped += b.bad;
        progress_show(&prog, out->images + out->skipped, 0);
        loader_release(loader, &b);
    }
    free(mirrored);
    free(logits_flip);
    if (rc < 0) failed = 1;
    else progress_show(&prog, out->images + out->skipped, 1);
    /* every rank reaches the sum, also one that failed, so none waits forever */
    int64_t v[5] = { out->images, out->correct1, out->correct5, out->skipped, failed };
    dist_sum_i64(d, v, 5);
    out->images = v[0];
    out->correct1 = v[1];
    out->correct5 = v[2];
    out->skipped = v[3];
    dist_sum_doubles(d, &out->loss_sum, 1);
    if (pc) {
        dist_sum_i64(d, pc->counts, 4 * K);
        if (pc->confusion) dist_sum_i64(d, pc->confusion, K * K);
    }
    if (v[4] && !failed) return error_set(err, "evaluation failed on another rank (bad file with --strict_data)");
    return failed ? -1 : 0;
}
