/* The YOLOv8 detection loss (include/yolokd/loss.h has the definitions; src/train/loss_yolo*.c
 * launches these kernels in this order):
 *
 *   yolo_decode   per level, a work-item per (anchor, image): the predicted box from the DFL
 *                 bins; resets the anchor's assignment; counts non-finite box logits.
 *   yolo_topk     a work-group per (gt, image): the gt's top-k candidates by alignment.
 *   yolo_resolve  a work-group per image: anchors claimed by several gts, target scores.
 *   yolo_scale    one work-item: the target-score sum and the gradient scales.
 *   yolo_cls_loss per level, a work-item per (class logit, image): BCE and its gradient.
 *   yolo_box_zero per level, when gradients are written: the box-logit gradient zeroed.
 *   yolo_box_loss a work-item per assigned anchor (resolve's slots): CIoU and DFL with their
 *                 gradients, written over the zeros.
 * The class loss is element-wise with arithmetic only (PoCL's log and log1p are scalar calls);
 * the box terms run where they are needed, at the assigned anchors.
 *
 * Anchors are numbered level by level, row-major; level l's geometry is an int4 (H, W, stride,
 * first anchor). Per-image arrays are indexed image * anchors + anchor. Partial sums are
 * reduced within a work-group in a fixed tree order and summed on the host, so the results do
 * not depend on scheduling. Work-groups are GROUP work-items (cl/loss_common.cl: the host
 * chooses it for the device, at least 1). */

#define BINS DFL_BINS /* cl/shared.cl */
#define MAX_TOPK 16
#define CIOU_EPS 1e-7f
#define ASSIGN_EPS 1e-9f
#define DFL_MAX_TARGET 14.99f /* bins - 1 - 0.01, so the right-hand bin exists */
#define ASPECT_K 0.40528473456935108f /* 4 / pi^2 */

/* ---- boxes ------------------------------------------------------------------------------ */

/* Everything CIoU computes on the way, for the gradient (boxes are x1, y1, x2, y2). */
typedef struct ciou_parts {
    float w1, h1, w2, h2, iw, ih, inter, uni, iou, cw, ch, c2, dx, dy, rho2, atan_diff, v, alpha;
} ciou_parts;

/* Ultralytics' bbox_iou(CIoU=True): eps on the heights, the union and the diagonal. */
void ciou_compute(float4 p, float4 t, ciou_parts *c)
{
    c->w1 = p.z - p.x;
    c->h1 = p.w - p.y + CIOU_EPS;
    c->w2 = t.z - t.x;
    c->h2 = t.w - t.y + CIOU_EPS;
    c->iw = fmin(p.z, t.z) - fmax(p.x, t.x);
    c->ih = fmin(p.w, t.w) - fmax(p.y, t.y);
    c->inter = fmax(c->iw, 0.0f) * fmax(c->ih, 0.0f);
    c->uni = c->w1 * c->h1 + c->w2 * c->h2 - c->inter + CIOU_EPS;
    c->iou = c->inter / c->uni;
    c->cw = fmax(p.z, t.z) - fmin(p.x, t.x);
    c->ch = fmax(p.w, t.w) - fmin(p.y, t.y);
    c->c2 = c->cw * c->cw + c->ch * c->ch + CIOU_EPS;
    c->dx = t.x + t.z - p.x - p.z;
    c->dy = t.y + t.w - p.y - p.w;
    c->rho2 = (c->dx * c->dx + c->dy * c->dy) * 0.25f;
    c->atan_diff = atan(c->w2 / c->h2) - atan(c->w1 / c->h1);
    c->v = ASPECT_K * c->atan_diff * c->atan_diff;
    c->alpha = c->v / (c->v - c->iou + (1.0f + CIOU_EPS));
}

float ciou_value(const ciou_parts *c)
{
    return c->iou - (c->rho2 / c->c2 + c->v * c->alpha);
}

/* d CIoU / d p with alpha held constant. Where a min or max ties, p's coordinate is taken as
 * the one kept (the float64 reference does the same). */
