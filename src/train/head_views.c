/* A model's Detect outputs as loss and detector levels (head_views.h). */
#include <stdio.h>

#include "core/error_internal.h"
#include "train/head_views.h"

int ykd_level_name_index(int stride)
{
    int p = 0;
    while ((1 << p) < stride)
        p++;
    return p;
}

/* Fills the box/cls views and the level of entry l from views->head[l]. */
static void split_level(ykd_head_views *v, int l, int stride)
{
    int nc = v->head[l].c - YKD_YOLO_BOX_CHANNELS;
    v->box[l] = ykd_tensor_channels(&v->head[l], 0, YKD_YOLO_BOX_CHANNELS);
    v->cls[l] = ykd_tensor_channels(&v->head[l], YKD_YOLO_BOX_CHANNELS, nc);
    v->levels[l] = (ykd_yolo_level){&v->box[l], &v->cls[l], stride};
}

ykd_status ykd_head_views_get(const ykd_model *model, ykd_head_views *views, ykd_error *err)
{
    int count = ykd_model_level_count(model);
    if (count < 1 || count > YKD_YOLO_MAX_LEVELS)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "the model has %d detection levels; the loss takes 1 to %d", count,
                        YKD_YOLO_MAX_LEVELS);
    views->count = count;
    for (int l = 0; l < count; l++) {
        int stride = ykd_model_level_stride(model, l);
        snprintf(views->names[l], sizeof views->names[l], "head%d", ykd_level_name_index(stride));
        ykd_status st = ykd_model_output(model, views->names[l], &views->head[l], err);
        if (st != YKD_OK)
            return st;
        split_level(views, l, stride);
    }
    return YKD_OK;
}

void ykd_head_views_over(const ykd_head_views *from, const ykd_tensor *heads,
                         ykd_head_views *views)
{
    *views = *from;
    for (int l = 0; l < from->count; l++) {
        views->head[l] = heads[l];
        split_level(views, l, from->levels[l].stride);
    }
}
