/*
 * loader.c — the worker pool and batch ring behind loader.h.
 *
 * Work is handed out one sample at a time as a ticket t = b*B + j (batch b,
 * position j), lowest first, so all workers fill the oldest batch together
 * and batches complete in order. Batch b lives in ring slot b % nslots; a
 * worker may start on batch b only when that slot is free (the consumer
 * released batch b - nslots). A sample is written straight into its slot, so
 * nothing is copied after the worker is done with it.
 *
 * Restarts: loader_start_epoch() stops handing out tickets, waits for the
 * samples in flight, then resets the ring; a generation counter marks any
 * late completion as stale.
 */
#include "data/loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "data/image.h"
#include "data/sample.h"
#include "data/transforms.h"

/* A train sample whose file and this many replacements in a row are all bad
 * means the data set is broken, not unlucky: stop instead of spinning. */
#define MAX_REPLACEMENTS 64

enum { FLAG_BAD = 1, FLAG_WARNED = 2 };

typedef struct {
    int64_t batch; /* batch held, -1 when free */
    int n;         /* samples in that batch */
    int done;      /* samples finished */
    int held;      /* handed to the consumer */
    int bad;
    int failed; /* strict mode (or a hopeless train sample): err says why */
    Error err;
    uint8_t *data;    /* [B] samples in cfg.format */
    int32_t *labels;  /* [B] */
    int64_t *indices; /* [B] */
    uint8_t *ok;      /* [B] eval: 0 = skipped bad file */
} Slot;

typedef struct {
    Loader *l;
    SampleWorker *sw;
    pthread_t thread;
} Worker;

struct Loader {
    const Dataset *ds;
    LoaderConfig cfg;
    size_t sample_bytes;
    int64_t first, count; /* this rank's eval range; train: whole set */
    int64_t nbatches;

    int nslots;
    Slot *slots;
    Worker *workers;

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers wait for tickets or free slots */
    pthread_cond_t done_cv; /* consumer waits for batches, start_epoch for idle workers */
    int active, quit, inflight;
    int idle_waiters; /* start_epoch calls waiting for inflight == 0 */
    uint64_t generation;
    uint32_t epoch;
    int64_t *perm; /* [n] train order of the epoch */
    /* cfg.balanced: the samples grouped by class (by_class[class_start[c] .. class_start[c + 1]) are class c's),
     * and the classes that have samples */
    int64_t *by_class, *class_start;
    int32_t *present;
    int n_present;
    int64_t next_ticket, end_ticket, next_batch;

    atomic_uchar *flags; /* [n] FLAG_* per file */
    atomic_llong bad_files, warned_files;
    pthread_mutex_t warn_mu; /* one warning line at a time */
};

static void warn_line(Loader *l, const char *msg) {
    if (l->cfg.quiet) return;
    pthread_mutex_lock(&l->warn_mu);
    warnf("%s", msg);
    pthread_mutex_unlock(&l->warn_mu);
}

static void note_bad(Loader *l, int64_t idx, const Error *e) {
    if (atomic_fetch_or(&l->flags[idx], FLAG_BAD) & FLAG_BAD) return;
    atomic_fetch_add(&l->bad_files, 1);
    char msg[sizeof e->msg + 64];
    snprintf(msg, sizeof msg, "bad image %s (%s)", e->msg,
             l->cfg.mode == LOADER_TRAIN ? "replaced by another sample" : "left out of the evaluation");
    warn_line(l, msg);
}

/* A file used despite a decoder warning: warned once; fatal in strict mode. */
static void note_warning(Loader *l, int64_t idx, const char *w, int *failed, Error *err) {
    if (l->cfg.strict) {
        *failed = 1;
        error_set(err, "%s (strict: refusing a damaged file)", w);
    }
    if (atomic_fetch_or(&l->flags[idx], FLAG_WARNED) & FLAG_WARNED) return;
    atomic_fetch_add(&l->warned_files, 1);
    char msg[sizeof(Error) + 32];
    snprintf(msg, sizeof msg, "%s (decoded anyway)", w);
    warn_line(l, msg);
}

static int64_t samples_in_batch(const Loader *l, int64_t b) {
    int64_t B = l->cfg.batch;
    if (l->cfg.mode == LOADER_TRAIN) return B;
    int64_t left = l->count - b * B;
    return left < B ? left : B;
}

/* Produces sample j of batch b into slot s. Returns the bad files met; on a
 * fatal problem sets *failed and err. */
