/* Element-wise arithmetic on tensors: add, axpy, scale (cl/elementwise.cl). */
#include "ops/ops_internal.h"

static const char source[] = "cl/elementwise.cl";

ykd_status ykd_add_forward(const ykd_tensor *a, const ykd_tensor *b, const ykd_tensor *y,
                           ykd_error *err)
{
    const ykd_tensor *tensors[] = {a, b, y};
    const char *names[] = {"a", "b", "y"};
    return ykd_op_map("ykd_add_forward", source, "add_forward", tensors, names, 3, NULL, 0, err);
}

ykd_status ykd_tensor_axpy(float alpha, const ykd_tensor *x, const ykd_tensor *y,
                           ykd_error *err)
{
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    return ykd_op_map("ykd_tensor_axpy", source, "tensor_axpy", tensors, names, 2, &alpha, 1,
                      err);
}

ykd_status ykd_tensor_scale(const ykd_tensor *x, float scale, const ykd_tensor *y,
                            ykd_error *err)
{
    const ykd_tensor *tensors[] = {x, y};
    const char *names[] = {"x", "y"};
    return ykd_op_map("ykd_tensor_scale", source, "tensor_scale", tensors, names, 2, &scale, 1,
                      err);
}
