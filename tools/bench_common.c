/* What the benchmarks share: a seeded generator for their inputs, the bound on their timing
 * loops and the median of timings. */
#include <stdlib.h>

#include "bench.h"
#include "device/device_internal.h"

ykd_status ykd_bench_profile_alongside(ykd_device *device, bool *alongside, ykd_error *err)
{
    const ykd_device_timing *timing = NULL;
    ykd_status st = ykd_device_timing_get(device, &timing, err);
    *alongside = st == YKD_OK && timing->events;
    return st;
}

bool ykd_bench_run_more(int r, double started_ms)
{
    return r <= 0 || ykd_now_ms() - started_ms < YKD_BENCH_LOOP_LIMIT_MS;
}

float ykd_bench_uniform(uint64_t *state, float lo, float hi)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (float)((z >> 40) / 16777216.0);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ykd_bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}
