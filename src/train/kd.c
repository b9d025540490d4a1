/* The distillation context: made from a config, the student and the teacher's shapes; the
 * teacher tensors it needs; the adapters and their parameter table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/rng.h"
#include "train/kd_internal.h"

bool ykd_kd_parse_name(const char *name, kd_name *out)
{
    static const struct {
        const char *prefix;
        unsigned regions;
    } kinds[] = {{"p", 1u << KD_NECK},
                 {"box", 1u << KD_BOX},
                 {"cls", 1u << KD_CLS},
                 {"head", (1u << KD_BOX) | (1u << KD_CLS)}};
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t len = strlen(kinds[i].prefix);
        if (strncmp(name, kinds[i].prefix, len) != 0 || name[len] < '1' || name[len] > '9' ||
            name[len + 1] != '\0')
            continue;
        out->regions = kinds[i].regions;
        out->stride = 1 << (name[len] - '0');
        return true;
    }
    return false;
}

ykd_status ykd_kd_ensure(ykd_device *device, ykd_buffer **buf, size_t floats, ykd_error *err)
{
    size_t bytes = (floats ? floats : 1) * sizeof(float);
    if (*buf && ykd_buffer_size(*buf) >= bytes)
        return YKD_OK;
    ykd_buffer_free(*buf);
    *buf = NULL;
    return ykd_buffer_alloc(device, bytes, buf, err);
}

ykd_status ykd_kd_model_shapes(const ykd_model *model, ykd_kd_shape *shapes, size_t cap,
                               size_t *count, ykd_error *err)
{
    static const char *const prefixes[] = {"p", "box", "cls", "head"};
    *count = 0;
    for (int l = 0; l < ykd_model_level_count(model); l++) {
        int log2 = 0;
        while ((1 << log2) < ykd_model_level_stride(model, l))
            log2++;
        for (size_t k = 0; k < 4; k++, (*count)++) {
            if (*count >= cap)
                continue;
            ykd_kd_shape *s = &shapes[*count];
            snprintf(s->name, sizeof s->name, "%s%d", prefixes[k], log2);
            ykd_status st = ykd_model_output_info(model, s->name, &s->channels, &s->stride, err);
            if (st != YKD_OK)
                return st;
        }
    }
    return YKD_OK;
}

/* ---- creation ------------------------------------------------------------------------------ */

static const ykd_kd_shape *find_shape(const ykd_kd_shape *shapes, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(shapes[i].name, name) == 0)
            return &shapes[i];
    return NULL;
}

/* Adds the teacher tensor `name` to what a compute needs (once), from the teacher's shapes;
 * where names the config's place in messages. */
static ykd_status need_teacher(ykd_kd *kd, const ykd_kd_shape *shapes, size_t count,
                               const char *name, const char *where, const ykd_kd_shape **found,
                               ykd_error *err)
{
    *found = find_shape(shapes, count, name);
    if (!*found)
        return ykd_fail(err, YKD_ERR_NOT_FOUND, "kd: %s: the teacher has no tensor '%s'", where,
                        name);
    if (!find_shape(kd->teacher, kd->teacher_count, name))
        kd->teacher[kd->teacher_count++] = **found;
    return YKD_OK;
}

/* The head tensors logit KD (cls) and LD (box) need per level, same stride on both sides. */
static ykd_status add_head_levels(ykd_kd *kd, const ykd_kd_shape *shapes, size_t count,
                                  ykd_error *err)
{
    const ykd_kd_config *c = &kd->config;
    ykd_status st = YKD_OK;
    for (int l = 0; l < kd->levels && st == YKD_OK; l++) {
        int log2 = 0;
        while ((1 << log2) < kd->level[l].stride)
            log2++;
        for (int k = YKD_KD_LOGIT; k <= YKD_KD_LD && st == YKD_OK; k++) {
            if (!c->loss[k].enabled)
                continue;
            char name[YKD_KD_NAME_SIZE], where[48];
            snprintf(name, sizeof name, "%s%d", k == YKD_KD_LOGIT ? "cls" : "box", log2);
            snprintf(where, sizeof where, "$.losses.%s", ykd_kd_loss_name((ykd_kd_loss_kind)k));
            const ykd_kd_shape *t;
            int expect = k == YKD_KD_LOGIT ? kd->nc : 4 * YKD_MODEL_REG_MAX;
            st = need_teacher(kd, shapes, count, name, where, &t, err);
            if (st == YKD_OK && (t->channels != expect || t->stride != kd->level[l].stride))
                st = ykd_fail(err, YKD_ERR_SHAPE,
                              "kd: %s: the teacher's %s has %d channels at stride %d, the "
                              "student's %d at stride %d%s",
                              where, name, t->channels, t->stride, expect, kd->level[l].stride,
                              k == YKD_KD_LOGIT ? " (teacher and student must share classes)"
                                                : "");
        }
    }
    return st;
}

