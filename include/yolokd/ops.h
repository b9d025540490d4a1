/* Operations on device tensors, forward and backward.
 *
 * Every op queues its work on the device of its operands (which must all be on one device) and
 * returns; a read of a result (ykd_tensor_read, ykd_buffer_read) waits for it. Shapes are checked
 * first: a zero-sized, mismatched or out-of-bounds operand fails with YKD_ERR_SHAPE (or
 * YKD_ERR_INVALID_ARGUMENT for a bad parameter) and a message naming the op, the operand and
 * the shapes, and nothing is queued.
 *
 * Operands may be views (ykd_tensor_channels) with a batch stride. Unless an op says otherwise,
 * an output must not overlap its inputs; "in place" means the output may be the very same view
 * as the named input.
 *
 * Backward ops write gradients (dx = ...) unless they take an `accumulate` flag, in which case
 * true adds into the existing gradient (dx += ...), as a tensor read by several layers needs. */
#ifndef YOLOKD_OPS_H
#define YOLOKD_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "yolokd/device.h"
#include "yolokd/status.h"
#include "yolokd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- flat float32 buffers (BLAS level 1) ---------------------------------------------- */

/* x[offset .. offset + n) = value. */
ykd_status ykd_fill_f32(ykd_buffer *x, size_t offset, size_t n, float value, ykd_error *err);

/* y[y_offset + i] += alpha * x[x_offset + i] for i < n. x and y must live on the same device;
 * in one buffer their ranges must be disjoint or the same. */
ykd_status ykd_axpy_f32(size_t n, float alpha, const ykd_buffer *x, size_t x_offset,
                        ykd_buffer *y, size_t y_offset, ykd_error *err);

/* y[y_offset + i] = alpha * x[x_offset + i] + beta * y[y_offset + i] for i < n, in one pass
 * (a moving average: beta = d, alpha = 1 - d). The same rules as ykd_axpy_f32. */
ykd_status ykd_axpby_f32(size_t n, float alpha, const ykd_buffer *x, size_t x_offset,
                         float beta, ykd_buffer *y, size_t y_offset, ykd_error *err);

/* ---- element-wise ---------------------------------------------------------------------- */

/* y = a + b (same shapes; y may be a or b). */
ykd_status ykd_add_forward(const ykd_tensor *a, const ykd_tensor *b, const ykd_tensor *y,
                           ykd_error *err);

/* y = y + alpha * x (same shapes): gradient accumulation, and the backward of add. */
ykd_status ykd_tensor_axpy(float alpha, const ykd_tensor *x, const ykd_tensor *y,
                           ykd_error *err);

/* y = x * scale. In place allowed. */
ykd_status ykd_tensor_scale(const ykd_tensor *x, float scale, const ykd_tensor *y,
                            ykd_error *err);

/* ---- activations (forward in place allowed: y may be x; backward: dx may be dy) ------- */

/* SiLU: y = x * sigmoid(x). Backward needs x. */
ykd_status ykd_silu_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err);
ykd_status ykd_silu_backward(const ykd_tensor *x, const ykd_tensor *dy, const ykd_tensor *dx,
                             ykd_error *err);

/* Sigmoid: y = 1 / (1 + exp(-x)). Backward needs y: dx = dy * y * (1 - y). */
ykd_status ykd_sigmoid_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err);
ykd_status ykd_sigmoid_backward(const ykd_tensor *y, const ykd_tensor *dy, const ykd_tensor *dx,
                                ykd_error *err);

/* LeakyReLU: y = x > 0 ? x : slope * x. Backward needs x. */
ykd_status ykd_leaky_relu_forward(const ykd_tensor *x, float slope, const ykd_tensor *y,
                                  ykd_error *err);
ykd_status ykd_leaky_relu_backward(const ykd_tensor *x, float slope, const ykd_tensor *dy,
                                   const ykd_tensor *dx, ykd_error *err);

/* ---- convolution ------------------------------------------------------------------------ */

