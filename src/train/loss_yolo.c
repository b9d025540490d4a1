/* The YOLOv8 detection loss: scratch buffers, the kernel launches of cl/loss_yolo.cl in order,
 * and the loss values from the per-group sums read back at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"
#include "train/loss_yolo_internal.h"

static const char *const loss_sources[] = {"cl/loss_yolo.cl", NULL};

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
    ykd_yolo_scratch *s = &loss->scratch;
    ykd_buffer *buffers[] = {s->labels,       s->counts,     s->pred,         s->anchor_gt,
                             s->anchor_score, s->top_anchor, s->top_align,    s->top_overlap,
                             s->slot_gt,      s->slot_align, s->slot_overlap, s->gt_max,
                             s->scales,       s->partial};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        ykd_buffer_free(buffers[i]);
    free(loss->host_partial);
    free(loss);
}

/* Makes *buf hold at least bytes (never zero: kernels get a valid buffer even when unused). */
static ykd_status ensure(ykd_device *device, ykd_buffer **buf, size_t bytes, ykd_error *err)
{
    bytes = bytes < 16 ? 16 : bytes;
    if (*buf && ykd_buffer_size(*buf) >= bytes)
        return YKD_OK;
    ykd_buffer_free(*buf);
    *buf = NULL;
    return ykd_buffer_alloc(device, bytes, buf, err);
}

/* Floats of the partial-sum buffer: image sums and positives, then per level the decode
 * groups' non-finite counts, then per level three sums per loss group. */
static size_t partial_count(const ykd_yolo_geometry *geo)
{
    size_t count = 2 * (size_t)geo->images;
    for (int l = 0; l < geo->levels; l++)
        count += 4 * geo->groups[l];
    return count;
}

static ykd_status ensure_scratch(ykd_yolo_loss *loss, const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_device *d = loss->device;
    ykd_yolo_scratch *s = &loss->scratch;
    size_t per_anchor = (size_t)geo->images * geo->anchors;
    size_t per_gt = (size_t)geo->images * geo->max_boxes;
    size_t per_slot = per_gt * loss->options.topk;
    size_t partials = partial_count(geo);
    ykd_status st = ensure(d, &s->labels, per_gt * 5 * sizeof(float), err);
    if (st == YKD_OK)
        st = ensure(d, &s->counts, (size_t)geo->images * sizeof(int), err);
    if (st == YKD_OK)
        st = ensure(d, &s->pred, per_anchor * 4 * sizeof(float), err);
    if (st == YKD_OK)
        st = ensure(d, &s->anchor_gt, per_anchor * sizeof(int), err);
    if (st == YKD_OK)
        st = ensure(d, &s->anchor_score, per_anchor * sizeof(float), err);
    ykd_buffer **slot_buffers[] = {&s->top_anchor, &s->top_align,  &s->top_overlap,
                                   &s->slot_gt,    &s->slot_align, &s->slot_overlap};
    for (size_t i = 0; st == YKD_OK && i < sizeof slot_buffers / sizeof slot_buffers[0]; i++)
        st = ensure(d, slot_buffers[i], per_slot * sizeof(float), err);
    if (st == YKD_OK)
        st = ensure(d, &s->gt_max, per_gt * 2 * sizeof(float), err);
    if (st == YKD_OK)
        st = ensure(d, &s->scales, 4 * sizeof(float), err);
    if (st == YKD_OK)
        st = ensure(d, &s->partial, partials * sizeof(float), err);
    if (st == YKD_OK && loss->host_partial_count < partials) {
        float *p = realloc(loss->host_partial, partials * sizeof(float));
        if (!p)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "yolo_loss: out of host memory");
        loss->host_partial = p;
        loss->host_partial_count = partials;
    }
    return st;
}

static ykd_status kernel(ykd_yolo_loss *loss, const char *name, ykd_kernel **k, ykd_error *err)
{
    ykd_status st = ykd_device_kernel(loss->device, loss_sources, NULL, name, k, err);
    if (st == YKD_OK && (*k)->work_group_size < YKD_YOLO_GROUP)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "yolo_loss: kernel %s needs work-groups of %d on device %d (%s), which "
                        "allows %zu",
                        name, YKD_YOLO_GROUP, loss->device->info.index, loss->device->info.name,
                        (*k)->work_group_size);
    return st;
}

