/* The training-curve picture of a run (RUN/curves.png): losses and metrics per epoch, one
 * small line plot each, as Ultralytics' results.png lays them out. */
#ifndef YOLOKD_CURVES_H
#define YOLOKD_CURVES_H

#include <stddef.h>

#include "yolokd/data.h"
#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { YKD_EPOCH_MAX_EXTRA = 5 };

/* One epoch's figures; NAN where there is none (a plot skips it and breaks its line there). */
typedef struct ykd_epoch_metrics {
    int epoch;
    double train_box, train_cls, train_dfl; /* mean training losses (with gains) */
    double val_box, val_cls, val_dfl;       /* validation losses */
    double precision, recall, map50, map50_95;
    /* the extra loss terms' parts (a distillation's KD losses, e.g. "train/kd_logit_loss"),
     * mean training values: extra_count of them, named by extra_names (the same in every row
     * of a run; not owned) */
    int extra_count;
    double extra[YKD_EPOCH_MAX_EXTRA];
    const char *const *extra_names;
} ykd_epoch_metrics;

/* The panels are laid out in two rows; each is 300 x 250 pixels. */
enum {
    YKD_CURVES_PANELS = 10,
    YKD_CURVES_COLUMNS = (YKD_CURVES_PANELS + 1) / 2,
    YKD_CURVES_WIDTH = 300 * YKD_CURVES_COLUMNS,
    YKD_CURVES_HEIGHT = 500
};

/* The plot's title of panel i (0 .. YKD_CURVES_PANELS), e.g. "train/box_loss", and the value
 * it shows of an epoch. */
const char *ykd_curves_title(int panel);
double ykd_curves_value(const ykd_epoch_metrics *row, int panel); /* extra series too */

/* Draws the plots (train losses, precision, recall over val losses, mAP@0.5, mAP@0.5:0.95)
 * into a new YKD_CURVES_WIDTH x YKD_CURVES_HEIGHT image: each series as points joined by a
 * line, beside it the series smoothed as Ultralytics' results.png does (a Gaussian filter,
 * sigma 3 epochs, dashed), and axis ticks at round numbers. The extra series (a distillation's KD losses) get a third row below,
 * YKD_CURVES_HEIGHT / 2 high. rows may be empty. */
ykd_status ykd_curves_draw(const ykd_epoch_metrics *rows, size_t count, ykd_image *out,
                           ykd_error *err);

/* The same written as a PNG at path (atomically). */
ykd_status ykd_curves_write(const char *path, const ykd_epoch_metrics *rows, size_t count,
                            ykd_error *err);

/* Where panel i's plot area lies and how a point maps into it: x = left + (epoch - e0) * sx,
 * y = top + height - 1 - (value - v0) * sy, rounded to the nearest pixel. For tests, and for
 * callers that annotate the picture. */
typedef struct ykd_curves_axes {
    int left, top, width, height; /* the plot area */
    double e0, sx, v0, sy;
} ykd_curves_axes;

void ykd_curves_axes_of(const ykd_epoch_metrics *rows, size_t count, int panel,
                        ykd_curves_axes *axes);

#ifdef __cplusplus
}
#endif

#endif