float4 ciou_gradient(float4 p, float4 t, const ciou_parts *c)
{
    float4 d_inter = (float4)(0.0f);
    if (c->iw > 0.0f && c->ih > 0.0f)
        d_inter = (float4)(p.x >= t.x ? -c->ih : 0.0f, p.y >= t.y ? -c->iw : 0.0f,
                           p.z <= t.z ? c->ih : 0.0f, p.w <= t.w ? c->iw : 0.0f);
    float4 d_area = (float4)(-c->h1, -c->w1, c->h1, c->w1);
    float4 d_c2 = (float4)(p.x <= t.x ? -2.0f * c->cw : 0.0f, p.y <= t.y ? -2.0f * c->ch : 0.0f,
                           p.z >= t.z ? 2.0f * c->cw : 0.0f, p.w >= t.w ? 2.0f * c->ch : 0.0f);
    float4 d_rho2 = (float4)(-c->dx, -c->dy, -c->dx, -c->dy) * 0.5f;
    float r2 = c->w1 * c->w1 + c->h1 * c->h1;
    float dv_dw = -2.0f * ASPECT_K * c->atan_diff * c->h1 / r2;
    float dv_dh = 2.0f * ASPECT_K * c->atan_diff * c->w1 / r2;
    float4 d_v = (float4)(-dv_dw, -dv_dh, dv_dw, dv_dh);
    float4 d_iou = (d_inter * c->uni - c->inter * (d_area - d_inter)) / (c->uni * c->uni);
    float4 d_dist = (d_rho2 * c->c2 - c->rho2 * d_c2) / (c->c2 * c->c2);
    return d_iou - d_dist - c->alpha * d_v;
}

/* The overlap the assigner uses: CIoU clamped at 0. */
float overlap_of(float4 gt, float4 pred)
{
    ciou_parts c;
    ciou_compute(pred, gt, &c);
    return fmax(ciou_value(&c), 0.0f);
}

/* Gt g of image n in input pixels, and its class (the host has checked the labels). */
float4 gt_box(__global const float *labels, int row, float img_w, float img_h, int *cls)
{
    __global const float *r = labels + (size_t)row * 5;
    *cls = (int)r[0];
    float cx = r[1] * img_w, cy = r[2] * img_h, w = r[3] * img_w, h = r[4] * img_h;
    return (float4)(cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h);
}

/* Whether an anchor centre (pixels) lies inside a box by more than the assigner's eps. */
bool centre_inside(float ax, float ay, float4 b)
{
    return fmin(fmin(ax - b.x, ay - b.y), fmin(b.z - ax, b.w - ay)) > ASSIGN_EPS;
}

/* ---- level arguments ---------------------------------------------------------------------- */

/* Kernels that look at every level take, per level k: geometry, and the class logits. */
#define LEVEL_PARAMS(k)                                                                       \
    int4 geom##k, __global const float *cls##k, uint cls_off##k, uint cls_batch##k
#define PICK(l, name) ((l) == 0 ? name##0 : (l) == 1 ? name##1 : (l) == 2 ? name##2 : name##3)

/* The level holding global anchor a (levels are in order of their first anchor). */
int level_of(int a, int levels, int4 g1, int4 g2, int4 g3)
{
    return (levels > 3 && a >= g3.w) ? 3 : (levels > 2 && a >= g2.w) ? 2
                                         : (levels > 1 && a >= g1.w) ? 1 : 0;
}

/* ---- decode ------------------------------------------------------------------------------- */

