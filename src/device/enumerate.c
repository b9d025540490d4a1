/* Finding every OpenCL platform and device, and describing each in a ykd_device_info. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "device/device_internal.h"

const char *ykd_device_type_name(ykd_device_type type)
{
    switch (type) {
    case YKD_DEVICE_TYPE_CPU:
        return "cpu";
    case YKD_DEVICE_TYPE_GPU:
        return "gpu";
    case YKD_DEVICE_TYPE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

static void platform_string(cl_platform_id platform, cl_platform_info what, char *buf,
                            size_t size)
{
    buf[0] = '\0';
    if (clGetPlatformInfo(platform, what, size, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[size - 1] = '\0';
}

/* Reads a string property of any length, keeping what fits in buf. */
static void device_string(cl_device_id device, cl_device_info what, char *buf, size_t size)
{
    size_t needed = 0;
    buf[0] = '\0';
    if (clGetDeviceInfo(device, what, 0, NULL, &needed) != CL_SUCCESS || needed == 0)
        return;
    char *full = malloc(needed + 1);
    if (!full)
        return;
    if (clGetDeviceInfo(device, what, needed, full, NULL) == CL_SUCCESS) {
        full[needed] = '\0';
        strncpy(buf, full, size - 1);
        buf[size - 1] = '\0';
    }
    free(full);
}

static bool has_extension(const char *extensions, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(extensions, name); p; p = strstr(p + 1, name)) {
        bool starts = p == extensions || p[-1] == ' ';
        bool ends = p[len] == '\0' || p[len] == ' ';
        if (starts && ends)
            return true;
    }
    return false;
}

static ykd_device_type convert_type(cl_device_type type)
{
    if (type & CL_DEVICE_TYPE_GPU)
        return YKD_DEVICE_TYPE_GPU;
    if (type & CL_DEVICE_TYPE_CPU)
        return YKD_DEVICE_TYPE_CPU;
    if (type & CL_DEVICE_TYPE_ACCELERATOR)
        return YKD_DEVICE_TYPE_ACCELERATOR;
    return YKD_DEVICE_TYPE_OTHER;
}

/* The device's preferred float vector width as one of OpenCL C's widths the kernels use: the
 * largest power of two not above it, 1 to 16 (0, "no preference", and odd widths such as 3
 * round down). */
static unsigned vector_floats_of(cl_uint preferred)
{
    unsigned width = 1;
    while (width < 16 && width * 2 <= preferred)
        width *= 2;
    return width;
}

static void describe_device(cl_platform_id platform, cl_device_id device, ykd_device_info *info)
{
    platform_string(platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    platform_string(platform, CL_PLATFORM_VENDOR, info->platform_vendor,
                    sizeof info->platform_vendor);
    platform_string(platform, CL_PLATFORM_VERSION, info->platform_version,
                    sizeof info->platform_version);
    device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    device_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    device_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                  sizeof info->opencl_c_version);

    cl_device_type type = 0;
    cl_uint units = 0, clock = 0;
    cl_ulong global = 0, local = 0, max_alloc = 0;
    size_t work_group = 0;
    cl_uint vector = 1;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof clock, &clock, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof work_group, &work_group, NULL);
    clGetDeviceInfo(device, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof vector, &vector, NULL);
    info->type = convert_type(type);
    info->compute_units = units;
    info->clock_mhz = clock;
    info->global_mem_bytes = global;
    info->local_mem_bytes = local;
    info->max_alloc_bytes = max_alloc;
    info->max_work_group_size = work_group;
    info->vector_floats = vector_floats_of(vector);

    char extensions[8192];
    device_string(device, CL_DEVICE_EXTENSIONS, extensions, sizeof extensions);
    info->fp64 = has_extension(extensions, "cl_khr_fp64");
    info->fp16 = has_extension(extensions, "cl_khr_fp16");
}

/* Appends the devices of one platform to *found (grown as needed). */
static ykd_status add_platform_devices(cl_platform_id platform, int platform_index,
                                       ykd_found_device **found, size_t *count, ykd_error *err)
{
    cl_uint n = 0;
    cl_int rc = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
    if (rc == CL_DEVICE_NOT_FOUND || n == 0)
        return YKD_OK; /* a platform with no devices is not an error */
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, NULL, rc, "clGetDeviceIDs", "platform %d", platform_index);
    cl_device_id *ids = calloc(n, sizeof *ids);
    ykd_found_device *grown = realloc(*found, (*count + n) * sizeof **found);
    if (!ids || !grown) {
        free(ids);
        if (grown)
            *found = grown;
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "listing devices: out of host memory");
    }
    *found = grown;
    rc = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, n, ids, NULL);
    if (rc != CL_SUCCESS) {
        free(ids);
        return ykd_cl_fail(err, NULL, rc, "clGetDeviceIDs", "platform %d", platform_index);
    }
    for (cl_uint i = 0; i < n; i++) {
        ykd_found_device *d = &grown[*count];
        memset(d, 0, sizeof *d);
        d->platform = platform;
        d->id = ids[i];
        d->info.index = (int)*count;
        d->info.platform_index = platform_index;
        d->info.index_in_platform = (int)i;
        describe_device(platform, ids[i], &d->info);
        (*count)++;
    }
    free(ids);
    return YKD_OK;
}

ykd_status ykd_device_enumerate(ykd_found_device **found, size_t *count, ykd_error *err)
{
    *found = NULL;
    *count = 0;
    cl_uint platform_count = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &platform_count);
    if (rc == CL_PLATFORM_NOT_FOUND_KHR || (rc == CL_SUCCESS && platform_count == 0))
        return YKD_OK; /* no ICD installed: zero devices */
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, NULL, rc, "clGetPlatformIDs", NULL);
    cl_platform_id *platforms = calloc(platform_count, sizeof *platforms);
    if (!platforms)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "listing platforms: out of host memory");
    rc = clGetPlatformIDs(platform_count, platforms, NULL);
    ykd_status st = rc == CL_SUCCESS ? YKD_OK
                                     : ykd_cl_fail(err, NULL, rc, "clGetPlatformIDs", NULL);
    for (cl_uint p = 0; p < platform_count && st == YKD_OK; p++)
        st = add_platform_devices(platforms[p], (int)p, found, count, err);
    free(platforms);
    if (st != YKD_OK) {
        free(*found);
        *found = NULL;
        *count = 0;
    }
    return st;
}

ykd_status ykd_device_list(ykd_device_info **devices, size_t *count, ykd_error *err)
{
    *devices = NULL;
    *count = 0;
    ykd_found_device *found = NULL;
    size_t n = 0;
    ykd_status st = ykd_device_enumerate(&found, &n, err);
    if (st != YKD_OK || n == 0)
        return st;
    ykd_device_info *infos = calloc(n, sizeof *infos);
    if (!infos) {
        free(found);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "listing devices: out of host memory");
    }
    for (size_t i = 0; i < n; i++)
        infos[i] = found[i].info;
    free(found);
    *devices = infos;
    *count = n;
    return YKD_OK;
}

void ykd_device_list_free(ykd_device_info *devices)
{
    free(devices);
}
