/* Convolution as GEMM.
 *
 * Forward: a direct product for 1x1 stride-1 kernels, im2col + GEMM otherwise.
 * Input gradient: for stride 1, the forward pass of the convolution with flipped, transposed
 * weights and padding K-1-P over the output gradient (im2col + GEMM again: no scatter); for
 * larger strides, a transposed GEMM into columns and col2im.
 * Weight gradient: the output gradient times the im2col columns transposed (cl/gemm_nt.cl:
 * both operands read along their rows), summed over images in the GEMM's k-runs or, when the
 * output is too small to keep the device busy, per image and added up afterwards.
 * Columns live in the device's scratch buffer, a pass of images at a time. */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/gemm.h"
#include "ops/ops_state.h"

static const char *const conv_sources[] = {"cl/conv.cl", NULL};

/* Work-items per group for the row kernels (im2col, col2im): PoCL runs a group's work-items
 * as one loop, so grouping the short rows amortises its per-group cost (on the v8n shapes,
 * 1 -> 16 cut im2col's time by a third; 64 was slower again). */
enum { ROW_GROUP = 16 };

/* The geometry of one convolution, seen as the forward pass it computes. */
typedef struct conv_shape {
    int n, cin, h, w;  /* input */
    int cout, k;       /* weights [cout, cin, k, k] */
    int stride, pad;
    int ho, wo;        /* output */
    size_t ckk, hwo;   /* GEMM sizes: cin * k * k, ho * wo */
    bool direct;       /* 1x1, stride 1, no padding: the input is the GEMM operand itself */
} conv_shape;

int ykd_conv2d_out_size(int in, int kernel, int stride, int padding)
{
    if (stride <= 0 || kernel <= 0 || padding < 0)
        return 0;
    int span = in + 2 * padding - kernel;
    return span < 0 ? 0 : span / stride + 1;
}

static void derive(conv_shape *s)
{
    s->ho = ykd_conv2d_out_size(s->h, s->k, s->stride, s->pad);
    s->wo = ykd_conv2d_out_size(s->w, s->k, s->stride, s->pad);
    s->ckk = (size_t)s->cin * s->k * s->k;
    s->hwo = (size_t)s->ho * s->wo;
    s->direct = s->k == 1 && s->stride == 1 && s->pad == 0;
}

static ykd_status check_params(const char *op, const ykd_conv2d_params *p, ykd_error *err)
{
    if (!p || p->stride < 1 || p->padding < 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: stride must be >= 1 and padding >= 0 (got %d and %d)", op,
                        p ? p->stride : 0, p ? p->padding : 0);
    if (p->groups != 1 && p->groups != 0)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "%s: groups = %d; only ordinary convolutions (groups 1) are implemented",
                        op, p->groups);
    return YKD_OK;
}

/* Derives the geometry from x (or dx) and w, checking they fit together. */
static ykd_status make_shape(const char *op, const ykd_tensor *x, const ykd_tensor *w,
                             const ykd_conv2d_params *p, conv_shape *s, ykd_error *err)
{
    ykd_status st = check_params(op, p, err);
    if (st != YKD_OK)
        return st;
    char ws[96], xs[96];
    ykd_tensor_shape_str(w, ws, sizeof ws);
    ykd_tensor_shape_str(x, xs, sizeof xs);
    if (w->h != w->w)
        return ykd_fail(err, YKD_ERR_SHAPE, "%s: weights %s: only square kernels", op, ws);
    if (w->c != x->c)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: weights %s expect %d input channels but the input %s has %d", op,
                        ws, w->c, xs, x->c);
    st = ykd_op_expect_packed(op, "weights", w, err);
    if (st != YKD_OK)
        return st;
    *s = (conv_shape){.n = x->n, .cin = x->c, .h = x->h, .w = x->w, .cout = w->n, .k = w->h,
                      .stride = p->stride, .pad = p->padding};
    derive(s);
    if (s->ho <= 0 || s->wo <= 0)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: a %dx%d kernel with padding %d does not fit the input %s", op, s->k,
                        s->k, s->pad, xs);
    return YKD_OK;
}

