/* COCO-style evaluation (include/yolokd/eval.h has the definitions): per-image greedy matching
 * at ten IoU thresholds as images are added, then per class the precision envelope sampled at
 * 101 recall points, and precision and recall at the confidence of the best mean F1. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/eval_internal.h"

/* What is kept of a detection once matched: its score, class, and per threshold t whether it
 * is a true positive (bit t). Stored per image in descending score order. */
typedef struct eval_det {
    float score;
    int cls;
    uint16_t tp;
} eval_det;

struct ykd_evaluator {
    int nc;
    eval_det *dets;
    size_t count, cap;
    size_t *instances, *images_with, *detections; /* per class */
    size_t images;
};

double ykd_eval_threshold(int t)
{
    return 0.5 + 0.05 * t;
}

ykd_status ykd_evaluator_init(int nc, ykd_evaluator **evaluator, ykd_error *err)
{
    *evaluator = NULL;
    if (nc < 1 || nc > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "evaluate: %d classes", nc);
    ykd_evaluator *e = calloc(1, sizeof *e);
    if (e) {
        e->nc = nc;
        e->instances = calloc((size_t)nc, sizeof(size_t));
        e->images_with = calloc((size_t)nc, sizeof(size_t));
        e->detections = calloc((size_t)nc, sizeof(size_t));
    }
    if (!e || !e->instances || !e->images_with || !e->detections) {
        ykd_evaluator_free(e);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
    }
    *evaluator = e;
    return YKD_OK;
}

void ykd_evaluator_free(ykd_evaluator *e)
{
    if (!e)
        return;
    free(e->dets);
    free(e->instances);
    free(e->images_with);
    free(e->detections);
    free(e);
}

static ykd_status check_items(const ykd_evaluator *e, const ykd_detection *dets, size_t det_count,
                              const ykd_pixel_box *gts, size_t gt_count, ykd_error *err)
{
    for (size_t i = 0; i < det_count; i++) {
        const ykd_detection *d = &dets[i];
        if (d->cls < 0 || d->cls >= e->nc || !isfinite(d->x1 + d->y1 + d->x2 + d->y2 + d->score))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "evaluate: detection %zu of image %zu: class %d of %d, box (%g, %g, "
                            "%g, %g), score %g",
                            i, e->images, d->cls, e->nc, d->x1, d->y1, d->x2, d->y2, d->score);
    }
    for (size_t i = 0; i < gt_count; i++) {
        const ykd_pixel_box *g = &gts[i];
        if (g->cls < 0 || g->cls >= e->nc || !isfinite(g->x1 + g->y1 + g->x2 + g->y2))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "evaluate: gt %zu of image %zu: class %d of %d, box (%g, %g, %g, %g)",
                            i, e->images, g->cls, e->nc, g->x1, g->y1, g->x2, g->y2);
    }
    return YKD_OK;
}

/* Matches one image's detections (in score order) at every threshold: each takes the unmatched
 * gt of its class with the highest IoU, if that reaches the threshold (lowest index on ties). */
static void match_image(const ykd_detection *dets, const size_t *order, size_t det_count,
                        const ykd_pixel_box *gts, size_t gt_count, char *taken, eval_det *out)
{
    for (size_t r = 0; r < det_count; r++)
        out[r] = (eval_det){dets[order[r]].score, dets[order[r]].cls, 0};
    for (int t = 0; t < YKD_EVAL_THRESHOLDS; t++) {
        double threshold = ykd_eval_threshold(t);
        memset(taken, 0, gt_count);
        for (size_t r = 0; r < det_count; r++) {
            const ykd_detection *d = &dets[order[r]];
            size_t best = gt_count;
            double best_iou = 0.0;
            for (size_t g = 0; g < gt_count; g++) {
                if (taken[g] || gts[g].cls != d->cls)
                    continue;
                double iou = ykd_box_iou(d->x1, d->y1, d->x2, d->y2, gts[g].x1, gts[g].y1,
                                         gts[g].x2, gts[g].y2);
                if (iou >= threshold && (best == gt_count || iou > best_iou))
                    best = g, best_iou = iou;
            }
            if (best < gt_count) {
                taken[best] = 1;
                out[r].tp |= (uint16_t)(1u << t);
            }
        }
    }
}

