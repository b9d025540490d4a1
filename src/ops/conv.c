/* Convolution as GEMM: the entry points, their checks, and the choice of path.
 *
 * Forward: a direct product for 1x1 stride-1 kernels; otherwise the GEMM reads either im2col
 * columns (conv_columns.c) or, for stride 1 where the device's GEMMs are ours, shifted
 * windows of a zero-padded copy of the input (conv_windows.c), or, for stride-1 3x3 kernels,
 * Winograd F(4x4, 3x3) (conv_winograd.c): the path measured fastest for the shape
 * (conv_choose.c).
 * Input gradient: for stride 1, the forward pass of the convolution with flipped, transposed
 * weights and padding K-1-P over the output gradient (no scatter); for larger strides, by the
 * path measured fastest: a transposed GEMM into columns and col2im, or a pixel-row product per
 * phase of dx (conv_phases.c).
 * Weight gradient, by the path measured fastest for the shape (conv_choose.c): the output
 * gradient times the columns (or windows) transposed (cl/gemm_nt.cl: both operands read along
 * their rows), summed over images in the GEMM's k-runs or, when the output is too small to
 * keep the device busy, per image and added up afterwards; or the output gradient times the
 * pixels' patches read as rows of a channels-last copy (conv_rows.c, cl/gemm.cl). Columns and
 * padded copies live in the device's scratch buffer, a pass of images at a time. */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

const char *const ykd_conv_sources[] = {"cl/shared.cl", "cl/conv.cl", NULL};

size_t ykd_conv_row_group(const ykd_device *device, const ykd_kernel *kernel)
{
    return ykd_op_local_second(device, kernel, 1, YKD_CONV_ROW_GROUP);
}

typedef ykd_conv_shape conv_shape;

int ykd_conv2d_out_size(int in, int kernel, int stride, int padding)
{
    if (stride <= 0 || kernel <= 0 || padding < 0)
        return 0;
    int span = in + 2 * padding - kernel;
    return span < 0 ? 0 : span / stride + 1;
}

void ykd_conv_derive(conv_shape *s)
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
    if (p->groups < 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: groups must be >= 1 (got %d)", op,
                        p->groups);
    return YKD_OK;
}

/* groups 0 (a params struct that leaves it out) means 1. */
static int groups_of(const ykd_conv2d_params *p)
{
    return p->groups > 1 ? p->groups : 1;
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
    int groups = groups_of(p);
    if (x->c % groups || w->n % groups)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: %d groups do not divide the input %s's %d channels and the "
                        "weights %s's %d outputs",
                        op, groups, xs, x->c, ws, w->n);
    if (w->c * groups != x->c)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: weights %s in %d group%s expect %d input channels but the input %s "
                        "has %d",
                        op, ws, groups, groups > 1 ? "s" : "", w->c * groups, xs, x->c);
    st = ykd_op_expect_packed(op, "weights", w, err);
    if (st != YKD_OK)
        return st;
    *s = (conv_shape){.n = x->n, .cin = x->c, .h = x->h, .w = x->w, .cout = w->n, .k = w->h,
                      .stride = p->stride, .pad = p->padding, .groups = groups};
    ykd_conv_derive(s);
    if (s->ho <= 0 || s->wo <= 0)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: a %dx%d kernel with padding %d does not fit the input %s", op, s->k,
                        s->k, s->pad, xs);
    return YKD_OK;
}

/* How many images' worth of scratch (floats_per_image each) one pass uses: as many as fit a
 * budget that keeps the scratch cache-friendly on CPUs and large enough on GPUs for batched
 * GEMMs to fill the device. */
int ykd_conv_images_per_pass(ykd_device *device, size_t floats_per_image, int n)
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

ykd_gemm_operand ykd_conv_operand(const ykd_buffer *buffer, size_t offset, size_t ld,
                                  size_t batch_stride, size_t kbatch_stride)
{
    return (ykd_gemm_operand){buffer, offset, (int)ld, batch_stride, kbatch_stride};
}

ykd_gemm_operand ykd_conv_tensor_operand(const ykd_tensor *t, int first_image, size_t ld)
{
    return ykd_conv_operand(t->buffer, t->offset + (size_t)first_image * t->batch_stride, ld,
                   t->batch_stride, t->batch_stride);
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
    if (s.groups > 1)
        return ykd_conv_grouped_forward(ykd_tensor_device(x), x, w, bias, &s, activation, y,
                                        err);
    return ykd_conv_forward_any(ykd_tensor_device(x), x, w->buffer, w->offset, params->cache,
                                params->saved, &s, bias, activation, 0.0f, y, 0, err);
}

ykd_status ykd_conv_flip_weights(ykd_device *device, const ykd_tensor *w,
                                 const ykd_buffer *scratch, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, ykd_conv_sources, NULL, "flip_weights", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, w->buffer->mem);
    ykd_op_args_uint(&a, w->offset);
    ykd_op_args_int(&a, w->n);
    ykd_op_args_int(&a, w->c);
    ykd_op_args_int(&a, w->h);
    ykd_op_args_mem(&a, scratch->mem);
    /* groups of 256 work-items: up to 64 neighbouring filters, then their input channels */
    size_t l0 = ykd_op_group_size(device, kernel, w->n < 64 ? (size_t)w->n : 64, 0);
    size_t global[2] = {(size_t)w->n, (size_t)w->c};
    size_t local[2] = {l0, ykd_op_local_second(device, kernel, l0, 256 / l0)};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

