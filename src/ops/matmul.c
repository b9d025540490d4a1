/* Batched matrix products over tensors seen as [C, H*W] matrices per image: the attention's
 * products, on the GEMM kernels (and their tuner) that the convolutions use. */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/gemm.h"

/* A tensor's images as GEMM operands: rows are channels, H*W floats apart. */
static ykd_gemm_operand operand(const ykd_tensor *t)
{
    return (ykd_gemm_operand){t->buffer, t->offset, t->h * t->w, t->batch_stride, 0};
}

ykd_status ykd_matmul(const ykd_tensor *a, bool trans_a, const ykd_tensor *b, bool trans_b,
                      float alpha, float beta, const ykd_tensor *c, ykd_error *err)
{
    static const char op[] = "ykd_matmul";
    const ykd_tensor *tensors[] = {a, b, c};
    const char *names[] = {"a", "b", "c"};
    ykd_status st = ykd_op_check_operands(op, tensors, names, 3, err);
    if (st != YKD_OK)
        return st;
    if (trans_a && trans_b)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "%s: both operands transposed (swap them and transpose the product)",
                        op);
    int a_cols = a->h * a->w, b_cols = b->h * b->w;
    int m = trans_a ? a_cols : a->c, k = trans_a ? a->c : a_cols;
    int k_b = trans_b ? b_cols : b->c, cols = trans_b ? b->c : b_cols;
    char as[96], bs[96], cs[96];
    ykd_tensor_shape_str(a, as, sizeof as);
    ykd_tensor_shape_str(b, bs, sizeof bs);
    ykd_tensor_shape_str(c, cs, sizeof cs);
    if (a->n != b->n || a->n != c->n)
        return ykd_fail(err, YKD_ERR_SHAPE, "%s: a %s, b %s and c %s differ in images", op, as,
                        bs, cs);
    if (k != k_b)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: a %s%s and b %s%s do not chain: %d against %d", op, as,
                        trans_a ? " transposed" : "", bs, trans_b ? " transposed" : "", k, k_b);
    if (c->c != m || c->h * c->w != cols)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: c %s should be a %d x %d product per image (C by H*W)", op, cs, m,
                        cols);
    ykd_gemm g = {.m = m, .n = cols, .k = k, .batch = a->n, .k_batches = 1, .trans_a = trans_a,
                  .trans_b = trans_b, .a = operand(a), .b = operand(b), .c = operand(c),
                  .alpha = alpha, .beta = beta, .act = YKD_ACTIVATION_NONE};
    st = ykd_gemm_run(ykd_tensor_device(a), &g, err);
    if (st != YKD_OK)
        ykd_error_prefix(err, "%s", op);
    return st;
}