static cl_int4 level_geometry(const ykd_yolo_geometry *geo, int l)
{
    cl_int4 g;
    int src = l < geo->levels ? l : 0; /* absent levels: never read, start past the anchors */
    g.s[0] = geo->h[src];
    g.s[1] = geo->w[src];
    g.s[2] = geo->stride[src];
    g.s[3] = l < geo->levels ? geo->first[l] : geo->anchors;
    return g;
}

/* The per-level arguments of yolo_topk and yolo_resolve: geometry and class logits. */
typedef struct level_args {
    cl_int4 geom[YKD_YOLO_MAX_LEVELS];
    ykd_tensor_args cls[YKD_YOLO_MAX_LEVELS];
} level_args;

static void fill_level_args(const ykd_yolo_geometry *geo, const ykd_yolo_level *levels,
                            level_args *la)
{
    for (int l = 0; l < YKD_YOLO_MAX_LEVELS; l++) {
        la->geom[l] = level_geometry(geo, l);
        la->cls[l] = ykd_tensor_kernel_args(levels[l < geo->levels ? l : 0].cls);
    }
}

#define LEVEL_ARGS(la, k)                                                                          \
    YKD_ARG((la).geom[k]), YKD_ARG((la).cls[k].mem), YKD_ARG((la).cls[k].offset),                  \
        YKD_ARG((la).cls[k].batch_stride)

static ykd_status run_per_anchor(ykd_yolo_loss *loss, const ykd_kernel *k,
                                 const ykd_kernel_arg *args, size_t count,
                                 const ykd_yolo_geometry *geo, int l, ykd_error *err)
{
    size_t global[2] = {(size_t)geo->h[l] * geo->w[l], (size_t)geo->images};
    size_t local[2] = {YKD_YOLO_GROUP, 1};
    return ykd_kernel_run(loss->device, k, args, count, 2, global, local, NULL, err);
}

static ykd_status launch_decode(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_decode", &k, err);
    ykd_yolo_scratch *s = &loss->scratch;
    cl_uint partial_off = 2 * (cl_uint)geo->images;
    cl_int anchors = geo->anchors;
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        ykd_tensor_args box = ykd_tensor_kernel_args(levels[l].box);
        cl_int4 geom = level_geometry(geo, l);
        ykd_kernel_arg args[] = {YKD_TENSOR_ARGS(box),       YKD_ARG(geom),
                                 YKD_ARG(anchors),           YKD_ARG(s->pred->mem),
                                 YKD_ARG(s->anchor_gt->mem), YKD_ARG(s->anchor_score->mem),
                                 YKD_ARG(s->partial->mem),   YKD_ARG(partial_off)};
        st = run_per_anchor(loss, k, args, sizeof args / sizeof args[0], geo, l, err);
        partial_off += (cl_uint)geo->groups[l];
    }
    return st;
}

