/* A YOLO head's raw outputs on the device: the checks that every level fits the others, the
 * geometry of the anchors, and the device side of the detection loss (cl/loss_yolo.cl,
 * loss_yolo_launch.c) and of the decode (cl/detect_yolo.cl, detect_yolo.c). The train layer
 * keeps the host side (targets, sums read back, NMS) and calls these. */
#ifndef YKD_YOLO_HEAD_H
#define YKD_YOLO_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "yolokd/loss.h"

/* What one call works on, derived from the checked inputs: the head (levels to anchors, filled
 * by ykd_yolo_head_check), then what only the loss uses (work-groups, partial sums). */
typedef struct ykd_yolo_geometry {
    int levels;
    int images;
    int h[YKD_YOLO_MAX_LEVELS], w[YKD_YOLO_MAX_LEVELS], stride[YKD_YOLO_MAX_LEVELS];
    int first[YKD_YOLO_MAX_LEVELS];         /* the level's first anchor */
    int anchors;                            /* per image */
    size_t group;                           /* work-items per group of the loss kernels */
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

/* Device scratch of the loss, grown as calls need. */
typedef struct ykd_yolo_scratch {
    ykd_buffer *labels, *counts;                       /* the targets, uploaded */
    ykd_buffer *pred;                                  /* float4 per anchor: box, grid units */
    ykd_buffer *anchor_gt, *anchor_cls, *anchor_score; /* the assignment */
    ykd_buffer *top_anchor, *top_align, *top_overlap;  /* top-k lists per gt */
    ykd_buffer *slot_gt, *slot_align, *slot_overlap;   /* resolve's per-slot records */
    ykd_buffer *gt_max;                                /* per gt: max alignment, max overlap */
    ykd_buffer *scales;                                /* S and the three gradient scales */
    ykd_buffer *partial;                               /* per-group sums, read back */
} ykd_yolo_scratch;

/* The work-group size the loss kernels are built for on device (ykd_group_kernel): geometry
 * counts the loss's work-groups in it. */
ykd_status ykd_yolo_loss_group(ykd_device *device, size_t *group, ykd_error *err);

/* Grows the scratch to what geo needs with top-k lists of topk anchors. */
ykd_status ykd_yolo_scratch_ensure(ykd_device *device, ykd_yolo_scratch *scratch, int topk,
                                   const ykd_yolo_geometry *geo, ykd_error *err);
void ykd_yolo_scratch_free(ykd_yolo_scratch *scratch);

/* Queues every kernel of one loss computation (the targets uploaded into the scratch); the
 * partial sums are then ready to read (see ykd_yolo_geometry for their layout). */
ykd_status ykd_yolo_loss_launch(ykd_device *device, int nc, const ykd_yolo_loss_options *options,
                                ykd_yolo_scratch *scratch, const ykd_yolo_level *levels,
                                const ykd_yolo_level *grads, bool accumulate,
                                const ykd_yolo_geometry *geo, ykd_error *err);

/* The decode for detection: boxes [N, anchors] float4 (x1, y1, x2, y2 in input pixels) and
 * scores [N, nc * anchors] (class probabilities, level by level, class-major within a level),
 * both buffers large enough. */
ykd_status ykd_yolo_decode(ykd_device *device, int nc, const ykd_yolo_level *levels,
                           const ykd_yolo_geometry *geo, ykd_buffer *boxes, ykd_buffer *scores,
                           ykd_error *err);

#endif
