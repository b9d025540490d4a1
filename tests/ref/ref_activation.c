#include <math.h>

#include "ref.h"

static double logistic(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

void ref_silu_forward(size_t n, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * logistic(x[i]);
}

void ref_silu_backward(size_t n, const double *x, const double *dy, double *dx)
{
    for (size_t i = 0; i < n; i++) {
        double s = logistic(x[i]);
        dx[i] = dy[i] * (s + x[i] * s * (1.0 - s));
    }
}

void ref_sigmoid_forward(size_t n, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = logistic(x[i]);
}

void ref_sigmoid_backward(size_t n, const double *y, const double *dy, double *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1.0 - y[i]);
}

void ref_leaky_relu_forward(size_t n, double slope, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0 ? x[i] : slope * x[i];
}

void ref_leaky_relu_backward(size_t n, double slope, const double *x, const double *dy,
                             double *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = x[i] > 0.0 ? dy[i] : slope * dy[i];
}
