/* One training step (ykd_step), in the order distillation extends: data (the batch to the
 * device), forward (training mode), losses (the detection loss writes the head gradients;
 * extra terms add theirs through the gradient sink), backward (every named gradient at once),
 * and, when the caller's gradient accumulation is complete, the optimizer step, zeroed
 * gradients and the EMA. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/step_internal.h"
#include "device/device_internal.h"
#include "yolokd/ops.h"

/* ---- the gradient sink ---------------------------------------------------------------- */

/* The head gradient of a name ("head3", "box3", "cls3"), or false. */
static bool head_grad(const ykd_grad_sink *s, const char *name, ykd_tensor *grad)
{
    for (int l = 0; l < s->grads.count; l++) {
        const char *digit = s->grads.names[l] + 4; /* after "head" */
        char box[16], cls[16];
        snprintf(box, sizeof box, "box%s", digit);
        snprintf(cls, sizeof cls, "cls%s", digit);
        if (strcmp(name, s->grads.names[l]) == 0)
            *grad = s->grads.head[l];
        else if (strcmp(name, box) == 0)
            *grad = s->grads.box[l];
        else if (strcmp(name, cls) == 0)
            *grad = s->grads.cls[l];
        else
            continue;
        return true;
    }
    return false;
}

/* The extra slot of name, shaped as out (allocated or reallocated). */
static ykd_status extra_slot(ykd_grad_sink *s, const char *name, const ykd_tensor *out,
                             ykd_sink_extra **slot, ykd_error *err)
{
    ykd_sink_extra *e = NULL;
    for (int i = 0; i < s->extra_count && !e; i++)
        if (strcmp(s->extra[i].name, name) == 0)
            e = &s->extra[i];
    if (!e && (s->extra_count >= YKD_SINK_MAX_EXTRA || strlen(name) >= sizeof e->name))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "gradient sink: cannot hold a gradient for \"%s\" (at most %d names of "
                        "under 32 characters)",
                        name, YKD_SINK_MAX_EXTRA);
    if (!e) {
        e = &s->extra[s->extra_count++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
    }
    ykd_status st = YKD_OK;
    if (e->grad.buffer && !ykd_tensor_same_shape(&e->grad, out))
        ykd_tensor_free(&e->grad);
    if (!e->grad.buffer)
        st = ykd_tensor_alloc(ykd_tensor_device(out), out->n, out->c, out->h, out->w, &e->grad,
                              err);
    *slot = e;
    return st;
}

ykd_status ykd_grad_sink_get(ykd_grad_sink *s, const char *name, ykd_tensor *grad,
                             ykd_error *err)
{
    if (head_grad(s, name, grad))
        return YKD_OK;
    ykd_tensor out;
    ykd_status st = ykd_model_output(s->model, name, &out, err);
    ykd_sink_extra *e = NULL;
    if (st == YKD_OK)
        st = extra_slot(s, name, &out, &e, err);
    if (st == YKD_OK && !e->used)
        st = ykd_tensor_fill(&e->grad, 0.0f, err);
    if (st != YKD_OK)
        return st;
    e->used = true;
    *grad = e->grad;
    return YKD_OK;
}

const ykd_loss_ranks *ykd_grad_sink_ranks(const ykd_grad_sink *sink)
{
    return sink->ranks;
}

const ykd_yolo_loss *ykd_grad_sink_detection_loss(const ykd_grad_sink *sink)
{
    return sink->loss;
}

/* ---- the step ----------------------------------------------------------------------------- */

struct ykd_step {
    ykd_step_parts p;
    ykd_device *device;
    int batch, imgsz;
    bool timing;
    ykd_tensor images;                           /* [batch, 3, S, S] */
    ykd_tensor head_grads[YKD_YOLO_MAX_LEVELS];  /* [batch, 64 + nc, H, W] per level */
    ykd_grad_sink sink;
    ykd_train_loss_term terms[YKD_STEP_MAX_TERMS];
    int term_count;
    ykd_dist *dist; /* NULL: one process */
};

