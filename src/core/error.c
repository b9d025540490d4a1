#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "ykd_version.h"

typedef struct status_text {
    ykd_status status;
    const char *name;
    const char *description;
} status_text;

static const status_text status_texts[] = {
    {YKD_OK, "YKD_OK", "success"},
    {YKD_ERR_INVALID_ARGUMENT, "YKD_ERR_INVALID_ARGUMENT", "invalid argument"},
    {YKD_ERR_NOT_FOUND, "YKD_ERR_NOT_FOUND", "not found"},
    {YKD_ERR_AMBIGUOUS, "YKD_ERR_AMBIGUOUS", "ambiguous name"},
    {YKD_ERR_OUT_OF_MEMORY, "YKD_ERR_OUT_OF_MEMORY", "out of memory"},
    {YKD_ERR_OPENCL, "YKD_ERR_OPENCL", "OpenCL call failed"},
    {YKD_ERR_BUILD, "YKD_ERR_BUILD", "OpenCL program build failed"},
    {YKD_ERR_IO, "YKD_ERR_IO", "input/output error"},
    {YKD_ERR_FORMAT, "YKD_ERR_FORMAT", "malformed input"},
    {YKD_ERR_SHAPE, "YKD_ERR_SHAPE", "shape mismatch"},
    {YKD_ERR_UNSUPPORTED, "YKD_ERR_UNSUPPORTED", "not supported"},
    {YKD_ERR_NO_DEVICE, "YKD_ERR_NO_DEVICE", "no OpenCL device"},
    {YKD_ERR_NOT_FINITE, "YKD_ERR_NOT_FINITE", "not a finite number"},
    {YKD_ERR_COMM, "YKD_ERR_COMM", "communication between processes failed"},
};

static const status_text *find_status(ykd_status status)
{
    for (size_t i = 0; i < sizeof status_texts / sizeof status_texts[0]; i++)
        if (status_texts[i].status == status)
            return &status_texts[i];
    return NULL;
}

const char *ykd_status_name(ykd_status status)
{
    const status_text *t = find_status(status);
    return t ? t->name : "YKD_ERR_UNKNOWN";
}

const char *ykd_status_str(ykd_status status)
{
    const status_text *t = find_status(status);
    return t ? t->description : "unknown status";
}

const char *ykd_version(void)
{
    return YKD_VERSION;
}

void ykd_error_clear(ykd_error *err)
{
    if (!err)
        return;
    err->status = YKD_OK;
    err->message[0] = '\0';
}

ykd_status ykd_fail(ykd_error *err, ykd_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

void ykd_error_prefix(ykd_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* shift the message right to make room, dropping what no longer fits at the end */
    size_t add = strlen(prefix) + 2, size = sizeof err->message;
    if (add >= size)
        add = size - 1;
    size_t keep = strlen(err->message);
    if (keep > size - 1 - add)
        keep = size - 1 - add;
    memmove(err->message + add, err->message, keep);
    err->message[add + keep] = '\0';
    memcpy(err->message, prefix, add - 2);
    memcpy(err->message + add - 2, ": ", 2);
}

void ykd_error_append(ykd_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    size_t used = strlen(err->message);
    if (used + 1 >= sizeof err->message)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + used, sizeof err->message - used, fmt, ap);
    va_end(ap);
}
