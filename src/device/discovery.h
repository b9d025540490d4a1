/* Why discovery found no OpenCL device: what the platforms returned, probed afresh, and the
 * likely cause (no driver or no .icd file for the ICD loader; PoCL without a writable cache
 * folder, which it keeps under HOME; rusticl without RUSTICL_ENABLE). Split in a probe and a
 * pure explanation so the wording is testable with made-up results. */
#ifndef YKD_DEVICE_DISCOVERY_H
#define YKD_DEVICE_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "device/opencl.h"

enum { YKD_DISCOVERY_MAX_PLATFORMS = 16 };

typedef struct ykd_platform_probe {
    char name[128];
    cl_int devices_rc; /* clGetDeviceIDs(CL_DEVICE_TYPE_ALL) */
    cl_uint devices;
} ykd_platform_probe;

typedef struct ykd_discovery {
    cl_int platforms_rc; /* clGetPlatformIDs */
    size_t platform_count;
    ykd_platform_probe platforms[YKD_DISCOVERY_MAX_PLATFORMS];
    char icd_source[4096]; /* OCL_ICD_VENDORS, or the loader's default folder */
    bool icd_from_env;
    int icd_files;         /* .icd files there (1 for a file); -1: it cannot be read */
    char pocl_cache[4096]; /* the folder PoCL keeps its kernel cache in; "" without HOME */
    const char *pocl_cache_from; /* "POCL_CACHE_DIR", "XDG_CACHE_HOME" or "HOME" */
    bool pocl_cache_writable;    /* it, or its nearest existing parent, is writable */
    bool rusticl_enabled;        /* RUSTICL_ENABLE is set */
} ykd_discovery;

/* Asks the ICD loader and the environment. */
void ykd_discovery_probe(ykd_discovery *d);

/* The explanation, one paragraph (no "no OpenCL device found" in front). */
void ykd_discovery_explain(const ykd_discovery *d, char *buf, size_t size);

#endif
