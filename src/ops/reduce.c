/* Reductions and softmax along one axis (cl/reduce.cl). */
#include <limits.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/reduce.cl";

/* Rows of contiguous floats at least this long get a work-group each (of up to ROW_GROUP
 * work-items, ROW_SHARE floats each at least); shorter ones, or rows across channels and
 * heights, a work-item each, in groups of ROWS_GROUP. A work-group per row of 80 floats ran
 * 40 times slower on PoCL than a work-item per row: its tree costs more than the row. */
enum { GROUP_ROWS_FROM = 1024, ROW_GROUP = 256, ROW_SHARE = 16, ROWS_GROUP = 64 };

/* The sum of squares: this many work-groups (a fixed partition: the same sum every run) of
 * up to SQUARES_GROUP work-items. */
enum { SQUARES_GROUPS = 64, SQUARES_GROUP = 256 };

/* x seen along an axis as in cl/reduce.cl: images * outer * inner rows of `rows` floats,
 * `step` apart. */
typedef struct axis_view {
    size_t images, outer, rows, inner, step;
    bool batch_axis;
} axis_view;

static axis_view view_along(const ykd_tensor *x, int axis)
{
    size_t dims[4] = {(size_t)x->n, (size_t)x->c, (size_t)x->h, (size_t)x->w};
    axis_view v = {.images = axis == 0 ? 1 : dims[0], .outer = 1, .rows = dims[axis],
                   .inner = 1, .batch_axis = axis == 0};
    for (int d = 1; d < axis; d++)
        v.outer *= dims[d];
    for (int d = axis + 1; d < 4; d++)
        v.inner *= dims[d];
    v.step = axis == 0 ? 0 : v.inner; /* the batch axis steps by each tensor's batch stride */
    return v;
}

static ykd_status check_axis(const char *op, int axis, ykd_error *err)
{
    if (axis < 0 || axis > 3)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: axis %d is not 0 (N), 1 (C), 2 (H) or 3 (W)", op, axis);
    return YKD_OK;
}

/* Runs the strided or the rows form of kernel `name` over x's rows along the axis, with a's
 * tensor arguments followed by the view's and `extra` (an op code) when not negative. */
