#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/dist.h"
#include "train/kd_term.h"
#include "yolokd/ops.h"

enum { MAX_NAMES = 16, MAX_ADAPTER_PARAMS = 2 * YKD_KD_MAX_PAIRS };

struct ykd_kd_term {
    ykd_kd_term_options o;
    ykd_kd *kd;
    /* the student tensors KD adds gradients to ("cls3", "box4", "p5", ...) */
    char grad_names[MAX_NAMES][YKD_KD_NAME_SIZE];
    size_t grad_name_count;
    /* the adapters' optimizer state: SGD momentum, or AdamW's m and v */
    ykd_tensor adapter_state[MAX_ADAPTER_PARAMS][2];
    ykd_kd_values last;
    char state_names[MAX_ADAPTER_PARAMS][4][64]; /* ykd_kd_term_state's */
};

static void add_grad_name(ykd_kd_term *d, const char *name)
{
    for (size_t i = 0; i < d->grad_name_count; i++)
        if (strcmp(d->grad_names[i], name) == 0)
            return;
    if (d->grad_name_count < MAX_NAMES)
        snprintf(d->grad_names[d->grad_name_count++], YKD_KD_NAME_SIZE, "%s", name);
}

/* The student tensors the enabled losses write gradients for. */
static void collect_grad_names(ykd_kd_term *d, const ykd_model *student)
{
    const ykd_kd_config *c = ykd_kd_get_config(d->kd);
    for (int l = 0; l < ykd_model_level_count(student); l++) {
        int p = (int)lround(log2((double)ykd_model_level_stride(student, l)));
        char name[YKD_KD_NAME_SIZE];
        if (c->loss[YKD_KD_LOGIT].enabled) {
            snprintf(name, sizeof name, "cls%d", p);
            add_grad_name(d, name);
        }
        if (c->loss[YKD_KD_LD].enabled) {
            snprintf(name, sizeof name, "box%d", p);
            add_grad_name(d, name);
        }
    }
    bool features = c->loss[YKD_KD_CWD].enabled || c->loss[YKD_KD_PKD].enabled ||
                    c->loss[YKD_KD_IMITATION].enabled;
    for (int i = 0; features && i < c->pair_count; i++)
        add_grad_name(d, c->pairs[i].student);
}

/* ---- the loss term ------------------------------------------------------------------------ */

static ykd_status term_begin(void *user, const ykd_batch *batch, ykd_error *err)
{
    ykd_kd_term *d = user;
    return ykd_teacher_begin(d->o.teacher, batch, err);
}

static ykd_status term_compute(void *user, ykd_model *model, const ykd_batch *batch,
                               ykd_grad_sink *sink, double *value, ykd_error *err)
{
    (void)model;
    ykd_kd_term *d = user;
    const ykd_kd_tensor *teacher = NULL;
    ykd_status st = ykd_teacher_finish(d->o.teacher, batch, &teacher, err);
    ykd_tensor grads[MAX_NAMES];
    ykd_model_grad base[MAX_NAMES];
    for (size_t i = 0; i < d->grad_name_count && st == YKD_OK; i++) {
        st = ykd_grad_sink_get(sink, d->grad_names[i], &grads[i], err);
        base[i] = (ykd_model_grad){d->grad_names[i], &grads[i]};
    }
    if (st != YKD_OK)
        return st;
    int epochs = 1;
    double epoch = d->o.progress ? d->o.progress(d->o.progress_user, batch, &epochs) : 0.0;
    ykd_kd_batch kb = {
        .teacher = teacher,
        .teacher_count = ykd_kd_teacher_name_count(d->kd),
        .assignment = ykd_grad_sink_detection_loss(sink),
        .epoch = epoch,
        .epochs = epochs,
        .base = base,
        .base_count = d->grad_name_count,
        .ranks = ykd_grad_sink_ranks(sink),
    };
    st = ykd_kd_compute(d->kd, &kb, &d->last, err);
    *value = st == YKD_OK ? d->last.total : NAN;
    return st;
}

/* The adapters step with the student's optimizer, group by group (adapter weights decay as
 * conv weights, biases do not), then their gradients are zeroed. */
static ykd_status step_adapter(ykd_kd_term *d, const ykd_model_param *p, ykd_tensor state[2],
                               const ykd_schedule_point *point, ykd_error *err)
{
    const ykd_optimizer *opt = d->o.optimizer;
    const ykd_optimizer_options *oo = ykd_optimizer_get_options(opt);
    int group = ykd_param_kind_group(p->kind);
    double decay = group == YKD_GROUP_DECAY ? oo->weight_decay : 0.0;
    double lr = point->lr[group];
    if (oo->kind == YKD_OPTIMIZER_ADAMW) {
        int64_t steps = ykd_optimizer_steps(opt);
        ykd_adamw a = {.lr = (float)lr,
                       .beta1 = (float)point->momentum,
                       .beta2 = (float)oo->beta2,
                       .eps = (float)oo->eps,
                       .weight_decay = (float)decay,
                       .step = (int)(steps < 1 ? 1 : steps > 2000000000 ? 2000000000 : steps)};
        return ykd_adamw_step(&p->value, &p->grad, &state[0], &state[1], &a, err);
    }
    /* the decay coupled, as the student's SGD */
    ykd_sgd sgd = {(float)lr, (float)point->momentum, oo->nesterov, 0.0f, (float)decay, 1.0f};
    return ykd_sgd_step(&p->value, &p->grad, &state[0], &sgd, err);
}

