/*
 * net.c — builds the AlexNet presets into a Net (layers + parameter table)
 * and initialises parameters. See net.h for the presets.
 */
#include "model/net.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/philox.h"

typedef struct {
    const char *name;
    int channels[5];
    int groups[5]; /* per conv */
    int lrn;       /* LRN after conv1 and conv2 */
    float dropout;
    InitKind init;
} Preset;

static const Preset PRESETS[] = {
    { "alexnet", { 64, 192, 384, 256, 256 }, { 1, 1, 1, 1, 1 }, 0, 0.35f, INIT_SEED },
    { "alexnet_torchvision", { 64, 192, 384, 256, 256 }, { 1, 1, 1, 1, 1 }, 0, 0.5f, INIT_TORCH },
    { "alexnet_2012", { 96, 256, 384, 384, 256 }, { 1, 2, 1, 2, 2 }, 1, 0.5f, INIT_SEED },
};
#define N_PRESETS ((int)(sizeof PRESETS / sizeof PRESETS[0]))

const char *net_backbone_names(void) { return "alexnet, alexnet_torchvision, alexnet_2012"; }

int net_backbone_known(const char *name) {
    for (int i = 0; i < N_PRESETS; i++)
        if (strcmp(name, PRESETS[i].name) == 0) return 1;
    return 0;
}

const char *layer_kind_name(LayerKind k) {
    switch (k) {
    case LAYER_CONV: return "conv";
    case LAYER_RELU: return "relu";
    case LAYER_MAXPOOL: return "maxpool";
    case LAYER_LRN: return "lrn";
    case LAYER_AVGPOOL: return "avgpool";
    case LAYER_DROPOUT: return "dropout";
    case LAYER_LINEAR: return "linear";
    }
    return "?";
}

/* --- builder: appends layers, tracking the running shape and nn.Sequential index --- */

