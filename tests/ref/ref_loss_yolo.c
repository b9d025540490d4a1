/* Float64 reference of the YOLOv8 detection loss: box decoding from the DFL bins, the
 * task-aligned assigner and the loss with its gradient, as plain loops over every anchor and
 * every gt (quadratic where the device is not; clarity first). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

#define ASSIGN_EPS 1e-9 /* Ultralytics' TaskAlignedAssigner eps */
#define GAIN_BOX 7.5
#define GAIN_CLS 0.5
#define GAIN_DFL 1.5

int ref_yolo_anchor_count(const ref_yolo_problem *p)
{
    int total = 0;
    for (int l = 0; l < p->levels; l++)
        total += p->level[l].h * p->level[l].w;
    return total;
}

/* The level of global anchor a and its position within the level. */
static int anchor_level(const ref_yolo_problem *p, int a, int *pos)
{
    int l = 0;
    while (a >= p->level[l].h * p->level[l].w) {
        a -= p->level[l].h * p->level[l].w;
        l++;
    }
    *pos = a;
    return l;
}

/* Softmax probabilities of side j's bins and their expectation (the side's distance). */
static double side_distance(const ref_yolo_level *lv, int b, int pos, int j, double prob[16])
{
    size_t hw = (size_t)lv->h * lv->w;
    const double *z = lv->box + (size_t)b * 64 * hw + (size_t)j * REF_YOLO_BINS * hw + pos;
    double top = z[0];
    for (int i = 1; i < REF_YOLO_BINS; i++)
        top = fmax(top, z[i * hw]);
    double sum = 0.0;
    for (int i = 0; i < REF_YOLO_BINS; i++)
        sum += prob[i] = exp(z[i * hw] - top);
    double d = 0.0;
    for (int i = 0; i < REF_YOLO_BINS; i++) {
        prob[i] /= sum;
        d += prob[i] * i;
    }
    return d;
}

static void anchor_centre(const ref_yolo_level *lv, int pos, double *ax, double *ay)
{
    *ax = pos % lv->w + 0.5;
    *ay = pos / lv->w + 0.5;
}

void ref_yolo_pred_box(const ref_yolo_problem *p, int b, int a, double box[4])
{
    int pos, l = anchor_level(p, a, &pos);
    const ref_yolo_level *lv = &p->level[l];
    double prob[16], d[4], ax, ay;
    for (int j = 0; j < 4; j++)
        d[j] = side_distance(lv, b, pos, j, prob);
    anchor_centre(lv, pos, &ax, &ay);
    box[0] = ax - d[0];
    box[1] = ay - d[1];
    box[2] = ax + d[2];
    box[3] = ay + d[3];
}

