/* Shared by the op launchers in src/ops/: operand checks and tensor kernel arguments. */
#ifndef YKD_OPS_INTERNAL_H
#define YKD_OPS_INTERNAL_H

#include "device/device_internal.h"
#include "yolokd/ops.h"
#include "yolokd/tensor.h"

/* Checks each operand (ykd_tensor_check) and that all live on the device of the first.
 * names[i] names tensors[i] in messages. */
ykd_status ykd_op_check_operands(const char *op, const ykd_tensor *const *tensors,
                                 const char *const *names, int count, ykd_error *err);

/* Fails unless t has exactly the shape (n, c, h, w); the message shows both shapes. */
ykd_status ykd_op_expect_shape(const char *op, const char *operand, const ykd_tensor *t, int n,
                               int c, int h, int w, ykd_error *err);

/* Fails unless a and b have the same shape. */
ykd_status ykd_op_expect_same_shape(const char *op, const char *a_name, const ykd_tensor *a,
                                    const char *b_name, const ykd_tensor *b, ykd_error *err);

/* Fails unless t is packed (batch stride = c*h*w). */
ykd_status ykd_op_expect_packed(const char *op, const char *operand, const ykd_tensor *t,
                                ykd_error *err);

/* A tensor's location as kernel arguments: the buffer, its first element and its batch stride
 * (kernels address element i of image n as offset + n * batch_stride + i). */
typedef struct ykd_tensor_args {
    cl_mem mem;
    cl_uint offset;
    cl_uint batch_stride;
} ykd_tensor_args;

ykd_tensor_args ykd_tensor_kernel_args(const ykd_tensor *t);

#define YKD_TENSOR_ARGS(ta) YKD_ARG((ta).mem), YKD_ARG((ta).offset), YKD_ARG((ta).batch_stride)

/* A launch over every element of tensors shaped like t: global size (image size, n), so
 * kernels read i = get_global_id(0) (bounds-checked against the image size) and
 * n = get_global_id(1). */
ykd_status ykd_op_run_per_element(ykd_device *device, const ykd_kernel *kernel,
                                  const ykd_kernel_arg *args, size_t arg_count,
                                  const ykd_tensor *t, ykd_error *err);

#endif