typedef enum ykd_activation {
    YKD_ACTIVATION_NONE = 0,
    YKD_ACTIVATION_SILU = 1
} ykd_activation;

/* Weights that stay the same from call to call (an inference model's folded weights) can go
 * to the forward pass with a cache: the path chosen for the shape then rearranges them once
 * into the layout it reads (the pixel-row GEMM's rows of taps, Winograd's transform) and
 * reuses that on later calls with the same weights tensor, instead of on every call. The
 * cache holds device buffers on the weights' device; whoever changes the weights' values
 * empties it first (ykd_conv2d_cache_clear), or the next forward pass reads the old ones. */
typedef struct ykd_conv2d_cache ykd_conv2d_cache;

/* A training forward pass and its weight gradient can share work through a saved object:
 * where both take pixel rows of a padded, channels-last copy of x (the paths chosen for the
 * shape say so), the forward makes the copy once for all images and keeps it, and
 * ykd_conv2d_backward_weights reads it instead of making its own. Give the same object to
 * the forward and the backward of one layer and leave x unchanged between them (as the
 * weight gradient needs anyway); a backward with another x, or a second backward after one
 * forward, makes its copy again. From the first forward that keeps a copy until
 * ykd_conv2d_saved_free, it holds a device buffer the size of x padded. */
typedef struct ykd_conv2d_saved ykd_conv2d_saved;

typedef struct ykd_conv2d_params {
    int stride;  /* >= 1, both axes */
    int padding; /* >= 0, both axes, zeros */
    int groups;  /* 1 (0 means 1 too); g > 1 splits the input and output channels into g
                  * groups, each convolved with its own (a depthwise convolution has one
                  * group per input channel) */
    ykd_conv2d_cache *cache; /* NULL, or the forward pass's cache for these weights */
    ykd_conv2d_saved *saved; /* NULL, or what a training forward keeps for its backward */
} ykd_conv2d_params;

ykd_status ykd_conv2d_saved_new(ykd_conv2d_saved **saved, ykd_error *err);
void ykd_conv2d_saved_free(ykd_conv2d_saved *saved); /* NULL is fine */

ykd_status ykd_conv2d_cache_new(ykd_conv2d_cache **cache, ykd_error *err);
/* Frees what the cache holds; it fills again on the next forward pass. */
void ykd_conv2d_cache_clear(ykd_conv2d_cache *cache);
void ykd_conv2d_cache_free(ykd_conv2d_cache *cache); /* NULL is fine */

/* Output size along one axis: (in + 2 * padding - kernel) / stride + 1. */
int ykd_conv2d_out_size(int in, int kernel, int stride, int padding);

/* y = activation(conv(x, w) + bias). x [N, Cin, H, W], w [Cout, Cin/groups, K, K] (square
 * kernels), bias [1, Cout, 1, 1] or NULL, y [N, Cout, Ho, Wo]. */
ykd_status ykd_conv2d_forward(const ykd_tensor *x, const ykd_tensor *w, const ykd_tensor *bias,
                              const ykd_conv2d_params *params, ykd_activation activation,
                              const ykd_tensor *y, ykd_error *err);

/* dx (+)= the gradient of conv(x, w) with respect to x, given dy. */
ykd_status ykd_conv2d_backward_input(const ykd_tensor *dy, const ykd_tensor *w,
                                     const ykd_conv2d_params *params, bool accumulate,
                                     const ykd_tensor *dx, ykd_error *err);

/* dw (+)= the gradient with respect to w; dbias (+)= the sum of dy over N, H, W (dbias may be
 * NULL). */
ykd_status ykd_conv2d_backward_weights(const ykd_tensor *x, const ykd_tensor *dy,
                                       const ykd_conv2d_params *params, bool accumulate,
                                       const ykd_tensor *dw, const ykd_tensor *dbias,
                                       ykd_error *err);

/* ---- batch normalisation (per channel over N, H, W) ------------------------------------ */

