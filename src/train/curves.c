/* RUN/curves.png: one line plot per loss and metric in two rows, as Ultralytics' results.png:
 * the points joined by a line, the series smoothed beside it (dashed), ticks at round
 * numbers; drawn with the data layer's font and written with its PNG encoder. The panels come
 * from one table: a series more is an entry more (and YKD_CURVES_PANELS one more). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/curves_internal.h"
#include "yolokd/curves.h"

enum {
    PANEL_W = YKD_CURVES_WIDTH / YKD_CURVES_COLUMNS,
    PANEL_H = YKD_CURVES_HEIGHT / 2,
    PLOT_LEFT = 58, /* room for the value labels */
    PLOT_TOP = 26,  /* room for the title */
    PLOT_W = PANEL_W - PLOT_LEFT - 14,
    PLOT_H = PANEL_H - PLOT_TOP - 30, /* room for the epoch labels */
    GLYPH_ADVANCE = 6,                /* the 5x7 font's cell, scale 1 */
    MAX_VALUE_TICKS = 6,
    MAX_EPOCH_TICKS = 6,
    MIN_MARKER_SPACING = 6, /* pixels between epochs for a dot at each */
    DASH_ON = 5, DASH_OFF = 4 /* the smoothed line's dashes, in pixels along the line */
};

/* Ultralytics smooths each series with gaussian_filter1d(y, sigma=3) */
static const double smoothing_sigma = 3.0;

static const uint8_t ink[3] = {40, 40, 40};
static const uint8_t frame[3] = {170, 170, 170}, grid[3] = {228, 228, 228};
static const uint8_t line[3] = {31, 119, 180};     /* matplotlib's first colour, as Ultralytics */
static const uint8_t smoothed[3] = {255, 127, 14}; /* and its second */

static const struct {
    const char *title;
    size_t offset;
} panels[] = {
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
_Static_assert(sizeof panels / sizeof panels[0] == YKD_CURVES_PANELS,
               "YKD_CURVES_PANELS counts the panels");

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
    a->left = (panel % YKD_CURVES_COLUMNS) * PANEL_W + PLOT_LEFT;
    a->top = (panel / YKD_CURVES_COLUMNS) * PANEL_H + PLOT_TOP;
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

/* Bresenham's line, two pixels thick (the row below doubles it); dashed when dash is given
 * (the distance drawn so far along the polyline, so dashes run on across its segments). */
static void draw_line(ykd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                      int *dash)
{
    int dx = x1 > x0 ? x1 - x0 : x0 - x1, sx = x0 < x1 ? 1 : -1;
    int dy = y1 > y0 ? y0 - y1 : y1 - y0, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        if (!dash || *dash % (DASH_ON + DASH_OFF) < DASH_ON) {
            put(img, x0, y0, rgb);
            put(img, x0, y0 + 1, rgb);
        }
        if (x0 == x1 && y0 == y1)
            break;
        if (dash)
            ++*dash;
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

/* Text whose right end (align 1) or centre (align 0) is at x. */
static void draw_text_at(ykd_image *img, int x, int y, const char *text, int align)
{
    int w = (int)strlen(text) * GLYPH_ADVANCE;
    ykd_draw_text(img, align ? x - w : x - w / 2, y, text, 1, ink);
}

/* Frame, grid lines at round values with their labels, round epochs below, and the title. */
static void draw_axes(ykd_image *img, const ykd_curves_axes *a, bool has_epochs, int panel,
                      const char *const *extra_names)
{
    const char *title = panel < YKD_CURVES_PANELS ? ykd_curves_title(panel)
                                                  : extra_names[panel - YKD_CURVES_PANELS];
    draw_text_at(img, a->left + a->width / 2, a->top - 18, title, 0);
    char label[32];
    double first, step, top_value = a->v0 + (a->height - 1) / a->sy;
    int ticks = ykd_ticks_choose(a->v0, top_value, MAX_VALUE_TICKS, 0.0, &first, &step);
    for (int k = 0; k < ticks; k++) {
        double v = (round(first / step) + k) * step;
        int x, y;
        point_of(a, a->e0, v, &x, &y);
        for (x = a->left; x < a->left + a->width; x++)
            put(img, x, y, grid);
        /* + 0.0 turns a -0 into 0, which prints without a sign */
        snprintf(label, sizeof label, "%.*f", ykd_ticks_decimals(step), v + 0.0);
        draw_text_at(img, a->left - 6, y - 3, label, 1);
    }
    ykd_draw_rect(img, a->left - 1, a->top - 1, a->left + a->width, a->top + a->height, 1, frame);
    double last_epoch = a->e0 + (a->width - 1) / a->sx;
    ticks = has_epochs ? ykd_ticks_choose(a->e0, last_epoch, MAX_EPOCH_TICKS, 1.0, &first, &step)
                       : 0;
    for (int k = 0; k < ticks; k++) {
        double epoch = (round(first / step) + k) * step;
        int x, y;
        point_of(a, epoch, a->v0, &x, &y);
        for (int tick = 1; tick <= 3; tick++)
            put(img, x, a->top + a->height + tick, frame);
        snprintf(label, sizeof label, "%.0f", epoch);
        draw_text_at(img, x, a->top + a->height + 6, label, 0);
    }
}

/* The series: segments between consecutive finite values; with markers, a dot at each. */
static void draw_series(ykd_image *img, const ykd_curves_axes *a, const ykd_epoch_metrics *rows,
                        size_t count, int panel, bool markers)
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
        if (have_previous && !markers)
            draw_line(img, px, py, x, y, line, NULL);
        for (int dy = -1; dy <= 1 && markers; dy++)
            for (int dx = -1; dx <= 1; dx++)
                put(img, x + dx, y + dy, line);
        px = x, py = y, have_previous = true;
    }
}

