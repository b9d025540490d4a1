/* Area averaging for shrinking (OpenCV's INTER_AREA with both scales >= 1): destination pixel
 * d of an axis covers source interval [d * s, (d + 1) * s), s = src / dst, and takes the mean
 * of the source pixels weighted by how much of each the interval covers. Separable: each
 * destination row sums the horizontally averaged source rows under it. */
#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "data/transform.h"

/* One axis: destination d reads source pixels first[d] .. first[d] + count[d] - 1 with the
 * weights at weights + offset[d] (they sum to 1). */
typedef struct area_axis {
    int *first, *count, *offset;
    double *weights;
} area_axis;

static void area_axis_free(area_axis *a)
{
    free(a->first);
    free(a->count);
    free(a->offset);
    free(a->weights);
}

static bool area_axis_init(area_axis *a, int src, int dst)
{
    double s = (double)src / dst;
    size_t taps = (size_t)dst * ((size_t)ceil(s) + 2);
    a->first = malloc((size_t)dst * sizeof *a->first);
    a->count = malloc((size_t)dst * sizeof *a->count);
    a->offset = malloc((size_t)dst * sizeof *a->offset);
    a->weights = malloc(taps * sizeof *a->weights);
    if (!a->first || !a->count || !a->offset || !a->weights)
        return false;
    int at = 0;
    for (int d = 0; d < dst; d++) {
        double lo = d * s, hi = d + 1 == dst ? src : (d + 1) * s;
        int i0 = (int)floor(lo), i1 = (int)ceil(hi);
        if (i1 > src)
            i1 = src;
        a->first[d] = i0;
        a->offset[d] = at;
        a->count[d] = 0;
        for (int i = i0; i < i1; i++) {
            double cover = fmin(hi, i + 1.0) - fmax(lo, (double)i);
            if (cover <= 1e-12)
                continue;
            if (a->count[d] == 0)
                a->first[d] = i;
            a->weights[at++] = cover / (hi - lo);
            a->count[d]++;
        }
    }
    return true;
}

/* The source row averaged along x into row (dst_w * 3 values). */
static void average_row(const uint8_t *src_row, const area_axis *x, int dst_w, double *row)
{
    for (int d = 0; d < dst_w; d++) {
        double sum[3] = {0, 0, 0};
        const uint8_t *p = src_row + (size_t)x->first[d] * 3;
        const double *w = x->weights + x->offset[d];
        for (int k = 0; k < x->count[d]; k++, p += 3)
            for (int c = 0; c < 3; c++)
                sum[c] += w[k] * p[c];
        for (int c = 0; c < 3; c++)
            row[(size_t)d * 3 + c] = sum[c];
    }
}

ykd_status ykd_image_resize_area(const ykd_image *src, ykd_image *dst, ykd_error *err)
{
    area_axis x = {0}, y = {0};
    size_t row_values = (size_t)dst->width * 3;
    double *row = malloc(row_values * sizeof *row);
    double *acc = malloc(row_values * sizeof *acc);
    ykd_status st = YKD_OK;
    if (!row || !acc || !area_axis_init(&x, src->width, dst->width) ||
        !area_axis_init(&y, src->height, dst->height))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for a %dx%d resize",
                      dst->width, dst->height);
    size_t stride = (size_t)src->width * 3;
    for (int d = 0; d < dst->height && st == YKD_OK; d++) {
        for (size_t i = 0; i < row_values; i++)
            acc[i] = 0;
        const double *w = y.weights + y.offset[d];
        for (int k = 0; k < y.count[d]; k++) {
            average_row(src->pixels + (size_t)(y.first[d] + k) * stride, &x, dst->width, row);
            for (size_t i = 0; i < row_values; i++)
                acc[i] += w[k] * row[i];
        }
        uint8_t *out = dst->pixels + (size_t)d * row_values;
        for (size_t i = 0; i < row_values; i++) {
            double v = floor(acc[i] + 0.5);
            out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    area_axis_free(&x);
    area_axis_free(&y);
    free(row);
    free(acc);
    return st;
}