/* pred[n][a] = the box of anchor a in grid units; the anchor's assignment reset; partial[group]
 * = how many of the group's box logits are NaN or infinite. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void yolo_decode(__global const float *box, uint box_off, uint box_batch, int4 geom,
                 int anchors, __global float4 *pred, __global int *anchor_gt,
                 __global int *anchor_cls, __global float *anchor_score,
                 __global float *partial, uint partial_off)
{
    __local float scratch[GROUP];
    int pos = get_global_id(0), n = get_global_id(1);
    int hw = geom.x * geom.y;
    float bad = 0.0f;
    if (pos < hw) {
        __global const float *z = box + box_off + (size_t)n * box_batch + pos;
        float prob[BINS], d[4];
        float2 norm;
        for (int j = 0; j < 4; j++) {
            __global const float *side = z + (size_t)j * BINS * hw;
            for (int i = 0; i < BINS; i++)
                bad += isfinite(side[i * hw]) ? 0.0f : 1.0f;
            d[j] = dfl_side(side, hw, prob, &norm);
        }
        float ax = (float)(pos % geom.y) + 0.5f, ay = (float)(pos / geom.y) + 0.5f;
        size_t a = (size_t)n * anchors + geom.w + pos;
        pred[a] = (float4)(ax - d[0], ay - d[1], ax + d[2], ay + d[3]);
        anchor_gt[a] = -1;
        anchor_cls[a] = -1;
        anchor_score[a] = 0.0f;
    }
    float total = group_sum(bad, scratch);
    if (get_local_id(0) == 0)
        partial[partial_off + get_group_id(1) * get_num_groups(0) + get_group_id(0)] = total;
}

/* ---- top-k per gt ------------------------------------------------------------------------- */

/* Whether candidate (al1, a1) ranks before (al2, a2): higher alignment, then lower anchor;
 * an empty entry (anchor -1) ranks last. */
bool ranks_before(float al1, int a1, float al2, int a2)
{
    if (a1 < 0)
        return false;
    if (a2 < 0)
        return true;
    if (al1 != al2)
        return al1 > al2;
    return a1 < a2;
}

/* Inserts a candidate into a sorted list of k entries, dropping the last. */
void list_insert(float al[MAX_TOPK], int an[MAX_TOPK], float ov[MAX_TOPK], int k, float cal,
                 int can, float cov)
{
    if (!ranks_before(cal, can, al[k - 1], an[k - 1]))
        return;
    int i = k - 1;
    while (i > 0 && ranks_before(cal, can, al[i - 1], an[i - 1])) {
        al[i] = al[i - 1], an[i] = an[i - 1], ov[i] = ov[i - 1];
        i--;
    }
    al[i] = cal, an[i] = can, ov[i] = cov;
}

/* The k best of two sorted lists in local memory (at a and b) into list a. */
void list_merge(__local float *al, __local int *an, __local float *ov, int a, int b, int k)
{
    float mal[MAX_TOPK], mov[MAX_TOPK];
    int man[MAX_TOPK];
    int i = 0, j = 0;
    for (int m = 0; m < k; m++) {
        bool take_a = j >= k || (i < k && !ranks_before(al[b + j], an[b + j], al[a + i],
                                                         an[a + i]));
        int src = take_a ? a + i : b + j;
        mal[m] = al[src], man[m] = an[src], mov[m] = ov[src];
        if (take_a)
            i++;
        else
            j++;
    }
    for (int m = 0; m < k; m++)
        al[a + m] = mal[m], an[a + m] = man[m], ov[a + m] = mov[m];
}

/* The class logit of class c at cell pos of image n of a level (hw cells). */
float logit_at(__global const float *cls, uint off, uint batch, int hw, int n, int c, int pos)
{
    return cls[off + (size_t)n * batch + (size_t)c * hw + pos];
}

/* The alignment metric: score^alpha * overlap^beta. */
float alignment(float logit, float overlap, float alpha, float beta)
{
    return pow(sigmoid_of(logit), alpha) * pow(overlap, beta);
}

/* The centre of cell pos of a level, in input pixels. */
float2 anchor_pixels(int4 geo, int pos)
{
    float s = (float)geo.z;
    return (float2)(((float)(pos % geo.y) + 0.5f) * s, ((float)(pos / geo.y) + 0.5f) * s);
}

/* The window of a level's cells (x0, y0, columns, cells) whose centres may lie inside gt: a
 * centre (x + 0.5) * s lies inside when x0 <= x <= x1 below; empty for absent levels. */
