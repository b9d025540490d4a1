/* Where the student's gradients go: into the caller's base gradients where one covers a
 * tensor (the detection loss's head gradients, typically), else into the context's own, one
 * neck and one head tensor per level; and the list handed to the model's backward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/kd_internal.h"

static int level_of_stride(const ykd_kd *kd, int stride)
{
    for (int l = 0; l < kd->levels; l++)
        if (kd->level[l].stride == stride)
            return l;
    return -1;
}

ykd_status ykd_kd_grads_begin(ykd_kd *kd, ykd_error *err)
{
    static const char *const prefixes[KD_REGIONS + 1] = {"p", "box", "cls", "head"};
    for (int l = 0; l < kd->levels; l++) {
        kd_own *own = &kd->own[l];
        int log2 = 0;
        while ((1 << log2) < kd->level[l].stride)
            log2++;
        for (int r = 0; r <= KD_REGIONS; r++)
            snprintf(own->names[r], sizeof own->names[r], "%s%d", prefixes[r], log2);
        memset(own->written, 0, sizeof own->written);
        ykd_tensor neck, head;
        ykd_status st = ykd_model_output(kd->student, own->names[KD_NECK], &neck, err);
        if (st == YKD_OK)
            st = ykd_model_output(kd->student, own->names[KD_REGIONS], &head, err);
        if (st != YKD_OK) {
            ykd_error_prefix(err, "kd: the student's outputs (a training forward first)");
            return st;
        }
        /* the own tensors take the outputs' shapes; their buffers are grown when first used */
        own->neck = ykd_tensor_view(own->neck_buf, 0, neck.n, neck.c, neck.h, neck.w);
        own->head = ykd_tensor_view(own->head_buf, 0, head.n, head.c, head.h, head.w);
    }
    kd->grad_count = 0;
    return YKD_OK;
}

/* The own tensor of a region, its buffer grown to the batch's shape. */
static ykd_status own_tensor(ykd_kd *kd, kd_own *own, bool neck, ykd_error *err)
{
    ykd_tensor *t = neck ? &own->neck : &own->head;
    ykd_buffer **buf = neck ? &own->neck_buf : &own->head_buf;
    ykd_status st = ykd_kd_ensure(kd->device, buf, ykd_tensor_numel(t), err);
    if (st != YKD_OK)
        return st;
    *t = ykd_tensor_view(*buf, 0, t->n, t->c, t->h, t->w);
    if (!neck) {
        own->box = ykd_tensor_channels(&own->head, 0, 4 * YKD_MODEL_REG_MAX);
        own->cls = ykd_tensor_channels(&own->head, 4 * YKD_MODEL_REG_MAX, kd->nc);
    }
    return YKD_OK;
}

/* A base gradient that covers the tensor (name n): *dx its view; false when none does.
 * Fails when one covers only part of it. */
static ykd_status base_target(const ykd_kd *kd, const ykd_kd_batch *batch, const char *name,
                              kd_name n, ykd_tensor *dx, bool *found, ykd_error *err)
{
    *found = false;
    for (size_t i = 0; i < batch->base_count; i++) {
        kd_name b;
        if (!ykd_kd_parse_name(batch->base[i].name, &b) || b.stride != n.stride ||
            !(b.regions & n.regions))
            continue;
        if ((b.regions & n.regions) != n.regions)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "kd: the base gradient '%s' covers only part of '%s'; give '%s' "
                            "whole",
                            batch->base[i].name, name, name);
        *dx = *batch->base[i].grad;
        if (b.regions != n.regions) /* a head gradient, KD's tensor its box or class part */
            *dx = n.regions == 1u << KD_BOX
                      ? ykd_tensor_channels(dx, 0, 4 * YKD_MODEL_REG_MAX)
                      : ykd_tensor_channels(dx, 4 * YKD_MODEL_REG_MAX, kd->nc);
        *found = true;
        return YKD_OK;
    }
    return YKD_OK;
}

ykd_status ykd_kd_grad_target(ykd_kd *kd, const ykd_kd_batch *batch, const char *name,
                              ykd_tensor *dx, bool *accumulate, ykd_error *err)
{
    kd_name n;
    int level = ykd_kd_parse_name(name, &n) ? level_of_stride(kd, n.stride) : -1;
    if (level < 0)
        return ykd_fail(err, YKD_ERR_NOT_FOUND, "kd: the student has no tensor '%s'", name);
    bool found;
    ykd_status st = base_target(kd, batch, name, n, dx, &found, err);
    if (st != YKD_OK || found) {
        *accumulate = true;
        return st;
    }
    kd_own *own = &kd->own[level];
    if (n.regions == 1u << KD_NECK) {
        st = own_tensor(kd, own, true, err);
        *dx = own->neck;
        *accumulate = own->written[KD_NECK];
        own->written[KD_NECK] = true;
        return st;
    }
    st = own_tensor(kd, own, false, err);
    bool box = n.regions & (1u << KD_BOX), cls = n.regions & (1u << KD_CLS);
    /* a whole head after one of its parts: the other part starts from zero */
    if (st == YKD_OK && box && cls && own->written[KD_BOX] != own->written[KD_CLS])
        st = ykd_tensor_fill(own->written[KD_BOX] ? &own->cls : &own->box, 0.0f, err);
    if (box && cls && st == YKD_OK)
        own->written[KD_BOX] = own->written[KD_CLS] = own->written[KD_BOX] || own->written[KD_CLS];
    *dx = box && cls ? own->head : box ? own->box : own->cls;
    *accumulate = own->written[box ? KD_BOX : KD_CLS];
    own->written[KD_BOX] |= box;
    own->written[KD_CLS] |= cls;
    return st;
}

static void add_grad(ykd_kd *kd, const char *name, const ykd_tensor *grad)
{
    kd->grads[kd->grad_count++] = (ykd_model_grad){name, grad};
}

ykd_status ykd_kd_grads_end(ykd_kd *kd, const ykd_kd_batch *batch, ykd_error *err)
{
    size_t cap = batch->base_count + 2 * (size_t)kd->levels;
    ykd_model_grad *grads = realloc(kd->grads, (cap ? cap : 1) * sizeof *grads);
    if (!grads)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "kd: out of host memory");
    kd->grads = grads;
    kd->grad_count = 0;
    for (size_t i = 0; i < batch->base_count; i++)
        kd->grads[kd->grad_count++] = batch->base[i];
    for (int l = 0; l < kd->levels; l++) {
        kd_own *own = &kd->own[l];
        if (own->written[KD_NECK])
            add_grad(kd, own->names[KD_NECK], &own->neck);
        if (own->written[KD_BOX] && own->written[KD_CLS])
            add_grad(kd, own->names[KD_REGIONS], &own->head);
        else if (own->written[KD_BOX])
            add_grad(kd, own->names[KD_BOX], &own->box);
        else if (own->written[KD_CLS])
            add_grad(kd, own->names[KD_CLS], &own->cls);
    }
    return YKD_OK;
}

void ykd_kd_grads(const ykd_kd *kd, const ykd_model_grad **grads, size_t *count)
{
    *grads = kd->grads;
    *count = kd->grad_count;
}

void ykd_kd_grads_free(ykd_kd *kd)
{
    for (int l = 0; l < KD_MAX_LEVELS; l++) {
        ykd_buffer_free(kd->own[l].neck_buf);
        ykd_buffer_free(kd->own[l].head_buf);
    }
    free(kd->grads);
    kd->grads = NULL;
    kd->grad_count = 0;
}
