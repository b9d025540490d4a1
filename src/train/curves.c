/* RUN/curves.png: one line plot per loss and metric, two rows of five, drawn with the data
 * layer's font and written with its PNG encoder. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "yolokd/curves.h"

enum {
    PANEL_W = YKD_CURVES_WIDTH / 5,
    PANEL_H = YKD_CURVES_HEIGHT / 2,
    PLOT_LEFT = 58, /* room for the value labels */
    PLOT_TOP = 26,  /* room for the title */
    PLOT_W = PANEL_W - PLOT_LEFT - 14,
    PLOT_H = PANEL_H - PLOT_TOP - 30, /* room for the epoch labels */
    GLYPH_ADVANCE = 6                 /* the 5x7 font's cell, scale 1 */
};

static const uint8_t ink[3] = {40, 40, 40};
static const uint8_t frame[3] = {170, 170, 170}, grid[3] = {228, 228, 228};
static const uint8_t line[3] = {31, 119, 180};

static const struct {
    const char *title;
    size_t offset;
} panels[YKD_CURVES_PANELS] = {
    {"train/box_loss", offsetof(ykd_epoch_metrics, train_box)},
    {"train/cls_loss", offsetof(ykd_epoch_metrics, train_cls)},
    {"train/dfl_loss", offsetof(ykd_epoch_metrics, train_dfl)},
    {"metrics/precision", offsetof(ykd_epoch_metrics, precision)},
    {"metrics/recall", offsetof(ykd_epoch_metrics, recall)},
    {"val/box_loss", offsetof(ykd_epoch_metrics, val_box)},
    {"val/cls_loss", offsetof(ykd_epoch_metrics, val_cls)},
    {"val/dfl_loss", offsetof(ykd_epoch_metrics, val_dfl)},
    {"metrics/mAP50", offsetof(ykd_epoch_metrics, map50)},
    {"metrics/mAP50-95", offsetof(ykd_epoch_metrics, map50_95)},
};

const char *ykd_curves_title(int panel)
{
    return panel >= 0 && panel < YKD_CURVES_PANELS ? panels[panel].title : "";
}

double ykd_curves_value(const ykd_epoch_metrics *row, int panel)
{
    if (panel >= YKD_CURVES_PANELS)
        return panel - YKD_CURVES_PANELS < row->extra_count ? row->extra[panel - YKD_CURVES_PANELS]
                                                            : NAN;
    return *(const double *)((const char *)row + panels[panel].offset);
}

/* The extra series the rows carry (their first row's count). */
static int extra_panels(const ykd_epoch_metrics *rows, size_t count)
{
    int n = count > 0 && rows[0].extra_names ? rows[0].extra_count : 0;
    return n < 0 ? 0 : n > YKD_EPOCH_MAX_EXTRA ? YKD_EPOCH_MAX_EXTRA : n;
}

void ykd_curves_axes_of(const ykd_epoch_metrics *rows, size_t count, int panel, ykd_curves_axes *a)
{
    a->left = (panel % 5) * PANEL_W + PLOT_LEFT;
    a->top = (panel / 5) * PANEL_H + PLOT_TOP;
    a->width = PLOT_W;
    a->height = PLOT_H;
    double lo = INFINITY, hi = -INFINITY, first = INFINITY, last = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        double v = ykd_curves_value(&rows[i], panel);
        first = fmin(first, rows[i].epoch), last = fmax(last, rows[i].epoch);
        if (isfinite(v))
            lo = fmin(lo, v), hi = fmax(hi, v);
    }
    if (lo > hi) /* nothing to show: a unit range */
        lo = 0.0, hi = 1.0;
    double pad = hi > lo ? (hi - lo) * 0.05 : (lo != 0.0 ? fabs(lo) * 0.1 : 0.5);
    if (first >= last) /* one epoch (or none): centred */
        first = (first > last ? 0.0 : first) - 1.0, last = first + 2.0;
    a->e0 = first;
    a->sx = (PLOT_W - 1) / (last - first);
    a->v0 = lo >= 0.0 && lo - pad < 0.0 ? 0.0 : lo - pad; /* no negative axis for losses */
    a->sy = (PLOT_H - 1) / (hi + pad - a->v0);
}

static void put(ykd_image *img, int x, int y, const uint8_t rgb[3])
{
    if (x >= 0 && y >= 0 && x < img->width && y < img->height)
        memcpy(img->pixels + ((size_t)y * img->width + x) * 3, rgb, 3);
}

