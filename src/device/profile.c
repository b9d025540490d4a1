/* Per-kernel device time: with profiling on, every launch keeps its event; taking the profile
 * waits for them and sums their durations by kernel name. On a device whose events cannot be
 * trusted (ykd_device_timing_get), each launch is instead timed by the host clock from a
 * finished queue to a finished queue, which serialises the launches: such a profile says where
 * the time goes, not how long the whole takes. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/device_internal.h"

typedef struct pending_launch {
    const char *name;
    cl_event event; /* NULL when timed by the host clock */
    double host_ms;
} pending_launch;

struct ykd_kernel_profile {
    pending_launch *pending;
    size_t count, capacity;
    bool host;             /* launches timed by the host clock */
    double launch_start_ms; /* host clock when the current launch was queued */
};

ykd_status ykd_device_profile(ykd_device *dev, bool on, ykd_error *err)
{
    if (on && !dev->profile) {
        const ykd_device_timing *timing = NULL;
        ykd_status st = ykd_device_timing_get(dev, &timing, err);
        if (st != YKD_OK)
            return st;
        dev->profile = calloc(1, sizeof *dev->profile);
        if (!dev->profile)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "profiling: out of host memory");
        dev->profile->host = !timing->events;
    } else if (!on && dev->profile) {
        ykd_device_profile_take(dev, NULL, 0);
        free(dev->profile->pending);
        free(dev->profile);
        dev->profile = NULL;
    }
    return YKD_OK;
}

void ykd_device_profile_before_launch(ykd_device *dev)
{
    if (!dev->profile->host)
        return;
    clFinish(dev->queue);
    dev->profile->launch_start_ms = ykd_now_ms();
}

/* Called by ykd_kernel_run for each launch while profiling; keeps the event (or, timed by the
 * host, the launch's time). A failure to grow the list drops the measurement, never the
 * launch. */
void ykd_device_profile_record(ykd_device *dev, const char *name, cl_event event)
{
    struct ykd_kernel_profile *p = dev->profile;
    double host_ms = 0;
    if (p->host) {
        clFinish(dev->queue);
        host_ms = ykd_now_ms() - p->launch_start_ms;
        clReleaseEvent(event);
        event = NULL;
    }
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 256;
        pending_launch *grown = realloc(p->pending, capacity * sizeof *grown);
        if (!grown) {
            if (event)
                clReleaseEvent(event);
            return;
        }
        p->pending = grown;
        p->capacity = capacity;
    }
    p->pending[p->count++] = (pending_launch){name, event, host_ms};
}

static int by_time_descending(const void *a, const void *b)
{
    double x = ((const ykd_kernel_time *)a)->ms, y = ((const ykd_kernel_time *)b)->ms;
    return (x < y) - (x > y);
}

size_t ykd_device_profile_take(ykd_device *dev, ykd_kernel_time *times, size_t max)
{
    struct ykd_kernel_profile *p = dev->profile;
    size_t n = 0;
    for (size_t i = 0; p && i < p->count; i++) {
        cl_event event = p->pending[i].event;
        double ms = event ? ykd_event_elapsed_ms(event) : p->pending[i].host_ms;
        if (event)
            clReleaseEvent(event);
        size_t k = 0;
        while (k < n && strcmp(times[k].name, p->pending[i].name) != 0)
            k++;
        if (k == n && n < max)
            times[n++] = (ykd_kernel_time){p->pending[i].name, 0, 0.0};
        if (k < n && ms >= 0) {
            times[k].launches++;
            times[k].ms += ms;
        }
    }
    if (p)
        p->count = 0;
    if (n > 1)
        qsort(times, n, sizeof *times, by_time_descending);
    return n;
}
