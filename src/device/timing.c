/* How work on a device is timed. OpenCL event timestamps are the precise way, but some
 * implementations fill them with nothing useful (Mesa's rusticl on llvmpipe reports a timer
 * resolution of 0 and 1 ns for a 64 MiB copy). So once per open device a calibration times a
 * known copy both by its events and by the host clock around a finished queue; where the
 * events are missing, zero, coarse or disagree with the host clock, the device is timed by
 * the host clock instead (clFinish before and after), and the reason is kept to be shown. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "device/device_internal.h"

/* Benchmarks time kernels of tens of microseconds: a coarser timer cannot tell them apart. */
static const double coarsest_resolution_ns = 10000.0;
/* The calibration repeats its copy until the host clock has seen this much, so that the cost
 * of queueing and waiting is small beside it. */
static const double calibration_host_ms = 4.0;
enum { CALIBRATION_MAX_BYTES = 64 << 20, CALIBRATION_MAX_COPIES = 256 };

/* Appends one finding to reason ("; " between findings). */
static void add_finding(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_finding(char *reason, size_t size, const char *fmt, ...)
{
    size_t used = strlen(reason);
    if (used > 0 && used + 2 < size) {
        memcpy(reason + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason + used, size - used, fmt, ap);
    va_end(ap);
}

/* Whether an event-timed figure is far from the host clock's: under a tenth of it (queueing
 * costs alone cannot explain that), or over twice it. */
static bool disagrees(double event_ms, double host_ms)
{
    return event_ms < 0.1 * host_ms || event_ms > 2.0 * host_ms + 0.5;
}

bool ykd_timing_judge(const ykd_timing_calibration *c, char *reason, size_t size)
{
    double mib = (double)c->bytes / (1 << 20);
    reason[0] = '\0';
    if (c->resolution_ns <= 0)
        add_finding(reason, size, "it reports a profiling timer resolution of 0 ns");
    else if (c->resolution_ns > coarsest_resolution_ns)
        add_finding(reason, size, "its profiling timer resolution is %.0f us, coarser than %.0f us",
                    c->resolution_ns * 1e-3, coarsest_resolution_ns * 1e-3);
    if (c->event_ms < 0 || c->span_ms < 0)
        add_finding(reason, size, "its %s carry no profiling information",
                    c->event_ms < 0 ? "events" : "markers");
    else if (!(c->host_ms > 0))
        add_finding(reason, size, "the host clock did not advance over the calibration");
    else if (disagrees(c->event_ms, c->host_ms) || disagrees(c->span_ms, c->host_ms))
        add_finding(reason, size, "%d cop%s of %.0f MiB read %.6f ms by their events (%.6f ms "
                    "between markers), %.3f ms by the host clock", c->copies,
                    c->copies == 1 ? "y" : "ies", mib, c->event_ms, c->span_ms, c->host_ms);
    return reason[0] == '\0';
}

/* Sums the copies' event durations; -1 when an event has no profiling information. */
static double events_total_ms(cl_event *events, int count)
{
    double total = 0;
    for (int i = 0; i < count; i++) {
        double ms = ykd_event_elapsed_ms(events[i]);
        if (ms < 0)
            return -1.0;
        total += ms;
    }
    return total;
}

/* Times `copies` copies from src to dst by their events, by two markers around them (the way
 * the benchmarks time a call) and by the host clock. */
static ykd_status time_copies(ykd_device *dev, cl_mem src, cl_mem dst, size_t bytes, int copies,
                              ykd_timing_calibration *c, ykd_error *err)
{
    cl_event events[CALIBRATION_MAX_COPIES], before = NULL, after = NULL;
    int queued = 0;
    cl_int rc = clFinish(dev->queue);
    double start = ykd_now_ms();
    if (rc == CL_SUCCESS)
        rc = clEnqueueMarkerWithWaitList(dev->queue, 0, NULL, &before);
    while (rc == CL_SUCCESS && queued < copies) {
        rc = clEnqueueCopyBuffer(dev->queue, src, dst, 0, 0, bytes, 0, NULL, &events[queued]);
        queued += rc == CL_SUCCESS;
    }
    if (rc == CL_SUCCESS)
        rc = clEnqueueMarkerWithWaitList(dev->queue, 0, NULL, &after);
    if (rc == CL_SUCCESS)
        rc = clFinish(dev->queue);
    c->host_ms = ykd_now_ms() - start;
    c->copies = copies;
    c->event_ms = rc == CL_SUCCESS ? events_total_ms(events, queued) : -1.0;
    c->span_ms = rc == CL_SUCCESS ? ykd_event_span_ms(before, after) : -1.0;
    for (int i = 0; i < queued; i++)
        clReleaseEvent(events[i]);
    if (before)
        clReleaseEvent(before);
    if (after)
        clReleaseEvent(after);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "timing calibration", "%d copies of %zu bytes",
                           copies, bytes);
    return YKD_OK;
}

static ykd_status calibrate(ykd_device *dev, ykd_timing_calibration *c, ykd_error *err)
{
    size_t resolution = 0;
    cl_int rc = clGetDeviceInfo(dev->id, CL_DEVICE_PROFILING_TIMER_RESOLUTION, sizeof resolution,
                                &resolution, NULL);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clGetDeviceInfo",
                           "CL_DEVICE_PROFILING_TIMER_RESOLUTION");
    c->resolution_ns = (double)resolution;
    /* two buffers, well within what the device allows and what its limit leaves free */
    uint64_t free_bytes = dev->memory_limit > dev->memory_in_use
                              ? dev->memory_limit - dev->memory_in_use : 0;
    size_t bytes = CALIBRATION_MAX_BYTES;
    while (bytes > 4096 && (bytes > dev->info.max_alloc_bytes / 4 || bytes > free_bytes / 4))
        bytes /= 2;
    c->bytes = bytes;
    ykd_buffer *src = NULL, *dst = NULL;
    unsigned char zero = 0;
    ykd_status st = ykd_buffer_alloc(dev, bytes, &src, err);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(dev, bytes, &dst, err);
    if (st == YKD_OK)
        st = ykd_buffer_fill(src, 0, &zero, 1, bytes, err);
    /* the first copy also pays for first-touch allocation: it is not counted */
    if (st == YKD_OK)
        st = time_copies(dev, src->mem, dst->mem, bytes, 1, c, err);
    for (int copies = 1; st == YKD_OK && copies <= CALIBRATION_MAX_COPIES; copies *= 4) {
        st = time_copies(dev, src->mem, dst->mem, bytes, copies, c, err);
        if (c->host_ms >= calibration_host_ms)
            break;
    }
    ykd_buffer_free(src);
    ykd_buffer_free(dst);
    if (st != YKD_OK)
        ykd_error_prefix(err, "checking event profiling");
    return st;
}

