#include "ref.h"

void ref_axpy(size_t n, double alpha, const float *x, const float *y, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = alpha * (double)x[i] + (double)y[i];
}

void ref_axpby(size_t n, double alpha, const float *x, double beta, const float *y,
               double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = alpha * (double)x[i] + beta * (double)y[i];
}
