/* The YOLOv8 loss's device side: scratch buffers and the launches of cl/loss_yolo.cl, in the
 * order that file lists (src/train/loss_yolo.c checks the inputs and reads the sums back). */
#include <string.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"
#include "ops/yolo_head.h"

static const char *const loss_sources[] = {"cl/shared.cl", "cl/loss_common.cl", "cl/loss_yolo.cl",
                                           NULL};

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

ykd_status ykd_yolo_scratch_ensure(ykd_device *device, ykd_yolo_scratch *s, int topk,
                                   const ykd_yolo_geometry *geo, ykd_error *err)
{
    size_t per_anchor = (size_t)geo->images * geo->anchors * sizeof(float);
    size_t per_gt = (size_t)geo->images * geo->max_boxes * sizeof(float);
    size_t per_slot = per_gt * (size_t)topk;
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
        st = ensure(device, need[i].buf, need[i].bytes, err);
    return st;
}

void ykd_yolo_scratch_free(ykd_yolo_scratch *s)
{
    ykd_buffer *buffers[] = {s->labels,      s->counts,       s->pred,       s->anchor_gt,
                             s->anchor_cls,  s->anchor_score, s->top_anchor, s->top_align,
                             s->top_overlap, s->slot_gt,      s->slot_align, s->slot_overlap,
                             s->gt_max,      s->scales,       s->partial};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        ykd_buffer_free(buffers[i]);
    memset(s, 0, sizeof *s);
}

static const char *const loss_grouped[] = {"yolo_decode", "yolo_topk", "yolo_resolve",
                                           "yolo_cls_loss", "yolo_box_loss", NULL};

/* 64 work-items per group were measured the best on PoCL; yolo_topk keeps three lists of
 * MAX_TOPK (16) four-byte entries per work-item in local memory. */
static const ykd_group_family loss_family = {loss_sources, loss_grouped, 64, 3 * 16 * 4};

ykd_status ykd_yolo_loss_group(ykd_device *device, size_t *group, ykd_error *err)
{
    ykd_kernel *k = NULL;
    return ykd_group_kernel(device, &loss_family, loss_grouped[0], &k, group, err);
}

/* What every launch of one computation takes. */
typedef struct loss_call {
    ykd_device *device;
    int nc;
    const ykd_yolo_loss_options *options;
    ykd_yolo_scratch *scratch;
    bool has_grad, accumulate; /* gradients wanted; added to what the tensors hold */
} loss_call;

static ykd_status kernel(const loss_call *loss, const char *name, ykd_kernel **k, ykd_error *err)
{
    size_t group = 0;
    return ykd_group_kernel(loss->device, &loss_family, name, k, &group, err);
}

/* A launch over (count, images) in work-groups of geo->group. */
static ykd_status run_2d(const loss_call *loss, const ykd_kernel *k, const ykd_op_args *a,
                         size_t count, const ykd_yolo_geometry *geo, ykd_error *err)
{
    size_t global[2] = {count, (size_t)geo->images};
    size_t local[2] = {geo->group, 1};
    return ykd_op_run(loss->device, k, a, 2, global, local, err);
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

/* LEVEL_PARAMS of cl/loss_yolo.cl for every level: geometry, class logits. */
static void args_class_levels(ykd_op_args *a, const level_args *la)
{
    for (int l = 0; l < YKD_YOLO_MAX_LEVELS; l++) {
        ykd_op_args_int4(a, la->geom[l]);
        ykd_op_args_location(a, la->cls[l]);
    }
}

/* BOX_LEVEL_PARAMS for every level: geometry, box logits, their gradient. */
static void args_box_levels(ykd_op_args *a, const level_args *la)
{
    for (int l = 0; l < YKD_YOLO_MAX_LEVELS; l++) {
        ykd_op_args_int4(a, la->geom[l]);
        ykd_op_args_location(a, la->box[l]);
        ykd_op_args_location(a, la->dbox[l]);
    }
}

/* Level l's arguments of a per-level kernel after the first two (the level's logits and
 * geometry). */
typedef void (*level_args_fn)(ykd_op_args *a, const loss_call *loss, const level_args *la,
                              const ykd_yolo_geometry *geo, int l);

/* Kernel name once per level (its logits, la->box or la->cls, and geometry, then what fill
 * adds), over (per_cell work-items per cell, images). */
static ykd_status run_levels(const loss_call *loss, const char *name, const level_args *la,
                             const ykd_tensor_args *logits, const ykd_yolo_geometry *geo,
                             size_t per_cell, level_args_fn fill, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, name, &k, err);
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        ykd_op_args a = {0};
        ykd_op_args_location(&a, logits[l]);
        ykd_op_args_int4(&a, la->geom[l]);
        fill(&a, loss, la, geo, l);
        st = run_2d(loss, k, &a, (size_t)geo->h[l] * geo->w[l] * per_cell, geo, err);
    }
    return st;
}

