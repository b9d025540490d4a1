/* Export to ONNX: a walk over the model's inference graph, one case per node kind, then the
 * head (export_head.c), the model's metadata, and an atomic write of the serialized model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "model/export_internal.h"
#include "ykd_version.h"

void ykd_export_options_default(ykd_export_options *o)
{
    *o = (ykd_export_options){.height = 640, .width = 640, .batch = 1,
                              .opset = YKD_ONNX_OPSET_DEFAULT, .raw = false};
}

static ykd_status check_options(const ykd_model *m, const ykd_export_options *o, ykd_error *err)
{
    int stride = ykd_model_desc_max_stride(m->desc);
    if (o->height < stride || o->width < stride || o->height % stride || o->width % stride ||
        o->height > 65536 || o->width > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "export: input size %dx%d (height x width); each side must be a "
                        "multiple of the model's stride %d",
                        o->height, o->width, stride);
    if (o->batch < 0 || o->batch > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "export: batch %d (1 to 65536, or 0 for a dynamic batch)", o->batch);
    if (o->opset < YKD_ONNX_OPSET_MIN || o->opset > YKD_ONNX_OPSET_MAX)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "export: opset %d (supported: %d to %d)",
                        o->opset, YKD_ONNX_OPSET_MIN, YKD_ONNX_OPSET_MAX);
    return YKD_OK;
}

/* A float initializer holding floats [offset, offset + numel) of a host copy. */
static const char *weights(ykd_exporter *x, const char *name, const float *base, size_t offset,
                           const int *dims, int ndim)
{
    int64_t d[4];
    for (int i = 0; i < ndim; i++)
        d[i] = dims[i];
    return ykd_onnx_const_floats(x->b, name, d, (size_t)ndim, base + offset);
}

/* Conv (+ folded BN, + SiLU as Sigmoid and Mul when act), or a plain conv with its bias;
 * grouped (YOLO11's depthwise) convolutions through the group attribute, whose weights
 * [cout, cin / groups, k, k] are already ONNX's layout. */
static const char *emit_conv(ykd_exporter *x, int k, const char *in)
{
    const ykd_gnode *n = &x->g->nodes[k];
    const ykd_gparam *wp = &x->g->params[n->weight];
    char name[128];
    ykd_model_node_name(x->model, k, name, sizeof name);
    const char *w, *bias;
    if (n->bn) {
        size_t numel = wp->numel;
        w = weights(x, ykd_onnx_str(x->b, "%s.conv.weight", name), x->folded, n->fold_offset,
                    wp->dims, 4);
        bias = weights(x, ykd_onnx_str(x->b, "%s.conv.bias", name), x->folded,
                       n->fold_offset + (numel + 15) / 16 * 16, wp->dims, 1);
    } else {
        const ykd_gparam *bp = &x->g->params[n->bias];
        w = weights(x, wp->name, x->params, wp->offset, wp->dims, 4);
        bias = weights(x, bp->name, x->params, bp->offset, bp->shape, 1);
    }
    const char *inputs[3] = {in, w, bias};
    Onnx__NodeProto *node;
    const char *y = ykd_onnx_op(x->b, "Conv", inputs, 3, NULL, &node);
    int64_t kernel[2] = {n->k, n->k}, strides[2] = {n->s, n->s}, dil[2] = {1, 1};
    int64_t pads[4] = {n->p, n->p, n->p, n->p};
    ykd_onnx_attr_ints(x->b, node, "kernel_shape", kernel, 2);
    ykd_onnx_attr_ints(x->b, node, "strides", strides, 2);
    ykd_onnx_attr_ints(x->b, node, "pads", pads, 4);
    ykd_onnx_attr_ints(x->b, node, "dilations", dil, 2);
    ykd_onnx_attr_int(x->b, node, "group", n->groups);
    if (!n->bn || !n->act)
        return y;
    /* SiLU: ONNX has no SiLU op up to opset 17; runtimes fuse this pair */
    return ykd_onnx_op2(x->b, "Mul", y, ykd_onnx_op1(x->b, "Sigmoid", y));
}

static const char *emit_maxpool(ykd_exporter *x, const ykd_gnode *n, const char *in)
{
    Onnx__NodeProto *node;
    const char *y = ykd_onnx_op(x->b, "MaxPool", &in, 1, NULL, &node);
    int64_t kernel[2] = {n->k, n->k}, strides[2] = {n->s, n->s};
    int64_t pads[4] = {n->p, n->p, n->p, n->p};
    ykd_onnx_attr_ints(x->b, node, "kernel_shape", kernel, 2);
    ykd_onnx_attr_ints(x->b, node, "strides", strides, 2);
    ykd_onnx_attr_ints(x->b, node, "pads", pads, 4);
    return y;
}

