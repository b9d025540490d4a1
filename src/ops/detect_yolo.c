/* The decode for detection (cl/detect_yolo.cl): every anchor's box and class probabilities on
 * the device; src/train/eval_detect.c reads them back for thresholds and NMS. */
#include "ops/ops_internal.h"
#include "ops/yolo_head.h"

static const char *const detect_sources[] = {"cl/shared.cl", "cl/detect_yolo.cl", NULL};

ykd_status ykd_yolo_decode(ykd_device *device, int nc, const ykd_yolo_level *levels,
                           const ykd_yolo_geometry *geo, ykd_buffer *boxes, ykd_buffer *scores,
                           ykd_error *err)
{
    ykd_kernel *boxes_k = NULL, *scores_k = NULL;
    ykd_status st = ykd_device_kernel(device, detect_sources, NULL, "yolo_detect_boxes", &boxes_k,
                                      err);
    if (st == YKD_OK)
        st = ykd_device_kernel(device, detect_sources, NULL, "yolo_detect_scores", &scores_k, err);
    size_t per_image = (size_t)nc * geo->anchors;
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        cl_int4 geom = {{geo->h[l], geo->w[l], geo->stride[l], geo->first[l]}};
        ykd_op_args box_args = {0};
        ykd_op_args_tensor(&box_args, levels[l].box);
        ykd_op_args_int4(&box_args, geom);
        ykd_op_args_int(&box_args, geo->anchors);
        ykd_op_args_mem(&box_args, boxes->mem);
        size_t cells = (size_t)geo->h[l] * geo->w[l];
        size_t global[2] = {cells, (size_t)geo->images};
        st = ykd_op_run(device, boxes_k, &box_args, 2, global, NULL, err);
        size_t count = cells * (size_t)nc;
        ykd_op_args score_args = {0};
        ykd_op_args_tensor(&score_args, levels[l].cls);
        ykd_op_args_uint(&score_args, count);
        ykd_op_args_uint(&score_args, (size_t)nc * geo->first[l]);
        ykd_op_args_uint(&score_args, per_image);
        ykd_op_args_mem(&score_args, scores->mem);
        size_t score_global[2] = {count, (size_t)geo->images};
        if (st == YKD_OK)
            st = ykd_op_run(device, scores_k, &score_args, 2, score_global, NULL, err);
    }
    return st;
}
