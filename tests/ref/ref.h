/* Plain-C float64 references of the ops, used by the tests only. */
#ifndef YKD_TEST_REF_H
#define YKD_TEST_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* out[i] = alpha * x[i] + y[i], in double. */
void ref_axpy(size_t n, double alpha, const float *x, const float *y, double *out);
/* out = alpha * x + beta * y */
void ref_axpby(size_t n, double alpha, const float *x, double beta, const float *y,
               double *out);

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
/* The sum of the squares of n values (the squared L2 norm). */
double ref_sum_squares(size_t n, const double *x);
void ref_softmax_forward(ref_shape s, const double *x, int axis, double *y);
void ref_softmax_backward(ref_shape s, const double *y, const double *dy, int axis,
                          double *dx);

/* ---- optimizer steps (ref_optim.c), updating param and state in place ---- */

/* PyTorch SGD (no dampening) on grad_scale * grad (a clip coefficient) with its coupled decay
 * (d = grad_scale * grad + coupled_decay * param) and a decoupled decay: buf may be NULL
 * (momentum 0). */
void ref_sgd_step(size_t n, double lr, double momentum, bool nesterov, double weight_decay,
                  double coupled_decay, double grad_scale, double *param, const double *grad,
                  double *buf);
/* PyTorch AdamW on grad_scale * grad: bias-corrected moments, decay of the parameter before
 * the step. */
void ref_adamw_step(size_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int step, double grad_scale, double *param,
                    const double *grad, double *m, double *v);


/* ---- GEMM and convolution (float64; arrays packed, row-major / NCHW) ------------------- */

/* c[m x n] = alpha * op(a) * b + beta * c + bias[row], act 1 = SiLU; op(a) = a (m x k) or
 * the transpose of a stored k x m. */
void ref_gemm(int m, int n, int k, int trans_a, double alpha, const double *a, const double *b,
              double beta, const double *bias, int act, double *c);

/* The geometry of a test convolution; groups 0 or 1 is an ordinary one, g > 1 splits the
 * channels into g groups (weights [cout, cin / g, k, k]). */
