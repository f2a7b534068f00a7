/*
 * run_open.c — assembling a training run (see run.h): the datasets, the
 * model and its validation copy, the loaders and the schedule, the run
 * contract (the fingerprint, compared across ranks and with a resumed
 * state), the run directory; and releasing it all.
 */
#include <stdlib.h>
#include <string.h>

#include "data/transforms.h"
#include "engine/node_scan.h"
#include "io/atomic_file.h"
#include "train/run.h"
#include "train/trainer.h"

/* The datasets; a validation folder may hold a subset of the training
 * classes (matched by name). */
static int open_data(Run *r, Error *err) {
    const TrainConfig *c = &r->c;
    Error val_err = { { 0 } };
    int train_rc = dataset_scan_node(r->d, &r->train, c->data_dir, err);
    int val_rc = dataset_scan_node(r->d, &r->val, c->val_dir, &val_err); /* a collective: also after a failure */
    if (train_rc != 0 || val_rc != 0) {
        if (train_rc == 0) *err = val_err;
        return -1;
    }
    int split_root = r->train.n_classes >= 2 && r->train.n_classes <= 3;
    for (int i = 0; split_root && i < r->train.n_classes; i++) {
        const char *name = r->train.classes[i];
        split_root = strcmp(name, "train") == 0 || strcmp(name, "val") == 0 || strcmp(name, "test") == 0;
    }
    if (split_root)
        return error_set(err,
                         "--data_dir %s holds the folders %s%s%s%s%s: a dataset's splits, not its classes; train on "
                         "--data_dir %s/train --val_dir %s/val (or --data-path %s, torchvision's layout)",
                         c->data_dir, r->train.classes[0], r->train.n_classes > 1 ? " and " : "",
                         r->train.n_classes > 1 ? r->train.classes[1] : "", r->train.n_classes > 2 ? " and " : "",
                         r->train.n_classes > 2 ? r->train.classes[2] : "", c->data_dir, c->data_dir, c->data_dir);
    if (r->train.n_classes < 2)
        return error_set(err,
                         "--data_dir %s has one class folder (%s): a classifier needs at least two. Is it the "
                         "folder of class folders, not one class?",
                         c->data_dir, r->train.classes[0]);
    /* before anything is sized from --per_batch_size */
    if (r->train.n < r->img_global)
        return error_set(err,
                         "--data_dir %s has %lld images: fewer than one global batch of %lld; lower --per_batch_size%s",
                         c->data_dir, (long long)r->train.n, (long long)r->img_global,
                         c->accum_steps > 1 ? " or --accum_steps" : "");
    if (!c->val_dir[0]) return 0;
    r->have_val = 1;
    int *map = xmalloc(sizeof(int) * (size_t)r->val.n_classes);
    for (int i = 0; i < r->val.n_classes; i++) {
        map[i] = -1;
        for (int j = 0; j < r->train.n_classes && map[i] < 0; j++)
            if (strcmp(r->val.classes[i], r->train.classes[j]) == 0) map[i] = j;
        if (map[i] < 0) {
            error_set(err,
                      "--val_dir %s has a class folder '%s' that --data_dir %s lacks; the validation classes must "
                      "be training classes (a subset is fine)",
                      c->val_dir, r->val.classes[i], c->data_dir);
            free(map);
            return -1;
        }
    }
    for (int64_t i = 0; i < r->val.n; i++) r->val.labels[i] = map[r->val.labels[i]];
    free(map);
    return 0;
}

/* --pretrained: the whole model when it was made for these classes; for
 * other classes (another count, or other names) everything but the last
 * layer, which keeps the backbone's initialisation — fine-tuning. */
static int load_pretrained(Run *r, Error *err) {
    const TrainConfig *c = &r->c;
    ModelFile m;
    if (checkpoint_open(c->pretrained, &m, err) != 0) return -1;
    const ModelInfo *info = &m.info;
    int same = info->num_classes == r->train.n_classes;
    for (int i = 0; same && i < info->n_classes_named && i < r->train.n_classes; i++)
        same = strcmp(info->class_names[i], r->train.classes[i]) == 0;
    int rc;
    if (same) {
        rc = checkpoint_load(&m, &r->model.net, r->model.params, err);
    } else {
        const ParamTensor *head = &r->model.net.params[r->model.net.n_params - 1];
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strrchr(head->name, '.') - head->name + 1), head->name);
        rc = checkpoint_load_except(&m, &r->model.net, r->model.params, prefix, err);
        if (rc == 0 && r->is_root)
            printf("fine-tuning: %s was made for %d %sclasses, this data has %d%s; its %.*s layer is replaced by a new "
                   "one "
                   "(initialised as the backbone's), everything else is loaded\n",
                   c->pretrained, info->num_classes, info->n_classes_named ? "named " : "", r->train.n_classes,
                   info->num_classes == r->train.n_classes ? " with other names" : "", (int)strlen(prefix) - 1, prefix);
    }
    checkpoint_close(&m);
    return rc;
}

