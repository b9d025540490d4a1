/* The YOLOv8 detection loss's public side: options, the object, one computation (check, launch,
 * read back), and the loss values from the per-group sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/loss_yolo_internal.h"

void ykd_yolo_loss_options_default(ykd_yolo_loss_options *o)
{
    o->topk = 10;
    o->alpha = 0.5f;
    o->beta = 6.0f;
    o->box_gain = 7.5f;
    o->cls_gain = 0.5f;
    o->dfl_gain = 1.5f;
}

ykd_status ykd_yolo_loss_init(ykd_device *device, int nc, const ykd_yolo_loss_options *options,
                              ykd_yolo_loss **loss, ykd_error *err)
{
    *loss = NULL;
    ykd_yolo_loss_options o;
    if (options)
        o = *options;
    else
        ykd_yolo_loss_options_default(&o);
    if (!device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "yolo_loss: no device");
    if (nc < 1 || nc > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "yolo_loss: %d classes", nc);
    if (o.topk < 1 || o.topk > YKD_YOLO_MAX_TOPK)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "yolo_loss: top-k %d outside 1 to %d",
                        o.topk, YKD_YOLO_MAX_TOPK);
    if (!(o.alpha >= 0.0f && o.beta >= 0.0f && o.box_gain >= 0.0f && o.cls_gain >= 0.0f &&
          o.dfl_gain >= 0.0f) ||
        !isfinite(o.alpha + o.beta + o.box_gain + o.cls_gain + o.dfl_gain))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "yolo_loss: alpha, beta and the gains must be finite and >= 0");
    ykd_yolo_loss *l = calloc(1, sizeof *l);
    if (!l)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "yolo_loss: out of host memory");
    l->device = device;
    l->nc = nc;
    l->options = o;
    *loss = l;
    return YKD_OK;
}

void ykd_yolo_loss_free(ykd_yolo_loss *loss)
{
    if (!loss)
        return;
    ykd_yolo_scratch_free(&loss->scratch);
    free(loss->host_partial);
    free(loss);
}

/* The sum of count partials from at, in order (double, so the order is all that matters). */
static double sum_range(const float *p, size_t at, size_t count, size_t stride)
{
    double sum = 0.0;
    for (size_t i = 0; i < count; i++)
        sum += p[at + i * stride];
    return sum;
}

/* Sums the partials read back into the loss values; fails on non-finite logits. */
static ykd_status finish_values(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                                const ykd_yolo_geometry *geo, ykd_yolo_loss_value *v,
                                ykd_error *err)
{
    const float *p = loss->host_partial;
    double cls = 0.0;
    for (int l = 0; l < geo->levels; l++) {
        double bad = sum_range(p, geo->decode_at[l], geo->groups[l], 1);
        if (bad > 0.0)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "yolo_loss: level %d box logits (stride %d) hold %.0f NaN or "
                            "infinite values",
                            l, levels[l].stride, bad);
        double level_cls = sum_range(p, geo->cls_at[l], geo->cls_groups[l], 1);
        if (!isfinite(level_cls))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "yolo_loss: level %d class logits (stride %d) hold NaN or infinite "
                            "values (or values so large the loss overflows)",
                            l, levels[l].stride);
        cls += level_cls;
    }
    const ykd_yolo_loss_options *o = &loss->options;
    double score_sum = sum_range(p, 0, (size_t)geo->images, 1);
    double s = fmax(score_sum, 1.0);
    v->cls_raw = cls / s;
    v->box_raw = sum_range(p, geo->box_at, geo->box_groups, 2) / s;
    v->dfl_raw = sum_range(p, geo->box_at + 1, geo->box_groups, 2) / s;
    v->box = v->box_raw * o->box_gain;
    v->cls = v->cls_raw * o->cls_gain;
    v->dfl = v->dfl_raw * o->dfl_gain;
    v->total = geo->images * (v->box + v->cls + v->dfl);
    v->target_score_sum = score_sum;
    v->positives = (size_t)sum_range(p, (size_t)geo->images, (size_t)geo->images, 1);
    return YKD_OK;
}

static ykd_status upload_targets(ykd_yolo_loss *loss, const ykd_yolo_targets *targets,
                                 const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_yolo_scratch *s = &loss->scratch;
    ykd_status st =
        ykd_buffer_write(s->counts, 0, targets->box_counts, (size_t)geo->images * sizeof(int), err);
    size_t label_bytes = (size_t)geo->images * geo->max_boxes * 5 * sizeof(float);
    if (st == YKD_OK && label_bytes > 0 && targets->labels)
        st = ykd_buffer_write(s->labels, 0, targets->labels, label_bytes, err);
    return st;
}

static ykd_status ensure_host_partial(ykd_yolo_loss *loss, size_t count, ykd_error *err)
{
    if (loss->host_partial_count >= count)
        return YKD_OK;
    float *p = realloc(loss->host_partial, count * sizeof(float));
    if (!p)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "yolo_loss: out of host memory");
    loss->host_partial = p;
    loss->host_partial_count = count;
    return YKD_OK;
}

ykd_status ykd_yolo_loss_compute(ykd_yolo_loss *loss, const ykd_yolo_level *levels, int level_count,
                                 const ykd_yolo_targets *targets, const ykd_yolo_level *grads,
                                 bool accumulate, ykd_yolo_loss_value *value, ykd_error *err)
{
    ykd_yolo_geometry geo;
    memset(value, 0, sizeof *value);
    loss->last.anchors = 0;
    size_t group = 1;
    ykd_status st = ykd_yolo_loss_group(loss->device, &group, err);
    if (st == YKD_OK)
        st = ykd_yolo_loss_check(loss, levels, level_count, targets, grads, group, &geo, err);
    if (st == YKD_OK)
        st = ykd_yolo_scratch_ensure(loss->device, &loss->scratch, loss->options.topk, &geo, err);
    if (st == YKD_OK)
        st = ensure_host_partial(loss, geo.partials, err);
    if (st == YKD_OK)
        st = upload_targets(loss, targets, &geo, err);
    if (st == YKD_OK)
        st = ykd_yolo_loss_launch(loss->device, loss->nc, &loss->options, &loss->scratch, levels,
                                  grads, accumulate, &geo, err);
    if (st == YKD_OK)
        st = ykd_buffer_read(loss->scratch.partial, 0, loss->host_partial,
                             geo.partials * sizeof(float), err);
    if (st != YKD_OK)
        return st;
    loss->last = geo;
    return finish_values(loss, levels, &geo, value, err);
}

size_t ykd_yolo_loss_anchor_count(const ykd_yolo_loss *loss)
{
    return (size_t)loss->last.anchors;
}

ykd_status ykd_yolo_loss_assignment(const ykd_yolo_loss *loss, int image, int *gt, float *score,
                                    ykd_error *err)
{
    const ykd_yolo_geometry *geo = &loss->last;
    if (geo->anchors == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "yolo_loss: no assignment yet (compute the loss first)");
    if (image < 0 || image >= geo->images)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "yolo_loss: image %d of a batch of %d",
                        image, geo->images);
    size_t first = (size_t)image * geo->anchors;
    ykd_status st = YKD_OK;
    if (gt)
        st = ykd_buffer_read(loss->scratch.anchor_gt, first * sizeof(int), gt,
                             (size_t)geo->anchors * sizeof(int), err);
    if (st == YKD_OK && score)
        st = ykd_buffer_read(loss->scratch.anchor_score, first * sizeof(float), score,
                             (size_t)geo->anchors * sizeof(float), err);
    return st;
}
