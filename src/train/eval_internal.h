/* Shared by the evaluation files: option checks and a stable order by score. */
#ifndef YKD_EVAL_INTERNAL_H
#define YKD_EVAL_INTERNAL_H

#include "yolokd/eval.h"

/* Refuses thresholds outside [0, 1] and limits below 1. */
ykd_status ykd_detect_options_check(const ykd_detect_options *options, ykd_error *err);

/* *order (malloc'd) = the indices of items by descending score, equal scores in index order. */
ykd_status ykd_rank_by_score(const ykd_detection *items, size_t count, size_t **order,
                             ykd_error *err);

/* The device half of ykd_detector_run alone (the op tests compare it with float64): on the
 * host, *boxes [N, anchors, 4] (x1, y1, x2, y2 in input pixels, anchors level by level) and
 * *scores [N, nc * anchors] (each level's block class-major), the detector's until its next
 * call. */
ykd_status ykd_detector_decode(ykd_detector *d, const ykd_yolo_level *levels, int level_count,
                               const float **boxes, const float **scores, ykd_error *err);

#endif
