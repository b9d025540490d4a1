/* Setting kernel arguments and enqueueing launches, with errors that name the kernel. */
#include <time.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "device/device_internal.h"

/* Work-group size for 1-D element-wise launches: a multiple of NVIDIA's warp (32) and AMD's
 * wavefront (64), and enough work-items for PoCL to vectorise across; PoCL's cost per
 * work-group made 64 twice as slow as 256 on a fill of 1M floats. Halved below where the kernel
 * or device allows less; no kernel launched this way depends on the size. */
enum { DEFAULT_GROUP_1D = 256 };

/* Refuses a work-group the kernel or the device does not allow: a launcher's choice that a
 * device with smaller limits would otherwise meet as CL_INVALID_WORK_GROUP_SIZE. */
static ykd_status check_local(const ykd_device *dev, const ykd_kernel *kernel, unsigned dims,
                              const size_t *local, ykd_error *err)
{
    size_t items = 1;
    for (unsigned d = 0; d < dims; d++) {
        if (local[d] == 0 || local[d] > dev->max_work_items[d])
            return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                            "kernel %s: a work-group of %zu work-items along axis %u; device %d "
                            "(%s) allows %zu",
                            kernel->name, local[d], d, dev->info.index, dev->info.name,
                            dev->max_work_items[d]);
        items *= local[d];
    }
    if (items > kernel->work_group_size)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "kernel %s: work-groups of %zu work-items; device %d (%s) allows %zu for "
                        "it",
                        kernel->name, items, dev->info.index, dev->info.name,
                        kernel->work_group_size);
    return YKD_OK;
}

ykd_status ykd_kernel_run(ykd_device *dev, const ykd_kernel *kernel,
                          const ykd_kernel_arg *args, size_t arg_count, unsigned dims,
                          const size_t *global, const size_t *local, cl_event *event,
                          ykd_error *err)
{
    if (event)
        *event = NULL;
    if (local) {
        ykd_status st = check_local(dev, kernel, dims, local, err);
        if (st != YKD_OK)
            return st;
    }
    for (size_t i = 0; i < arg_count; i++) {
        cl_int rc = clSetKernelArg(kernel->kernel, (cl_uint)i, args[i].size, args[i].value);
        if (rc != CL_SUCCESS)
            return ykd_cl_fail(err, &dev->info, rc, "clSetKernelArg", "kernel %s, argument %zu",
                               kernel->name, i);
    }
    size_t rounded[3];
    for (unsigned d = 0; d < dims; d++) {
        if (global[d] == 0)
            return YKD_OK; /* nothing to do */
        rounded[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
    }
    cl_event recorded = NULL;
    cl_event *wanted = event ? event : dev->profile ? &recorded : NULL;
    if (dev->profile)
        ykd_device_profile_before_launch(dev);
    cl_int rc = clEnqueueNDRangeKernel(dev->queue, kernel->kernel, dims, NULL, rounded, local, 0,
                                       NULL, wanted);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clEnqueueNDRangeKernel", "kernel %s",
                           kernel->name);
    if (dev->profile) {
        if (event)
            clRetainEvent(*event);
        ykd_device_profile_record(dev, kernel->name, event ? *event : recorded);
    }
    return YKD_OK;
}

ykd_status ykd_kernel_run_1d(ykd_device *dev, const ykd_kernel *kernel,
                             const ykd_kernel_arg *args, size_t arg_count, size_t n,
                             cl_event *event, ykd_error *err)
{
    size_t local = DEFAULT_GROUP_1D;
    while (local > kernel->work_group_size || local > dev->max_work_items[0])
        local /= 2;
    return ykd_kernel_run(dev, kernel, args, arg_count, 1, &n, &local, event, err);
}

double ykd_event_elapsed_ms(cl_event event)
{
    cl_ulong start = 0, end = 0;
    if (clWaitForEvents(1, &event) != CL_SUCCESS ||
        clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) !=
            CL_SUCCESS)
        return -1.0;
    return (double)(end - start) * 1e-6;
}

ykd_status ykd_device_marker(ykd_device *dev, cl_event *event, ykd_error *err)
{
    cl_int rc = clEnqueueMarkerWithWaitList(dev->queue, 0, NULL, event);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clEnqueueMarkerWithWaitList", NULL);
    return YKD_OK;
}

double ykd_event_span_ms(cl_event first, cl_event last)
{
    cl_ulong start = 0, end = 0;
    cl_event both[2] = {first, last};
    if (clWaitForEvents(2, both) != CL_SUCCESS ||
        clGetEventProfilingInfo(first, CL_PROFILING_COMMAND_END, sizeof start, &start, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(last, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) !=
            CL_SUCCESS ||
        end < start)
        return -1.0;
    return (double)(end - start) * 1e-6;
}

double ykd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
