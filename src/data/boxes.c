/* Box conversions, and clipping with the rule that drops boxes a transform left too small. */
#include <math.h>

#include "data/transform.h"

void ykd_boxes_to_pixels(const ykd_box *in, size_t count, int w, int h, ykd_pixel_box *out)
{
    for (size_t i = 0; i < count; i++) {
        const ykd_box *b = &in[i];
        out[i] = (ykd_pixel_box){b->cls, (b->cx - b->w / 2) * w, (b->cy - b->h / 2) * h,
                                 (b->cx + b->w / 2) * w, (b->cy + b->h / 2) * h};
    }
}

void ykd_boxes_to_normalised(const ykd_pixel_box *in, size_t count, int w, int h, ykd_box *out)
{
    for (size_t i = 0; i < count; i++) {
        const ykd_pixel_box *b = &in[i];
        out[i] = (ykd_box){b->cls, (b->x1 + b->x2) / 2 / w, (b->y1 + b->y2) / 2 / h,
                           (b->x2 - b->x1) / w, (b->y2 - b->y1) / h};
    }
}

/* Ultralytics' box_candidates: wide and tall enough, enough of the area kept, not a sliver. */
static bool is_candidate(float w0, float h0, float w1, float h1)
{
    float aspect = fmaxf(w1 / (h1 + 1e-16f), h1 / (w1 + 1e-16f));
    return w1 > YKD_BOX_MIN_SIDE && h1 > YKD_BOX_MIN_SIDE &&
           w1 * h1 / (w0 * h0 + 1e-16f) > YKD_BOX_MIN_AREA_RATIO && aspect < YKD_BOX_MAX_ASPECT;
}

size_t ykd_boxes_clip(ykd_pixel_box *boxes, size_t count, float w, float h, bool candidates)
{
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        ykd_pixel_box b = boxes[i];
        float w0 = b.x2 - b.x1, h0 = b.y2 - b.y1;
        b.x1 = fminf(fmaxf(b.x1, 0), w);
        b.x2 = fminf(fmaxf(b.x2, 0), w);
        b.y1 = fminf(fmaxf(b.y1, 0), h);
        b.y2 = fminf(fmaxf(b.y2, 0), h);
        float w1 = b.x2 - b.x1, h1 = b.y2 - b.y1;
        bool keep = candidates ? is_candidate(w0, h0, w1, h1) : (w1 > 0 && h1 > 0);
        if (keep)
            boxes[kept++] = b;
    }
    return kept;
}