/* A feature pair: both tensors known, strides equal (no resizing: a mismatch is refused with
 * both shapes). */
static ykd_status add_pair(ykd_kd *kd, int index, const ykd_kd_shape *shapes, size_t count,
                           ykd_error *err)
{
    kd_pair *p = &kd->pairs[index];
    p->names = kd->config.pairs[index];
    p->adapter = -1;
    char where[48];
    snprintf(where, sizeof where, "$.features[%d]", index);
    int s_stride = 0;
    ykd_status st = ykd_model_output_info(kd->student, p->names.student, &p->cs, &s_stride, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "kd: %s.student", where);
        return st;
    }
    const ykd_kd_shape *t;
    st = need_teacher(kd, shapes, count, p->names.teacher, where, &t, err);
    if (st != YKD_OK)
        return st;
    p->ct = t->channels;
    if (t->stride != s_stride)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "kd: %s: student %s is [N, %d, H/%d, W/%d] but teacher %s is [N, %d, "
                        "H/%d, W/%d]; feature pairs must have one spatial size (no resizing)",
                        where, p->names.student, p->cs, s_stride, s_stride, p->names.teacher,
                        p->ct, t->stride, t->stride);
    for (p->level = 0; p->level < kd->levels; p->level++)
        if (kd->level[p->level].stride == s_stride)
            break;
    return YKD_OK;
}

/* ---- adapters ------------------------------------------------------------------------------ */

static void set_param(ykd_kd *kd, size_t i, const char *pair_name, bool weight, int ct, int cs,
                      size_t offset)
{
    snprintf(kd->param_names[i], sizeof kd->param_names[i], "kd.adapter.%s.%s", pair_name,
             weight ? "weight" : "bias");
    ykd_model_param *p = &kd->params[i];
    p->name = kd->param_names[i];
    p->kind = weight ? YKD_PARAM_CONV_WEIGHT : YKD_PARAM_CONV_BIAS;
    p->ndim = weight ? 4 : 1;
    int shape[4] = {ct, weight ? cs : 0, weight ? 1 : 0, weight ? 1 : 0}; /* as state_dict */
    memcpy(p->shape, shape, sizeof shape);
    if (weight) {
        p->value = ykd_tensor_view(kd->param_buf, offset, ct, cs, 1, 1);
        p->grad = ykd_tensor_view(kd->grad_buf, offset, ct, cs, 1, 1);
    } else {
        p->value = ykd_tensor_view(kd->param_buf, offset, 1, ct, 1, 1);
        p->grad = ykd_tensor_view(kd->grad_buf, offset, 1, ct, 1, 1);
    }
}

/* PyTorch's Conv2d default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = cs. */
static void draw_adapter(float *out, int ct, int cs, ykd_rng *rng)
{
    double bound = 1.0 / sqrt((double)cs);
    for (size_t i = 0; i < (size_t)ct * cs + (size_t)ct; i++)
        out[i] = (float)ykd_rng_uniform(rng, -bound, bound);
}

/* An adapter for every pair whose channels differ, when a feature loss is on: the parameter
 * table, one buffer of values drawn from seed, one of zeroed gradients. */
static ykd_status make_adapters(ykd_kd *kd, uint64_t seed, ykd_error *err)
{
    size_t floats = 0, count = 0;
    for (int i = 0; i < kd->pair_count; i++)
        if (ykd_kd_config_has_feature_loss(&kd->config) && kd->pairs[i].cs != kd->pairs[i].ct) {
            floats += (size_t)kd->pairs[i].ct * (kd->pairs[i].cs + 1);
            count += 2;
        }
    if (count == 0)
        return YKD_OK;
    kd->params = calloc(count, sizeof *kd->params);
    kd->param_names = calloc(count, sizeof *kd->param_names);
    float *host = malloc(floats * sizeof *host);
    ykd_status st = kd->params && kd->param_names && host
                        ? ykd_buffer_alloc(kd->device, floats * sizeof(float), &kd->param_buf, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "kd: out of host memory");
    if (st == YKD_OK)
        st = ykd_buffer_alloc(kd->device, floats * sizeof(float), &kd->grad_buf, err);
    ykd_rng rng;
    ykd_rng_seed(&rng, seed);
    size_t at = 0;
    for (int i = 0; i < kd->pair_count && st == YKD_OK; i++) {
        kd_pair *p = &kd->pairs[i];
        if (p->cs == p->ct)
            continue;
        p->adapter = (int)kd->param_count;
        set_param(kd, kd->param_count++, p->names.student, true, p->ct, p->cs, at);
        set_param(kd, kd->param_count++, p->names.student, false, p->ct, p->cs,
                  at + (size_t)p->ct * p->cs);
        draw_adapter(host + at, p->ct, p->cs, &rng);
        at += (size_t)p->ct * (p->cs + 1);
    }
    if (st == YKD_OK)
        st = ykd_buffer_write(kd->param_buf, 0, host, floats * sizeof(float), err);
    if (st == YKD_OK)
        st = ykd_kd_zero_grad(kd, err);
    free(host);
    return st;
}

