/*
 * quant_file.c — reading and writing int8 model files (see quant_file.h).
 */
#include "io/quant_file.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUANT_SCHEME                                                                                           \
    "int8 static: each layer's input as u8 = round(x / input_scale) + input_zero_point, its weight as s8 per " \
    "output channel (weight = weight_q * weight_scale), int32 sums scaled back to fp32"

/* "features.0.weight" -> "features.0.<what>" */
static void sibling(char *out, size_t size, const char *weight_name, const char *what) {
    size_t stem = strlen(weight_name) - strlen("weight");
    snprintf(out, size, "%.*s%s", (int)stem, weight_name, what);
}

/* A scale is normal, positive and below 1e30: 1 / scale, and the product of
 * an input scale and a weight scale, are then finite, so no value of a file
 * can make the arithmetic produce NaN (0 * inf) or divide by a subnormal. */
static int check_scales(const char *path, const char *name, const float *v, int64_t n, Error *err) {
    for (int64_t i = 0; i < n; i++)
        if (!(v[i] >= FLT_MIN && v[i] < 1e30f))
            return error_set(err,
                             "%s: tensor '%s' holds %g at element %lld; a scale must be finite, positive and normal "
                             "(%g to 1e30)",
                             path, name, (double)v[i], (long long)i, (double)FLT_MIN);
    return 0;
}

/* Everything an int8 layer's numbers must satisfy, for the file being read
 * and for the one being written (quantize never writes what this refuses). */
static int check_layer(const char *path, const Net *net, int layer, const QuantModel *q, Error *err) {
    const ParamTensor *p = &net->params[net->layers[layer].weight];
    char name[80];
    sibling(name, sizeof name, p->name, "weight_scale");
    if (check_scales(path, name, q->w_scale[layer], p->shape[0], err) != 0) return -1;
    sibling(name, sizeof name, p->name, "input_scale");
    if (check_scales(path, name, &q->in_scale[layer], 1, err) != 0) return -1;
    for (int o = 0; o < p->shape[0]; o++)
        if (!isfinite(q->in_scale[layer] * q->w_scale[layer][o]))
            return error_set(err, "%s: %s's input scale %g times its weight scale %g (channel %d) overflows a float",
                             path, p->name, (double)q->in_scale[layer], (double)q->w_scale[layer][o], o);
    for (size_t i = 0; i < p->numel; i++)
        if (q->w_q[layer][i] < -127)
            return error_set(err,
                             "%s: tensor '%s' holds -128 at element %zu; int8 weights here are symmetric, -127..127",
                             path, p->name, i);
    if (q->in_zero[layer] < 0 || q->in_zero[layer] > 255)
        return error_set(err, "%s: %s's input zero point %d is outside 0..255", path, p->name, q->in_zero[layer]);
    return 0;
}

int quant_save(const char *path, const Net *net, const float *params, const QuantModel *q, const ModelMeta *meta,
               Error *err) {
    StWriteTensor t[CHECKPOINT_MAX_EXTRA];
    char names[CHECKPOINT_MAX_EXTRA][80];
    uint8_t zeros[NET_MAX_LAYERS];
    int n = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        if (l->weight < 0 || !q->int8[i]) continue;
        if (check_layer(path, net, i, q, err) != 0) return -1;
        const ParamTensor *p = &net->params[l->weight];
        zeros[i] = (uint8_t)q->in_zero[i];
        StWriteTensor w = { .name = p->name, .dtype = ST_I8, .ndim = p->ndim, .data = q->w_q[i] };
        for (int d = 0; d < p->ndim; d++) w.shape[d] = p->shape[d];
        t[n++] = w;
        sibling(names[n], sizeof names[n], p->name, "weight_scale");
        t[n] = (StWriteTensor){
            .name = names[n], .dtype = ST_F32, .ndim = 1, .shape = { p->shape[0] }, .data = q->w_scale[i]
        };
        n++;
        sibling(names[n], sizeof names[n], p->name, "input_scale");
        t[n] = (StWriteTensor){ .name = names[n], .dtype = ST_F32, .ndim = 1, .shape = { 1 }, .data = &q->in_scale[i] };
        n++;
        sibling(names[n], sizeof names[n], p->name, "input_zero_point");
        t[n] = (StWriteTensor){ .name = names[n], .dtype = ST_U8, .ndim = 1, .shape = { 1 }, .data = &zeros[i] };
        n++;
    }
    char images[32];
    snprintf(images, sizeof images, "%lld", (long long)q->calib_images);
    const char *keys[] = { CHECKPOINT_QUANT_KEY, "quant_method", "calib_images" };
    const char *vals[] = { QUANT_SCHEME, q->method, images };
    return checkpoint_save_model_with(path, net, params, meta, t, n, keys, vals, 3, err);
}