static ykd_status launch_assign(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_yolo_scratch *s = &loss->scratch;
    const ykd_yolo_loss_options *o = &loss->options;
    level_args la;
    fill_level_args(geo, levels, &la);
    cl_int max_boxes = geo->max_boxes, nlevels = geo->levels, anchors = geo->anchors;
    cl_int topk = o->topk, images = geo->images;
    ykd_kernel *topk_kernel, *resolve_kernel;
    ykd_status st = kernel(loss, "yolo_topk", &topk_kernel, err);
    if (st == YKD_OK)
        st = kernel(loss, "yolo_resolve", &resolve_kernel, err);
    if (st != YKD_OK || geo->max_boxes == 0)
        return st;
    /* both kernels start with the same 28 arguments (the top-k lists: written, then read) */
    enum { COMMON = 28 };
    ykd_kernel_arg args[COMMON + 8] = {YKD_ARG(s->labels->mem),
                                       YKD_ARG(s->counts->mem),
                                       YKD_ARG(max_boxes),
                                       YKD_ARG(nlevels),
                                       YKD_ARG(anchors),
                                       YKD_ARG(s->pred->mem),
                                       YKD_ARG(topk),
                                       YKD_ARG(o->alpha),
                                       YKD_ARG(o->beta),
                                       LEVEL_ARGS(la, 0),
                                       LEVEL_ARGS(la, 1),
                                       LEVEL_ARGS(la, 2),
                                       LEVEL_ARGS(la, 3),
                                       YKD_ARG(s->top_anchor->mem),
                                       YKD_ARG(s->top_align->mem),
                                       YKD_ARG(s->top_overlap->mem)};
    size_t global[2] = {(size_t)YKD_YOLO_GROUP * geo->max_boxes, (size_t)geo->images};
    size_t local[2] = {YKD_YOLO_GROUP, 1};
    st = ykd_kernel_run(loss->device, topk_kernel, args, COMMON, 2, global, local, NULL, err);
    if (st != YKD_OK)
        return st;
    const ykd_kernel_arg resolve_only[8] = {YKD_ARG(images),
                                            YKD_ARG(s->slot_gt->mem),
                                            YKD_ARG(s->slot_align->mem),
                                            YKD_ARG(s->slot_overlap->mem),
                                            YKD_ARG(s->gt_max->mem),
                                            YKD_ARG(s->anchor_gt->mem),
                                            YKD_ARG(s->anchor_score->mem),
                                            YKD_ARG(s->partial->mem)};
    memcpy(args + COMMON, resolve_only, sizeof resolve_only);
    size_t resolve_global[2] = {YKD_YOLO_GROUP, (size_t)geo->images};
    return ykd_kernel_run(loss->device, resolve_kernel, args, COMMON + 8, 2, resolve_global, local,
                          NULL, err);
}

static ykd_status launch_scale(ykd_yolo_loss *loss, const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_scale", &k, err);
    if (st != YKD_OK)
        return st;
    ykd_yolo_scratch *s = &loss->scratch;
    const ykd_yolo_loss_options *o = &loss->options;
    cl_int images = geo->images;
    ykd_kernel_arg args[] = {YKD_ARG(s->partial->mem), YKD_ARG(images),
                             YKD_ARG(o->cls_gain),     YKD_ARG(o->box_gain),
                             YKD_ARG(o->dfl_gain),     YKD_ARG(s->scales->mem)};
    size_t one = 1;
    return ykd_kernel_run(loss->device, k, args, sizeof args / sizeof args[0], 1, &one, &one, NULL,
                          err);
}

static ykd_status launch_loss(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                              const ykd_yolo_level *grads, bool accumulate,
                              const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_loss", &k, err);
    ykd_yolo_scratch *s = &loss->scratch;
    cl_uint partial_off = 2 * (cl_uint)geo->images;
    for (int l = 0; l < geo->levels; l++)
        partial_off += (cl_uint)geo->groups[l];
    cl_int nc = loss->nc, anchors = geo->anchors, max_boxes = geo->max_boxes;
    cl_int has_grad = grads != NULL, acc = accumulate;
    cl_int4 geom0 = level_geometry(geo, 0);
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        ykd_tensor_args box = ykd_tensor_kernel_args(levels[l].box);
        ykd_tensor_args cls = ykd_tensor_kernel_args(levels[l].cls);
        /* without gradients the kernel gets the inputs in their place and writes nothing */
        ykd_tensor_args dbox = grads ? ykd_tensor_kernel_args(grads[l].box) : box;
        ykd_tensor_args dcls = grads ? ykd_tensor_kernel_args(grads[l].cls) : cls;
        cl_int4 geom = level_geometry(geo, l);
        ykd_kernel_arg args[] = {YKD_TENSOR_ARGS(box),
                                 YKD_TENSOR_ARGS(cls),
                                 YKD_ARG(geom),
                                 YKD_ARG(geom0),
                                 YKD_ARG(nc),
                                 YKD_ARG(anchors),
                                 YKD_ARG(s->labels->mem),
                                 YKD_ARG(max_boxes),
                                 YKD_ARG(s->anchor_gt->mem),
                                 YKD_ARG(s->anchor_score->mem),
                                 YKD_ARG(s->scales->mem),
                                 YKD_ARG(has_grad),
                                 YKD_ARG(acc),
                                 YKD_TENSOR_ARGS(dbox),
                                 YKD_TENSOR_ARGS(dcls),
                                 YKD_ARG(s->partial->mem),
                                 YKD_ARG(partial_off)};
        st = run_per_anchor(loss, k, args, sizeof args / sizeof args[0], geo, l, err);
        partial_off += 3 * (cl_uint)geo->groups[l];
    }
    return st;
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

