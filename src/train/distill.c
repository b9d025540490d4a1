/* The distiller: a trainer for the student with one extra loss term, the KD context's losses
 * against the teacher's tensors (distill.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/teacher.h"
#include "yolokd/distill.h"
#include "yolokd/ops.h"

enum { MAX_NAMES = 16, MAX_ADAPTER_PARAMS = 2 * YKD_KD_MAX_PAIRS };

struct ykd_distiller {
    ykd_distill_options o;
    ykd_trainer *trainer;
    ykd_teacher *teacher;
    ykd_kd_config config;
    ykd_kd *kd;
    /* the student tensors KD adds gradients to ("cls3", "box4", "p5", ...) */
    char grad_names[MAX_NAMES][YKD_KD_NAME_SIZE];
    size_t grad_name_count;
    /* the adapters' optimizer state: SGD momentum, or AdamW's m and v */
    ykd_tensor adapter_state[MAX_ADAPTER_PARAMS][2];
    ykd_kd_values last;
};

void ykd_distill_options_default(ykd_distill_options *options)
{
    memset(options, 0, sizeof *options);
    ykd_train_options_default(&options->train);
    options->overlap = true;
}

/* Refuses a teacher whose classes or strides differ from the student's, with the reason. */
static ykd_status check_compatible(const ykd_model *teacher, const ykd_model *student,
                                   const char *teacher_path, ykd_error *err)
{
    int tc = ykd_model_classes(teacher), sc = ykd_model_classes(student);
    if (tc != sc)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher %s has %d classes but the student (its dataset) has %d: "
                        "teacher and student must share their classes",
                        teacher_path, tc, sc);
    for (int c = 0; c < tc; c++) {
        const char *tn = ykd_model_class_name(teacher, c), *sn = ykd_model_class_name(student, c);
        if (tn && sn && strcmp(tn, sn) != 0)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "teacher %s calls class %d '%s' but the student's dataset calls it "
                            "'%s': teacher and student must share their classes",
                            teacher_path, c, tn, sn);
    }
    int tl = ykd_model_level_count(teacher), sl = ykd_model_level_count(student);
    if (tl != sl)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher %s detects at %d levels, the student at %d", teacher_path, tl,
                        sl);
    for (int l = 0; l < tl; l++)
        if (ykd_model_level_stride(teacher, l) != ykd_model_level_stride(student, l))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "teacher %s's level %d has stride %d, the student's %d",
                            teacher_path, l, ykd_model_level_stride(teacher, l),
                            ykd_model_level_stride(student, l));
    return YKD_OK;
}

static void add_grad_name(ykd_distiller *d, const char *name)
{
    for (size_t i = 0; i < d->grad_name_count; i++)
        if (strcmp(d->grad_names[i], name) == 0)
            return;
    if (d->grad_name_count < MAX_NAMES)
        snprintf(d->grad_names[d->grad_name_count++], YKD_KD_NAME_SIZE, "%s", name);
}

/* The student tensors the enabled losses write gradients for. */
static void collect_grad_names(ykd_distiller *d, const ykd_model *student)
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
    ykd_distiller *d = user;
    return ykd_teacher_begin(d->teacher, batch, err);
}

static ykd_status term_compute(void *user, ykd_model *model, const ykd_batch *batch,
                               ykd_grad_sink *sink, double *value, ykd_error *err)
{
    (void)model;
    ykd_distiller *d = user;
    const ykd_kd_tensor *teacher = NULL;
    ykd_status st = ykd_teacher_finish(d->teacher, batch, &teacher, err);
    ykd_tensor grads[MAX_NAMES];
    ykd_model_grad base[MAX_NAMES];
    for (size_t i = 0; i < d->grad_name_count && st == YKD_OK; i++) {
        st = ykd_grad_sink_get(sink, d->grad_names[i], &grads[i], err);
        base[i] = (ykd_model_grad){d->grad_names[i], &grads[i]};
    }
    if (st != YKD_OK)
        return st;
    int64_t per_epoch = ykd_trainer_batches_per_epoch(d->trainer);
    ykd_kd_batch kb = {
        .teacher = teacher,
        .teacher_count = ykd_kd_teacher_name_count(d->kd),
        .assignment = ykd_grad_sink_detection_loss(sink),
        .epoch = ykd_trainer_epoch(d->trainer) +
                 (per_epoch > 0 ? (double)batch->index / (double)per_epoch : 0.0),
        .epochs = ykd_trainer_options(d->trainer)->epochs,
        .base = base,
        .base_count = d->grad_name_count,
    };
    st = ykd_kd_compute(d->kd, &kb, &d->last, err);
    *value = st == YKD_OK ? d->last.total : NAN;
    return st;
}

/* The adapters step with the student's optimizer, group by group (adapter weights decay as
 * conv weights, biases do not), then their gradients are zeroed. */