static void decode_args(ykd_op_args *a, const loss_call *loss, const level_args *la,
                        const ykd_yolo_geometry *geo, int l)
{
    (void)la;
    ykd_yolo_scratch *s = loss->scratch;
    ykd_op_args_int(a, geo->anchors);
    ykd_buffer *outputs[] = {s->pred, s->anchor_gt, s->anchor_cls, s->anchor_score, s->partial};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        ykd_op_args_mem(a, outputs[i]->mem);
    ykd_op_args_uint(a, geo->decode_at[l]);
}

/* yolo_topk, then yolo_resolve; without any gt, the image sums are just zeroed. */
static ykd_status launch_assign(const loss_call *loss, const level_args *la,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_yolo_scratch *s = loss->scratch;
    const ykd_yolo_loss_options *o = loss->options;
    if (geo->max_boxes == 0) {
        float zero = 0.0f;
        return ykd_buffer_fill(s->partial, 0, &zero, sizeof zero,
                               2 * (size_t)geo->images * sizeof(float), err);
    }
    ykd_kernel *topk_kernel, *resolve_kernel;
    ykd_status st = kernel(loss, "yolo_topk", &topk_kernel, err);
    if (st == YKD_OK)
        st = kernel(loss, "yolo_resolve", &resolve_kernel, err);
    if (st != YKD_OK)
        return st;
    /* both kernels start with the same arguments (the top-k lists: written, then read) */
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, s->labels->mem);
    ykd_op_args_mem(&a, s->counts->mem);
    ykd_op_args_int(&a, geo->max_boxes);
    ykd_op_args_int(&a, geo->levels);
    ykd_op_args_int(&a, geo->anchors);
    ykd_op_args_mem(&a, s->pred->mem);
    ykd_op_args_int(&a, o->topk);
    ykd_op_args_float(&a, o->alpha);
    ykd_op_args_float(&a, o->beta);
    args_class_levels(&a, la);
    ykd_op_args_mem(&a, s->top_anchor->mem);
    ykd_op_args_mem(&a, s->top_align->mem);
    ykd_op_args_mem(&a, s->top_overlap->mem);
    st = run_2d(loss, topk_kernel, &a, geo->group * (size_t)geo->max_boxes, geo, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args_int(&a, geo->images);
    ykd_buffer *resolved[] = {s->slot_gt,   s->slot_align, s->slot_overlap, s->gt_max,
                              s->anchor_gt, s->anchor_cls, s->anchor_score, s->partial};
    for (size_t i = 0; i < sizeof resolved / sizeof resolved[0]; i++)
        ykd_op_args_mem(&a, resolved[i]->mem);
    return run_2d(loss, resolve_kernel, &a, geo->group, geo, err);
}

static ykd_status launch_scale(const loss_call *loss, const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_scale", &k, err);
    if (st != YKD_OK)
        return st;
    ykd_yolo_scratch *s = loss->scratch;
    const ykd_yolo_loss_options *o = loss->options;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, s->partial->mem);
    ykd_op_args_int(&a, geo->images);
    ykd_op_args_float(&a, o->cls_gain);
    ykd_op_args_float(&a, o->box_gain);
    ykd_op_args_float(&a, o->dfl_gain);
    ykd_op_args_mem(&a, s->scales->mem);
    size_t one = 1;
    return ykd_op_run(loss->device, k, &a, 1, &one, &one, err);
}

