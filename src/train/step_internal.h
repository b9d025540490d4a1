/* The gradient sink's insides (step.c). */
#ifndef YKD_TRAIN_STEP_INTERNAL_H
#define YKD_TRAIN_STEP_INTERNAL_H

#include "train/dist.h"
#include "train/head_views.h"
#include "yolokd/train.h"

enum { YKD_STEP_MAX_TERMS = 8, YKD_SINK_MAX_EXTRA = 16 };

/* A named gradient a loss term asked for (not a head output). */
typedef struct ykd_sink_extra {
    char name[32];
    ykd_tensor grad; /* shaped as the output at its first request; reallocated when it changes */
    bool used;       /* requested (and zeroed) in the current step */
} ykd_sink_extra;

struct ykd_grad_sink {
    ykd_model *model;
    const ykd_yolo_loss *loss; /* the step's detection loss, for the terms' assignment */
    ykd_head_views grads; /* the detection loss's gradients, per level */
    ykd_sink_extra extra[YKD_SINK_MAX_EXTRA];
    int extra_count;
    const ykd_loss_ranks *ranks; /* NULL: one process */
};

/* Makes the step one rank's of a data-parallel run (dist.h); NULL: alone. */
void ykd_step_set_dist(ykd_step *step, ykd_dist *dist);

#endif