static ykd_status term_optimized(void *user, const ykd_schedule_point *point, ykd_error *err)
{
    ykd_kd_term *d = user;
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < ykd_kd_param_count(d->kd) && st == YKD_OK; i++) {
        const ykd_model_param *p = ykd_kd_param_at(d->kd, i);
        st = ykd_dist_average_tensor(&p->grad, err); /* over the ranks, as the student's */
        if (st == YKD_OK)
            st = step_adapter(d, p, d->adapter_state[i], point, err);
    }
    if (st == YKD_OK)
        st = ykd_kd_zero_grad(d->kd, err);
    return st;
}

static ykd_status alloc_adapter_state(ykd_kd_term *d, ykd_error *err)
{
    size_t count = ykd_kd_param_count(d->kd);
    if (count > MAX_ADAPTER_PARAMS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "distill: too many adapter parameters");
    ykd_status st = ykd_kd_zero_grad(d->kd, err);
    for (size_t i = 0; i < count && st == YKD_OK; i++) {
        const ykd_tensor *v = &ykd_kd_param_at(d->kd, i)->value;
        for (int k = 0; k < 2 && st == YKD_OK; k++) {
            st = ykd_tensor_alloc(ykd_tensor_device(v), v->n, v->c, v->h, v->w,
                                  &d->adapter_state[i][k], err);
            if (st == YKD_OK)
                st = ykd_tensor_fill(&d->adapter_state[i][k], 0.0f, err);
        }
    }
    return st;
}

ykd_status ykd_kd_term_create(const ykd_kd_term_options *o, ykd_kd_term **out, ykd_error *err)
{
    *out = NULL;
    ykd_kd_term *d = calloc(1, sizeof *d);
    if (!d)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    d->o = *o;
    const ykd_teacher_facts *teacher = ykd_teacher_get_facts(o->teacher);
    ykd_status st = ykd_teacher_facts_check_student(teacher, o->student, err);
    if (st == YKD_OK)
        st = ykd_kd_create(o->config, o->student, teacher->shapes, teacher->shape_count,
                           o->seed, &d->kd, err);
    if (st == YKD_OK) {
        collect_grad_names(d, o->student);
        const char *names[MAX_NAMES];
        size_t n = ykd_kd_teacher_name_count(d->kd);
        for (size_t i = 0; i < n && i < MAX_NAMES; i++)
            names[i] = ykd_kd_teacher_name(d->kd, i);
        st = ykd_teacher_prepare(o->teacher, names, n < MAX_NAMES ? n : MAX_NAMES, o->batch,
                                 o->imgsz, ykd_model_device(o->student), o->background, err);
    }
    if (st == YKD_OK)
        st = alloc_adapter_state(d, err);
    if (st != YKD_OK) {
        ykd_kd_term_free(d);
        return st;
    }
    *out = d;
    return YKD_OK;
}

void ykd_kd_term_free(ykd_kd_term *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < MAX_ADAPTER_PARAMS; i++)
        for (int k = 0; k < 2; k++)
            ykd_tensor_free(&d->adapter_state[i][k]);
    ykd_kd_free(d->kd);
    free(d);
}

/* Each enabled KD loss as weighted in the value: "kd_logit", "kd_ld", ... */
static size_t term_parts(void *user, const char **names, double *values, size_t cap)
{
    static const char *const part_names[YKD_KD_LOSS_COUNT] = {"kd_logit", "kd_ld", "kd_cwd",
                                                              "kd_pkd", "kd_imitation"};
    ykd_kd_term *d = user;
    const ykd_kd_config *c = ykd_kd_get_config(d->kd);
    size_t n = 0;
    for (int k = 0; k < YKD_KD_LOSS_COUNT && n < cap; k++) {
        if (!c->loss[k].enabled)
            continue;
        names[n] = part_names[k];
        if (values)
            values[n] = d->last.weight[k] * d->last.loss[k];
        n++;
    }
    return n;
}

ykd_train_loss_term ykd_kd_term_loss(ykd_kd_term *d)
{
    ykd_train_loss_term term = {.name = "distillation", .compute = term_compute, .user = d,
                                .begin = term_begin, .optimized = term_optimized,
                                .parts = term_parts};
    return term;
}

static size_t floats_of(const ykd_tensor *t)
{
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

int ykd_kd_term_state(ykd_kd_term *d, ykd_state_tensor *out, int cap)
{
    bool adamw = ykd_optimizer_get_options(d->o.optimizer)->kind == YKD_OPTIMIZER_ADAMW;
    static const char *const suffixes[2][4] = {{"", ".grad", ".momentum", NULL},
                                               {"", ".grad", ".exp_avg", ".exp_avg_sq"}};
    int count = 0;
    for (size_t i = 0; i < ykd_kd_param_count(d->kd); i++) {
        const ykd_model_param *p = ykd_kd_param_at(d->kd, i);
        const ykd_tensor *parts[4] = {&p->value, &p->grad, &d->adapter_state[i][0],
                                      &d->adapter_state[i][1]};
        for (int k = 0; k < 4 && suffixes[adamw][k] && count < cap; k++) {
            snprintf(d->state_names[i][k], sizeof d->state_names[i][k], "%s%s", p->name,
                     suffixes[adamw][k]);
            out[count++] = (ykd_state_tensor){d->state_names[i][k], parts[k]->buffer,
                                              parts[k]->offset, floats_of(parts[k])};
        }
    }
    return count;
}

const ykd_kd_config *ykd_kd_term_config(const ykd_kd_term *d)
{
    return ykd_kd_get_config(d->kd);
}

const ykd_kd_values *ykd_kd_term_values(const ykd_kd_term *d)
{
    return &d->last;
}
