/* Activations forward and backward: SiLU, sigmoid, LeakyReLU (cl/activation.cl). */
#include <math.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/activation.cl";

/* Elements per work-item of the SiLU kernels (SILU_RUN in cl/activation.cl): a floatv. */
#define SILU_RUN YKD_OP_RUN_VECTOR

/* LeakyReLU's slope: any finite number. */
static ykd_status check_param(const char *op, const float *param, ykd_error *err)
{
    if (param && !isfinite(*param))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: slope %g is not finite", op,
                        (double)*param);
    return YKD_OK;
}

/* y = f(x), with an optional float parameter; each work-item takes `run` elements. */
static ykd_status forward(const char *op, const char *kernel, const ykd_tensor *x,
                          const ykd_tensor *y, const float *param, size_t run, ykd_error *err)
{
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    ykd_status st = check_param(op, param, err);
    return st != YKD_OK ? st
                        : ykd_op_map_runs(op, source, kernel, tensors, names, 2, param,
                                          param ? 1 : 0, run, err);
}

/* dx = dy * f'(saved), where saved is the forward's input or output. */
static ykd_status backward(const char *op, const char *kernel, const char *saved_name,
                           const ykd_tensor *saved, const ykd_tensor *dy, const ykd_tensor *dx,
                           const float *param, size_t run, ykd_error *err)
{
    const ykd_tensor *tensors[] = {saved, dy, dx};
    const char *names[] = {saved_name, "dy", "dx"};
    ykd_status st = check_param(op, param, err);
    return st != YKD_OK ? st
                        : ykd_op_map_runs(op, source, kernel, tensors, names, 3, param,
                                          param ? 1 : 0, run, err);
}

ykd_status ykd_silu_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err)
{
    return forward("ykd_silu_forward", "silu_forward", x, y, NULL, SILU_RUN, err);
}

ykd_status ykd_silu_backward(const ykd_tensor *x, const ykd_tensor *dy, const ykd_tensor *dx,
                             ykd_error *err)
{
    return backward("ykd_silu_backward", "silu_backward", "x", x, dy, dx, NULL, SILU_RUN, err);
}

ykd_status ykd_sigmoid_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err)
{
    return forward("ykd_sigmoid_forward", "sigmoid_forward", x, y, NULL, 1, err);
}

ykd_status ykd_sigmoid_backward(const ykd_tensor *y, const ykd_tensor *dy, const ykd_tensor *dx,
                                ykd_error *err)
{
    return backward("ykd_sigmoid_backward", "sigmoid_backward", "y", y, dy, dx, NULL, 1, err);
}

ykd_status ykd_leaky_relu_forward(const ykd_tensor *x, float slope, const ykd_tensor *y,
                                  ykd_error *err)
{
    return forward("ykd_leaky_relu_forward", "leaky_relu_forward", x, y, &slope, 1, err);
}

ykd_status ykd_leaky_relu_backward(const ykd_tensor *x, float slope, const ykd_tensor *dy,
                                   const ykd_tensor *dx, ykd_error *err)
{
    return backward("ykd_leaky_relu_backward", "leaky_relu_backward", "x", x, dy, dx, &slope, 1,
                    err);
}