static int make_sample(Loader *l, SampleWorker *sw, Slot *s, int64_t b, int j, uint32_t epoch, const int64_t *perm,
                       int *failed, Error *err) {
    const LoaderConfig *c = &l->cfg;
    const Dataset *ds = l->ds;
    void *out = s->data + (size_t)j * l->sample_bytes;
    int bad = 0;
    Error e;
    if (c->mode == LOADER_EVAL) {
        int64_t idx = l->first + b * c->batch + j;
        s->indices[j] = idx;
        s->labels[j] = ds->labels[idx];
        s->ok[j] = 1;
        ImageSource src;
        int have = dataset_source(ds, idx, &src, &e) == 0;
        int decoded = have && sample_eval_src(sw, &src, out, c->format, &e) == 0;
        if (have) dataset_source_done(ds, idx);
        if (!decoded) {
            note_bad(l, idx, &e);
            s->ok[j] = 0;
            bad = 1;
            if (c->strict) {
                *failed = 1;
                *err = e;
            }
        } else if (sample_worker_warning(sw)) {
            note_warning(l, idx, sample_worker_warning(sw), failed, err);
        }
        return bad;
    }
    int64_t G = (int64_t)c->batch * c->world, idx;
    uint32_t draw = epoch; /* the augmentation's draw: the epoch, and with repeats the copy within it */
    if (c->ra_reps > 1) {
        /* RASampler: the shuffle with each index repeated ra_reps times in a row, dealt to the ranks in turn
         * (rank r takes entries r, r + world, ...): the copies of an image go to different ranks, or to the
         * same batch on one rank, each with its own augmentation */
        int64_t k = (int64_t)c->rank + (b * c->batch + j) * c->world;
        idx = perm[k / c->ra_reps];
        draw = epoch * (uint32_t)c->ra_reps + (uint32_t)(k % c->ra_reps);
    } else {
        idx = perm[b * G + (int64_t)c->rank * c->batch + j];
    }
    for (uint32_t attempt = 0;; attempt++) {
        int64_t d = idx;
        if (attempt > 0) {
            uint32_t w =
                rng_word(c->seed, RNG_AUGMENT, draw, (uint32_t)idx, (uint64_t)attempt * AUGMENT_WORDS_PER_ATTEMPT - 1);
            d = (int64_t)(((uint64_t)w * (uint64_t)ds->n) >> 32);
        }
        AugmentKey key = { c->seed, draw, (uint32_t)idx, attempt };
        ImageSource src;
        int have = dataset_source(ds, d, &src, &e) == 0;
        int decoded = have && sample_train_src(sw, &src, &key, NULL, out, c->format, &e) == 0;
        if (have) dataset_source_done(ds, d);
        if (decoded) {
            s->indices[j] = d;
            s->labels[j] = ds->labels[d];
            if (sample_worker_warning(sw)) note_warning(l, d, sample_worker_warning(sw), failed, err);
            return bad;
        }
        note_bad(l, d, &e);
        bad++;
        if (c->strict) {
            *failed = 1;
            *err = e;
            return bad;
        }
        if (attempt >= MAX_REPLACEMENTS) {
            *failed = 1;
            error_set(err, "%d bad images in a row while replacing %s (last: %s)", MAX_REPLACEMENTS + 1, ds->paths[idx],
                      e.msg);
            return bad;
        }
    }
}

