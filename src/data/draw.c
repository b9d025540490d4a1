/* Drawing detections into an image: box outlines and "name 0.87" tags in the built-in font. */
#include <stdio.h>
#include <string.h>

#include "yolokd/data.h"

enum { GLYPH_W = 5, GLYPH_H = 7 };

static const uint8_t palette[][3] = {
    {230, 25, 75},   {60, 180, 75},   {255, 225, 25},  {0, 130, 200},   {245, 130, 48},
    {145, 30, 180},  {70, 240, 240},  {240, 50, 230},  {210, 245, 60},  {250, 190, 212},
    {0, 128, 128},   {220, 190, 255}, {170, 110, 40},  {255, 250, 200}, {128, 0, 0},
    {170, 255, 195}, {128, 128, 0},   {255, 215, 180}, {0, 0, 128},     {128, 128, 128},
};

void ykd_draw_class_color(int cls, uint8_t rgb[3])
{
    size_t n = sizeof palette / sizeof palette[0];
    size_t k = cls < 0 ? 0 : (size_t)cls % n;
    memcpy(rgb, palette[k], 3);
}

/* A filled rectangle [x1,x2) x [y1,y2), clipped. */
static void fill_rect(ykd_image *img, int x1, int y1, int x2, int y2, const uint8_t rgb[3])
{
    x1 = x1 < 0 ? 0 : x1, y1 = y1 < 0 ? 0 : y1;
    x2 = x2 > img->width ? img->width : x2, y2 = y2 > img->height ? img->height : y2;
    for (int y = y1; y < y2; y++)
        for (int x = x1; x < x2; x++)
            memcpy(img->pixels + ((size_t)y * img->width + x) * 3, rgb, 3);
}

void ykd_draw_rect(ykd_image *img, int x1, int y1, int x2, int y2, int thickness,
                   const uint8_t rgb[3])
{
    if (x2 < x1 || y2 < y1 || thickness < 1)
        return;
    fill_rect(img, x1, y1, x2 + 1, y1 + thickness, rgb);         /* top */
    fill_rect(img, x1, y2 + 1 - thickness, x2 + 1, y2 + 1, rgb); /* bottom */
    fill_rect(img, x1, y1, x1 + thickness, y2 + 1, rgb);         /* left */
    fill_rect(img, x2 + 1 - thickness, y1, x2 + 1, y2 + 1, rgb); /* right */
}

int ykd_draw_text(ykd_image *img, int x, int y, const char *text, int scale, const uint8_t rgb[3])
{
    int start = x;
    scale = scale < 1 ? 1 : scale;
    for (const char *c = text; *c; c++, x += (GLYPH_W + 1) * scale) {
        const char *g = ykd_font_glyph(*c);
        if (!g) { /* no glyph: an outlined box, so the gap is visible */
            ykd_draw_rect(img, x, y, x + GLYPH_W * scale - 1, y + GLYPH_H * scale - 1, 1, rgb);
            continue;
        }
        for (int r = 0; r < GLYPH_H; r++)
            for (int k = 0; k < GLYPH_W; k++)
                if (g[r * GLYPH_W + k] == '#')
                    fill_rect(img, x + k * scale, y + r * scale, x + (k + 1) * scale,
                              y + (r + 1) * scale, rgb);
    }
    return x - start;
}

/* The tag's text colour: black on light colours, white on dark ones. */
static void text_color_on(const uint8_t bg[3], uint8_t out[3])
{
    int luma = (299 * bg[0] + 587 * bg[1] + 114 * bg[2]) / 1000;
    memset(out, luma > 140 ? 0 : 255, 3);
}

void ykd_draw_detections(ykd_image *img, const ykd_detection *dets, size_t count,
                         const char *const *names, size_t name_count)
{
    int longest = img->width > img->height ? img->width : img->height;
    int scale = longest >= 960 ? 2 : 1, thickness = longest >= 640 ? 2 : 1;
    for (size_t i = 0; i < count; i++) {
        const ykd_detection *d = &dets[i];
        uint8_t color[3], ink[3];
        ykd_draw_class_color(d->cls, color);
        text_color_on(color, ink);
        int x1 = (int)d->x1, y1 = (int)d->y1, x2 = (int)d->x2, y2 = (int)d->y2;
        ykd_draw_rect(img, x1, y1, x2, y2, thickness, color);
        char label[300];
        if (names && d->cls >= 0 && (size_t)d->cls < name_count)
            snprintf(label, sizeof label, "%s %.2f", names[d->cls], (double)d->score);
        else
            snprintf(label, sizeof label, "%d %.2f", d->cls, (double)d->score);
        int tag_w = (int)strlen(label) * (GLYPH_W + 1) * scale + scale;
        int tag_h = (GLYPH_H + 2) * scale;
        /* above the box, or inside it when the box touches the top */
        int ty = y1 - tag_h >= 0 ? y1 - tag_h : y1;
        fill_rect(img, x1, ty, x1 + tag_w, ty + tag_h, color);
        ykd_draw_text(img, x1 + scale, ty + scale, label, scale, ink);
    }
}