static int open_model(Run *r, const TrainPosition *resume, Error *err) {
    TrainConfig *c = &r->c;
    if (c->T_max <= 0) c->T_max = c->max_epoch; /* resolved once, kept by resumes */
    /* one GPU per local rank */
    ModelOptions o = { .backbone = c->backbone,
                       .num_classes = r->train.n_classes,
                       .image_size = c->image_size,
                       .eval_resize = -1,
                       .dropout = (float)c->dropout,
                       .freeze = c->freeze,
                       .lr_backbone_scale = c->lr_backbone_scale,
                       .seed = c->seed,
                       .backend = c->backend,
                       .device = c->device,
                       .precision = c->precision,
                       .batch = c->per_batch_size,
                       .threads = c->threads,
                       .local_rank = r->d->local_rank };
    if (model_open(&r->model, &o, err) != 0) return -1;
    snprintf(c->precision, sizeof c->precision, "%s", precision_name(r->model.precision));
    if (r->have_val) {
        /* validation computes what `alexnet eval` of the checkpoint computes: the
         * same inference backend (whose layouts may differ from training's:
         * dnnl bf16), at the validation crop (the weights are size-free: the
         * average pool is adaptive) */
        ModelOptions v = o;
        v.image_size = config_val_crop(c);
        v.freeze = NULL;
        v.no_weights = 1;
        v.inference = 1;
        if (model_open(&r->val_model, &v, err) != 0) return -1;
    }
    if (progressive_init(&r->ramp, c, &r->model.net, err) != 0) return -1;
    r->image_size = c->image_size; /* run_fit_size moves it to the ramp's before the first step */
    size_t P = r->model.net.param_count;
    r->momentum = xaligned_alloc(P * sizeof(float));
    r->logits = xmalloc((size_t)c->per_batch_size * r->model.net.num_classes * sizeof(float));
    if (c->accum_steps > 1) {
        if (strcmp(r->model.backend_name, "cuda") == 0)
            return error_set(err,
                             "--accum_steps %d: gradient accumulation runs on the CPU backends (ref, dnnl); "
                             "the cuda backend does not have it yet: use a larger --per_batch_size or more GPUs",
                             c->accum_steps);
        r->grad_acc = xaligned_alloc(r->model.net.param_count * sizeof(float));
    }
    if (c->mixup_alpha > 0 || c->cutmix_alpha > 0) {
        InputFormat fmt = backend_input_format(&r->model.be);
        if (strcmp(r->model.backend_name, "cuda") == 0 || (fmt != INPUT_F32_NCHW && fmt != INPUT_F32_NHWC))
            return error_set(err,
                             "--mixup_alpha / --cutmix_alpha: MixUp and CutMix run on the CPU backends (ref, "
                             "dnnl); the %s backend does not have them yet",
                             r->model.backend_name);
        r->mix_labels = xmalloc((size_t)c->per_batch_size * sizeof(int32_t));
        r->mix_scratch = xmalloc(input_sample_bytes(fmt, c->image_size));
    }
    /* a resumed run's weights, momentum and average come from its state */
    int rc = !resume && c->pretrained[0] ? load_pretrained(r, err) : 0;
    if (rc == 0 && c->model_ema) /* the average starts as the model, as in torchvision */
        ema_init(&r->ema, r->model.params, P, c->model_ema_decay, r->img_global, c->model_ema_steps, c->max_epoch);
    if (rc == 0 && resume) {
        char *path = path_join(c->out_dir, STATE_FILE);
        r->ema.updates = resume->ema_updates;
        rc = checkpoint_load_state(path, &r->model.net, r->model.params, r->momentum, r->ema.w, err);
        free(path);
    }
    return rc;
}

/* --class_balance loss: w_c = n / (classes with images * images of class c), so the weights average 1 over
 * the training images (scikit-learn's "balanced"); 0 for a class without images. [K], owned. */