/* Nearest x2: Resize with scales (the roi input is required before opset 13: an empty one). */
static const char *emit_upsample(ykd_exporter *x, const char *in)
{
    int64_t four = 4, none = 0;
    const float scales[4] = {1, 1, 2, 2};
    const char *inputs[3] = {in, ykd_onnx_const_floats(x->b, NULL, &none, 1, NULL),
                             ykd_onnx_const_floats(x->b, NULL, &four, 1, scales)};
    Onnx__NodeProto *node;
    const char *y = ykd_onnx_op(x->b, "Resize", inputs, 3, NULL, &node);
    ykd_onnx_attr_string(x->b, node, "mode", "nearest");
    ykd_onnx_attr_string(x->b, node, "coordinate_transformation_mode", "asymmetric");
    ykd_onnx_attr_string(x->b, node, "nearest_mode", "floor");
    return y;
}

/* One node of the graph: read its inputs, emit its ops, write its output. Every node kind has
 * a case (no default: -Wswitch keeps a new kind from compiling until it has one). */
static ykd_status emit_node(ykd_exporter *x, int k, ykd_error *err)
{
    const ykd_gnode *n = &x->g->nodes[k];
    const char *in = ykd_export_read(x, n->in), *y = NULL;
    if (in) {
        switch (n->kind) {
        case YKD_NODE_CONV:
            y = emit_conv(x, k, in);
            break;
        case YKD_NODE_ADD: {
            const char *acc = ykd_export_read(x, n->out);
            y = acc ? ykd_onnx_op2(x->b, "Add", acc, in) : NULL;
            break;
        }
        case YKD_NODE_MAXPOOL:
            y = emit_maxpool(x, n, in);
            break;
        case YKD_NODE_UPSAMPLE:
            y = emit_upsample(x, in);
            break;
        case YKD_NODE_COPY:
            y = in; /* a concat input: its channels simply live on in that tensor */
            break;
        case YKD_NODE_ATTENTION:
            y = ykd_export_attention(x, n, in);
            break;
        }
    }
    if (!y) {
        char name[128];
        ykd_model_node_name(x->model, k, name, sizeof name);
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "export: %s reads channels no earlier node wrote (a graph the exporter "
                        "does not know)",
                        name);
    }
    ykd_export_write(x, n->out, y);
    return YKD_OK;
}

/* A Python literal string: 'text' with \\, \' and control characters escaped. */
static void append_py_string(char *buf, size_t *used, const char *s)
{
    buf[(*used)++] = '\'';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '\'') {
            buf[(*used)++] = '\\';
            buf[(*used)++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            *used += (size_t)sprintf(buf + *used, "\\x%02x", *p);
        } else {
            buf[(*used)++] = (char)*p;
        }
    }
    buf[(*used)++] = '\'';
}

/* {0: 'person', 1: 'car'} as Ultralytics writes "names" (class<i> for unnamed classes). */
static char *names_literal(ykd_exporter *x)
{
    int nc = x->g->nc;
    size_t size = 8;
    for (int i = 0; i < nc; i++) {
        const char *name = ykd_model_class_name(x->model, i);
        size += 32 + 4 * (name ? strlen(name) : 16);
    }
    char *buf = ykd_onnx_alloc(x->b, size);
    if (!buf)
        return NULL;
    size_t used = 0;
    buf[used++] = '{';
    for (int i = 0; i < nc; i++) {
        char fallback[32];
        const char *name = ykd_model_class_name(x->model, i);
        if (!name) {
            snprintf(fallback, sizeof fallback, "class%d", i);
            name = fallback;
        }
        used += (size_t)sprintf(buf + used, "%s%d: ", i ? ", " : "", i);
        append_py_string(buf, &used, name);
    }
    buf[used++] = '}';
    buf[used] = '\0';
    return buf;
}

static Onnx__StringStringEntryProto *entry(ykd_onnx *b, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = ykd_onnx_alloc(b, sizeof *e);
    if (e) {
        onnx__string_string_entry_proto__init(e);
        e->key = ykd_onnx_str(b, "%s", key);
        e->value = ykd_onnx_str(b, "%s", value ? value : "");
    }
    return e;
}

