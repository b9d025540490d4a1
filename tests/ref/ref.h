/* Plain-C float64 references of the ops, used by the tests only. */
#ifndef YKD_TEST_REF_H
#define YKD_TEST_REF_H

#include <stdbool.h>
#include <stddef.h>

/* out[i] = alpha * x[i] + y[i], in double. */
void ref_axpy(size_t n, double alpha, const float *x, const float *y, double *out);

/* The references below compute in float64 from float64 inputs, so gradient tests can
 * differentiate them numerically. Tensors are packed NCHW arrays of a ref_shape. */
typedef struct ref_shape {
    int n, c, h, w;
} ref_shape;

size_t ref_numel(ref_shape s);

/* ---- element-wise (ref_elementwise.c) ---- */
void ref_add(size_t n, const double *a, const double *b, double *y);
void ref_scale(size_t n, double scale, const double *x, double *y);

/* ---- activations (ref_activation.c); backward: dx = dy * f'(x) ---- */
void ref_silu_forward(size_t n, const double *x, double *y);
void ref_silu_backward(size_t n, const double *x, const double *dy, double *dx);
void ref_sigmoid_forward(size_t n, const double *x, double *y);
void ref_sigmoid_backward(size_t n, const double *y, const double *dy, double *dx);
void ref_leaky_relu_forward(size_t n, double slope, const double *x, double *y);
void ref_leaky_relu_backward(size_t n, double slope, const double *x, const double *dy,
                             double *dx);

#endif
