/* One training or validation sample, as the loader builds it: every random choice comes
 * from a generator seeded by the caller, in a fixed order, so a sample is a pure function of
 * (dataset, index, options, seed). */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/rng.h"
#include "data/sample_internal.h"
#include "data/transform.h"
#include "yolokd/data.h"

/* Image index fitted to size (long side), with its boxes in the fitted image's pixels. */
static ykd_status fitted_with_boxes(const ykd_dataset *ds, ykd_image_cache *cache, size_t index,
                                    int size, const ykd_image **view, ykd_image *owned,
                                    ykd_pixel_box **boxes, size_t *count, ykd_error *err)
{
    *boxes = NULL;
    const ykd_box *labels = ykd_dataset_labels(ds, index, count);
    ykd_status st = ykd_fitted_image(ds, cache, index, size, view, owned, err);
    if (st != YKD_OK)
        return st;
    *boxes = malloc((*count + 1) * sizeof **boxes);
    if (!*boxes) {
        ykd_image_free(owned);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    ykd_boxes_to_pixels(labels, *count, (*view)->width, (*view)->height, *boxes);
    return YKD_OK;
}

/* Image index letterboxed to size x size: fitted, then padded; boxes in its pixels. */
static ykd_status letterboxed(const ykd_dataset *ds, ykd_image_cache *cache, size_t index, int size,
                              ykd_image *out, ykd_pixel_box **boxes, size_t *count, ykd_error *err)
{
    const ykd_image *view;
    ykd_image owned;
    ykd_status st = fitted_with_boxes(ds, cache, index, size, &view, &owned, boxes, count, err);
    if (st != YKD_OK)
        return st;
    st = ykd_image_init(out, size, size, YKD_PAD_VALUE, err);
    int pad_x = (size - view->width) / 2, pad_y = (size - view->height) / 2;
    if (st == YKD_OK)
        ykd_image_paste(out, view, pad_x, pad_y);
    ykd_image_free(&owned);
    for (size_t i = 0; i < *count; i++) {
        ykd_pixel_box *b = &(*boxes)[i];
        b->x1 += pad_x, b->x2 += pad_x, b->y1 += pad_y, b->y2 += pad_y;
    }
    if (st != YKD_OK) {
        free(*boxes);
        *boxes = NULL;
    }
    return st;
}

/* The four images of a mosaic (index and three drawn from rng) on a 2*size canvas. */
static ykd_status build_mosaic(const ykd_dataset *ds, ykd_image_cache *cache, size_t index,
                               int size, ykd_rng *rng, ykd_image *canvas, ykd_pixel_box **boxes,
                               size_t *count, ykd_error *err)
{
    size_t idx[4] = {index, 0, 0, 0};
    for (int k = 1; k < 4; k++)
        idx[k] = (size_t)ykd_rng_below(rng, ykd_dataset_count(ds));
    int xc, yc;
    ykd_mosaic_center(size, ykd_rng_next(rng), &xc, &yc);
    const ykd_image *views[4] = {NULL};
    ykd_image owned[4] = {{0}}, imgs[4] = {{0}};
    ykd_pixel_box *parts[4] = {NULL};
    size_t counts[4] = {0}, total = 0;
    ykd_status st = YKD_OK;
    for (int k = 0; k < 4 && st == YKD_OK; k++) {
        st = fitted_with_boxes(ds, cache, idx[k], size, &views[k], &owned[k], &parts[k], &counts[k],
                               err);
        if (st == YKD_OK)
            imgs[k] = *views[k]; /* a shallow view: the mosaic only reads it */
        total += counts[k];
    }
    *boxes = NULL;
    if (st == YKD_OK && !(*boxes = malloc((total + 1) * sizeof **boxes)))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == YKD_OK)
        st = ykd_mosaic_apply(imgs, size, xc, yc, (const ykd_pixel_box *const *)parts, counts,
                              canvas, *boxes, count, err);
    for (int k = 0; k < 4; k++) {
        ykd_image_free(&owned[k]);
        free(parts[k]);
    }
    if (st != YKD_OK) {
        free(*boxes);
        *boxes = NULL;
    }
    return st;
}

/* Scale/translate, HSV, flip: the steps after mosaic or letterbox. */
static ykd_status finish_augment(const ykd_image *src, int size, const ykd_augment_options *o,
                                 ykd_rng *rng, ykd_pixel_box *boxes, size_t *count, ykd_image *out,
                                 ykd_error *err)
{
    ykd_status st = ykd_augment_affine(src, size, o->scale, o->translate, ykd_rng_next(rng), boxes,
                                       count, out, err);
    if (st != YKD_OK)
        return st;
    ykd_augment_hsv(out, o->hsv_h, o->hsv_s, o->hsv_v, ykd_rng_next(rng));
    if (ykd_rng_unit(rng) < o->flip_lr)
        ykd_flip_lr(out, boxes, *count);
    return YKD_OK;
}

ykd_status ykd_sample_build_cached(const ykd_dataset *ds, ykd_image_cache *cache, size_t index,
                                   int size, bool augment, bool use_mosaic,
                                   const ykd_augment_options *options, uint64_t seed,
                                   ykd_image *out, ykd_box **boxes, size_t *count, ykd_error *err)
{
    *boxes = NULL;
    *count = 0;
    out->pixels = NULL;
    ykd_rng rng;
    ykd_rng_seed(&rng, seed);
    ykd_pixel_box *px = NULL;
    ykd_image stage = {0};
    ykd_status st;
    if (!augment) {
        st = letterboxed(ds, cache, index, size, out, &px, count, err);
    } else {
        bool mosaic = use_mosaic && ykd_rng_unit(&rng) < options->mosaic;
        st = mosaic ? build_mosaic(ds, cache, index, size, &rng, &stage, &px, count, err)
                    : letterboxed(ds, cache, index, size, &stage, &px, count, err);
        if (st == YKD_OK)
            st = finish_augment(&stage, size, options, &rng, px, count, out, err);
        ykd_image_free(&stage);
    }
    if (st == YKD_OK && *count > 0) {
        *boxes = malloc(*count * sizeof **boxes);
        if (*boxes)
            ykd_boxes_to_normalised(px, *count, size, size, *boxes);
        else
            st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    free(px);
    if (st != YKD_OK) {
        ykd_image_free(out);
        *count = 0;
    }
    return st;
}

ykd_status ykd_sample_build(const ykd_dataset *ds, size_t index, int size, bool augment,
                            bool use_mosaic, const ykd_augment_options *options, uint64_t seed,
                            ykd_image *out, ykd_box **boxes, size_t *count, ykd_error *err)
{
    return ykd_sample_build_cached(ds, NULL, index, size, augment, use_mosaic, options, seed, out,
                                   boxes, count, err);
}

uint64_t ykd_sample_seed(uint64_t run_seed, uint64_t epoch, uint64_t position)
{
    /* chained mixing: distinct triples give unrelated seeds */
    uint64_t h = ykd_rng_mix(run_seed ^ 0x6a09e667f3bcc908ULL);
    h = ykd_rng_mix(h ^ (epoch + 0x3c6ef372fe94f82bULL));
    return ykd_rng_mix(h ^ (position + 0xa54ff53a5f1d36f1ULL));
}
