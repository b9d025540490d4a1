/* Checks of a YOLO head's raw outputs (and of tensors shaped like them), shared by the loss and
 * the detector: every tensor named in the refusal, so a wrong wiring is found at once. */
#include <stdint.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"
#include "ops/yolo_head.h"

/* Names for messages: "level 1 box logits", "level 0 class-logit gradient". */
typedef struct level_names {
    char box[48], cls[48];
} level_names;

static void name_level(int l, const char *what_box, const char *what_cls, level_names *n)
{
    snprintf(n->box, sizeof n->box, "level %d %s", l, what_box);
    snprintf(n->cls, sizeof n->cls, "level %d %s", l, what_cls);
}

/* What the checks compare against. */
typedef struct head_spec {
    const char *op;
    const ykd_device *device;
    int nc;
} head_spec;

/* Box [n, 64, h, w] and class [n, nc, h, w] of one level, on the expected device. */
static ykd_status check_pair(const head_spec *spec, const ykd_tensor *box, const ykd_tensor *cls,
                             const level_names *names, int n, int h, int w, ykd_error *err)
{
    const char *op = spec->op;
    if (!box || !cls)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: %s is missing", op,
                        !box ? names->box : names->cls);
    const ykd_tensor *tensors[2] = {box, cls};
    const char *tensor_names[2] = {names->box, names->cls};
    ykd_status st = ykd_op_check_operands(op, tensors, tensor_names, 2, err);
    if (st != YKD_OK)
        return st;
    const ykd_device *dev = ykd_tensor_device(box);
    if (dev != spec->device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: %s is on device %d but %s was made for device %d; copy it first", op,
                        names->box, dev->info.index, op, spec->device->info.index);
    st = ykd_op_expect_shape(op, names->box, box, n, YKD_YOLO_BOX_CHANNELS, h, w, err);
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, names->cls, cls, n, spec->nc, h, w, err);
    return st;
}

/* Level l's stride and size against level 0's input, and its size against 32-bit indices. */
static ykd_status check_geometry(const head_spec *spec, int l, int h, int w, int stride,
                                 const ykd_yolo_geometry *geo, ykd_error *err)
{
    const char *op = spec->op;
    if (stride <= 0 || stride > 4096)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: level %d has stride %d", op, l, stride);
    int64_t in_h = (int64_t)geo->h[0] * geo->stride[0];
    int64_t in_w = (int64_t)geo->w[0] * geo->stride[0];
    if (l > 0 && ((int64_t)h * stride != in_h || (int64_t)w * stride != in_w))
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: level %d is %dx%d at stride %d, which does not cover the %lldx%lld "
                        "input of level 0 (%dx%d at stride %d)",
                        op, l, h, w, stride, (long long)in_w, (long long)in_h, geo->h[0], geo->w[0],
                        geo->stride[0]);
    if ((int64_t)h * w * spec->nc > INT32_MAX / 2)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "%s: level %d has %lld class logits per image, too many for 32-bit "
                        "indices",
                        op, l, (long long)h * w * spec->nc);
    return YKD_OK;
}

ykd_status ykd_yolo_head_check(const char *op, const ykd_device *device, int nc,
                               const ykd_yolo_level *levels, int count, const ykd_yolo_level *grads,
                               ykd_yolo_geometry *geo, ykd_error *err)
{
    const head_spec spec = {op, device, nc};
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
        ykd_status st = check_pair(&spec, lv->box, lv->cls, &names, geo->images, h, w, err);
        if (st == YKD_OK)
            st = check_geometry(&spec, l, h, w, lv->stride, geo, err);
        if (st == YKD_OK && grads) {
            name_level(l, "box-logit gradient", "class-logit gradient", &names);
            st = check_pair(&spec, grads[l].box, grads[l].cls, &names, geo->images, h, w, err);
        }
        if (st != YKD_OK)
            return st;
        geo->h[l] = h, geo->w[l] = w, geo->stride[l] = lv->stride;
        geo->first[l] = (int)anchors;
        anchors += (int64_t)h * w;
    }
    if (anchors * geo->images > INT32_MAX / 4)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "%s: %d images of %lld anchors are too many", op,
                        geo->images, (long long)anchors);
    geo->anchors = (int)anchors;
    return YKD_OK;
}
