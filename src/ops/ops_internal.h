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

/* ---- launching op kernels (src/ops/launch.c) ---------------------------------------- */

/* The kernel `name` of an op family: the program built from cl/tensor.cl (the addressing
 * macros every op kernel uses) followed by the family's `source` ("cl/activation.cl"). */
ykd_status ykd_op_kernel(ykd_device *device, const char *source, const char *name,
                         ykd_kernel **kernel, ykd_error *err);

/* Kernel arguments collected in order. Each value is copied in, so a launcher can pass
 * temporaries; the array is large enough for any op (a full one is a programming error). */
enum { YKD_OP_MAX_ARGS = 64 };

typedef struct ykd_op_args {
    ykd_kernel_arg args[YKD_OP_MAX_ARGS];
    union {
        cl_mem mem;
        cl_uint u;
        cl_int i;
        cl_float f;
    } values[YKD_OP_MAX_ARGS];
    size_t count;
} ykd_op_args;

/* A tensor as three arguments: its buffer, its first element and its batch stride, which the
 * TENSOR_IN / TENSOR_OUT macros of cl/tensor.cl declare. */
void ykd_op_args_tensor(ykd_op_args *a, const ykd_tensor *t);
void ykd_op_args_mem(ykd_op_args *a, cl_mem mem);
void ykd_op_args_uint(ykd_op_args *a, size_t value); /* must fit 32 bits */
void ykd_op_args_int(ykd_op_args *a, int value);
void ykd_op_args_float(ykd_op_args *a, float value);
void ykd_op_args_local(ykd_op_args *a, size_t bytes); /* a __local buffer of this size */

/* A launch over every element of tensors shaped like t: global size (image size, n), so
 * kernels read i = get_global_id(0) (bounds-checked against the image size) and
 * n = get_global_id(1); groups of 256 work-items (PoCL reaches about 50 GB/s on the 2-core CPU
 * here with them, 40 with 64). */
ykd_status ykd_op_run_elements(ykd_device *device, const ykd_kernel *kernel,
                               const ykd_op_args *args, const ykd_tensor *t, ykd_error *err);

/* A launch over the planes of tensors shaped like t: global (h*w, c, n), so kernels read
 * p = get_global_id(0), c = get_global_id(1), n = get_global_id(2) and check both p and c
 * against their bounds (small planes share a work-group across channels, so both overrun). */
ykd_status ykd_op_run_per_plane(ykd_device *device, const ykd_kernel *kernel,
                                const ykd_op_args *args, const ykd_tensor *t, ykd_error *err);

/* A launch over the (x, y) positions of w-by-h planes, for n*c planes: global (w, h, n*c),
 * so kernels read x = get_global_id(0), y = get_global_id(1) (checking both against their
 * bounds) and the plane nc = get_global_id(2), the same for a whole work-group. */
ykd_status ykd_op_run_spatial(ykd_device *device, const ykd_kernel *kernel,
                              const ykd_op_args *args, int w, int h, int n, int c,
                              ykd_error *err);

/* An element-wise op over count tensors of one shape (names[i] names tensors[i]): checks them,
 * then runs kernel `name` of `source` over every element, with the tensors' arguments, then
 * the scalars, then the image size (c*h*w) as arguments. */
ykd_status ykd_op_map(const char *op, const char *source, const char *name,
                      const ykd_tensor *const *tensors, const char *const *names, int count,
                      const float *scalars, int scalar_count, ykd_error *err);

/* The work-group size for a kernel that keeps bytes_per_item of local memory per work-item
 * and reduces over the group as a tree: the largest power of two <= want that the kernel and
 * the device's local memory allow (at least 1). */
size_t ykd_op_group_size(const ykd_device *device, const ykd_kernel *kernel, size_t want,
                         size_t bytes_per_item);

/* A scratch buffer for intermediate results of one op: freed right after the op's kernels
 * are queued (OpenCL keeps a released buffer alive until the commands using it finish). */
ykd_status ykd_op_scratch(ykd_device *device, size_t floats, const char *op, ykd_buffer **buffer,
                          ykd_error *err);

#endif