/* The per-channel parameters and statistics, each [1, C, 1, 1]. */
typedef struct ykd_batchnorm {
    const ykd_tensor *gamma;        /* scale */
    const ykd_tensor *beta;         /* shift */
    const ykd_tensor *running_mean; /* updated in training mode */
    const ykd_tensor *running_var;  /* updated in training mode (unbiased variance) */
    float momentum;                 /* running = (1 - momentum) * running + momentum * batch */
    float eps;
} ykd_batchnorm;

/* Training mode: normalise with the batch's statistics (biased variance), update the running
 * statistics, and keep mean and 1/sqrt(var + eps) in save_mean/save_invstd ([1, C, 1, 1]) for
 * the backward. y may be x. N*H*W must be at least 2 (the running variance is unbiased); eps
 * >= 0, momentum in [0, 1]. */
ykd_status ykd_batchnorm_forward_train(const ykd_tensor *x, const ykd_batchnorm *bn,
                                       const ykd_tensor *y, const ykd_tensor *save_mean,
                                       const ykd_tensor *save_invstd, ykd_error *err);

/* Synchronised batch normalisation over data-parallel processes (ranks), each with its part
 * of a global batch: the per-plane partials of a training forward (moments) and backward
 * (gradient sums) go through exchange, which returns every rank's, concatenated in rank order
 * (*all malloc'd, freed by the op; counts[0..ranks) each rank's count), so the statistics and
 * the input gradient's terms are the global batch's, as one process with the whole batch
 * computes them. dgamma and dbeta stay this rank's share (the ranks then sum the gradients). */
typedef struct ykd_bn_sync {
    ykd_status (*exchange)(void *user, const float *mine, size_t count, float **all,
                           size_t *counts, ykd_error *err);
    void *user;
    int ranks;
} ykd_bn_sync;

/* ykd_batchnorm_forward_train and ykd_batchnorm_backward with sync (NULL: this batch alone).
 * Every rank must call them for the same layers in the same order. */
ykd_status ykd_batchnorm_forward_train_sync(const ykd_tensor *x, const ykd_batchnorm *bn,
                                            const ykd_bn_sync *sync, const ykd_tensor *y,
                                            const ykd_tensor *save_mean,
                                            const ykd_tensor *save_invstd, ykd_error *err);
ykd_status ykd_batchnorm_backward_sync(const ykd_tensor *x, const ykd_tensor *dy,
                                       const ykd_batchnorm *bn, const ykd_bn_sync *sync,
                                       const ykd_tensor *save_mean, const ykd_tensor *save_invstd,
                                       bool accumulate_params, const ykd_tensor *dx,
                                       const ykd_tensor *dgamma, const ykd_tensor *dbeta,
                                       ykd_error *err);

/* BN in training mode with SiLU after it, as one op: y = SiLU(BN(x)) in one pass over the
 * planes; the backward takes dy of y (SiLU's output) and recomputes SiLU's input from x and
 * the saved statistics, so that input is never stored (bn->beta is required by both). sync as
 * above. */
ykd_status ykd_batchnorm_silu_forward_train_sync(const ykd_tensor *x, const ykd_batchnorm *bn,
                                                 const ykd_bn_sync *sync, const ykd_tensor *y,
                                                 const ykd_tensor *save_mean,
                                                 const ykd_tensor *save_invstd, ykd_error *err);
ykd_status ykd_batchnorm_silu_backward_sync(const ykd_tensor *x, const ykd_tensor *dy,
                                            const ykd_batchnorm *bn, const ykd_bn_sync *sync,
                                            const ykd_tensor *save_mean,
                                            const ykd_tensor *save_invstd,
                                            bool accumulate_params, const ykd_tensor *dx,
                                            const ykd_tensor *dgamma, const ykd_tensor *dbeta,
                                            ykd_error *err);

/* Inference mode: normalise with the running statistics. y may be x. */
ykd_status ykd_batchnorm_forward_infer(const ykd_tensor *x, const ykd_batchnorm *bn,
                                       const ykd_tensor *y, ykd_error *err);

