/*
 * model_open.c — checkpoint or fresh initialisation → net → backend →
 * weights (see model_open.h).
 */
#include "engine/model_open.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/transforms.h"
#include "io/quant_file.h"

/* What the model will take in host memory at the least: the host weights,
 * the backend's weights (with gradients and momentum when it trains), and
 * one batch of activations (with their gradients when it trains) in the
 * compute precision. Checked before anything is allocated, so a batch, an
 * image size or a class count the machine can't hold is a clear error, not
 * an allocation failure or a swap storm minutes later. GPU memory is the
 * cuda backend's to check. */
static int check_memory(const Model *m, const ModelOptions *o, Error *err) {
    const Net *n = &m->net;
    const char *backend = o->backend && o->backend[0] ? o->backend : backend_default(o->device, n);
    int on_gpu = strcmp(backend, "cuda") == 0, training = !o->inference && !o->no_backend;
    double P = (double)n->param_count * sizeof(float);
    double act = (double)n->image_size * n->image_size * 3;
    for (int i = 0; i < n->n_layers; i++) act += (double)layer_out_elems(&n->layers[i]);
    int bf16 = o->precision && strcmp(o->precision, "bf16") == 0;
    double act_bytes = o->no_backend || on_gpu ? 0 : (double)o->batch * act * (bf16 ? 2 : 4) * (training ? 2 : 1);
    double weights = P * (o->no_weights ? 0 : 1) + (o->no_backend ? 0 : on_gpu ? P : training ? 3 * P : P);
    double need = weights + act_bytes;
    int64_t avail = memory_available();
    if (avail < 0 || need <= (double)avail) return 0;
    const double G = 1024.0 * 1024.0 * 1024.0;
    return error_set(err,
                     "this model needs at least %.1f GiB of memory and %.1f GiB is available: %.1f M parameters "
                     "(%d classes) take %.1f GiB, a batch of %d images of %d px %.1f GiB; %s",
                     need / G, (double)avail / G, (double)n->param_count / 1e6, n->num_classes, weights / G, o->batch,
                     n->image_size, act_bytes / G,
                     act_bytes > weights
                         ? "lower the batch size or the image size"
                         : "the weights alone do not fit: fewer classes, or a machine with more memory");
}

/* The net and its weights from a model file, which is closed again: the
 * weights are in m->params and only its metadata is kept. */
static int open_checkpoint(Model *m, const ModelOptions *o, Error *err) {
    ModelFile file;
    if (checkpoint_open(o->checkpoint, &file, err) != 0) return -1;
    const ModelInfo *info = &file.info;
    int size = o->image_size ? o->image_size : info->val_crop_size > 0 ? info->val_crop_size : info->image_size;
    m->eval_resize = o->eval_resize;
    if (o->eval_resize == EVAL_RESIZE_FROM_CHECKPOINT)
        m->eval_resize = info->val_resize_size >= 0 ? info->val_resize_size : 0;
    if (info->val_crop_size > 0 && (!o->image_size || o->eval_resize == EVAL_RESIZE_FROM_CHECKPOINT) && o->inference &&
        o->eval_resize != -1) /* -1: no images (bench) */
        notef("eval transform of %s as its training validated: resize %s%d, center crop %d (--val_resize_size, "
              "--val_crop_size override)",
              o->checkpoint, m->eval_resize ? "the shorter side to " : "square to ",
              m->eval_resize ? m->eval_resize : eval_resize_size(size), size);
    int rc = 0;
    if (size < NET_MIN_IMAGE)
        rc = error_set(err, "%s %d: AlexNet needs at least %d pixels", o->size_flag ? o->size_flag : "--image_size",
                       size, NET_MIN_IMAGE);
    if (rc == 0 && m->eval_resize >= 0) rc = eval_geometry_check(size, m->eval_resize, err);
    if (rc == 0) rc = net_build(&m->net, file.info.backbone, file.info.num_classes, size, o->dropout, err);
    m->quantized = checkpoint_is_quantized(&file);
    if (rc == 0 && m->quantized && !o->inference && !o->accept_int8)
        rc = error_set(err,
                       "%s is an int8 model (alexnet quantize): eval, predict and export take it; train and average "
                       "need the fp32 model it was quantized from",
                       o->checkpoint);
    if (rc == 0 && !m->quantized) rc = checkpoint_match(&file, &m->net, err);
    if (rc == 0) rc = check_memory(m, o, err);
    if (rc == 0) {
        m->params = xaligned_alloc(m->net.param_count * sizeof(float));
        rc = m->quantized ? quant_load(&file, &m->net, m->params, &m->quant, err)
                          : checkpoint_load(&file, &m->net, m->params, err);
    }
    m->info = file.info;
    memset(&file.info, 0, sizeof file.info);
    checkpoint_close(&file);
    return rc;
}