static void set_metadata(ykd_exporter *x, Onnx__ModelProto *model)
{
    ykd_onnx *b = x->b;
    const ykd_export_options *o = x->options;
    char strides[128] = "[";
    for (int l = 0; l < x->g->levels; l++)
        snprintf(strides + strlen(strides), sizeof strides - strlen(strides), "%s%d",
                 l ? ", " : "", x->g->level_stride[l]);
    snprintf(strides + strlen(strides), sizeof strides - strlen(strides), "]");
    const char *pairs[][2] = {
        {"description", ykd_onnx_str(b, "yolokd %s model exported by yolokd",
                                     ykd_model_desc_name(x->model->desc))},
        {"task", "detect"},
        {"model", ykd_model_desc_name(x->model->desc)},
        {"yolokd_version", YKD_VERSION},
        {"stride", ykd_onnx_str(b, "%d", ykd_model_desc_max_stride(x->model->desc))},
        {"strides", strides},
        {"imgsz", ykd_onnx_str(b, "[%d, %d]", o->height, o->width)},
        /* integers, as Ultralytics' loaders read them: a dynamic batch says so apart */
        {"batch", ykd_onnx_str(b, "%d", o->batch ? o->batch : 1)},
        {"dynamic", o->batch ? "False" : "True"},
        {"channels", ykd_onnx_str(b, "%d", ykd_model_desc_input_channels(x->model->desc))},
        {"output", o->raw ? "raw" : "decoded"},
        {"names", names_literal(x)},
    };
    size_t count = sizeof pairs / sizeof pairs[0];
    model->metadata_props = ykd_onnx_alloc(b, count * sizeof *model->metadata_props);
    if (!model->metadata_props)
        return;
    for (size_t i = 0; i < count; i++)
        model->metadata_props[i] = entry(b, pairs[i][0], pairs[i][1]);
    model->n_metadata_props = count;
}

/* The host copies of the parameters and the folded inference weights. */
static ykd_status read_weights(ykd_exporter *x, ykd_model *m, ykd_error *err)
{
    size_t param_floats = m->graph->param_floats, folded_floats = m->graph->folded_floats;
    ykd_status st = ykd_model_fold(m, err);
    if (st != YKD_OK)
        return st;
    x->params = malloc((param_floats ? param_floats : 1) * sizeof(float));
    x->folded = malloc((folded_floats ? folded_floats : 1) * sizeof(float));
    if (!x->params || !x->folded)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "export: out of host memory");
    st = ykd_buffer_read(m->params, 0, x->params, param_floats * sizeof(float), err);
    if (st == YKD_OK && folded_floats)
        st = ykd_buffer_read(m->folded, 0, x->folded, folded_floats * sizeof(float), err);
    return st;
}

/* The serialized model, written atomically. */
static ykd_status write_model(ykd_exporter *x, const char *path, ykd_error *err)
{
    ykd_onnx *b = x->b;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    opset.domain = "";
    opset.has_version = 1;
    opset.version = x->options->opset;
    model.has_ir_version = 1;
    model.ir_version = ONNX__VERSION__IR_VERSION;
    model.opset_import = opsets;
    model.n_opset_import = 1;
    model.producer_name = "yolokd";
    model.producer_version = YKD_VERSION;
    model.graph = &b->graph;
    set_metadata(x, &model);
    if (b->failed)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "export: out of host memory building %s",
                        path);
    size_t size = onnx__model_proto__get_packed_size(&model);
    if (size > (size_t)INT32_MAX)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "export: %s would be %zu bytes, over protobuf's 2 GiB limit (external "
                        "weight data is not supported)",
                        path, size);
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "export: out of host memory (%zu bytes) "
                                                    "serializing %s", size, path);
    size_t packed = onnx__model_proto__pack(&model, bytes);
    const void *parts[1] = {bytes};
    ykd_status st = packed == size ? ykd_file_write_atomic(path, parts, &size, 1, err)
                                   : ykd_fail(err, YKD_ERR_FORMAT,
                                              "export: serializing %s gave %zu bytes, not %zu",
                                              path, packed, size);
    free(bytes);
    return st;
}

ykd_status ykd_export_onnx(ykd_model *m, const ykd_export_options *o, const char *path,
                           ykd_error *err)
{
    if (!m || !o || !path)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "export: no model, options or path");
    ykd_status st = check_options(m, o, err);
    if (st != YKD_OK)
        return st;
    ykd_onnx b;
    ykd_onnx_init(&b, ykd_model_desc_name(m->desc));
    ykd_exporter x = {.b = &b, .model = m, .g = m->graph, .options = o};
    st = read_weights(&x, m, err);
    if (st == YKD_OK) {
        int64_t dims[4] = {o->batch ? o->batch : -1, ykd_model_desc_input_channels(m->desc),
                           o->height, o->width};
        ykd_onnx_input(&b, "images", dims, 4, "batch");
        ykd_export_write(&x, x.g->input_value, "images");
    }
    for (int k = 0; st == YKD_OK && k < x.g->node_count; k++)
        st = emit_node(&x, k, err);
    if (st == YKD_OK && !ykd_export_head(&x))
        st = ykd_fail(err, YKD_ERR_FORMAT, "export: a Detect level's output was never written");
    if (st == YKD_OK)
        st = write_model(&x, path, err);
    free(x.params);
    free(x.folded);
    free(x.pieces);
    ykd_onnx_free(&b);
    return st;
}
