/* Tensor addressing shared by the op kernels (built in front of each op family's source).
 *
 * A tensor argument is three: its buffer, the offset of its first element and its batch
 * stride, all in floats; element i of image n (i counting c, h, w within the image) lives at
 * offset + n * batch_stride + i. Launchers pass them with ykd_op_args_tensor. */

#define TENSOR_IN(t) __global const float *t, uint t##_off, uint t##_bs
#define TENSOR_OUT(t) __global float *t, uint t##_off, uint t##_bs

/* Element i of image n of tensor t. Indices are size_t: with 32-bit arithmetic, which may
 * wrap, PoCL cannot prove that consecutive work-items touch consecutive floats and does not
 * vectorise (element-wise kernels ran at half speed). */
#define AT(t, n, i) t[(size_t)t##_off + (size_t)(n) * t##_bs + (i)]

/* The start of image n of t, for kernels that walk an image themselves. */
#define IMAGE(t, n) (t + (size_t)t##_off + (size_t)(n) * t##_bs)

/* The first element of plane nc = n * channels + c of tensor t, whose planes hold `plane`
 * floats: kernels over planes (ykd_op_run_spatial) get nc from get_global_id(2). */
#define PLANE(t, nc, channels, plane)                                                          \
    (IMAGE(t, (nc) / (channels)) + (size_t)((nc) % (channels)) * (plane))