static float *class_weights(const Dataset *ds, int K) {
    int64_t *count = xcalloc((size_t)K, sizeof *count);
    for (int64_t i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    int present = 0;
    for (int k = 0; k < K; k++) present += count[k] > 0;
    float *w = xcalloc((size_t)K, sizeof *w);
    for (int k = 0; k < K; k++)
        if (count[k] > 0) w[k] = (float)((double)ds->n / ((double)present * (double)count[k]));
    free(count);
    return w;
}

/* The training loader at crop size. */
static LoaderConfig train_loader_config(const Run *r, int size) {
    const TrainConfig *c = &r->c;
    LoaderConfig train_cfg = { .mode = LOADER_TRAIN,
                               .batch = c->per_batch_size,
                               .image_size = size,
                               .workers = r->workers,
                               .seed = c->seed,
                               .color_jitter = c->color_jitter,
                               .scale_min = (float)c->min_crop_scale,
                               .flip = flip_mode_parse(c->flip),
                               .rank = r->d->rank,
                               .world = r->d->world,
                               .format = backend_input_format(&r->model.be),
                               .max_image_pixels = c->max_image_pixels,
                               .strict = c->strict_data,
                               .erase_p = (float)c->random_erase,
                               .auto_augment = autoaug_policy_parse(c->auto_augment),
                               .ra_magnitude = c->ra_magnitude,
                               .aa_bilinear = strcmp(c->aa_interpolation, "bilinear") == 0,
                               .ra_reps = c->ra_sampler ? c->ra_reps : 0,
                               .balanced = strcmp(c->class_balance, "sampler") == 0 };
    return train_cfg;
}

static int open_loaders(Run *r, Error *err) {
    const TrainConfig *c = &r->c;
    r->workers = c->workers > 0 ? c->workers : cpu_count();
    LoaderConfig train_cfg = train_loader_config(r, r->image_size);
    if (!(r->train_loader = loader_create(&r->train, &train_cfg, err))) return -1;
    r->steps_per_epoch = loader_batches_per_epoch(r->train_loader) / c->accum_steps;
    if (r->steps_per_epoch < 1)
        return error_set(err, "%s: an epoch of %lld batches of %d makes no optimizer step of --accum_steps %d",
                         c->data_dir, (long long)loader_batches_per_epoch(r->train_loader), c->per_batch_size,
                         c->accum_steps);
    if (r->have_val) {
        LoaderConfig val_cfg = train_cfg;
        val_cfg.mode = LOADER_EVAL;
        val_cfg.balanced = 0;
        val_cfg.image_size = config_val_crop(c);
        val_cfg.resize_size = c->val_resize_size;
        val_cfg.format = backend_input_format(&r->val_model.be);
        if (!(r->val_loader = loader_create(&r->val, &val_cfg, err))) return -1;
    }
    LrSchedule *s = &r->sched;
    if (lr_kind_parse(&s->kind, c->lr_scheduler, err) != 0 || lr_milestones_parse(s, c->lr_epochs, 0, err) != 0)
        return -1;
    s->base = c->lr;
    s->eta_min = c->eta_min;
    s->gamma = c->lr_gamma;
    s->warmup_epochs = c->warmup_epochs;
    s->T_max = c->T_max;
    s->steps_per_epoch = r->steps_per_epoch;
    if (lr_per_step(s->kind)) lr_plan(s, (int64_t)c->max_epoch * r->steps_per_epoch);
    r->loss = (LossArgs){ .smoothing = c->label_smooth ? (float)c->label_smooth_factor : 0.0f,
                          .form = strcmp(c->smoothing_form, "torch") == 0 ? SMOOTH_TORCH : SMOOTH_SEED,
                          .global_batch = (int)r->img_global };
    if (strcmp(c->class_balance, "loss") == 0) {
        if (strcmp(r->model.backend_name, "cuda") == 0)
            return error_set(err, "--class_balance loss: the cuda backend has no class weights yet; use "
                                  "--class_balance sampler, or a CPU backend");
        r->class_weight = class_weights(&r->train, r->model.net.num_classes);
        r->loss.class_weight = r->class_weight;
    }
    return 0;
}

static void make_fingerprint(Run *r) {
    RunFingerprint *f = &r->fp;
    memset(f, 0, sizeof *f);
    f->world_size = r->d->world;
    f->global_batch = (int)r->img_global;
    f->train_images = r->train.n;
    f->train_files_hash = fingerprint_files(&r->train);
    f->num_classes = r->train.n_classes;
    f->classes_hash = fingerprint_classes(r->train.classes, r->train.n_classes);
    f->val_images = r->have_val ? r->val.n : -1;
    f->val_files_hash = r->have_val ? fingerprint_files(&r->val) : 0;
    f->param_count = (int64_t)r->model.net.param_count;
    snprintf(f->backbone, sizeof f->backbone, "%s", r->model.net.backbone);
}

/* The saved position and sums, checked against this run before anything is
 * trained: the same model, classes, global batch and data. */
static int restore_position(Run *r, const TrainPosition *pos, int allow_data_change, Error *err) {
    r->epoch = pos->epoch;
    r->batch = pos->batch;
    r->step = pos->step;
    r->best = pos->best_top1;
    if (pos->run_json) { /* states from before the fingerprint have none: nothing to compare */
        RunFingerprint saved;
        char *plan = NULL;
        int rc = run_record_parse(pos->run_json, &saved, &r->epoch_sums, &r->window, &plan, err);
        if (rc == 0 && plan && budget_set(&r->budget)) rc = budget_from_json(&r->budget, &r->sched, plan, err);
        free(plan);
        if (rc != 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return error_set(err, "%s/%s: %s", r->c.out_dir, STATE_FILE, msg);
        }
        if (fingerprint_check_resume(&saved, &r->fp, allow_data_change, r->c.out_dir, err) != 0) return -1;
    }
    if (allow_data_change && r->batch > r->steps_per_epoch)
        r->batch = r->steps_per_epoch; /* fewer images now: this epoch is over */
    int consistent = allow_data_change || (int64_t)pos->epoch * r->steps_per_epoch + pos->batch == pos->step;
    if (pos->epoch < 0 || r->batch < 0 || r->batch > r->steps_per_epoch || pos->step < 0 || !consistent ||
        !(pos->best_top1 >= -1 && pos->best_top1 <= 1))
        return error_set(err,
                         "%s/%s: the saved position (epoch %d, batch %lld, step %lld) does not fit this run's "
                         "%lld steps per epoch; the file is damaged, or the data changed",
                         r->c.out_dir, STATE_FILE, pos->epoch, (long long)pos->batch, (long long)pos->step,
                         (long long)r->steps_per_epoch);
    return 0;
}

static void attach_allreduce(Run *r) {
    if (r->d->world > 1 && backend_has_comm(&r->model.be)) {
        Error err = { { 0 } };
        uint8_t id[COMM_ID_BYTES] = { 0 };
        if (r->is_root && backend_comm_create_id(&r->model.be, id, &err) != 0) FATAL("%s", err.msg);
        dist_bcast(r->d, id, sizeof id, 0);
        if (backend_comm_init(&r->model.be, r->d->rank, r->d->world, id, &err) != 0) FATAL("%s", err.msg);
        r->backend_comm = 1;
    } else {
        dist_grads_attach(r->d, &r->model.net, backend_grad_buffer(&r->model.be), GRAD_BUCKET_BYTES);
    }
    r->allreduce_attached = 1;
}

int run_fit_size(Run *r, Error *err) {
    if (!progressive_on(&r->ramp)) return 0;
    int size = progressive_size(&r->ramp, lr_progress(&r->sched, r->step));
    if (size == r->image_size) return 0;
    double t0 = now_seconds();
    int failed = model_resize(&r->model, size, r->momentum, err) != 0;
    loader_destroy(r->train_loader);
    r->train_loader = NULL;
    LoaderConfig cfg = train_loader_config(r, size);
    failed = failed || !(r->train_loader = loader_create(&r->train, &cfg, err));
    if (dist_any(r->d, failed)) { /* every rank resizes at the same step: they stop together */
        if (!failed) error_set(err, "progressive resizing to %d px failed on another rank", size);
        return -1;
    }
    loader_start_epoch(r->train_loader, r->epoch, r->batch * r->c.accum_steps);
    if (r->allreduce_attached) attach_allreduce(r); /* the new backend's gradient buffer */
    int from = r->image_size;
    r->image_size = size;
    if (r->is_root && r->allreduce_attached)
        progress_line(&r->prog,
                      "progressive resizing: %d -> %d px at step %lld (schedule %.0f%% through; %.2f s to "
                      "rebuild)\n",
                      from, size, (long long)r->step, 100.0 * lr_progress(&r->sched, r->step), now_seconds() - t0);
    return 0;
}

/* Every rank reaches the agreement points, so a problem on any rank stops
 * all of them cleanly. */
/* Rank 0, while the run starts: what it is doing, flushed at once (a scan of
 * a large tree takes a while, and silence looks like a hang). */
static void starting(const Run *r, const char *what, const char *where) {
    if (!r->is_root) return;
    printf("alexnet train: %s %s ...\n", what, where);
    fflush(stdout);
}

/* "auto" precision is resolved once and kept by resumes (config.json stores
 * it); on the CPU it is a measurement (dnnl_probe.c), which ranks on
 * different machines could answer differently: rank 0's answer is everyone's.
 * Asked before anything can fail, so that every rank reaches the broadcast. */
static void resolve_precision(Run *r) {
    TrainConfig *c = &r->c;
    if (strcmp(c->precision, "auto") != 0 || r->d->world < 2) return;
    int p = (int)backend_auto_precision(c->backend[0] ? c->backend : backend_default(c->device, NULL), NULL, NULL, 0);
    dist_bcast(r->d, &p, sizeof p, 0);
    snprintf(c->precision, sizeof c->precision, "%s", precision_name((Precision)p));
}

int run_open(Run *r, const TrainPosition *resume, int allow_data_change, Error *err) {
    double t0 = now_seconds();
    resolve_precision(r);
    r->img_global = (int64_t)r->c.per_batch_size * r->d->world * r->c.accum_steps;
    budget_open(r);
    starting(r, "scanning", r->c.data_dir);
    int failed = open_data(r, err) != 0;
    double t_data = now_seconds();
    if (!failed) starting(r, "building the model,", resume ? "loading its state" : "initialising it");
    failed = failed || open_model(r, resume, err) != 0 || open_loaders(r, err) != 0;
    r->startup_seconds[0] = t_data - t0;
    r->startup_seconds[1] = now_seconds() - t_data;
    if (!failed) {
        make_fingerprint(r);
        if (resume) failed = restore_position(r, resume, allow_data_change, err) != 0;
        else r->best = -1.0;
    }
    if (dist_any(r->d, failed)) return 2;
    if (fingerprint_check_ranks(r->d, &r->fp, r->c.data_dir, err) != 0) return 2;
    report_placement(r);

    size_t P = r->model.net.param_count;
    dist_bcast(r->d, r->model.params, P * sizeof(float), 0);
    dist_bcast(r->d, r->momentum, P * sizeof(float), 0);
    backend_set_params(&r->model.be, r->model.params);
    backend_set_momentum(&r->model.be, r->momentum);
    if (run_fit_size(r, err) != 0) return 2; /* the size of the step it starts at */

    failed = 0;
    if (r->is_root) {
        char *path = path_join(r->c.out_dir, "metrics.jsonl");
        failed = mkdir_p(r->c.out_dir, err) != 0 || run_write_config(r, err) != 0 ||
                 metrics_open(&r->metrics, path, resume ? r->step : -1, err) != 0;
        free(path);
        r->metrics_open = !failed;
        if (!failed && r->c.tensorboard && !(r->tb = tb_open(r->c.out_dir, resume ? r->step + 1 : 0, err))) failed = 1;
        int stale = failed ? 0 : atomic_remove_stale(r->c.out_dir); /* of a process killed while saving */
        if (stale)
            notef("removed %d temporary file%s left in %s by a run that was killed while saving", stale,
                  stale == 1 ? "" : "s", r->c.out_dir);
        if (!failed) {
            report_summary(r, resume != NULL);
            if (resume)
                printf("resuming at epoch %d, batch %lld (step %lld)\n", r->epoch + 1, (long long)r->batch,
                       (long long)r->step);
            fflush(stdout);
        }
    }
    if (dist_any(r->d, failed)) return 2;
    attach_allreduce(r);
    progress_init(&r->prog, r->is_root, r->c.log_interval);
    /* mpirun hands ranks a pseudo-terminal even when its own output is a file: plain lines there */
    if (r->d->world > 1) r->prog.tty = 0;
    r->time_base = r->is_root ? metrics_last_time(&r->metrics) : 0.0;
    r->t_session = now_seconds();
    return 0;
}

void run_close(Run *r) {
    if (r->train_loader) loader_destroy(r->train_loader);
    if (r->val_loader) loader_destroy(r->val_loader);
    model_close(&r->model);
    model_close(&r->val_model);
    if (r->metrics_open) metrics_close(&r->metrics);
    tb_close(r->tb);
    dataset_free(&r->train);
    dataset_free(&r->val); /* zeroed when there is no validation */
    free(r->momentum);
    free(r->logits);
    free(r->grad_acc);
    free(r->mix_labels);
    free(r->mix_scratch);
    free(r->class_weight);
    ema_free(&r->ema);
    progressive_free(&r->ramp);
}