/* How many images' worth of scratch (floats_per_image each) one pass uses: as many as fit a
 * budget that keeps the scratch cache-friendly on CPUs and large enough on GPUs for batched
 * GEMMs to fill the device. */
static int images_per_pass(ykd_device *device, size_t floats_per_image, int n)
{
    size_t budget = device->info.type == YKD_DEVICE_TYPE_CPU ? (size_t)64 << 20
                                                              : (size_t)256 << 20;
    if (budget > device->info.max_alloc_bytes / 2)
        budget = device->info.max_alloc_bytes / 2;
    ykd_ops_state *state = NULL;
    if (ykd_ops_state_get(device, &state, NULL) == YKD_OK && state->column_budget)
        budget = state->column_budget;
    size_t images = budget / (floats_per_image * sizeof(float));
    if (images < 1)
        images = 1;
    return images < (size_t)n ? (int)images : n;
}

static ykd_gemm_operand operand(const ykd_buffer *buffer, size_t offset, size_t ld,
                                size_t batch_stride, size_t kbatch_stride)
{
    return (ykd_gemm_operand){buffer, offset, (int)ld, batch_stride, kbatch_stride};
}

static ykd_gemm_operand tensor_operand(const ykd_tensor *t, int first_image, size_t ld)
{
    return operand(t->buffer, t->offset + (size_t)first_image * t->batch_stride, ld,
                   t->batch_stride, t->batch_stride);
}

/* im2col of x's images [first, first + count) into scratch from scratch_offset. */
static ykd_status unfold(ykd_device *device, const ykd_tensor *x, const conv_shape *s, int first,
                         int count, ykd_buffer *scratch, size_t scratch_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, conv_sources, NULL, "im2col", &kernel, err);
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
    size_t local[3] = {1, ROW_GROUP, 1};
    return ykd_kernel_run(device, kernel, args, sizeof args / sizeof args[0], 3, global, local,
                          NULL, err);
}

/* y = act(conv(x, w) + bias) + beta * y for the geometry s, with w given as a buffer range
 * [cout, cin * k * k] (the caller's weights, or flipped ones in the scratch) and the columns
 * placed in the scratch after reserved floats. */
static ykd_status forward_gemm(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                               size_t w_offset, const conv_shape *s, const ykd_tensor *bias,
                               ykd_activation activation, float beta, const ykd_tensor *y,
                               ykd_buffer *scratch, size_t reserved, ykd_error *err)
{
    ykd_gemm g = {.m = s->cout, .n = (int)s->hwo, .k = (int)s->ckk, .batch = s->n,
                  .k_batches = 1, .a = operand(w, w_offset, s->ckk, 0, 0),
                  .c = tensor_operand(y, 0, s->hwo), .alpha = 1.0f, .beta = beta,
                  .bias = bias ? bias->buffer : NULL, .bias_offset = bias ? bias->offset : 0,
                  .act = activation};
    if (s->direct) {
        g.b = tensor_operand(x, 0, s->hwo);
        return ykd_gemm_run(device, &g, err);
    }
    size_t per_image = s->ckk * s->hwo;
    int pass = images_per_pass(device, per_image, s->n);
    ykd_status st = YKD_OK;
    if (!scratch)
        st = ykd_ops_scratch(device, (reserved + (size_t)pass * per_image) * sizeof(float),
                             &scratch, err);
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        st = unfold(device, x, s, first, count, scratch, reserved, err);
        g.batch = count;
        g.b = operand(scratch, reserved, s->hwo, per_image, 0);
        g.c = tensor_operand(y, first, s->hwo);
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
    }
    return st;
}

