/* One batch of distillation: every input checked first (nothing is written before), the
 * student's assignment turned into per-level weights and masks, then each enabled loss with
 * its gradient, the feature pairs through their adapters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/kd_internal.h"

static const ykd_conv2d_params pointwise = {.stride = 1, .padding = 0, .groups = 1};

/* ---- checks -------------------------------------------------------------------------------- */

static const ykd_tensor *find_teacher(const ykd_kd_batch *b, const char *name)
{
    for (size_t i = 0; i < b->teacher_count; i++)
        if (b->teacher[i].name && strcmp(b->teacher[i].name, name) == 0)
            return b->teacher[i].tensor;
    return NULL;
}

/* The student tensor a teacher tensor is compared with: the pair's, or the level's namesake. */
static const char *student_of(const ykd_kd *kd, const char *teacher_name)
{
    for (int i = 0; i < kd->pair_count; i++)
        if (strcmp(kd->pairs[i].names.teacher, teacher_name) == 0)
            return kd->pairs[i].names.student;
    return teacher_name;
}

/* Teacher tensor `shape->name`: present, on the student's device, [N, channels, H, W] of the
 * student tensor it is compared with. */
static ykd_status check_teacher(const ykd_kd *kd, const ykd_kd_batch *b, const ykd_kd_shape *shape,
                                ykd_error *err)
{
    const ykd_tensor *t = find_teacher(b, shape->name);
    if (!t)
        return ykd_fail(err, YKD_ERR_NOT_FOUND, "kd: the batch has no teacher tensor '%s'",
                        shape->name);
    ykd_status st = ykd_tensor_check(t, "kd: teacher tensor", shape->name, err);
    if (st != YKD_OK)
        return st;
    ykd_device *td = ykd_tensor_device(t);
    if (td != kd->device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "kd: teacher tensor '%s' is on device %d (%s), the student on device %d "
                        "(%s) (another context counts as another device); copy it to the "
                        "student's first",
                        shape->name, ykd_device_get_info(td)->index, ykd_device_get_info(td)->name,
                        ykd_device_get_info(kd->device)->index,
                        ykd_device_get_info(kd->device)->name);
    const char *sname = student_of(kd, shape->name);
    ykd_tensor s;
    st = ykd_model_output(kd->student, sname, &s, err);
    if (st == YKD_OK && (t->n != s.n || t->c != shape->channels || t->h != s.h || t->w != s.w)) {
        char got[96], stu[96];
        ykd_tensor_shape_str(t, got, sizeof got);
        ykd_tensor_shape_str(&s, stu, sizeof stu);
        st = ykd_fail(err, YKD_ERR_SHAPE,
                      "kd: teacher tensor '%s' is %s but the student's %s is %s (expected [%d, "
                      "%d, %d, %d])",
                      shape->name, got, sname, stu, s.n, shape->channels, s.h, s.w);
    }
    return st;
}

/* Each base gradient: the shape of the student tensor it names, on the student's device. */
static ykd_status check_base(const ykd_kd *kd, const ykd_kd_batch *b, ykd_error *err)
{
    for (size_t i = 0; i < b->base_count; i++) {
        ykd_tensor s;
        const ykd_model_grad *g = &b->base[i];
        ykd_status st = ykd_model_output(kd->student, g->name, &s, err);
        if (st == YKD_OK)
            st = ykd_tensor_check(g->grad, "kd: base gradient", g->name, err);
        if (st != YKD_OK)
            return st;
        if (!ykd_tensor_same_shape(g->grad, &s) || ykd_tensor_device(g->grad) != kd->device) {
            char got[96], want[96];
            ykd_tensor_shape_str(g->grad, got, sizeof got);
            ykd_tensor_shape_str(&s, want, sizeof want);
            return ykd_fail(err, YKD_ERR_SHAPE,
                            "kd: the base gradient of '%s' is %s%s; the tensor is %s", g->name,
                            got, ykd_tensor_device(g->grad) != kd->device ? " on another device"
                                                                          : "",
                            want);
        }
    }
    return YKD_OK;
}

