/* Knowledge-distillation losses on the device, each forward and backward in one call.
 *
 * Each loss compares a student tensor with a teacher tensor of the same shape on the same
 * device; the teacher is a constant (no gradient flows to it). A call returns the loss value
 * (it waits for the device) and, when grad is not NULL, writes grad->dx = grad->scale * dL/d
 * student (or adds it, with grad->accumulate). Operands may be views with a batch stride.
 * Refused, with nothing queued: tensors of different shapes (the message shows both), on
 * different devices, a temperature or normaliser that is not a finite number > 0. A loss that
 * comes out NaN or infinite (inputs holding NaN or infinity) fails with YKD_ERR_INVALID_ARGUMENT
 * after its gradient was written. Sums are reduced in a fixed order (no float atomics): equal
 * inputs give bit-identical results on one device.
 *
 * Definitions (s student, t teacher, T temperature; sums over every element unless said):
 *
 *   logit KD (class scores: YOLOv8's classes are independent sigmoids, so the KL is per class
 *   between two Bernoulli distributions):
 *     L = T^2 / norm * sum_{n,c,h,w} KL(sigmoid(t/T) || sigmoid(s/T)),
 *     KL(p || q) = p log(p/q) + (1-p) log((1-p)/(1-q));   dL/ds = T (q - p) / norm.
 *
 *   LD (localization distillation, Zheng et al., arXiv 2102.12252) on DFL logits
 *   [N, 4 * bins, H, W] (channel = side * bins + bin, as the YOLOv8 head), with a per-anchor
 *   weight w [N, 1, H, W] (0 where the anchor is not positive):
 *     L = T^2 / norm * sum_{n,h,w} w * 1/4 sum_{side} KL(softmax(t_side/T) || softmax(s_side/T))
 *   (the mean over the four sides, as YOLOv8's DFL takes it); dL/ds = w T (ps - pt) / (4 norm).
 *
 *   CWD (channel-wise distillation, Shu et al., arXiv 2011.13256): per channel of each image a
 *   softmax over the H*W positions,
 *     L = T^2 / (N C) * sum_{n,c} KL(softmax_hw(t/T) || softmax_hw(s/T));
 *     dL/ds = T (ps - pt) / (N C).
 *
 *   PKD (Cao et al., arXiv 2207.02039): each map standardised per channel over the batch and
 *   the positions, x^ = (x - mean_c) / sqrt(var_c + YKD_KD_PKD_EPS) (biased variance), then
 *     L = 1 / (2 N C H W) * sum (s^ - t^)^2,
 *   which is the mean over channels of 1 - (Pearson correlation of s and t) when eps is 0.
 *   The gradient goes through the student's standardisation (mean and variance included).
 *
 *   MSE / feature imitation (FitNets, arXiv 1412.6550; the fine-grained mask of Wang et al.):
 *     L = 1 / norm * sum_{n,c,h,w} m_{n,h,w} (p - t)^2,   m = 1 without a mask;
 *   through a 1x1 adapter (imitation): p = adapter(s) = weight * s + bias, and the adapter's
 *   parameter gradients are added too. */
#ifndef YOLOKD_KD_LOSS_H
#define YOLOKD_KD_LOSS_H

#include <stdbool.h>

#include "yolokd/status.h"
#include "yolokd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define YKD_KD_PKD_EPS 1e-5f

enum { YKD_KD_MAX_BINS = 64 }; /* LD: bins per box side (YOLOv8: 16) */

/* Where the gradient of a loss goes: dx (the student's shape, on its device) receives
 * scale * dL/ds, written or (accumulate) added. */
typedef struct ykd_kd_grad {
    const ykd_tensor *dx;
    float scale;
    bool accumulate;
} ykd_kd_grad;

/* Logit KD on class logits [N, nc, H, W]. norm > 0 (the KD context passes the detection
 * loss's normaliser: the sum of target scores, at least 1). */
ykd_status ykd_kd_logit_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                             float temperature, double norm, const ykd_kd_grad *grad,
                             double *loss, ykd_error *err);

/* LD on DFL logits [N, 4 * bins, H, W] (bins <= YKD_KD_MAX_BINS) with weight [N, 1, H, W]
 * (>= 0). norm > 0 (the KD context: the sum of target scores, at least 1). */
ykd_status ykd_kd_ld_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                          const ykd_tensor *weight, float temperature, double norm,
                          const ykd_kd_grad *grad, double *loss, ykd_error *err);

/* CWD on feature maps [N, C, H, W]. */
ykd_status ykd_kd_cwd_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                           float temperature, const ykd_kd_grad *grad, double *loss,
                           ykd_error *err);

/* PKD on feature maps [N, C, H, W]; N*H*W must be at least 2. */
ykd_status ykd_kd_pkd_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                           const ykd_kd_grad *grad, double *loss, ykd_error *err);

/* Masked MSE of pred against target ([N, C, H, W]); mask [N, 1, H, W] (>= 0) or NULL. */
ykd_status ykd_kd_mse_loss(const ykd_tensor *pred, const ykd_tensor *target,
                           const ykd_tensor *mask, double norm, const ykd_kd_grad *grad,
                           double *loss, ykd_error *err);

/* A 1x1 convolution from the student's channels to the teacher's: weight [Ct, Cs, 1, 1],
 * bias [1, Ct, 1, 1]; weight_grad and bias_grad (their shapes, or NULL for no parameter
 * gradients) always accumulate, as the model's parameter gradients do. */
typedef struct ykd_kd_adapter {
    const ykd_tensor *weight, *bias;
    const ykd_tensor *weight_grad, *bias_grad;
} ykd_kd_adapter;

/* Feature imitation: the masked MSE between adapter(student) [N, Ct, H, W] and the teacher;
 * adapter NULL compares the student itself (same channels). The gradient reaches the student
 * through the adapter. */
ykd_status ykd_kd_imitation_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                                 const ykd_tensor *mask, const ykd_kd_adapter *adapter,
                                 double norm, const ykd_kd_grad *grad, double *loss,
                                 ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