/* Sums the partials read back into the loss values; fails on non-finite logits. */
static ykd_status finish_values(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                                const ykd_yolo_geometry *geo, ykd_yolo_loss_value *v,
                                ykd_error *err)
{
    const float *p = loss->host_partial;
    double score_sum = 0.0, positives = 0.0, sums[3] = {0, 0, 0};
    for (int n = 0; n < geo->images; n++) {
        score_sum += p[n];
        positives += p[geo->images + n];
    }
    size_t at = 2 * (size_t)geo->images;
    for (int l = 0; l < geo->levels; l++) {
        double bad = 0.0;
        for (size_t g = 0; g < geo->groups[l]; g++)
            bad += p[at + g];
        at += geo->groups[l];
        if (bad > 0.0)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "yolo_loss: level %d box logits (stride %d) hold %.0f NaN or "
                            "infinite values",
                            l, levels[l].stride, bad);
    }
    for (int l = 0; l < geo->levels; l++) {
        double level_sums[3] = {0, 0, 0};
        for (size_t g = 0; g < geo->groups[l]; g++)
            for (int k = 0; k < 3; k++)
                level_sums[k] += p[at + 3 * g + k];
        at += 3 * geo->groups[l];
        if (!isfinite(level_sums[0]))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "yolo_loss: level %d class logits (stride %d) hold NaN or infinite "
                            "values (or values so large the loss overflows)",
                            l, levels[l].stride);
        for (int k = 0; k < 3; k++)
            sums[k] += level_sums[k];
    }
    const ykd_yolo_loss_options *o = &loss->options;
    double s = fmax(score_sum, 1.0);
    v->cls_raw = sums[0] / s;
    v->box_raw = sums[1] / s;
    v->dfl_raw = sums[2] / s;
    v->box = v->box_raw * o->box_gain;
    v->cls = v->cls_raw * o->cls_gain;
    v->dfl = v->dfl_raw * o->dfl_gain;
    v->total = geo->images * (v->box + v->cls + v->dfl);
    v->target_score_sum = score_sum;
    v->positives = (size_t)positives;
    return YKD_OK;
}

ykd_status ykd_yolo_loss_compute(ykd_yolo_loss *loss, const ykd_yolo_level *levels, int level_count,
                                 const ykd_yolo_targets *targets, const ykd_yolo_level *grads,
                                 bool accumulate, ykd_yolo_loss_value *value, ykd_error *err)
{
    ykd_yolo_geometry geo;
    memset(value, 0, sizeof *value);
    loss->last.anchors = 0;
    ykd_status st = ykd_yolo_loss_check(loss, levels, level_count, targets, grads, &geo, err);
    if (st == YKD_OK)
        st = ensure_scratch(loss, &geo, err);
    if (st == YKD_OK)
        st = upload_targets(loss, targets, &geo, err);
    if (st == YKD_OK)
        st = launch_decode(loss, levels, &geo, err);
    if (st == YKD_OK)
        st = launch_assign(loss, levels, &geo, err);
    if (st == YKD_OK && geo.max_boxes == 0) { /* no gts at all: zero sums, no positives */
        float zero = 0.0f;
        st = ykd_buffer_fill(loss->scratch.partial, 0, &zero, sizeof zero,
                             2 * (size_t)geo.images * sizeof(float), err);
    }
    if (st == YKD_OK)
        st = launch_scale(loss, &geo, err);
    if (st == YKD_OK)
        st = launch_loss(loss, levels, grads, accumulate, &geo, err);
    if (st == YKD_OK)
        st = ykd_buffer_read(loss->scratch.partial, 0, loss->host_partial,
                             partial_count(&geo) * sizeof(float), err);
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
