/* The YOLOv8 detection loss on the device, forward and backward in one call.
 *
 * It follows Ultralytics YOLOv8's v8DetectionLoss and TaskAlignedAssigner:
 *
 * Anchors and boxes. Level l's anchor points are its grid-cell centres (x + 0.5, y + 0.5) in
 * grid units; its stride maps them to input pixels. A box is decoded from the level's box
 * logits [N, 64, H, W] (channel = side * 16 + bin, sides left, top, right, bottom): a softmax
 * over each side's 16 bins, the expectation with the projection 0..15 gives the side's
 * distance from the anchor in grid units, hence the box (x1, y1, x2, y2).
 *
 * Targets are the loader's (ykd_batch): per image max_boxes rows (class, cx, cy, w, h)
 * normalised to the input square, box_counts[i] of them used; the rest are padding, ignored.
 * The input size is level 0's H and W times its stride.
 *
 * Assignment (per image, predictions detached: no gradient flows through it). A gt's
 * candidates are the anchors whose centre lies inside it (by more than 1e-9 px). For each
 * candidate, overlap = max(CIoU(gt, predicted box in pixels), 0) and alignment =
 * sigmoid(class logit of the gt's class)^alpha * overlap^beta (alpha 0.5, beta 6). Each gt
 * claims its top-k (10) candidates by alignment; equal alignments go to the lower anchor index
 * (anchors are numbered level by level, row-major), so results never depend on scheduling.
 * (Ultralytics ranks every anchor and then drops the non-candidates, so where fewer than k
 * candidates have a non-zero alignment, which zero ones it keeps is up to torch.topk; here
 * they are the lowest candidates.)
 * An anchor claimed by several gts goes to the gt, among those it lies inside, of the highest
 * overlap (the lower gt index among equals; Ultralytics takes argmax over every gt, which only
 * differs when all overlaps are 0). The target score of an anchor assigned to gt g is
 * alignment * max_overlap(g) / (max_alignment(g) + 1e-9), the maxima over g's assigned anchors;
 * it goes to the gt's class, the other classes get 0.
 *
 * Losses, with S = max(sum of target scores, 1):
 *   cls = sum over every anchor and class of BCE-with-logits(logit, target score) / S
 *   box = sum over assigned anchors of score * (1 - CIoU(pred, gt)) / S   (grid units)
 *   dfl = sum over assigned anchors of score * mean over the 4 sides of the cross-entropy of
 *         the side's bins against the two bins around the gt's distance (clamped to
 *         [0, 14.99]), weighted linearly / S
 *   total = N * (7.5 box + 0.5 cls + 1.5 dfl)
 * The total is multiplied by the batch size N as Ultralytics does: the learning rates of its
 * recipes (lr0 0.01 for SGD) assume that scale. The gradients are those of total; CIoU's
 * aspect weight alpha is treated as a constant (Ultralytics computes it under no_grad), and S
 * too (it comes from the detached assignment). Where a min or max inside CIoU ties, its
 * derivative goes to the prediction's coordinate.
 *
 * Device work: decode, top-k per gt (one work-group per gt, candidates only, no sorting of all
 * anchors), conflict resolution and normalisation (one work-group per image), then BCE per
 * class logit, and CIoU (analytic gradient) and DFL at the assigned anchors only. Sums are
 * reduced in fixed order (no float atomics), so equal inputs give bit-identical results. The
 * call waits for the device: it returns the loss values. Figures: BENCHMARKS.md, `yolokd
 * bench loss`. */
#ifndef YOLOKD_LOSS_H
#define YOLOKD_LOSS_H

#include <stdbool.h>
#include <stddef.h>

#include "yolokd/data.h"
#include "yolokd/device.h"
#include "yolokd/status.h"
#include "yolokd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    YKD_YOLO_BINS = 16, /* DFL bins per box side (reg_max) */
    YKD_YOLO_BOX_CHANNELS = 64,
    YKD_YOLO_MAX_LEVELS = 4, /* strides 8, 16, 32 (and 64 for P6 heads) */
    YKD_YOLO_MAX_TOPK = 16,
    /* boxes per image of a batch (a mosaic holds four images'): the data layer's limit, so that
     * what check-data passes the loss takes */
    YKD_YOLO_MAX_BOXES = YKD_MAX_BOXES_PER_SAMPLE
};