/* The training-mode backward: dx, and dgamma/dbeta (+)= their gradients. */
ykd_status ykd_batchnorm_backward(const ykd_tensor *x, const ykd_tensor *dy,
                                  const ykd_batchnorm *bn, const ykd_tensor *save_mean,
                                  const ykd_tensor *save_invstd, bool accumulate_params,
                                  const ykd_tensor *dx, const ykd_tensor *dgamma,
                                  const ykd_tensor *dbeta, ykd_error *err);

/* Folds inference-mode BN into the preceding convolution: w_out = w * gamma / sqrt(var + eps)
 * per output channel, bias_out = beta - mean * gamma / sqrt(var + eps) (+ that scale times a
 * conv bias, when bias is not NULL). Then ykd_conv2d_forward(x, w_out, bias_out, ...,
 * YKD_ACTIVATION_SILU) is the fused conv + BN + SiLU inference path. */
ykd_status ykd_batchnorm_fold(const ykd_tensor *w, const ykd_tensor *bias,
                              const ykd_batchnorm *bn, const ykd_tensor *w_out,
                              const ykd_tensor *bias_out, ykd_error *err);

/* ---- pooling and resizing -------------------------------------------------------------- */

/* Max pooling with a square window: y [N, C, Ho, Wo], Ho = (H + 2p - k) / s + 1; padding is
 * -infinity. kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2 (as PyTorch: every window
 * then holds an input element). NaNs do not propagate (a NaN never compares greater). */
ykd_status ykd_maxpool_forward(const ykd_tensor *x, int kernel, int stride, int padding,
                               const ykd_tensor *y, ykd_error *err);

/* dx (+)= dy routed to the maximum of each window (the first maximum on ties). */
ykd_status ykd_maxpool_backward(const ykd_tensor *x, const ykd_tensor *dy, int kernel,
                                int stride, int padding, bool accumulate, const ykd_tensor *dx,
                                ykd_error *err);

/* Nearest-neighbour upsampling by 2: y [N, C, 2H, 2W]. Backward sums each 2x2 block. */
ykd_status ykd_upsample2x_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err);
ykd_status ykd_upsample2x_backward(const ykd_tensor *dy, bool accumulate, const ykd_tensor *dx,
                                   ykd_error *err);

/* ---- channel concat and split ---------------------------------------------------------- */

/* y = the inputs side by side along channels (same N, H, W; y's channels = the sum). */
ykd_status ykd_concat_forward(const ykd_tensor *const *xs, int count, const ykd_tensor *y,
                              ykd_error *err);

/* dxs[i] (+)= the matching channel range of dy. */
ykd_status ykd_concat_backward(const ykd_tensor *dy, bool accumulate,
                               const ykd_tensor *const *dxs, int count, ykd_error *err);

/* ys[i] = consecutive channel ranges of x (a copying split; ykd_tensor_channels gives views).
 * The backward of split is ykd_concat_forward of the gradients (or ykd_tensor_axpy into views). */
ykd_status ykd_split_forward(const ykd_tensor *x, const ykd_tensor *const *ys, int count,
                             ykd_error *err);

/* ---- reductions and softmax over one axis (0 = N, 1 = C, 2 = H, 3 = W) ---------------- */

typedef enum ykd_reduce_op {
    YKD_REDUCE_SUM = 0,
    YKD_REDUCE_MEAN = 1,
    YKD_REDUCE_MAX = 2
} ykd_reduce_op;

/* y = op over axis of x; y has the shape of x with that dimension 1. */
ykd_status ykd_reduce(const ykd_tensor *x, int axis, ykd_reduce_op op, const ykd_tensor *y,
                      ykd_error *err);

/* *sum = the sum of the squares of x's values (the squared L2 norm), reduced on the device in
 * float per work-group, the groups' partials summed in double on the host (a small read that
 * waits for the queue); the same input gives the same sum every run (a group's partial past
 * FLT_MAX is infinite). x: packed unless one image, at most INT_MAX floats. */