ykd_status ykd_conv2d_forward(const ykd_tensor *x, const ykd_tensor *w, const ykd_tensor *bias,
                              const ykd_conv2d_params *params, ykd_activation activation,
                              const ykd_tensor *y, ykd_error *err)
{
    static const char op[] = "conv2d_forward";
    const ykd_tensor *operands[] = {x, w, y, bias};
    const char *names[] = {"input", "weights", "output", "bias"};
    ykd_status st = ykd_op_check_operands(op, operands, names, bias ? 4 : 3, err);
    conv_shape s;
    if (st == YKD_OK)
        st = make_shape(op, x, w, params, &s, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, "output", y, s.n, s.cout, s.ho, s.wo, err);
    if (st == YKD_OK && bias)
        st = ykd_op_expect_shape(op, "bias", bias, 1, s.cout, 1, 1, err);
    if (st != YKD_OK)
        return st;
    return forward_gemm(ykd_tensor_device(x), x, w->buffer, w->offset, &s, bias, activation,
                        0.0f, y, NULL, 0, err);
}

/* col2im of scratch columns into dx's images [first, first + count). */
static ykd_status fold(ykd_device *device, const ykd_buffer *scratch, const conv_shape *s,
                       const ykd_tensor *dx, int first, int count, bool accumulate,
                       ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, conv_sources, NULL, "col2im", &kernel, err);
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
    size_t local[3] = {1, ROW_GROUP, 1};
    return ykd_kernel_run(device, kernel, args, sizeof args / sizeof args[0], 3, global, local,
                          NULL, err);
}

/* Strided convolutions: dcol = W^T dy, then col2im. */
static ykd_status input_grad_by_col2im(ykd_device *device, const ykd_tensor *dy,
                                       const ykd_tensor *w, const conv_shape *s, bool accumulate,
                                       const ykd_tensor *dx, ykd_error *err)
{
    ykd_gemm g = {.m = (int)s->ckk, .n = (int)s->hwo, .k = s->cout, .k_batches = 1,
                  .trans_a = true, .a = operand(w->buffer, w->offset, s->ckk, 0, 0),
                  .alpha = 1.0f, .beta = 0.0f, .act = YKD_ACTIVATION_NONE};
    size_t per_image = s->ckk * s->hwo;
    int pass = images_per_pass(device, per_image, s->n);
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(device, (size_t)pass * per_image * sizeof(float), &scratch,
                                    err);
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        g.batch = count;
        g.b = tensor_operand(dy, first, s->hwo);
        g.c = operand(scratch, 0, s->hwo, per_image, 0);
        st = ykd_gemm_run(device, &g, err);
        if (st == YKD_OK)
            st = fold(device, scratch, s, dx, first, count, accumulate, err);
    }
    return st;
}

/* Stride 1: dx = conv(dy, flip(W)^T) with padding K-1-P, a forward pass. The scratch holds the
 * flipped weights [cin, cout * k * k] first, the columns after them. */
static ykd_status input_grad_by_flipped_conv(ykd_device *device, const ykd_tensor *dy,
                                             const ykd_tensor *w, const conv_shape *s,
                                             bool accumulate, const ykd_tensor *dx,
                                             ykd_error *err)
{
    conv_shape t = {.n = s->n, .cin = s->cout, .h = s->ho, .w = s->wo, .cout = s->cin,
                    .k = s->k, .stride = 1, .pad = s->k - 1 - s->pad};
    derive(&t);
    size_t flipped = (size_t)s->cout * s->ckk;
    int pass = images_per_pass(device, t.ckk * t.hwo, t.n);
    size_t columns = (size_t)pass * t.ckk * t.hwo;
    ykd_buffer *scratch = NULL;
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_ops_scratch(device, (flipped + columns) * sizeof(float), &scratch, err);
    if (st == YKD_OK)
        st = ykd_device_kernel(device, conv_sources, NULL, "flip_weights", &kernel, err);
    if (st != YKD_OK)
        return st;
    cl_mem w_mem = w->buffer->mem;
    cl_uint w_offset = (cl_uint)w->offset;
    cl_int cout = s->cout, cin = s->cin, k = s->k;
    ykd_kernel_arg args[] = {YKD_ARG(w_mem), YKD_ARG(w_offset), YKD_ARG(cout),
                             YKD_ARG(cin),   YKD_ARG(k),        YKD_ARG(scratch->mem)};
    st = ykd_kernel_run_1d(device, kernel, args, 6, flipped, NULL, err);
    if (st != YKD_OK)
        return st;
    return forward_gemm(device, dy, scratch, 0, &t, NULL, YKD_ACTIVATION_NONE,
                        accumulate ? 1.0f : 0.0f, dx, scratch, flipped, err);
}