int4 candidate_window(float4 gt, int4 geo, bool present)
{
    float s = (float)geo.z;
    float fx0 = clamp(floor(gt.x / s - 0.5f), -1.0f, (float)geo.y);
    float fx1 = clamp(ceil(gt.z / s - 0.5f), -1.0f, (float)geo.y);
    float fy0 = clamp(floor(gt.y / s - 0.5f), -1.0f, (float)geo.x);
    float fy1 = clamp(ceil(gt.w / s - 0.5f), -1.0f, (float)geo.x);
    int x0 = max(0, (int)fx0), x1 = min(geo.y - 1, (int)fx1);
    int y0 = max(0, (int)fy0), y1 = min(geo.x - 1, (int)fy1);
    if (!present || x1 < x0 || y1 < y0)
        return (int4)(0, 0, 1, 0);
    return (int4)(x0, y0, x1 - x0 + 1, (x1 - x0 + 1) * (y1 - y0 + 1));
}

/* One work-group per (gt, image): every candidate of the gt gets its overlap and alignment;
 * each work-item keeps its best k, then the lists are merged in a tree. Output per gt: k
 * anchors (best first, -1 when fewer candidates), their alignments and overlaps. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void yolo_topk(__global const float *labels, __global const int *counts, int max_boxes,
               int levels, int anchors, __global const float4 *pred, int k, float alpha,
               float beta, LEVEL_PARAMS(0), LEVEL_PARAMS(1), LEVEL_PARAMS(2), LEVEL_PARAMS(3),
               __global int *top_anchor, __global float *top_align,
               __global float *top_overlap)
{
    __local float l_al[GROUP * MAX_TOPK], l_ov[GROUP * MAX_TOPK];
    __local int l_an[GROUP * MAX_TOPK];
    int g = get_group_id(0), n = get_global_id(1), lid = get_local_id(0);
    if (g >= counts[n]) /* the whole group leaves together */
        return;
    float img_w = (float)(geom0.y * geom0.z), img_h = (float)(geom0.x * geom0.z);
    int gt_cls;
    float4 gt = gt_box(labels, n * max_boxes + g, img_w, img_h, &gt_cls);
    int4 win[4];
    int total = 0;
    for (int l = 0; l < 4; l++) {
        win[l] = candidate_window(gt, PICK(l, geom), l < levels);
        total += win[l].w;
    }
    float al[MAX_TOPK], ov[MAX_TOPK];
    int an[MAX_TOPK];
    for (int i = 0; i < k; i++)
        al[i] = 0.0f, an[i] = -1, ov[i] = 0.0f;
    for (int c = lid; c < total; c += GROUP) {
        int l = 0, rest = c;
        while (rest >= win[l].w) /* total is the sum, so this stops at a level */
            rest -= win[l++].w;
        int4 geo = PICK(l, geom);
        int pos = (win[l].y + rest / win[l].z) * geo.y + win[l].x + rest % win[l].z;
        float2 centre = anchor_pixels(geo, pos);
        if (!centre_inside(centre.x, centre.y, gt))
            continue;
        int a = geo.w + pos;
        float o = overlap_of(gt, pred[(size_t)n * anchors + a] * (float)geo.z);
        float logit = logit_at(PICK(l, cls), PICK(l, cls_off), PICK(l, cls_batch),
                               geo.x * geo.y, n, gt_cls, pos);
        list_insert(al, an, ov, k, alignment(logit, o, alpha, beta), a, o);
    }
    for (int i = 0; i < k; i++)
        l_al[lid * k + i] = al[i], l_an[lid * k + i] = an[i], l_ov[lid * k + i] = ov[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = 1; step < GROUP; step *= 2) {
        if (lid % (2 * step) == 0)
            list_merge(l_al, l_an, l_ov, lid * k, (lid + step) * k, k);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = lid; i < k; i += GROUP) { /* a group may be smaller than k */
        size_t o = ((size_t)n * max_boxes + g) * k + i;
        top_anchor[o] = l_an[i];
        top_align[o] = l_al[i];
        top_overlap[o] = l_ov[i];
    }
}

/* ---- conflicts and target scores (a work-group per image) -------------------------------- */

/* The gt that anchor a (cell pos of level geometry geo) goes to when several claim it: among
 * the gts it lies inside, the highest overlap, the lowest index among equals. Its overlap
 * comes back in *best_overlap and its class in *best_cls. */
