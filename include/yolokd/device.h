/* OpenCL devices: enumeration, selection by spec string, buffers, and the program cache.
 *
 * A ykd_device is one OpenCL device opened in a context of its own with one in-order,
 * profiling-enabled queue. Two ykd_devices may be open at once, on the same physical device
 * or on different ones; buffers move between them with ykd_buffer_copy. A device and its
 * buffers are used from one thread at a time. */
#ifndef YOLOKD_DEVICE_H
#define YOLOKD_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ykd_device_type {
    YKD_DEVICE_TYPE_CPU = 1,
    YKD_DEVICE_TYPE_GPU = 2,
    YKD_DEVICE_TYPE_ACCELERATOR = 4,
    YKD_DEVICE_TYPE_OTHER = 8
} ykd_device_type;

/* What enumeration learns of a device. Strings are NUL-terminated, truncated if longer. */
typedef struct ykd_device_info {
    int index;                 /* position in ykd_device_list order: what the spec "N" names */
    int platform_index;        /* which platform, in the ICD loader's order */
    int index_in_platform;     /* position among that platform's devices */
    ykd_device_type type;
    char name[256];
    char vendor[128];
    char platform_name[128];
    char platform_vendor[128];
    char platform_version[256];
    char device_version[256];   /* CL_DEVICE_VERSION */
    char driver_version[128];   /* CL_DRIVER_VERSION */
    char opencl_c_version[128]; /* CL_DEVICE_OPENCL_C_VERSION */
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    /* Floats per vector the kernels work on (CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT as a power
     * of two, 1..16): 16 on PoCL with AVX-512, where a work-item runs on a whole core and
     * vectorises within itself; 1 on GPUs and Mesa's llvmpipe, whose work-items are lanes. */
    unsigned vector_floats;
    bool fp64;
    bool fp16;
} ykd_device_info;

/* Lists every device of every platform. *devices is NULL and *count 0 when there are none
 * (no OpenCL platform installed is not an error). Free the array with ykd_device_list_free. */
ykd_status ykd_device_list(ykd_device_info **devices, size_t *count, ykd_error *err);
void ykd_device_list_free(ykd_device_info *devices);

/* "cpu", "gpu", "accelerator" or "other". */
const char *ykd_device_type_name(ykd_device_type type);

/* Picks the device a spec names from a list, without touching OpenCL.
 *   "N"                 the device with index N (digits alone are always an index)
 *   "cpu", "gpu", "accelerator" (or "acc"), optionally ":N"
 *                       the Nth device of that type (N = 0 when absent)
 *   "nvidia", "amd", "intel", "apple", "pocl", optionally ":N"
 *                       the Nth device of that vendor's platform (GPUs and accelerators
 *                       also match by their own vendor, so Mesa's AMD GPUs are "amd")
 *   "auto" or NULL/""   the first GPU, else the first accelerator, else device 0
 *   any other text      the one device whose name contains it (case-insensitive); text
 *                       that matches several devices is refused as ambiguous
 * An unknown, ambiguous or malformed spec fails with a message listing the devices. */
ykd_status ykd_device_spec_resolve(const char *spec, const ykd_device_info *devices,
                                   size_t count, size_t *index, ykd_error *err);

/* Appends a table of the devices (one line each) to buf; used in error messages and help. */
/* Why no device is found, for messages: what the OpenCL platforms returned (clGetPlatformIDs'
 * and each platform's clGetDeviceIDs' result) and the likely cause: no driver or .icd file
 * (/etc/OpenCL/vendors, OCL_ICD_VENDORS), PoCL without a writable cache folder (HOME,
 * XDG_CACHE_HOME, POCL_CACHE_DIR), rusticl without RUSTICL_ENABLE. */
void ykd_device_explain_none(char *buf, size_t size);

void ykd_device_list_format(const ykd_device_info *devices, size_t count, char *buf,
                            size_t size);

typedef struct ykd_device ykd_device;
typedef struct ykd_buffer ykd_buffer;

typedef struct ykd_device_options {
    /* Folder for compiled program binaries. NULL: $YOLOKD_CACHE_DIR, else
     * $XDG_CACHE_HOME/yolokd, else $HOME/.cache/yolokd. "off" disables the cache. */
    const char *cache_dir;
    /* Refuse allocations beyond this many bytes in use on the device; 0 means the
     * device's global memory. */
    uint64_t memory_limit_bytes;
    /* Caps every kernel's work-group at this many work-items; 0 (or more than the device
     * allows) means the device's own limits. Results do not depend on it beyond float
     * rounding: it is there to check that, as a small GPU would choose small groups. */
    size_t max_work_group_size;
    /* The floats per vector the kernels are built for instead of the device's preference
     * (ykd_device_info.vector_floats): 1, 2, 4, 8 or 16; 0 means the device's own. Results do
     * not depend on it beyond float rounding: it is there to check every width on any device. */
    unsigned vector_floats;
} ykd_device_options;

