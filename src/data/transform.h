/* Internal: pieces the transforms share (sampling, placing, box conversion and filtering). */
#ifndef YKD_DATA_TRANSFORM_H
#define YKD_DATA_TRANSFORM_H

#include "yolokd/data.h"

/* Fills dst (already allocated) from src by bilinear sampling along separate axes: the
 * centre of dst pixel x samples src at continuous position u = (x + 0.5) * ax + bx (likewise
 * y). With clamp, positions outside src take the edge; without, they get the pad value. */
void ykd_image_sample(const ykd_image *src, ykd_image *dst, double ax, double bx, double ay,
                      double by, bool clamp);

/* Fills dst (already allocated, no larger than src on either axis) with src averaged over
 * the area each dst pixel covers (OpenCV's INTER_AREA when shrinking). */
ykd_status ykd_image_resize_area(const ykd_image *src, ykd_image *dst, ykd_error *err);

/* Copies src into dst with its top-left at (x, y), cut at dst's edges. */
void ykd_image_paste(ykd_image *dst, const ykd_image *src, int x, int y);

/* Normalised boxes of a w x h image to pixels, and back. */
void ykd_boxes_to_pixels(const ykd_box *in, size_t count, int w, int h, ykd_pixel_box *out);
void ykd_boxes_to_normalised(const ykd_pixel_box *in, size_t count, int w, int h, ykd_box *out);

/* Clips boxes to [0,w] x [0,h] and keeps, in order, those that pass: with candidates, the
 * box_candidates rule (data.h, against each box's area before clipping); without, any area
 * left. Returns how many remain. */
size_t ykd_boxes_clip(ykd_pixel_box *boxes, size_t count, float w, float h, bool candidates);

/* The size of a w x h image resized so that it fits size x size with its aspect kept (its long
 * side becomes size; each side rounded, at least 1). */
void ykd_fit_size(int w, int h, int size, int *fit_w, int *fit_h);

/* HSV to RGB: h6 the hue in sixths of a turn (0 to 6), s 0..1, v 0..255. */
void ykd_hsv_to_rgb(float h6, float s, float v, uint8_t rgb[3]);

#endif
