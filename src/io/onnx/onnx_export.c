/*
 * onnx_export.c — the ONNX graph of a Net (see onnx_export.h), built as
 * protobuf-c messages generated from Debian's onnx.proto and streamed to the
 * file by protobuf-c's packer. Every message, string and small array lives in
 * one list of allocations freed at the end; the weights are not copied
 * (raw_data points into params).
 */
#include "io/onnx/onnx_export.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnx.pb-c.h>

#include "common/json.h"
#include "io/atomic_file.h"
#include "model/input.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ONNX raw_data is little-endian: this host would have to byte-swap the weights"
#endif

#define MAX_NODES 192
#define MAX_INITS 128
#define MAX_ATTRS 8

typedef struct {
    void **blocks;
    size_t n, cap;
    Onnx__GraphProto *g;
} Builder;

static void *ar_alloc(Builder *b, size_t size) {
    void *p = xcalloc(1, size);
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        void **grown = realloc(b->blocks, b->cap * sizeof *grown);
        CHECK(grown, "out of memory building the ONNX graph");
        b->blocks = grown;
    }
    b->blocks[b->n++] = p;
    return p;
}

static char *ar_str(Builder *b, const char *s) {
    char *p = ar_alloc(b, strlen(s) + 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

static Onnx__NodeProto *add_node(Builder *b, const char *op, const char *name, int nin, const char *const *in,
                                 const char *out) {
    CHECK(b->g->n_node < MAX_NODES, "ONNX graph: more than %d nodes", MAX_NODES);
    Onnx__NodeProto *n = ar_alloc(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = ar_str(b, op);
    n->name = ar_str(b, name);
    n->input = ar_alloc(b, sizeof(char *) * (size_t)nin);
    for (int i = 0; i < nin; i++) n->input[i] = ar_str(b, in[i]);
    n->n_input = (size_t)nin;
    n->output = ar_alloc(b, sizeof(char *));
    n->output[0] = ar_str(b, out);
    n->n_output = 1;
    n->attribute = ar_alloc(b, sizeof(Onnx__AttributeProto *) * MAX_ATTRS);
    b->g->node[b->g->n_node++] = n;
    return n;
}

static Onnx__AttributeProto *add_attr(Builder *b, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type) {
    CHECK(n->n_attribute < MAX_ATTRS, "ONNX node %s: too many attributes", n->name);
    Onnx__AttributeProto *a = ar_alloc(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = ar_str(b, name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_int(Builder *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = add_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void attr_float(Builder *b, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = add_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

/* An INTS attribute of count copies of v (kernel_shape, strides, pads). */
static void attr_ints(Builder *b, Onnx__NodeProto *n, const char *name, int count, int64_t v) {
    Onnx__AttributeProto *a = add_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = ar_alloc(b, sizeof(int64_t) * (size_t)count);
    for (int i = 0; i < count; i++) a->ints[i] = v;
    a->n_ints = (size_t)count;
}

static Onnx__TensorProto *add_init(Builder *b, const char *name, int ndim, const int64_t *dims, int32_t type) {
    CHECK(b->g->n_initializer < MAX_INITS, "ONNX graph: more than %d initializers", MAX_INITS);
    Onnx__TensorProto *t = ar_alloc(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = ar_str(b, name);
    t->dims = ar_alloc(b, sizeof(int64_t) * (size_t)(ndim > 0 ? ndim : 1));
    if (ndim > 0) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim); /* a scalar (ndim 0) has no dims */
    t->n_dims = (size_t)ndim;
    t->has_data_type = 1;
    t->data_type = type;
    b->g->initializer[b->g->n_initializer++] = t;
    return t;
}

/* A float initializer whose bytes stay where they are (not copied). */
static void init_f32(Builder *b, const char *name, int ndim, const int64_t *dims, const float *data) {
    Onnx__TensorProto *t = add_init(b, name, ndim, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = (uint8_t *)(uintptr_t)data; /* only read by the packer */
}

/* An initializer of type whose bytes are copied (int8 weights, scales, zero points). */
static void init_bytes(Builder *b, const char *name, int ndim, const int64_t *dims, int32_t type, const void *data,
                       size_t bytes) {
    Onnx__TensorProto *t = add_init(b, name, ndim, dims, type);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = ar_alloc(b, bytes ? bytes : 1);
    memcpy(t->raw_data.data, data, bytes);
}

/* An int8 layer's input and weight as QDQ pairs (ONNX Runtime's static
 * quantization format): input -> QuantizeLinear(scale, u8 zero point) ->
 * DequantizeLinear; the s8 weight -> DequantizeLinear(per-output-channel
 * scales, zero points 0, axis 0). in_name / w_name get the float tensors
 * the Conv or Gemm then takes. */
static void add_qdq(Builder *b, const Net *net, const QuantModel *q, int l, const char *cur, char *in_name,
                    char *w_name, size_t size) {
    const Layer *L = &net->layers[l];
    const ParamTensor *w = &net->params[L->weight];
    char s[64], z[64], ws[64], wz[64], qn[64], node[64];
    snprintf(s, sizeof s, "%s.input_scale", L->name);
    snprintf(z, sizeof z, "%s.input_zero_point", L->name);
    snprintf(ws, sizeof ws, "%s.weight_scale", L->name);
    snprintf(wz, sizeof wz, "%s.weight_zero_point", L->name);
    snprintf(qn, sizeof qn, "%s.input_q", L->name);
    snprintf(in_name, size, "%s.input_dq", L->name);
    snprintf(w_name, size, "%s.weight_dq", L->name);
    uint8_t zero = (uint8_t)q->in_zero[l];
    init_bytes(b, s, 0, NULL, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &q->in_scale[l], sizeof(float));
    init_bytes(b, z, 0, NULL, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, &zero, 1);
    const char *qin[] = { cur, s, z }, *dqin[] = { qn, s, z };
    snprintf(node, sizeof node, "%s.quantize", L->name);
    add_node(b, "QuantizeLinear", node, 3, qin, qn);
    snprintf(node, sizeof node, "%s.dequantize", L->name);
    add_node(b, "DequantizeLinear", node, 3, dqin, in_name);
    int64_t dims[4] = { 0 }, out = w->shape[0];
    for (int i = 0; i < w->ndim; i++) dims[i] = w->shape[i];
    init_bytes(b, w->name, w->ndim, dims, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, q->w_q[l], w->numel);
    init_bytes(b, ws, 1, &out, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, q->w_scale[l], sizeof(float) * (size_t)out);
    int8_t *zeros = ar_alloc(b, (size_t)out);
    init_bytes(b, wz, 1, &out, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, zeros, (size_t)out);
    const char *dqw[] = { w->name, ws, wz };
    snprintf(node, sizeof node, "%s.weight_dequantize", L->name);
    Onnx__NodeProto *n = add_node(b, "DequantizeLinear", node, 3, dqw, w_name);
    attr_int(b, n, "axis", 0);
}

static void init_i64(Builder *b, const char *name, int n, const int64_t *values) {
    int64_t dim = n;
    Onnx__TensorProto *t = add_init(b, name, 1, &dim, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    t->int64_data = ar_alloc(b, sizeof(int64_t) * (size_t)n);
    memcpy(t->int64_data, values, sizeof(int64_t) * (size_t)n);
    t->n_int64_data = (size_t)n;
}

static void init_param(Builder *b, const ParamTensor *p, const float *params) {
    int64_t dims[4] = { 0 };
    for (int i = 0; i < p->ndim; i++) dims[i] = p->shape[i];
    init_f32(b, p->name, p->ndim, dims, params + p->offset);
}

/* A float tensor's type and shape; dims[0] < 0: the symbolic batch "N". */
static Onnx__ValueInfoProto *value_info(Builder *b, const char *name, int ndim, const int64_t *dims) {
    Onnx__ValueInfoProto *v = ar_alloc(b, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = ar_str(b, name);
    Onnx__TypeProto *tp = ar_alloc(b, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = ar_alloc(b, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    Onnx__TensorShapeProto *sh = ar_alloc(b, sizeof *sh);
    onnx__tensor_shape_proto__init(sh);
    sh->dim = ar_alloc(b, sizeof(Onnx__TensorShapeProto__Dimension *) * (size_t)ndim);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = ar_alloc(b, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ar_str(b, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        sh->dim[i] = d;
    }
    sh->n_dim = (size_t)ndim;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

/* The adaptive average pool of layer L from cur into out (see onnx_export.h). */
static void adaptive_pool(Builder *b, const Layer *L, const char *cur, const char *out) {
    const int H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    char name[96], shaped[96], pooled[96], matrix[96];
    if (H % OH == 0 && W % OW == 0) {
        const char *in[] = { cur };
        Onnx__NodeProto *n = add_node(b, "AveragePool", L->name, 1, in, out);
        Onnx__AttributeProto *k = add_attr(b, n, "kernel_shape", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
        k->ints = ar_alloc(b, 2 * sizeof(int64_t));
        k->ints[0] = H / OH;
        k->ints[1] = W / OW;
        k->n_ints = 2;
        Onnx__AttributeProto *s = add_attr(b, n, "strides", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
        s->ints = ar_alloc(b, 2 * sizeof(int64_t));
        s->ints[0] = H / OH;
        s->ints[1] = W / OW;
        s->n_ints = 2;
        return;
    }
    /* P[h*W + w][i*OW + j] = 1 / |window (i, j)| when (h, w) is in it: torch's
     * windows [floor(i*H/OH), ceil((i+1)*H/OH)) */
    float *P = ar_alloc(b, sizeof(float) * (size_t)H * W * OH * OW);
    for (int i = 0; i < OH; i++) {
        int y0 = i * H / OH, y1 = ((i + 1) * H + OH - 1) / OH;
        for (int j = 0; j < OW; j++) {
            int x0 = j * W / OW, x1 = ((j + 1) * W + OW - 1) / OW;
            float v = 1.0f / (float)((y1 - y0) * (x1 - x0));
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) P[((size_t)y * W + x) * OH * OW + (size_t)i * OW + j] = v;
        }
    }
    snprintf(matrix, sizeof matrix, "%s.matrix", L->name);
    int64_t pdims[2] = { (int64_t)H * W, (int64_t)OH * OW };
    init_f32(b, matrix, 2, pdims, P);
    snprintf(name, sizeof name, "%s.shape_in", L->name);
    int64_t shape_in[3] = { 0, L->in_c, (int64_t)H * W }; /* 0: the batch, as it comes */
    init_i64(b, name, 3, shape_in);
    snprintf(shaped, sizeof shaped, "%s.flat_in", L->name);
    const char *in1[] = { cur, name };
    add_node(b, "Reshape", shaped, 2, in1, shaped);
    snprintf(pooled, sizeof pooled, "%s.pooled", L->name);
    const char *in2[] = { shaped, matrix };
    add_node(b, "MatMul", pooled, 2, in2, pooled);
    snprintf(name, sizeof name, "%s.shape_out", L->name);
    int64_t shape_out[4] = { 0, L->out_c, OH, OW };
    init_i64(b, name, 4, shape_out);
    const char *in3[] = { pooled, name };
    add_node(b, "Reshape", L->name, 2, in3, out);
}

/* The layers of net after the input tensor named input; the last one's output is "logits". */
static void add_layers(Builder *b, const Net *net, const float *params, const QuantModel *q, const char *input) {
    int last = net->n_layers - 1;
    while (last > 0 && net->layers[last].kind == LAYER_DROPOUT) last--;
    char cur[64], out[64];
    snprintf(cur, sizeof cur, "%s", input);
    int flat = 0;
    for (int l = 0; l <= last; l++) {
        const Layer *L = &net->layers[l];
        if (L->kind == LAYER_DROPOUT) continue; /* the identity at eval */
        snprintf(out, sizeof out, "%s", l == last ? "logits" : L->name);
        const char *in1[] = { cur };
        Onnx__NodeProto *n = NULL;
        switch (L->kind) {
        case LAYER_CONV: {
            const ParamTensor *w = &net->params[L->weight], *bias = w + 1;
            char x[64], wn[64];
            snprintf(x, sizeof x, "%s", cur);
            snprintf(wn, sizeof wn, "%s", w->name);
            if (q && q->int8[l]) add_qdq(b, net, q, l, cur, x, wn, sizeof x);
            else init_param(b, w, params);
            init_param(b, bias, params);
            const char *in[] = { x, wn, bias->name };
            n = add_node(b, "Conv", L->name, 3, in, out);
            attr_ints(b, n, "kernel_shape", 2, L->kernel);
            attr_ints(b, n, "strides", 2, L->stride);
            attr_ints(b, n, "pads", 4, L->pad);
            attr_ints(b, n, "dilations", 2, 1);
            attr_int(b, n, "group", L->groups > 0 ? L->groups : 1);
            break;
        }
        case LAYER_RELU: add_node(b, "Relu", L->name, 1, in1, out); break;
        case LAYER_MAXPOOL:
            n = add_node(b, "MaxPool", L->name, 1, in1, out);
            attr_ints(b, n, "kernel_shape", 2, L->kernel);
            attr_ints(b, n, "strides", 2, L->stride);
            attr_ints(b, n, "pads", 4, L->pad);
            break;
        case LAYER_LRN:
            n = add_node(b, "LRN", L->name, 1, in1, out);
            attr_int(b, n, "size", L->lrn_size);
            attr_float(b, n, "alpha", L->lrn_alpha);
            attr_float(b, n, "beta", L->lrn_beta);
            attr_float(b, n, "bias", L->lrn_k);
            break;
        case LAYER_AVGPOOL:
            if (L->in_h == L->out_h && L->in_w == L->out_w) continue; /* the identity at this size */
            adaptive_pool(b, L, cur, out);
            break;
        case LAYER_LINEAR: {
            if (!flat) {
                const char *fin[] = { cur };
                n = add_node(b, "Flatten", "flatten", 1, fin, "flatten");
                attr_int(b, n, "axis", 1);
                snprintf(cur, sizeof cur, "flatten");
                flat = 1;
            }
            const ParamTensor *w = &net->params[L->weight], *bias = w + 1;
            char x[64], wn[64];
            snprintf(x, sizeof x, "%s", cur);
            snprintf(wn, sizeof wn, "%s", w->name);
            if (q && q->int8[l]) add_qdq(b, net, q, l, cur, x, wn, sizeof x);
            else init_param(b, w, params);
            init_param(b, bias, params);
            const char *in[] = { x, wn, bias->name };
            n = add_node(b, "Gemm", L->name, 3, in, out);
            attr_int(b, n, "transB", 1);
            break;
        }
        case LAYER_DROPOUT: break;
        }
        snprintf(cur, sizeof cur, "%s", out);
    }
}

/* ONNX's IR version of each opset (onnx/helper.py's VERSION_TABLE). */
static int64_t ir_version(int opset) { return opset >= 15 ? 8 : opset >= 12 ? 7 : 6; }

static Onnx__StringStringEntryProto *meta(Builder *b, const char *key, const char *value) {
    Onnx__StringStringEntryProto *e = ar_alloc(b, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = ar_str(b, key);
    e->value = ar_str(b, value);
    return e;
}

typedef struct {
    ProtobufCBuffer base;
    AtomicFile *f;
} FileSink;

static void sink_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data) {
    atomic_write(((FileSink *)buf)->f, data, len);
}

/* The graph: optional normalisation, the layers, one input and the logits. */
static Onnx__GraphProto *build_graph(Builder *b, const Net *net, const float *params, const OnnxOptions *opt) {
    Onnx__GraphProto *g = b->g = ar_alloc(b, sizeof *g);
    onnx__graph_proto__init(g);
    g->name = ar_str(b, net->backbone);
    g->node = ar_alloc(b, sizeof(Onnx__NodeProto *) * MAX_NODES);
    g->initializer = ar_alloc(b, sizeof(Onnx__TensorProto *) * MAX_INITS);

    const int64_t N = opt->dynamic_batch ? -1 : 1, S = net->image_size;
    const int64_t in_dims[4] = { N, 3, S, S }, out_dims[2] = { N, net->num_classes };
    const char *input = opt->include_normalize ? "pixels" : "input";
    if (opt->include_normalize) { /* ToTensor's [0, 1] to Normalize's output: (x - mean) / std, as write_sample */
        const int64_t cdims[4] = { 1, 3, 1, 1 };
        init_f32(b, "mean", 4, cdims, IMAGENET_MEAN);
        init_f32(b, "std", 4, cdims, IMAGENET_STD);
        const char *sub[] = { "pixels", "mean" }, *div[] = { "centred", "std" };
        add_node(b, "Sub", "normalize.sub", 2, sub, "centred");
        add_node(b, "Div", "normalize.div", 2, div, "input");
    }
    add_layers(b, net, params, opt->quant, "input");
    g->input = ar_alloc(b, sizeof(Onnx__ValueInfoProto *));
    g->input[0] = value_info(b, input, 4, in_dims);
    g->n_input = 1;
    g->output = ar_alloc(b, sizeof(Onnx__ValueInfoProto *));
    g->output[0] = value_info(b, "logits", 2, out_dims);
    g->n_output = 1;
    return g;
}

/* What the input is and how it is normalised, for the model's doc_string. */
static char *doc_string(Builder *b, const Net *net, int include_normalize) {
    char text[512], norm[96];
    const float *m = IMAGENET_MEAN, *sd = IMAGENET_STD;
    snprintf(norm, sizeof norm, "mean (%g, %g, %g), std (%g, %g, %g)", m[0], m[1], m[2], sd[0], sd[1], sd[2]);
    long long S = net->image_size;
    if (include_normalize)
        snprintf(text, sizeof text,
                 "%s, eval network (no dropout), %lldx%lld input. Input 'pixels': float32 NCHW RGB in [0, 1] "
                 "(ToTensor), normalised in the graph with %s. Output 'logits'.",
                 net->backbone, S, S, norm);
    else
        snprintf(text, sizeof text,
                 "%s, eval network (no dropout), %lldx%lld input. Input 'input': float32 NCHW RGB, (x/255 - mean)/std "
                 "with %s, as the eval transform. Output 'logits'.",
                 net->backbone, S, S, norm);
    return ar_str(b, text);
}

/* metadata_props: backbone, image_size, input, and the class names when known. */
static size_t metadata(Builder *b, Onnx__StringStringEntryProto *props[4], const Net *net, const OnnxOptions *opt) {
    char text[32];
    size_t np = 0;
    props[np++] = meta(b, "backbone", net->backbone);
    snprintf(text, sizeof text, "%d", net->image_size);
    props[np++] = meta(b, "image_size", text);
    props[np++] = meta(b, "input", opt->include_normalize ? "rgb01" : "normalized");
    if (opt->class_names) {
        cJSON *arr = cJSON_CreateArray();
        CHECK(arr, "out of memory");
        for (int i = 0; i < net->num_classes; i++) cJSON_AddItemToArray(arr, json_str(opt->class_names[i]));
        char *js = json_print(arr, 0);
        CHECK(js, "out of memory");
        props[np++] = meta(b, "classes", js);
        free(js);
        cJSON_Delete(arr);
    }
    return np;
}

int onnx_export(const char *path, const Net *net, const float *params, const OnnxOptions *opt, Error *err) {
    if (opt->opset < ONNX_OPSET_MIN || opt->opset > ONNX_OPSET_MAX)
        return error_set(err, "--opset %d: this exporter writes opsets %d to %d", opt->opset, ONNX_OPSET_MIN,
                         ONNX_OPSET_MAX);
    Builder b = { 0 };
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.graph = build_graph(&b, net, params, opt);
    m.has_ir_version = 1;
    m.ir_version = ir_version(opt->opset);
    Onnx__OperatorSetIdProto *ops = ar_alloc(&b, sizeof *ops);
    onnx__operator_set_id_proto__init(ops);
    ops->domain = ar_str(&b, "");
    ops->has_version = 1;
    ops->version = opt->opset;
    Onnx__OperatorSetIdProto *opsets[1] = { ops };
    m.opset_import = opsets;
    m.n_opset_import = 1;
    m.producer_name = ar_str(&b, "alexnet.c");
    m.producer_version = ar_str(&b, ALX_VERSION);
    m.doc_string = doc_string(&b, net, opt->include_normalize);
    Onnx__StringStringEntryProto *props[4];
    m.metadata_props = props;
    m.n_metadata_props = metadata(&b, props, net, opt);

    AtomicFile f;
    int rc = atomic_open(&f, path, err);
    if (rc == 0) {
        FileSink sink = { { sink_append }, &f };
        protobuf_c_message_pack_to_buffer(&m.base, &sink.base);
        rc = atomic_commit(&f, err);
    }
    for (size_t i = 0; i < b.n; i++) free(b.blocks[i]);
    free(b.blocks);
    return rc;
}
