/* Activations forward and backward: SiLU, sigmoid, LeakyReLU (cl/activation.cl). */
#include <math.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/activation.cl";

/* Elements per work-item of the SiLU kernels (SILU_RUN in cl/activation.cl). */
enum { SILU_RUN = 16 };

/* LeakyReLU's slope: any finite number. */
static ykd_status check_param(const char *op, const float *param, ykd_error *err)
{
    if (param && !isfinite(*param))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: slope %g is not finite", op,
                        (double)*param);
    return YKD_OK;
}

/* y = f(x), with an optional float parameter. */
static ykd_status forward(const char *op, const char *kernel, const ykd_tensor *x,
                          const ykd_tensor *y, const float *param, ykd_error *err)
{
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    ykd_status st = check_param(op, param, err);
    return st != YKD_OK ? st
                        : ykd_op_map(op, source, kernel, tensors, names, 2, param, param ? 1 : 0,
                                     err);
}

/* dx = dy * f'(saved), where saved is the forward's input or output. */
static ykd_status backward(const char *op, const char *kernel, const char *saved_name,
                           const ykd_tensor *saved, const ykd_tensor *dy, const ykd_tensor *dx,
                           const float *param, ykd_error *err)
{
    const ykd_tensor *tensors[] = {saved, dy, dx};
    const char *names[] = {saved_name, "dy", "dx"};
    ykd_status st = check_param(op, param, err);
    return st != YKD_OK ? st
                        : ykd_op_map(op, source, kernel, tensors, names, 3, param, param ? 1 : 0,
                                     err);
}

ykd_status ykd_silu_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err)
{
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    return ykd_op_map_runs("ykd_silu_forward", source, "silu_forward", tensors, names, 2, NULL,
                           0, SILU_RUN, err);
}

ykd_status ykd_silu_backward(const ykd_tensor *x, const ykd_tensor *dy, const ykd_tensor *dx,
                             ykd_error *err)
{
    const ykd_tensor *tensors[] = {x, dy, dx};
    const char *names[] = {"x", "dy", "dx"};
    return ykd_op_map_runs("ykd_silu_backward", source, "silu_backward", tensors, names, 3,
                           NULL, 0, SILU_RUN, err);
}

ykd_status ykd_sigmoid_forward(const ykd_tensor *x, const ykd_tensor *y, ykd_error *err)
{
    return forward("ykd_sigmoid_forward", "sigmoid_forward", x, y, NULL, err);
}

ykd_status ykd_sigmoid_backward(const ykd_tensor *y, const ykd_tensor *dy, const ykd_tensor *dx,
                                ykd_error *err)
{
    return backward("ykd_sigmoid_backward", "sigmoid_backward", "y", y, dy, dx, NULL, err);
}

ykd_status ykd_leaky_relu_forward(const ykd_tensor *x, float slope, const ykd_tensor *y,
                                  ykd_error *err)
{
    return forward("ykd_leaky_relu_forward", "leaky_relu_forward", x, y, &slope, err);
}

ykd_status ykd_leaky_relu_backward(const ykd_tensor *x, float slope, const ykd_tensor *dy,
                                   const ykd_tensor *dx, ykd_error *err)
{
    return backward("ykd_leaky_relu_backward", "leaky_relu_backward", "x", x, dy, dx, &slope,
                    err);
}
