/* Float32 NCHW tensors on one device.
 *
 * A ykd_tensor is a small value describing where a tensor's elements live: a device buffer,
 * the first element's offset, the four dimensions, and the distance between consecutive images.
 * Within one image the elements are packed (c, h, w), so a view of a channel range of a larger
 * tensor is a tensor too: that is how split and concat avoid copies. Ops check every operand's
 * shape and bounds and fail with a message naming the op, the operand and both shapes. */
#ifndef YOLOKD_TENSOR_H
#define YOLOKD_TENSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "yolokd/device.h"
#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ykd_tensor {
    ykd_buffer *buffer;
    size_t offset;       /* the first element, counted in floats from the buffer's start */
    size_t batch_stride; /* floats from one image to the next; c*h*w when packed */
    int n, c, h, w;
} ykd_tensor;

/* A packed tensor in a new buffer of its own; release it with ykd_tensor_free. */
ykd_status ykd_tensor_alloc(ykd_device *device, int n, int c, int h, int w, ykd_tensor *tensor,
                            ykd_error *err);

/* Frees the tensor's buffer (for tensors from ykd_tensor_alloc) and clears it. */
void ykd_tensor_free(ykd_tensor *tensor);

/* A packed view of n*c*h*w floats at offset in buffer. */
ykd_tensor ykd_tensor_view(ykd_buffer *buffer, size_t offset, int n, int c, int h, int w);

/* The view of channels [first, first + count) of t (same images, same spatial size). */
ykd_tensor ykd_tensor_channels(const ykd_tensor *t, int first, int count);

/* The view of images [first, first + count) of t. */
ykd_tensor ykd_tensor_images(const ykd_tensor *t, int first, int count);

size_t ykd_tensor_numel(const ykd_tensor *t);
size_t ykd_tensor_image_size(const ykd_tensor *t); /* c*h*w */
bool ykd_tensor_is_packed(const ykd_tensor *t);    /* batch_stride == c*h*w (or n == 1) */
bool ykd_tensor_same_shape(const ykd_tensor *a, const ykd_tensor *b);
ykd_device *ykd_tensor_device(const ykd_tensor *t);

/* "[8, 16, 80, 80]" into buf. */
void ykd_tensor_shape_str(const ykd_tensor *t, char *buf, size_t size);

/* Refuses a tensor with no buffer, a zero or negative dimension, a batch stride smaller than
 * an image, or elements beyond its buffer; the message names op and operand. */
ykd_status ykd_tensor_check(const ykd_tensor *t, const char *op, const char *operand,
                            ykd_error *err);

/* Host <-> device copies of the whole tensor; the host side is packed NCHW. Blocking. */
ykd_status ykd_tensor_write(const ykd_tensor *t, const float *host, ykd_error *err);
ykd_status ykd_tensor_read(const ykd_tensor *t, float *host, ykd_error *err);

/* Every element set to value. */
ykd_status ykd_tensor_fill(const ykd_tensor *t, float value, ykd_error *err);

/* dst = src (same shape; any strides; dst and src may be on different devices). */
ykd_status ykd_tensor_copy(const ykd_tensor *dst, const ykd_tensor *src, ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
