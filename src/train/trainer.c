/*
 * trainer.c — the training loop (see trainer.h), in the order a run lives:
 * open (data, model, backend, the run contract, the run directory), then per
 * epoch the steps and the end of the epoch (evaluate, checkpoint, plot), then
 * close.
 *
 * Exactness: every random choice is a function of (seed, epoch, sample) or
 * (seed, step, layer, element), the loader can start an epoch at any batch,
 * and the saved state holds parameters, momentum, the position and the
 * running sums of the metrics. So a run resumed from any saved state replays
 * bit for bit what the uninterrupted run would have done (same machine, same
 * thread count), its metrics included.
 */
#include "train/trainer.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "io/atomic_file.h"
#include "io/curves_svg.h"
#include "io/metrics.h"
#include "engine/evaluate.h"
#include "train/fingerprint.h"
#include "train/lr_schedule.h"
#include "engine/model_open.h"
#include "train/progress.h"

static volatile sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
    if (g_interrupted) _exit(128 + sig); /* a second Ctrl-C: stop now */
    g_interrupted = 1;
}

/* Everything a run holds; released in run_close. */
typedef struct {
    TrainConfig c;
    Dist *d;
    int is_root; /* rank 0: prints and writes the run directory */
    Dataset train, val;
    int have_val;
    Model model;     /* the net, its weights (params) and the backend */
    Model val_model; /* validation runs here: built for inference at --val_crop_size, as eval builds it (has_backend
                        iff there is validation); it gets the weights before each validation */
    Loader *train_loader, *val_loader;
    float *momentum, *logits;
    float *ema;          /* [param_count] the weights' moving average (--model_ema), else NULL */
    int64_t ema_updates; /* 0: the next update copies the weights */
    double ema_decay;    /* per update, after torchvision's adjustment */
    MetricsLog metrics;
    int metrics_open;
    LrSchedule sched;
    LossArgs loss;
    int workers, backend_comm;
    int64_t steps_per_epoch;
    int64_t img_global; /* images per step over all ranks */
    RunFingerprint fp;
    /* position */
    int epoch;
    int64_t batch, step;
    double best;
    RunSums epoch_sums, window;
    /* timing */
    double time_base, t_session, end_seconds;
    Progress prog;
} Run;

/* A failure while running, from whichever rank met it (errorf names the rank). */
static void report(Run *r, const char *msg) {
    progress_done(&r->prog);
    errorf("%s", msg);
}

/* ------------------------------------------------------------ the state */

/* Rank 0 writes the model files of a finished epoch (or an interruption). */
/* best: NULL, or the weights that just became the best (the model's or its
 * EMA, best_kind "raw" or "ema"). */
static int save_model_files(Run *r, int epochs_done, const float *best, const char *best_kind, Error *err) {
    const TrainConfig *c = &r->c;
    char path[4200];
    backend_get_params(&r->model.be, r->model.params);
    path_join(path, sizeof path, c->out_dir, "last.safetensors");
    if (checkpoint_save_model(path, &r->model.net, r->model.params, r->train.classes, epochs_done, r->step, NULL,
                              err) != 0)
        return -1;
    if (best && c->save_best) {
        path_join(path, sizeof path, c->out_dir, "best.safetensors");
        if (checkpoint_save_model(path, &r->model.net, best, r->train.classes, epochs_done, r->step,
                                  r->ema ? best_kind : NULL, err) != 0)
            return -1;
    }
    if (c->ckpt_interval > 0 && epochs_done > 0 && epochs_done % c->ckpt_interval == 0) {
        char name[64];
        snprintf(name, sizeof name, "epoch_%d.safetensors", epochs_done);
        path_join(path, sizeof path, c->out_dir, name);
        if (checkpoint_save_model(path, &r->model.net, r->model.params, r->train.classes, epochs_done, r->step, NULL,
                                  err) != 0)
            return -1;
    }
    return 0;
}

static int save_state(Run *r, Error *err) {
    char path[4200];
    backend_get_params(&r->model.be, r->model.params);
    backend_get_momentum(&r->model.be, r->momentum);
    TrainPosition pos = { r->epoch,
                          r->batch,
                          r->step,
                          r->best,
                          config_to_json(&r->c),
                          run_record_to_json(&r->fp, &r->epoch_sums, &r->window),
                          r->ema_updates };
    path_join(path, sizeof path, r->c.out_dir, STATE_FILE);
    int rc = checkpoint_save_state(path, &r->model.net, r->model.params, r->momentum, r->ema, &pos, err);
    free(pos.config_json);
    free(pos.run_json);
    return rc;
}

