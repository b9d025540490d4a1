/* Tensor descriptors: allocation, views, checks, host transfers, fill and copy. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

ykd_status ykd_tensor_alloc(ykd_device *device, int n, int c, int h, int w, ykd_tensor *tensor,
                            ykd_error *err)
{
    memset(tensor, 0, sizeof *tensor);
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
        return ykd_fail(err, YKD_ERR_SHAPE, "cannot allocate a tensor of shape [%d, %d, %d, %d]",
                        n, c, h, w);
    size_t count = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    if (count > UINT32_MAX)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "a tensor of shape [%d, %d, %d, %d] has over 2^32 elements", n, c, h, w);
    ykd_buffer *buffer = NULL;
    ykd_status st = ykd_buffer_alloc(device, count * sizeof(float), &buffer, err);
    if (st != YKD_OK)
        return st;
    *tensor = ykd_tensor_view(buffer, 0, n, c, h, w);
    return YKD_OK;
}

void ykd_tensor_free(ykd_tensor *tensor)
{
    if (!tensor)
        return;
    ykd_buffer_free(tensor->buffer);
    memset(tensor, 0, sizeof *tensor);
}

ykd_tensor ykd_tensor_view(ykd_buffer *buffer, size_t offset, int n, int c, int h, int w)
{
    ykd_tensor t = {buffer, offset, (size_t)c * (size_t)h * (size_t)w, n, c, h, w};
    return t;
}

ykd_tensor ykd_tensor_channels(const ykd_tensor *t, int first, int count)
{
    ykd_tensor v = *t;
    v.offset += (size_t)first * (size_t)t->h * (size_t)t->w;
    v.c = count;
    return v;
}

ykd_tensor ykd_tensor_images(const ykd_tensor *t, int first, int count)
{
    ykd_tensor v = *t;
    v.offset += (size_t)first * t->batch_stride;
    v.n = count;
    return v;
}

size_t ykd_tensor_image_size(const ykd_tensor *t)
{
    return (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

size_t ykd_tensor_numel(const ykd_tensor *t)
{
    return (size_t)t->n * ykd_tensor_image_size(t);
}

bool ykd_tensor_is_packed(const ykd_tensor *t)
{
    return t->n == 1 || t->batch_stride == ykd_tensor_image_size(t);
}

bool ykd_tensor_same_shape(const ykd_tensor *a, const ykd_tensor *b)
{
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

ykd_device *ykd_tensor_device(const ykd_tensor *t)
{
    return t->buffer ? ykd_buffer_device(t->buffer) : NULL;
}

void ykd_tensor_shape_str(const ykd_tensor *t, char *buf, size_t size)
{
    snprintf(buf, size, "[%d, %d, %d, %d]", t->n, t->c, t->h, t->w);
}

ykd_status ykd_tensor_check(const ykd_tensor *t, const char *op, const char *operand,
                            ykd_error *err)
{
    char shape[96];
    if (!t || !t->buffer)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: %s has no buffer", op, operand);
    ykd_tensor_shape_str(t, shape, sizeof shape);
    if (t->n <= 0 || t->c <= 0 || t->h <= 0 || t->w <= 0)
        return ykd_fail(err, YKD_ERR_SHAPE, "%s: %s has the empty shape %s", op, operand, shape);
    size_t image = ykd_tensor_image_size(t);
    if (t->n > 1 && t->batch_stride < image)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: %s %s has a batch stride of %zu, less than one image (%zu)", op,
                        operand, shape, t->batch_stride, image);
    size_t capacity = t->buffer->size / sizeof(float);
    size_t end = t->offset + (size_t)(t->n - 1) * t->batch_stride + image;
    if (t->offset >= capacity || end > capacity)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: %s %s at element %zu reaches element %zu of a buffer of %zu", op,
                        operand, shape, t->offset, end, capacity);
    if (end > UINT32_MAX)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "%s: %s reaches element %zu, beyond the 32-bit index kernels use", op,
                        operand, end);
    return YKD_OK;
}

ykd_status ykd_op_check_operands(const char *op, const ykd_tensor *const *tensors,
                                 const char *const *names, int count, ykd_error *err)
{
    for (int i = 0; i < count; i++) {
        ykd_status st = ykd_tensor_check(tensors[i], op, names[i], err);
        if (st != YKD_OK)
            return st;
        const ykd_device *d0 = tensors[0]->buffer->device, *di = tensors[i]->buffer->device;
        if (di != d0)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "%s: %s is on device %d (%s) but %s is on device %d (%s); copy it "
                            "first",
                            op, names[i], di->info.index, di->info.name, names[0],
                            d0->info.index, d0->info.name);
    }
    return YKD_OK;
}

ykd_status ykd_op_expect_shape(const char *op, const char *operand, const ykd_tensor *t, int n,
                               int c, int h, int w, ykd_error *err)
{
    if (t->n == n && t->c == c && t->h == h && t->w == w)
        return YKD_OK;
    char got[96];
    ykd_tensor_shape_str(t, got, sizeof got);
    return ykd_fail(err, YKD_ERR_SHAPE, "%s: %s has shape %s, expected [%d, %d, %d, %d]", op,
                    operand, got, n, c, h, w);
}

ykd_status ykd_op_expect_same_shape(const char *op, const char *a_name, const ykd_tensor *a,
                                    const char *b_name, const ykd_tensor *b, ykd_error *err)
{
    if (ykd_tensor_same_shape(a, b))
        return YKD_OK;
    char sa[96], sb[96];
    ykd_tensor_shape_str(a, sa, sizeof sa);
    ykd_tensor_shape_str(b, sb, sizeof sb);
    return ykd_fail(err, YKD_ERR_SHAPE, "%s: %s has shape %s but %s has shape %s", op, a_name,
                    sa, b_name, sb);
}

ykd_status ykd_op_expect_packed(const char *op, const char *operand, const ykd_tensor *t,
                                ykd_error *err)
{
    if (ykd_tensor_is_packed(t))
        return YKD_OK;
    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                    "%s: %s must be packed (batch stride %zu, image size %zu)", op, operand,
                    t->batch_stride, ykd_tensor_image_size(t));
}

ykd_tensor_args ykd_tensor_kernel_args(const ykd_tensor *t)
{
    ykd_tensor_args a = {t->buffer->mem, (cl_uint)t->offset, (cl_uint)t->batch_stride};
    return a;
}

/* Images of a strided tensor are moved one at a time; a packed one in one go. */
static ykd_status transfer(const ykd_tensor *t, float *host, bool to_device, const char *op,
                           ykd_error *err)
{
    ykd_status st = ykd_tensor_check(t, op, "tensor", err);
    if (st != YKD_OK)
        return st;
    size_t image = ykd_tensor_image_size(t);
    int runs = ykd_tensor_is_packed(t) ? 1 : t->n;
    size_t run_floats = ykd_tensor_is_packed(t) ? ykd_tensor_numel(t) : image;
    for (int i = 0; i < runs && st == YKD_OK; i++) {
        size_t byte_offset = (t->offset + (size_t)i * t->batch_stride) * sizeof(float);
        float *h = host + (size_t)i * image;
        st = to_device ? ykd_buffer_write(t->buffer, byte_offset, h, run_floats * sizeof(float),
                                          err)
                       : ykd_buffer_read(t->buffer, byte_offset, h, run_floats * sizeof(float),
                                         err);
    }
    return st;
}

