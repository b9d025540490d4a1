#include "ref.h"

void ref_upsample2x_forward(ref_shape s, const double *x, double *y)
{
    for (size_t plane = 0; plane < (size_t)s.n * s.c; plane++)
        for (int oy = 0; oy < 2 * s.h; oy++)
            for (int ox = 0; ox < 2 * s.w; ox++)
                y[(plane * 2 * s.h + oy) * 2 * s.w + ox] =
                    x[(plane * s.h + oy / 2) * s.w + ox / 2];
}

void ref_upsample2x_backward(ref_shape s, const double *dy, double *dx)
{
    for (size_t i = 0; i < ref_numel(s); i++)
        dx[i] = 0.0;
    for (size_t plane = 0; plane < (size_t)s.n * s.c; plane++)
        for (int oy = 0; oy < 2 * s.h; oy++)
            for (int ox = 0; ox < 2 * s.w; ox++)
                dx[(plane * s.h + oy / 2) * s.w + ox / 2] +=
                    dy[(plane * 2 * s.h + oy) * 2 * s.w + ox];
}