void ykd_step_set_dist(ykd_step *s, ykd_dist *dist)
{
    s->dist = dist;
}

ykd_status ykd_step_init(const ykd_step_parts *parts, int batch, int imgsz, bool timing,
                         ykd_step **step, ykd_error *err)
{
    *step = NULL;
    if (!parts || !parts->model || !parts->loss || !parts->optimizer || batch < 1 || imgsz < 32)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "step: needs a model, a loss and an optimizer, a batch of at least 1 and "
                        "an image size of at least 32");
    ykd_step *s = calloc(1, sizeof *s);
    if (!s)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "step: out of host memory");
    s->p = *parts;
    s->device = ykd_model_device(parts->model);
    s->batch = batch, s->imgsz = imgsz, s->timing = timing;
    s->sink.model = parts->model;
    s->sink.loss = parts->loss;
    ykd_status st = ykd_tensor_alloc(s->device, batch, 3, imgsz, imgsz, &s->images, err);
    if (st != YKD_OK) {
        ykd_step_free(s);
        return st;
    }
    *step = s;
    return YKD_OK;
}

void ykd_step_free(ykd_step *s)
{
    if (!s)
        return;
    ykd_tensor_free(&s->images);
    for (int l = 0; l < YKD_YOLO_MAX_LEVELS; l++)
        ykd_tensor_free(&s->head_grads[l]);
    for (int i = 0; i < s->sink.extra_count; i++)
        ykd_tensor_free(&s->sink.extra[i].grad);
    free(s);
}

ykd_status ykd_step_add_loss_term(ykd_step *s, const ykd_train_loss_term *term, ykd_error *err)
{
    if (!term || !term->compute || !term->name)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "step: a loss term needs a name and a compute function");
    if (s->term_count >= YKD_STEP_MAX_TERMS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "step: at most %d extra loss terms",
                        YKD_STEP_MAX_TERMS);
    s->terms[s->term_count++] = *term;
    return YKD_OK;
}

/* The batch's images on the device: the first count images of the step's tensor. */
static ykd_status upload(ykd_step *s, const ykd_batch *b, ykd_tensor *images, ykd_error *err)
{
    if (b->count < 1 || b->count > (size_t)s->batch || b->size != s->imgsz)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "step: a batch of %zu images of %d pixels; this step takes 1 to %d of %d",
                        b->count, b->size, s->batch, s->imgsz);
    *images = ykd_tensor_images(&s->images, 0, (int)b->count);
    return ykd_tensor_write(images, b->images, err);
}

/* The head gradients for this batch: views of the first count images of full-batch tensors. */
static ykd_status head_grads(ykd_step *s, const ykd_head_views *out, int count, ykd_error *err)
{
    ykd_tensor views[YKD_YOLO_MAX_LEVELS];
    for (int l = 0; l < out->count; l++) {
        const ykd_tensor *h = &out->head[l];
        ykd_tensor *g = &s->head_grads[l];
        if (!g->buffer) {
            ykd_status st = ykd_tensor_alloc(s->device, s->batch, h->c, h->h, h->w, g, err);
            if (st != YKD_OK)
                return st;
        }
        views[l] = ykd_tensor_images(g, 0, count);
    }
    ykd_head_views_over(out, views, &s->sink.grads);
    return YKD_OK;
}

/* Whether a loss failure is the loss refusing non-finite logits (the model diverged), as
 * opposed to a fault in the inputs. */
static bool diverged(ykd_status st, const ykd_error *err)
{
    return st == YKD_ERR_INVALID_ARGUMENT && err && strstr(err->message, "NaN or infinite");
}

static ykd_status not_finite(ykd_error *err)
{
    ykd_error_prefix(err, "the loss is not finite (box nan, cls nan, dfl nan)");
    if (err)
        err->status = YKD_ERR_NOT_FINITE;
    return YKD_ERR_NOT_FINITE;
}

