/* Device buffers: allocation against the device's limits, transfers, fills and copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/units.h"
#include "device/cl_error.h"
#include "device/device_internal.h"

/* Cross-context copies go through host memory in pieces of this size. */
enum { STAGING_CHUNK_BYTES = 16 << 20 };

static ykd_status fail_out_of_memory(const ykd_device *dev, size_t bytes, const char *why,
                                     ykd_error *err)
{
    char request[32];
    ykd_format_bytes(bytes, request, sizeof request);
    return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                    "out of device memory: cannot allocate %s (%zu bytes) on device %d (%s): %s",
                    request, bytes, dev->info.index, dev->info.name, why);
}

ykd_status ykd_buffer_alloc(ykd_device *dev, size_t bytes, ykd_buffer **buffer, ykd_error *err)
{
    *buffer = NULL;
    if (bytes == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "cannot allocate an empty buffer on device %d (%s)", dev->info.index,
                        dev->info.name);
    char limit[32], in_use[32], why[256];
    if (bytes > dev->info.max_alloc_bytes) {
        ykd_format_bytes(dev->info.max_alloc_bytes, limit, sizeof limit);
        snprintf(why, sizeof why, "the largest single buffer it allows is %s", limit);
        return fail_out_of_memory(dev, bytes, why, err);
    }
    if (bytes > dev->memory_limit - dev->memory_in_use || dev->memory_in_use > dev->memory_limit) {
        ykd_format_bytes(dev->memory_in_use, in_use, sizeof in_use);
        ykd_format_bytes(dev->memory_limit, limit, sizeof limit);
        snprintf(why, sizeof why, "%s is in use of a limit of %s", in_use, limit);
        return fail_out_of_memory(dev, bytes, why, err);
    }
    ykd_buffer *buf = calloc(1, sizeof *buf);
    if (!buf)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "allocating a buffer: out of host memory");
    cl_int rc = CL_SUCCESS;
    buf->mem = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS) {
        free(buf);
        snprintf(why, sizeof why, "clCreateBuffer failed: %s (%d)", ykd_cl_error_name(rc),
                 (int)rc);
        if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES ||
            rc == CL_OUT_OF_HOST_MEMORY || rc == CL_INVALID_BUFFER_SIZE)
            return fail_out_of_memory(dev, bytes, why, err);
        return ykd_cl_fail(err, &dev->info, rc, "clCreateBuffer", "%zu bytes", bytes);
    }
    buf->device = dev;
    buf->size = bytes;
    dev->memory_in_use += bytes;
    *buffer = buf;
    return YKD_OK;
}

void ykd_buffer_free(ykd_buffer *buf)
{
    if (!buf)
        return;
    buf->device->memory_in_use -= buf->size;
    clReleaseMemObject(buf->mem);
    free(buf);
}

size_t ykd_buffer_size(const ykd_buffer *buf)
{
    return buf->size;
}

ykd_device *ykd_buffer_device(const ykd_buffer *buf)
{
    return buf->device;
}

/* Refuses a range [offset, offset + bytes) that does not lie inside the buffer. */
static ykd_status check_range(const ykd_buffer *buf, size_t offset, size_t bytes,
                              const char *what, ykd_error *err)
{
    if (offset > buf->size || bytes > buf->size - offset)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: bytes %zu..%zu lie outside the buffer of %zu bytes on device %d "
                        "(%s)",
                        what, offset, offset + bytes, buf->size, buf->device->info.index,
                        buf->device->info.name);
    return YKD_OK;
}

ykd_status ykd_buffer_write(ykd_buffer *dst, size_t dst_offset, const void *src, size_t bytes,
                            ykd_error *err)
{
    ykd_status st = check_range(dst, dst_offset, bytes, "writing a buffer", err);
    if (st != YKD_OK || bytes == 0)
        return st;
    cl_int rc = clEnqueueWriteBuffer(dst->device->queue, dst->mem, CL_TRUE, dst_offset, bytes,
                                     src, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dst->device->info, rc, "clEnqueueWriteBuffer", "%zu bytes",
                           bytes);
    return YKD_OK;
}

ykd_status ykd_buffer_read(const ykd_buffer *src, size_t src_offset, void *dst, size_t bytes,
                           ykd_error *err)
{
    ykd_status st = check_range(src, src_offset, bytes, "reading a buffer", err);
    if (st != YKD_OK || bytes == 0)
        return st;
    cl_int rc = clEnqueueReadBuffer(src->device->queue, src->mem, CL_TRUE, src_offset, bytes,
                                    dst, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &src->device->info, rc, "clEnqueueReadBuffer", "%zu bytes",
                           bytes);
    return YKD_OK;
}

struct ykd_read {
    const ykd_buffer *src;
    cl_event done;
    size_t bytes;
};

