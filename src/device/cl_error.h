/* OpenCL error codes as text, and the one way the device layer reports a failed call. */
#ifndef YKD_CL_ERROR_H
#define YKD_CL_ERROR_H

#include "device/opencl.h"
#include "yolokd/device.h"

/* "CL_OUT_OF_RESOURCES" for -5; "unknown OpenCL error" for codes outside the standard. */
const char *ykd_cl_error_name(cl_int code);

/* Fills err with "<call> failed: <CL_NAME> (<code>) on device N (<name>)[: detail]" and
 * returns YKD_ERR_OPENCL. device may be NULL when no device is involved yet. */
ykd_status ykd_cl_fail(ykd_error *err, const ykd_device_info *device, cl_int code,
                       const char *call, const char *detail_fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
