/* What every op launcher shares: its kernel, its arguments, its launch shape, its scratch. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

/* Work-items per group for element-wise launches: a multiple of every GPU's warp or
 * wavefront, and on PoCL large enough that per-group overhead vanishes. */
enum { ELEMENT_GROUP = 256 };

ykd_status ykd_op_kernel(ykd_device *device, const char *source, const char *name,
                         ykd_kernel **kernel, ykd_error *err)
{
    const char *sources[] = {"cl/tensor.cl", "cl/shared.cl", source, NULL};
    return ykd_device_kernel(device, sources, NULL, name, kernel, err);
}

/* Records the first argument that could not be set; later ones keep the first message. */
static void note_fault(ykd_op_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_fault(ykd_op_args *a, const char *fmt, ...)
{
    if (a->fault[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->fault, sizeof a->fault, fmt, ap);
    va_end(ap);
}

/* The next argument's slot, or NULL (a fault) when every slot is taken. */
static void *next_value(ykd_op_args *a, size_t size)
{
    if (a->count >= YKD_OP_MAX_ARGS) {
        note_fault(a, "more than %d arguments", YKD_OP_MAX_ARGS);
        return NULL;
    }
    void *value = &a->values[a->count];
    a->args[a->count] = (ykd_kernel_arg){size, value};
    a->count++;
    return value;
}

void ykd_op_args_location(ykd_op_args *a, ykd_tensor_args location)
{
    ykd_op_args_mem(a, location.mem);
    ykd_op_args_uint(a, location.offset);
    ykd_op_args_uint(a, location.batch_stride);
}

void ykd_op_args_tensor(ykd_op_args *a, const ykd_tensor *t)
{
    ykd_op_args_location(a, ykd_tensor_kernel_args(t));
}

void ykd_op_args_mem(ykd_op_args *a, cl_mem mem)
{
    cl_mem *v = next_value(a, sizeof *v);
    if (v)
        *v = mem;
}

void ykd_op_args_uint(ykd_op_args *a, size_t value)
{
    if (value > UINT32_MAX)
        note_fault(a, "argument %zu is %zu, over the 32 bits the kernel takes", a->count, value);
    cl_uint *v = next_value(a, sizeof *v);
    if (v)
        *v = (cl_uint)value;
}

void ykd_op_args_int(ykd_op_args *a, int value)
{
    cl_int *v = next_value(a, sizeof *v);
    if (v)
        *v = value;
}

void ykd_op_args_ints(ykd_op_args *a, const int *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ykd_op_args_int(a, values[i]);
}

void ykd_op_args_images(ykd_op_args *a, const ykd_tensor *t, int first)
{
    ykd_op_args_mem(a, t->buffer->mem);
    ykd_op_args_uint(a, t->offset + (size_t)first * t->batch_stride);
    ykd_op_args_uint(a, t->batch_stride);
}

void ykd_op_args_float(ykd_op_args *a, float value)
{
    cl_float *v = next_value(a, sizeof *v);
    if (v)
        *v = value;
}

void ykd_op_args_int4(ykd_op_args *a, cl_int4 value)
{
    cl_int4 *v = next_value(a, sizeof *v);
    if (v)
        *v = value;
}

void ykd_op_args_local(ykd_op_args *a, size_t bytes)
{
    if (a->count >= YKD_OP_MAX_ARGS) {
        note_fault(a, "more than %d arguments", YKD_OP_MAX_ARGS);
        return;
    }
    a->args[a->count++] = (ykd_kernel_arg)YKD_ARG_LOCAL(bytes);
}

static ykd_status check_args(const ykd_device *device, const ykd_kernel *kernel,
                             const ykd_op_args *a, ykd_error *err)
{
    if (a->fault[0])
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "kernel %s on device %d (%s): %s",
                        kernel->name, device->info.index, device->info.name, a->fault);
    return YKD_OK;
}

ykd_status ykd_op_run(ykd_device *device, const ykd_kernel *kernel, const ykd_op_args *a,
                      unsigned dims, const size_t *global, const size_t *local, ykd_error *err)
{
    ykd_status st = check_args(device, kernel, a, err);
    if (st != YKD_OK)
        return st;
    return ykd_kernel_run(device, kernel, a->args, a->count, dims, global, local, NULL, err);
}

ykd_status ykd_op_run_1d(ykd_device *device, const ykd_kernel *kernel, const ykd_op_args *a,
                         size_t n, ykd_error *err)
{
    ykd_status st = check_args(device, kernel, a, err);
    if (st != YKD_OK)
        return st;
    return ykd_kernel_run_1d(device, kernel, a->args, a->count, n, NULL, err);
}

ykd_status ykd_op_run_1d_runs(ykd_device *device, const ykd_kernel *kernel, const ykd_op_args *a,
                              size_t n, ykd_error *err)
{
    size_t run = device->info.vector_floats;
    return ykd_op_run_1d(device, kernel, a, (n + run - 1) / run, err);
}

size_t ykd_op_local_second(const ykd_device *device, const ykd_kernel *kernel, size_t l0,
                           size_t want)
{
    size_t room = kernel->work_group_size / (l0 > 0 ? l0 : 1);
    if (want > room)
        want = room;
    if (want > device->max_work_items[1])
        want = device->max_work_items[1];
    return ykd_pow2_at_most(want);
}

size_t ykd_op_local_limit(const ykd_device *device, const ykd_kernel *kernel, unsigned dim)
{
    size_t axis = device->max_work_items[dim];
    return kernel->work_group_size < axis ? kernel->work_group_size : axis;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

size_t ykd_pow2_at_most(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n)
        p *= 2;
    return p;
}

static size_t element_group(const ykd_device *device, const ykd_kernel *kernel)
{
    size_t limit = ykd_op_local_limit(device, kernel, 0);
    return ykd_pow2_at_most(limit < ELEMENT_GROUP ? limit : ELEMENT_GROUP);
}

ykd_status ykd_op_run_elements(ykd_device *device, const ykd_kernel *kernel,
                               const ykd_op_args *args, const ykd_tensor *t, ykd_error *err)
{
    size_t global[2] = {ykd_tensor_image_size(t), (size_t)t->n};
    size_t local[2] = {element_group(device, kernel), 1};
    return ykd_op_run(device, kernel, args, 2, global, local, err);
}

ykd_status ykd_op_run_per_plane(ykd_device *device, const ykd_kernel *kernel,
                                const ykd_op_args *args, const ykd_tensor *t, ykd_error *err)
{
    return ykd_op_run_per_plane_runs(device, kernel, args, t, 1, err);
}

ykd_status ykd_op_run_per_plane_runs(ykd_device *device, const ykd_kernel *kernel,
                                     const ykd_op_args *args, const ykd_tensor *t, size_t run,
                                     ykd_error *err)
{
    if (run == YKD_OP_RUN_VECTOR)
        run = device->info.vector_floats;
    size_t plane = ((size_t)t->h * (size_t)t->w + run - 1) / run;
    size_t group = element_group(device, kernel);
    /* a plane smaller than a group shares it with the next channels rather than idle */
    size_t l0 = plane < group ? pow2_at_least(plane) : group;
    size_t l1 = group / l0;
    if (l1 > pow2_at_least((size_t)t->c))
        l1 = pow2_at_least((size_t)t->c);
    l1 = ykd_op_local_second(device, kernel, l0, l1);
    size_t global[3] = {plane, (size_t)t->c, (size_t)t->n};
    size_t local[3] = {l0, l1, 1};
    return ykd_op_run(device, kernel, args, 3, global, local, err);
}

ykd_status ykd_op_run_spatial(ykd_device *device, const ykd_kernel *kernel,
                              const ykd_op_args *args, int w, int h, int n, int c,
                              ykd_error *err)
{
    size_t group = element_group(device, kernel);
    /* a whole row per group where it fits (no idle work-items; consecutive rows of a packed
     * plane are consecutive floats), else runs of 64, a multiple of warps and wavefronts */
    size_t l0 = (size_t)w <= group ? (size_t)w : (group < 64 ? group : 64);
    size_t l1 = group / l0 < (size_t)h ? group / l0 : (size_t)h;
    if (l1 > device->max_work_items[1])
        l1 = device->max_work_items[1];
    if (l1 < 1)
        l1 = 1;
    /* where a group holds whole planes (the deepest level's 5x5 and 10x10), several planes per
     * group: a group per small plane cost more in dispatch than its work. The planes are not
     * rounded up, so the count divides them (a power of 2 dividing n * c). */
    size_t planes = (size_t)n * (size_t)c, l2 = 1;
    if (l0 == (size_t)w && l1 == (size_t)h) {
        size_t room = group / (l0 * l1);
        if (room > device->max_work_items[2])
            room = device->max_work_items[2];
        while (l2 * 2 <= room && planes % (l2 * 2) == 0)
            l2 *= 2;
    }
    size_t global[3] = {(size_t)w, (size_t)h, planes};
    size_t local[3] = {l0, l1, l2};
    return ykd_op_run(device, kernel, args, 3, global, local, err);
}

ykd_status ykd_op_map(const char *op, const char *source, const char *name,
                      const ykd_tensor *const *tensors, const char *const *names, int count,
                      const float *scalars, int scalar_count, ykd_error *err)
{
    return ykd_op_map_runs(op, source, name, tensors, names, count, scalars, scalar_count, 1,
                           err);
}

ykd_status ykd_op_map_runs(const char *op, const char *source, const char *name,
                           const ykd_tensor *const *tensors, const char *const *names, int count,
                           const float *scalars, int scalar_count, size_t run, ykd_error *err)
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
    ykd_op_args a = {0};
    for (int i = 0; i < count; i++)
        ykd_op_args_tensor(&a, tensors[i]);
    for (int i = 0; i < scalar_count; i++)
        ykd_op_args_float(&a, scalars[i]);
    size_t image = ykd_tensor_image_size(tensors[0]);
    ykd_op_args_uint(&a, image);
    if (run == YKD_OP_RUN_VECTOR)
        run = device->info.vector_floats;
    size_t global[2] = {(image + run - 1) / run, (size_t)tensors[0]->n};
    size_t local[2] = {element_group(device, kernel), 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

size_t ykd_op_group_size(const ykd_device *device, const ykd_kernel *kernel, size_t want,
                         size_t bytes_per_item)
{
    size_t axis = ykd_op_local_limit(device, kernel, 0);
    size_t limit = want < axis ? want : axis;
    if (bytes_per_item > 0 && device->info.local_mem_bytes / bytes_per_item < limit)
        limit = (size_t)(device->info.local_mem_bytes / bytes_per_item);
    return limit > 0 ? ykd_pow2_at_most(limit) : 1;
}

ykd_status ykd_op_scratch(ykd_device *device, size_t floats, const char *op, ykd_buffer **buffer,
                          ykd_error *err)
{
    ykd_status st = ykd_buffer_alloc(device, floats * sizeof(float), buffer, err);
    if (st != YKD_OK)
        ykd_error_prefix(err, "%s: scratch of %zu floats", op, floats);
    return st;
}
