/* What the training-curve picture (curves.c) is made of, apart for its tests: round axis
 * ticks (ticks.c) and the smoothed line (smooth.c). */
#ifndef YKD_CURVES_INTERNAL_H
#define YKD_CURVES_INTERNAL_H

#include <stddef.h>

/* Ticks for an axis over [lo, hi] at round numbers: the step is 1, 2 or 5 times a power of ten,
 * at least min_step, the smallest that puts at most max_ticks multiples of itself in
 * [lo, hi]. Sets the first tick (the smallest multiple of the step not below lo) and the step,
 * and returns how many ticks there are (0 when hi <= lo, the range is not finite, or
 * max_ticks < 1). Tick i is (first_index + i) * step, with first = first_index * step. */
int ykd_ticks_choose(double lo, double hi, int max_ticks, double min_step, double *first,
                     double *step);

/* How many decimals print a multiple of step exactly enough (0 for steps of 1 and above). */
int ykd_ticks_decimals(double step);

/* A Gaussian filter over n samples as scipy's gaussian_filter1d (mode "reflect": the samples
 * mirrored about each end, the edge sample repeated; the kernel cut at 4 sigma and
 * normalised), into out (n values; out may not alias values). sigma in samples, > 0. */
void ykd_smooth_gaussian(const double *values, size_t n, double sigma, double *out);

#endif
