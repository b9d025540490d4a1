/* Float64 references of GEMM and convolution, written as the plain loops of the definitions. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ref.h"

static double silu(double x)
{
    return x / (1.0 + exp(-x));
}

void ref_gemm(int m, int n, int k, int trans_a, double alpha, const double *a, const double *b,
              double beta, const double *bias, int act, double *c)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0.0;
            for (int q = 0; q < k; q++)
                sum += (trans_a ? a[(size_t)q * m + i] : a[(size_t)i * k + q]) *
                       b[(size_t)q * n + j];
            double v = alpha * sum + (beta != 0.0 ? beta * c[(size_t)i * n + j] : 0.0) +
                       (bias ? bias[i] : 0.0);
            c[(size_t)i * n + j] = act == 1 ? silu(v) : v;
        }
}

int ref_conv_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* Calls visit(xi, wi, yi) for every (input, weight, output) index triple of the convolution:
 * the one loop nest all three references share. */
typedef void (*conv_visit)(void *ctx, size_t xi, size_t wi, size_t yi);

static int groups_of(const ref_conv *c)
{
    return c->groups > 1 ? c->groups : 1;
}

static void for_each_tap(const ref_conv *c, conv_visit visit, void *ctx)
{
    int ho = ref_conv_out(c->h, c->k, c->stride, c->pad);
    int wo = ref_conv_out(c->w, c->k, c->stride, c->pad);
    int cin_g = c->cin / groups_of(c), cout_g = c->cout / groups_of(c);
    for (int b = 0; b < c->n; b++)
        for (int co = 0; co < c->cout; co++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                    for (int cl = 0; cl < cin_g; cl++)
                        for (int ky = 0; ky < c->k; ky++)
                            for (int kx = 0; kx < c->k; kx++) {
                                int iy = oy * c->stride - c->pad + ky;
                                int ix = ox * c->stride - c->pad + kx;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                int ci = co / cout_g * cin_g + cl;
                                size_t xi = (((size_t)b * c->cin + ci) * c->h + iy) * c->w + ix;
                                size_t wi = (((size_t)co * cin_g + cl) * c->k + ky) * c->k + kx;
                                size_t yi = (((size_t)b * c->cout + co) * ho + oy) * wo + ox;
                                visit(ctx, xi, wi, yi);
                            }
}

typedef struct conv_arrays {
    const double *x, *w, *dy;
    double *y, *dx, *dw;
} conv_arrays;

static void forward_tap(void *ctx, size_t xi, size_t wi, size_t yi)
{
    conv_arrays *a = ctx;
    a->y[yi] += a->x[xi] * a->w[wi];
}

static void input_tap(void *ctx, size_t xi, size_t wi, size_t yi)
{
    conv_arrays *a = ctx;
    a->dx[xi] += a->dy[yi] * a->w[wi];
}

static void weight_tap(void *ctx, size_t xi, size_t wi, size_t yi)
{
    conv_arrays *a = ctx;
    a->dw[wi] += a->dy[yi] * a->x[xi];
}

void ref_conv2d_forward(const ref_conv *c, const double *x, const double *w, const double *bias,
                        int act, double *y)
{
    int ho = ref_conv_out(c->h, c->k, c->stride, c->pad);
    int wo = ref_conv_out(c->w, c->k, c->stride, c->pad);
    size_t plane = (size_t)ho * wo, count = (size_t)c->n * c->cout * plane;
    memset(y, 0, count * sizeof *y);
    conv_arrays a = {.x = x, .w = w, .y = y};
    for_each_tap(c, forward_tap, &a);
    for (size_t i = 0; i < count; i++) {
        double v = y[i] + (bias ? bias[(i / plane) % (size_t)c->cout] : 0.0);
        y[i] = act == 1 ? silu(v) : v;
    }
}

void ref_conv2d_backward_input(const ref_conv *c, const double *dy, const double *w,
                               double *dx)
{
    memset(dx, 0, (size_t)c->n * c->cin * c->h * c->w * sizeof *dx);
    conv_arrays a = {.w = w, .dy = dy, .dx = dx};
    for_each_tap(c, input_tap, &a);
}

void ref_conv2d_backward_weights(const ref_conv *c, const double *x, const double *dy,
                                 double *dw, double *dbias)
{
    memset(dw, 0, (size_t)c->cout * (c->cin / groups_of(c)) * c->k * c->k * sizeof *dw);
    conv_arrays a = {.x = x, .dy = dy, .dw = dw};
    for_each_tap(c, weight_tap, &a);
    if (!dbias)
        return;
    int ho = ref_conv_out(c->h, c->k, c->stride, c->pad);
    int wo = ref_conv_out(c->w, c->k, c->stride, c->pad);
    size_t plane = (size_t)ho * wo;
    for (int co = 0; co < c->cout; co++) {
        dbias[co] = 0.0;
        for (int b = 0; b < c->n; b++)
            for (size_t p = 0; p < plane; p++)
                dbias[co] += dy[((size_t)b * c->cout + co) * plane + p];
    }
}
