#include <math.h>
#include <stdlib.h>

#include "ref.h"

int ref_pool_out(int in, int kernel, int stride, int padding)
{
    /* 0 when the window does not fit (C's division would round -1/2 up to 0) */
    return in + 2 * padding < kernel ? 0 : (in + 2 * padding - kernel) / stride + 1;
}

/* The index in its plane of the maximum of window (oy, ox): the first in row-major order on
 * ties, the first element inside the plane when all are -infinity (NaNs never win). */
static size_t window_argmax(const double *plane, int h, int w, int oy, int ox, int k, int s,
                            int p)
{
    int y0 = oy * s - p, x0 = ox * s - p;
    size_t best = (size_t)(y0 > 0 ? y0 : 0) * (size_t)w + (size_t)(x0 > 0 ? x0 : 0);
    double best_value = -INFINITY;
    for (int iy = y0; iy < y0 + k; iy++)
        for (int ix = x0; ix < x0 + k; ix++) {
            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                continue;
            double v = plane[(size_t)iy * w + ix];
            if (v > best_value) {
                best_value = v;
                best = (size_t)iy * w + ix;
            }
        }
    return best;
}

void ref_maxpool_forward(ref_shape s, const double *x, int kernel, int stride, int padding,
                         double *y)
{
    int oh = ref_pool_out(s.h, kernel, stride, padding);
    int ow = ref_pool_out(s.w, kernel, stride, padding);
    for (size_t plane = 0; plane < (size_t)s.n * s.c; plane++) {
        const double *in = x + plane * s.h * s.w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                y[(plane * oh + oy) * ow + ox] =
                    in[window_argmax(in, s.h, s.w, oy, ox, kernel, stride, padding)];
    }
}

void ref_maxpool_backward(ref_shape s, const double *x, const double *dy, int kernel,
                          int stride, int padding, double *dx)
{
    int oh = ref_pool_out(s.h, kernel, stride, padding);
    int ow = ref_pool_out(s.w, kernel, stride, padding);
    size_t hw = (size_t)s.h * s.w;
    for (size_t i = 0; i < ref_numel(s); i++)
        dx[i] = 0.0;
    for (size_t plane = 0; plane < (size_t)s.n * s.c; plane++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                size_t at = window_argmax(x + plane * hw, s.h, s.w, oy, ox, kernel, stride,
                                          padding);
                dx[plane * hw + at] += dy[(plane * oh + oy) * ow + ox];
            }
}
