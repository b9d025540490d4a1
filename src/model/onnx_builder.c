/* The ONNX graph builder: protobuf-c messages from one arena (see onnx_builder.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/onnx_builder.h"

void ykd_onnx_init(ykd_onnx *b, const char *graph_name)
{
    memset(b, 0, sizeof *b);
    onnx__graph_proto__init(&b->graph);
    b->graph.name = ykd_onnx_str(b, "%s", graph_name);
}

void ykd_onnx_free(ykd_onnx *b)
{
    for (size_t i = 0; i < b->alloc_count; i++)
        free(b->allocs[i]);
    free(b->allocs);
    free(b->graph.node);
    free(b->graph.initializer);
    free(b->graph.input);
    free(b->graph.output);
    memset(b, 0, sizeof *b);
}

void *ykd_onnx_alloc(ykd_onnx *b, size_t size)
{
    if (b->alloc_count == b->alloc_cap) {
        size_t cap = b->alloc_cap ? 2 * b->alloc_cap : 256;
        void **p = realloc(b->allocs, cap * sizeof *p);
        if (!p) {
            b->failed = true;
            return NULL;
        }
        b->allocs = p;
        b->alloc_cap = cap;
    }
    void *mem = calloc(1, size ? size : 1);
    if (!mem) {
        b->failed = true;
        return NULL;
    }
    b->allocs[b->alloc_count++] = mem;
    return mem;
}

char *ykd_onnx_str(ykd_onnx *b, const char *fmt, ...)
{
    static char empty[1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? ykd_onnx_alloc(b, (size_t)n + 1) : NULL;
    if (!s)
        return empty;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Appends item to a growing pointer array (*items, *count, *cap). */
static void push(ykd_onnx *b, void ***items, size_t *count, size_t *cap, void *item)
{
    if (!item)
        return;
    if (*count == *cap) {
        size_t next = *cap ? 2 * *cap : 64;
        void **p = realloc(*items, next * sizeof *p);
        if (!p) {
            b->failed = true;
            return;
        }
        *items = p;
        *cap = next;
    }
    (*items)[(*count)++] = item;
}

const char *ykd_onnx_op(ykd_onnx *b, const char *op_type, const char *const *inputs,
                        size_t input_count, const char *output_name, Onnx__NodeProto **out)
{
    Onnx__NodeProto *node = ykd_onnx_alloc(b, sizeof *node);
    char **in = ykd_onnx_alloc(b, (input_count ? input_count : 1) * sizeof *in);
    char **outs = ykd_onnx_alloc(b, sizeof *outs);
    static char none[1];
    if (out)
        *out = node;
    if (!node || !in || !outs)
        return none;
    onnx__node_proto__init(node);
    int id = b->next_name++;
    node->name = ykd_onnx_str(b, "%s_%d", op_type, id);
    node->op_type = ykd_onnx_str(b, "%s", op_type);
    for (size_t i = 0; i < input_count; i++)
        in[i] = ykd_onnx_str(b, "%s", inputs[i]);
    node->n_input = input_count;
    node->input = in;
    outs[0] = output_name ? ykd_onnx_str(b, "%s", output_name) : ykd_onnx_str(b, "t%d", id);
    node->n_output = 1;
    node->output = outs;
    push(b, (void ***)&b->graph.node, &b->graph.n_node, &b->node_cap, node);
    return outs[0];
}

const char *ykd_onnx_op1(ykd_onnx *b, const char *op_type, const char *x)
{
    return ykd_onnx_op(b, op_type, &x, 1, NULL, NULL);
}

const char *ykd_onnx_op2(ykd_onnx *b, const char *op_type, const char *x, const char *y)
{
    const char *in[2] = {x, y};
    return ykd_onnx_op(b, op_type, in, 2, NULL, NULL);
}

/* A fresh attribute appended to node (NULL when out of memory). */
static Onnx__AttributeProto *add_attr(ykd_onnx *b, Onnx__NodeProto *node, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = ykd_onnx_alloc(b, sizeof *a);
    if (!node || !a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = ykd_onnx_str(b, "%s", name);
    a->has_type = 1;
    a->type = type;
    /* attributes per node are few: grow the array one by one from the arena */
    Onnx__AttributeProto **list = ykd_onnx_alloc(b, (node->n_attribute + 1) * sizeof *list);
    if (!list)
        return NULL;
    if (node->n_attribute)
        memcpy(list, node->attribute, node->n_attribute * sizeof *list);
    list[node->n_attribute++] = a;
    node->attribute = list;
    return a;
}

void ykd_onnx_attr_int(ykd_onnx *b, Onnx__NodeProto *node, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = add_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = value;
    }
}