typedef struct ykd_yolo_loss_options {
    int topk;       /* anchors claimed per gt, 10 (1 .. YKD_YOLO_MAX_TOPK) */
    float alpha;    /* class-score exponent of the alignment, 0.5 */
    float beta;     /* overlap exponent of the alignment, 6.0 */
    float box_gain; /* 7.5 */
    float cls_gain; /* 0.5 */
    float dfl_gain; /* 1.5 */
} ykd_yolo_loss_options;

void ykd_yolo_loss_options_default(ykd_yolo_loss_options *options);

/* One level of the head's raw outputs (or of their gradients). Views (channel ranges of one
 * [N, 64 + nc, H, W] tensor) are fine. */
typedef struct ykd_yolo_level {
    const ykd_tensor *box; /* [N, 64, H, W] DFL logits */
    const ykd_tensor *cls; /* [N, nc, H, W] class logits, before the sigmoid */
    int stride;            /* input pixels per grid cell: 8, 16, 32 */
} ykd_yolo_level;

/* Ground truth in the loader's layout (ykd_batch's labels, box_counts and max_boxes). */
typedef struct ykd_yolo_targets {
    const float *labels;   /* images x max_boxes x 5: class, cx, cy, w, h (normalised) */
    const int *box_counts; /* boxes used per image, each <= max_boxes */
    size_t max_boxes;
} ykd_yolo_targets;

typedef struct ykd_yolo_loss_value {
    double total;                     /* what the gradients are of: N * (sum of the gained terms) */
    double box, cls, dfl;             /* with the gains, without N: what Ultralytics logs */
    double box_raw, cls_raw, dfl_raw; /* without gains */
    double target_score_sum;          /* before the max(., 1) */
    size_t positives;                 /* anchors assigned to a gt, over the batch */
} ykd_yolo_loss_value;

/* Data parallelism as a loss over one rank's part of a global batch sees it (K ranks; B and S
 * the global batch's images and target-score sum, B_r and S_r this rank's). A trainer
 * multiplies the gradients of the loss terms by seed_scale = K (B / S) / (B_r / S_r), then
 * averages them over the ranks, and weighs the terms' values by value_share = S_r / S before
 * adding them over the ranks: a loss normalised as the detection loss (by S_r, its gradient
 * times B_r) then equals one process's with the whole batch by itself. A loss normalised
 * otherwise corrects for both, adding the counts it needs over the ranks with sum. */
typedef struct ykd_loss_ranks {
    int ranks;
    double seed_scale;
    double value_share;
    /* values[0..count) become their sums over the ranks (every rank must call it alike) */
    ykd_status (*sum)(void *user, double *values, size_t count, ykd_error *err);
    void *user;
} ykd_loss_ranks;

typedef struct ykd_yolo_loss ykd_yolo_loss;

/* The loss for nc classes on device; it keeps scratch buffers between calls. options may be
 * NULL for the defaults. */
ykd_status ykd_yolo_loss_init(ykd_device *device, int nc, const ykd_yolo_loss_options *options,
                              ykd_yolo_loss **loss, ykd_error *err);
void ykd_yolo_loss_free(ykd_yolo_loss *loss);

/* Computes the loss of the head outputs levels[0 .. level_count) against targets. grads, when
 * not NULL, gives per level the tensors (shaped like the outputs) that receive the gradients of
 * value->total: written, or added to what they hold when accumulate is true. Refused with a
 * message naming the tensor: mismatched shapes or devices, a level whose size does not match
 * the input size and its stride, a label with a class outside [0, nc) or a box that is not
 * finite, box counts over max_boxes, and logits holding NaN or infinity (checked on the
 * device; the gradients are then unusable). */
ykd_status ykd_yolo_loss_compute(ykd_yolo_loss *loss, const ykd_yolo_level *levels, int level_count,
                                 const ykd_yolo_targets *targets, const ykd_yolo_level *grads,
                                 bool accumulate, ykd_yolo_loss_value *value, ykd_error *err);

/* The assignment of the last compute for image `image`: per anchor (level by level,
 * row-major) the gt index it is assigned to or -1, and its target score. gt and score (either
 * may be NULL) hold ykd_yolo_loss_anchor_count() entries. For distillation losses that work
 * at the positive anchors, and for tests. */
ykd_status ykd_yolo_loss_assignment(const ykd_yolo_loss *loss, int image, int *gt, float *score,
                                    ykd_error *err);

/* Anchors per image of the last compute (0 before the first). */
size_t ykd_yolo_loss_anchor_count(const ykd_yolo_loss *loss);

#ifdef __cplusplus
}
#endif

#endif
