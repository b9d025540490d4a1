/* The forward pass's cache of rearranged weights (see ykd_conv2d_params in yolokd/ops.h): a
 * slot per layout, each remembering which weights (buffer, offset, size) it was made from, so
 * that a call with other weights remakes it instead of reading a stale arrangement. */
#include <stdlib.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"

typedef struct cache_slot {
    const ykd_buffer *weights; /* what the arrangement was made from */
    size_t weights_offset;
    ykd_buffer *buffer; /* the arrangement */
    size_t floats;
    bool ready;
} cache_slot;

struct ykd_conv2d_cache {
    cache_slot slots[YKD_CONV_CACHED_KINDS];
};

ykd_status ykd_conv2d_cache_new(ykd_conv2d_cache **cache, ykd_error *err)
{
    *cache = calloc(1, sizeof **cache);
    if (!*cache)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "conv2d: out of host memory for a cache");
    return YKD_OK;
}

static void slot_clear(cache_slot *slot)
{
    ykd_buffer_free(slot->buffer);
    *slot = (cache_slot){0};
}

void ykd_conv2d_cache_clear(ykd_conv2d_cache *cache)
{
    if (!cache)
        return;
    for (int k = 0; k < YKD_CONV_CACHED_KINDS; k++)
        slot_clear(&cache->slots[k]);
}

void ykd_conv2d_cache_free(ykd_conv2d_cache *cache)
{
    ykd_conv2d_cache_clear(cache);
    free(cache);
}

ykd_status ykd_conv_cache_slot(ykd_conv2d_cache *cache, ykd_device *device, const ykd_buffer *w,
                               size_t w_offset, ykd_conv_cached_kind kind, size_t floats,
                               ykd_buffer **buffer, bool *ready, ykd_error *err)
{
    cache_slot *slot = &cache->slots[kind];
    bool same = slot->buffer && slot->weights == w && slot->weights_offset == w_offset &&
                slot->floats == floats && ykd_buffer_device(slot->buffer) == device;
    if (!same) {
        slot_clear(slot);
        ykd_status st = ykd_buffer_alloc(device, floats * sizeof(float), &slot->buffer, err);
        if (st != YKD_OK) {
            ykd_error_prefix(err, "conv2d: a cache of rearranged weights");
            return st;
        }
        *slot = (cache_slot){w, w_offset, slot->buffer, floats, false};
    }
    *buffer = slot->buffer;
    *ready = slot->ready;
    return YKD_OK;
}

void ykd_conv_cache_keep_only(ykd_conv2d_cache *cache, int kind)
{
    for (int k = 0; cache && k < YKD_CONV_CACHED_KINDS; k++)
        if (k != kind)
            slot_clear(&cache->slots[k]);
}

void ykd_conv_cache_ready(ykd_conv2d_cache *cache, ykd_conv_cached_kind kind)
{
    cache->slots[kind].ready = true;
}