static bool needs_assignment(const ykd_kd_config *c)
{
    return c->loss[YKD_KD_LOGIT].enabled || c->loss[YKD_KD_LD].enabled ||
           (c->loss[YKD_KD_IMITATION].enabled && c->loss[YKD_KD_IMITATION].masked);
}

/* The batch's geometry from the student's outputs (after ykd_kd_grads_begin). */
static void take_geometry(ykd_kd *kd)
{
    kd->images = kd->own[0].head.n;
    for (int l = 0; l < kd->levels; l++) {
        kd->level[l].h = kd->own[l].head.h;
        kd->level[l].w = kd->own[l].head.w;
    }
}

static size_t anchors_of(const ykd_kd *kd)
{
    size_t a = 0;
    for (int l = 0; l < kd->levels; l++)
        a += (size_t)kd->level[l].h * kd->level[l].w;
    return a;
}

/* The assignment is of this batch: as many anchors per image and as many images. */
static ykd_status check_assignment(const ykd_kd *kd, const ykd_yolo_loss *loss, ykd_error *err)
{
    if (!loss)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "kd: logit KD, LD and masked imitation need the student's assignment "
                        "(the detection loss computed on this batch)");
    size_t anchors = anchors_of(kd);
    ykd_error probe;
    if (ykd_yolo_loss_anchor_count(loss) != anchors ||
        ykd_yolo_loss_assignment(loss, kd->images - 1, NULL, NULL, &probe) != YKD_OK ||
        ykd_yolo_loss_assignment(loss, kd->images, NULL, NULL, &probe) == YKD_OK)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "kd: the assignment is of another batch: %zu anchors per image (the "
                        "student's outputs have %zu), or another number of images than %d",
                        ykd_yolo_loss_anchor_count(loss), anchors, kd->images);
    return YKD_OK;
}

static ykd_status check_batch(ykd_kd *kd, const ykd_kd_batch *b, ykd_error *err)
{
    ykd_status st = ykd_kd_grads_begin(kd, err);
    if (st == YKD_OK)
        take_geometry(kd);
    for (size_t i = 0; i < kd->teacher_count && st == YKD_OK; i++)
        st = check_teacher(kd, b, &kd->teacher[i], err);
    if (st == YKD_OK)
        st = check_base(kd, b, err);
    if (st == YKD_OK && needs_assignment(&kd->config))
        st = check_assignment(kd, b->assignment, err);
    return st;
}

/* ---- the assignment ------------------------------------------------------------------------ */

static ykd_status grow_host(ykd_kd *kd, size_t count, ykd_error *err)
{
    if (kd->host_anchors >= count)
        return YKD_OK;
    int *gt = realloc(kd->host_gt, count * sizeof *gt);
    if (gt)
        kd->host_gt = gt;
    float *score = realloc(kd->host_score, count * sizeof *score);
    if (score)
        kd->host_score = score;
    float *weight = realloc(kd->host_weight, 2 * count * sizeof *weight);
    if (weight)
        kd->host_weight = weight;
    if (!gt || !score || !weight)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "kd: out of host memory");
    kd->host_anchors = count;
    return YKD_OK;
}

/* Level l's weights (target scores) and mask (assigned to a gt) on the device, from the host
 * copy of the assignment; counts its assigned anchors. */
static ykd_status upload_level(ykd_kd *kd, int l, size_t first, size_t anchors, ykd_error *err)
{
    kd_level *lv = &kd->level[l];
    size_t hw = (size_t)lv->h * lv->w, n = (size_t)kd->images;
    float *host = kd->host_weight;
    lv->assigned = 0.0;
    for (size_t b = 0; b < n; b++)
        for (size_t p = 0; p < hw; p++) {
            size_t a = b * anchors + first + p;
            host[b * hw + p] = kd->host_gt[a] >= 0 ? kd->host_score[a] : 0.0f;
            host[(n + b) * hw + p] = kd->host_gt[a] >= 0 ? 1.0f : 0.0f;
            lv->assigned += kd->host_gt[a] >= 0;
        }
    ykd_status st = ykd_kd_ensure(kd->device, &lv->weight_buf, 2 * n * hw, err);
    if (st == YKD_OK)
        st = ykd_buffer_write(lv->weight_buf, 0, host, 2 * n * hw * sizeof(float), err);
    lv->weight = ykd_tensor_view(lv->weight_buf, 0, kd->images, 1, lv->h, lv->w);
    lv->mask = ykd_tensor_view(lv->weight_buf, n * hw, kd->images, 1, lv->h, lv->w);
    return st;
}