static Layer *push(Net *n, LayerKind kind) {
    CHECK(n->n_layers < NET_MAX_LAYERS, "too many layers (max %d)", NET_MAX_LAYERS);
    Layer *l = &n->layers[n->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    if (kind == LAYER_AVGPOOL && strcmp(n->b_prefix, "features") == 0) snprintf(l->name, sizeof l->name, "avgpool");
    else snprintf(l->name, sizeof l->name, "%s.%d", n->b_prefix, n->b_seq++);
    l->in_c = n->b_c;
    l->in_h = n->b_h;
    l->in_w = n->b_w;
    l->out_c = n->b_c;
    l->out_h = n->b_h;
    l->out_w = n->b_w;
    l->weight = -1;
    return l;
}

static void add_param(Net *n, Layer *l, const char *suffix, int ndim, const int *shape, int decay) {
    CHECK(n->n_params < NET_MAX_PARAMS, "too many parameter tensors (max %d)", NET_MAX_PARAMS);
    ParamTensor *p = &n->params[n->n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->offset = n->param_count;
    p->decay = decay;
    p->layer = (int)(l - n->layers);
    p->lr_scale = 1.0f;
    n->param_count += p->numel;
}

static void add_weights(Net *n, Layer *l, int ndim, const int *wshape) {
    l->weight = n->n_params;
    add_param(n, l, "weight", ndim, wshape, 1);
    add_param(n, l, "bias", 1, wshape, 0);
}

void net_begin(Net *n, const char *name, int num_classes, int image_size) {
    memset(n, 0, sizeof *n);
    snprintf(n->backbone, sizeof n->backbone, "%s", name);
    n->num_classes = num_classes;
    n->image_size = image_size;
    n->init = INIT_SEED;
    snprintf(n->b_prefix, sizeof n->b_prefix, "features");
    n->b_c = 3;
    n->b_h = image_size;
    n->b_w = image_size;
}

void net_section(Net *n, const char *prefix) {
    snprintf(n->b_prefix, sizeof n->b_prefix, "%s", prefix);
    n->b_seq = 0;
}

void net_add_conv(Net *n, int out_c, int k, int s, int p, int g) {
    CHECK(n->b_c % g == 0 && out_c % g == 0, "conv groups %d must divide channels %d and %d", g, n->b_c, out_c);
    Layer *l = push(n, LAYER_CONV);
    l->out_c = out_c;
    l->kernel = k;
    l->stride = s;
    l->pad = p;
    l->groups = g;
    l->out_h = (n->b_h + 2 * p - k) / s + 1;
    l->out_w = (n->b_w + 2 * p - k) / s + 1;
    CHECK(l->out_h > 0 && l->out_w > 0, "conv %s: input %dx%d too small", l->name, n->b_h, n->b_w);
    int shape[4] = { out_c, n->b_c / g, k, k };
    add_weights(n, l, 4, shape);
    n->b_c = out_c;
    n->b_h = l->out_h;
    n->b_w = l->out_w;
}

void net_add_relu(Net *n) { push(n, LAYER_RELU); }

void net_add_maxpool(Net *n, int k, int s) {
    Layer *l = push(n, LAYER_MAXPOOL);
    l->kernel = k;
    l->stride = s;
    l->out_h = (n->b_h - k) / s + 1;
    l->out_w = (n->b_w - k) / s + 1;
    CHECK(n->b_h >= k && n->b_w >= k, "maxpool %s: input %dx%d smaller than the window", l->name, n->b_h, n->b_w);
    n->b_h = l->out_h;
    n->b_w = l->out_w;
}

void net_add_lrn(Net *n, int size, float alpha, float beta, float k) {
    Layer *l = push(n, LAYER_LRN);
    l->lrn_size = size;
    l->lrn_alpha = alpha;
    l->lrn_beta = beta;
    l->lrn_k = k;
}

void net_add_avgpool(Net *n, int oh, int ow) {
    Layer *l = push(n, LAYER_AVGPOOL);
    l->out_h = oh;
    l->out_w = ow;
    n->b_h = oh;
    n->b_w = ow;
}

void net_add_dropout(Net *n, float p) {
    Layer *l = push(n, LAYER_DROPOUT);
    l->drop_p = p;
}

void net_add_linear(Net *n, int out) {
    Layer *l = push(n, LAYER_LINEAR);
    int in = n->b_c * n->b_h * n->b_w;
    l->out_c = out;
    l->out_h = 1;
    l->out_w = 1;
    int shape[2] = { out, in };
    add_weights(n, l, 2, shape);
    n->b_c = out;
    n->b_h = 1;
    n->b_w = 1;
}

int net_build(Net *net, const char *backbone, int num_classes, int image_size, float drop, Error *err) {
    const Preset *ps = NULL;
    for (int i = 0; i < N_PRESETS; i++)
        if (strcmp(backbone, PRESETS[i].name) == 0) ps = &PRESETS[i];
    if (!ps) return error_set(err, "unknown backbone '%s' (choose one of: %s)", backbone, net_backbone_names());
    if (num_classes < 1) return error_set(err, "number of classes must be at least 1 (got %d)", num_classes);
    if (image_size < NET_MIN_IMAGE || image_size > NET_MAX_IMAGE)
        return error_set(err, "image size must be between %d and %d pixels (got %d)", NET_MIN_IMAGE, NET_MAX_IMAGE,
                         image_size);
    if (drop >= 1.0f) return error_set(err, "dropout rate must be below 1 (got %g)", drop);

    net_begin(net, ps->name, num_classes, image_size);
    net->dropout = drop >= 0 ? drop : ps->dropout;
    net->init = ps->init;
    const int *ch = ps->channels, *g = ps->groups;
    float p = net->dropout;
    net_add_conv(net, ch[0], 11, 4, 2, g[0]);
    net_add_relu(net);
    if (ps->lrn) net_add_lrn(net, 5, 1e-4f, 0.75f, 2.0f);
    net_add_maxpool(net, 3, 2);
    net_add_conv(net, ch[1], 5, 1, 2, g[1]);
    net_add_relu(net);
    if (ps->lrn) net_add_lrn(net, 5, 1e-4f, 0.75f, 2.0f);
    net_add_maxpool(net, 3, 2);
    net_add_conv(net, ch[2], 3, 1, 1, g[2]);
    net_add_relu(net);
    net_add_conv(net, ch[3], 3, 1, 1, g[3]);
    net_add_relu(net);
    net_add_conv(net, ch[4], 3, 1, 1, g[4]);
    net_add_relu(net);
    net_add_maxpool(net, 3, 2);
    net_add_avgpool(net, 6, 6);
    net_section(net, "classifier");
    net_add_dropout(net, p);
    net_add_linear(net, 4096);
    net_add_relu(net);
    net_add_dropout(net, p);
    net_add_linear(net, 4096);
    net_add_relu(net);
    net_add_linear(net, num_classes);
    return 0;
}

size_t net_max_activation(const Net *net) {
    size_t m = (size_t)3 * net->image_size * net->image_size;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        size_t s = layer_out_elems(l);
        if (s > m) m = s;
    }
    return m;
}

double layer_forward_macs(const Layer *l) {
    double out = (double)l->out_c * l->out_h * l->out_w;
    switch (l->kind) {
    case LAYER_CONV: return out * (double)(l->in_c / l->groups) * l->kernel * l->kernel;
    case LAYER_LINEAR: return out * (double)l->in_c * l->in_h * l->in_w;
    default: return 0;
    }
}

double net_forward_macs(const Net *net) {
    double m = 0;
    for (int i = 0; i < net->n_layers; i++) m += layer_forward_macs(&net->layers[i]);
    return m;
}

int net_find_nonfinite(const Net *net, const float *params, int *tensor, int64_t *element) {
    for (int t = 0; t < net->n_params; t++) {
        const float *v = params + net->params[t].offset;
        int64_t n = (int64_t)net->params[t].numel, bad = -1;
#pragma omp parallel for reduction(max : bad) schedule(static)
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(v[i]) && n - i > bad) bad = n - i; /* the first bad one has the largest n - i */
        if (bad >= 0) {
            *tensor = t;
            *element = n - bad;
            return 1;
        }
    }
    return 0;
}