typedef struct ref_conv {
    int n, cin, h, w, cout, k, stride, pad, groups;
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

/* ---- matrix products and attention (ref_attention.c) ----------------------------------- */

/* Per image b < n: c = alpha * op(a) op(b) + beta * c with op(a) m x k, op(b) k x cols, each
 * stored row-major (a transposed one as its k x m or cols x k original), images packed. */
void ref_matmul(int n, int m, int cols, int k, bool trans_a, bool trans_b, double alpha,
                const double *a, const double *b, double beta, double *c);

/* YOLO11's multi-head attention over the p positions of qkv [n, heads * (2 kd + hd), p]:
 * per head, q, k, v are its first kd, next kd and last hd channels; y [n, heads * hd, p] with
 * y_h = v softmax_j(scale * q_i . k_j)^T. */
void ref_attention_forward(int n, int p, int heads, int kd, int hd, double scale,
                           const double *qkv, double *y);

/* ---- YOLOv8 detection loss (float64; the definitions of src/train/loss_yolo*.c) ---------- */

enum { REF_YOLO_BINS = 16, REF_YOLO_MAX_LEVELS = 4 };

/* CIoU of boxes p and t (x1, y1, x2, y2), Ultralytics' bbox_iou(CIoU=True) with eps 1e-7: the
 * heights carry +eps, the union and the enclosing diagonal too. *alpha_out (may be NULL)
 * receives the aspect term's weight alpha = v / (v - iou + 1 + eps). */
double ref_ciou(const double p[4], const double t[4], double *alpha_out);

/* CIoU with alpha given instead of computed: the function whose gradient the loss uses
 * (Ultralytics computes alpha under no_grad). */
double ref_ciou_fixed_alpha(const double p[4], const double t[4], double alpha);

/* The gradient of ref_ciou_fixed_alpha(p, t, alpha(p, t)) with respect to p. At a tie of a
 * min or max the derivative goes to p when p's coordinate is the one kept with >=/<=. */
void ref_ciou_grad(const double p[4], const double t[4], double grad[4]);

/* DFL of one side: cross-entropy of 16 logits against the two bins around target (clamped to
 * [0, 14.99]) with linear weights. grad (may be NULL) receives d/dlogits. */
double ref_dfl(const double logits[REF_YOLO_BINS], double target, double *grad);

/* One level of head outputs, packed: box [n, 64, h, w] (side-major: l, t, r, b, 16 bins
 * each) and cls [n, nc, h, w]. */
typedef struct ref_yolo_level {
    int h, w, stride;
    const double *box;
    const double *cls;
} ref_yolo_level;

typedef struct ref_yolo_problem {
    int n, nc, levels;
    ref_yolo_level level[REF_YOLO_MAX_LEVELS];
    const float *labels; /* n x max_boxes x 5 (class, cx, cy, w, h), normalised */
    const int *counts;
    int max_boxes;
    int topk;
    double alpha, beta;
    /* NULL, or per image and anchor CIoU's alpha to use instead of computing it: the loss
     * then is the function whose gradient ref_yolo_loss_eval returns (for differences) */
    const double *frozen_alpha;
} ref_yolo_problem;

/* Anchors over every level (level 0 first, row-major within a level). */
int ref_yolo_anchor_count(const ref_yolo_problem *p);

/* The predicted box of anchor a of image b in grid units of its level (x1, y1, x2, y2). */
void ref_yolo_pred_box(const ref_yolo_problem *p, int b, int a, double box[4]);

/* The task-aligned assignment: per image and anchor the gt it is assigned to (-1 for
 * background) and its target score; arrays of n * anchors, malloc'd. */
typedef struct ref_yolo_assignment {
    int anchors;
    int *gt;
    double *score;
    double score_sum;
    int positives;
} ref_yolo_assignment;

void ref_yolo_assign(const ref_yolo_problem *p, ref_yolo_assignment *out);
void ref_yolo_assignment_free(ref_yolo_assignment *a);

/* The loss for a fixed assignment: components divided by max(score sum, 1) without gains,
 * total = n * (7.5 box + 0.5 cls + 1.5 dfl). dbox/dcls (arrays per level shaped like the
 * inputs, or NULL) receive the gradient of total. */
typedef struct ref_yolo_loss {
    double box, cls, dfl, total;
} ref_yolo_loss;

void ref_yolo_loss_eval(const ref_yolo_problem *p, const ref_yolo_assignment *a,
                        double *const *dbox, double *const *dcls, ref_yolo_loss *out);

/* CIoU's alpha at every assigned anchor (n * anchors, 0 elsewhere), for frozen_alpha. */
void ref_yolo_alphas(const ref_yolo_problem *p, const ref_yolo_assignment *a, double *alpha);

/* ---- distillation losses (ref_kd.c; the definitions of include/yolokd/kd_loss.h) --------- */

/* Each returns the loss of student s against teacher t (packed, shape sh) and, when ds is not
 * NULL, writes dL/ds there. */
double ref_kd_logit(ref_shape sh, const double *s, const double *t, double temperature,
                    double norm, double *ds);
/* s, t [n, 4 * bins, h, w]; w [n, 1, h, w] per-anchor weights. */
double ref_kd_ld(ref_shape sh, const double *s, const double *t, const double *w,
                 double temperature, double norm, double *ds);
double ref_kd_cwd(ref_shape sh, const double *s, const double *t, double temperature,
                  double *ds);
double ref_kd_pkd(ref_shape sh, const double *s, const double *t, double eps, double *ds);
/* mask [n, 1, h, w] or NULL. */
double ref_kd_mse(ref_shape sh, const double *p, const double *t, const double *mask,
                  double norm, double *dp);
/* s [n, cs, h, w] (sh), t [n, ct, h, w]; adapter w [ct, cs], b [ct] (or NULL: none, ct = cs);
 * dw, db (may be NULL) receive the adapter's gradients. */
double ref_kd_imitation(ref_shape sh, int ct, const double *s, const double *t,
                        const double *mask, const double *w, const double *b, double norm,
                        double *ds, double *dw, double *db);

/* ---- image resizes (ref_image_resize.c); 8-bit RGB in, float64 RGB out (dw x dh) ---- */
/* OpenCV's INTER_AREA when shrinking: each output pixel the mean of the source area it
 * covers. */
void ref_resize_area_u8(const uint8_t *src, int sw, int sh, int dw, int dh, double *out);
/* OpenCV's INTER_LINEAR: half-pixel centres, positions clamped to the edge pixels. */
void ref_resize_bilinear_u8(const uint8_t *src, int sw, int sh, int dw, int dh, double *out);

#endif
