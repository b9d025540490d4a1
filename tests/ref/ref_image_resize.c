/* float64 references of the image resizes Ultralytics uses (OpenCV's INTER_AREA for shrinking,
 * INTER_LINEAR for growing), straight from their definitions. */
#include <math.h>
#include <stdint.h>

#include "ref.h"

/* Output pixel (x, y) covers [x*sx, (x+1)*sx) x [y*sy, (y+1)*sy) of the source; its value is
 * the integral of the source (constant on each unit pixel) over that rectangle / its area. */
void ref_resize_area_u8(const uint8_t *src, int sw, int sh, int dw, int dh, double *out)
{
    double sx = (double)sw / dw, sy = (double)sh / dh;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            double x0 = x * sx, x1 = (x + 1) * sx, y0 = y * sy, y1 = (y + 1) * sy;
            double sum[3] = {0, 0, 0};
            for (int j = (int)floor(y0); j < sh && j < y1; j++)
                for (int i = (int)floor(x0); i < sw && i < x1; i++) {
                    double a = (fmin(x1, i + 1.0) - fmax(x0, (double)i)) *
                               (fmin(y1, j + 1.0) - fmax(y0, (double)j));
                    for (int c = 0; c < 3; c++)
                        sum[c] += a * src[((size_t)j * sw + i) * 3 + c];
                }
            for (int c = 0; c < 3; c++)
                out[((size_t)y * dw + x) * 3 + c] = sum[c] / (sx * sy);
        }
}

/* The source position of output index d along an axis: u = (d + 0.5) * s - 0.5, clamped to
 * [0, n - 1]; its two neighbours and the weight of the second. */
static void bilinear_tap(int d, double s, int n, int *i0, int *i1, double *w1)
{
    double u = (d + 0.5) * s - 0.5;
    u = u < 0 ? 0 : u > n - 1 ? n - 1 : u;
    *i0 = (int)floor(u);
    *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
    *w1 = u - *i0;
}

void ref_resize_bilinear_u8(const uint8_t *src, int sw, int sh, int dw, int dh, double *out)
{
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int x0, x1, y0, y1;
            double wx, wy;
            bilinear_tap(x, (double)sw / dw, sw, &x0, &x1, &wx);
            bilinear_tap(y, (double)sh / dh, sh, &y0, &y1, &wy);
            for (int c = 0; c < 3; c++) {
                double p00 = src[((size_t)y0 * sw + x0) * 3 + c];
                double p01 = src[((size_t)y0 * sw + x1) * 3 + c];
                double p10 = src[((size_t)y1 * sw + x0) * 3 + c];
                double p11 = src[((size_t)y1 * sw + x1) * 3 + c];
                out[((size_t)y * dw + x) * 3 + c] = (1 - wy) * ((1 - wx) * p00 + wx * p01) +
                                                    wy * ((1 - wx) * p10 + wx * p11);
            }
        }
}