/* ------------------------------------------------------------ opening */

/* The datasets; a validation folder may hold a subset of the training
 * classes (matched by name). */
static int open_data(Run *r, Error *err) {
    const TrainConfig *c = &r->c;
    if (dataset_scan(&r->train, c->data_dir, err) != 0) return -1;
    if (r->train.n_classes < 2)
        return error_set(err,
                         "--data_dir %s has one class folder (%s): a classifier needs at least two. Is it the "
                         "folder of class folders, not one class?",
                         c->data_dir, r->train.classes[0]);
    if (!c->val_dir[0]) return 0;
    if (dataset_scan(&r->val, c->val_dir, err) != 0) return -1;
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
    /* one GPU per local rank; "auto" precision is resolved once and kept by resumes (config.json stores it) */
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
    size_t P = r->model.net.param_count;
    r->momentum = xaligned_alloc(P * sizeof(float));
    r->logits = xmalloc((size_t)c->per_batch_size * r->model.net.num_classes * sizeof(float));
    if (c->model_ema) {
        /* torchvision's train.py: alpha = min(1, (1 - decay) * global batch * steps / epochs) */
        double adjust = (double)c->per_batch_size * r->d->world * c->model_ema_steps / c->max_epoch;
        double alpha = (1.0 - c->model_ema_decay) * adjust;
        r->ema_decay = 1.0 - (alpha < 1.0 ? alpha : 1.0);
        r->ema = xaligned_alloc(P * sizeof(float));
    }
    if (resume) {
        char path[4200];
        path_join(path, sizeof path, c->out_dir, STATE_FILE);
        r->ema_updates = resume->ema_updates;
        return checkpoint_load_state(path, &r->model.net, r->model.params, r->momentum, r->ema, err);
    }
    int rc = c->pretrained[0] ? load_pretrained(r, err) : 0;
    if (r->ema)
        memcpy(r->ema, r->model.params, P * sizeof(float)); /* the average starts as the model, as in torchvision */
    return rc;
}

/* One EMA update from the backend's current weights: torch's lerp form,
 * ema += (1 - decay) * (w - ema); the first update (and every one during the
 * warmup epochs, as torchvision resets its count there) copies the weights. */
static void ema_update(Run *r) {
    backend_get_params(&r->model.be, r->model.params);
    size_t P = r->model.net.param_count;
    float w = (float)(1.0 - r->ema_decay);
    if (r->ema_updates == 0) {
        memcpy(r->ema, r->model.params, P * sizeof(float));
    } else {
        float *restrict e = r->ema;
        const float *restrict p = r->model.params;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < P; i++) e[i] += w * (p[i] - e[i]);
    }
    r->ema_updates = r->epoch < r->c.warmup_epochs ? 0 : r->ema_updates + 1;
}

