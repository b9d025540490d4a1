/* The YOLOv8 loss's device side: scratch buffers and the launches of cl/loss_yolo.cl, in the
 * order that file lists. */
#include <string.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"
#include "train/loss_yolo_internal.h"

static const char *const loss_sources[] = {"cl/loss_common.cl", "cl/loss_yolo.cl", NULL};

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

ykd_status ykd_yolo_scratch_ensure(ykd_yolo_loss *loss, const ykd_yolo_geometry *geo,
                                   ykd_error *err)
{
    ykd_yolo_scratch *s = &loss->scratch;
    size_t per_anchor = (size_t)geo->images * geo->anchors * sizeof(float);
    size_t per_gt = (size_t)geo->images * geo->max_boxes * sizeof(float);
    size_t per_slot = per_gt * loss->options.topk;
    const struct {
        ykd_buffer **buf;
        size_t bytes;
    } need[] = {
        {&s->labels, per_gt * 5},
        {&s->counts, (size_t)geo->images * sizeof(int)},
        {&s->pred, per_anchor * 4},
        {&s->anchor_gt, per_anchor},
        {&s->anchor_cls, per_anchor},
        {&s->anchor_score, per_anchor},
        {&s->top_anchor, per_slot},
        {&s->top_align, per_slot},
        {&s->top_overlap, per_slot},
        {&s->slot_gt, per_slot},
        {&s->slot_align, per_slot},
        {&s->slot_overlap, per_slot},
        {&s->gt_max, per_gt * 2},
        {&s->scales, 4 * sizeof(float)},
        {&s->partial, geo->partials * sizeof(float)},
    };
    ykd_status st = YKD_OK;
    for (size_t i = 0; st == YKD_OK && i < sizeof need / sizeof need[0]; i++)
        st = ensure(loss->device, need[i].buf, need[i].bytes, err);
    return st;
}