void ykd_device_timing_use_host(ykd_device *dev, const char *reason)
{
    dev->timing.known = true;
    dev->timing.events = false;
    snprintf(dev->timing.reason, sizeof dev->timing.reason, "%s", reason);
}

ykd_status ykd_device_timing_get(ykd_device *dev, const ykd_device_timing **timing,
                                 ykd_error *err)
{
    *timing = &dev->timing;
    if (dev->timing.known)
        return YKD_OK;
    const char *forced = getenv("YOLOKD_TIMING");
    if (forced && *forced && strcmp(forced, "auto") != 0) {
        if (strcmp(forced, "host") != 0)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "YOLOKD_TIMING: '%s' is neither 'auto' nor 'host'", forced);
        ykd_device_timing_use_host(dev, "YOLOKD_TIMING=host");
        return YKD_OK;
    }
    ykd_timing_calibration c = {0};
    ykd_status st = calibrate(dev, &c, err);
    if (st != YKD_OK)
        return st;
    dev->timing.calibration = c;
    dev->timing.events = ykd_timing_judge(&c, dev->timing.reason, sizeof dev->timing.reason);
    dev->timing.known = true;
    return YKD_OK;
}

void ykd_device_timing_describe(const ykd_device_timing *t, char *text, size_t size)
{
    if (t->events)
        snprintf(text, size, "OpenCL events (timer resolution %.0f ns)",
                 t->calibration.resolution_ns);
    else
        snprintf(text, size, "host clock around a finished queue (event profiling unusable "
                 "on this device: %s)", t->reason);
}

ykd_status ykd_device_timer_start(ykd_device *dev, ykd_device_timer *timer, ykd_error *err)
{
    *timer = (ykd_device_timer){0};
    const ykd_device_timing *timing = NULL;
    ykd_status st = ykd_device_timing_get(dev, &timing, err);
    if (st != YKD_OK)
        return st;
    timer->host = !timing->events;
    if (!timer->host)
        return ykd_device_marker(dev, &timer->before, err);
    st = ykd_device_finish(dev, err);
    timer->start_ms = ykd_now_ms();
    return st;
}

ykd_status ykd_device_timer_stop(ykd_device *dev, ykd_device_timer *timer, double *ms,
                                 ykd_error *err)
{
    *ms = -1.0;
    ykd_status st = YKD_OK;
    if (timer->host) {
        st = ykd_device_finish(dev, err);
        *ms = ykd_now_ms() - timer->start_ms;
    } else {
        cl_event after = NULL;
        st = ykd_device_marker(dev, &after, err);
        if (st == YKD_OK)
            *ms = ykd_event_span_ms(timer->before, after);
        if (st == YKD_OK && *ms < 0)
            st = ykd_fail(err, YKD_ERR_OPENCL, "device %d (%s): no profiling information",
                          dev->info.index, dev->info.name);
        if (after)
            clReleaseEvent(after);
    }
    ykd_device_timer_release(timer);
    return st;
}

void ykd_device_timer_release(ykd_device_timer *timer)
{
    if (timer->before)
        clReleaseEvent(timer->before);
    timer->before = NULL;
}