/* The smoothed series, dashed: each run of consecutive finite values filtered on its own (a
 * gap breaks the smoothing as it breaks the line). */
static ykd_status draw_smoothed(ykd_image *img, const ykd_curves_axes *a,
                                const ykd_epoch_metrics *rows, size_t count, int panel,
                                ykd_error *err)
{
    double *values = malloc(2 * (count ? count : 1) * sizeof *values);
    if (!values)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "curves: %zu epochs of smoothing", count);
    double *smooth = values + count;
    for (size_t start = 0; start < count;) {
        size_t n = 0;
        while (start + n < count && isfinite(ykd_curves_value(&rows[start + n], panel))) {
            values[n] = ykd_curves_value(&rows[start + n], panel);
            n++;
        }
        if (n >= 2) {
            ykd_smooth_gaussian(values, n, smoothing_sigma, smooth);
            int dash = 0, px = 0, py = 0;
            for (size_t i = 0; i < n; i++) {
                int x, y;
                point_of(a, rows[start + i].epoch, smooth[i], &x, &y);
                if (i > 0)
                    draw_line(img, px, py, x, y, smoothed, &dash);
                px = x, py = y;
            }
        }
        start += n + 1;
    }
    free(values);
    return YKD_OK;
}

/* Which line is which, in the first panel's top right corner, as Ultralytics' legend. */
static void draw_legend(ykd_image *img, const ykd_curves_axes *a)
{
    int x = a->left + a->width - 80, y = a->top + 6;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
            put(img, x + 8 + dx, y + 3 + dy, line);
    draw_line(img, x, y + 3, x + 16, y + 3, line, NULL);
    ykd_draw_text(img, x + 22, y, "results", 1, ink);
    int dash = 0;
    draw_line(img, x, y + 14, x + 16, y + 14, smoothed, &dash);
    ykd_draw_text(img, x + 22, y + 11, "smooth", 1, ink);
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
        draw_axes(out, &a, count > 0, p, extra ? rows[0].extra_names : NULL);
        /* the line, the smoothed line over it, then the points over both, where they are far
         * enough apart not to bury the smoothed line */
        draw_series(out, &a, rows, count, p, false);
        st = draw_smoothed(out, &a, rows, count, p, err);
        if (st != YKD_OK) {
            ykd_image_free(out);
            return st;
        }
        if (a.sx >= MIN_MARKER_SPACING)
            draw_series(out, &a, rows, count, p, true);
    }
    ykd_curves_axes first;
    ykd_curves_axes_of(rows, count, 0, &first);
    draw_legend(out, &first);
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
