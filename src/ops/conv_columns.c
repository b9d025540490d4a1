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
    cl_mem x_mem = x->buffer->mem;
    cl_uint x_offset = (cl_uint)(x->offset + (size_t)first * x->batch_stride);
    cl_uint x_batch = (cl_uint)x->batch_stride;
    cl_int c = s->cin, h = s->h, w = s->w, k = s->k, stride = s->stride, pad = s->pad;
    cl_int ho = s->ho, wo = s->wo;
    cl_uint col_offset = (cl_uint)scratch_offset;
    ykd_kernel_arg args[] = {YKD_ARG(x_mem), YKD_ARG(x_offset), YKD_ARG(x_batch), YKD_ARG(c),
                             YKD_ARG(h),     YKD_ARG(w),        YKD_ARG(k),       YKD_ARG(stride),
                             YKD_ARG(pad),   YKD_ARG(ho),       YKD_ARG(wo),
                             YKD_ARG(scratch->mem), YKD_ARG(col_offset)};
    size_t global[3] = {(size_t)s->ho, s->ckk, (size_t)count};
    size_t local[3] = {1, YKD_CONV_ROW_GROUP, 1};
    return ykd_kernel_run(device, kernel, args, sizeof args / sizeof args[0], 3, global, local,
                          NULL, err);
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
    cl_mem col = scratch->mem, dx_mem = dx->buffer->mem;
    cl_int c = s->cin, h = s->h, w = s->w, k = s->k, stride = s->stride, pad = s->pad;
    cl_int ho = s->ho, wo = s->wo, acc = accumulate;
    cl_uint dx_offset = (cl_uint)(dx->offset + (size_t)first * dx->batch_stride);
    cl_uint dx_batch = (cl_uint)dx->batch_stride;
    ykd_kernel_arg args[] = {YKD_ARG(col),    YKD_ARG(c),        YKD_ARG(h),
                             YKD_ARG(w),      YKD_ARG(k),        YKD_ARG(stride),
                             YKD_ARG(pad),    YKD_ARG(ho),       YKD_ARG(wo),
                             YKD_ARG(dx_mem), YKD_ARG(dx_offset), YKD_ARG(dx_batch),
                             YKD_ARG(acc)};
    size_t global[3] = {(size_t)s->h, (size_t)s->cin, (size_t)count};
    size_t local[3] = {1, YKD_CONV_ROW_GROUP, 1};
    return ykd_kernel_run(device, kernel, args, sizeof args / sizeof args[0], 3, global, local,
                          NULL, err);
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
