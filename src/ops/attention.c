/* YOLO11's multi-head attention over positions, from the batched products (matmul.c) and the
 * softmax along rows (reduce.c), one head at a time:
 *   forward   P = softmax_j(scale * q^T k)   (P[i, j]: position i attending to j)
 *             y = v P^T
 *   backward  dv = dy P,  dP = dy^T v,  dS = P * (dP - rowsum(dP * P)),
 *             dq = scale * k dS^T,  dk = scale * q dS. */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

enum { PART_Q, PART_K, PART_V };

/* Head h's q, k or v channels of qkv. */
static ykd_tensor head_part(const ykd_tensor *qkv, const ykd_attention *a, int h, int part)
{
    int first = h * (2 * a->key_dim + a->head_dim) + (part == PART_Q ? 0
                                                      : part == PART_K ? a->key_dim
                                                                       : 2 * a->key_dim);
    return ykd_tensor_channels(qkv, first, part == PART_V ? a->head_dim : a->key_dim);
}

/* Head h's [positions, positions] matrix of a probs-shaped tensor. */
static ykd_tensor head_probs(const ykd_tensor *probs, int h, int positions)
{
    return ykd_tensor_channels(probs, h * positions, positions);
}

static ykd_status check_attention(const char *op, const ykd_tensor *qkv,
                                  const ykd_attention *a, const ykd_tensor *probs,
                                  const char *out_name, const ykd_tensor *out, ykd_error *err)
{
    if (!a || a->heads < 1 || a->key_dim < 1 || a->head_dim < 1)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: heads, key_dim and head_dim must be >= 1 (got %d, %d, %d)", op,
                        a ? a->heads : 0, a ? a->key_dim : 0, a ? a->head_dim : 0);
    int positions = qkv->h * qkv->w;
    ykd_status st = ykd_op_expect_shape(op, "qkv", qkv, qkv->n,
                                        a->heads * (2 * a->key_dim + a->head_dim), qkv->h,
                                        qkv->w, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, "probs", probs, qkv->n, a->heads * positions, 1,
                                 positions, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, out_name, out, qkv->n, a->heads * a->head_dim, qkv->h,
                                 qkv->w, err);
    return st;
}

ykd_status ykd_attention_forward(const ykd_tensor *qkv, const ykd_attention *a,
                                 const ykd_tensor *probs, const ykd_tensor *y, ykd_error *err)
{
    static const char op[] = "ykd_attention_forward";
    const ykd_tensor *tensors[] = {qkv, probs, y};
    const char *names[] = {"qkv", "probs", "y"};
    ykd_status st = ykd_op_check_operands(op, tensors, names, 3, err);
    if (st == YKD_OK)
        st = check_attention(op, qkv, a, probs, "y", y, err);
    int positions = qkv->h * qkv->w;
    for (int h = 0; h < a->heads && st == YKD_OK; h++) {
        ykd_tensor q = head_part(qkv, a, h, PART_Q), k = head_part(qkv, a, h, PART_K);
        ykd_tensor v = head_part(qkv, a, h, PART_V), p = head_probs(probs, h, positions);
        ykd_tensor out = ykd_tensor_channels(y, h * a->head_dim, a->head_dim);
        st = ykd_matmul(&q, true, &k, false, a->scale, 0.0f, &p, err);
        if (st == YKD_OK)
            st = ykd_softmax_forward(&p, 3, &p, err);
        if (st == YKD_OK)
            st = ykd_matmul(&v, false, &p, true, 1.0f, 0.0f, &out, err);
        if (st != YKD_OK)
            ykd_error_prefix(err, "%s, head %d", op, h);
    }
    return st;
}

ykd_status ykd_attention_backward(const ykd_tensor *qkv, const ykd_tensor *probs,
                                  const ykd_tensor *dy, const ykd_attention *a, bool accumulate,
                                  const ykd_tensor *dqkv, ykd_error *err)
{
    static const char op[] = "ykd_attention_backward";
    const ykd_tensor *tensors[] = {qkv, probs, dy, dqkv};
    const char *names[] = {"qkv", "probs", "dy", "dqkv"};
    ykd_status st = ykd_op_check_operands(op, tensors, names, 4, err);
    if (st == YKD_OK)
        st = check_attention(op, qkv, a, probs, "dy", dy, err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape(op, "dqkv", dqkv, "qkv", qkv, err);
    if (st != YKD_OK)
        return st;
    int positions = qkv->h * qkv->w;
    ykd_device *device = ykd_tensor_device(qkv);
    ykd_buffer *scratch = NULL;
    st = ykd_op_scratch(device, (size_t)qkv->n * positions * positions, op, &scratch, err);
    if (st != YKD_OK)
        return st;
    /* dP, then dS in place */
    ykd_tensor ds = ykd_tensor_view(scratch, 0, qkv->n, positions, 1, positions);
    float beta = accumulate ? 1.0f : 0.0f;
    for (int h = 0; h < a->heads && st == YKD_OK; h++) {
        ykd_tensor q = head_part(qkv, a, h, PART_Q), k = head_part(qkv, a, h, PART_K);
        ykd_tensor v = head_part(qkv, a, h, PART_V), p = head_probs(probs, h, positions);
        ykd_tensor dq = head_part(dqkv, a, h, PART_Q), dk = head_part(dqkv, a, h, PART_K);
        ykd_tensor dv = head_part(dqkv, a, h, PART_V);
        ykd_tensor g = ykd_tensor_channels(dy, h * a->head_dim, a->head_dim);
        st = ykd_matmul(&g, false, &p, false, 1.0f, beta, &dv, err);
        if (st == YKD_OK)
            st = ykd_matmul(&g, true, &v, false, 1.0f, 0.0f, &ds, err);
        if (st == YKD_OK)
            st = ykd_softmax_backward(&p, &ds, 3, &ds, err);
        if (st == YKD_OK)
            st = ykd_matmul(&k, false, &ds, true, a->scale, beta, &dq, err);
        if (st == YKD_OK)
            st = ykd_matmul(&q, false, &ds, false, a->scale, beta, &dk, err);
        if (st != YKD_OK)
            ykd_error_prefix(err, "%s, head %d", op, h);
    }
    ykd_buffer_free(scratch);
    return st;
}