static ykd_status load_assignment(ykd_kd *kd, const ykd_yolo_loss *loss, ykd_kd_values *v,
                                  ykd_error *err)
{
    size_t anchors = anchors_of(kd), total = anchors * (size_t)kd->images;
    ykd_status st = grow_host(kd, total, err);
    for (int b = 0; b < kd->images && st == YKD_OK; b++)
        st = ykd_yolo_loss_assignment(loss, b, kd->host_gt + (size_t)b * anchors,
                                      kd->host_score + (size_t)b * anchors, err);
    for (size_t a = 0; a < total && st == YKD_OK; a++)
        if (kd->host_gt[a] >= 0) {
            v->score_sum += kd->host_score[a];
            v->positives++;
        }
    size_t first = 0;
    for (int l = 0; l < kd->levels && st == YKD_OK; l++) {
        st = upload_level(kd, l, first, anchors, err);
        first += (size_t)kd->level[l].h * kd->level[l].w;
    }
    return st;
}

/* ---- the losses ---------------------------------------------------------------------------- */

/* The gradient of a loss of weight w into the student tensor `name`; false (no gradient) when
 * w is 0. */
static ykd_status student_grad(ykd_kd *kd, const ykd_kd_batch *b, const char *name, double w,
                               ykd_tensor *dx, ykd_kd_grad *grad, bool *has, ykd_error *err)
{
    *has = w != 0.0;
    if (!*has)
        return YKD_OK;
    bool accumulate = false;
    ykd_status st = ykd_kd_grad_target(kd, b, name, dx, &accumulate, err);
    *grad = (ykd_kd_grad){dx, (float)(kd->images * w), accumulate};
    return st;
}

/* Logit KD (class logits) or LD (box logits) on every level. */
static ykd_status head_loss(ykd_kd *kd, const ykd_kd_batch *b, ykd_kd_loss_kind k, double w,
                            double norm, double *sum, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (int l = 0; l < kd->levels && st == YKD_OK; l++) {
        const char *name = kd->own[l].names[k == YKD_KD_LOGIT ? KD_CLS : KD_BOX];
        ykd_tensor s, dx;
        ykd_kd_grad grad;
        bool has = false;
        double loss = 0.0;
        float temperature = kd->config.loss[k].temperature;
        st = ykd_model_output(kd->student, name, &s, err);
        if (st == YKD_OK)
            st = student_grad(kd, b, name, w, &dx, &grad, &has, err);
        if (st == YKD_OK && k == YKD_KD_LOGIT)
            st = ykd_kd_logit_loss(&s, find_teacher(b, name), temperature, norm,
                                   has ? &grad : NULL, &loss, err);
        else if (st == YKD_OK)
            st = ykd_kd_ld_loss(&s, find_teacher(b, name), &kd->level[l].weight, temperature,
                                norm, has ? &grad : NULL, &loss, err);
        *sum += loss;
    }
    return st;
}

/* One feature loss k of pair p on feature x (the student's tensor or its adaptation), its
 * gradient into grad (NULL: none). */
static ykd_status feature_loss(ykd_kd *kd, const kd_pair *p, ykd_kd_loss_kind k,
                               const ykd_tensor *x, const ykd_tensor *t, const ykd_kd_grad *grad,
                               double *loss, ykd_error *err)
{
    const ykd_kd_loss_config *c = &kd->config.loss[k];
    if (k == YKD_KD_CWD)
        return ykd_kd_cwd_loss(x, t, c->temperature, grad, loss, err);
    if (k == YKD_KD_PKD)
        return ykd_kd_pkd_loss(x, t, grad, loss, err);
    const kd_level *lv = &kd->level[p->level];
    /* over the global batch: this rank's part of the global mean */
    double positions = c->masked ? fmax(lv->assigned_global, 1.0)
                                 : kd->global_images * x->h * x->w;
    return ykd_kd_mse_loss(x, t, c->masked ? &lv->mask : NULL, (double)p->ct * positions, grad,
                           loss, err);
}

