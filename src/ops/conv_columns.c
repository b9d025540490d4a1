/* Convolution GEMMs fed by im2col columns: any stride, padding and GEMM implementation. The
 * columns live in the device's scratch buffer, a pass of images at a time. */
#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

/* im2col of x's images [first, first + count) into scratch from scratch_offset. */
static ykd_status unfold(ykd_device *device, const ykd_tensor *x, const ykd_conv_shape *s,
                         int first, int count, ykd_buffer *scratch, size_t scratch_offset,
                         ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL, "im2col", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_images(&a, x, first);
    const int geometry[] = {s->cin, s->h, s->w, s->k, s->stride, s->pad, s->ho, s->wo};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, scratch_offset);
    size_t global[3] = {(size_t)s->ho, s->ckk, (size_t)count};
    size_t local[3] = {1, ykd_conv_row_group(device, kernel), 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

size_t ykd_conv_columns_forward_floats(ykd_device *device, const ykd_conv_shape *s)
{
    if (s->direct)
        return 0;
    size_t per_image = s->ckk * s->hwo;
    return (size_t)ykd_conv_images_per_pass(device, per_image, s->n) * per_image;
}

ykd_status ykd_conv_forward_columns(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                    size_t w_offset, const ykd_conv_shape *s,
                                    const ykd_tensor *bias, ykd_activation activation,
                                    float beta, const ykd_tensor *y, size_t reserved,
                                    ykd_error *err)
{
    ykd_gemm g = {.m = s->cout, .n = (int)s->hwo, .k = (int)s->ckk, .batch = s->n,
                  .k_batches = 1, .a = ykd_conv_operand(w, w_offset, s->ckk, 0, 0),
                  .c = ykd_conv_tensor_operand(y, 0, s->hwo), .alpha = 1.0f, .beta = beta,
                  .bias = bias ? bias->buffer : NULL, .bias_offset = bias ? bias->offset : 0,
                  .act = activation};
    if (s->direct) {
        g.b = ykd_conv_tensor_operand(x, 0, s->hwo);
        return ykd_gemm_run(device, &g, err);
    }
    size_t per_image = s->ckk * s->hwo;
    int pass = ykd_conv_images_per_pass(device, per_image, s->n);
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(device, (reserved + (size_t)pass * per_image) * sizeof(float),
                                    &scratch, err);
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        st = unfold(device, x, s, first, count, scratch, reserved, err);
        g.batch = count;
        g.b = ykd_conv_operand(scratch, reserved, s->hwo, per_image, 0);
        g.c = ykd_conv_tensor_operand(y, first, s->hwo);
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
    }
    return st;
}

/* col2im of scratch columns into dx's images [first, first + count). */
static ykd_status fold(ykd_device *device, const ykd_buffer *scratch, const ykd_conv_shape *s,
                       const ykd_tensor *dx, int first, int count, bool accumulate,
                       ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL, "col2im", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    const int geometry[] = {s->cin, s->h, s->w, s->k, s->stride, s->pad, s->ho, s->wo};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_images(&a, dx, first);
    ykd_op_args_int(&a, accumulate);
    size_t global[3] = {(size_t)s->h, (size_t)s->cin, (size_t)count};
    size_t local[3] = {1, ykd_conv_row_group(device, kernel), 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

ykd_status ykd_conv_input_grad_columns(ykd_device *device, const ykd_tensor *dy,
                                       const ykd_tensor *w, const ykd_conv_shape *s,
                                       bool accumulate, const ykd_tensor *dx, ykd_error *err)
{
    ykd_gemm g = {.m = (int)s->ckk, .n = (int)s->hwo, .k = s->cout, .k_batches = 1,
                  .trans_a = true, .a = ykd_conv_operand(w->buffer, w->offset, s->ckk, 0, 0),
                  .alpha = 1.0f, .beta = 0.0f, .act = YKD_ACTIVATION_NONE};
    size_t per_image = s->ckk * s->hwo;
    int pass = ykd_conv_images_per_pass(device, per_image, s->n);
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(device, (size_t)pass * per_image * sizeof(float), &scratch,
                                    err);
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        g.batch = count;
        g.b = ykd_conv_tensor_operand(dy, first, s->hwo);
        g.c = ykd_conv_operand(scratch, 0, s->hwo, per_image, 0);
        st = ykd_gemm_run(device, &g, err);
        if (st == YKD_OK)
            st = fold(device, scratch, s, dx, first, count, accumulate, err);
    }
    return st;
}

ykd_status ykd_conv_weight_grad_columns(ykd_device *device, const ykd_tensor *x,
                                        const ykd_tensor *dy, const ykd_conv_shape *s,
                                        bool accumulate, const ykd_tensor *dw, ykd_error *err)
{
    bool split = ykd_conv_split_over_images(device, s->cout, s->ckk);
    size_t per_image = s->direct ? 0 : s->hwo * s->ckk, grad_size = (size_t)s->cout * s->ckk;
    size_t pass_floats = per_image + (split ? grad_size : 0);
    int pass = pass_floats ? ykd_conv_images_per_pass(device, pass_floats, s->n) : s->n;
    size_t parts_offset = (size_t)pass * per_image;
    ykd_buffer *scratch = NULL;
    ykd_status st = YKD_OK;
    if (pass_floats)
        st = ykd_ops_scratch(device, (size_t)pass * pass_floats * sizeof(float), &scratch, err);
    /* dW = sum over images of dy [cout, hwo] x col^T, col [ckk, hwo] */
    ykd_gemm g = {.m = s->cout, .n = (int)s->ckk, .k = (int)s->hwo, .trans_b = true,
                  .alpha = 1.0f, .act = YKD_ACTIVATION_NONE};
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        bool add = accumulate || first > 0;
        g.a = ykd_conv_tensor_operand(dy, first, s->hwo);
        if (s->direct) {
            g.b = ykd_conv_tensor_operand(x, first, s->hwo);
        } else {
            st = unfold(device, x, s, first, count, scratch, 0, err);
            g.b = ykd_conv_operand(scratch, 0, s->hwo, per_image, per_image);
        }
        if (st == YKD_OK)
            st = ykd_conv_weight_grad_pass(device, &g, s, count, split, scratch, parts_offset, dw,
                                           add, err);
    }
    return st;
}
