/* Opening and closing a device: its own context and profiling queue, cache folder, limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "device/device_internal.h"

void ykd_cache_dir_resolve(const char *yolokd_cache_dir, const char *xdg_cache_home,
                           const char *home, char *buf, size_t size)
{
    buf[0] = '\0';
    if (yolokd_cache_dir && *yolokd_cache_dir) {
        if (strcmp(yolokd_cache_dir, "off") != 0)
            snprintf(buf, size, "%s", yolokd_cache_dir);
    } else if (xdg_cache_home && xdg_cache_home[0] == '/') {
        /* the XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored */
        snprintf(buf, size, "%s/yolokd", xdg_cache_home);
    } else if (home && *home) {
        snprintf(buf, size, "%s/.cache/yolokd", home);
    }
}

static void choose_cache_dir(ykd_device *dev, const ykd_device_options *options)
{
    if (options && options->cache_dir)
        ykd_cache_dir_resolve(options->cache_dir, NULL, NULL, dev->cache_dir,
                              sizeof dev->cache_dir);
    else
        ykd_cache_dir_resolve(getenv("YOLOKD_CACHE_DIR"), getenv("XDG_CACHE_HOME"),
                              getenv("HOME"), dev->cache_dir, sizeof dev->cache_dir);
}

/* The vector width the kernels are built for: the device's, or the caller's choice. */
static ykd_status set_vector_floats(ykd_device *dev, const ykd_device_options *options,
                                    ykd_error *err)
{
    unsigned chosen = options ? options->vector_floats : 0;
    if (chosen == 0)
        return YKD_OK;
    if (chosen > 16 || (chosen & (chosen - 1)) != 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "opening %s: a vector width of %u floats; 1, 2, 4, 8 or 16 (or 0, the "
                        "device's own)",
                        dev->info.name, chosen);
    dev->info.vector_floats = chosen;
    return YKD_OK;
}

/* The work-group limits launches must respect: the device's, within the caller's cap. */
static void set_work_group_limits(ykd_device *dev, const ykd_device_options *options)
{
    size_t items[3] = {1, 1, 1};
    if (clGetDeviceInfo(dev->id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items, NULL) !=
        CL_SUCCESS)
        items[0] = items[1] = items[2] = 1; /* the least the spec allows */
    size_t cap = dev->info.max_work_group_size > 0 ? dev->info.max_work_group_size : 1;
    if (options && options->max_work_group_size > 0 && options->max_work_group_size < cap)
        cap = options->max_work_group_size;
    dev->info.max_work_group_size = cap;
    for (int d = 0; d < 3; d++)
        dev->max_work_items[d] = items[d] == 0 ? 1 : items[d] < cap ? items[d] : cap;
}

static ykd_status create_context_and_queue(ykd_device *dev, ykd_error *err)
{
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)dev->platform,
                                     0};
    cl_int rc = CL_SUCCESS;
    dev->context = clCreateContext(props, 1, &dev->id, NULL, NULL, &rc);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clCreateContext", NULL);
    dev->queue = clCreateCommandQueue(dev->context, dev->id, CL_QUEUE_PROFILING_ENABLE, &rc);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clCreateCommandQueue", NULL);
    return YKD_OK;
}

ykd_status ykd_device_open(const char *spec, const ykd_device_options *options,
                           ykd_device **device, ykd_error *err)
{
    *device = NULL;
    bool from_environment = !spec || !*spec;
    if (from_environment)
        spec = getenv("YOLOKD_DEVICE");

    ykd_found_device *found = NULL;
    size_t count = 0;
    ykd_status st = ykd_device_enumerate(&found, &count, err);
    if (st != YKD_OK)
        return st;
    ykd_device_info *infos = calloc(count ? count : 1, sizeof *infos);
    if (!infos) {
        free(found);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "opening a device: out of host memory");
    }
    for (size_t i = 0; i < count; i++)
        infos[i] = found[i].info;
    size_t index = 0;
    st = ykd_device_spec_resolve(spec, infos, count, &index, err);
    free(infos);
    if (st == YKD_ERR_NO_DEVICE) {
        char why[1536];
        ykd_device_explain_none(why, sizeof why);
        st = ykd_fail(err, YKD_ERR_NO_DEVICE, "no OpenCL device found: %s", why);
    }
    if (st != YKD_OK) {
        free(found);
        if (from_environment && spec && *spec)
            ykd_error_prefix(err, "YOLOKD_DEVICE");
        return st;
    }

    ykd_device *dev = calloc(1, sizeof *dev);
    if (!dev) {
        free(found);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "opening a device: out of host memory");
    }
    dev->info = found[index].info;
    dev->platform = found[index].platform;
    dev->id = found[index].id;
    free(found);
    dev->memory_limit = options && options->memory_limit_bytes
                            ? options->memory_limit_bytes
                            : dev->info.global_mem_bytes;
    choose_cache_dir(dev, options);
    set_work_group_limits(dev, options);
    st = set_vector_floats(dev, options, err);
    if (st == YKD_OK)
        st = create_context_and_queue(dev, err);
    if (st != YKD_OK) {
        ykd_device_close(dev);
        return st;
    }
    *device = dev;
    return YKD_OK;
}

void ykd_device_close(ykd_device *dev)
{
    if (!dev)
        return;
    if (dev->queue)
        clFinish(dev->queue);
    if (dev->ops_state_free)
        dev->ops_state_free(dev);
    ykd_device_profile(dev, false, NULL);
    ykd_device_programs_release(dev);
    if (dev->queue)
        clReleaseCommandQueue(dev->queue);
    if (dev->context)
        clReleaseContext(dev->context);
    free(dev);
}

const ykd_device_info *ykd_device_get_info(const ykd_device *dev)
{
    return &dev->info;
}

ykd_status ykd_device_finish(ykd_device *dev, ykd_error *err)
{
    cl_int rc = clFinish(dev->queue);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clFinish", NULL);
    return YKD_OK;
}

uint64_t ykd_device_memory_in_use(const ykd_device *dev)
{
    return dev->memory_in_use;
}

uint64_t ykd_device_memory_limit(const ykd_device *dev)
{
    return dev->memory_limit;
}

void ykd_device_cache_stats(const ykd_device *dev, ykd_program_cache_stats *stats)
{
    *stats = dev->cache_stats;
}

const char *ykd_device_cache_dir(const ykd_device *dev)
{
    return dev->cache_dir[0] ? dev->cache_dir : NULL;
}