ykd_status ykd_buffer_read_start(const ykd_buffer *src, size_t src_offset, void *dst,
                                 size_t bytes, ykd_read **read, ykd_error *err)
{
    *read = NULL;
    ykd_status st = check_range(src, src_offset, bytes, "reading a buffer", err);
    if (st != YKD_OK)
        return st;
    ykd_read *r = calloc(1, sizeof *r);
    if (!r)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "reading a buffer: out of host memory");
    r->src = src;
    r->bytes = bytes;
    cl_int rc = clEnqueueReadBuffer(src->device->queue, src->mem, CL_FALSE, src_offset, bytes,
                                    dst, 0, NULL, &r->done);
    if (rc == CL_SUCCESS)
        rc = clFlush(src->device->queue); /* the device starts on it without a later wait */
    if (rc != CL_SUCCESS) {
        if (r->done) {
            clWaitForEvents(1, &r->done);
            clReleaseEvent(r->done);
        }
        free(r);
        return ykd_cl_fail(err, &src->device->info, rc, "clEnqueueReadBuffer (not blocking)",
                           "%zu bytes", bytes);
    }
    *read = r;
    return YKD_OK;
}

ykd_status ykd_read_poll(ykd_read *r, bool *done, ykd_error *err)
{
    cl_int status = CL_QUEUED;
    cl_int rc = clGetEventInfo(r->done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                               &status, NULL);
    *done = rc == CL_SUCCESS && status == CL_COMPLETE;
    if (rc == CL_SUCCESS && status < 0)
        rc = status; /* the read itself failed */
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &r->src->device->info, rc, "a read not waited for",
                           "%zu bytes", r->bytes);
    return YKD_OK;
}

ykd_status ykd_read_finish(ykd_read *r, ykd_error *err)
{
    if (!r)
        return YKD_OK;
    cl_int rc = clWaitForEvents(1, &r->done);
    cl_int status = CL_COMPLETE;
    if (rc == CL_SUCCESS || rc == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        clGetEventInfo(r->done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    clReleaseEvent(r->done);
    ykd_status st = YKD_OK;
    if (rc != CL_SUCCESS || status < 0)
        st = ykd_cl_fail(err, &r->src->device->info, rc != CL_SUCCESS ? rc : status,
                         "waiting for a read", "%zu bytes", r->bytes);
    free(r);
    return st;
}

static bool is_fill_pattern_size(size_t size)
{
    return size == 1 || size == 2 || size == 4 || size == 8 || size == 16 || size == 32 ||
           size == 64 || size == 128;
}

ykd_status ykd_buffer_fill(ykd_buffer *buf, size_t offset, const void *pattern,
                           size_t pattern_size, size_t bytes, ykd_error *err)
{
    if (!is_fill_pattern_size(pattern_size))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "filling a buffer: pattern of %zu bytes; it must be 1, 2, 4, ... or 128",
                        pattern_size);
    if (offset % pattern_size || bytes % pattern_size)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "filling a buffer: offset %zu and size %zu must be multiples of the "
                        "%zu-byte pattern",
                        offset, bytes, pattern_size);
    ykd_status st = check_range(buf, offset, bytes, "filling a buffer", err);
    if (st != YKD_OK || bytes == 0)
        return st;
    cl_int rc = clEnqueueFillBuffer(buf->device->queue, buf->mem, pattern, pattern_size, offset,
                                    bytes, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &buf->device->info, rc, "clEnqueueFillBuffer", "%zu bytes",
                           bytes);
    return YKD_OK;
}

/* Copies between contexts through a host buffer, a chunk at a time. */
static ykd_status copy_through_host(ykd_buffer *dst, size_t dst_offset, const ykd_buffer *src,
                                    size_t src_offset, size_t bytes, ykd_error *err)
{
    size_t chunk = bytes < STAGING_CHUNK_BYTES ? bytes : STAGING_CHUNK_BYTES;
    void *staging = malloc(chunk);
    if (!staging)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                        "copying between devices: out of host memory for %zu bytes", chunk);
    ykd_status st = YKD_OK;
    for (size_t done = 0; done < bytes && st == YKD_OK; done += chunk) {
        size_t n = bytes - done < chunk ? bytes - done : chunk;
        st = ykd_buffer_read(src, src_offset + done, staging, n, err);
        if (st == YKD_OK)
            st = ykd_buffer_write(dst, dst_offset + done, staging, n, err);
    }
    free(staging);
    if (st != YKD_OK)
        ykd_error_prefix(err, "copying from device %d to device %d", src->device->info.index,
                         dst->device->info.index);
    return st;
}

ykd_status ykd_buffer_copy(ykd_buffer *dst, size_t dst_offset, const ykd_buffer *src,
                           size_t src_offset, size_t bytes, ykd_error *err)
{
    ykd_status st = check_range(src, src_offset, bytes, "copying from a buffer", err);
    if (st == YKD_OK)
        st = check_range(dst, dst_offset, bytes, "copying into a buffer", err);
    if (st != YKD_OK || bytes == 0)
        return st;
    bool overlap = src_offset < dst_offset + bytes && dst_offset < src_offset + bytes;
    if (dst == src && overlap)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "copying within a buffer: ranges at %zu and %zu of %zu bytes overlap",
                        src_offset, dst_offset, bytes);
    if (dst->device != src->device)
        return copy_through_host(dst, dst_offset, src, src_offset, bytes, err);
    cl_int rc = clEnqueueCopyBuffer(dst->device->queue, src->mem, dst->mem, src_offset,
                                    dst_offset, bytes, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dst->device->info, rc, "clEnqueueCopyBuffer", "%zu bytes",
                           bytes);
    return YKD_OK;
}
