/* Max pooling forward and backward (cl/pool.cl). */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/pool.cl";

/* kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2 (so that every window holds at least
 * one element of the input, as PyTorch requires). */
static ykd_status check_window(const char *op, int kernel, int stride, int padding,
                               ykd_error *err)
{
    if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: kernel %d, stride %d, padding %d: need kernel >= 1, stride >= 1 "
                        "and 0 <= padding <= kernel / 2",
                        op, kernel, stride, padding);
    return YKD_OK;
}

/* Checks x and that `name` has the pooled shape of x; *out_h, *out_w get that shape. */
static ykd_status check_pooled(const char *op, const ykd_tensor *x, const char *name,
                               const ykd_tensor *pooled, int kernel, int stride, int padding,
                               int *out_h, int *out_w, ykd_error *err)
{
    *out_h = (x->h + 2 * padding - kernel) / stride + 1;
    *out_w = (x->w + 2 * padding - kernel) / stride + 1;
    if (x->h + 2 * padding < kernel || x->w + 2 * padding < kernel) {
        char shape[96];
        ykd_tensor_shape_str(x, shape, sizeof shape);
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: x %s padded by %d is smaller than the %dx%d window", op, shape,
                        padding, kernel, kernel);
    }
    return ykd_op_expect_shape(op, name, pooled, x->n, x->c, *out_h, *out_w, err);
}

/* A launch of one of cl/pool.cl's kernels over the rows of a plane: SPPF's window (5/1/2)
 * runs its interior rows and its 6 border rows apart where the plane has 7 rows and 2
 * columns or more; any other window one general kernel over all rows. */
typedef struct pool_launch {
    int kernel, stride, padding;
    int height, width; /* the planes the launch covers */
} pool_launch;

enum { INTERIOR_MARGIN = 3 }; /* as cl/pool.cl's */

static bool sppf(const pool_launch *l)
{
    return l->kernel == 5 && l->stride == 1 && l->padding == 2;
}

static bool split_rows(const pool_launch *l)
{
    return sppf(l) && l->height >= 2 * INTERIOR_MARGIN + 1 && l->width >= 2;
}

/* The kernels of `name`: [0] for all or the border rows, [1] for interior rows (if split). */
static ykd_status pool_kernels(ykd_device *dev, const pool_launch *l, const char *name,
                               ykd_kernel **k, ykd_error *err)
{
    char full[64];
    snprintf(full, sizeof full, "maxpool%s_%s", sppf(l) ? "5" : "", name);
    ykd_status st = ykd_op_kernel(dev, source, full, &k[0], err);
    snprintf(full, sizeof full, "maxpool5_%s_interior", name);
    if (st == YKD_OK && split_rows(l))
        st = ykd_op_kernel(dev, source, full, &k[1], err);
    return st;
}

/* The arguments every pool kernel takes after its tensors (before the row mapping). */
static void window_args(ykd_op_args *a, const ykd_tensor *x, int out_h, int out_w, int kernel,
                        int stride, int padding)
{
    ykd_op_args_uint(a, (size_t)x->c);
    ykd_op_args_int(a, x->h);
    ykd_op_args_int(a, x->w);
    ykd_op_args_int(a, out_h);
    ykd_op_args_int(a, out_w);
    ykd_op_args_int(a, kernel);
    ykd_op_args_int(a, stride);
    ykd_op_args_int(a, padding);
}

/* Runs kernels k (from pool_kernels) with a's arguments followed by the row mapping. */
static ykd_status pool_run(ykd_device *dev, const pool_launch *l, ykd_kernel *const *k,
                           const ykd_op_args *a, int n, int c, ykd_error *err)
{
    bool split = split_rows(l);
    int border = split ? 2 * INTERIOR_MARGIN : l->height;
    ykd_op_args rows = *a;
    ykd_op_args_int(&rows, split ? INTERIOR_MARGIN : l->height);
    ykd_op_args_int(&rows, border);
    ykd_status st = ykd_op_run_spatial(dev, k[0], &rows, l->width, border, n, c, err);
    if (st == YKD_OK && split)
        st = ykd_op_run_spatial(dev, k[1], &rows, l->width, l->height - border, n, c, err);
    return st;
}

/* SPPF's window on planes up to PLANE_SIDE square on a CPU: a work-item per plane
 * (cl/pool.cl's maxpool5_*_planes), the backward one kernel without an argmax buffer. A GPU
 * wants far more work-items than planes, so it keeps a work-item per output. */
enum { PLANE_SIDE = 16 }; /* as cl/pool.cl's */

static bool per_plane(const ykd_device *device, const pool_launch *l)
{
    return device->info.type == YKD_DEVICE_TYPE_CPU && sppf(l) && l->height <= PLANE_SIDE &&
           l->width <= PLANE_SIDE;
}

