/* Decoded, resized images kept in memory for the loader, so a mosaic of four images costs
 * four copies instead of four decodes. The contents are what decoding gives, so a cached
 * run and an uncached one produce the same samples. */
#include <pthread.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "data/sample_internal.h"
#include "data/transform.h"

struct ykd_image_cache {
    pthread_mutex_t mu;
    int size;
    size_t count;
    ykd_image *images; /* pixels NULL until filled */
};

ykd_status ykd_image_cache_init(ykd_image_cache **cache, size_t count, int size, ykd_error *err)
{
    ykd_image_cache *c = calloc(1, sizeof *c);
    if (c)
        c->images = calloc(count ? count : 1, sizeof *c->images);
    if (!c || !c->images) {
        free(c);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for the image cache");
    }
    pthread_mutex_init(&c->mu, NULL);
    c->size = size;
    c->count = count;
    *cache = c;
    return YKD_OK;
}

void ykd_image_cache_free(ykd_image_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        ykd_image_free(&c->images[i]);
    free(c->images);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Decodes image index and resizes it so its long side is size (aspect kept). */
static ykd_status decode_fitted(const ykd_dataset *ds, size_t index, int size, ykd_image *out,
                                ykd_error *err)
{
    ykd_image img;
    ykd_status st = ykd_dataset_load_image(ds, index, &img, err);
    if (st != YKD_OK)
        return st;
    int w, h;
    ykd_fit_size(img.width, img.height, size, &w, &h);
    if (w == img.width && h == img.height) {
        *out = img;
        return YKD_OK;
    }
    st = ykd_image_resize(&img, w, h, out, err);
    ykd_image_free(&img);
    return st;
}

ykd_status ykd_fitted_image(const ykd_dataset *ds, ykd_image_cache *c, size_t index, int size,
                            const ykd_image **view, ykd_image *owned, ykd_error *err)
{
    *owned = (ykd_image){0, 0, NULL};
    if (!c || c->size != size) {
        ykd_status st = decode_fitted(ds, index, size, owned, err);
        *view = owned;
        return st;
    }
    pthread_mutex_lock(&c->mu);
    bool cached = c->images[index].pixels != NULL;
    pthread_mutex_unlock(&c->mu);
    if (!cached) {
        /* decoded outside the lock; if another thread got there first, its copy stays */
        ykd_image img;
        ykd_status st = decode_fitted(ds, index, size, &img, err);
        if (st != YKD_OK)
            return st;
        pthread_mutex_lock(&c->mu);
        if (!c->images[index].pixels)
            c->images[index] = img;
        else
            ykd_image_free(&img);
        pthread_mutex_unlock(&c->mu);
    }
    *view = &c->images[index];
    return YKD_OK;
}
