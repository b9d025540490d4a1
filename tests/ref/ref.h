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

/* ---- batch normalisation (ref_batchnorm.c); per-channel arrays hold s.c values ---- */

/* Training mode: y, and per channel the batch mean, 1/sqrt(biased var + eps) and the unbiased
 * variance the running statistics take. */
void ref_batchnorm_forward_train(ref_shape s, const double *x, const double *gamma,
                                 const double *beta, double eps, double *y, double *mean,
                                 double *invstd, double *var_unbiased);
void ref_batchnorm_forward_infer(ref_shape s, const double *x, const double *gamma,
                                 const double *beta, const double *mean, const double *var,
                                 double eps, double *y);
/* The training-mode gradients, given the forward's mean and invstd. */
void ref_batchnorm_backward(ref_shape s, const double *x, const double *dy, const double *gamma,
                            const double *mean, const double *invstd, double *dx,
                            double *dgamma, double *dbeta);
/* w [Cout, Cin, K, K] (w_shape), bias NULL or Cout values; per-channel arrays Cout values. */
void ref_batchnorm_fold(ref_shape w_shape, const double *w, const double *bias,
                        const double *gamma, const double *beta, const double *mean,
                        const double *var, double eps, double *w_out, double *bias_out);

/* ---- max pooling (ref_pool.c): square windows, -infinity padding; the backward routes dy to
 * each window's first maximum ---- */
int ref_pool_out(int in, int kernel, int stride, int padding);
void ref_maxpool_forward(ref_shape x_shape, const double *x, int kernel, int stride,
                         int padding, double *y);
void ref_maxpool_backward(ref_shape x_shape, const double *x, const double *dy, int kernel,
                          int stride, int padding, double *dx);

/* ---- nearest upsampling by 2 (ref_resize.c): y [N, C, 2H, 2W] for x_shape [N, C, H, W] ---- */
void ref_upsample2x_forward(ref_shape x_shape, const double *x, double *y);
void ref_upsample2x_backward(ref_shape x_shape, const double *dy, double *dx);

/* ---- concatenation along channels (ref_concat.c): count parts of channels[k] channels,
 * n images of planes of `plane` floats ---- */
void ref_concat(int n, size_t plane, int count, const int *channels,
                const double *const *parts, double *whole);
void ref_split(int n, size_t plane, int count, const int *channels, const double *whole,
               double *const *parts);

/* ---- reductions and softmax along one axis (ref_reduce.c); y of ref_reduce holds the
 * reduced tensor (that axis of size 1) ---- */
enum { REF_REDUCE_SUM = 0, REF_REDUCE_MEAN = 1, REF_REDUCE_MAX = 2 };
void ref_reduce(ref_shape s, const double *x, int axis, int op, double *y);
void ref_softmax_forward(ref_shape s, const double *x, int axis, double *y);
void ref_softmax_backward(ref_shape s, const double *y, const double *dy, int axis,
                          double *dx);

/* ---- optimizer steps (ref_optim.c), updating param and state in place ---- */

/* PyTorch SGD (no dampening) with decoupled decay: buf may be NULL (momentum 0). */
void ref_sgd_step(size_t n, double lr, double momentum, bool nesterov, double weight_decay,
                  double *param, const double *grad, double *buf);
/* PyTorch AdamW: bias-corrected moments, decay of the parameter before the step. */
void ref_adamw_step(size_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int step, double *param, const double *grad, double *m,
                    double *v);

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