/* Runs maxpool5_<name>_planes over x's planes with a's tensor arguments. */
static ykd_status run_planes(const ykd_tensor *x, const char *name, ykd_op_args *a,
                             ykd_error *err)
{
    ykd_device *dev = ykd_tensor_device(x);
    char full[64];
    snprintf(full, sizeof full, "maxpool5_%s_planes", name);
    ykd_kernel *k = NULL;
    ykd_status st = ykd_op_kernel(dev, source, full, &k, err);
    if (st != YKD_OK)
        return st;
    size_t planes = (size_t)x->n * x->c;
    ykd_op_args_uint(a, (size_t)x->c);
    ykd_op_args_int(a, x->h);
    ykd_op_args_int(a, x->w);
    ykd_op_args_uint(a, planes);
    return ykd_op_run_1d(dev, k, a, planes, err);
}

ykd_status ykd_maxpool_forward(const ykd_tensor *x, int kernel, int stride, int padding,
                               const ykd_tensor *y, ykd_error *err)
{
    static const char op[] = "ykd_maxpool_forward";
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    int out_h = 0, out_w = 0;
    ykd_status st = ykd_op_check_operands(op, tensors, names, 2, err);
    if (st == YKD_OK)
        st = check_window(op, kernel, stride, padding, err);
    if (st == YKD_OK)
        st = check_pooled(op, x, "y", y, kernel, stride, padding, &out_h, &out_w, err);
    if (st != YKD_OK)
        return st; /* refused (x or y may be NULL) */
    pool_launch l = {kernel, stride, padding, out_h, out_w};
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_tensor(&a, y);
    if (per_plane(ykd_tensor_device(x), &l))
        return run_planes(x, "forward", &a, err);
    ykd_kernel *k[2];
    st = pool_kernels(ykd_tensor_device(x), &l, "forward", k, err);
    if (st != YKD_OK)
        return st;
    window_args(&a, x, out_h, out_w, kernel, stride, padding);
    return pool_run(ykd_tensor_device(x), &l, k, &a, x->n, x->c, err);
}

ykd_status ykd_maxpool_backward(const ykd_tensor *x, const ykd_tensor *dy, int kernel,
                                int stride, int padding, bool accumulate, const ykd_tensor *dx,
                                ykd_error *err)
{
    static const char op[] = "ykd_maxpool_backward";
    const ykd_tensor *tensors[] = {x, dy, dx};
    const char *names[] = {"x", "dy", "dx"};
    int out_h = 0, out_w = 0;
    ykd_status st = ykd_op_check_operands(op, tensors, names, 3, err);
    if (st == YKD_OK)
        st = check_window(op, kernel, stride, padding, err);
    if (st == YKD_OK)
        st = check_pooled(op, x, "dy", dy, kernel, stride, padding, &out_h, &out_w, err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape(op, "dx", dx, "x", x, err);
    if (st != YKD_OK)
        return st; /* x may be NULL: nothing below reads it before this point */
    ykd_device *dev = ykd_tensor_device(x);
    pool_launch outputs = {kernel, stride, padding, out_h, out_w};
    pool_launch inputs = {kernel, stride, padding, x->h, x->w};
    if (per_plane(dev, &inputs)) {
        ykd_op_args p = {.count = 0};
        ykd_op_args_tensor(&p, x);
        ykd_op_args_tensor(&p, dy);
        ykd_op_args_uint(&p, accumulate);
        ykd_op_args_tensor(&p, dx);
        return run_planes(x, "backward", &p, err);
    }
    ykd_kernel *argmax[2], *gather[2];
    ykd_buffer *index = NULL;
    st = pool_kernels(dev, &outputs, "argmax", argmax, err);
    if (st == YKD_OK)
        st = pool_kernels(dev, &inputs, "gather", gather, err);
    /* one int per window: the index of its maximum in the input plane */
    if (st == YKD_OK)
        st = ykd_op_scratch(dev, ykd_tensor_numel(dy), op, &index, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_mem(&a, index->mem);
    window_args(&a, x, out_h, out_w, kernel, stride, padding);
    st = pool_run(dev, &outputs, argmax, &a, x->n, x->c, err);

    ykd_op_args g = {.count = 0};
    ykd_op_args_mem(&g, index->mem);
    ykd_op_args_tensor(&g, dy);
    ykd_op_args_uint(&g, accumulate);
    ykd_op_args_tensor(&g, dx);
    window_args(&g, x, out_h, out_w, kernel, stride, padding);
    if (st == YKD_OK)
        st = pool_run(dev, &inputs, gather, &g, x->n, x->c, err);
    ykd_buffer_free(index);
    return st;
}
