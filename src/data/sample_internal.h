/* Internal: building samples with an optional cache of decoded images (the loader's). */
#ifndef YKD_DATA_SAMPLE_INTERNAL_H
#define YKD_DATA_SAMPLE_INTERNAL_H

#include "yolokd/data.h"

/* Decoded images, each resized so its long side is the model size, kept until freed. Shared
 * by threads; an entry, once filled, never changes. */
typedef struct ykd_image_cache ykd_image_cache;

ykd_status ykd_image_cache_init(ykd_image_cache **cache, size_t count, int size, ykd_error *err);
void ykd_image_cache_free(ykd_image_cache *cache);

/* Image index resized so its long side is size. With a cache, *view points into it and
 * *owned is left empty; without one, the image is decoded into *owned and *view points to
 * it (free *owned after use). */
ykd_status ykd_fitted_image(const ykd_dataset *ds, ykd_image_cache *cache, size_t index, int size,
                            const ykd_image **view, ykd_image *owned, ykd_error *err);

/* ykd_sample_build, taking images from cache (may be NULL). */
ykd_status ykd_sample_build_cached(const ykd_dataset *ds, ykd_image_cache *cache, size_t index,
                                   int size, bool augment, bool use_mosaic,
                                   const ykd_augment_options *options, uint64_t seed,
                                   ykd_image *out, ykd_box **boxes, size_t *count, ykd_error *err);

#endif
