/* Plain-C float64 references of the ops, used by the tests only. */
#ifndef YKD_TEST_REF_H
#define YKD_TEST_REF_H

#include <stddef.h>

/* out[i] = alpha * x[i] + y[i], in double. */
void ref_axpy(size_t n, double alpha, const float *x, const float *y, double *out);

#endif

/* ---- GEMM and convolution (float64; arrays packed, row-major / NCHW) ------------------- */

/* c[m x n] = alpha * op(a) * b + beta * c + bias[row], act 1 = SiLU; op(a) = a (m x k) or
 * the transpose of a stored k x m. */
void ref_gemm(int m, int n, int k, int trans_a, double alpha, const double *a, const double *b,
              double beta, const double *bias, int act, double *c);

/* The geometry of a test convolution. */
typedef struct ref_conv {
    int n, cin, h, w, cout, k, stride, pad;
} ref_conv;

int ref_conv_out(int in, int k, int stride, int pad);

/* y = act(conv(x, w) + bias); bias may be NULL; act 1 = SiLU. */
void ref_conv2d_forward(const ref_conv *c, const double *x, const double *w, const double *bias,
                        int act, double *y);

/* dx = the gradient of sum(dy * conv(x, w)) with respect to x. */
void ref_conv2d_backward_input(const ref_conv *c, const double *dy, const double *w,
                               double *dx);

/* dw, dbias = the gradients with respect to w and the bias (dbias may be NULL). */
void ref_conv2d_backward_weights(const ref_conv *c, const double *x, const double *dy,
                                 double *dw, double *dbias);