static ykd_status run_rows(const char *name, const ykd_tensor *x, int axis, ykd_op_args *a,
                           int extra, ykd_error *err)
{
    axis_view v = view_along(x, axis);
    bool group_rows = v.inner == 1 && v.rows >= GROUP_ROWS_FROM;
    char full[64];
    snprintf(full, sizeof full, "%s_%s", name, group_rows ? "rows" : "strided");
    ykd_device *dev = ykd_tensor_device(x);
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_op_kernel(dev, source, full, &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args_uint(a, v.rows);
    ykd_op_args_uint(a, v.inner);
    ykd_op_args_uint(a, v.outer);
    ykd_op_args_uint(a, v.step);
    ykd_op_args_uint(a, v.batch_axis);
    if (extra >= 0)
        ykd_op_args_uint(a, (size_t)extra);
    if (group_rows) {
        size_t want = v.rows / ROW_SHARE < ROW_GROUP ? v.rows / ROW_SHARE : ROW_GROUP;
        size_t group = ykd_op_group_size(dev, kernel, want, sizeof(float));
        ykd_op_args_local(a, group * sizeof(float));
        size_t global[3] = {group, v.outer, v.images}, local[3] = {group, 1, 1};
        return ykd_op_run(dev, kernel, a, 3, global, local, err);
    }
    /* neighbouring rows (inner) along dimension 0, then outer rows fill the group */
    size_t l0 = ykd_op_group_size(dev, kernel, v.inner < ROWS_GROUP ? v.inner : ROWS_GROUP, 0);
    size_t l1 = ykd_op_local_second(dev, kernel, l0, ROWS_GROUP / l0);
    while (l1 > 1 && l1 / 2 >= v.outer)
        l1 /= 2;
    size_t global[3] = {v.inner, v.outer, v.images}, local[3] = {l0, l1, 1};
    return ykd_op_run(dev, kernel, a, 3, global, local, err);
}

ykd_status ykd_reduce(const ykd_tensor *x, int axis, ykd_reduce_op op, const ykd_tensor *y,
                      ykd_error *err)
{
    static const char name[] = "ykd_reduce";
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    ykd_status st = ykd_op_check_operands(name, tensors, names, 2, err);
    if (st == YKD_OK)
        st = check_axis(name, axis, err);
    if (st == YKD_OK && op != YKD_REDUCE_SUM && op != YKD_REDUCE_MEAN && op != YKD_REDUCE_MAX)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: unknown reduction %d", name, (int)op);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(name, "y", y, axis == 0 ? 1 : x->n, axis == 1 ? 1 : x->c,
                                 axis == 2 ? 1 : x->h, axis == 3 ? 1 : x->w, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_tensor(&a, y);
    return run_rows("reduce", x, axis, &a, (int)op, err);
}

ykd_status ykd_softmax_forward(const ykd_tensor *x, int axis, const ykd_tensor *y,
                               ykd_error *err)
{
    static const char name[] = "ykd_softmax_forward";
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    ykd_status st = ykd_op_check_operands(name, tensors, names, 2, err);
    if (st == YKD_OK)
        st = check_axis(name, axis, err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape(name, "y", y, "x", x, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_tensor(&a, y);
    return run_rows("softmax", x, axis, &a, -1, err);
}

ykd_status ykd_softmax_backward(const ykd_tensor *y, const ykd_tensor *dy, int axis,
                                const ykd_tensor *dx, ykd_error *err)
{
    static const char name[] = "ykd_softmax_backward";
    const ykd_tensor *tensors[] = {y, dy, dx};
    const char *names[] = {"y", "dy", "dx"};
    ykd_status st = ykd_op_check_operands(name, tensors, names, 3, err);
    if (st == YKD_OK)
        st = check_axis(name, axis, err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape(name, "dy", dy, "y", y, err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape(name, "dx", dx, "y", y, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, y);
    ykd_op_args_tensor(&a, dy);
    ykd_op_args_tensor(&a, dx);
    return run_rows("softmax_backward", y, axis, &a, -1, err);
}

ykd_status ykd_sum_squares(const ykd_tensor *x, double *sum, ykd_error *err)
{
    static const char name[] = "ykd_sum_squares";
    const ykd_tensor *tensors[] = {x};
    const char *names[] = {"x"};
    ykd_status st = sum ? ykd_op_check_operands(name, tensors, names, 1, err)
                        : ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: sum is NULL", name);
    if (st == YKD_OK && x->n != 1)
        st = ykd_op_expect_packed(name, "x", x, err);
    size_t count = st == YKD_OK ? ykd_tensor_numel(x) : 0;
    if (st == YKD_OK && count > INT_MAX)
        st = ykd_fail(err, YKD_ERR_SHAPE, "%s: x has %zu floats; at most %d", name, count,
                      INT_MAX);
    ykd_device *dev = st == YKD_OK ? ykd_tensor_device(x) : NULL;
    ykd_kernel *kernel = NULL;
    ykd_buffer *partial = NULL;
    if (st == YKD_OK)
        st = ykd_op_kernel(dev, source, "sum_squares_partial", &kernel, err);
    if (st == YKD_OK)
        st = ykd_op_scratch(dev, SQUARES_GROUPS, name, &partial, err);
    if (st != YKD_OK)
        return st;
    /* as batch norm's plane reductions: contiguous ranges per work-item on a CPU */
    bool chunked = dev->info.type == YKD_DEVICE_TYPE_CPU;
    size_t group = ykd_op_group_size(dev, kernel, SQUARES_GROUP, sizeof(float));
    size_t runs = count / 8, share = (runs + SQUARES_GROUPS - 1) / SQUARES_GROUPS;
    /* x seen as one packed image: AT(x, 0, i) */
    ykd_tensor flat = ykd_tensor_view(x->buffer, x->offset, 1, 1, 1, (int)count);
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, &flat);
    ykd_op_args_uint(&a, count);
    ykd_op_args_uint(&a, share);
    ykd_op_args_uint(&a, chunked);
    ykd_op_args_mem(&a, partial->mem);
    ykd_op_args_local(&a, group * sizeof(float));
    size_t global[2] = {group, SQUARES_GROUPS}, local[2] = {group, 1};
    st = ykd_op_run(dev, kernel, &a, 2, global, local, err);
    float parts[SQUARES_GROUPS];
    if (st == YKD_OK)
        st = ykd_buffer_read(partial, 0, parts, sizeof parts, err);
    ykd_buffer_free(partial);
    if (st != YKD_OK)
        return st;
    double total = 0.0;
    for (int g = 0; g < SQUARES_GROUPS; g++)
        total += parts[g];
    *sum = total;
    return YKD_OK;
}
