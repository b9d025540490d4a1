/* Non-maximum suppression on the host: a stable order by score, greedy suppression within a
 * class (or across classes), at most max_det kept. */
#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "train/eval_internal.h"
#include "yolokd/eval.h"

void ykd_detect_options_default(ykd_detect_options *o)
{
    o->conf = 0.001f;
    o->iou = 0.7f;
    o->max_det = 300;
    o->max_nms = 30000;
    o->multi_label = true;
    o->agnostic = false;
}

ykd_status ykd_detect_options_check(const ykd_detect_options *o, ykd_error *err)
{
    if (!(o->conf >= 0.0f && o->conf <= 1.0f) || !(o->iou >= 0.0f && o->iou <= 1.0f))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "detect: confidence %g and IoU %g must lie in [0, 1]", o->conf, o->iou);
    if (o->max_det < 1 || o->max_nms < 1)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "detect: max_det %d and max_nms %d must be at least 1", o->max_det,
                        o->max_nms);
    return YKD_OK;
}

double ykd_box_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                   float by2)
{
    double iw = fmin(ax2, bx2) - fmax(ax1, bx1), ih = fmin(ay2, by2) - fmax(ay1, by1);
    double inter = iw > 0 && ih > 0 ? iw * ih : 0.0;
    double uni = (double)(ax2 - ax1) * (ay2 - ay1) + (double)(bx2 - bx1) * (by2 - by1) - inter;
    return uni > 0 ? inter / uni : 0.0;
}

/* Candidates by descending score; equal scores by position, so the order is total. */
typedef struct ranked {
    float score;
    size_t index;
} ranked;

static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

ykd_status ykd_rank_by_score(const ykd_detection *items, size_t count, size_t **order,
                             ykd_error *err)
{
    *order = NULL;
    ranked *r = malloc((count ? count : 1) * sizeof *r);
    size_t *o = malloc((count ? count : 1) * sizeof *o);
    if (!r || !o) {
        free(r), free(o);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "ranking %zu detections: out of memory", count);
    }
    for (size_t i = 0; i < count; i++)
        r[i] = (ranked){items[i].score, i};
    qsort(r, count, sizeof *r, by_score);
    for (size_t i = 0; i < count; i++)
        o[i] = r[i].index;
    free(r);
    *order = o;
    return YKD_OK;
}

/* The k-th largest (1-based) of v[0 .. n), by Hoare selection; v is reordered. */
static float kth_largest(float *v, long n, long k)
{
    long lo = 0, hi = n - 1, target = k - 1; /* target's place in descending order */
    while (lo < hi) {
        float a = v[lo], b = v[(lo + hi) / 2], c = v[hi];
        float pivot = fmaxf(fminf(a, b), fminf(fmaxf(a, b), c)); /* median of three */
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] > pivot)
                i++;
            while (v[j] < pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (target <= j)
            hi = j;
        else if (target >= i)
            lo = i;
        else
            return v[target]; /* between the halves: equal to the pivot */
    }
    return v[lo];
}

/* *order = the first `limit` indices of the ranking by score (ykd_rank_by_score) without
 * sorting them all: a selection finds the limit-th score, then only what ranks above it is
 * sorted. An untrained model at conf 0.001 offers every (anchor, class): 672,000 per image at
 * 640 with 80 classes. */
static ykd_status rank_top(const ykd_detection *items, size_t count, size_t limit, size_t **order,
                           ykd_error *err)
{
    if (count <= limit)
        return ykd_rank_by_score(items, count, order, err);
    float *scores = malloc(count * sizeof *scores);
    ykd_detection *top = malloc(limit * sizeof *top);
    size_t *index = malloc(limit * sizeof *index), *sub = NULL;
    ykd_status st = scores && top && index
                        ? YKD_OK
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "nms: out of memory");
    if (st == YKD_OK) {
        for (size_t i = 0; i < count; i++)
            scores[i] = items[i].score;
        float cut = kth_largest(scores, (long)count, (long)limit);
        size_t n = 0;
        for (size_t i = 0; i < count; i++) /* above the cut, in order */
            if (items[i].score > cut)
                index[n++] = i;
        for (size_t i = 0; i < count && n < limit; i++) /* then equal to it, in order */
            if (items[i].score == cut)
                index[n++] = i;
        for (size_t i = 0; i < n; i++)
            top[i] = items[index[i]];
        /* top keeps the original order within equal scores, so its ranking is the original's */
        st = ykd_rank_by_score(top, n, &sub, err);
        for (size_t i = 0; st == YKD_OK && i < n; i++)
            sub[i] = index[sub[i]];
    }
    free(scores), free(top), free(index);
    *order = st == YKD_OK ? sub : NULL;
    if (st != YKD_OK)
        free(sub);
    return st;
}

/* Whether d overlaps a kept box of its class (any class when agnostic) by more than iou, IoU
 * rounded to float first as torchvision compares it. The kept boxes of a class are chained
 * through next[] from head[class]. */
static bool suppressed(const ykd_detection *d, const ykd_detection *kept, const int *next,
                       int first, float iou)
{
    for (int k = first; k >= 0; k = next[k])
        if ((float)ykd_box_iou(d->x1, d->y1, d->x2, d->y2, kept[k].x1, kept[k].y1, kept[k].x2,
                               kept[k].y2) > iou)
            return true;
    return false;
}

/* The chain a detection belongs to: its class, or one chain for all when agnostic. */
static int chain_of(const ykd_detection *d, bool agnostic, int *heads, int *head_count,
                    int *classes)
{
    int cls = agnostic ? 0 : d->cls;
    for (int h = 0; h < *head_count; h++)
        if (classes[h] == cls)
            return h;
    classes[*head_count] = cls;
    heads[*head_count] = -1;
    return (*head_count)++;
}

ykd_status ykd_nms(const ykd_detection *candidates, size_t count, const ykd_detect_options *o,
                   ykd_detection **out, size_t *out_count, ykd_error *err)
{
    *out = NULL;
    *out_count = 0;
    ykd_status st = ykd_detect_options_check(o, err);
    for (size_t i = 0; st == YKD_OK && i < count; i++)
        if (!isfinite(candidates[i].score))
            st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "nms: candidate %zu has score %g", i,
                          candidates[i].score);
    size_t limit = count < (size_t)o->max_nms ? count : (size_t)o->max_nms;
    size_t *order = NULL;
    if (st == YKD_OK)
        st = rank_top(candidates, count, limit, &order, err);
    if (st != YKD_OK || count == 0) {
        free(order);
        return st;
    }
    size_t cap = (size_t)o->max_det;
    ykd_detection *kept = malloc(cap * sizeof *kept);
    int *next = malloc(cap * sizeof *next), *heads = malloc(cap * sizeof *heads);
    int *classes = malloc(cap * sizeof *classes), head_count = 0;
    if (!kept || !next || !heads || !classes) {
        free(order), free(kept), free(next), free(heads), free(classes);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "nms: out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < limit && n < cap; i++) {
        const ykd_detection *d = &candidates[order[i]];
        int h = chain_of(d, o->agnostic, heads, &head_count, classes);
        if (suppressed(d, kept, next, heads[h], o->iou))
            continue; /* (a new chain is empty, so its first box is always kept) */
        kept[n] = *d;
        next[n] = heads[h];
        heads[h] = (int)n++;
    }
    free(order), free(next), free(heads), free(classes);
    if (n == 0) {
        free(kept);
        kept = NULL;
    }
    *out = kept;
    *out_count = n;
    return YKD_OK;
}