ykd_status ykd_conv2d_backward_input(const ykd_tensor *dy, const ykd_tensor *w,
                                     const ykd_conv2d_params *params, bool accumulate,
                                     const ykd_tensor *dx, ykd_error *err)
{
    static const char op[] = "conv2d_backward_input";
    const ykd_tensor *operands[] = {dy, w, dx};
    const char *names[] = {"output gradient", "weights", "input gradient"};
    ykd_status st = ykd_op_check_operands(op, operands, names, 3, err);
    conv_shape s;
    if (st == YKD_OK)
        st = make_shape(op, dx, w, params, &s, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, "output gradient", dy, s.n, s.cout, s.ho, s.wo, err);
    if (st != YKD_OK)
        return st;
    ykd_device *device = ykd_tensor_device(dy);
    if (s.direct) {
        /* dx = W^T dy straight into dx */
        ykd_gemm g = {.m = s.cin, .n = (int)s.hwo, .k = s.cout, .batch = s.n, .k_batches = 1,
                      .trans_a = true, .a = operand(w->buffer, w->offset, s.ckk, 0, 0),
                      .b = tensor_operand(dy, 0, s.hwo), .c = tensor_operand(dx, 0, s.hwo),
                      .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f,
                      .act = YKD_ACTIVATION_NONE};
        return ykd_gemm_run(device, &g, err);
    }
    if (s.stride == 1 && s.pad <= s.k - 1)
        return input_grad_by_flipped_conv(device, dy, w, &s, accumulate, dx, err);
    return input_grad_by_col2im(device, dy, w, &s, accumulate, dx, err);
}

/* out (+)= the sum of count consecutive blocks of size floats in parts. */
static ykd_status sum_parts(ykd_device *device, const ykd_buffer *parts, size_t parts_offset,
                            int count, size_t size, const ykd_tensor *out, bool accumulate,
                            ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, conv_sources, NULL, "sum_parts", &kernel, err);
    if (st != YKD_OK)
        return st;
    cl_mem parts_mem = parts->mem, out_mem = out->buffer->mem;
    cl_int n = count, acc = accumulate;
    cl_uint parts_off = (cl_uint)parts_offset, floats = (cl_uint)size;
    cl_uint out_offset = (cl_uint)out->offset;
    ykd_kernel_arg args[] = {YKD_ARG(parts_mem), YKD_ARG(parts_off), YKD_ARG(n),
                             YKD_ARG(floats),    YKD_ARG(out_mem),   YKD_ARG(out_offset),
                             YKD_ARG(acc)};
    return ykd_kernel_run_1d(device, kernel, args, 7, size, NULL, err);
}

static ykd_status bias_gradient(ykd_device *device, const ykd_tensor *dy, bool accumulate,
                                const ykd_tensor *dbias, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, conv_sources, NULL, "channel_sum", &kernel, err);
    if (st != YKD_OK)
        return st;
    size_t group = 64;
    while (group > kernel->work_group_size)
        group /= 2;
    cl_mem dy_mem = dy->buffer->mem, db_mem = dbias->buffer->mem;
    cl_uint dy_offset = (cl_uint)dy->offset, dy_batch = (cl_uint)dy->batch_stride;
    cl_uint db_offset = (cl_uint)dbias->offset;
    cl_int n = dy->n, hw = dy->h * dy->w, acc = accumulate;
    ykd_kernel_arg args[] = {YKD_ARG(dy_mem), YKD_ARG(dy_offset), YKD_ARG(dy_batch),
                             YKD_ARG(n),      YKD_ARG(hw),        YKD_ARG(db_mem),
                             YKD_ARG(db_offset), YKD_ARG(acc),
                             YKD_ARG_LOCAL(group * sizeof(float))};
    size_t global[1] = {group * (size_t)dy->c};
    size_t local[1] = {group};
    return ykd_kernel_run(device, kernel, args, sizeof args / sizeof args[0], 1, global, local,
                          NULL, err);
}

