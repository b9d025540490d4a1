/* The graph's outputs: the Detect levels raw ("head3" ...), or decoded inside the graph into
 * Ultralytics' export layout [N, 4 + nc, anchors]: per side the expectation of the softmax over
 * its 16 DFL bins, the box (anchor - left/top, anchor + right/bottom) as centre and size, times
 * the level's stride; then the class sigmoids. */
#include <stdlib.h>

#include "model/export_internal.h"

static const char *reshape(ykd_exporter *x, const char *t, const int64_t *shape, size_t ndim)
{
    return ykd_onnx_op2(x->b, "Reshape", t, ykd_onnx_const_ints(x->b, shape, ndim));
}

static const char *concat(ykd_exporter *x, const char *const *parts, size_t count, int axis,
                          const char *output)
{
    Onnx__NodeProto *node;
    const char *y = ykd_onnx_op(x->b, "Concat", parts, count, output, &node);
    ykd_onnx_attr_int(x->b, node, "axis", axis);
    return y;
}

/* The batch dimension of the outputs: fixed, or symbolic. */
static int64_t batch_dim(const ykd_exporter *x)
{
    return x->options->batch ? x->options->batch : -1;
}

static bool raw_outputs(ykd_exporter *x)
{
    const ykd_graph *g = x->g;
    for (int l = 0; l < g->levels; l++) {
        const char *head = ykd_export_read(x, g->level_head[l]);
        if (!head)
            return false;
        int stride = g->level_stride[l], shift = 0;
        while ((1 << shift) < stride)
            shift++;
        const char *name = ykd_onnx_str(x->b, "head%d", shift);
        ykd_onnx_op(x->b, "Identity", &head, 1, name, NULL);
        int64_t dims[4] = {batch_dim(x), g->values[g->level_head[l]].c,
                           x->options->height / stride, x->options->width / stride};
        ykd_onnx_output(x->b, name, dims, 4, "batch");
    }
    return true;
}

/* The anchor centres [1, 2, anchors] in grid cells and the strides [1, 1, anchors]. */
static bool anchor_constants(ykd_exporter *x, int anchors, const char **centres,
                             const char **strides)
{
    float *c = malloc((size_t)anchors * 2 * sizeof *c), *s = malloc((size_t)anchors * sizeof *s);
    bool ok = c && s;
    for (int l = 0, a = 0; ok && l < x->g->levels; l++) {
        int stride = x->g->level_stride[l];
        int h = x->options->height / stride, w = x->options->width / stride;
        for (int i = 0; i < h * w; i++, a++) {
            c[a] = (float)(i % w) + 0.5f;
            c[anchors + a] = (float)(i / w) + 0.5f;
            s[a] = (float)stride;
        }
    }
    if (ok) {
        int64_t cdims[3] = {1, 2, anchors}, sdims[3] = {1, 1, anchors};
        *centres = ykd_onnx_const_floats(x->b, "anchors", cdims, 3, c);
        *strides = ykd_onnx_const_floats(x->b, "strides", sdims, 3, s);
    }
    free(c);
    free(s);
    if (!ok)
        x->b->failed = true;
    return ok;
}

/* [N, 64, anchors] DFL logits to [N, 4, anchors] distances in grid cells. */
static const char *dfl(ykd_exporter *x, const char *box, int anchors)
{
    int64_t split[4] = {0, 4, YKD_MODEL_REG_MAX, anchors}, flat[3] = {0, 4, anchors};
    int64_t perm[4] = {0, 1, 3, 2};
    Onnx__NodeProto *node;
    const char *bins = reshape(x, box, split, 4);
    const char *last = ykd_onnx_op(x->b, "Transpose", &bins, 1, NULL, &node);
    ykd_onnx_attr_ints(x->b, node, "perm", perm, 4);
    /* softmax over the last axis: the same meaning before opset 13 (which flattens from the
     * axis on) and after */
    const char *p = ykd_onnx_op(x->b, "Softmax", &last, 1, NULL, &node);
    ykd_onnx_attr_int(x->b, node, "axis", 3);
    float proj[YKD_MODEL_REG_MAX];
    for (int i = 0; i < YKD_MODEL_REG_MAX; i++)
        proj[i] = (float)i;
    int64_t pdims[2] = {YKD_MODEL_REG_MAX, 1};
    const char *expect = ykd_onnx_op2(x->b, "MatMul", p,
                                      ykd_onnx_const_floats(x->b, "dfl.proj", pdims, 2, proj));
    return reshape(x, expect, flat, 3);
}

static bool decoded_output(ykd_exporter *x)
{
    const ykd_graph *g = x->g;
    int levels = g->levels, anchors = 0, nc = g->nc;
    const char *boxes[YKD_MODEL_MAX_LEVELS], *classes[YKD_MODEL_MAX_LEVELS];
    for (int l = 0; l < levels; l++) {
        int bins = 4 * YKD_MODEL_REG_MAX;
        const char *box = ykd_export_read_range(x, g->level_head[l], 0, bins);
        const char *cls = ykd_export_read_range(x, g->level_head[l], bins, nc);
        if (!box || !cls)
            return false;
        int64_t box_shape[3] = {0, bins, -1}, cls_shape[3] = {0, nc, -1};
        boxes[l] = reshape(x, box, box_shape, 3);
        classes[l] = reshape(x, cls, cls_shape, 3);
        anchors += (x->options->height / g->level_stride[l]) *
                   (x->options->width / g->level_stride[l]);
    }
    const char *centres = NULL, *strides = NULL;
    if (!anchor_constants(x, anchors, &centres, &strides))
        return false;
    const char *dist = dfl(x, concat(x, boxes, (size_t)levels, 2, NULL), anchors);
    const char *lt = ykd_export_slice(x, dist, 1, 0, 2), *rb = ykd_export_slice(x, dist, 1, 2, 4);
    const char *x1y1 = ykd_onnx_op2(x->b, "Sub", centres, lt);
    const char *x2y2 = ykd_onnx_op2(x->b, "Add", centres, rb);
    int64_t one = 1;
    const float half = 0.5f;
    const char *sum = ykd_onnx_op2(x->b, "Add", x1y1, x2y2);
    const char *mid = ykd_onnx_op2(x->b, "Mul", sum,
                                   ykd_onnx_const_floats(x->b, NULL, &one, 1, &half));
    const char *size = ykd_onnx_op2(x->b, "Sub", x2y2, x1y1);
    const char *parts[2] = {mid, size};
    const char *box = ykd_onnx_op2(x->b, "Mul", concat(x, parts, 2, 1, NULL), strides);
    const char *scores =
        ykd_onnx_op1(x->b, "Sigmoid", concat(x, classes, (size_t)levels, 2, NULL));
    const char *out[2] = {box, scores};
    concat(x, out, 2, 1, "output0");
    int64_t dims[3] = {batch_dim(x), 4 + nc, anchors};
    ykd_onnx_output(x->b, "output0", dims, 3, "batch");
    return true;
}

bool ykd_export_head(ykd_exporter *x)
{
    return x->options->raw ? raw_outputs(x) : decoded_output(x);
}
