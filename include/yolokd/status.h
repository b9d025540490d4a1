/* Status codes and the error record every yolokd function fills on failure. */
#ifndef YOLOKD_STATUS_H
#define YOLOKD_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible function returns one of these; YKD_OK is zero, failures are negative. */
typedef enum ykd_status {
    YKD_OK = 0,
    YKD_ERR_INVALID_ARGUMENT = -1, /* a bad value from the caller: spec, size, option */
    YKD_ERR_NOT_FOUND = -2,        /* no such device, file, kernel or tensor */
    YKD_ERR_AMBIGUOUS = -3,        /* a name that matches more than one thing */
    YKD_ERR_OUT_OF_MEMORY = -4,    /* host or device memory exhausted or over a limit */
    YKD_ERR_OPENCL = -5,           /* an OpenCL call failed */
    YKD_ERR_BUILD = -6,            /* an OpenCL program failed to compile */
    YKD_ERR_IO = -7,               /* reading or writing a file failed */
    YKD_ERR_FORMAT = -8,           /* a file or input is malformed */
    YKD_ERR_SHAPE = -9,            /* tensor shapes do not fit together */
    YKD_ERR_UNSUPPORTED = -10,     /* the device or build lacks a needed feature */
    YKD_ERR_NO_DEVICE = -11,       /* no OpenCL device is present at all */
    YKD_ERR_NOT_FINITE = -12,      /* a computation gave NaN or infinity (a diverging loss) */
    YKD_ERR_COMM = -13             /* a message between the processes of a run (MPI) failed */
} ykd_status;

enum { YKD_ERROR_MESSAGE_SIZE = 4096 };

/* Filled by a failing call: the code and a message naming the call, file, tensor or device. */
typedef struct ykd_error {
    ykd_status status;
    char message[YKD_ERROR_MESSAGE_SIZE];
} ykd_error;

/* The code's name, e.g. "YKD_ERR_OPENCL"; never NULL. */
const char *ykd_status_name(ykd_status status);

/* A short description of the code, e.g. "OpenCL call failed"; never NULL. */
const char *ykd_status_str(ykd_status status);

/* Resets an error record to YKD_OK with an empty message. err may be NULL. */
void ykd_error_clear(ykd_error *err);

/* The library's version, e.g. "0.1.0". */
const char *ykd_version(void);

#ifdef __cplusplus
}
#endif

#endif
