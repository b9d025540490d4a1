/* Optimizer updates: SGD with momentum / Nesterov and AdamW, with decoupled weight decay,
 * SGD's coupled decay and a gradient scale (a clip coefficient) folded in (cl/optim.cl). */
#include <math.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/optim.cl";

/* A finite value in [lo, hi] (or [lo, hi) when !hi_included). */
static bool in_range(float value, double lo, double hi, bool hi_included)
{
    return isfinite(value) && value >= lo && (hi_included ? value <= hi : value < hi);
}

/* Checks the optimizer's tensors: all of the first's shape, packed, on one device. */
static ykd_status check_state(const char *op, const ykd_tensor *const *tensors,
                              const char *const *names, int count, ykd_error *err)
{
    ykd_status st = ykd_op_check_operands(op, tensors, names, count, err);
    for (int i = 1; i < count && st == YKD_OK; i++)
        st = ykd_op_expect_same_shape(op, names[i], tensors[i], names[0], tensors[0], err);
    for (int i = 0; i < count && st == YKD_OK; i++)
        st = ykd_op_expect_packed(op, names[i], tensors[i], err);
    return st;
}

static ykd_status run(const char *name, const ykd_tensor *param, ykd_op_args *a,
                      ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_device *dev = ykd_tensor_device(param);
    ykd_status st = ykd_op_kernel(dev, source, name, &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args_uint(a, ykd_tensor_numel(param));
    return ykd_op_run_1d_runs(dev, kernel, a, ykd_tensor_numel(param), err);
}

/* A gradient scale: finite and >= 0, where 0 stands for 1. */
static ykd_status check_grad_scale(const char *op, float grad_scale, float *scale,
                                   ykd_error *err)
{
    if (!in_range(grad_scale, 0.0, INFINITY, false))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: grad_scale %g must be finite and >= 0 (0 means 1)", op,
                        (double)grad_scale);
    *scale = grad_scale == 0.0f ? 1.0f : grad_scale;
    return YKD_OK;
}

static ykd_status check_sgd(const char *op, const ykd_sgd *sgd, bool has_buf, ykd_error *err)
{
    if (!sgd)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: sgd is NULL", op);
    if (!in_range(sgd->lr, 0.0, INFINITY, false) ||
        !in_range(sgd->weight_decay, 0.0, INFINITY, false))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: lr %g and weight_decay %g must be finite and >= 0", op,
                        (double)sgd->lr, (double)sgd->weight_decay);
    if (!in_range(sgd->coupled_decay, 0.0, INFINITY, false))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: coupled_decay %g must be finite and >= 0", op,
                        (double)sgd->coupled_decay);
    if (!in_range(sgd->momentum, 0.0, 1.0, false))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: momentum %g is outside [0, 1)", op,
                        (double)sgd->momentum);
    if (sgd->nesterov && sgd->momentum == 0.0f)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: Nesterov needs a momentum above 0",
                        op);
    if (sgd->momentum > 0.0f && !has_buf)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: momentum %g needs a momentum buffer", op, (double)sgd->momentum);
    return YKD_OK;
}

ykd_status ykd_sgd_step(const ykd_tensor *param, const ykd_tensor *grad,
                        const ykd_tensor *momentum_buf, const ykd_sgd *sgd, ykd_error *err)
{
    static const char op[] = "ykd_sgd_step";
    const ykd_tensor *tensors[] = {param, grad, momentum_buf};
    const char *names[] = {"param", "grad", "momentum_buf"};
    float scale = 1.0f;
    ykd_status st = check_sgd(op, sgd, momentum_buf != NULL, err);
    if (st == YKD_OK)
        st = check_grad_scale(op, sgd->grad_scale, &scale, err);
    if (st == YKD_OK)
        st = check_state(op, tensors, names, momentum_buf ? 3 : 2, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, param);
    ykd_op_args_tensor(&a, grad);
    ykd_op_args_tensor(&a, momentum_buf ? momentum_buf : param); /* never read without one */
    ykd_op_args_uint(&a, momentum_buf != NULL);
    ykd_op_args_float(&a, sgd->lr);
    ykd_op_args_float(&a, sgd->momentum);
    ykd_op_args_uint(&a, sgd->nesterov);
    ykd_op_args_float(&a, (float)(1.0 - (double)sgd->lr * sgd->weight_decay));
    ykd_op_args_float(&a, sgd->coupled_decay);
    ykd_op_args_float(&a, scale);
    return run("sgd_step", param, &a, err);
}

static ykd_status check_adamw(const char *op, const ykd_adamw *adamw, ykd_error *err)
{
    if (!adamw)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: adamw is NULL", op);
    if (!in_range(adamw->lr, 0.0, INFINITY, false) ||
        !in_range(adamw->weight_decay, 0.0, INFINITY, false) ||
        !in_range(adamw->eps, 0.0, INFINITY, false))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: lr %g, weight_decay %g and eps %g must be finite and >= 0", op,
                        (double)adamw->lr, (double)adamw->weight_decay, (double)adamw->eps);
    if (!in_range(adamw->beta1, 0.0, 1.0, false) || !in_range(adamw->beta2, 0.0, 1.0, false))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: beta1 %g and beta2 %g must lie in [0, 1)", op,
                        (double)adamw->beta1, (double)adamw->beta2);
    if (adamw->step < 1)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: step %d: the first step is 1", op,
                        adamw->step);
    return YKD_OK;
}

ykd_status ykd_adamw_step(const ykd_tensor *param, const ykd_tensor *grad, const ykd_tensor *m,
                          const ykd_tensor *v, const ykd_adamw *adamw, ykd_error *err)
{
    static const char op[] = "ykd_adamw_step";
    const ykd_tensor *tensors[] = {param, grad, m, v};
    const char *names[] = {"param", "grad", "m", "v"};
    float scale = 1.0f;
    ykd_status st = check_adamw(op, adamw, err);
    if (st == YKD_OK)
        st = check_grad_scale(op, adamw->grad_scale, &scale, err);
    if (st == YKD_OK)
        st = check_state(op, tensors, names, 4, err);
    if (st != YKD_OK)
        return st;
    /* the bias corrections in float64: 1 - beta^t loses most of its digits in float */
    double bc1 = 1.0 - pow(adamw->beta1, adamw->step);
    double bc2 = 1.0 - pow(adamw->beta2, adamw->step);
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, param);
    ykd_op_args_tensor(&a, grad);
    ykd_op_args_tensor(&a, m);
    ykd_op_args_tensor(&a, v);
    ykd_op_args_float(&a, adamw->beta1);
    ykd_op_args_float(&a, adamw->beta2);
    ykd_op_args_float(&a, adamw->eps);
    ykd_op_args_float(&a, (float)(1.0 - (double)adamw->lr * adamw->weight_decay));
    ykd_op_args_float(&a, (float)(adamw->lr / bc1));
    ykd_op_args_float(&a, (float)(1.0 / sqrt(bc2)));
    ykd_op_args_float(&a, scale);
    return run("adamw_step", param, &a, err);
}