ykd_status ykd_evaluator_add(ykd_evaluator *e, const ykd_detection *dets, size_t det_count,
                             const ykd_pixel_box *gts, size_t gt_count, ykd_error *err)
{
    ykd_status st = check_items(e, dets, det_count, gts, gt_count, err);
    if (st != YKD_OK)
        return st;
    if (e->count + det_count > e->cap) {
        size_t cap = e->cap ? e->cap : 1024;
        while (cap < e->count + det_count)
            cap *= 2;
        eval_det *p = realloc(e->dets, cap * sizeof *p);
        if (!p)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
        e->dets = p;
        e->cap = cap;
    }
    size_t *order = NULL;
    char *taken = malloc(gt_count ? gt_count : 1);
    st = taken ? ykd_rank_by_score(dets, det_count, &order, err)
               : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
    if (st == YKD_OK) {
        match_image(dets, order, det_count, gts, gt_count, taken, e->dets + e->count);
        e->count += det_count;
        for (size_t i = 0; i < det_count; i++)
            e->detections[dets[i].cls]++;
        memset(taken, 0, gt_count);
        for (size_t g = 0; g < gt_count; g++) {
            e->instances[gts[g].cls]++;
            int seen = 0; /* images_with counts the image once per class */
            for (size_t h = 0; h < g && !seen; h++)
                seen = gts[h].cls == gts[g].cls;
            if (!seen)
                e->images_with[gts[g].cls]++;
        }
        e->images++;
    }
    free(order);
    free(taken);
    return st;
}

/* AP of one class at threshold t over its detections (indices into dets, in the merged score
 * order): the precision envelope sampled at the 101 recall points. work holds 2 * count. */
static double average_precision(const eval_det *dets, const size_t *idx, size_t count,
                                size_t instances, int t, double *work)
{
    double *precision = work, *recall = work + count;
    size_t tp = 0;
    for (size_t i = 0; i < count; i++) {
        tp += (dets[idx[i]].tp >> t) & 1u;
        precision[i] = (double)tp / (double)(i + 1);
        recall[i] = (double)tp / (double)instances;
    }
    for (size_t i = count; i-- > 1;) /* monotone: each raised to the best after it */
        if (precision[i] > precision[i - 1])
            precision[i - 1] = precision[i];
    double sum = 0.0;
    size_t i = 0;
    for (int r = 0; r < YKD_EVAL_RECALL_POINTS; r++) {
        double point = r / 100.0;
        while (i < count && recall[i] < point) /* the first position reaching the point */
            i++;
        if (i < count)
            sum += precision[i];
    }
    return sum / YKD_EVAL_RECALL_POINTS;
}

/* The detections of class k in merged order: all detections sorted by descending score,
 * stable (image order, then each image's score order). */
static ykd_status merged_order(const ykd_evaluator *e, size_t **order, ykd_error *err)
{
    ykd_detection *as_dets = malloc((e->count ? e->count : 1) * sizeof *as_dets);
    if (!as_dets)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
    for (size_t i = 0; i < e->count; i++)
        as_dets[i] = (ykd_detection){0, 0, 0, 0, e->dets[i].score, e->dets[i].cls};
    ykd_status st = ykd_rank_by_score(as_dets, e->count, order, err);
    free(as_dets);
    return st;
}

/* Mean F1 over the classes with gts, given per class the true and false positives at IoU 0.5
 * so far; with keep, each class's P and R go into res. */
static double mean_f1(const ykd_evaluator *e, const size_t *tp, const size_t *fp,
                      ykd_eval_result *res, bool keep)
{
    double sum = 0.0;
    for (int k = 0; k < e->nc; k++) {
        if (e->instances[k] == 0)
            continue;
        double p = tp[k] + fp[k] ? (double)tp[k] / (double)(tp[k] + fp[k]) : 0.0;
        double r = (double)tp[k] / (double)e->instances[k];
        sum += p + r > 0 ? 2 * p * r / (p + r) : 0.0;
        if (keep)
            res->classes[k].precision = p, res->classes[k].recall = r;
    }
    return sum / res->classes_with_gts;
}

/* Counts detection order[i] (of a class with gts) as a true or false positive at IoU 0.5. */
static void count_det(const ykd_evaluator *e, const size_t *order, size_t i, size_t *tp, size_t *fp)
{
    const eval_det *d = &e->dets[order[i]];
    if (e->instances[d->cls] > 0)
        (d->tp & 1u ? tp : fp)[d->cls]++;
}

