/* YOLO11's attention node in ONNX, as ykd_attention_forward computes it (src/ops/attention.c):
 * qkv [N, heads * (2 kd + hd), H, W] holds per head its q, k and v channels; per head
 * P = softmax_j(scale * q^T k) over positions, y = v P^T, the heads' outputs stacked on the
 * channels as [N, heads * hd, H, W].
 *
 * Only the batch and the channel counts are written into the reshapes: positions flatten with
 * -1 and unflatten to the input's own H and W (Shape, Slice), so the graph stays right for any
 * batch and size its input is given. Every op here means the same from opset 11 on (Softmax's
 * axis is the last one, which the pre-13 flattening leaves alone). */
#include "model/export_internal.h"

static const char *transpose_last(ykd_exporter *x, const char *t)
{
    static const int64_t perm[4] = {0, 1, 3, 2};
    Onnx__NodeProto *node;
    const char *y = ykd_onnx_op(x->b, "Transpose", &t, 1, NULL, &node);
    ykd_onnx_attr_ints(x->b, node, "perm", perm, 4);
    return y;
}

/* [N, channels, H, W] for a tensor whose last axes flatten qkv's positions. */
static const char *unflatten(ykd_exporter *x, const char *t, int channels, const char *qkv)
{
    int64_t front[2] = {0, channels}, from = 2, to = 4, axis = 0;
    const char *shape = ykd_onnx_op1(x->b, "Shape", qkv);
    const char *slice_in[4] = {shape, ykd_onnx_const_ints(x->b, &from, 1),
                               ykd_onnx_const_ints(x->b, &to, 1),
                               ykd_onnx_const_ints(x->b, &axis, 1)};
    const char *hw = ykd_onnx_op(x->b, "Slice", slice_in, 4, NULL, NULL);
    const char *parts[2] = {ykd_onnx_const_ints(x->b, front, 2), hw};
    Onnx__NodeProto *node;
    const char *target = ykd_onnx_op(x->b, "Concat", parts, 2, NULL, &node);
    ykd_onnx_attr_int(x->b, node, "axis", 0);
    return ykd_onnx_op2(x->b, "Reshape", t, target);
}

const char *ykd_export_attention(ykd_exporter *x, const ykd_gnode *n, const char *qkv)
{
    int kd = n->key_dim, hd = n->head_dim, per = 2 * kd + hd;
    int64_t heads_shape[4] = {0, n->heads, per, -1};
    const char *per_head = ykd_onnx_op2(x->b, "Reshape", qkv,
                                        ykd_onnx_const_ints(x->b, heads_shape, 4));
    const char *q = ykd_export_slice(x, per_head, 2, 0, kd);
    const char *k = ykd_export_slice(x, per_head, 2, kd, 2 * kd);
    const char *v = ykd_export_slice(x, per_head, 2, 2 * kd, per);
    /* the scale the ops use: ykd_model_attention's */
    ykd_attention a;
    ykd_model_attention(n, &a);
    int64_t one = 1;
    const char *scores = ykd_onnx_op2(x->b, "Mul",
                                      ykd_onnx_op2(x->b, "MatMul", transpose_last(x, q), k),
                                      ykd_onnx_const_floats(x->b, NULL, &one, 1, &a.scale));
    Onnx__NodeProto *node;
    const char *probs = ykd_onnx_op(x->b, "Softmax", &scores, 1, NULL, &node);
    ykd_onnx_attr_int(x->b, node, "axis", 3);
    const char *y = ykd_onnx_op2(x->b, "MatMul", v, transpose_last(x, probs));
    return unflatten(x, y, n->heads * hd, qkv);
}