/* Under mu: can a worker take next_ticket now? Claims the slot if so. */
static Slot *claim(Loader *l, int64_t *b, int *j) {
    if (!l->active || l->next_ticket >= l->end_ticket) return NULL;
    int64_t t = l->next_ticket, B = l->cfg.batch;
    int64_t batch = t / B;
    Slot *s = &l->slots[batch % l->nslots];
    if (s->batch != batch) {
        if (s->batch != -1) return NULL; /* still holds batch - nslots */
        s->batch = batch;
        s->n = (int)samples_in_batch(l, batch);
        s->done = s->bad = s->failed = s->held = 0;
    }
    l->next_ticket++;
    *b = batch;
    *j = (int)(t % B);
    return s;
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    Loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        int64_t b;
        int j;
        Slot *s = NULL;
        while (!l->quit && !(s = claim(l, &b, &j))) pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->quit) break;
        uint64_t gen = l->generation;
        uint32_t epoch = l->epoch;
        const int64_t *perm = l->perm;
        l->inflight++;
        pthread_mutex_unlock(&l->mu);

        int failed = 0;
        Error err = { { 0 } };
        int bad = make_sample(l, w->sw, s, b, j, epoch, perm, &failed, &err);

        pthread_mutex_lock(&l->mu);
        l->inflight--;
        if (gen == l->generation) {
            s->bad += bad;
            if (failed && !s->failed) {
                s->failed = 1;
                s->err = err;
            }
            if (++s->done == s->n) pthread_cond_broadcast(&l->done_cv);
        }
        if (l->inflight == 0 && l->idle_waiters > 0) pthread_cond_broadcast(&l->done_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

Loader *loader_create(const Dataset *ds, const LoaderConfig *cfg, Error *err) {
    return loader_create_opts(ds, cfg, NULL, err);
}

/* A uniform integer in [0, m) from two philox words (64 bits: no visible bias for any m < 2^32). */
static int64_t uniform_below(uint64_t seed, uint32_t epoch, uint64_t at, int64_t m) {
    uint64_t w = ((uint64_t)rng_word(seed, RNG_SHUFFLE, epoch, 1, 2 * at) << 32) |
                 rng_word(seed, RNG_SHUFFLE, epoch, 1, 2 * at + 1);
    return (int64_t)(((unsigned __int128)w * (unsigned __int128)m) >> 64);
}

/* The balanced epoch: draw i picks a class with samples uniformly, then a sample of it uniformly — the
 * distribution of WeightedRandomSampler with weight 1 / (images of the sample's class), with replacement
 * (philox RNG_SHUFFLE, a = epoch, b = 1). */
static void make_balanced(const Loader *l, uint32_t epoch) {
    for (int64_t i = 0; i < l->ds->n; i++) {
        int32_t c = l->present[uniform_below(l->cfg.seed, epoch, 2 * (uint64_t)i, l->n_present)];
        int64_t first = l->class_start[c], count = l->class_start[c + 1] - first;
        l->perm[i] = l->by_class[first + uniform_below(l->cfg.seed, epoch, 2 * (uint64_t)i + 1, count)];
    }
}

/* Groups the samples by class for make_balanced. */
static void group_by_class(Loader *l) {
    const Dataset *ds = l->ds;
    int K = ds->n_classes;
    l->class_start = xcalloc((size_t)K + 1, sizeof *l->class_start);
    l->by_class = xmalloc(sizeof *l->by_class * (size_t)ds->n);
    l->present = xmalloc(sizeof *l->present * (size_t)(K > 0 ? K : 1));
    for (int64_t i = 0; i < ds->n; i++) l->class_start[ds->labels[i] + 1]++;
    for (int c = 0; c < K; c++) {
        if (l->class_start[c + 1] > 0) l->present[l->n_present++] = c;
        l->class_start[c + 1] += l->class_start[c];
    }
    int64_t *fill = xmalloc(sizeof *fill * (size_t)(K > 0 ? K : 1));
    memcpy(fill, l->class_start, sizeof *fill * (size_t)K);
    for (int64_t i = 0; i < ds->n; i++) l->by_class[fill[ds->labels[i]]++] = i;
    free(fill);
}

Loader *loader_create_opts(const Dataset *ds, const LoaderConfig *cfg, const LoaderOptions *opt, Error *err) {
    LoaderConfig c = *cfg;
    LoaderOptions o = { 0 };
    if (opt) o = *opt;
    if (c.world <= 0) c.world = 1;
    if (c.scale_min <= 0.0f) c.scale_min = 0.08f;
    if (o.prefetch <= 0) o.prefetch = 2;
    if (c.max_image_pixels <= 0) c.max_image_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    if (c.batch < 1) return error_set(err, "batch size must be at least 1 (got %d)", c.batch), NULL;
    if (c.ra_reps < 0 || c.ra_reps > 64)
        return error_set(err, "repeated augmentation's copies must be 2 to 64 (got %d)", c.ra_reps), NULL;
    if (c.image_size < LOADER_MIN_IMAGE || c.image_size > LOADER_MAX_IMAGE) {
        error_set(err, "image size must be between %d and %d (got %d)", LOADER_MIN_IMAGE, LOADER_MAX_IMAGE,
                  c.image_size);
        return NULL;
    }
    if (c.workers < 1 || c.workers > 256)
        return error_set(err, "workers must be between 1 and 256 (got %d)", c.workers), NULL;
    if (c.rank < 0 || c.rank >= c.world) return error_set(err, "rank %d is outside 0..%d", c.rank, c.world - 1), NULL;
    if (c.scale_min > 1.0f) return error_set(err, "scale_min must be in (0, 1] (got %g)", c.scale_min), NULL;
    if (c.flip < FLIP_RANDOM || c.flip > FLIP_NONE) return error_set(err, "unknown flip mode %d", c.flip), NULL;
    if (c.format != INPUT_F32_NCHW && c.format != INPUT_F32_NHWC && c.format != INPUT_U8_NHWC)
        return error_set(err, "unknown input format %d", (int)c.format), NULL;
    if (ds->n <= 0) return error_set(err, "data set %s is empty", ds->root ? ds->root : "?"), NULL;
    if (ds->n >= (int64_t)UINT32_MAX) return error_set(err, "data set %s has too many images", ds->root), NULL;

    Loader *l = xcalloc(1, sizeof *l);
    l->ds = ds;
    l->cfg = c;
    l->sample_bytes = input_sample_bytes(c.format, c.image_size);
    if (c.mode == LOADER_TRAIN) {
        int64_t G = (int64_t)c.batch * c.world;
        l->first = 0;
        l->count = ds->n;
        l->nbatches = ds->n / G;
        if (c.ra_reps > 1) /* RASampler's epoch: floor(N / 256) * 256 / world samples a rank */
            l->nbatches = ds->n / 256 * 256 / c.world / c.batch;
        if (l->nbatches == 0 && c.ra_reps > 1) {
            free(l);
            return error_set(err,
                             "%s has %lld images: repeated augmentation (--ra_sampler) takes floor(N / 256) * 256 / "
                             "%d ranks = %lld of them an epoch on each rank (torchvision's RASampler), fewer than "
                             "one batch of %d",
                             ds->root, (long long)ds->n, c.world, (long long)(ds->n / 256 * 256 / c.world), c.batch),
                   NULL;
        }
        if (l->nbatches == 0) {
            free(l);
            return error_set(err, "%s has %lld images, fewer than one global batch of %lld (batch %d x %d ranks)",
                             ds->root, (long long)ds->n, (long long)G, c.batch, c.world),
                   NULL;
        }
        l->perm = xmalloc(sizeof *l->perm * (size_t)ds->n);
        if (c.balanced) group_by_class(l);
    } else {
        l->first = (int64_t)c.rank * ds->n / c.world;
        l->count = (int64_t)(c.rank + 1) * ds->n / c.world - l->first;
        l->nbatches = (l->count + c.batch - 1) / c.batch;
    }
    l->flags = xcalloc((size_t)ds->n, sizeof *l->flags);
    atomic_init(&l->bad_files, 0);
    atomic_init(&l->warned_files, 0);

    l->nslots = o.prefetch + 1;
    l->slots = xcalloc((size_t)l->nslots, sizeof *l->slots);
    for (int i = 0; i < l->nslots; i++) {
        Slot *s = &l->slots[i];
        s->batch = -1;
        s->data = xaligned_alloc(l->sample_bytes * (size_t)c.batch);
        s->labels = xmalloc(sizeof *s->labels * (size_t)c.batch);
        s->indices = xmalloc(sizeof *s->indices * (size_t)c.batch);
        s->ok = xmalloc((size_t)c.batch);
    }
    CHECK(pthread_mutex_init(&l->mu, NULL) == 0, "pthread_mutex_init");
    CHECK(pthread_mutex_init(&l->warn_mu, NULL) == 0, "pthread_mutex_init");
    CHECK(pthread_cond_init(&l->work_cv, NULL) == 0, "pthread_cond_init");
    CHECK(pthread_cond_init(&l->done_cv, NULL) == 0, "pthread_cond_init");

    SampleConfig sc = { .image_size = c.image_size,
                        .scale_min = c.scale_min,
                        .flip = c.flip,
                        .color_jitter = c.color_jitter,
                        .exact = o.exact,
                        .max_pixels = c.max_image_pixels,
                        .resize_size = c.resize_size,
                        .erase_p = c.mode == LOADER_TRAIN ? c.erase_p : 0.0f,
                        .auto_augment = c.mode == LOADER_TRAIN ? c.auto_augment : AA_NONE,
                        .ra_magnitude = c.ra_magnitude,
                        .aa_bilinear = c.aa_bilinear };
    l->workers = xcalloc((size_t)c.workers, sizeof *l->workers);
    for (int i = 0; i < c.workers; i++) {
        l->workers[i].l = l;
        l->workers[i].sw = sample_worker_create(&sc);
        int rc = pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]);
        CHECK(rc == 0, "pthread_create failed (%d)", rc);
    }
    return l;
}