/* The adapter's output for this batch's shape: y = weight * s + bias. */
static ykd_status adapt(ykd_kd *kd, kd_pair *p, const ykd_tensor *s, ykd_error *err)
{
    size_t numel = (size_t)s->n * p->ct * s->h * s->w;
    ykd_status st = ykd_kd_ensure(kd->device, &p->buffer, 2 * numel, err);
    if (st != YKD_OK)
        return st;
    p->y = ykd_tensor_view(p->buffer, 0, s->n, p->ct, s->h, s->w);
    p->dy = ykd_tensor_view(p->buffer, numel, s->n, p->ct, s->h, s->w);
    return ykd_conv2d_forward(s, &kd->params[p->adapter].value, &kd->params[p->adapter + 1].value,
                              &pointwise, YKD_ACTIVATION_NONE, &p->y, err);
}

/* The adapter's backward: its parameter gradients added, the student's through it. */
static ykd_status adapter_backward(ykd_kd *kd, const ykd_kd_batch *b, kd_pair *p,
                                   const ykd_tensor *s, ykd_error *err)
{
    ykd_status st = ykd_conv2d_backward_weights(s, &p->dy, &pointwise, true,
                                                &kd->params[p->adapter].grad,
                                                &kd->params[p->adapter + 1].grad, err);
    /* the adapter's gradients are averaged over the ranks as they are; the student's are
     * rescaled by the trainer first (feature_gain) */
    if (st == YKD_OK && kd->ranks && kd->ranks->seed_scale != 1.0)
        st = ykd_tensor_scale(&p->dy, (float)(1.0 / kd->ranks->seed_scale), &p->dy, err);
    ykd_tensor dx;
    bool accumulate = false;
    if (st == YKD_OK)
        st = ykd_kd_grad_target(kd, b, p->names.student, &dx, &accumulate, err);
    if (st == YKD_OK)
        st = ykd_conv2d_backward_input(&p->dy, &kd->params[p->adapter].value, &pointwise,
                                       accumulate, &dx, err);
    return st;
}

/* Feature loss k's gradient scale over the batch's images times its weight (1 in a process
 * alone). One process's gradient is N w dL/ds; a rank's part of it is B_r w dL_r/ds for CWD and
 * PKD (normalised by this rank's images: the global loss is the ranks' sum of (B_r / B) L_r)
 * and B w dL_r/ds for imitation (normalised over the global batch). The ranks' gradients are
 * averaged, so each is that part times K: the adapters' as such, the student's divided by the
 * trainer's seed_scale, which multiplies them afterwards. */
static double feature_gain(const ykd_kd *kd, ykd_kd_loss_kind k, bool adapter)
{
    if (!kd->ranks)
        return 1.0;
    double part = k == YKD_KD_IMITATION ? kd->global_images / kd->images : 1.0;
    double ranks = kd->ranks->ranks;
    return part * (adapter ? ranks : ranks / kd->ranks->seed_scale);
}

/* Feature loss k's value as the trainer takes it: this rank's part of the global batch's,
 * over the share the trainer weighs it by (the value itself in a process alone). */
static double feature_value(const ykd_kd *kd, ykd_kd_loss_kind k, double loss)
{
    if (!kd->ranks)
        return loss;
    double part = k == YKD_KD_IMITATION ? loss : loss * kd->images / kd->global_images;
    return part / kd->ranks->value_share;
}