/* The confidence of the best mean F1: thresholds are the distinct scores (a threshold takes
 * every detection scoring at least it), the highest one among equal F1s. */
static ykd_status best_f1(const ykd_evaluator *e, const size_t *order, ykd_eval_result *res,
                          ykd_error *err)
{
    size_t *tp = calloc((size_t)e->nc, sizeof *tp), *fp = calloc((size_t)e->nc, sizeof *fp);
    if (!tp || !fp) {
        free(tp), free(fp);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
    }
    double best = -1.0;
    size_t best_end = 0;
    for (size_t i = 0; i < e->count; i++) {
        count_det(e, order, i, tp, fp);
        float score = e->dets[order[i]].score;
        if (i + 1 < e->count && e->dets[order[i + 1]].score == score)
            continue; /* not the end of a group of equal scores */
        double f1 = mean_f1(e, tp, fp, res, false);
        if (f1 > best)
            best = f1, best_end = i + 1, res->confidence = score;
    }
    memset(tp, 0, (size_t)e->nc * sizeof *tp);
    memset(fp, 0, (size_t)e->nc * sizeof *fp);
    for (size_t i = 0; i < best_end; i++)
        count_det(e, order, i, tp, fp);
    mean_f1(e, tp, fp, res, true);
    free(tp), free(fp);
    return YKD_OK;
}

/* AP per class and threshold, and the means. */
static ykd_status class_aps(const ykd_evaluator *e, const size_t *order, ykd_eval_result *res,
                            ykd_error *err)
{
    size_t *idx = malloc((e->count ? e->count : 1) * sizeof *idx);
    double *work = malloc((e->count ? 2 * e->count : 1) * sizeof *work);
    if (!idx || !work) {
        free(idx), free(work);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
    }
    for (int k = 0; k < e->nc; k++) {
        ykd_eval_class *c = &res->classes[k];
        c->instances = e->instances[k];
        c->images = e->images_with[k];
        c->detections = e->detections[k];
        if (c->instances == 0)
            continue;
        size_t count = 0;
        for (size_t i = 0; i < e->count; i++)
            if (e->dets[order[i]].cls == k)
                idx[count++] = order[i];
        double sum = 0.0;
        for (int t = 0; t < YKD_EVAL_THRESHOLDS; t++) {
            c->ap[t] = average_precision(e->dets, idx, count, c->instances, t, work);
            sum += c->ap[t];
        }
        c->ap50 = c->ap[0];
        c->ap50_95 = sum / YKD_EVAL_THRESHOLDS;
    }
    free(idx), free(work);
    return YKD_OK;
}

ykd_status ykd_evaluator_result(const ykd_evaluator *e, ykd_eval_result *res, ykd_error *err)
{
    memset(res, 0, sizeof *res);
    res->class_count = e->nc;
    res->classes = calloc((size_t)e->nc, sizeof *res->classes);
    if (!res->classes)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "evaluate: out of host memory");
    res->images = e->images;
    res->detections = e->count;
    for (int k = 0; k < e->nc; k++) {
        res->instances += e->instances[k];
        res->classes_with_gts += e->instances[k] > 0;
    }
    size_t *order = NULL;
    ykd_status st = merged_order(e, &order, err);
    if (st == YKD_OK)
        st = class_aps(e, order, res, err);
    if (st == YKD_OK && res->classes_with_gts > 0)
        st = best_f1(e, order, res, err);
    free(order);
    if (st != YKD_OK) {
        ykd_eval_result_free(res);
        return st;
    }
    for (int k = 0; k < e->nc; k++) { /* sums first, one division: exact where it can be */
        const ykd_eval_class *c = &res->classes[k];
        res->precision += c->precision;
        res->recall += c->recall;
        res->map50 += c->ap50;
        res->map50_95 += c->ap50_95;
    }
    int n = res->classes_with_gts > 0 ? res->classes_with_gts : 1;
    res->precision /= n, res->recall /= n, res->map50 /= n, res->map50_95 /= n;
    return YKD_OK;
}

void ykd_eval_result_free(ykd_eval_result *res)
{
    free(res->classes);
    res->classes = NULL;
}
