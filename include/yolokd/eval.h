/* Detections from a YOLO head, and their evaluation as COCO does it.
 *
 * Detection (as Ultralytics' non_max_suppression): boxes decoded from the DFL bins, class
 * probabilities by sigmoid, on the device; then on the host the candidates whose probability
 * is over the confidence threshold (strictly), highest first (equal scores keep anchor order,
 * then class order), at most max_nms of them, class-aware greedy NMS (a box suppresses later
 * boxes of its class whose IoU with it is over the threshold), at most max_det kept per image,
 * and the boxes mapped from the letterboxed input back to the original image's pixels (clipped
 * to it).
 *
 * Evaluation (COCO's, pycocotools' evaluateImg and accumulate): per image and class,
 * detections in descending score order (stable: equal scores keep the order given) are
 * matched greedily at each IoU threshold 0.50, 0.55, .., 0.95: a detection takes, among the
 * gts of its class not yet matched at that threshold, the one of highest IoU if that IoU is
 * >= the threshold (the lowest gt index among equal IoUs; pycocotools takes the last). Per
 * class, every image's detections are merged in descending score order (stable: image order,
 * then the per-image order), precision = TP / (TP + FP) and recall = TP / gts along it,
 * precision is made monotone (each value raised to the largest one after it), and AP is the
 * mean of the precision at the 101 recall points 0, 0.01, .., 1 (the precision at the first
 * position whose recall reaches the point, 0 when none does). Differences from pycocotools:
 * no maxDets cut (NMS already keeps at most max_det), no crowd or area ranges, no eps in the
 * precision's denominator, recall points computed as i / 100. mAP@0.5 and mAP@0.5:0.95 are
 * means over the classes that have gts; detections of classes without gts count nowhere.
 * Precision and recall per class, for the table, are at IoU 0.5 and at one confidence for
 * all classes: the detection score (as a threshold: score >= it) that maximises the mean F1
 * over the classes with gts, the highest such score on ties (Ultralytics takes the same
 * maximum on a smoothed 1000-point curve, so its figures differ slightly). */
#ifndef YOLOKD_EVAL_H
#define YOLOKD_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "yolokd/data.h"
#include "yolokd/device.h"
#include "yolokd/loss.h"
#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- detection */

typedef struct ykd_detect_options {
    float conf;       /* keep probabilities > conf: 0.001 (validation; detect uses 0.25) */
    float iou;        /* NMS IoU threshold, 0.7 */
    int max_det;      /* detections kept per image, 300 */
    int max_nms;      /* candidates entering NMS per image, highest first, 30000 */
    bool multi_label; /* true: every class over conf is a candidate (validation); false: only
                         the anchor's best class (detect) */
    bool agnostic;    /* true: NMS across classes; default false (per class) */
} ykd_detect_options;

/* The validation defaults above. */
void ykd_detect_options_default(ykd_detect_options *options);

/* Where an original image sits in the model's input square. */
typedef struct ykd_image_frame {
    int width, height;            /* the original image, pixels */
    ykd_letterbox_info letterbox; /* as ykd_letterbox placed it */
} ykd_image_frame;

/* The frame ykd_letterbox gives a width x height image in a size x size input. */
void ykd_image_frame_letterbox(int width, int height, int size, ykd_image_frame *frame);

/* One image's detections, best first, in original pixels. */
typedef struct ykd_detections {
    ykd_detection *items;
    size_t count;
} ykd_detections;

void ykd_detections_free(ykd_detections *dets, size_t images);

typedef struct ykd_detector ykd_detector;

/* A detector for nc classes on device (keeps its buffers between calls). */
ykd_status ykd_detector_init(ykd_device *device, int nc, ykd_detector **detector, ykd_error *err);
void ykd_detector_free(ykd_detector *detector);

/* Detections of every image of the head outputs (checked as the loss checks them). frames
 * (one per image) maps boxes to original pixels; NULL keeps them in input pixels. out (an
 * array of one entry per image) receives each image's detections (free with
 * ykd_detections_free). NaN or infinite outputs are refused, naming the level. */
ykd_status ykd_detector_run(ykd_detector *detector, const ykd_yolo_level *levels, int level_count,
                            const ykd_detect_options *options, const ykd_image_frame *frames,
                            ykd_detections *out, ykd_error *err);