int64_t loader_batches_per_epoch(const Loader *l) { return l->nbatches; }

int64_t loader_images(const Loader *l) { return l->cfg.mode == LOADER_TRAIN ? l->nbatches * l->cfg.batch : l->count; }

/* The epoch's order: Fisher-Yates driven by philox (RNG_SHUFFLE, a = epoch). */
static void make_perm(int64_t *perm, int64_t n, uint64_t seed, uint32_t epoch) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t w = rng_word(seed, RNG_SHUFFLE, epoch, 0, (uint64_t)i);
        int64_t j = (int64_t)(((uint64_t)w * (uint64_t)(i + 1)) >> 32);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void loader_start_epoch(Loader *l, int epoch, int64_t first_batch) {
    CHECK(epoch >= 0, "negative epoch %d", epoch);
    pthread_mutex_lock(&l->mu);
    l->active = 0;
    l->generation++;
    l->idle_waiters++;
    while (l->inflight > 0) pthread_cond_wait(&l->done_cv, &l->mu);
    l->idle_waiters--;
    for (int i = 0; i < l->nslots; i++) {
        l->slots[i].batch = -1;
        l->slots[i].held = 0;
    }
    l->epoch = (uint32_t)epoch;
    if (l->cfg.mode == LOADER_TRAIN && l->cfg.balanced) make_balanced(l, l->epoch);
    else if (l->cfg.mode == LOADER_TRAIN) make_perm(l->perm, l->ds->n, l->cfg.seed, l->epoch);
    if (first_batch < 0) first_batch = 0;
    if (first_batch > l->nbatches) first_batch = l->nbatches;
    int64_t total = l->cfg.mode == LOADER_TRAIN ? l->nbatches * l->cfg.batch : l->count;
    l->next_ticket = first_batch * l->cfg.batch;
    l->end_ticket = total;
    l->next_batch = first_batch;
    l->active = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
}

