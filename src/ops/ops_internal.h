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
 * macros every op kernel uses) and cl/shared.cl (the device helpers every op shares) followed
 * by the family's `source` ("cl/activation.cl"). */
ykd_status ykd_op_kernel(ykd_device *device, const char *source, const char *name,
                         ykd_kernel **kernel, ykd_error *err);

/* Kernel arguments collected in order. Each value is copied in, so a launcher can pass
 * temporaries. An argument that cannot be set (past YKD_OP_MAX_ARGS, or a value over 32 bits)
 * is recorded in fault; the launch then fails with it and the kernel's name. Start empty:
 * ykd_op_args a = {0}. */
enum { YKD_OP_MAX_ARGS = 64 };

typedef struct ykd_op_args {
    ykd_kernel_arg args[YKD_OP_MAX_ARGS];
    union {
        cl_mem mem;
        cl_uint u;
        cl_int i;
        cl_float f;
        cl_int4 i4;
    } values[YKD_OP_MAX_ARGS];
    size_t count;
    char fault[128]; /* empty unless an argument could not be set */
} ykd_op_args;

/* A tensor as three arguments: its buffer, its first element and its batch stride, which the
 * TENSOR_IN / TENSOR_OUT macros of cl/tensor.cl declare. */
void ykd_op_args_tensor(ykd_op_args *a, const ykd_tensor *t);
/* The same from a location already taken (ykd_tensor_kernel_args). */
void ykd_op_args_location(ykd_op_args *a, ykd_tensor_args location);
void ykd_op_args_mem(ykd_op_args *a, cl_mem mem);
void ykd_op_args_uint(ykd_op_args *a, size_t value); /* over 32 bits is a fault */
void ykd_op_args_int(ykd_op_args *a, int value);
void ykd_op_args_ints(ykd_op_args *a, const int *values, size_t n);
/* t from its image first on: its buffer, that image's first element and the batch stride. */
void ykd_op_args_images(ykd_op_args *a, const ykd_tensor *t, int first);
void ykd_op_args_float(ykd_op_args *a, float value);
void ykd_op_args_int4(ykd_op_args *a, cl_int4 value);
void ykd_op_args_local(ykd_op_args *a, size_t bytes); /* a __local buffer of this size */

/* Launches kernel with a's arguments (ykd_kernel_run), unless a holds a fault: that fails
 * with YKD_ERR_UNSUPPORTED and a message naming the kernel. */
ykd_status ykd_op_run(ykd_device *device, const ykd_kernel *kernel, const ykd_op_args *a,
                      unsigned dims, const size_t *global, const size_t *local, ykd_error *err);

/* The same as a 1-D launch of n work-items in groups that suit the kernel (ykd_kernel_run_1d). */
ykd_status ykd_op_run_1d(ykd_device *device, const ykd_kernel *kernel, const ykd_op_args *a,
                         size_t n, ykd_error *err);

/* As ykd_op_run_1d for kernels whose work-items take runs of the device's vector width
 * (cl/shared.cl's run_at, load_run and store_run): n elements in that many runs. */
ykd_status ykd_op_run_1d_runs(ykd_device *device, const ykd_kernel *kernel, const ykd_op_args *a,
                              size_t n, ykd_error *err);

/* The most work-items a work-group of kernel may have along axis dim (0, 1 or 2) on device:
 * the kernel's limit and the device's for that axis. */
size_t ykd_op_local_limit(const ykd_device *device, const ykd_kernel *kernel, unsigned dim);

/* The work-items along axis 1 beside l0 along axis 0: the largest power of two <= want that
 * keeps l0 times it within the kernel's limit and axis 1 within the device's (at least 1). */
size_t ykd_op_local_second(const ykd_device *device, const ykd_kernel *kernel, size_t l0,
                           size_t want);

/* The largest power of two at most n (1 for n = 0). */
size_t ykd_pow2_at_most(size_t n);

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

/* A run length meaning the device's vector width (ykd_device_info.vector_floats, the kernels'
 * VECTOR_FLOATS): for kernels that take one floatv per work-item. */
#define YKD_OP_RUN_VECTOR ((size_t)0)

/* As ykd_op_run_per_plane for kernels whose work-items take `run` consecutive elements of a
 * plane (or YKD_OP_RUN_VECTOR): global (h*w / run rounded up, c, n). */
ykd_status ykd_op_run_per_plane_runs(ykd_device *device, const ykd_kernel *kernel,
                                     const ykd_op_args *args, const ykd_tensor *t, size_t run,
                                     ykd_error *err);

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

/* As ykd_op_map for kernels whose work-items take `run` consecutive elements of an image each
 * (or YKD_OP_RUN_VECTOR; global axis 0: the image size / run, rounded up). */
ykd_status ykd_op_map_runs(const char *op, const char *source, const char *name,
                           const ykd_tensor *const *tensors, const char *const *names, int count,
                           const float *scalars, int scalar_count, size_t run, ykd_error *err);

/* The work-group size (along axis 0) for a kernel that keeps bytes_per_item of local memory
 * per work-item and reduces over the group as a tree: the largest power of two <= want that
 * the kernel, the device's axis 0 and its local memory allow (at least 1). */
size_t ykd_op_group_size(const ykd_device *device, const ykd_kernel *kernel, size_t want,
                         size_t bytes_per_item);

/* A program whose kernels work in groups of GROUP work-items, a size fixed when it is built
 * (-DGROUP=N in the build options, so part of the program cache's key): reductions over the
 * group, local arrays of GROUP entries (cl/loss_common.cl). */
typedef struct ykd_group_family {
    const char *const *sources; /* the program's files, NULL-terminated */
    const char *const *grouped; /* its kernels that use GROUP, NULL-terminated */
    size_t preferred;           /* the size they are tuned for (a power of two) */
    size_t local_bytes_per_item; /* the most local memory any of them keeps per work-item */
} ykd_group_family;

/* Kernel `name` of the family from the program built for *group: the largest power of two
 * <= preferred that the device's axis 0, its local memory and every grouped kernel allow (a
 * kernel may allow less than the device). A device always gets the same size, so results are
 * deterministic on it; they differ between sizes by float rounding only. Fails, naming the
 * kernel and the device, only when even one work-item's local memory does not fit. */
ykd_status ykd_group_kernel(ykd_device *device, const ykd_group_family *family, const char *name,
                            ykd_kernel **kernel, size_t *group, ykd_error *err);

/* A scratch buffer for intermediate results of one op: freed right after the op's kernels
 * are queued (OpenCL keeps a released buffer alive until the commands using it finish). */
ykd_status ykd_op_scratch(ykd_device *device, size_t floats, const char *op, ykd_buffer **buffer,
                          ykd_error *err);

#endif