/* Too few output blocks (cl/gemm_nt.cl computes 4 x 4 at a time) to keep every compute unit
 * busy: sum per-image products instead of one long k loop. */
static bool split_over_images(const ykd_device *device, const conv_shape *s)
{
    size_t blocks = (size_t)((s->cout + 3) / 4) * ((s->ckk + 3) / 4);
    return blocks < 4 * (size_t)device->info.compute_units;
}

ykd_status ykd_conv2d_backward_weights(const ykd_tensor *x, const ykd_tensor *dy,
                                       const ykd_conv2d_params *params, bool accumulate,
                                       const ykd_tensor *dw, const ykd_tensor *dbias,
                                       ykd_error *err)
{
    static const char op[] = "conv2d_backward_weights";
    const ykd_tensor *operands[] = {x, dy, dw, dbias};
    const char *names[] = {"input", "output gradient", "weight gradient", "bias gradient"};
    ykd_status st = ykd_op_check_operands(op, operands, names, dbias ? 4 : 3, err);
    conv_shape s;
    if (st == YKD_OK)
        st = make_shape(op, x, dw, params, &s, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, "output gradient", dy, s.n, s.cout, s.ho, s.wo, err);
    if (st == YKD_OK && dbias)
        st = ykd_op_expect_shape(op, "bias gradient", dbias, 1, s.cout, 1, 1, err);
    if (st != YKD_OK)
        return st;
    ykd_device *device = ykd_tensor_device(x);
    bool split = split_over_images(device, &s);
    size_t per_image = s.direct ? 0 : s.hwo * s.ckk, grad_size = (size_t)s.cout * s.ckk;
    size_t pass_floats = per_image + (split ? grad_size : 0);
    int pass = pass_floats ? images_per_pass(device, pass_floats, s.n) : s.n;
    size_t parts_offset = (size_t)pass * per_image;
    ykd_buffer *scratch = NULL;
    if (pass_floats)
        st = ykd_ops_scratch(device, (size_t)pass * pass_floats * sizeof(float), &scratch, err);
    /* dW = sum over images of dy [cout, hwo] x col^T, col [ckk, hwo] */
    ykd_gemm g = {.m = s.cout, .n = (int)s.ckk, .k = (int)s.hwo, .trans_b = true,
                  .alpha = 1.0f, .act = YKD_ACTIVATION_NONE};
    for (int first = 0; first < s.n && st == YKD_OK; first += pass) {
        int count = s.n - first < pass ? s.n - first : pass;
        bool add = accumulate || first > 0;
        g.a = tensor_operand(dy, first, s.hwo);
        if (s.direct) {
            g.b = tensor_operand(x, first, s.hwo);
        } else {
            st = unfold(device, x, &s, first, count, scratch, 0, err);
            g.b = operand(scratch, 0, s.hwo, per_image, per_image);
        }
        if (split) {
            g.batch = count, g.k_batches = 1, g.beta = 0.0f;
            g.c = operand(scratch, parts_offset, s.ckk, grad_size, 0);
        } else {
            g.batch = 1, g.k_batches = count, g.beta = add ? 1.0f : 0.0f;
            g.c = operand(dw->buffer, dw->offset, s.ckk, 0, 0);
        }
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
        if (st == YKD_OK && split)
            st = sum_parts(device, scratch, parts_offset, count, grad_size, dw, add, err);
    }
    if (st == YKD_OK && dbias)
        st = bias_gradient(device, dy, accumulate, dbias, err);
    return st;
}