static int open_loaders(Run *r, Error *err) {
    const TrainConfig *c = &r->c;
    r->workers = c->workers > 0 ? c->workers : cpu_count();
    LoaderConfig train_cfg = { LOADER_TRAIN,
                               c->per_batch_size,
                               c->image_size,
                               r->workers,
                               c->seed,
                               c->color_jitter,
                               (float)c->min_crop_scale,
                               r->d->rank,
                               r->d->world,
                               backend_input_format(&r->model.be),
                               c->max_image_pixels,
                               c->strict_data,
                               0,
                               0 };
    if (!(r->train_loader = loader_create(&r->train, &train_cfg, err))) return -1;
    r->steps_per_epoch = loader_batches_per_epoch(r->train_loader);
    r->img_global = (int64_t)c->per_batch_size * r->d->world;
    if (r->steps_per_epoch < 1)
        return error_set(err,
                         "--data_dir %s has %lld images: fewer than one global batch of %lld; lower --per_batch_size",
                         c->data_dir, (long long)r->train.n, (long long)r->img_global);
    if (r->have_val) {
        LoaderConfig val_cfg = train_cfg;
        val_cfg.mode = LOADER_EVAL;
        val_cfg.image_size = config_val_crop(c);
        val_cfg.resize_size = c->val_resize_size;
        val_cfg.format = backend_input_format(&r->val_model.be);
        if (!(r->val_loader = loader_create(&r->val, &val_cfg, err))) return -1;
    }
    LrSchedule *s = &r->sched;
    if (lr_kind_parse(&s->kind, c->lr_scheduler, err) != 0 || lr_milestones_parse(s, c->lr_epochs, err) != 0) return -1;
    s->base = c->lr;
    s->eta_min = c->eta_min;
    s->gamma = c->lr_gamma;
    s->warmup_epochs = c->warmup_epochs;
    s->T_max = c->T_max;
    s->steps_per_epoch = r->steps_per_epoch;
    r->loss = (LossArgs){ c->label_smooth ? (float)c->label_smooth_factor : 0.0f,
                          strcmp(c->smoothing_form, "torch") == 0 ? SMOOTH_TORCH : SMOOTH_SEED, (int)r->img_global };
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
        if (run_record_parse(pos->run_json, &saved, &r->epoch_sums, &r->window, err) != 0) {
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

/* config.json: the effective configuration (what this run really uses),
 * typed, with the class list and the fingerprint. */
static int write_config_json(Run *r, Error *err) {
    TrainConfig eff = r->c;
    eff.val_crop_size = config_val_crop(&r->c);
    eff.threads = r->model.threads;
    eff.workers = r->workers;
    char dropout[32];
    snprintf(dropout, sizeof dropout, "%g", r->model.net.dropout); /* the float's shortest decimal, not its double */
    eff.dropout = strtod(dropout, NULL);
    snprintf(eff.backend, sizeof eff.backend, "%s", r->model.backend_name);
    snprintf(eff.precision, sizeof eff.precision, "%s", r->model.precision == PRECISION_BF16 ? "bf16" : "fp32");
    cJSON *o = config_to_cjson(&eff);
    cJSON_AddNumberToObject(o, "num_classes", r->train.n_classes);
    cJSON *classes = cJSON_AddArrayToObject(o, "classes");
    for (int i = 0; i < r->train.n_classes; i++) cJSON_AddItemToArray(classes, cJSON_CreateString(r->train.classes[i]));
    cJSON_AddNumberToObject(o, "steps_per_epoch", (double)r->steps_per_epoch);
    char *fp = fingerprint_to_json(&r->fp);
    cJSON_AddItemToObject(o, "fingerprint", cJSON_Parse(fp));
    free(fp);
    cJSON_AddStringToObject(o, "version", "alexnet.c " ALX_VERSION);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    CHECK(text, "cJSON_Print failed");
    char path[4200];
    path_join(path, sizeof path, r->c.out_dir, "config.json");
    int rc = atomic_write_text(path, text, err);
    free(text);
    return rc;
}

/* What --freeze and --lr_backbone_scale leave training, and the backward work a freeze saves. */
static void print_training_set(const Run *r) {
    const TrainConfig *c = &r->c;
    const Net *n = &r->model.net;
    if (strcmp(c->freeze, "none") != 0) {
        Net all = *n;
        Error ignored = { { 0 } };
        net_set_training(&all, "none", 1.0, &ignored);
        double fwd = net_forward_macs(n), bwd = net_backward_macs(n), bwd_all = net_backward_macs(&all);
        printf("  trains     --freeze %s: %.2f M of %.1f M parameters (frozen: no gradient, momentum or weight decay); "
               "backward %.2f instead of %.2f GFLOP/image, a step %.0f%% less work\n",
               c->freeze, net_trained_count(n) / 1e6, n->param_count / 1e6, 2 * bwd / 1e9, 2 * bwd_all / 1e9,
               100.0 * (bwd_all - bwd) / (fwd + bwd_all));
        if (!c->pretrained[0])
            printf("  note       --freeze %s without --pretrained keeps those layers at their random initialisation\n",
                   c->freeze);
    }
    if (c->lr_backbone_scale != 1.0)
        printf("  trains     lr x %g for every trained layer but the last (%s)\n", c->lr_backbone_scale,
               n->layers[n->n_layers - 1].name);
}

static void print_summary(const Run *r, int resumed) {
    const TrainConfig *c = &r->c;
    const Net *n = &r->model.net;
    char sched[512];
    lr_describe(&r->sched, sched, sizeof sched);
    printf("alexnet train: %lld images in %d classes (%s)", (long long)r->train.n, r->train.n_classes, c->data_dir);
    if (r->have_val) printf(", validation %lld images (%s)", (long long)r->val.n, c->val_dir);
    printf("\n  model      %s, %dx%d input, %d classes, dropout %.2f, %.1f M parameters, %.2f GFLOP/image forward\n",
           n->backbone, n->image_size, n->image_size, n->num_classes, n->dropout, n->param_count / 1e6,
           2 * net_forward_macs(n) / 1e9);
    if (r->have_val) {
        int crop = config_val_crop(c), R = c->val_resize_size;
        if (R) printf("  validation shorter side resized to %d, center crop %d\n", R, crop);
        else
            printf("  validation resized to %dx%d, center crop %d\n", eval_resize_size(crop), eval_resize_size(crop),
                   crop);
    }
    printf("  backend    %s, %s, %d threads, %d loader workers\n", r->model.backend_name,
           r->model.precision == PRECISION_BF16 ? "bf16" : "fp32", r->model.threads, r->workers);
    printf("  batch      %d per process x %d process%s = %lld global; %lld steps per epoch, %d epochs\n",
           c->per_batch_size, r->d->world, r->d->world > 1 ? "es" : "", (long long)r->img_global,
           (long long)r->steps_per_epoch, c->max_epoch);
    printf("  schedule   %s\n", sched);
    printf("  loss       softmax cross-entropy, label smoothing %g (%s form)\n",
           c->label_smooth ? c->label_smooth_factor : 0.0, c->smoothing_form);
    printf("  optimizer  SGD momentum %g, weight decay %g on weights only\n", c->momentum, c->weight_decay);
    print_training_set(r);
    printf("  run dir    %s\n", c->out_dir);
    /* the seed's lr 0.13 is for 2048 images per step; linear scaling gives the rest */
    double scaled = 0.13 * (double)r->img_global / 2048.0;
    if (c->lr > 0 && (c->lr > 2 * scaled || c->lr < 0.5 * scaled))
        printf("  note       lr %g at a global batch of %lld is %.2gx the seed's rate per image (0.13 at 2048); the "
               "linear-scaling rule gives %.4g\n",
               c->lr, (long long)r->img_global, c->lr / scaled, scaled);
    if (!resumed && c->warmup_epochs > 0 && c->warmup_epochs >= c->max_epoch)
        warnf("--warmup_epochs %g is not shorter than the run (--max_epoch %d): the lr rises for the whole run and "
              "never reaches --lr %g; lower --warmup_epochs",
              c->warmup_epochs, c->max_epoch, c->lr);
    if (r->sched.kind == LR_COSINE_ANNEALING && c->T_max < c->max_epoch)
        printf("  note       T_max %d < max_epoch %d: after epoch %d the seed's cosine rises again\n", c->T_max,
               c->max_epoch, c->T_max);
    fflush(stdout);
}

/* Where each rank runs, one line per rank from rank 0: on a cluster the first
 * thing to check (two ranks on one node, a GPU shared, threads over cores). */
static void print_placement(Run *r) {
    Dist *d = r->d;
    if (d->world == 1) return;
    char cpus[128], dev[32], line[DIST_LINE_LEN];
    dist_cpu_list(cpus, sizeof cpus);
    if (strcmp(r->c.device, "gpu") == 0) snprintf(dev, sizeof dev, "GPU %d", d->local_rank);
    else snprintf(dev, sizeof dev, "CPU");
    snprintf(line, sizeof line, "%s: local rank %d of %d, pid %d, %s, compute threads %d on CPUs %s",
             dist_host(d, d->rank), d->local_rank, d->local_world, (int)getpid(), dev, r->model.threads, cpus);
    if (r->is_root)
        printf("alexnet train: %d processes on %d node%s\n", d->world, dist_node_count(d),
               dist_node_count(d) > 1 ? "s" : "");
    dist_print_lines(d, line, "  rank ");
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
        dist_grads_attach(r->d, &r->model.net, backend_grad_buffer(&r->model.be), 25u << 20);
    }
}

/* Everything up to the first step. Returns 0, or 2 (a user error; err is set
 * on the ranks that met one, empty on the others). Every rank reaches the
 * agreement points, so a problem on any rank stops all of them cleanly. */
static int run_open(Run *r, const TrainPosition *resume, int allow_data_change, Error *err) {
    int failed = open_data(r, err) != 0 || open_model(r, resume, err) != 0 || open_loaders(r, err) != 0;
    if (!failed) {
        make_fingerprint(r);
        if (resume) failed = restore_position(r, resume, allow_data_change, err) != 0;
        else r->best = -1.0;
    }
    if (dist_any(r->d, failed)) return 2;
    if (fingerprint_check_ranks(r->d, &r->fp, r->c.data_dir, err) != 0) return 2;
    print_placement(r);

    size_t P = r->model.net.param_count;
    dist_bcast(r->d, r->model.params, P * sizeof(float), 0);
    dist_bcast(r->d, r->momentum, P * sizeof(float), 0);
    backend_set_params(&r->model.be, r->model.params);
    backend_set_momentum(&r->model.be, r->momentum);

    failed = 0;
    if (r->is_root) {
        char path[4200];
        path_join(path, sizeof path, r->c.out_dir, "metrics.jsonl");
        failed = mkdir_p(r->c.out_dir, err) != 0 || write_config_json(r, err) != 0 ||
                 metrics_open(&r->metrics, path, resume ? r->step : -1, err) != 0;
        r->metrics_open = !failed;
        if (!failed) {
            print_summary(r, resume != NULL);
            if (resume)
                printf("resuming at epoch %d, batch %lld (step %lld)\n", r->epoch + 1, (long long)r->batch,
                       (long long)r->step);
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

static void run_close(Run *r) {
    if (r->train_loader) loader_destroy(r->train_loader);
    if (r->val_loader) loader_destroy(r->val_loader);
    model_close(&r->model);
    model_close(&r->val_model);
    if (r->metrics_open) metrics_close(&r->metrics);
    dataset_free(&r->train);
    if (r->have_val) dataset_free(&r->val);
    free(r->momentum);
    free(r->logits);
    free(r->ema);
}

/* ------------------------------------------------------------ one epoch */

/* What the ranks sum after each step, in one small all-reduce, so that all of
 * them agree to stop (a non-finite loss or Ctrl-C on any rank). */
typedef union {
    struct {
        double loss, nonfinite, interrupted, correct, images;
    };
    double all[5];
} StepSums;
_Static_assert(sizeof(StepSums) == 5 * sizeof(double), "StepSums is summed as an array");

static void add_sums(RunSums *s, const StepSums *step, double seconds) {
    s->loss += step->loss;
    s->steps++;
    s->correct += (int64_t)step->correct;
    s->seen += (int64_t)step->images;
    s->seconds += seconds;
}

/* A step record from the window, which then starts afresh. */
static void log_window(Run *r, double lr) {
    RunSums *w = &r->window;
    if (w->steps == 0) return;
    MetricRecord m = { .is_epoch = 0,
                       .step = r->step,
                       .epoch = r->epoch + 1,
                       .loss = w->loss / (double)w->steps,
                       .lr = lr,
                       .img_s = w->seconds > 0 ? (double)w->steps * (double)r->img_global / w->seconds : 0.0,
                       .time = r->time_base + now_seconds() - r->t_session,
                       .train_top1 = w->seen ? (double)w->correct / (double)w->seen : -1.0,
                       .val_loss = NAN,
                       .top1 = -1,
                       .top5 = -1,
                       .ema_top1 = -1,
                       .ema_top5 = -1 };
    if (r->is_root) metrics_add(&r->metrics, &m);
    memset(w, 0, sizeof *w);
}

static void print_divergence(Run *r, double loss) {
    if (!r->is_root) return;
    char path[4200];
    path_join(path, sizeof path, r->c.out_dir, "last.safetensors");
    progress_done(&r->prog);
    errorf("the loss is not finite (%g) at step %lld (epoch %d, batch %lld/%lld); stopping. %s%s. Try a lower --lr or "
           "a longer --warmup_epochs.",
           loss, (long long)r->step + 1, r->epoch + 1, (long long)r->batch + 1, (long long)r->steps_per_epoch,
           path_exists(path) ? "The last good checkpoint is kept: "
                             : "No checkpoint was saved yet (the first comes at "
                               "the end of epoch 1, or with --save_every_steps)",
           path_exists(path) ? path : "");
}

/* Forward, backward and the gradients' all-reduce of one batch, and the sums
 * the ranks agree on; the update waits for that agreement. */
static StepSums train_step(Run *r, const Batch *b) {
    Dist *d = r->d;
    int K = r->model.net.num_classes;
    ForwardArgs train = { 1, (uint64_t)r->step, (uint64_t)d->rank * (uint64_t)r->c.per_batch_size };
    backend_forward(&r->model.be, b->data, b->n, &train);
    backend_read_logits(&r->model.be, r->logits, b->n);
    double correct = 0;
    for (int i = 0; i < b->n; i++) correct += label_rank(r->logits + (size_t)i * K, K, b->labels[i]) == 0;
    /* the hook only when there is something to overlap: a GPU backend syncs per call */
    GradReadyFn ready = d->world > 1 && !r->backend_comm ? dist_grad_ready : NULL;
    double loss = backend_backward(&r->model.be, b->labels, b->n, &r->loss, ready, d);
    if (!r->backend_comm) dist_grads_wait(d);
    StepSums sums = { .loss = loss,
                      .nonfinite = isfinite(loss) ? 0.0 : 1.0,
                      .interrupted = g_interrupted ? 1.0 : 0.0,
                      .correct = correct,
                      .images = (double)b->n };
    dist_sum_doubles(d, sums.all, 5);
    return sums;
}

/* The progress line: speed and ETA from step time only; evaluation and saving are added per epoch end. */
static void show_progress(Run *r, double lr, double loss) {
    const TrainConfig *c = &r->c;
    double sec_per_step = r->window.seconds / (double)r->window.steps;
    double remaining =
        (double)(r->steps_per_epoch - r->batch) + (double)(c->max_epoch - r->epoch - 1) * (double)r->steps_per_epoch;
    if (c->max_steps > 0 && remaining > (double)(c->max_steps - r->step)) remaining = (double)(c->max_steps - r->step);
    double eta = remaining * sec_per_step + (double)(c->max_epoch - r->epoch) * r->end_seconds;
    progress_step(&r->prog, r->epoch, c->max_epoch, r->batch, r->steps_per_epoch, r->step, loss, lr,
                  (double)r->img_global / sec_per_step, eta);
}

typedef enum { EPOCH_DONE, EPOCH_STOPPED, EPOCH_FAILED } EpochEnd;

/* The steps of r->epoch from r->batch on. *why_stopped: "interrupted" or
 * "reached --max_steps" when a stop was asked for (even at the epoch's last
 * batch, which then still gets its end of epoch). */
static EpochEnd run_epoch(Run *r, const char **why_stopped, Error *err) {
    const TrainConfig *c = &r->c;
    loader_start_epoch(r->train_loader, r->epoch, r->batch);
    Batch b;
    int rc;
    while ((rc = loader_next(r->train_loader, &b, err)) == 1) {
        double t0 = now_seconds(), lr = lr_at(&r->sched, r->step);
        StepSums sums = train_step(r, &b);
        loader_release(r->train_loader, &b);
        if (sums.nonfinite > 0) {
            print_divergence(r, sums.loss);
            err->msg[0] = '\0';
            return EPOCH_FAILED;
        }
        SgdArgs sgd = { (float)lr, (float)c->momentum, (float)c->weight_decay };
        backend_sgd_update(&r->model.be, &sgd);
        r->step++;
        r->batch++;
        if (r->ema && r->step % c->model_ema_steps == 0) ema_update(r);
        double secs = now_seconds() - t0;
        add_sums(&r->window, &sums, secs);
        add_sums(&r->epoch_sums, &sums, secs);
        show_progress(r, lr, sums.loss);
        if (r->step % c->log_interval == 0) log_window(r, lr);

        int interrupted = sums.interrupted > 0, at_limit = c->max_steps > 0 && r->step >= c->max_steps;
        if (interrupted || at_limit) *why_stopped = interrupted ? "interrupted" : "reached --max_steps";
        if (r->batch == r->steps_per_epoch) continue; /* the end of the epoch saves everything */
        if (*why_stopped || (c->save_every_steps > 0 && r->step % c->save_every_steps == 0)) {
            if (r->is_root &&
                (save_state(r, err) != 0 || (*why_stopped && save_model_files(r, r->epoch, NULL, NULL, err) != 0))) {
                report(r, err->msg);
                return EPOCH_FAILED;
            }
            if (*why_stopped) return EPOCH_STOPPED;
        }
    }
    if (rc < 0) {
        report(r, err->msg);
        return EPOCH_FAILED;
    }
    return EPOCH_DONE;
}

/* Validation of the model (weights NULL) or of other weights (the EMA) on
 * the validation backend; the training backend is not touched. */
static int validate(Run *r, const float *weights, EvalCounts *ev, Error *err) {
    if (!weights) {
        backend_get_params(&r->model.be, r->model.params);
        weights = r->model.params;
    }
    Backend *be = &r->val_model.be;
    backend_set_params(be, weights);
    return evaluate(be, r->val_loader, r->d, r->logits, ev, err);
}

/* What validation found at an epoch's end (-1 / NaN: no validation). */
typedef struct {
    EvalCounts ev;
    double top1, top5, loss, ema_top1, ema_top5;
} EpochVal;

static double fraction(int64_t part, int64_t whole) { return whole ? (double)part / (double)whole : -1; }

/* The model on --val_dir, and its EMA with --model_ema. 0, or -1 (reported). */
static int validate_epoch(Run *r, EpochVal *v, Error *err) {
    memset(v, 0, sizeof *v);
    v->top1 = v->top5 = v->ema_top1 = v->ema_top5 = -1;
    v->loss = NAN;
    if (!r->have_val) return 0;
    EvalCounts ev_ema = { 0 };
    if (validate(r, NULL, &v->ev, err) != 0 || (r->ema && validate(r, r->ema, &ev_ema, err) != 0)) {
        report(r, err->msg);
        return -1;
    }
    v->top1 = fraction(v->ev.correct1, v->ev.images);
    v->top5 = fraction(v->ev.correct5, v->ev.images);
    v->loss = v->ev.images ? v->ev.loss_sum / (double)v->ev.images : NAN;
    if (r->ema) {
        v->ema_top1 = fraction(ev_ema.correct1, ev_ema.images);
        v->ema_top5 = fraction(ev_ema.correct5, ev_ema.images);
    }
    return 0;
}

/* Rank 0, with the position already past the epoch: the epoch's line, its
 * metrics record, the model files, the state and the curves. */
static int record_epoch(Run *r, const RunSums *e, const EpochVal *v, const float *best, const char *best_kind,
                        Error *err) {
    const TrainConfig *c = &r->c;
    int done = r->epoch;
    double mean_loss = e->steps ? e->loss / (double)e->steps : NAN;
    double train_top1 = fraction(e->correct, e->seen);
    double img_s = e->seconds > 0 ? (double)e->steps * (double)r->img_global / e->seconds : 0.0;
    progress_done(&r->prog);
    char line[320];
    int n = snprintf(line, sizeof line, "epoch %d/%d done: train loss %.4f, train top-1 %.2f%%, %.1f img/s", done,
                     c->max_epoch, mean_loss, 100 * train_top1, img_s);
    if (r->have_val)
        n += snprintf(line + n, sizeof line - (size_t)n, "; val loss %.4f, top-1 %.2f%% top-5 %.2f%% (%lld images%s)",
                      v->loss, 100 * v->top1, 100 * v->top5, (long long)v->ev.images,
                      v->ev.skipped ? ", some skipped" : "");
    if (v->ema_top1 >= 0 && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, "; EMA top-1 %.2f%% top-5 %.2f%%", 100 * v->ema_top1,
                 100 * v->ema_top5);
    progress_line(&r->prog, "%s\n", line);
    MetricRecord m = { .is_epoch = 1,
                       .step = r->step,
                       .epoch = done,
                       .loss = mean_loss,
                       .lr = lr_at(&r->sched, r->step > 0 ? r->step - 1 : 0),
                       .img_s = img_s,
                       .time = r->time_base + now_seconds() - r->t_session,
                       .train_top1 = train_top1,
                       .val_loss = v->loss,
                       .top1 = v->top1,
                       .top5 = v->top5,
                       .ema_top1 = v->ema_top1,
                       .ema_top5 = v->ema_top5,
                       .val_images = v->ev.images,
                       .val_skipped = v->ev.skipped };
    metrics_add(&r->metrics, &m);
    char path[4200], title[1400];
    path_join(path, sizeof path, c->out_dir, "curves.svg");
    snprintf(title, sizeof title, "alexnet.c — %s on %s", r->model.net.backbone, c->data_dir);
    if (save_model_files(r, done, best, best_kind, err) != 0 || save_state(r, err) != 0 ||
        curves_write_svg(path, &r->metrics, title, err) != 0) {
        report(r, err->msg);
        return -1;
    }
    return 0;
}

/* Evaluate, then rank 0 records and saves everything of the finished epoch. */
static int run_end_epoch(Run *r, Error *err) {
    double t0 = now_seconds();
    log_window(r, lr_at(&r->sched, r->step - 1)); /* a run shorter than --log_interval still gets step records */
    EpochVal v;
    if (validate_epoch(r, &v, err) != 0) return -1;
    const float *best = NULL;
    const char *best_kind = "raw";
    if (r->have_val && (v.top1 > r->best || v.ema_top1 > r->best)) {
        int ema_wins = v.ema_top1 > v.top1;
        best = ema_wins ? r->ema : r->model.params;
        best_kind = ema_wins ? "ema" : "raw";
        r->best = ema_wins ? v.ema_top1 : v.top1;
    }
    RunSums finished = r->epoch_sums;
    r->epoch++; /* the saved state holds the position after this epoch */
    r->batch = 0;
    memset(&r->epoch_sums, 0, sizeof r->epoch_sums);
    int rc = r->is_root ? record_epoch(r, &finished, &v, best, best_kind, err) : 0;
    r->end_seconds = now_seconds() - t0;
    return dist_any(r->d, rc != 0) ? -1 : 0;
}

/* ------------------------------------------------------------ the run */

static void print_done(const Run *r) {
    const TrainConfig *c = &r->c;
    char dur[32];
    format_duration(now_seconds() - r->t_session, dur, sizeof dur);
    printf("done: %d epochs, %lld steps, %s this session", c->max_epoch, (long long)r->step, dur);
    if (r->best >= 0) printf("; best val top-1 %.2f%%", 100 * r->best);
    printf("\n  model:   %s/last.safetensors%s\n  metrics: %s/metrics.jsonl\n  curves:  %s/curves.svg\n", c->out_dir,
           r->best >= 0 && c->save_best ? " (best: best.safetensors)" : "", c->out_dir, c->out_dir);
    const Dist *d = r->d;
    if (d->comm_steps > 0) {
        double span = 1e3 * d->span_total / (double)d->comm_steps, wait = 1e3 * d->wait_total / (double)d->comm_steps;
        printf("all-reduce: %.1f MB in %d buckets; %.1f ms per step from the first bucket to the last, %.1f ms of it "
               "waited for after backward (%.0f%% overlapped with backward)\n",
               4e-6 * (double)r->model.net.param_count, d->n_buckets, span, wait,
               span > 0 ? 100.0 * (1.0 - wait / span) : 0.0);
    }
}

int train_run(const TrainConfig *cfg, const TrainPosition *resume, int allow_data_change, Dist *d, Error *err) {
    Run r;
    memset(&r, 0, sizeof r);
    r.c = *cfg;
    r.d = d;
    r.is_root = d->rank == 0;
    err->msg[0] = '\0';
    int status = run_open(&r, resume, allow_data_change, err);
    if (status != 0) {
        run_close(&r);
        return status;
    }
    if (r.c.max_steps > 0 && r.step >= r.c.max_steps) {
        if (r.is_root)
            printf("%s is at step %lld, already at --max_steps %lld: nothing to train. Continue with: alexnet train "
                   "--resume %s\n",
                   r.c.out_dir, (long long)r.step, (long long)r.c.max_steps, r.c.out_dir);
        run_close(&r);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    status = 1;
    const char *why_stopped = NULL;
    while (r.epoch < r.c.max_epoch) {
        EpochEnd end = run_epoch(&r, &why_stopped, err);
        if (end == EPOCH_FAILED) goto out;
        if (end == EPOCH_DONE && run_end_epoch(&r, err) != 0) goto out;
        if (end == EPOCH_DONE && !why_stopped && dist_any(d, g_interrupted != 0)) why_stopped = "interrupted";
        if (why_stopped) break;
    }
    if (r.is_root) {
        progress_done(&r.prog);
        if (why_stopped)
            printf(
                "%s at step %lld (epoch %d, batch %lld/%lld); state saved. Continue with: alexnet train --resume %s\n",
                why_stopped, (long long)r.step, r.batch ? r.epoch + 1 : r.epoch,
                (long long)(r.batch ? r.batch : r.steps_per_epoch), (long long)r.steps_per_epoch, r.c.out_dir);
        else print_done(&r);
    }
    status = 0;
out:
    err->msg[0] = '\0'; /* failures while running were reported where they happened */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    run_close(&r);
    return status;
}
