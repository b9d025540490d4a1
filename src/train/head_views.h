/* A model's Detect outputs of the last forward as the loss and the detector take them: per
 * level the head tensor [N, 64 + nc, H, W] and its box and class channel views. */
#ifndef YKD_TRAIN_HEAD_VIEWS_H
#define YKD_TRAIN_HEAD_VIEWS_H

#include "yolokd/loss.h"
#include "yolokd/model.h"

typedef struct ykd_head_views {
    int count;
    char names[YKD_YOLO_MAX_LEVELS][16]; /* "head3", ... */
    ykd_tensor head[YKD_YOLO_MAX_LEVELS], box[YKD_YOLO_MAX_LEVELS], cls[YKD_YOLO_MAX_LEVELS];
    ykd_yolo_level levels[YKD_YOLO_MAX_LEVELS];
} ykd_head_views;

/* The views of model's last forward. Fails when the model has more levels than the loss
 * takes. */
ykd_status ykd_head_views_get(const ykd_model *model, ykd_head_views *views, ykd_error *err);

/* log2 of a level's stride: the digit of its output names ("head3" for stride 8). */
int ykd_level_name_index(int stride);

/* Views set up on tensors shaped like the head (gradients), same names and strides as from. */
void ykd_head_views_over(const ykd_head_views *from, const ykd_tensor *heads,
                         ykd_head_views *views);

#endif
