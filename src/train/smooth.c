/* The smoothed line beside a curve's points: Ultralytics draws gaussian_filter1d(y, sigma=3)
 * of scipy next to each series of results.png; this is the same filter. */
#include <math.h>

#include "train/curves_internal.h"

/* scipy's "reflect" extension, (d c b a | a b c d | d c b a), repeated for any distance. */
static size_t reflect(long i, size_t n)
{
    long period = 2 * (long)n;
    long j = i % period;
    if (j < 0)
        j += period;
    return (size_t)(j < (long)n ? j : period - 1 - j);
}

void ykd_smooth_gaussian(const double *values, size_t n, double sigma, double *out)
{
    long radius = (long)(4.0 * sigma + 0.5); /* scipy's truncate = 4 */
    double total = 0.0;
    for (long k = -radius; k <= radius; k++)
        total += exp(-0.5 * (double)(k * k) / (sigma * sigma));
    for (size_t i = 0; i < n; i++) {
        double sum = 0.0;
        for (long k = -radius; k <= radius; k++)
            sum += exp(-0.5 * (double)(k * k) / (sigma * sigma)) * values[reflect((long)i + k, n)];
        out[i] = sum / total;
    }
}