/* Eval: moves the good samples of a slot to the front. Returns their count. */
static int compact(Loader *l, Slot *s) {
    int m = 0;
    for (int j = 0; j < s->n; j++) {
        if (!s->ok[j]) continue;
        if (m != j) {
            memmove(s->data + (size_t)m * l->sample_bytes, s->data + (size_t)j * l->sample_bytes, l->sample_bytes);
            s->labels[m] = s->labels[j];
            s->indices[m] = s->indices[j];
            s->ok[m] = 1;
        }
        m++;
    }
    return m;
}

int loader_next(Loader *l, Batch *b, Error *err) {
    memset(b, 0, sizeof *b);
    int carried = 0; /* bad files of eval batches that came out empty and were skipped */
    for (;;) {
        pthread_mutex_lock(&l->mu);
        CHECK(l->generation > 0, "loader_next before loader_start_epoch");
        if (l->next_batch >= l->nbatches) {
            pthread_mutex_unlock(&l->mu);
            return 0;
        }
        int64_t want = l->next_batch;
        Slot *s = &l->slots[want % l->nslots];
        while (!(s->batch == want && s->done == s->n)) {
            CHECK(!(s->held && s->batch != want), "loader_next: all %d ring slots are held; release a batch first",
                  l->nslots);
            pthread_cond_wait(&l->done_cv, &l->mu);
        }
        if (s->failed) {
            if (err) *err = s->err;
            pthread_mutex_unlock(&l->mu);
            return -1;
        }
        s->held = 1;
        l->next_batch++;
        pthread_mutex_unlock(&l->mu);

        int n = s->n;
        if (l->cfg.mode == LOADER_EVAL && s->bad > 0) n = compact(l, s);
        b->data = s->data;
        b->batch_index = want;
        if (n == 0) {
            carried += s->bad;
            loader_release(l, b);
            continue;
        }
        b->n = n;
        b->labels = s->labels;
        b->indices = s->indices;
        b->bad = s->bad + carried;
        return 1;
    }
}

void loader_release(Loader *l, Batch *b) {
    if (!b->data) return;
    pthread_mutex_lock(&l->mu);
    Slot *s = &l->slots[b->batch_index % l->nslots];
    if (s->batch == b->batch_index && s->held) {
        s->batch = -1;
        s->held = 0;
        pthread_cond_broadcast(&l->work_cv);
    }
    pthread_mutex_unlock(&l->mu);
    b->data = NULL;
}

int64_t loader_bad_files(const Loader *l) { return atomic_load(&((Loader *)l)->bad_files); }

int64_t loader_warned_files(const Loader *l) { return atomic_load(&((Loader *)l)->warned_files); }

void loader_destroy(Loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    l->active = 0;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->cfg.workers; i++) {
        pthread_join(l->workers[i].thread, NULL);
        sample_worker_destroy(l->workers[i].sw);
    }
    free(l->workers);
    for (int i = 0; i < l->nslots; i++) {
        free(l->slots[i].data);
        free(l->slots[i].labels);
        free(l->slots[i].indices);
        free(l->slots[i].ok);
    }
    free(l->slots);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->warn_mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->done_cv);
    free(l->perm);
    free(l->by_class);
    free(l->class_start);
    free(l->present);
    free((void *)l->flags);
    free(l);
}
