/* BLAS level-1 style float32 ops on flat buffers: fill, axpy and axpby (cl/basic.cl). */
#include <stdint.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char *const basic_sources[] = {"cl/shared.cl", "cl/basic.cl", NULL};

/* Refuses element ranges outside the buffer or beyond what a 32-bit kernel index reaches. */
static ykd_status check_elements(const ykd_buffer *buf, size_t offset, size_t n,
                                 const char *op, const char *operand, ykd_error *err)
{
    size_t elements = buf->size / sizeof(float);
    if (offset > elements || n > elements - offset)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: %s elements %zu..%zu lie outside its %zu float32 elements", op,
                        operand, offset, offset + n, elements);
    if (offset + n > UINT32_MAX)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "%s: %s range ends at element %zu, beyond the 32-bit index kernels use", op,
                        operand, offset + n);
    return YKD_OK;
}

ykd_status ykd_fill_f32(ykd_buffer *x, size_t offset, size_t n, float value, ykd_error *err)
{
    ykd_status st = check_elements(x, offset, n, "fill_f32", "x", err);
    if (st != YKD_OK || n == 0)
        return st;
    ykd_kernel *kernel = NULL;
    st = ykd_device_kernel(x->device, basic_sources, NULL, "fill_f32", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, x->mem);
    ykd_op_args_uint(&a, offset);
    ykd_op_args_uint(&a, n);
    ykd_op_args_float(&a, value);
    return ykd_op_run_1d_runs(x->device, kernel, &a, n, err);
}

/* x and y of a two-operand op: one device, in range, and in one buffer disjoint or the same. */
static ykd_status check_pair(const char *op, size_t n, const ykd_buffer *x, size_t x_offset,
                             const ykd_buffer *y, size_t y_offset, ykd_error *err)
{
    if (x->device != y->device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: x is on device %d and y on device %d; copy one first", op,
                        x->device->info.index, y->device->info.index);
    ykd_status st = check_elements(x, x_offset, n, op, "x", err);
    if (st == YKD_OK)
        st = check_elements(y, y_offset, n, op, "y", err);
    if (st != YKD_OK)
        return st;
    if (x == y && x_offset < y_offset + n && y_offset < x_offset + n && x_offset != y_offset)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: x and y overlap partly in one buffer",
                        op);
    return YKD_OK;
}

/* y = alpha * x + beta * y through kernel `name` (axpy_f32 takes no beta). */
static ykd_status run_pair(const char *name, size_t n, float alpha, const ykd_buffer *x,
                           size_t x_offset, const float *beta, ykd_buffer *y, size_t y_offset,
                           ykd_error *err)
{
    ykd_status st = check_pair(name, n, x, x_offset, y, y_offset, err);
    if (st != YKD_OK || n == 0)
        return st;
    ykd_kernel *kernel = NULL;
    st = ykd_device_kernel(y->device, basic_sources, NULL, name, &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_uint(&a, n);
    ykd_op_args_float(&a, alpha);
    ykd_op_args_mem(&a, x->mem);
    ykd_op_args_uint(&a, x_offset);
    if (beta)
        ykd_op_args_float(&a, *beta);
    ykd_op_args_mem(&a, y->mem);
    ykd_op_args_uint(&a, y_offset);
    return ykd_op_run_1d_runs(y->device, kernel, &a, n, err);
}

ykd_status ykd_axpy_f32(size_t n, float alpha, const ykd_buffer *x, size_t x_offset,
                        ykd_buffer *y, size_t y_offset, ykd_error *err)
{
    return run_pair("axpy_f32", n, alpha, x, x_offset, NULL, y, y_offset, err);
}

ykd_status ykd_axpby_f32(size_t n, float alpha, const ykd_buffer *x, size_t x_offset,
                         float beta, ykd_buffer *y, size_t y_offset, ykd_error *err)
{
    return run_pair("axpby_f32", n, alpha, x, x_offset, &beta, y, y_offset, err);
}