static void cls_loss_args(ykd_op_args *a, const loss_call *loss, const level_args *la,
                          const ykd_yolo_geometry *geo, int l)
{
    ykd_yolo_scratch *s = loss->scratch;
    ykd_op_args_int(a, loss->nc);
    ykd_op_args_int(a, geo->anchors);
    ykd_op_args_mem(a, s->anchor_cls->mem);
    ykd_op_args_mem(a, s->anchor_score->mem);
    ykd_op_args_mem(a, s->scales->mem);
    ykd_op_args_int(a, loss->has_grad);
    ykd_op_args_int(a, loss->accumulate);
    ykd_op_args_location(a, la->dcls[l]);
    ykd_op_args_mem(a, s->partial->mem);
    ykd_op_args_uint(a, geo->cls_at[l]);
}

static ykd_status launch_box_zero(const loss_call *loss, const level_args *la,
                                  const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_box_zero", &k, err);
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        size_t count = (size_t)YKD_YOLO_BOX_CHANNELS * geo->h[l] * geo->w[l];
        ykd_op_args a = {0};
        ykd_op_args_location(&a, la->dbox[l]);
        ykd_op_args_uint(&a, count);
        size_t global[2] = {count, (size_t)geo->images};
        st = ykd_op_run(loss->device, k, &a, 2, global, NULL, err);
    }
    return st;
}

static ykd_status launch_box_loss(const loss_call *loss, const level_args *la,
                                  const ykd_yolo_geometry *geo, ykd_error *err)
{
    ykd_kernel *k;
    ykd_status st = kernel(loss, "yolo_box_loss", &k, err);
    if (st != YKD_OK)
        return st;
    ykd_yolo_scratch *s = loss->scratch;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, s->labels->mem);
    ykd_op_args_mem(&a, s->counts->mem);
    ykd_op_args_int(&a, geo->max_boxes);
    ykd_op_args_int(&a, geo->levels);
    ykd_op_args_int(&a, geo->anchors);
    ykd_op_args_int(&a, loss->options->topk);
    args_box_levels(&a, la);
    ykd_op_args_mem(&a, s->top_anchor->mem);
    ykd_op_args_mem(&a, s->slot_gt->mem);
    ykd_op_args_mem(&a, s->anchor_score->mem);
    ykd_op_args_mem(&a, s->scales->mem);
    ykd_op_args_int(&a, loss->has_grad);
    ykd_op_args_int(&a, loss->accumulate);
    ykd_op_args_mem(&a, s->partial->mem);
    ykd_op_args_uint(&a, geo->box_at);
    size_t slots = (size_t)geo->max_boxes * loss->options->topk;
    return run_2d(loss, k, &a, slots, geo, err);
}

ykd_status ykd_yolo_loss_launch(ykd_device *device, int nc, const ykd_yolo_loss_options *options,
                                ykd_yolo_scratch *scratch, const ykd_yolo_level *levels,
                                const ykd_yolo_level *grads, bool accumulate,
                                const ykd_yolo_geometry *geo, ykd_error *err)
{
    const loss_call call = {device, nc, options, scratch, grads != NULL, accumulate};
    const loss_call *loss = &call;
    level_args la;
    fill_level_args(geo, levels, grads, &la);
    ykd_status st = run_levels(loss, "yolo_decode", &la, la.box, geo, 1, decode_args, err);
    if (st == YKD_OK)
        st = launch_assign(loss, &la, geo, err);
    if (st == YKD_OK)
        st = launch_scale(loss, geo, err);
    if (st == YKD_OK)
        st = run_levels(loss, "yolo_cls_loss", &la, la.cls, geo, (size_t)nc, cls_loss_args,
                        err);
    if (st == YKD_OK && grads && !accumulate)
        st = launch_box_zero(loss, &la, geo, err);
    if (st == YKD_OK && geo->max_boxes > 0) /* else there are no box-loss groups */
        st = launch_box_loss(loss, &la, geo, err);
    return st;
}
