#include "ref.h"

size_t ref_numel(ref_shape s)
{
    return (size_t)s.n * (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

void ref_add(size_t n, const double *a, const double *b, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void ref_scale(size_t n, double scale, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * scale;
}