void ykd_yolo_scratch_free(ykd_yolo_loss *loss)
{
    ykd_yolo_scratch *s = &loss->scratch;
    ykd_buffer *buffers[] = {s->labels,      s->counts,       s->pred,       s->anchor_gt,
                             s->anchor_cls,  s->anchor_score, s->top_anchor, s->top_align,
                             s->top_overlap, s->slot_gt,      s->slot_align, s->slot_overlap,
                             s->gt_max,      s->scales,       s->partial};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        ykd_buffer_free(buffers[i]);
    memset(s, 0, sizeof *s);
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

/* A launch over (count, images) in work-groups of YKD_YOLO_GROUP. */
static ykd_status run_2d(ykd_yolo_loss *loss, const ykd_kernel *k, const ykd_kernel_arg *args,
                         size_t arg_count, size_t count, int images, ykd_error *err)
{
    size_t global[2] = {count, (size_t)images};
    size_t local[2] = {YKD_YOLO_GROUP, 1};
    return ykd_kernel_run(loss->device, k, args, arg_count, 2, global, local, NULL, err);
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

/* Every level's geometry and tensors as kernel arguments (absent levels repeat level 0). */
typedef struct level_args {
    cl_int4 geom[YKD_YOLO_MAX_LEVELS];
    ykd_tensor_args box[YKD_YOLO_MAX_LEVELS], cls[YKD_YOLO_MAX_LEVELS];
    ykd_tensor_args dbox[YKD_YOLO_MAX_LEVELS], dcls[YKD_YOLO_MAX_LEVELS];
} level_args;

/* Without gradients, the kernels get the inputs in their place and write nothing there. */
static void fill_level_args(const ykd_yolo_geometry *geo, const ykd_yolo_level *levels,
                            const ykd_yolo_level *grads, level_args *la)
{
    for (int l = 0; l < YKD_YOLO_MAX_LEVELS; l++) {
        int src = l < geo->levels ? l : 0;
        la->geom[l] = level_geometry(geo, l);
        la->box[l] = ykd_tensor_kernel_args(levels[src].box);
        la->cls[l] = ykd_tensor_kernel_args(levels[src].cls);
        la->dbox[l] = grads ? ykd_tensor_kernel_args(grads[src].box) : la->box[l];
        la->dcls[l] = grads ? ykd_tensor_kernel_args(grads[src].cls) : la->cls[l];
    }
}

#define LEVEL_ARGS(la, k) YKD_ARG((la).geom[k]), YKD_YOLO_TENSOR_ARGS((la).cls[k])
#define BOX_LEVEL_ARGS(la, k)                                                                      \
    YKD_ARG((la).geom[k]), YKD_YOLO_TENSOR_ARGS((la).box[k]), YKD_YOLO_TENSOR_ARGS((la).dbox[k])

static ykd_status launch_decode(ykd_yolo_loss *loss, const level_args *la,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_decode", &k, err);
    ykd_yolo_scratch *s = &loss->scratch;
    cl_int anchors = geo->anchors;
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        cl_uint at = (cl_uint)geo->decode_at[l];
        ykd_kernel_arg args[] = {YKD_YOLO_TENSOR_ARGS(la->box[l]),
                                 YKD_ARG(la->geom[l]),
                                 YKD_ARG(anchors),
                                 YKD_ARG(s->pred->mem),
                                 YKD_ARG(s->anchor_gt->mem),
                                 YKD_ARG(s->anchor_cls->mem),
                                 YKD_ARG(s->anchor_score->mem),
                                 YKD_ARG(s->partial->mem),
                                 YKD_ARG(at)};
        st = run_2d(loss, k, args, sizeof args / sizeof args[0], (size_t)geo->h[l] * geo->w[l],
                    geo->images, err);
    }
    return st;
}

/* yolo_topk, then yolo_resolve; without any gt, the image sums are just zeroed. */
static ykd_status launch_assign(ykd_yolo_loss *loss, const level_args *la,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_yolo_scratch *s = &loss->scratch;
    const ykd_yolo_loss_options *o = &loss->options;
    if (geo->max_boxes == 0) {
        float zero = 0.0f;
        return ykd_buffer_fill(s->partial, 0, &zero, sizeof zero,
                               2 * (size_t)geo->images * sizeof(float), err);
    }
    cl_int max_boxes = geo->max_boxes, nlevels = geo->levels, anchors = geo->anchors;
    cl_int topk = o->topk, images = geo->images;
    ykd_kernel *topk_kernel, *resolve_kernel;
    ykd_status st = kernel(loss, "yolo_topk", &topk_kernel, err);
    if (st == YKD_OK)
        st = kernel(loss, "yolo_resolve", &resolve_kernel, err);
    if (st != YKD_OK)
        return st;
    /* both kernels start with the same 28 arguments (the top-k lists: written, then read) */
    enum { COMMON = 28, RESOLVE_ONLY = 9 };
    ykd_kernel_arg args[COMMON + RESOLVE_ONLY] = {YKD_ARG(s->labels->mem),
                                                  YKD_ARG(s->counts->mem),
                                                  YKD_ARG(max_boxes),
                                                  YKD_ARG(nlevels),
                                                  YKD_ARG(anchors),
                                                  YKD_ARG(s->pred->mem),
                                                  YKD_ARG(topk),
                                                  YKD_ARG(o->alpha),
                                                  YKD_ARG(o->beta),
                                                  LEVEL_ARGS(*la, 0),
                                                  LEVEL_ARGS(*la, 1),
                                                  LEVEL_ARGS(*la, 2),
                                                  LEVEL_ARGS(*la, 3),
                                                  YKD_ARG(s->top_anchor->mem),
                                                  YKD_ARG(s->top_align->mem),
                                                  YKD_ARG(s->top_overlap->mem)};
    st = run_2d(loss, topk_kernel, args, COMMON, (size_t)YKD_YOLO_GROUP * geo->max_boxes,
                geo->images, err);
    if (st != YKD_OK)
        return st;
    const ykd_kernel_arg resolve_only[RESOLVE_ONLY] = {YKD_ARG(images),
                                                       YKD_ARG(s->slot_gt->mem),
                                                       YKD_ARG(s->slot_align->mem),
                                                       YKD_ARG(s->slot_overlap->mem),
                                                       YKD_ARG(s->gt_max->mem),
                                                       YKD_ARG(s->anchor_gt->mem),
                                                       YKD_ARG(s->anchor_cls->mem),
                                                       YKD_ARG(s->anchor_score->mem),
                                                       YKD_ARG(s->partial->mem)};
    memcpy(args + COMMON, resolve_only, sizeof resolve_only);
    return run_2d(loss, resolve_kernel, args, COMMON + RESOLVE_ONLY, YKD_YOLO_GROUP, geo->images,
                  err);
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

static ykd_status launch_cls_loss(ykd_yolo_loss *loss, const level_args *la, bool has_grad,
                                  bool accumulate, const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_cls_loss", &k, err);
    ykd_yolo_scratch *s = &loss->scratch;
    cl_int nc = loss->nc, anchors = geo->anchors, grad = has_grad, acc = accumulate;
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        cl_uint at = (cl_uint)geo->cls_at[l];
        ykd_kernel_arg args[] = {YKD_YOLO_TENSOR_ARGS(la->cls[l]),
                                 YKD_ARG(la->geom[l]),
                                 YKD_ARG(nc),
                                 YKD_ARG(anchors),
                                 YKD_ARG(s->anchor_cls->mem),
                                 YKD_ARG(s->anchor_score->mem),
                                 YKD_ARG(s->scales->mem),
                                 YKD_ARG(grad),
                                 YKD_ARG(acc),
                                 YKD_YOLO_TENSOR_ARGS(la->dcls[l]),
                                 YKD_ARG(s->partial->mem),
                                 YKD_ARG(at)};
        st = run_2d(loss, k, args, sizeof args / sizeof args[0],
                    (size_t)geo->h[l] * geo->w[l] * loss->nc, geo->images, err);
    }
    return st;
}

static ykd_status launch_box_zero(ykd_yolo_loss *loss, const level_args *la,
                                  const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = ykd_device_kernel(loss->device, loss_sources, NULL, "yolo_box_zero", &k, err);
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        cl_uint count = (cl_uint)((size_t)YKD_YOLO_BOX_CHANNELS * geo->h[l] * geo->w[l]);
        ykd_kernel_arg args[] = {YKD_YOLO_TENSOR_ARGS(la->dbox[l]), YKD_ARG(count)};
        st = run_2d(loss, k, args, 4, count, geo->images, err);
    }
    return st;
}