static int open_fresh(Model *m, const ModelOptions *o, Error *err) {
    if (net_build(&m->net, o->backbone, o->num_classes, o->image_size, o->dropout, err) != 0) return -1;
    if (check_memory(m, o, err) != 0) return -1;
    if (o->no_weights) return 0;
    m->params = xaligned_alloc(m->net.param_count * sizeof(float));
    net_init_params(&m->net, m->params, o->seed);
    return 0;
}

static int open_backend(Model *m, const ModelOptions *o, Error *err) {
    const char *precision = o->precision ? o->precision : "fp32";
    int int8 = strcmp(precision, "int8") == 0 || (m->quantized && strcmp(precision, "auto") == 0);
    if (int8 && !m->quantized)
        return error_set(err, "--precision int8 needs an int8 model: make one from %s with alexnet quantize",
                         o->checkpoint ? o->checkpoint : "a trained model");
    /* int8: dnnl where it runs int8 here (VNNI), else the reference (cuda has no int8 path) */
    Error why = { { 0 } };
    if (o->backend && o->backend[0]) m->backend_name = o->backend;
    else if (!int8) m->backend_name = backend_default(o->device, &m->net);
    else if (backend_supports("dnnl", &m->net, PRECISION_INT8, &why)) m->backend_name = "dnnl";
    else {
        m->backend_name = "ref";
        if (strstr(why.msg, "VNNI"))
            fprintf(stderr, "note: int8 runs on the reference backend here (slow): %s\n", why.msg);
    }
    m->threads = o->threads > 0 ? o->threads : cpu_count();
#ifdef _OPENMP
    omp_set_num_threads(m->threads);
#endif
    if (int8) m->precision = PRECISION_INT8;
    else if (precision_parse(precision, m->backend_name, &m->net, &m->precision) != 0)
        return error_set(err, "--precision must be fp32, bf16, int8 (an int8 model's) or auto");
    BackendOptions options = { .threads = m->threads,
                               .device = o->local_rank,
                               .precision = m->precision,
                               .seed = o->seed,
                               .inference = o->inference,
                               .quant = m->quantized ? &m->quant : NULL };
    m->backend_options = options;
    m->batch = o->batch;
    if (backend_create(&m->be, m->backend_name, &m->net, o->batch, &options, err) != 0) return -1;
    m->has_backend = 1;
    if (m->params) backend_set_params(&m->be, m->params);
    return 0;
}

int model_open(Model *m, const ModelOptions *o, Error *err) {
    memset(m, 0, sizeof *m);
    int rc = o->checkpoint ? open_checkpoint(m, o, err) : open_fresh(m, o, err);
    if (rc == 0 && o->freeze) rc = net_set_training(&m->net, o->freeze, o->lr_backbone_scale, err);
    if (rc == 0 && !o->no_backend) rc = open_backend(m, o, err);
    if (rc != 0) model_close(m);
    return rc;
}

void model_close(Model *m) {
    if (m->has_backend) backend_destroy(&m->be);
    free(m->params);
    quant_free(&m->quant);
    model_info_free(&m->info);
    memset(m, 0, sizeof *m);
}

int model_resize(Model *m, int image_size, float *momentum, Error *err) {
    CHECK(m->has_backend && m->params, "model_resize: a model with a backend and host weights");
    Net net;
    if (net_build(&net, m->net.backbone, m->net.num_classes, image_size, m->net.dropout, err) != 0) return -1;
    for (int t = 0; t < net.n_params; t++) { /* the same tensors, so what trains and at which lr carries over */
        net.params[t].frozen = m->net.params[t].frozen;
        net.params[t].lr_scale = m->net.params[t].lr_scale;
    }
    backend_get_params(&m->be, m->params);
    if (momentum) backend_get_momentum(&m->be, momentum);
    backend_destroy(&m->be);
    m->has_backend = 0;
    m->net = net;
    if (backend_create(&m->be, m->backend_name, &m->net, m->batch, &m->backend_options, err) != 0) return -1;
    m->has_backend = 1;
    backend_set_params(&m->be, m->params);
    if (momentum) backend_set_momentum(&m->be, momentum);
    return 0;
}