/* --- fine-tuning: what trains ------------------------------------------------ */

int net_set_training(Net *net, const char *freeze, double backbone_lr_scale, Error *err) {
    int head = net->n_layers - 1;
    int features = strcmp(freeze, "features") == 0, backbone = strcmp(freeze, "backbone") == 0;
    if (!features && !backbone && strcmp(freeze, "none") != 0)
        return error_set(err,
                         "--freeze %s: expected none, features (the convolutions) or backbone (all but the last "
                         "layer)",
                         freeze);
    if (!(backbone_lr_scale >= 0.0 && backbone_lr_scale <= 1000.0))
        return error_set(err, "--lr_backbone_scale %g: expected a factor in [0, 1000]", backbone_lr_scale);
    for (int t = 0; t < net->n_params; t++) {
        ParamTensor *p = &net->params[t];
        int is_head = p->layer == head;
        p->frozen = (features && strncmp(p->name, "features.", 9) == 0) || (backbone && !is_head);
        p->lr_scale = is_head ? 1.0f : (float)backbone_lr_scale;
    }
    return 0;
}

size_t net_trained_count(const Net *net) {
    size_t n = 0;
    for (int t = 0; t < net->n_params; t++)
        if (!net->params[t].frozen) n += net->params[t].numel;
    return n;
}

double net_backward_macs(const Net *net) {
    double m = 0;
    int below = 0; /* a trained layer lies below: the input gradient is needed */
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        double macs = layer_forward_macs(l);
        if (below) m += macs;
        if (layer_trains(net, l)) {
            m += macs;
            below = 1;
        }
    }
    return m;
}

/* --- initialisation: every value is a pure function of (seed, tensor, element) --- */

static float normal_at(uint64_t seed, int tensor, size_t i) {
    /* Box-Muller on two uniforms of the element's own counter block. */
    Philox4 r = rng_block(seed, RNG_INIT, (uint32_t)tensor, 0, (uint32_t)i);
    float u1 = ((float)(r.v[0] >> 8) + 1.0f) * (1.0f / 16777216.0f); /* (0, 1] */
    float u2 = rng_u01(r.v[1]);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

static float uniform_at(uint64_t seed, int tensor, size_t i, float bound) {
    Philox4 r = rng_block(seed, RNG_INIT, (uint32_t)tensor, 0, (uint32_t)i);
    return (2.0f * rng_u01(r.v[0]) - 1.0f) * bound;
}

void net_init_params(const Net *net, float *params, uint64_t seed) {
    for (int t = 0; t < net->n_params; t++) {
        const ParamTensor *p = &net->params[t];
        const Layer *l = &net->layers[p->layer];
        float *w = params + p->offset;
        int is_bias = !p->decay;
        /* fan_in/fan_out as torch.nn.init computes them from the weight's shape */
        const ParamTensor *wt = is_bias ? p - 1 : p;
        size_t receptive = wt->ndim == 4 ? (size_t)wt->shape[2] * wt->shape[3] : 1;
        double fan_in = (double)wt->shape[1] * receptive;
        double fan_out = (double)wt->shape[0] * receptive;
        /* each value is a function of (seed, tensor, index): the threads give the same tensors */
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < p->numel; i++) {
            float v;
            if (net->init == INIT_SEED) {
                if (is_bias) v = 0.0f;
                else if (l->kind == LAYER_CONV) v = (float)sqrt(2.0 / fan_out) * normal_at(seed, t, i);
                else v = 0.01f * normal_at(seed, t, i);
            } else {
                /* kaiming_uniform(a=sqrt(5)) gives bound 1/sqrt(fan_in); the bias uses the same bound */
                v = uniform_at(seed, t, i, (float)(1.0 / sqrt(fan_in)));
            }
            w[i] = v;
        }
    }
}
