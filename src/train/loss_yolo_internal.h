/* Shared by the YOLOv8 loss's host-side files: the checks of a call and the loss's state (its
 * device side is src/ops/loss_yolo_launch.c). */
#ifndef YKD_LOSS_YOLO_INTERNAL_H
#define YKD_LOSS_YOLO_INTERNAL_H

#include "device/device_internal.h"
#include "ops/yolo_head.h"
#include "yolokd/loss.h"

/* Checks the outputs, the optional gradients and the targets of one call against the loss's
 * device and class count; fills geo, its work-groups counted in groups of `group`
 * (ykd_yolo_loss_group). Every refusal names the tensor or the label. */
ykd_status ykd_yolo_loss_check(const ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                               int level_count, const ykd_yolo_targets *targets,
                               const ykd_yolo_level *grads, size_t group, ykd_yolo_geometry *geo,
                               ykd_error *err);

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
