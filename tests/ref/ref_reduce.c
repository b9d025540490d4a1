#include <math.h>

#include "ref.h"

/* Walks the rows along an axis: for each, its first element's index and the distance
 * between its elements; rows are numbered like the elements of the reduced tensor. */
typedef struct rows {
    size_t count, length, step;
    size_t dims[4], strides[4];
    int axis;
} rows;

static rows rows_along(ref_shape s, int axis)
{
    rows r = {.dims = {(size_t)s.n, (size_t)s.c, (size_t)s.h, (size_t)s.w}, .axis = axis};
    r.strides[3] = 1;
    for (int d = 2; d >= 0; d--)
        r.strides[d] = r.strides[d + 1] * r.dims[d + 1];
    r.length = r.dims[axis];
    r.step = r.strides[axis];
    r.count = ref_numel(s) / r.length;
    return r;
}

/* The first element of row j. */
static size_t row_start(const rows *r, size_t j)
{
    size_t start = 0;
    for (int d = 3; d >= 0; d--) {
        size_t extent = d == r->axis ? 1 : r->dims[d];
        start += j % extent * r->strides[d];
        j /= extent;
    }
    return start;
}

void ref_reduce(ref_shape s, const double *x, int axis, int op, double *y)
{
    rows r = rows_along(s, axis);
    for (size_t j = 0; j < r.count; j++) {
        const double *row = x + row_start(&r, j);
        double acc = op == REF_REDUCE_MAX ? -INFINITY : 0.0;
        for (size_t k = 0; k < r.length; k++)
            acc = op == REF_REDUCE_MAX ? fmax(acc, row[k * r.step]) : acc + row[k * r.step];
        y[j] = op == REF_REDUCE_MEAN ? acc / (double)r.length : acc;
    }
}

void ref_softmax_forward(ref_shape s, const double *x, int axis, double *y)
{
    rows r = rows_along(s, axis);
    for (size_t j = 0; j < r.count; j++) {
        size_t start = row_start(&r, j);
        double max = -INFINITY, sum = 0.0;
        for (size_t k = 0; k < r.length; k++)
            max = fmax(max, x[start + k * r.step]);
        for (size_t k = 0; k < r.length; k++)
            sum += exp(x[start + k * r.step] - max);
        for (size_t k = 0; k < r.length; k++)
            y[start + k * r.step] = exp(x[start + k * r.step] - max) / sum;
    }
}

void ref_softmax_backward(ref_shape s, const double *y, const double *dy, int axis, double *dx)
{
    rows r = rows_along(s, axis);
    for (size_t j = 0; j < r.count; j++) {
        size_t start = row_start(&r, j);
        double dot = 0.0;
        for (size_t k = 0; k < r.length; k++)
            dot += y[start + k * r.step] * dy[start + k * r.step];
        for (size_t k = 0; k < r.length; k++) {
            size_t i = start + k * r.step;
            dx[i] = y[i] * (dy[i] - dot);
        }
    }
}

double ref_sum_squares(size_t n, const double *x)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += x[i] * x[i];
    return sum;
}