ykd_status ykd_kd_zero_grad(ykd_kd *kd, ykd_error *err)
{
    if (!kd->grad_buf)
        return YKD_OK;
    return ykd_fill_f32(kd->grad_buf, 0, ykd_buffer_size(kd->grad_buf) / sizeof(float), 0.0f,
                        err);
}

/* ---- the context ----------------------------------------------------------------------------- */

static ykd_status kd_setup(ykd_kd *kd, const ykd_kd_shape *shapes, size_t count, uint64_t seed,
                           ykd_error *err)
{
    kd->levels = ykd_model_level_count(kd->student);
    kd->nc = ykd_model_classes(kd->student);
    if (kd->levels > KD_MAX_LEVELS)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "kd: the student has %d levels (at most %d)",
                        kd->levels, KD_MAX_LEVELS);
    for (int l = 0; l < kd->levels; l++)
        kd->level[l].stride = ykd_model_level_stride(kd->student, l);
    ykd_status st = add_head_levels(kd, shapes, count, err);
    kd->pair_count = ykd_kd_config_has_feature_loss(&kd->config) ? kd->config.pair_count : 0;
    for (int i = 0; i < kd->pair_count && st == YKD_OK; i++)
        st = add_pair(kd, i, shapes, count, err);
    if (st == YKD_OK)
        st = make_adapters(kd, seed, err);
    return st;
}

/* The default pairs: each detection level's neck output with the teacher's of that name. */
static void pair_neck_outputs(ykd_kd_config *c, const ykd_model *student)
{
    int levels = ykd_model_level_count(student);
    c->pair_count = 0;
    for (int l = 0; l < levels && l < YKD_KD_MAX_PAIRS; l++) {
        int stride = ykd_model_level_stride(student, l), p = 0;
        while ((1 << p) < stride)
            p++;
        snprintf(c->pairs[l].student, YKD_KD_NAME_SIZE, "p%d", p);
        snprintf(c->pairs[l].teacher, YKD_KD_NAME_SIZE, "p%d", p);
        c->pair_count++;
    }
}

ykd_status ykd_kd_create(const ykd_kd_config *config, ykd_model *student,
                         const ykd_kd_shape *shapes, size_t count, uint64_t seed, ykd_kd **out,
                         ykd_error *err)
{
    *out = NULL;
    if (!config || !student || (!shapes && count > 0))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "kd: no config, student or shapes");
    ykd_kd *kd = calloc(1, sizeof *kd);
    if (!kd)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "kd: out of host memory");
    kd->config = *config;
    kd->student = student;
    kd->device = ykd_model_device(student);
    if (config->neck_pairs)
        pair_neck_outputs(&kd->config, student);
    ykd_status st = kd_setup(kd, shapes, count, seed, err);
    if (st != YKD_OK) {
        ykd_kd_free(kd);
        return st;
    }
    *out = kd;
    return YKD_OK;
}

void ykd_kd_free(ykd_kd *kd)
{
    if (!kd)
        return;
    for (int i = 0; i < kd->pair_count; i++)
        ykd_buffer_free(kd->pairs[i].buffer);
    for (int l = 0; l < KD_MAX_LEVELS; l++)
        ykd_buffer_free(kd->level[l].weight_buf);
    ykd_kd_grads_free(kd);
    ykd_buffer_free(kd->param_buf);
    ykd_buffer_free(kd->grad_buf);
    free(kd->params);
    free(kd->param_names);
    free(kd->host_gt);
    free(kd->host_score);
    free(kd->host_weight);
    free(kd);
}

const ykd_kd_config *ykd_kd_get_config(const ykd_kd *kd)
{
    return &kd->config;
}

size_t ykd_kd_teacher_name_count(const ykd_kd *kd)
{
    return kd->teacher_count;
}

const char *ykd_kd_teacher_name(const ykd_kd *kd, size_t index)
{
    return index < kd->teacher_count ? kd->teacher[index].name : NULL;
}

size_t ykd_kd_param_count(const ykd_kd *kd)
{
    return kd->param_count;
}

const ykd_model_param *ykd_kd_param_at(const ykd_kd *kd, size_t index)
{
    return index < kd->param_count ? &kd->params[index] : NULL;
}
