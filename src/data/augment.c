/* Single-image training augmentations, YOLOv8's defaults: HSV jitter, left-right flip, and
 * random scale + translate. Each is a pure function of its inputs and a seed. */
#include <math.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/rng.h"
#include "data/transform.h"
#include "yolokd/data.h"

void ykd_augment_options_default(ykd_augment_options *o)
{
    o->hsv_h = 0.015f;
    o->hsv_s = 0.7f;
    o->hsv_v = 0.4f;
    o->flip_lr = 0.5f;
    o->scale = 0.5f;
    o->translate = 0.1f;
    o->mosaic = 1.0f;
}

/* RGB to OpenCV's 8-bit HSV: hue in degrees / 2 (0..179), saturation and value 0..255.
 * Single-precision arithmetic with rounding by +0.5: this runs on every training pixel. */
static void rgb_to_hsv(const uint8_t *rgb, uint8_t *hsv)
{
    int r = rgb[0], g = rgb[1], b = rgb[2];
    int v = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int m = r < g ? (r < b ? r : b) : (g < b ? g : b);
    int d = v - m;
    float h = 0;
    if (d > 0) {
        float k = 30.0f / (float)d; /* 60 degrees per sector, halved */
        if (v == r)
            h = (float)(g - b) * k;
        else if (v == g)
            h = 60.0f + (float)(b - r) * k;
        else
            h = 120.0f + (float)(r - g) * k;
        if (h < 0)
            h += 180.0f;
    }
    int h8 = (int)(h + 0.5f);
    hsv[0] = (uint8_t)(h8 >= 180 ? h8 - 180 : h8);
    hsv[1] = (uint8_t)(v ? (int)(255.0f * (float)d / (float)v + 0.5f) : 0);
    hsv[2] = (uint8_t)v;
}

static uint8_t round_u8(float x)
{
    x += 0.5f;
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : (int)x);
}

void ykd_hsv_to_rgb(float h6, float s, float v, uint8_t rgb[3])
{
    int sector = (int)h6;
    float f = h6 - (float)sector;
    float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float r, g, b;
    switch (sector % 6) {
    case 0:
        r = v, g = t, b = p;
        break;
    case 1:
        r = q, g = v, b = p;
        break;
    case 2:
        r = p, g = v, b = t;
        break;
    case 3:
        r = p, g = q, b = v;
        break;
    case 4:
        r = t, g = p, b = v;
        break;
    default:
        r = v, g = p, b = q;
        break;
    }
    rgb[0] = round_u8(r);
    rgb[1] = round_u8(g);
    rgb[2] = round_u8(b);
}

void ykd_augment_hsv(ykd_image *img, float hgain, float sgain, float vgain, uint64_t seed)
{
    if (hgain == 0 && sgain == 0 && vgain == 0)
        return;
    ykd_rng rng;
    ykd_rng_seed(&rng, seed);
    double gain[3] = {hgain, sgain, vgain}, r[3];
    for (int i = 0; i < 3; i++)
        r[i] = ykd_rng_uniform(&rng, -1, 1) * gain[i] + 1;
    uint8_t lut[3][256];
    for (int x = 0; x < 256; x++) {
        lut[0][x] = (uint8_t)((int)(x * r[0]) % 180);
        for (int c = 1; c < 3; c++) {
            double y = x * r[c];
            lut[c][x] = (uint8_t)(y > 255 ? 255 : y);
        }
    }
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->pixels + i * 3, hsv[3];
        rgb_to_hsv(p, hsv);
        for (int c = 0; c < 3; c++)
            hsv[c] = lut[c][hsv[c]];
        ykd_hsv_to_rgb((float)hsv[0] / 30.0f, (float)hsv[1] / 255.0f, (float)hsv[2], p);
    }
}

void ykd_flip_lr(ykd_image *img, ykd_pixel_box *boxes, size_t count)
{
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->pixels + (size_t)y * img->width * 3;
        for (int a = 0, b = img->width - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[a * 3 + c];
                row[a * 3 + c] = row[b * 3 + c];
                row[b * 3 + c] = t;
            }
    }
    for (size_t i = 0; i < count; i++) {
        float x1 = boxes[i].x1;
        boxes[i].x1 = img->width - boxes[i].x2;
        boxes[i].x2 = img->width - x1;
    }
}

ykd_status ykd_affine_apply(const ykd_image *src, int out_size, float s, float tx, float ty,
                            ykd_pixel_box *boxes, size_t *count, ykd_image *dst, ykd_error *err)
{
    if (!(s > 0))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "affine scale %g must be positive",
                        (double)s);
    ykd_status st = ykd_image_init(dst, out_size, out_size, YKD_PAD_VALUE, err);
    if (st != YKD_OK)
        return st;
    float cx = src->width / 2.0f, cy = src->height / 2.0f;
    /* x' = s (x - cx) + tx, so a destination position x' samples x = x' / s + (cx - tx / s) */
    ykd_image_sample(src, dst, 1.0 / s, cx - tx / (double)s, 1.0 / s, cy - ty / (double)s, false);
    for (size_t i = 0; i < *count; i++) {
        ykd_pixel_box *b = &boxes[i];
        b->x1 = s * (b->x1 - cx) + tx;
        b->x2 = s * (b->x2 - cx) + tx;
        b->y1 = s * (b->y1 - cy) + ty;
        b->y2 = s * (b->y2 - cy) + ty;
    }
    *count = ykd_boxes_clip(boxes, *count, (float)out_size, (float)out_size, true);
    return YKD_OK;
}

ykd_status ykd_augment_affine(const ykd_image *src, int out_size, float scale, float translate,
                              uint64_t seed, ykd_pixel_box *boxes, size_t *count, ykd_image *dst,
                              ykd_error *err)
{
    ykd_rng rng;
    ykd_rng_seed(&rng, seed);
    double s = ykd_rng_uniform(&rng, 1 - scale, 1 + scale);
    double tx = ykd_rng_uniform(&rng, 0.5 - translate, 0.5 + translate) * out_size;
    double ty = ykd_rng_uniform(&rng, 0.5 - translate, 0.5 + translate) * out_size;
    return ykd_affine_apply(src, out_size, (float)s, (float)tx, (float)ty, boxes, count, dst, err);
}