/* Opens the device a spec names (see ykd_device_spec_resolve). A NULL or empty spec uses
 * $YOLOKD_DEVICE when set, else "auto". options may be NULL for the defaults. */
ykd_status ykd_device_open(const char *spec, const ykd_device_options *options,
                           ykd_device **device, ykd_error *err);
void ykd_device_close(ykd_device *device);

const ykd_device_info *ykd_device_get_info(const ykd_device *device);

/* Waits until every command queued on the device has finished. */
ykd_status ykd_device_finish(ykd_device *device, ykd_error *err);

/* Bytes held by this device's live buffers, and the limit allocations are checked against. */
uint64_t ykd_device_memory_in_use(const ykd_device *device);
uint64_t ykd_device_memory_limit(const ykd_device *device);

/* How programs were obtained since the device was opened. */
typedef struct ykd_program_cache_stats {
    unsigned built_from_source; /* compiled from the embedded source */
    unsigned loaded_from_cache; /* loaded from a binary in the cache folder */
    unsigned rejected_entries;  /* cache files found corrupt or unusable, then rebuilt */
    unsigned written;           /* binaries written to the cache folder */
    unsigned write_failures;    /* binaries that could not be written (the run goes on) */
    double build_ms;            /* wall time spent obtaining programs */
} ykd_program_cache_stats;

void ykd_device_cache_stats(const ykd_device *device, ykd_program_cache_stats *stats);

/* The cache folder in use, or NULL when the cache is off. */
const char *ykd_device_cache_dir(const ykd_device *device);

/* Resolves the cache folder from the environment's values (any may be NULL): the folder to
 * use in buf, or an empty string when caching is off or no folder can be derived. */
void ykd_cache_dir_resolve(const char *yolokd_cache_dir, const char *xdg_cache_home,
                           const char *home, char *buf, size_t size);

/* Device buffers. Sizes are in bytes; offsets and sizes are checked against the buffer. */
ykd_status ykd_buffer_alloc(ykd_device *device, size_t bytes, ykd_buffer **buffer,
                            ykd_error *err);
void ykd_buffer_free(ykd_buffer *buffer);
size_t ykd_buffer_size(const ykd_buffer *buffer);
ykd_device *ykd_buffer_device(const ykd_buffer *buffer);

/* Blocking host <-> device transfers. */
ykd_status ykd_buffer_write(ykd_buffer *dst, size_t dst_offset, const void *src, size_t bytes,
                            ykd_error *err);
ykd_status ykd_buffer_read(const ykd_buffer *src, size_t src_offset, void *dst, size_t bytes,
                           ykd_error *err);

/* A read that does not wait: queued after every command queued before it (so it sees what
 * they write) and handed to the device at once; ykd_read_poll says whether it has completed,
 * ykd_read_finish waits for it and releases it. dst must stay valid until then; every read
 * started must be finished once, failed or not. */
typedef struct ykd_read ykd_read;
ykd_status ykd_buffer_read_start(const ykd_buffer *src, size_t src_offset, void *dst,
                                 size_t bytes, ykd_read **read, ykd_error *err);
ykd_status ykd_read_poll(ykd_read *read, bool *done, ykd_error *err);
ykd_status ykd_read_finish(ykd_read *read, ykd_error *err);

/* Fills bytes (a multiple of pattern_size: 1, 2, 4, 8, 16, 32, 64 or 128) from offset. */
ykd_status ykd_buffer_fill(ykd_buffer *buf, size_t offset, const void *pattern,
                           size_t pattern_size, size_t bytes, ykd_error *err);

/* Copies between any two buffers. Within one ykd_device the copy is queued on its queue, so
 * every later command there sees the data; between two ykd_devices (different contexts) the
 * data passes through host memory and the call returns once dst holds it. Overlapping ranges
 * of one buffer are refused. */
ykd_status ykd_buffer_copy(ykd_buffer *dst, size_t dst_offset, const ykd_buffer *src,
                           size_t src_offset, size_t bytes, ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
