#include <math.h>
#include <stdlib.h>

#include "ref.h"

/* Index of element p of plane (n, c). */
static size_t at(ref_shape s, int n, int c, size_t p)
{
    return ((size_t)n * (size_t)s.c + (size_t)c) * (size_t)s.h * (size_t)s.w + p;
}

/* The mean and biased variance of channel c, in two passes. */
static void channel_moments(ref_shape s, const double *x, int c, double *mean, double *var)
{
    size_t plane = (size_t)s.h * (size_t)s.w, count = (size_t)s.n * plane;
    double sum = 0.0, sq = 0.0;
    for (int n = 0; n < s.n; n++)
        for (size_t p = 0; p < plane; p++)
            sum += x[at(s, n, c, p)];
    *mean = sum / (double)count;
    for (int n = 0; n < s.n; n++)
        for (size_t p = 0; p < plane; p++) {
            double d = x[at(s, n, c, p)] - *mean;
            sq += d * d;
        }
    *var = sq / (double)count;
}

/* y = (x - mean) * invstd * gamma + beta, per channel. */
static void normalize(ref_shape s, const double *x, const double *gamma, const double *beta,
                      const double *mean, const double *invstd, double *y)
{
    size_t plane = (size_t)s.h * (size_t)s.w;
    for (int n = 0; n < s.n; n++)
        for (int c = 0; c < s.c; c++)
            for (size_t p = 0; p < plane; p++) {
                size_t i = at(s, n, c, p);
                y[i] = (x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c];
            }
}

void ref_batchnorm_forward_train(ref_shape s, const double *x, const double *gamma,
                                 const double *beta, double eps, double *y, double *mean,
                                 double *invstd, double *var_unbiased)
{
    double count = (double)s.n * s.h * s.w;
    for (int c = 0; c < s.c; c++) {
        double var;
        channel_moments(s, x, c, &mean[c], &var);
        invstd[c] = 1.0 / sqrt(var + eps);
        var_unbiased[c] = var * count / (count - 1.0);
    }
    normalize(s, x, gamma, beta, mean, invstd, y);
}

void ref_batchnorm_forward_infer(ref_shape s, const double *x, const double *gamma,
                                 const double *beta, const double *mean, const double *var,
                                 double eps, double *y)
{
    double *invstd = malloc((size_t)s.c * sizeof *invstd);
    for (int c = 0; invstd && c < s.c; c++)
        invstd[c] = 1.0 / sqrt(var[c] + eps);
    if (invstd)
        normalize(s, x, gamma, beta, mean, invstd, y);
    free(invstd);
}

void ref_batchnorm_backward(ref_shape s, const double *x, const double *dy, const double *gamma,
                            const double *mean, const double *invstd, double *dx,
                            double *dgamma, double *dbeta)
{
    size_t plane = (size_t)s.h * (size_t)s.w;
    double count = (double)s.n * (double)plane;
    for (int c = 0; c < s.c; c++) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < s.n; n++)
            for (size_t p = 0; p < plane; p++) {
                size_t i = at(s, n, c, p);
                sum_dy += dy[i];
                sum_dy_xhat += dy[i] * (x[i] - mean[c]) * invstd[c];
            }
        dgamma[c] = sum_dy_xhat;
        dbeta[c] = sum_dy;
        for (int n = 0; n < s.n; n++)
            for (size_t p = 0; p < plane; p++) {
                size_t i = at(s, n, c, p);
                double xhat = (x[i] - mean[c]) * invstd[c];
                dx[i] = gamma[c] * invstd[c] / count *
                        (count * dy[i] - sum_dy - xhat * sum_dy_xhat);
            }
    }
}

void ref_batchnorm_fold(ref_shape w_shape, const double *w, const double *bias,
                        const double *gamma, const double *beta, const double *mean,
                        const double *var, double eps, double *w_out, double *bias_out)
{
    size_t per_output = (size_t)w_shape.c * (size_t)w_shape.h * (size_t)w_shape.w;
    for (int o = 0; o < w_shape.n; o++) {
        double scale = gamma[o] / sqrt(var[o] + eps);
        for (size_t i = 0; i < per_output; i++)
            w_out[o * per_output + i] = w[o * per_output + i] * scale;
        bias_out[o] = beta[o] + ((bias ? bias[o] : 0.0) - mean[o]) * scale;
    }
}
