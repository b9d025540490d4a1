/* Input checks of the YOLOv8 loss: head outputs, their gradients and the targets. Everything a
 * kernel would read out of bounds or misread is refused here, with the tensor or label named. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"
#include "train/loss_yolo_internal.h"

static const char op[] = "yolo_loss";

/* Names for messages: "level 1 box logits", "level 0 class-logit gradient". */
typedef struct level_names {
    char box[48], cls[48];
} level_names;

static void name_level(int l, const char *what_box, const char *what_cls, level_names *n)
{
    snprintf(n->box, sizeof n->box, "level %d %s", l, what_box);
    snprintf(n->cls, sizeof n->cls, "level %d %s", l, what_cls);
}

/* Box [N, 64, H, W] and class [N, nc, H, W] of one level, on the loss's device. */
static ykd_status check_pair(const ykd_yolo_loss *loss, const ykd_tensor *box,
                             const ykd_tensor *cls, const level_names *names, int n, int h, int w,
                             ykd_error *err)
{
    if (!box || !cls)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: %s is missing", op,
                        !box ? names->box : names->cls);
    const ykd_tensor *tensors[2] = {box, cls};
    const char *tensor_names[2] = {names->box, names->cls};
    ykd_status st = ykd_op_check_operands(op, tensors, tensor_names, 2, err);
    if (st != YKD_OK)
        return st;
    if (ykd_tensor_device(box) != loss->device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: %s is on device %d but the loss was made for device %d; copy it "
                        "first",
                        op, names->box, ykd_tensor_device(box)->info.index,
                        loss->device->info.index);
    st = ykd_op_expect_shape(op, names->box, box, n, YKD_YOLO_BOX_CHANNELS, h, w, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, names->cls, cls, n, loss->nc, h, w, err);
    return st;
}

static ykd_status check_levels(const ykd_yolo_loss *loss, const ykd_yolo_level *levels, int count,
                               const ykd_yolo_level *grads, ykd_yolo_geometry *geo, ykd_error *err)
{
    if (!levels || count < 1 || count > YKD_YOLO_MAX_LEVELS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: %d levels given, expected 1 to %d", op,
                        count, YKD_YOLO_MAX_LEVELS);
    if (!levels[0].box)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: level 0 box logits is missing", op);
    geo->levels = count;
    geo->images = levels[0].box->n;
    int64_t anchors = 0;
    for (int l = 0; l < count; l++) {
        const ykd_yolo_level *lv = &levels[l];
        level_names names;
        name_level(l, "box logits", "class logits", &names);
        int h = lv->box ? lv->box->h : 0, w = lv->box ? lv->box->w : 0;
        ykd_status st = check_pair(loss, lv->box, lv->cls, &names, geo->images, h, w, err);
        if (st != YKD_OK)
            return st;
        if (lv->stride <= 0 || lv->stride > 4096)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: level %d has stride %d", op, l,
                            lv->stride);
        int64_t in_h = (int64_t)geo->h[0] * geo->stride[0],
                in_w = (int64_t)geo->w[0] * geo->stride[0];
        if (l > 0 && ((int64_t)h * lv->stride != in_h || (int64_t)w * lv->stride != in_w))
            return ykd_fail(err, YKD_ERR_SHAPE,
                            "%s: level %d is %dx%d at stride %d, which does not cover the "
                            "%lldx%lld input of level 0 (%dx%d at stride %d)",
                            op, l, h, w, lv->stride, (long long)in_w, (long long)in_h, geo->h[0],
                            geo->w[0], geo->stride[0]);
        if ((int64_t)h * w * loss->nc > INT32_MAX / 2)
            return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                            "%s: level %d has %lld class logits per "
                            "image, too many for 32-bit indices",
                            op, l, (long long)h * w * loss->nc);
        geo->h[l] = h, geo->w[l] = w, geo->stride[l] = lv->stride;
        geo->first[l] = (int)anchors;
        anchors += (int64_t)h * w;
        geo->groups[l] = (size_t)((h * w + YKD_YOLO_GROUP - 1) / YKD_YOLO_GROUP) * geo->images;
        geo->cls_groups[l] =
            ((size_t)h * w * loss->nc + YKD_YOLO_GROUP - 1) / YKD_YOLO_GROUP * geo->images;
        if (grads) {
            name_level(l, "box-logit gradient", "class-logit gradient", &names);
            st = check_pair(loss, grads[l].box, grads[l].cls, &names, geo->images, h, w, err);
            if (st != YKD_OK)
                return st;
        }
    }
    if (anchors * geo->images > INT32_MAX / 4)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "%s: %d images of %lld anchors are too many", op,
                        geo->images, (long long)anchors);
    geo->anchors = (int)anchors;
    return YKD_OK;
}

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
    if (targets->max_boxes > 65536)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "%s: %zu boxes per image are too many", op,
                        targets->max_boxes);
    geo->max_boxes = (int)targets->max_boxes;
    size_t slots = targets->max_boxes * (size_t)loss->options.topk;
    geo->box_groups = (slots + YKD_YOLO_GROUP - 1) / YKD_YOLO_GROUP * geo->images;
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
                               const ykd_yolo_level *grads, ykd_yolo_geometry *geo, ykd_error *err)
{
    *geo = (ykd_yolo_geometry){0};
    ykd_status st = check_levels(loss, levels, level_count, grads, geo, err);
    if (st == YKD_OK)
        st = check_targets(loss, targets, geo, err);
    if (st == YKD_OK)
        lay_out_partials(geo);
    return st;
}
