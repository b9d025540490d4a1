/* Axis ticks at round numbers, as plotting libraries place them. */
#include <math.h>

#include "train/curves_internal.h"

/* Multiples of step in [lo, hi], allowing for the rounding of the division. */
static double first_multiple(double lo, double step)
{
    return ceil(lo / step - 1e-9);
}

static double multiples_in(double lo, double hi, double step)
{
    return floor(hi / step + 1e-9) - first_multiple(lo, step) + 1.0;
}

int ykd_ticks_choose(double lo, double hi, int max_ticks, double min_step, double *first,
                     double *step)
{
    *first = lo, *step = 0.0;
    if (!isfinite(hi - lo) || !(hi > lo) || max_ticks < 1) /* also NaN, infinite ends */
        return 0;
    static const double mantissas[] = {1.0, 2.0, 5.0};
    /* start a decade below the even split, so the smallest fitting step is found going up */
    int exponent = (int)floor(log10((hi - lo) / max_ticks)) - 1;
    for (;; exponent++) {
        for (int m = 0; m < 3; m++) {
            double s = mantissas[m] * pow(10.0, exponent);
            if (!isfinite(s)) /* a range near the largest double: no round step fits */
                return 0;
            if (s < min_step * (1.0 - 1e-12))
                continue;
            double count = multiples_in(lo, hi, s);
            if (count <= max_ticks) {
                *step = s;
                *first = first_multiple(lo, s) * s;
                return (int)count;
            }
        }
    }
}

int ykd_ticks_decimals(double step)
{
    /* 1, 2 or 5 times 10^e needs -e decimals when e < 0 (the 1e-9 absorbs log10's rounding) */
    int decimals = -(int)floor(log10(step) + 1e-9);
    return decimals > 0 ? decimals : 0;
}