ykd_status ykd_sum_squares(const ykd_tensor *x, double *sum, ykd_error *err);

/* y = softmax of x along axis (max-subtracted). Backward: dx = y * (dy - sum(dy * y)). */
ykd_status ykd_softmax_forward(const ykd_tensor *x, int axis, const ykd_tensor *y,
                               ykd_error *err);
ykd_status ykd_softmax_backward(const ykd_tensor *y, const ykd_tensor *dy, int axis,
                                const ykd_tensor *dx, ykd_error *err);

/* ---- matrix products and attention over positions ------------------------------------- */

/* Per image, c = alpha * op(a) op(b) + beta * c, each tensor seen as the matrix [C, H*W] (rows
 * are channels, so a channel view is a range of rows); op(t) is t or, when asked, its
 * transpose (not both). The backward of a product is two such products. */
ykd_status ykd_matmul(const ykd_tensor *a, bool trans_a, const ykd_tensor *b, bool trans_b,
                      float alpha, float beta, const ykd_tensor *c, ykd_error *err);

/* YOLO11's multi-head self-attention over the P = H*W positions. qkv [N, heads * (2 key_dim +
 * head_dim), H, W] holds per head its q (key_dim channels), k (key_dim) and v (head_dim);
 * per head, probs = softmax over j of scale * q_i . k_j, and y_h = v probs^T. */
typedef struct ykd_attention {
    int heads, key_dim, head_dim;
    float scale; /* key_dim^-0.5 in YOLO11 */
} ykd_attention;

/* y [N, heads * head_dim, H, W]; probs [N, heads * P, 1, P] receives each head's P x P
 * probabilities (the backward reads them). */
ykd_status ykd_attention_forward(const ykd_tensor *qkv, const ykd_attention *a,
                                 const ykd_tensor *probs, const ykd_tensor *y, ykd_error *err);

/* dqkv (+)= the gradient with respect to qkv, given dy and the forward's qkv and probs. */
ykd_status ykd_attention_backward(const ykd_tensor *qkv, const ykd_tensor *probs,
                                  const ykd_tensor *dy, const ykd_attention *a, bool accumulate,
                                  const ykd_tensor *dqkv, ykd_error *err);

/* ---- optimizer updates (packed tensors of one shape: param, grad and state) ------------ */

typedef struct ykd_sgd {
    float lr;
    float momentum;     /* 0 for plain SGD */
    bool nesterov;
    float weight_decay; /* decoupled: param -= lr * weight_decay * param */
    /* The two below let a caller skip whole passes over the gradients. Left 0 (as an
     * initializer of the four fields above leaves them) they change nothing. */
    float coupled_decay; /* as torch.optim.SGD's weight_decay: the gradient += it * param */
    float grad_scale;    /* the gradient is multiplied by it first (a clip coefficient); 0
                          * means 1, so a zeroed field changes nothing */
} ykd_sgd;

/* d = grad_scale * grad + coupled_decay * param (param before the step);
 * buf = momentum * buf + d; param -= lr * (nesterov ? d + momentum * buf : buf); and the
 * decoupled decay. buf may be NULL when momentum is 0. The gradient is only read. */
ykd_status ykd_sgd_step(const ykd_tensor *param, const ykd_tensor *grad,
                        const ykd_tensor *momentum_buf, const ykd_sgd *sgd, ykd_error *err);

typedef struct ykd_adamw {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay; /* decoupled: param -= lr * weight_decay * param */
    int step;           /* 1 for the first update: bias correction uses it */
    float grad_scale;   /* the gradient is multiplied by it first (a clip coefficient); 0
                         * means 1, so an initializer of the fields above changes nothing */
} ykd_adamw;

ykd_status ykd_adamw_step(const ykd_tensor *param, const ykd_tensor *grad, const ykd_tensor *m,
                          const ykd_tensor *v, const ykd_adamw *adamw, ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