static const StTensor *find(const ModelFile *m, const char *name, StDtype dtype, int64_t numel, Error *err) {
    const StTensor *t = st_find(&m->st, name);
    if (!t) {
        error_set(err, "%s: tensor '%s' is missing (an int8 layer needs it)", m->st.path, name);
        return NULL;
    }
    if (t->dtype != dtype || t->numel != numel) {
        error_set(err, "%s: tensor '%s' is %s with %lld elements; an int8 layer needs %s with %lld", m->st.path, name,
                  st_dtype_name(t->dtype), (long long)t->numel, st_dtype_name(dtype), (long long)numel);
        return NULL;
    }
    return t;
}

static int load_layer(const ModelFile *m, const Net *net, int layer, float *params, QuantModel *q, Error *err) {
    const ParamTensor *p = &net->params[net->layers[layer].weight];
    const StTensor *w = st_find(&m->st, p->name);
    if (!w) return error_set(err, "%s: tensor '%s' is missing", m->st.path, p->name);
    int same = w->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = w->shape[d] == p->shape[d];
    if (!same) return error_set(err, "%s: tensor '%s' does not have this model's shape", m->st.path, p->name);
    if (w->dtype != ST_I8) return checkpoint_read_tensor(m, p->name, (int64_t)p->numel, params + p->offset, err);
    char name[3][80];
    sibling(name[0], sizeof name[0], p->name, "weight_scale");
    sibling(name[1], sizeof name[1], p->name, "input_scale");
    sibling(name[2], sizeof name[2], p->name, "input_zero_point");
    const StTensor *ws = find(m, name[0], ST_F32, p->shape[0], err), *is = ws ? find(m, name[1], ST_F32, 1, err) : NULL,
                   *iz = is ? find(m, name[2], ST_U8, 1, err) : NULL;
    if (!iz) return -1;
    q->w_scale[layer] = xmalloc(sizeof(float) * (size_t)p->shape[0]);
    q->w_q[layer] = xmalloc(p->numel);
    uint8_t zero;
    if (st_read_bytes(&m->st, w, q->w_q[layer], err) != 0 || st_to_f32(&m->st, ws, q->w_scale[layer], err) != 0 ||
        st_to_f32(&m->st, is, &q->in_scale[layer], err) != 0 || st_read_bytes(&m->st, iz, &zero, err) != 0)
        return -1;
    q->in_zero[layer] = zero;
    if (check_layer(m->st.path, net, layer, q, err) != 0) return -1;
    q->int8[layer] = 1;
    quant_dequantize(q, net, layer, params);
    return 0;
}

int quant_load(const ModelFile *m, const Net *net, float *params, QuantModel *q, Error *err) {
    memset(q, 0, sizeof *q);
    q->layers = net->n_layers;
    const char *method = st_meta(&m->st, "quant_method");
    snprintf(q->method, sizeof q->method, "%s", method ? method : "unknown");
    int any = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        if (l->weight < 0) continue;
        if (load_layer(m, net, i, params, q, err) != 0) return -1;
        const ParamTensor *b = &net->params[l->weight + 1];
        if (checkpoint_read_tensor(m, b->name, (int64_t)b->numel, params + b->offset, err) != 0) return -1;
        any |= q->int8[i];
    }
    if (!any) return error_set(err, "%s says it is an int8 model but none of its layers is int8", m->st.path);
    return 0;
}