/* Stride 1: dx = conv(dy, flip(W)^T) with padding K-1-P, a forward pass whose path prepares
 * the flipped weights itself (ykd_conv_forward_flipped_any). */
static ykd_status input_grad_by_flipped_conv(ykd_device *device, const ykd_tensor *dy,
                                             const ykd_tensor *w, const conv_shape *s,
                                             bool accumulate, const ykd_tensor *dx,
                                             ykd_error *err)
{
    conv_shape t = {.n = s->n, .cin = s->cout, .h = s->ho, .w = s->wo, .cout = s->cin,
                    .k = s->k, .stride = 1, .pad = s->k - 1 - s->pad};
    ykd_conv_derive(&t);
    return ykd_conv_forward_flipped_any(device, dy, w, &t, accumulate ? 1.0f : 0.0f, dx, err);
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
    if (s.groups > 1)
        return ykd_conv_grouped_input_grad(device, dy, w, &s, accumulate, dx, err);
    if (s.direct) {
        /* dx = W^T dy straight into dx */
        ykd_gemm g = {.m = s.cin, .n = (int)s.hwo, .k = s.cout, .batch = s.n, .k_batches = 1,
                      .trans_a = true,
                      .a = ykd_conv_operand(w->buffer, w->offset, s.ckk, 0, 0),
                      .b = ykd_conv_tensor_operand(dy, 0, s.hwo),
                      .c = ykd_conv_tensor_operand(dx, 0, s.hwo), .alpha = 1.0f,
                      .beta = accumulate ? 1.0f : 0.0f, .act = YKD_ACTIVATION_NONE};
        return ykd_gemm_run(device, &g, err);
    }
    if (s.stride == 1 && s.pad <= s.k - 1)
        return input_grad_by_flipped_conv(device, dy, w, &s, accumulate, dx, err);
    return ykd_conv_strided_input_grad_any(device, dy, w, &s, accumulate, dx, err);
}

ykd_status ykd_conv_sum_parts(ykd_device *device, const ykd_buffer *parts, size_t parts_offset,
                              int count, size_t size, const ykd_tensor *out, bool accumulate,
                              ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL, "sum_parts", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, parts->mem);
    ykd_op_args_uint(&a, parts_offset);
    ykd_op_args_int(&a, count);
    ykd_op_args_uint(&a, size);
    ykd_op_args_mem(&a, out->buffer->mem);
    ykd_op_args_uint(&a, out->offset);
    ykd_op_args_int(&a, accumulate);
    return ykd_op_run_1d(device, kernel, &a, size, err);
}

ykd_status ykd_conv_weight_grad_pass(ykd_device *device, ykd_gemm *g, const ykd_conv_shape *s,
                                     int count, bool split, const ykd_buffer *scratch,
                                     size_t parts_offset, const ykd_tensor *dw, bool add,
                                     ykd_error *err)
{
    size_t grad_size = (size_t)s->cout * s->ckk;
    if (split) {
        g->batch = count, g->k_batches = 1, g->beta = 0.0f;
        g->c = ykd_conv_operand(scratch, parts_offset, s->ckk, grad_size, 0);
    } else {
        g->batch = 1, g->k_batches = count, g->beta = add ? 1.0f : 0.0f;
        g->c = ykd_conv_operand(dw->buffer, dw->offset, s->ckk, 0, 0);
    }
    ykd_status st = ykd_gemm_run(device, g, err);
    if (st == YKD_OK && split)
        st = ykd_conv_sum_parts(device, scratch, parts_offset, count, grad_size, dw, add, err);
    return st;
}

static ykd_status bias_gradient(ykd_device *device, const ykd_tensor *dy, bool accumulate,
                                const ykd_tensor *dbias, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL, "channel_sum", &kernel,
                                      err);
    if (st != YKD_OK)
        return st;
    size_t group = ykd_op_group_size(device, kernel, 64, sizeof(float));
    ykd_op_args a = {0};
    ykd_op_args_tensor(&a, dy);
    ykd_op_args_int(&a, dy->n);
    ykd_op_args_int(&a, dy->h * dy->w);
    ykd_op_args_mem(&a, dbias->buffer->mem);
    ykd_op_args_uint(&a, dbias->offset);
    ykd_op_args_int(&a, accumulate);
    ykd_op_args_local(&a, group * sizeof(float));
    size_t global[1] = {group * (size_t)dy->c};
    size_t local[1] = {group};
    return ykd_op_run(device, kernel, &a, 1, global, local, err);
}

/* Too few output blocks (cl/gemm_nt.cl computes about 4 x 4 at a time) to keep every compute
 * unit busy: sum per-image products instead of one long k loop. */
bool ykd_conv_split_over_images(const ykd_device *device, int cout, size_t columns)
{
    size_t blocks = (size_t)((cout + 3) / 4) * ((columns + 3) / 4);
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
    if (s.groups > 1)
        st = ykd_conv_grouped_weight_grad(device, x, dy, &s, accumulate, dw, err);
    else
        st = ykd_conv_weight_grad_any(device, x, dy, params->saved, &s, accumulate, dw, err);
    if (st == YKD_OK && dbias)
        st = bias_gradient(device, dy, accumulate, dbias, err);
    return st;
}
