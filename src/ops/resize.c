/* Nearest-neighbour upsampling by 2, forward and backward (cl/resize.cl). */
#include <stdio.h>

#include "ops/ops_internal.h"

static const char source[] = "cl/resize.cl";

/* Runs kernel `name` over the planes of small ([N, C, H, W]), with (large, small) or
 * (large, accumulate, small) as its tensors after checking large is [N, C, 2H, 2W]. */
static ykd_status run(const char *op, const char *name, const ykd_tensor *small,
                      const char *small_name, const ykd_tensor *large, const char *large_name,
                      bool forward, bool accumulate, ykd_error *err)
{
    const ykd_tensor *tensors[] = {small, large};
    const char *names[] = {small_name, large_name};
    ykd_status st = ykd_op_check_operands(op, tensors, names, 2, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, large_name, large, small->n, small->c, 2 * small->h,
                                 2 * small->w, err);
    ykd_device *device = st == YKD_OK ? ykd_tensor_device(small) : NULL;
    /* a work-item per row in explicit vectors where the device's vectors are wide (CPUs),
     * else per element (GPUs: neighbouring work-items on neighbouring floats) */
    bool rows = device && device->info.vector_floats >= 8;
    char full[64];
    snprintf(full, sizeof full, "%s%s", name, rows ? "_rows" : "");
    ykd_kernel *kernel = NULL;
    if (st == YKD_OK)
        st = ykd_op_kernel(device, source, full, &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, forward ? small : large);
    if (!forward)
        ykd_op_args_uint(&a, accumulate);
    ykd_op_args_tensor(&a, forward ? large : small);
    ykd_op_args_uint(&a, (size_t)small->c);
    ykd_op_args_int(&a, small->h);
    ykd_op_args_int(&a, small->w);
    if (rows) {
        size_t planes = (size_t)small->n * small->c;
        ykd_op_args_uint(&a, planes);
        return ykd_op_run_1d(device, kernel, &a, planes * small->h, err);
    }
    return ykd_op_run_spatial(device, kernel, &a, small->w, small->h, small->n, small->c, err);
}

ykd_status ykd_upsample2x_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err)
{
    return run("ykd_upsample2x_forward", "upsample2x_forward", x, "x", y, "y", true, false, err);
}

ykd_status ykd_upsample2x_backward(const ykd_tensor *dy, bool accumulate, const ykd_tensor *dx,
                                   ykd_error *err)
{
    return run("ykd_upsample2x_backward", "upsample2x_backward", dx, "dx", dy, "dy", false,
               accumulate, err);
}