static ykd_status step_adapter(ykd_distiller *d, const ykd_model_param *p, ykd_tensor state[2],
                               const ykd_schedule_point *point, ykd_error *err)
{
    const ykd_optimizer *opt = ykd_trainer_optimizer(d->trainer);
    const ykd_optimizer_options *oo = ykd_optimizer_get_options(opt);
    int group = ykd_param_kind_group(p->kind);
    double decay = group == YKD_GROUP_DECAY ? oo->weight_decay : 0.0;
    double lr = point->lr[group];
    if (oo->kind == YKD_OPTIMIZER_ADAMW) {
        int64_t steps = ykd_optimizer_steps(opt);
        ykd_adamw a = {(float)lr, (float)point->momentum, (float)oo->beta2, (float)oo->eps,
                       (float)decay, (int)(steps < 1 ? 1 : steps > 2000000000 ? 2000000000 : steps)};
        return ykd_adamw_step(&p->value, &p->grad, &state[0], &state[1], &a, err);
    }
    ykd_status st = YKD_OK;
    if (decay > 0.0) /* coupled, as the student's SGD */
        st = ykd_tensor_axpy((float)decay, &p->value, &p->grad, err);
    ykd_sgd sgd = {(float)lr, (float)point->momentum, oo->nesterov, 0.0f};
    if (st == YKD_OK)
        st = ykd_sgd_step(&p->value, &p->grad, &state[0], &sgd, err);
    return st;
}

static ykd_status term_optimized(void *user, const ykd_schedule_point *point, ykd_error *err)
{
    ykd_distiller *d = user;
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < ykd_kd_param_count(d->kd) && st == YKD_OK; i++)
        st = step_adapter(d, ykd_kd_param_at(d->kd, i), d->adapter_state[i], point, err);
    if (st == YKD_OK)
        st = ykd_kd_zero_grad(d->kd, err);
    return st;
}

/* ---- setting up --------------------------------------------------------------------------- */

static ykd_status alloc_adapter_state(ykd_distiller *d, ykd_error *err)
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

static ykd_status setup_kd(ykd_distiller *d, ykd_device *student_device,
                           ykd_device *teacher_device, ykd_error *err)
{
    ykd_model *student = ykd_trainer_model(d->trainer);
    ykd_model *teacher = ykd_teacher_model(d->teacher);
    ykd_kd_shape shapes[32];
    size_t count = 0;
    ykd_status st = check_compatible(teacher, student, d->o.teacher, err);
    if (st == YKD_OK)
        st = ykd_kd_config_load(d->o.kd_config, &d->config, err);
    if (st == YKD_OK)
        st = ykd_kd_model_shapes(teacher, shapes, 32, &count, err);
    if (st == YKD_OK)
        st = ykd_kd_create(&d->config, student, shapes, count, d->o.train.seed, &d->kd, err);
    if (st != YKD_OK)
        return st;
    collect_grad_names(d, student);
    const char *names[MAX_NAMES];
    size_t n = ykd_kd_teacher_name_count(d->kd);
    for (size_t i = 0; i < n && i < MAX_NAMES; i++)
        names[i] = ykd_kd_teacher_name(d->kd, i);
    const ykd_train_options *to = ykd_trainer_options(d->trainer);
    /* a thread of its own only on a ykd_device of its own: a device serves one thread */
    bool background = d->o.overlap && teacher_device != student_device;
    st = ykd_teacher_prepare(d->teacher, names, n < MAX_NAMES ? n : MAX_NAMES, to->batch,
                             to->imgsz, student_device, background, err);
    if (st == YKD_OK)
        st = alloc_adapter_state(d, err);
    ykd_train_loss_term term = {.name = "distillation", .compute = term_compute, .user = d,
                                .begin = term_begin, .optimized = term_optimized};
    if (st == YKD_OK)
        st = ykd_trainer_add_loss_term(d->trainer, &term, err);
    return st;
}

ykd_status ykd_distiller_open(ykd_device *student_device, ykd_device *teacher_device,
                              const ykd_distill_options *options, ykd_distiller **out,
                              ykd_error *err)
{
    *out = NULL;
    if (!options->teacher)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "distill: no teacher model file given");
    ykd_distiller *d = calloc(1, sizeof *d);
    if (!d)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    d->o = *options;
    ykd_status st = ykd_teacher_open(teacher_device, options->teacher, &d->teacher, err);
    if (st == YKD_OK)
        st = ykd_trainer_open(student_device, &options->train, &d->trainer, err);
    if (st == YKD_OK)
        st = setup_kd(d, student_device, teacher_device, err);
    if (st != YKD_OK) {
        ykd_distiller_close(d);
        return st;
    }
    *out = d;
    return YKD_OK;
}

void ykd_distiller_close(ykd_distiller *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < MAX_ADAPTER_PARAMS; i++)
        for (int k = 0; k < 2; k++)
            ykd_tensor_free(&d->adapter_state[i][k]);
    ykd_kd_free(d->kd);
    ykd_trainer_close(d->trainer);
    ykd_teacher_close(d->teacher);
    free(d);
}

ykd_status ykd_distiller_run(ykd_distiller *d, ykd_train_callback callback, void *user,
                             ykd_error *err)
{
    return ykd_trainer_run(d->trainer, callback, user, err);
}

ykd_trainer *ykd_distiller_trainer(const ykd_distiller *d)
{
    return d->trainer;
}

ykd_model *ykd_distiller_teacher(const ykd_distiller *d)
{
    return ykd_teacher_model(d->teacher);
}

const ykd_kd_values *ykd_distiller_last_values(const ykd_distiller *d)
{
    return &d->last;
}

void ykd_distiller_teacher_times(const ykd_distiller *d, double *forward_ms, double *waited_ms)
{
    ykd_teacher_times(d->teacher, forward_ms, waited_ms);
}