/* Bresenham's line, two pixels thick (the row below doubles it). */
static void draw_line(ykd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    int dx = x1 > x0 ? x1 - x0 : x0 - x1, sx = x0 < x1 ? 1 : -1;
    int dy = y1 > y0 ? y0 - y1 : y1 - y0, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        put(img, x0, y0, rgb);
        put(img, x0, y0 + 1, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy)
            e += dy, x0 += sx;
        if (e2 <= dx)
            e += dx, y0 += sy;
    }
}

static void point_of(const ykd_curves_axes *a, double epoch, double v, int *x, int *y)
{
    *x = a->left + (int)lround((epoch - a->e0) * a->sx);
    *y = a->top + a->height - 1 - (int)lround((v - a->v0) * a->sy);
}

/* Frame, grid lines with their values, the first and last epoch, and the title. */
static void draw_axes(ykd_image *img, const ykd_curves_axes *a, const ykd_epoch_metrics *rows,
                      size_t count, int panel)
{
    const char *title = panel < YKD_CURVES_PANELS ? ykd_curves_title(panel)
                                                  : rows[0].extra_names[panel - YKD_CURVES_PANELS];
    int title_w = (int)strlen(title) * GLYPH_ADVANCE;
    ykd_draw_text(img, a->left + (a->width - title_w) / 2, a->top - 18, title, 1, ink);
    for (int k = 0; k <= 4; k++) {
        int y = a->top + (a->height - 1) * k / 4;
        double v = a->v0 + (a->top + a->height - 1 - y) / a->sy;
        for (int x = a->left; x < a->left + a->width; x++)
            put(img, x, y, grid);
        char label[32];
        snprintf(label, sizeof label, "%.3g", v);
        int w = (int)strlen(label) * GLYPH_ADVANCE;
        ykd_draw_text(img, a->left - 6 - w, y - 3, label, 1, ink);
    }
    ykd_draw_rect(img, a->left - 1, a->top - 1, a->left + a->width, a->top + a->height, 1, frame);
    for (size_t i = 0; i<count; i += count> 1 ? count - 1 : 1) {
        char label[16];
        snprintf(label, sizeof label, "%d", rows[i].epoch);
        int x, y;
        point_of(a, rows[i].epoch, a->v0, &x, &y);
        int w = (int)strlen(label) * GLYPH_ADVANCE;
        ykd_draw_text(img, x - w / 2, a->top + a->height + 6, label, 1, ink);
    }
}

/* The series: segments between consecutive finite values, a dot at each. */
static void draw_series(ykd_image *img, const ykd_curves_axes *a, const ykd_epoch_metrics *rows,
                        size_t count, int panel)
{
    int px = 0, py = 0;
    bool have_previous = false;
    for (size_t i = 0; i < count; i++) {
        double v = ykd_curves_value(&rows[i], panel);
        if (!isfinite(v)) {
            have_previous = false;
            continue;
        }
        int x, y;
        point_of(a, rows[i].epoch, v, &x, &y);
        if (have_previous)
            draw_line(img, px, py, x, y, line);
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                put(img, x + dx, y + dy, line);
        px = x, py = y, have_previous = true;
    }
}

ykd_status ykd_curves_draw(const ykd_epoch_metrics *rows, size_t count, ykd_image *out,
                           ykd_error *err)
{
    if (count > 0 && !rows)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "curves: %zu rows but no array", count);
    int extra = extra_panels(rows, count);
    ykd_status st = ykd_image_init(out, YKD_CURVES_WIDTH,
                                   extra ? YKD_CURVES_HEIGHT + PANEL_H : YKD_CURVES_HEIGHT, 255,
                                   err);
    if (st != YKD_OK)
        return st;
    for (int p = 0; p < YKD_CURVES_PANELS + extra; p++) {
        ykd_curves_axes a;
        ykd_curves_axes_of(rows, count, p, &a);
        draw_axes(out, &a, rows, count, p);
        draw_series(out, &a, rows, count, p);
    }
    return YKD_OK;
}

ykd_status ykd_curves_write(const char *path, const ykd_epoch_metrics *rows, size_t count,
                            ykd_error *err)
{
    ykd_image img = {0};
    ykd_status st = ykd_curves_draw(rows, count, &img, err);
    if (st == YKD_OK)
        st = ykd_png_write(path, &img, err);
    ykd_image_free(&img);
    return st;
}