/* Gt g of image b in pixels of the model input (x1, y1, x2, y2), and its class. */
static int gt_box(const ref_yolo_problem *p, int b, int g, double box[4])
{
    const float *row = p->labels + ((size_t)b * p->max_boxes + g) * 5;
    double img_w = (double)p->level[0].w * p->level[0].stride;
    double img_h = (double)p->level[0].h * p->level[0].stride;
    double cx = row[1] * img_w, cy = row[2] * img_h, w = row[3] * img_w, h = row[4] * img_h;
    box[0] = cx - w / 2;
    box[1] = cy - h / 2;
    box[2] = cx + w / 2;
    box[3] = cy + h / 2;
    return (int)row[0];
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double class_logit(const ref_yolo_problem *p, int b, int a, int c)
{
    int pos, l = anchor_level(p, a, &pos);
    const ref_yolo_level *lv = &p->level[l];
    size_t hw = (size_t)lv->h * lv->w;
    return lv->cls[((size_t)b * p->nc + c) * hw + pos];
}

/* Per (gt, anchor) of one image: whether the anchor's centre is inside the gt, the clamped
 * CIoU of the gt with the anchor's predicted box (pixels) and the alignment metric. */
typedef struct image_metrics {
    int gts, anchors;
    char *inside;
    double *overlap, *align;
} image_metrics;

static void compute_metrics(const ref_yolo_problem *p, int b, image_metrics *m)
{
    int A = m->anchors;
    for (int g = 0; g < m->gts; g++) {
        double gt[4];
        int cls = gt_box(p, b, g, gt);
        for (int a = 0; a < A; a++) {
            int pos, l = anchor_level(p, a, &pos);
            double s = p->level[l].stride, ax, ay, pred[4];
            anchor_centre(&p->level[l], pos, &ax, &ay);
            ax *= s, ay *= s;
            double margin = fmin(fmin(ax - gt[0], ay - gt[1]), fmin(gt[2] - ax, gt[3] - ay));
            size_t k = (size_t)g * A + a;
            if (!(margin > ASSIGN_EPS))
                continue;
            m->inside[k] = 1;
            ref_yolo_pred_box(p, b, a, pred);
            for (int i = 0; i < 4; i++)
                pred[i] *= s;
            m->overlap[k] = fmax(ref_ciou(gt, pred, NULL), 0.0);
            double score = sigmoid(class_logit(p, b, a, cls));
            m->align[k] = pow(score, p->alpha) * pow(m->overlap[k], p->beta);
        }
    }
}

/* Marks in claimed[g*A + a] the top-k candidates of each gt: highest alignment first, the
 * lower anchor index first among equals. */
static void select_topk(const ref_yolo_problem *p, const image_metrics *m, char *claimed)
{
    int A = m->anchors;
    for (int g = 0; g < m->gts; g++)
        for (int k = 0; k < p->topk; k++) {
            int best = -1;
            for (int a = 0; a < A; a++) {
                size_t i = (size_t)g * A + a;
                if (m->inside[i] && !claimed[i] &&
                    (best < 0 || m->align[i] > m->align[(size_t)g * A + best]))
                    best = a;
            }
            if (best < 0)
                break;
            claimed[(size_t)g * A + best] = 1;
        }
}

/* The gt anchor a goes to: its only claimer, or among several the gt (with a inside) of the
 * highest overlap, the lowest index among equals; -1 when unclaimed. */
static int resolve(const image_metrics *m, const char *claimed, int a)
{
    int A = m->anchors, claims = 0, first = -1;
    for (int g = 0; g < m->gts; g++)
        if (claimed[(size_t)g * A + a] && claims++ == 0)
            first = g;
    if (claims <= 1)
        return first;
    int best = -1;
    for (int g = 0; g < m->gts; g++) {
        size_t i = (size_t)g * A + a;
        if (m->inside[i] && (best < 0 || m->overlap[i] > m->overlap[(size_t)best * A + a]))
            best = g;
    }
    return best;
}

static void assign_image(const ref_yolo_problem *p, int b, ref_yolo_assignment *out)
{
    int A = out->anchors, G = p->counts[b];
    image_metrics m = {G, A, calloc((size_t)G * A + 1, 1),
                       calloc((size_t)G * A + 1, sizeof(double)),
                       calloc((size_t)G * A + 1, sizeof(double))};
    char *claimed = calloc((size_t)G * A + 1, 1);
    double *max_align = calloc((size_t)G + 1, sizeof(double));
    double *max_overlap = calloc((size_t)G + 1, sizeof(double));
    compute_metrics(p, b, &m);
    select_topk(p, &m, claimed);
    int *gt = out->gt + (size_t)b * A;
    for (int a = 0; a < A; a++) {
        int g = gt[a] = resolve(&m, claimed, a);
        if (g < 0)
            continue;
        max_align[g] = fmax(max_align[g], m.align[(size_t)g * A + a]);
        max_overlap[g] = fmax(max_overlap[g], m.overlap[(size_t)g * A + a]);
    }
    for (int a = 0; a < A; a++) {
        int g = gt[a];
        if (g < 0)
            continue;
        double s = m.align[(size_t)g * A + a] * max_overlap[g] / (max_align[g] + ASSIGN_EPS);
        out->score[(size_t)b * A + a] = s;
        out->score_sum += s;
        out->positives++;
    }
    free(m.inside), free(m.overlap), free(m.align), free(claimed), free(max_align);
    free(max_overlap);
}

void ref_yolo_assign(const ref_yolo_problem *p, ref_yolo_assignment *out)
{
    int A = ref_yolo_anchor_count(p);
    out->anchors = A;
    out->gt = malloc((size_t)p->n * A * sizeof(int));
    out->score = calloc((size_t)p->n * A, sizeof(double));
    out->score_sum = 0.0;
    out->positives = 0;
    for (size_t i = 0; i < (size_t)p->n * A; i++)
        out->gt[i] = -1;
    for (int b = 0; b < p->n; b++)
        assign_image(p, b, out);
}

void ref_yolo_assignment_free(ref_yolo_assignment *a)
{
    free(a->gt);
    free(a->score);
    a->gt = NULL;
    a->score = NULL;
}

/* BCE with logits of every class of anchor a against its one-hot target score. */
static double class_terms(const ref_yolo_problem *p, int b, int a, int cls, double t,
                          double grad_scale, double *dcls)
{
    int pos, l = anchor_level(p, a, &pos);
    const ref_yolo_level *lv = &p->level[l];
    size_t hw = (size_t)lv->h * lv->w;
    double sum = 0.0;
    for (int c = 0; c < p->nc; c++) {
        size_t i = ((size_t)b * p->nc + c) * hw + pos;
        double x = lv->cls[i], target = c == cls ? t : 0.0;
        sum += fmax(x, 0.0) - x * target + log1p(exp(-fabs(x)));
        if (dcls)
            dcls[i] = (sigmoid(x) - target) * grad_scale;
    }
    return sum;
}

/* The predicted and the gt box of positive anchor a in grid units of its level. */
static void loss_boxes(const ref_yolo_problem *p, int b, int a, const double gt[4],
                       double prob[4][16], double d[4], double pred[4], double target[4])
{
    int pos, l = anchor_level(p, a, &pos);
    const ref_yolo_level *lv = &p->level[l];
    double ax, ay;
    for (int j = 0; j < 4; j++)
        d[j] = side_distance(lv, b, pos, j, prob[j]);
    anchor_centre(lv, pos, &ax, &ay);
    pred[0] = ax - d[0], pred[1] = ay - d[1], pred[2] = ax + d[2], pred[3] = ay + d[3];
    for (int k = 0; k < 4; k++)
        target[k] = gt[k] / lv->stride;
}

void ref_yolo_alphas(const ref_yolo_problem *p, const ref_yolo_assignment *as, double *alpha)
{
    for (int b = 0; b < p->n; b++)
        for (int a = 0; a < as->anchors; a++) {
            size_t i = (size_t)b * as->anchors + a;
            alpha[i] = 0.0;
            if (as->gt[i] < 0)
                continue;
            double gt[4], prob[4][16], d[4], pred[4], target[4];
            gt_box(p, b, as->gt[i], gt);
            loss_boxes(p, b, a, gt, prob, d, pred, target);
            ref_ciou(pred, target, &alpha[i]);
        }
}

/* CIoU and DFL of positive anchor a against gt box (pixels); adds their weighted values to
 * *box and *dfl and writes the gradient of both terms (scaled) into dbox. */
static void box_terms(const ref_yolo_problem *p, int b, int a, const double gt[4], double weight,
                      double box_scale, double dfl_scale, double *box, double *dfl, double *dbox)
{
    int pos, l = anchor_level(p, a, &pos);
    const ref_yolo_level *lv = &p->level[l];
    size_t hw = (size_t)lv->h * lv->w;
    double prob[4][16], d[4], ax, ay, pred[4], target[4], ciou_grad[4];
    loss_boxes(p, b, a, gt, prob, d, pred, target);
    anchor_centre(lv, pos, &ax, &ay);
    double ciou = p->frozen_alpha
                      ? ref_ciou_fixed_alpha(
                            pred, target, p->frozen_alpha[(size_t)b * ref_yolo_anchor_count(p) + a])
                      : ref_ciou(pred, target, NULL);
    *box += weight * (1.0 - ciou);
    ref_ciou_grad(pred, target, ciou_grad);
    const double dist_target[4] = {ax - target[0], ay - target[1], target[2] - ax, target[3] - ay};
    const double sign[4] = {-1.0, -1.0, 1.0, 1.0}; /* d(box coordinate)/d(distance) */
    double dfl_sum = 0.0;
    for (int j = 0; j < 4; j++) {
        double z[16], dz[16];
        const double *src = lv->box + (size_t)b * 64 * hw + (size_t)j * 16 * hw + pos;
        for (int i = 0; i < 16; i++)
            z[i] = src[i * hw];
        dfl_sum += ref_dfl(z, dist_target[j], dz);
        /* the box loss is 1 - CIoU: its derivative along the distance */
        double d_dist = -ciou_grad[j] * sign[j] * box_scale * weight;
        if (dbox)
            for (int i = 0; i < 16; i++)
                dbox[(size_t)b * 64 * hw + (size_t)(j * 16 + i) * hw + pos] =
                    d_dist * prob[j][i] * (i - d[j]) + dfl_scale * weight / 4.0 * dz[i];
    }
    *dfl += weight * dfl_sum / 4.0;
}

void ref_yolo_loss_eval(const ref_yolo_problem *p, const ref_yolo_assignment *as,
                        double *const *dbox, double *const *dcls, ref_yolo_loss *out)
{
    double tss = fmax(as->score_sum, 1.0);
    double cls_scale = p->n * GAIN_CLS / tss, box_scale = p->n * GAIN_BOX / tss;
    double dfl_scale = p->n * GAIN_DFL / tss;
    double box = 0.0, cls = 0.0, dfl = 0.0;
    for (int l = 0; l < p->levels; l++)
        if (dbox)
            memset(dbox[l], 0, (size_t)p->n * 64 * p->level[l].h * p->level[l].w * sizeof(double));
    for (int b = 0; b < p->n; b++)
        for (int a = 0; a < as->anchors; a++) {
            int pos, l = anchor_level(p, a, &pos), g = as->gt[(size_t)b * as->anchors + a];
            double t = as->score[(size_t)b * as->anchors + a], gt[4];
            int label = g >= 0 ? gt_box(p, b, g, gt) : -1;
            cls += class_terms(p, b, a, label, t, cls_scale, dcls ? dcls[l] : NULL);
            if (g >= 0)
                box_terms(p, b, a, gt, t, box_scale, dfl_scale, &box, &dfl, dbox ? dbox[l] : NULL);
        }
    out->box = box / tss;
    out->cls = cls / tss;
    out->dfl = dfl / tss;
    out->total = p->n * (GAIN_BOX * out->box + GAIN_CLS * out->cls + GAIN_DFL * out->dfl);
}