static ykd_status launch_box_loss(ykd_yolo_loss *loss, const level_args *la, bool has_grad,
                                  bool accumulate, const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_box_loss", &k, err);
    if (st != YKD_OK)
        return st;
    ykd_yolo_scratch *s = &loss->scratch;
    cl_int max_boxes = geo->max_boxes, nlevels = geo->levels, anchors = geo->anchors;
    cl_int topk = loss->options.topk, grad = has_grad, acc = accumulate;
    cl_uint at = (cl_uint)geo->box_at;
    ykd_kernel_arg args[] = {YKD_ARG(s->labels->mem),
                             YKD_ARG(s->counts->mem),
                             YKD_ARG(max_boxes),
                             YKD_ARG(nlevels),
                             YKD_ARG(anchors),
                             YKD_ARG(topk),
                             BOX_LEVEL_ARGS(*la, 0),
                             BOX_LEVEL_ARGS(*la, 1),
                             BOX_LEVEL_ARGS(*la, 2),
                             BOX_LEVEL_ARGS(*la, 3),
                             YKD_ARG(s->top_anchor->mem),
                             YKD_ARG(s->slot_gt->mem),
                             YKD_ARG(s->anchor_score->mem),
                             YKD_ARG(s->scales->mem),
                             YKD_ARG(grad),
                             YKD_ARG(acc),
                             YKD_ARG(s->partial->mem),
                             YKD_ARG(at)};
    size_t slots = (size_t)geo->max_boxes * loss->options.topk;
    return run_2d(loss, k, args, sizeof args / sizeof args[0], slots, geo->images, err);
}

ykd_status ykd_yolo_loss_launch(ykd_yolo_loss *loss, const ykd_yolo_level *levels,
                                const ykd_yolo_level *grads, bool accumulate,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    level_args la;
    fill_level_args(geo, levels, grads, &la);
    ykd_status st = launch_decode(loss, &la, geo, err);
    if (st == YKD_OK)
        st = launch_assign(loss, &la, geo, err);
    if (st == YKD_OK)
        st = launch_scale(loss, geo, err);
    if (st == YKD_OK)
        st = launch_cls_loss(loss, &la, grads != NULL, accumulate, geo, err);
    if (st == YKD_OK && grads && !accumulate)
        st = launch_box_zero(loss, &la, geo, err);
    if (st == YKD_OK && geo->max_boxes > 0) /* else there are no box-loss groups */
        st = launch_box_loss(loss, &la, grads != NULL, accumulate, geo, err);
    return st;
}
