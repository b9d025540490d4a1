/* What a training forward keeps for its weight gradient (ykd_conv2d_saved in yolokd/ops.h):
 * the padded channels-last copy of x that the pixel-row paths read, with what it was made
 * from, so that a weight gradient over another input, or a second one, makes its own. */
#include <stdlib.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"

/* The input a copy was made from: the tensor's storage and the geometry of the copy. */
typedef struct saved_key {
    const ykd_buffer *x;
    size_t x_offset, x_batch_stride;
    int n, cin, h, w, pad;
} saved_key;

struct ykd_conv2d_saved {
    ykd_buffer *buffer;
    size_t floats;
    saved_key key;
    bool offered; /* made by a forward, not yet taken by a weight gradient */
};

ykd_status ykd_conv2d_saved_new(ykd_conv2d_saved **saved, ykd_error *err)
{
    *saved = calloc(1, sizeof **saved);
    if (!*saved)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "conv2d: out of host memory for a saved "
                                                    "object");
    return YKD_OK;
}

void ykd_conv2d_saved_free(ykd_conv2d_saved *saved)
{
    if (!saved)
        return;
    ykd_buffer_free(saved->buffer);
    free(saved);
}

static saved_key key_of(const ykd_tensor *x, const ykd_conv_shape *s)
{
    return (saved_key){x->buffer, x->offset, x->batch_stride, s->n, s->cin, s->h, s->w, s->pad};
}

static bool same_key(const saved_key *a, const saved_key *b)
{
    return a->x == b->x && a->x_offset == b->x_offset && a->x_batch_stride == b->x_batch_stride &&
           a->n == b->n && a->cin == b->cin && a->h == b->h && a->w == b->w && a->pad == b->pad;
}

ykd_status ykd_conv_saved_buffer(ykd_conv2d_saved *saved, ykd_device *device, size_t floats,
                                 ykd_buffer **buffer, ykd_error *err)
{
    saved->offered = false;
    if (!saved->buffer || saved->floats < floats || ykd_buffer_device(saved->buffer) != device) {
        ykd_buffer_free(saved->buffer);
        saved->buffer = NULL, saved->floats = 0;
        ykd_status st = ykd_buffer_alloc(device, floats * sizeof(float), &saved->buffer, err);
        if (st != YKD_OK) {
            ykd_error_prefix(err, "conv2d: the saved copy of a forward's input");
            return st;
        }
        saved->floats = floats;
    }
    *buffer = saved->buffer;
    return YKD_OK;
}

void ykd_conv_saved_made(ykd_conv2d_saved *saved, const ykd_tensor *x, const ykd_conv_shape *s)
{
    saved->key = key_of(x, s);
    saved->offered = true;
}

const ykd_buffer *ykd_conv_saved_take(ykd_conv2d_saved *saved, const ykd_tensor *x,
                                      const ykd_conv_shape *s)
{
    saved_key key = key_of(x, s);
    bool usable = saved->offered && same_key(&saved->key, &key);
    saved->offered = false;
    return usable ? saved->buffer : NULL;
}
