/* Letterbox: the whole image in a square, aspect kept, gray bars around it. */
#include <math.h>

#include "core/error_internal.h"
#include "data/transform.h"
#include "yolokd/data.h"

void ykd_fit_size(int w, int h, int size, int *fit_w, int *fit_h)
{
    double r = fmin((double)size / w, (double)size / h);
    int fw = (int)lround(w * r), fh = (int)lround(h * r);
    *fit_w = fw < 1 ? 1 : (fw > size ? size : fw);
    *fit_h = fh < 1 ? 1 : (fh > size ? size : fh);
}

ykd_status ykd_letterbox(const ykd_image *src, int size, ykd_box *boxes, size_t count,
                         ykd_image *dst, ykd_letterbox_info *info, ykd_error *err)
{
    if (size <= 0 || src->width <= 0 || src->height <= 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "letterbox of a %dx%d image to %d",
                        src->width, src->height, size);
    int w, h;
    ykd_fit_size(src->width, src->height, size, &w, &h);
    ykd_status st = ykd_image_init(dst, size, size, YKD_PAD_VALUE, err);
    if (st != YKD_OK)
        return st;
    ykd_letterbox_info li = {
        (float)w / src->width, (float)h / src->height, (size - w) / 2, (size - h) / 2, w, h};
    ykd_image inner = {0};
    if (w == src->width && h == src->height) {
        ykd_image_paste(dst, src, li.pad_x, li.pad_y);
    } else if ((st = ykd_image_resize(src, w, h, &inner, err)) == YKD_OK) {
        ykd_image_paste(dst, &inner, li.pad_x, li.pad_y);
        ykd_image_free(&inner);
    } else {
        ykd_image_free(dst);
        return st;
    }
    for (size_t i = 0; i < count; i++) {
        ykd_box *b = &boxes[i];
        b->cx = (b->cx * w + li.pad_x) / size;
        b->cy = (b->cy * h + li.pad_y) / size;
        b->w = b->w * w / size;
        b->h = b->h * h / size;
    }
    if (info)
        *info = li;
    return YKD_OK;
}
