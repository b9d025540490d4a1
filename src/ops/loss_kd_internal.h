/* Shared by the distillation losses' launchers (loss_kd.c, loss_kd_feature.c). */
#ifndef YKD_LOSS_KD_INTERNAL_H
#define YKD_LOSS_KD_INTERNAL_H

#include "ops/ops_internal.h"
#include "yolokd/kd_loss.h"

/* Checks student and teacher (and grad->dx, when there is one): valid, one device, one shape;
 * a finite gradient scale. */
ykd_status ykd_kd_check_pair(const char *op, const ykd_tensor *student, const ykd_tensor *teacher,
                             const ykd_kd_grad *grad, ykd_error *err);

/* Fails unless value is a finite number > 0; what names it. */
ykd_status ykd_kd_check_positive(const char *op, const char *what, double value, ykd_error *err);

/* *loss = value; fails when it is not finite. */
ykd_status ykd_kd_finish(const char *op, double value, double *loss, ykd_error *err);

#endif