ykd_status ykd_tensor_write(const ykd_tensor *t, const float *host, ykd_error *err)
{
    return transfer(t, (float *)host, true, "ykd_tensor_write", err);
}

ykd_status ykd_tensor_read(const ykd_tensor *t, float *host, ykd_error *err)
{
    return transfer(t, host, false, "ykd_tensor_read", err);
}

ykd_status ykd_tensor_fill(const ykd_tensor *t, float value, ykd_error *err)
{
    ykd_status st = ykd_tensor_check(t, "ykd_tensor_fill", "tensor", err);
    if (st != YKD_OK)
        return st;
    if (ykd_tensor_is_packed(t))
        return ykd_fill_f32(t->buffer, t->offset, ykd_tensor_numel(t), value, err);
    for (int i = 0; i < t->n && st == YKD_OK; i++)
        st = ykd_fill_f32(t->buffer, t->offset + (size_t)i * t->batch_stride,
                          ykd_tensor_image_size(t), value, err);
    return st;
}

ykd_status ykd_tensor_copy(const ykd_tensor *dst, const ykd_tensor *src, ykd_error *err)
{
    ykd_status st = ykd_tensor_check(dst, "ykd_tensor_copy", "dst", err);
    if (st == YKD_OK)
        st = ykd_tensor_check(src, "ykd_tensor_copy", "src", err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape("ykd_tensor_copy", "dst", dst, "src", src, err);
    if (st != YKD_OK)
        return st;
    bool packed = ykd_tensor_is_packed(dst) && ykd_tensor_is_packed(src);
    int runs = packed ? 1 : dst->n;
    size_t run_bytes = (packed ? ykd_tensor_numel(dst) : ykd_tensor_image_size(dst)) *
                       sizeof(float);
    for (int i = 0; i < runs && st == YKD_OK; i++)
        st = ykd_buffer_copy(dst->buffer,
                             (dst->offset + (size_t)i * dst->batch_stride) * sizeof(float),
                             src->buffer,
                             (src->offset + (size_t)i * src->batch_stride) * sizeof(float),
                             run_bytes, err);
    return st;
}
