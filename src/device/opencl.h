/* The one place the OpenCL headers are included: we program against the OpenCL 1.2 API, which
 * every vendor (NVIDIA included) and PoCL implement. */
#ifndef YKD_OPENCL_H
#define YKD_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

/* From cl_khr_icd: the loader found no platform at all. */
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

#endif