/* The detection loss (it writes the head gradients). */
static ykd_status detection_loss(ykd_step *s, const ykd_batch *b, ykd_yolo_loss_value *value,
                                 size_t *images, size_t *instances, ykd_error *err)
{
    *images = b->count;
    *instances = 0;
    for (size_t i = 0; i < b->count; i++)
        *instances += (size_t)b->box_counts[i];
    ykd_head_views out;
    ykd_status st = ykd_head_views_get(s->p.model, &out, err);
    if (st == YKD_OK)
        st = head_grads(s, &out, (int)b->count, err);
    if (st != YKD_OK)
        return st;
    ykd_yolo_targets targets = {b->labels, b->box_counts, b->max_boxes};
    st = ykd_yolo_loss_compute(s->p.loss, out.levels, out.count, &targets, s->sink.grads.levels,
                               false, value, err);
    if (diverged(st, err))
        return not_finite(err);
    if (st == YKD_OK && s->dist)
        st = ykd_dist_detection_loss(s->dist, value, images, instances, err);
    s->sink.ranks = s->dist ? &s->dist->loss_ranks : NULL;
    if (st == YKD_OK && !isfinite(value->total))
        return ykd_fail(err, YKD_ERR_NOT_FINITE, "the loss is not finite (box %g, cls %g, dfl %g)",
                        value->box, value->cls, value->dfl);
    return st;
}

/* With several ranks: the terms' value over the global batch, and the seed gradients weighted
 * by this rank's share of it. */
static ykd_status extra_terms_over_ranks(ykd_step *s, double *extra, ykd_error *err)
{
    ykd_tensor seeds[YKD_YOLO_MAX_LEVELS + YKD_SINK_MAX_EXTRA];
    int count = 0;
    for (int l = 0; l < s->sink.grads.count; l++)
        seeds[count++] = s->sink.grads.head[l];
    for (int i = 0; i < s->sink.extra_count; i++)
        if (s->sink.extra[i].used)
            seeds[count++] = s->sink.extra[i].grad;
    return ykd_dist_extra_terms(s->dist, extra, seeds, count, err);
}

/* Every extra term, adding to the gradients; *extra sums their values. */
static ykd_status extra_terms(ykd_step *s, const ykd_batch *b, const ykd_yolo_loss_value *value,
                              double *extra, ykd_error *err)
{
    ykd_status st = YKD_OK;
    *extra = 0.0;
    for (int i = 0; i < s->sink.extra_count; i++)
        s->sink.extra[i].used = false;
    for (int i = 0; i < s->term_count && st == YKD_OK; i++) {
        double v = 0.0;
        st = s->terms[i].compute(s->terms[i].user, s->p.model, b, &s->sink, &v, err);
        if (st == YKD_OK && !isfinite(v))
            st = ykd_fail(err, YKD_ERR_NOT_FINITE,
                          "loss term %s is not finite (%g; box %g, cls %g, dfl %g)",
                          s->terms[i].name, v, value->box, value->cls, value->dfl);
        *extra += v;
    }
    if (st == YKD_OK && s->dist)
        st = extra_terms_over_ranks(s, extra, err);
    return st;
}

/* Backward from the head gradients and whatever the terms asked for. */
static ykd_status backward(ykd_step *s, ykd_error *err)
{
    ykd_model_grad grads[YKD_YOLO_MAX_LEVELS + YKD_SINK_MAX_EXTRA];
    size_t count = 0;
    for (int l = 0; l < s->sink.grads.count; l++)
        grads[count++] = (ykd_model_grad){s->sink.grads.names[l], &s->sink.grads.head[l]};
    for (int i = 0; i < s->sink.extra_count; i++)
        if (s->sink.extra[i].used)
            grads[count++] = (ykd_model_grad){s->sink.extra[i].name, &s->sink.extra[i].grad};
    return ykd_model_backward(s->p.model, grads, count, NULL, err);
}