/* CWD, PKD and imitation of one pair, through its adapter when it has one. */
static ykd_status pair_losses(ykd_kd *kd, const ykd_kd_batch *b, kd_pair *p, const double *w,
                              ykd_kd_values *v, ykd_error *err)
{
    ykd_tensor s, dx;
    ykd_status st = ykd_model_output(kd->student, p->names.student, &s, err);
    const ykd_tensor *t = find_teacher(b, p->names.teacher), *x = &s;
    if (st == YKD_OK && p->adapter >= 0) {
        st = adapt(kd, p, &s, err);
        x = &p->y;
    }
    bool wrote_dy = false;
    for (int k = YKD_KD_CWD; k <= YKD_KD_IMITATION && st == YKD_OK; k++) {
        if (!kd->config.loss[k].enabled)
            continue;
        double wk = w[k] * feature_gain(kd, (ykd_kd_loss_kind)k, p->adapter >= 0);
        ykd_kd_grad grad = {&p->dy, (float)(kd->images * wk), wrote_dy};
        bool has = w[k] != 0.0;
        if (has && p->adapter < 0)
            st = student_grad(kd, b, p->names.student, wk, &dx, &grad, &has, err);
        double loss = 0.0;
        if (st == YKD_OK)
            st = feature_loss(kd, p, (ykd_kd_loss_kind)k, x, t, has ? &grad : NULL, &loss, err);
        wrote_dy = wrote_dy || (has && p->adapter >= 0);
        v->loss[k] += feature_value(kd, (ykd_kd_loss_kind)k, loss);
    }
    if (st == YKD_OK && wrote_dy)
        st = adapter_backward(kd, b, p, &s, err);
    return st;
}

static bool has_features(const ykd_kd_config *c)
{
    return c->loss[YKD_KD_CWD].enabled || c->loss[YKD_KD_PKD].enabled ||
           c->loss[YKD_KD_IMITATION].enabled;
}

/* The images and each level's assigned anchors over the global batch (the ranks' added, when
 * the feature losses need them). */
static ykd_status global_counts(ykd_kd *kd, const ykd_kd_batch *b, ykd_error *err)
{
    kd->ranks = b->ranks;
    double counts[1 + KD_MAX_LEVELS];
    counts[0] = kd->images;
    for (int l = 0; l < kd->levels; l++)
        counts[1 + l] = kd->level[l].assigned;
    ykd_status st = YKD_OK;
    if (b->ranks && has_features(&kd->config))
        st = b->ranks->sum(b->ranks->user, counts, 1 + (size_t)kd->levels, err);
    kd->global_images = counts[0];
    for (int l = 0; l < kd->levels; l++)
        kd->level[l].assigned_global = counts[1 + l];
    return st;
}

ykd_status ykd_kd_compute(ykd_kd *kd, const ykd_kd_batch *batch, ykd_kd_values *v,
                          ykd_error *err)
{
    memset(v, 0, sizeof *v);
    ykd_status st = check_batch(kd, batch, err);
    if (st == YKD_OK && batch->ranks && !(batch->ranks->ranks >= 1 && batch->ranks->sum &&
                                           batch->ranks->seed_scale > 0.0 &&
                                           batch->ranks->value_share > 0.0))
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "kd: data parallelism needs at least one rank, a sum over them and "
                      "positive scales (ranks %d, seed_scale %g, value_share %g)",
                      batch->ranks->ranks, batch->ranks->seed_scale,
                      batch->ranks->value_share);
    for (int l = 0; l < kd->levels; l++)
        kd->level[l].assigned = 0.0; /* counted by load_assignment when it is needed */
    if (st == YKD_OK && needs_assignment(&kd->config))
        st = load_assignment(kd, batch->assignment, v, err);
    if (st == YKD_OK)
        st = global_counts(kd, batch, err);
    if (st != YKD_OK)
        return st;
    const ykd_kd_config *c = &kd->config;
    double factor = ykd_kd_schedule_factor(c, batch->epoch, batch->epochs);
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        v->weight[k] = c->loss[k].enabled ? c->loss[k].weight * factor : 0.0;
    double norm = fmax(v->score_sum, 1.0);
    for (int k = YKD_KD_LOGIT; k <= YKD_KD_LD && st == YKD_OK; k++)
        if (c->loss[k].enabled)
            st = head_loss(kd, batch, (ykd_kd_loss_kind)k, v->weight[k], norm, &v->loss[k], err);
    for (int i = 0; i < kd->pair_count && st == YKD_OK; i++)
        st = pair_losses(kd, batch, &kd->pairs[i], v->weight, v, err);
    if (st == YKD_OK)
        st = ykd_kd_grads_end(kd, batch, err);
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        v->total += v->weight[k] * v->loss[k];
    return st;
}
