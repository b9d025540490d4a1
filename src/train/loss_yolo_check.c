/* Input checks of the YOLOv8 loss: head outputs and their gradients (yolo_head_check.c), the
 * targets, and the work-group counts and partial-sum layout that follow from them. Everything a
 * kernel would read out of bounds or misread is refused, with the tensor or label named. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "train/loss_yolo_internal.h"
#include "yolokd/data.h"

static const char op[] = "yolo_loss";

/* One label row: an integer class in [0, nc) and a finite box of non-negative size. */
static ykd_status check_row(const float *row, int nc, int image, int box, ykd_error *err)
{
    float c = row[0];
    if (!(c >= 0.0f && c < (float)nc && c == floorf(c)))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: labels of image %d, box %d: class %g is not one of the %d classes "
                        "(0 to %d)",
                        op, image, box, c, nc, nc - 1);
    for (int k = 1; k < 5; k++)
        if (!isfinite(row[k]))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "%s: labels of image %d, box %d: value %d is %g", op, image, box, k,
                            row[k]);
    if (row[3] < 0.0f || row[4] < 0.0f)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: labels of image %d, box %d: negative size %g x %g", op, image, box,
                        row[3], row[4]);
    return YKD_OK;
}

static ykd_status check_targets(const ykd_yolo_loss *loss, const ykd_yolo_targets *targets,
                                ykd_yolo_geometry *geo, ykd_error *err)
{
    if (!targets || !targets->box_counts)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: targets or box counts missing", op);
    if (targets->max_boxes > YKD_YOLO_MAX_BOXES)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "%s: %zu boxes per image are too many", op,
                        targets->max_boxes);
    geo->max_boxes = (int)targets->max_boxes;
    size_t slots = targets->max_boxes * (size_t)loss->options.topk;
    geo->box_groups = (slots + geo->group - 1) / geo->group * geo->images;
    for (int i = 0; i < geo->images; i++) {
        int count = targets->box_counts[i];
        if (count < 0 || count > geo->max_boxes)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "%s: image %d has %d boxes, outside 0 to max_boxes (%d)", op, i, count,
                            geo->max_boxes);
        if (count > 0 && !targets->labels)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: labels are missing", op);
        for (int b = 0; b < count; b++) {
            const float *row = targets->labels + ((size_t)i * geo->max_boxes + b) * 5;
            ykd_status st = check_row(row, loss->nc, i, b, err);
            if (st != YKD_OK)
                return st;
        }
    }
    return YKD_OK;
}

/* Where each kernel's partial sums go (see ykd_yolo_geometry). */
static void lay_out_partials(ykd_yolo_geometry *geo)
{
    size_t at = 2 * (size_t)geo->images;
    for (int l = 0; l < geo->levels; l++) {
        geo->decode_at[l] = at;
        at += geo->groups[l];
    }
    for (int l = 0; l < geo->levels; l++) {
        geo->cls_at[l] = at;
        at += geo->cls_groups[l];
    }
    geo->box_at = at;
    geo->partials = at + 2 * geo->box_groups;
}

ykd_status ykd_yolo_loss_check(const ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                               int level_count, const ykd_yolo_targets *targets,
                               const ykd_yolo_level *grads, size_t group, ykd_yolo_geometry *geo,
                               ykd_error *err)
{
    *geo = (ykd_yolo_geometry){.group = group};
    ykd_status st =
        ykd_yolo_head_check(op, loss->device, loss->nc, levels, level_count, grads, geo, err);
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        size_t cells = (size_t)geo->h[l] * geo->w[l];
        geo->groups[l] = (cells + geo->group - 1) / geo->group * geo->images;
        geo->cls_groups[l] = (cells * loss->nc + geo->group - 1) / geo->group * geo->images;
    }
    if (st == YKD_OK)
        st = check_targets(loss, targets, geo, err);
    if (st == YKD_OK)
        lay_out_partials(geo);
    return st;
}
