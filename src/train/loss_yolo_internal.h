/* Shared by the YOLOv8 loss's files: the checked geometry of a call and the device state. */
#ifndef YKD_LOSS_YOLO_INTERNAL_H
#define YKD_LOSS_YOLO_INTERNAL_H

#include "device/device_internal.h"
#include "train/yolo_head.h"
#include "yolokd/loss.h"

/* Checks the outputs, the optional gradients and the targets of one call against the loss's
 * device and class count; fills geo. Every refusal names the tensor or the label. */
ykd_status ykd_yolo_loss_check(const ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                               int level_count, const ykd_yolo_targets *targets,
                               const ykd_yolo_level *grads, ykd_yolo_geometry *geo, ykd_error *err);

/* Grows the device scratch to what geo needs. */
ykd_status ykd_yolo_scratch_ensure(ykd_yolo_loss *loss, const ykd_yolo_geometry *geo,
                                   ykd_error *err);
void ykd_yolo_scratch_free(ykd_yolo_loss *loss);

/* Queues every kernel of one computation; the partial sums are then ready to read. */
ykd_status ykd_yolo_loss_launch(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                                const ykd_yolo_level *grads, bool accumulate,
                                const ykd_yolo_geometry *geo, ykd_error *err);

/* Device scratch, grown as calls need. */
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

struct ykd_yolo_loss {
    ykd_device *device;
    int nc;
    ykd_yolo_loss_options options;
    ykd_yolo_scratch scratch;
    float *host_partial;
    size_t host_partial_count;
    ykd_yolo_geometry last; /* of the last successful launch, for ykd_yolo_loss_assignment */
};

#endif