/* Every anchor's decoded box and probabilities, before any threshold, in Ultralytics' export
 * layout (what an exported ONNX model outputs): out[n][row][anchor] with rows cx, cy, w, h (input
 * pixels) then the nc class probabilities, anchors level by level, row-major. out_floats must
 * be images * (4 + nc) * anchors. */
ykd_status ykd_detector_decode(ykd_detector *detector, const ykd_yolo_level *levels,
                               int level_count, float *out, size_t out_floats, ykd_error *err);

/* IoU of two boxes (x1, y1, x2, y2), in double; 0 when the union is empty. */
double ykd_box_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                   float by2);

/* The host half, as ykd_detector_run applies it: candidates (any order; equal scores keep
 * this order), the best options->max_nms of them, through NMS (options->iou, agnostic);
 * *out (malloc'd, NULL when empty) receives at most options->max_det, best first. The
 * confidence threshold is not applied here. */
ykd_status ykd_nms(const ykd_detection *candidates, size_t count, const ykd_detect_options *options,
                   ykd_detection **out, size_t *out_count, ykd_error *err);

/* ---------------------------------------------------------------- evaluation */

enum { YKD_EVAL_THRESHOLDS = 10, YKD_EVAL_RECALL_POINTS = 101 };

/* The IoU threshold of index t: 0.50 + 0.05 t. */
double ykd_eval_threshold(int t);

typedef struct ykd_evaluator ykd_evaluator;

ykd_status ykd_evaluator_init(int nc, ykd_evaluator **evaluator, ykd_error *err);
void ykd_evaluator_free(ykd_evaluator *evaluator);

/* Adds one image: its detections and gts (same pixel space). A class outside [0, nc), a
 * non-finite box or score is refused, naming the item. */
ykd_status ykd_evaluator_add(ykd_evaluator *evaluator, const ykd_detection *dets, size_t det_count,
                             const ykd_pixel_box *gts, size_t gt_count, ykd_error *err);

typedef struct ykd_eval_class {
    size_t instances;               /* gts of the class */
    size_t images;                  /* images with at least one */
    size_t detections;              /* detections of the class */
    double precision, recall;       /* at IoU 0.5, at the result's confidence */
    double ap[YKD_EVAL_THRESHOLDS]; /* AP per IoU threshold */
    double ap50, ap50_95;           /* ap[0] and the mean of ap */
} ykd_eval_class;

typedef struct ykd_eval_result {
    size_t images, instances, detections;
    int classes_with_gts;
    double precision, recall; /* means over the classes with gts */
    double map50, map50_95;   /* likewise; 0 when no class has gts */
    double confidence;        /* where precision and recall are taken; 0 without detections */
    int class_count;
    ykd_eval_class *classes; /* class_count entries; classes without gts have all zeros */
} ykd_eval_result;

/* The metrics of everything added so far. Free with ykd_eval_result_free. */
ykd_status ykd_evaluator_result(const ykd_evaluator *evaluator, ykd_eval_result *result,
                                ykd_error *err);
void ykd_eval_result_free(ykd_eval_result *result);

/* ---------------------------------------------------------------- COCO results JSON */

/* One image's detections (original pixels) and its id: written as a number when it is all
 * digits (as Ultralytics does with numeric file stems), else as a string. */
typedef struct ykd_coco_image {
    const char *id;
    const ykd_detection *dets;
    size_t count;
} ykd_coco_image;

/* The COCO results array: {"image_id", "category_id", "bbox": [x, y, w, h], "score"} per
 * detection, bbox to 3 decimals and score to 5. category_id is category_ids[cls] when
 * category_ids is given (e.g. COCO's 80-to-91 map; cls must be < category_count), else cls.
 * *text is malloc'd and NUL-terminated. */
ykd_status ykd_coco_json_format(const ykd_coco_image *images, size_t count, const int *category_ids,
                                size_t category_count, char **text, ykd_error *err);

/* The same written to path, atomically. */
ykd_status ykd_coco_json_write(const char *path, const ykd_coco_image *images, size_t count,
                               const int *category_ids, size_t category_count, ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