void ykd_onnx_attr_ints(ykd_onnx *b, Onnx__NodeProto *node, const char *name,
                        const int64_t *values, size_t count)
{
    Onnx__AttributeProto *a =
        add_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = ykd_onnx_alloc(b, count * sizeof *copy);
    if (a && copy) {
        memcpy(copy, values, count * sizeof *copy);
        a->ints = copy;
        a->n_ints = count;
    }
}

void ykd_onnx_attr_float(ykd_onnx *b, Onnx__NodeProto *node, const char *name, float value)
{
    Onnx__AttributeProto *a =
        add_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = value;
    }
}

void ykd_onnx_attr_string(ykd_onnx *b, Onnx__NodeProto *node, const char *name,
                          const char *value)
{
    Onnx__AttributeProto *a =
        add_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *copy = ykd_onnx_str(b, "%s", value);
    if (a) {
        a->has_s = 1;
        a->s.data = (uint8_t *)copy;
        a->s.len = strlen(copy);
    }
}

/* An initializer of count elements of size bytes each, stored little-endian in raw_data as
 * ONNX requires, whatever the host's byte order. */
static const char *add_const(ykd_onnx *b, const char *name, int32_t type, const int64_t *dims,
                             size_t ndim, const void *values, size_t size)
{
    static char none[1];
    Onnx__TensorProto *t = ykd_onnx_alloc(b, sizeof *t);
    int64_t *d = ykd_onnx_alloc(b, (ndim ? ndim : 1) * sizeof *d);
    size_t count = 1;
    for (size_t i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    uint8_t *raw = ykd_onnx_alloc(b, count * size);
    if (!t || !d || !raw)
        return none;
    onnx__tensor_proto__init(t);
    const uint8_t *src = values;
    for (size_t i = 0; i < count; i++) {
        uint64_t bits = 0;
        if (size == 4) {
            uint32_t v;
            memcpy(&v, src + i * 4, 4);
            bits = v;
        } else {
            memcpy(&bits, src + i * 8, 8);
        }
        for (size_t k = 0; k < size; k++)
            raw[i * size + k] = (uint8_t)(bits >> (8 * k));
    }
    memcpy(d, dims, ndim * sizeof *d);
    t->dims = d;
    t->n_dims = ndim;
    t->has_data_type = 1;
    t->data_type = type;
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = count * size;
    t->name = name ? ykd_onnx_str(b, "%s", name) : ykd_onnx_str(b, "c%d", b->next_name++);
    push(b, (void ***)&b->graph.initializer, &b->graph.n_initializer, &b->init_cap, t);
    return t->name;
}

const char *ykd_onnx_const_floats(ykd_onnx *b, const char *name, const int64_t *dims,
                                  size_t ndim, const float *values)
{
    return add_const(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, ndim, values, 4);
}

const char *ykd_onnx_const_int64s(ykd_onnx *b, const char *name, const int64_t *dims,
                                  size_t ndim, const int64_t *values)
{
    return add_const(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, ndim, values, 8);
}

const char *ykd_onnx_const_ints(ykd_onnx *b, const int64_t *values, size_t count)
{
    int64_t dim = (int64_t)count;
    return ykd_onnx_const_int64s(b, NULL, &dim, 1, values);
}

static Onnx__ValueInfoProto *value_info(ykd_onnx *b, const char *name, const int64_t *dims,
                                        size_t ndim, const char *dim_param)
{
    Onnx__ValueInfoProto *v = ykd_onnx_alloc(b, sizeof *v);
    Onnx__TypeProto *type = ykd_onnx_alloc(b, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = ykd_onnx_alloc(b, sizeof *tensor);
    Onnx__TensorShapeProto *shape = ykd_onnx_alloc(b, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dim = ykd_onnx_alloc(b, (ndim ? ndim : 1) * sizeof *dim);
    if (!v || !type || !tensor || !shape || !dim)
        return NULL;
    for (size_t i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = ykd_onnx_alloc(b, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ykd_onnx_str(b, "%s", dim_param ? dim_param : "dim");
        }
        dim[i] = d;
    }
    onnx__tensor_shape_proto__init(shape);
    shape->dim = dim;
    shape->n_dim = ndim;
    onnx__type_proto__tensor__init(tensor);
    tensor->has_elem_type = 1;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    onnx__value_info_proto__init(v);
    v->name = ykd_onnx_str(b, "%s", name);
    v->type = type;
    return v;
}

void ykd_onnx_input(ykd_onnx *b, const char *name, const int64_t *dims, size_t ndim,
                    const char *dim_param)
{
    push(b, (void ***)&b->graph.input, &b->graph.n_input, &b->input_cap,
         value_info(b, name, dims, ndim, dim_param));
}

void ykd_onnx_output(ykd_onnx *b, const char *name, const int64_t *dims, size_t ndim,
                     const char *dim_param)
{
    push(b, (void ***)&b->graph.output, &b->graph.n_output, &b->output_cap,
         value_info(b, name, dims, ndim, dim_param));
}