int best_gt_for(float4 pred_grid, int4 geo, int pos, int gts, __global const float *labels,
                int first_row, float img_w, float img_h, float *best_overlap, int *best_cls)
{
    float2 centre = anchor_pixels(geo, pos);
    float4 p = pred_grid * (float)geo.z;
    int best = -1;
    *best_overlap = 0.0f;
    *best_cls = 0;
    for (int g = 0; g < gts; g++) {
        int cls;
        float4 gt = gt_box(labels, first_row + g, img_w, img_h, &cls);
        if (!centre_inside(centre.x, centre.y, gt))
            continue;
        float o = overlap_of(gt, p);
        if (best < 0 || o > *best_overlap)
            best = g, *best_overlap = o, *best_cls = cls;
    }
    return best;
}

/* Slots are (gt, rank) pairs of the image's top-k lists. Phase 1: the lowest-index claimer of
 * each anchor settles which gt gets it (slot_gt; -1 in every other slot). Phase 2: per gt, the
 * largest alignment and overlap over its anchors. Phase 3: target scores into the per-anchor
 * arrays. Phase 4: the image's score sum and positive count (partial[n], partial[images + n]). */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void yolo_resolve(__global const float *labels, __global const int *counts, int max_boxes,
                  int levels, int anchors, __global const float4 *pred, int k, float alpha,
                  float beta, LEVEL_PARAMS(0), LEVEL_PARAMS(1), LEVEL_PARAMS(2),
                  LEVEL_PARAMS(3), __global const int *top_anchor,
                  __global const float *top_align, __global const float *top_overlap,
                  int images, __global int *slot_gt, __global float *slot_align,
                  __global float *slot_overlap, __global float *gt_max,
                  __global int *anchor_gt, __global int *anchor_cls,
                  __global float *anchor_score, __global float *partial)
{
    int n = get_group_id(1), lid = get_local_id(0);
    int gts = counts[n], slots = gts * k;
    size_t base = (size_t)n * max_boxes * k;
    __global const int *ta = top_anchor + base;
    for (int s = lid; s < slots; s += GROUP) {
        int a = ta[s], g = s / k, claims = 0, first = -1;
        for (int t = 0; a >= 0 && t < slots; t++)
            if (ta[t] == a && claims++ == 0)
                first = t / k;
        int owner = -1;
        float al = 0.0f, ov = 0.0f;
        if (a >= 0 && first == g) {
            if (claims == 1) {
                owner = g, al = top_align[base + s], ov = top_overlap[base + s];
            } else {
                int l = level_of(a, levels, geom1, geom2, geom3), gt_cls;
                int4 geo = PICK(l, geom);
                int pos = a - geo.w;
                float img_w = (float)(geom0.y * geom0.z), img_h = (float)(geom0.x * geom0.z);
                owner = best_gt_for(pred[(size_t)n * anchors + a], geo, pos, gts, labels,
                                    n * max_boxes, img_w, img_h, &ov, &gt_cls);
                float logit = logit_at(PICK(l, cls), PICK(l, cls_off), PICK(l, cls_batch),
                                       geo.x * geo.y, n, gt_cls, pos);
                al = alignment(logit, ov, alpha, beta);
            }
        }
        slot_gt[base + s] = owner;
        slot_align[base + s] = al;
        slot_overlap[base + s] = ov;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    __global float *gmax = gt_max + (size_t)n * max_boxes * 2;
    for (int g = lid; g < gts; g += GROUP) {
        float max_al = 0.0f, max_ov = 0.0f;
        for (int s = 0; s < slots; s++)
            if (slot_gt[base + s] == g) {
                max_al = fmax(max_al, slot_align[base + s]);
                max_ov = fmax(max_ov, slot_overlap[base + s]);
            }
        gmax[2 * g] = max_al;
        gmax[2 * g + 1] = max_ov;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (int s = lid; s < slots; s += GROUP) {
        int g = slot_gt[base + s];
        if (g < 0)
            continue;
        float score = slot_align[base + s] * gmax[2 * g + 1] / (gmax[2 * g] + ASSIGN_EPS);
        size_t a = (size_t)n * anchors + ta[s];
        anchor_gt[a] = g;
        anchor_cls[a] = (int)labels[((size_t)n * max_boxes + g) * 5];
        anchor_score[a] = score;
        slot_align[base + s] = score; /* kept for the sum below */
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid == 0) {
        float sum = 0.0f, positives = 0.0f;
        for (int s = 0; s < slots; s++)
            if (slot_gt[base + s] >= 0) {
                sum += slot_align[base + s];
                positives += 1.0f;
            }
        partial[n] = sum;
        partial[images + n] = positives;
    }
}

/* scales = (S, N * cls_gain / S, N * box_gain / S, N * dfl_gain / S) with S the target-score
 * sum over the batch, at least 1. One work-item. */
__kernel void yolo_scale(__global const float *partial, int images, float cls_gain,
                         float box_gain, float dfl_gain, __global float *scales)
{
    if (get_global_id(0) != 0)
        return;
    float sum = 0.0f;
    for (int n = 0; n < images; n++)
        sum += partial[n];
    float s = fmax(sum, 1.0f);
    scales[0] = s;
    scales[1] = (float)images * cls_gain / s;
    scales[2] = (float)images * box_gain / s;
    scales[3] = (float)images * dfl_gain / s;
}

/* ---- the loss ----------------------------------------------------------------------------- */

/* One work-item per class logit of a level (element i = class * cells + cell, image n): BCE
 * with logits against the one-hot target score of its anchor, and its gradient. Element-wise
 * with no loop, so CPU compilers vectorise it across work-items. partial[group] = the group's
 * sum. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void yolo_cls_loss(__global const float *cls, uint cls_off, uint cls_batch, int4 geom, int nc,
                   int anchors, __global const int *anchor_cls,
                   __global const float *anchor_score, __global const float *scales,
                   int has_grad, int accumulate, __global float *dcls, uint dcls_off,
                   uint dcls_batch, __global float *partial, uint partial_off)
{
    __local float scratch[GROUP];
    int i = get_global_id(0), n = get_global_id(1);
    int hw = geom.x * geom.y;
    float bce = 0.0f;
    if (i < hw * nc) {
        int c = i / hw, pos = i - c * hw;
        size_t a = (size_t)n * anchors + geom.w + pos;
        float t = anchor_cls[a] == c ? anchor_score[a] : 0.0f;
        float v = cls[cls_off + (size_t)n * cls_batch + i];
        float e = exp(-fabs(v));
        bce = fmax(v, 0.0f) - v * t + log1p_unit(e);
        if (has_grad) {
            float d = (sigmoid_given_exp(v, e) - t) * scales[1];
            size_t o = dcls_off + (size_t)n * dcls_batch + i;
            dcls[o] = accumulate ? dcls[o] + d : d;
        }
    }
    float sum = group_sum(bce, scratch);
    if (get_local_id(0) == 0)
        partial[partial_off + get_group_id(1) * get_num_groups(0) + get_group_id(0)] = sum;
}

/* Zeroes a level's box-logit gradient [N, 64, H, W] (a view: offset and batch stride); the
 * assigned anchors' gradients are written over it afterwards. */
__kernel void yolo_box_zero(__global float *dbox, uint off, uint batch, uint count)
{
    uint i = get_global_id(0), n = get_global_id(1);
    if (i < count)
        dbox[off + (size_t)n * batch + i] = 0.0f;
}

/* CIoU and DFL of an assigned anchor (ax, ay in grid units) against gt (grid units); writes
 * the 64 gradients unless dz is absent; returns (weighted 1 - CIoU, weighted mean DFL). */
float2 box_terms(__global const float *z, __global float *dz, uint hw, float ax, float ay,
                 float4 gt, float weight, float box_scale, float dfl_scale, int accumulate)
{
    float prob[4][BINS], d[4], lse[4];
    for (int j = 0; j < 4; j++) {
        float2 norm;
        d[j] = dfl_side(z + (size_t)j * BINS * hw, hw, prob[j], &norm);
        lse[j] = norm.x + log(norm.y);
    }
    float4 p = (float4)(ax - d[0], ay - d[1], ax + d[2], ay + d[3]);
    ciou_parts c;
    ciou_compute(p, gt, &c);
    float4 g = ciou_gradient(p, gt, &c);
    /* the loss is 1 - CIoU; a distance moves its coordinate by -1 (left, top) or +1 */
    float d_dist[4] = {g.x * box_scale * weight, g.y * box_scale * weight,
                       -g.z * box_scale * weight, -g.w * box_scale * weight};
    float target[4] = {ax - gt.x, ay - gt.y, gt.z - ax, gt.w - ay};
    float dfl = 0.0f;
    for (int j = 0; j < 4; j++) {
        float tj = clamp(target[j], 0.0f, DFL_MAX_TARGET);
        int left = (int)tj;
        float w_left = (float)(left + 1) - tj, w_right = 1.0f - w_left;
        __global const float *zj = z + (size_t)j * BINS * hw;
        dfl += w_left * (lse[j] - zj[left * hw]) + w_right * (lse[j] - zj[(left + 1) * hw]);
        if (!dz)
            continue;
        for (int i = 0; i < BINS; i++) {
            float one_hot = (i == left ? w_left : 0.0f) + (i == left + 1 ? w_right : 0.0f);
            float v = d_dist[j] * prob[j][i] * ((float)i - d[j]) +
                      dfl_scale * weight * 0.25f * (prob[j][i] - one_hot);
            size_t o = (size_t)(j * BINS + i) * hw;
            dz[o] = accumulate ? dz[o] + v : v;
        }
    }
    return (float2)(weight * (1.0f - ciou_value(&c)), weight * dfl * 0.25f);
}

/* Per level k: geometry, box logits and their gradient. */
#define BOX_LEVEL_PARAMS(k)                                                                   \
    int4 geom##k, __global const float *box##k, uint box_off##k, uint box_batch##k,            \
        __global float *dbox##k, uint dbox_off##k, uint dbox_batch##k

/* One work-item per slot of resolve's records (the assigned anchors: one slot each): CIoU and
 * DFL of the anchor against its gt and their gradients. partial[group * 2 + (0, 1)] = the
 * group's sums of weighted (1 - CIoU) and weighted DFL. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void yolo_box_loss(__global const float *labels, __global const int *counts, int max_boxes,
                   int levels, int anchors, int k, BOX_LEVEL_PARAMS(0), BOX_LEVEL_PARAMS(1),
                   BOX_LEVEL_PARAMS(2), BOX_LEVEL_PARAMS(3), __global const int *top_anchor,
                   __global const int *slot_gt, __global const float *anchor_score,
                   __global const float *scales, int has_grad, int accumulate,
                   __global float *partial, uint partial_off)
{
    __local float scratch[GROUP];
    int s = get_global_id(0), n = get_global_id(1);
    float2 terms = (float2)(0.0f);
    size_t slot = (size_t)n * max_boxes * k + s;
    int g = s < counts[n] * k ? slot_gt[slot] : -1;
    if (g >= 0) {
        int a = top_anchor[slot], l = level_of(a, levels, geom1, geom2, geom3), cls;
        int4 geo = PICK(l, geom);
        int pos = a - geo.w;
        uint hw = (uint)(geo.x * geo.y);
        float img_w = (float)(geom0.y * geom0.z), img_h = (float)(geom0.x * geom0.z);
        float4 gt = gt_box(labels, n * max_boxes + g, img_w, img_h, &cls) / (float)geo.z;
        __global const float *z = PICK(l, box) + PICK(l, box_off) +
                                  (size_t)n * PICK(l, box_batch) + pos;
        __global float *dz = has_grad ? PICK(l, dbox) + PICK(l, dbox_off) +
                                            (size_t)n * PICK(l, dbox_batch) + pos
                                      : 0;
        float ax = (float)(pos % geo.y) + 0.5f, ay = (float)(pos / geo.y) + 0.5f;
        terms = box_terms(z, dz, hw, ax, ay, gt, anchor_score[(size_t)n * anchors + a],
                          scales[2], scales[3], accumulate);
    }
    uint group = get_group_id(1) * get_num_groups(0) + get_group_id(0);
    float s0 = group_sum(terms.x, scratch);
    if (get_local_id(0) == 0)
        partial[partial_off + group * 2] = s0;
    barrier(CLK_LOCAL_MEM_FENCE);
    float s1 = group_sum(terms.y, scratch);
    if (get_local_id(0) == 0)
        partial[partial_off + group * 2 + 1] = s1;
}