/* The backward; with several ranks, when an optimizer step follows, the gradients' all-reduce
 * starting as they become final. */
static ykd_status backward_reducing(ykd_step *s, bool optimize_now, ykd_error *err)
{
    bool reduce = s->dist && optimize_now;
    ykd_status st = reduce ? ykd_dist_backward_begin(s->dist, s->p.model, err) : YKD_OK;
    if (st == YKD_OK)
        st = backward(s, err);
    if (reduce)
        ykd_dist_backward_end(s->dist, s->p.model, st != YKD_OK);
    return st;
}

/* The optimizer step, as Ultralytics' optimizer_step: clip, step, zero_grad, EMA update. */
static ykd_status optimize(ykd_step *s, const ykd_schedule_point *p, ykd_step_result *r,
                           ykd_error *err)
{
    ykd_status st = s->dist ? ykd_dist_average_grads(s->dist, s->p.model, err) : YKD_OK;
    if (st == YKD_OK)
        st = ykd_optimizer_step(s->p.optimizer, p->lr, p->momentum, &r->grad_norm, err);
    if (st == YKD_ERR_NOT_FINITE)
        ykd_error_append(err, " (box %g, cls %g, dfl %g)", r->loss.box, r->loss.cls,
                         r->loss.dfl);
    if (st == YKD_OK)
        st = ykd_model_zero_grad(s->p.model, err);
    if (st == YKD_OK && s->dist)
        st = ykd_dist_after_step(s->dist, s->p.model, err);
    if (st == YKD_OK && s->p.ema)
        st = ykd_ema_update(s->p.ema, s->p.model, err);
    for (int i = 0; i < s->term_count && st == YKD_OK; i++)
        if (s->terms[i].optimized)
            st = s->terms[i].optimized(s->terms[i].user, p, err);
    r->optimized = st == YKD_OK;
    return st;
}

/* The terms' begin hooks: before the forward, so their own work can run meanwhile. */
static ykd_status begin_terms(ykd_step *s, const ykd_batch *b, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (int i = 0; i < s->term_count && st == YKD_OK; i++)
        if (s->terms[i].begin)
            st = s->terms[i].begin(s->terms[i].user, b, err);
    return st;
}

/* With timing on: waits for the device and charges the time since *t0 to *ms. */
void ykd_step_set_timing(ykd_step *s, bool timing)
{
    s->timing = timing;
}

static ykd_status lap(ykd_step *s, double *t0, double *ms, ykd_status st, ykd_error *err)
{
    if (!s->timing || st != YKD_OK)
        return st;
    st = ykd_device_finish(s->device, err);
    double now = ykd_now_ms();
    *ms = now - *t0;
    *t0 = now;
    return st;
}

ykd_status ykd_step_run(ykd_step *s, const ykd_batch *b, const ykd_schedule_point *p,
                        bool optimize_now, ykd_step_result *r, ykd_error *err)
{
    memset(r, 0, sizeof *r);
    double t0 = ykd_now_ms();
    ykd_tensor images;
    ykd_status st = begin_terms(s, b, err);
    if (st == YKD_OK)
        st = lap(s, &t0, &r->upload_ms, upload(s, b, &images, err), err);
    if (st == YKD_OK)
        st = lap(s, &t0, &r->forward_ms,
                 ykd_model_forward(s->p.model, &images, YKD_MODEL_TRAINING, err), err);
    if (st == YKD_OK)
        st = detection_loss(s, b, &r->loss, &r->images, &r->instances, err);
    if (st == YKD_OK)
        st = lap(s, &t0, &r->loss_ms, extra_terms(s, b, &r->loss, &r->extra, err),
                 err);
    if (st == YKD_OK)
        st = lap(s, &t0, &r->backward_ms, backward_reducing(s, optimize_now, err), err);
    if (st == YKD_OK && optimize_now)
        st = lap(s, &t0, &r->optimizer_ms, optimize(s, p, r, err), err);
    return st;
}
