/* Mosaic: four images around a random centre on a double-size canvas (YOLOv8's Mosaic with
 * n = 4); the affine step that follows crops the canvas back to the model size. */
#include "core/error_internal.h"
#include "core/rng.h"
#include "data/transform.h"
#include "yolokd/data.h"

void ykd_mosaic_center(int size, uint64_t seed, int *xc, int *yc)
{
    ykd_rng rng;
    ykd_rng_seed(&rng, seed);
    *xc = (int)ykd_rng_uniform(&rng, size / 2.0, 1.5 * size);
    *yc = (int)ykd_rng_uniform(&rng, size / 2.0, 1.5 * size);
}

ykd_status ykd_mosaic_apply(const ykd_image imgs[4], int size, int xc, int yc,
                            const ykd_pixel_box *const boxes[4], const size_t counts[4],
                            ykd_image *canvas, ykd_pixel_box *out, size_t *out_count,
                            ykd_error *err)
{
    *out_count = 0;
    ykd_status st = ykd_image_init(canvas, 2 * size, 2 * size, YKD_PAD_VALUE, err);
    if (st != YKD_OK)
        return st;
    for (int k = 0; k < 4; k++) {
        const ykd_image *im = &imgs[k];
        /* the corner of image k that touches the centre */
        int x = (k & 1) ? xc : xc - im->width;
        int y = (k & 2) ? yc : yc - im->height;
        ykd_image_paste(canvas, im, x, y);
        for (size_t i = 0; i < counts[k]; i++) {
            ykd_pixel_box b = boxes[k][i];
            b.x1 += x, b.x2 += x, b.y1 += y, b.y2 += y;
            out[(*out_count)++] = b;
        }
    }
    *out_count = ykd_boxes_clip(out, *out_count, 2.0f * size, 2.0f * size, false);
    return YKD_OK;
}
