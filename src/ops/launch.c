/* What every op launcher shares: its kernel, its arguments, its launch shape, its scratch. */
#include <assert.h>
#include <stdint.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

/* Work-items per group for element-wise launches: a multiple of every GPU's warp or
 * wavefront, and on PoCL large enough that per-group overhead vanishes. */
enum { ELEMENT_GROUP = 256 };

ykd_status ykd_op_kernel(ykd_device *device, const char *source, const char *name,
                         ykd_kernel **kernel, ykd_error *err)
{
    const char *sources[] = {"cl/tensor.cl", source, NULL};
    return ykd_device_kernel(device, sources, NULL, name, kernel, err);
}

static void *next_value(ykd_op_args *a, size_t size)
{
    assert(a->count < YKD_OP_MAX_ARGS);
    void *value = &a->values[a->count];
    a->args[a->count] = (ykd_kernel_arg){size, value};
    a->count++;
    return value;
}

void ykd_op_args_tensor(ykd_op_args *a, const ykd_tensor *t)
{
    ykd_tensor_args ta = ykd_tensor_kernel_args(t);
    ykd_op_args_mem(a, ta.mem);
    ykd_op_args_uint(a, ta.offset);
    ykd_op_args_uint(a, ta.batch_stride);
}

void ykd_op_args_mem(ykd_op_args *a, cl_mem mem)
{
    *(cl_mem *)next_value(a, sizeof(cl_mem)) = mem;
}

void ykd_op_args_uint(ykd_op_args *a, size_t value)
{
    assert(value <= UINT32_MAX);
    *(cl_uint *)next_value(a, sizeof(cl_uint)) = (cl_uint)value;
}

void ykd_op_args_int(ykd_op_args *a, int value)
{
    *(cl_int *)next_value(a, sizeof(cl_int)) = value;
}

void ykd_op_args_float(ykd_op_args *a, float value)
{
    *(cl_float *)next_value(a, sizeof(cl_float)) = value;
}

void ykd_op_args_local(ykd_op_args *a, size_t bytes)
{
    assert(a->count < YKD_OP_MAX_ARGS);
    a->args[a->count++] = (ykd_kernel_arg)YKD_ARG_LOCAL(bytes);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

static size_t pow2_at_most(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n)
        p *= 2;
    return p;
}

static size_t element_group(const ykd_kernel *kernel)
{
    return pow2_at_most(kernel->work_group_size < ELEMENT_GROUP ? kernel->work_group_size
                                                                : ELEMENT_GROUP);
}

ykd_status ykd_op_run_elements(ykd_device *device, const ykd_kernel *kernel,
                               const ykd_op_args *args, const ykd_tensor *t, ykd_error *err)
{
    size_t global[2] = {ykd_tensor_image_size(t), (size_t)t->n};
    size_t local[2] = {element_group(kernel), 1};
    return ykd_kernel_run(device, kernel, args->args, args->count, 2, global, local, NULL, err);
}

ykd_status ykd_op_run_per_plane(ykd_device *device, const ykd_kernel *kernel,
                                const ykd_op_args *args, const ykd_tensor *t, ykd_error *err)
{
    size_t plane = (size_t)t->h * (size_t)t->w;
    size_t group = element_group(kernel);
    /* a plane smaller than a group shares it with the next channels rather than idle */
    size_t l0 = plane < group ? pow2_at_least(plane) : group;
    size_t l1 = group / l0;
    if (l1 > pow2_at_least((size_t)t->c))
        l1 = pow2_at_least((size_t)t->c);
    size_t global[3] = {plane, (size_t)t->c, (size_t)t->n};
    size_t local[3] = {l0, l1, 1};
    return ykd_kernel_run(device, kernel, args->args, args->count, 3, global, local, NULL, err);
}

ykd_status ykd_op_run_spatial(ykd_device *device, const ykd_kernel *kernel,
                              const ykd_op_args *args, int w, int h, int n, int c,
                              ykd_error *err)
{
    size_t group = element_group(kernel);
    /* a whole row per group where it fits (no idle work-items; consecutive rows of a packed
     * plane are consecutive floats), else runs of 64, a multiple of warps and wavefronts */
    size_t l0 = (size_t)w <= group ? (size_t)w : (group < 64 ? group : 64);
    size_t l1 = group / l0 < (size_t)h ? group / l0 : (size_t)h;
    size_t global[3] = {(size_t)w, (size_t)h, (size_t)n * (size_t)c};
    size_t local[3] = {l0, l1 > 0 ? l1 : 1, 1};
    return ykd_kernel_run(device, kernel, args->args, args->count, 3, global, local, NULL, err);
}

ykd_status ykd_op_map(const char *op, const char *source, const char *name,
                      const ykd_tensor *const *tensors, const char *const *names, int count,
                      const float *scalars, int scalar_count, ykd_error *err)
{
    ykd_status st = ykd_op_check_operands(op, tensors, names, count, err);
    for (int i = 1; i < count && st == YKD_OK; i++)
        st = ykd_op_expect_same_shape(op, names[i], tensors[i], names[0], tensors[0], err);
    ykd_device *device = st == YKD_OK ? ykd_tensor_device(tensors[0]) : NULL;
    ykd_kernel *kernel = NULL;
    if (st == YKD_OK)
        st = ykd_op_kernel(device, source, name, &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    for (int i = 0; i < count; i++)
        ykd_op_args_tensor(&a, tensors[i]);
    for (int i = 0; i < scalar_count; i++)
        ykd_op_args_float(&a, scalars[i]);
    ykd_op_args_uint(&a, ykd_tensor_image_size(tensors[0]));
    return ykd_op_run_elements(device, kernel, &a, tensors[0], err);
}

size_t ykd_op_group_size(const ykd_device *device, const ykd_kernel *kernel, size_t want,
                         size_t bytes_per_item)
{
    size_t limit = want < kernel->work_group_size ? want : kernel->work_group_size;
    if (bytes_per_item > 0 && device->info.local_mem_bytes / bytes_per_item < limit)
        limit = (size_t)(device->info.local_mem_bytes / bytes_per_item);
    return limit > 0 ? pow2_at_most(limit) : 1;
}

ykd_status ykd_op_scratch(ykd_device *device, size_t floats, const char *op, ykd_buffer **buffer,
                          ykd_error *err)
{
    ykd_status st = ykd_buffer_alloc(device, floats * sizeof(float), buffer, err);
    if (st != YKD_OK)
        ykd_error_prefix(err, "%s: scratch of %zu floats", op, floats);
    return st;
}
