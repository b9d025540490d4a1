/* A YOLO head's raw outputs as the loss and the detector take them: the checks that every
 * level fits the others, and the geometry of the anchors. */
#ifndef YKD_YOLO_HEAD_H
#define YKD_YOLO_HEAD_H

#include "ops/ops_internal.h"
#include "yolokd/loss.h"

enum { YKD_YOLO_GROUP = 64 }; /* work-group size of the head kernels (GROUP in the .cl files) */

/* A tensor's location (ykd_tensor_kernel_args) as the three kernel arguments the head kernels
 * take: buffer, first element, batch stride. The lvalue must live until the launch. */
#define YKD_YOLO_TENSOR_ARGS(ta) YKD_ARG((ta).mem), YKD_ARG((ta).offset), YKD_ARG((ta).batch_stride)

/* What one call works on, derived from the checked inputs: the head (levels to anchors, filled
 * by ykd_yolo_head_check), then what only the loss uses (work-groups, partial sums). */
typedef struct ykd_yolo_geometry {
    int levels;
    int images;
    int h[YKD_YOLO_MAX_LEVELS], w[YKD_YOLO_MAX_LEVELS], stride[YKD_YOLO_MAX_LEVELS];
    int first[YKD_YOLO_MAX_LEVELS];         /* the level's first anchor */
    int anchors;                            /* per image */
    size_t groups[YKD_YOLO_MAX_LEVELS];     /* work-groups of the per-anchor decode */
    size_t cls_groups[YKD_YOLO_MAX_LEVELS]; /* work-groups of the per-class-logit loss */
    size_t box_groups;                      /* work-groups of the per-slot box loss */
    int max_boxes;
    /* The partial-sum buffer (floats): image score sums [0, N), positives [N, 2N), then per
     * level the decode groups' non-finite counts, per level the class-loss groups' sums, and
     * two sums (CIoU, DFL) per box-loss group. */
    size_t decode_at[YKD_YOLO_MAX_LEVELS], cls_at[YKD_YOLO_MAX_LEVELS], box_at, partials;
} ykd_yolo_geometry;

/* Checks levels[0 .. count) on device: box [N, 64, H, W] and class [N, nc, H, W] per level,
 * one N, strides that map every level onto level 0's input size; then grads (NULL or shaped
 * like levels) likewise. Fills the head part of geo (levels, images, h, w, stride, first,
 * anchors). op names the caller in messages. */
ykd_status ykd_yolo_head_check(const char *op, const ykd_device *device, int nc,
                               const ykd_yolo_level *levels, int count, const ykd_yolo_level *grads,
                               ykd_yolo_geometry *geo, ykd_error *err);

#endif
