/* Per-kernel device time: with profiling on, every launch keeps its event; taking the profile
 * waits for them and sums their durations by kernel name. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/device_internal.h"

typedef struct pending_launch {
    const char *name;
    cl_event event;
} pending_launch;

struct ykd_kernel_profile {
    pending_launch *pending;
    size_t count, capacity;
};

ykd_status ykd_device_profile(ykd_device *dev, bool on, ykd_error *err)
{
    if (on && !dev->profile) {
        dev->profile = calloc(1, sizeof *dev->profile);
        if (!dev->profile)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "profiling: out of host memory");
    } else if (!on && dev->profile) {
        ykd_device_profile_take(dev, NULL, 0);
        free(dev->profile->pending);
        free(dev->profile);
        dev->profile = NULL;
    }
    return YKD_OK;
}

/* Called by ykd_kernel_run for each launch while profiling; keeps the event. A failure to
 * grow the list drops the measurement, never the launch. */
void ykd_device_profile_record(ykd_device *dev, const char *name, cl_event event)
{
    struct ykd_kernel_profile *p = dev->profile;
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 256;
        pending_launch *grown = realloc(p->pending, capacity * sizeof *grown);
        if (!grown) {
            clReleaseEvent(event);
            return;
        }
        p->pending = grown;
        p->capacity = capacity;
    }
    p->pending[p->count++] = (pending_launch){name, event};
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
        double ms = ykd_event_elapsed_ms(p->pending[i].event);
        clReleaseEvent(p->pending[i].event);
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
