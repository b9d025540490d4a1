/* The distiller: a trainer for the student with the distillation loss term (kd_term.c)
 * against the teacher's tensors (distill.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/kd_term.h"
#include "yolokd/distill.h"

struct ykd_distiller {
    ykd_distill_options o;
    ykd_trainer *trainer;
    ykd_teacher *teacher;
    ykd_kd_config config;
    ykd_kd_term *term;
};

void ykd_distill_options_default(ykd_distill_options *options)
{
    memset(options, 0, sizeof *options);
    ykd_train_options_default(&options->train);
    options->overlap = true;
}

/* The trainer's fractional epoch at a batch, for the KD schedule. */
static double trainer_progress(void *user, const ykd_batch *batch, int *epochs)
{
    const ykd_trainer *t = user;
    int64_t per_epoch = ykd_trainer_batches_per_epoch(t);
    *epochs = ykd_trainer_options(t)->epochs;
    return ykd_trainer_epoch(t) +
           (per_epoch > 0 ? (double)batch->index / (double)per_epoch : 0.0);
}

static ykd_status setup_kd(ykd_distiller *d, ykd_device *student_device,
                           ykd_device *teacher_device, ykd_error *err)
{
    ykd_model *student = ykd_trainer_model(d->trainer);
    ykd_status st = ykd_kd_config_load(d->o.kd_config, &d->config, err);
    const ykd_train_options *to = ykd_trainer_options(d->trainer);
    /* a thread of its own only on a ykd_device of its own (a device serves one thread), or
     * when only the cache is read */
    bool own_thread = teacher_device != student_device || !ykd_teacher_model(d->teacher);
    ykd_kd_term_options ko = {
        .student = student,
        .teacher = d->teacher,
        .config = &d->config,
        .optimizer = ykd_trainer_optimizer(d->trainer),
        .seed = to->seed,
        .batch = to->batch,
        .imgsz = to->imgsz,
        .background = d->o.overlap && own_thread,
        .progress = trainer_progress,
        .progress_user = d->trainer,
    };
    if (st == YKD_OK)
        st = ykd_kd_term_create(&ko, &d->term, err);
    if (st == YKD_OK) {
        ykd_train_loss_term term = ykd_kd_term_loss(d->term);
        st = ykd_trainer_add_loss_term(d->trainer, &term, err);
    }
    return st;
}

/* The teacher cache of the run; without the teacher file, every epoch left must be there. */
static ykd_status open_cache(ykd_distiller *d, ykd_teacher_cache **cache, ykd_error *err)
{
    const ykd_train_options *to = ykd_trainer_options(d->trainer);
    ykd_teacher_cache_run run = {
        .dir = d->o.teacher_cache,
        .teacher_path = d->o.teacher,
        .teacher = d->teacher ? ykd_teacher_get_facts(d->teacher) : NULL,
        .train = ykd_trainer_train_set(d->trainer),
        .options = to,
        .batches_per_epoch = ykd_trainer_batches_per_epoch(d->trainer),
    };
    ykd_status st = ykd_teacher_cache_open(&run, cache, err);
    int missing = st == YKD_OK ? ykd_teacher_cache_missing_epoch(*cache, ykd_trainer_epoch(
                                                                             d->trainer),
                                                                 to->epochs)
                               : -1;
    if (st == YKD_OK && !d->o.teacher && missing >= 0)
        st = ykd_fail(err, YKD_ERR_NOT_FOUND,
                      "teacher cache %s holds no epoch %d of this run's %d: give --teacher to "
                      "compute what is missing",
                      d->o.teacher_cache, missing + 1, to->epochs);
    return st;
}

static ykd_status open_teacher(ykd_distiller *d, ykd_device *teacher_device, ykd_error *err)
{
    ykd_status st = YKD_OK;
    if (d->o.teacher)
        st = ykd_teacher_open(teacher_device, d->o.teacher, &d->teacher, err);
    if (st != YKD_OK || !d->o.teacher_cache)
        return st;
    ykd_teacher_cache *cache = NULL;
    st = open_cache(d, &cache, err);
    if (st == YKD_OK && d->teacher)
        ykd_teacher_use_cache(d->teacher, cache);
    else if (st == YKD_OK)
        st = ykd_teacher_from_cache(cache, &d->teacher, err);
    if (st != YKD_OK && !d->teacher)
        ykd_teacher_cache_close(cache);
    return st;
}

ykd_status ykd_distiller_open(ykd_device *student_device, ykd_device *teacher_device,
                              const ykd_distill_options *options, ykd_distiller **out,
                              ykd_error *err)
{
    *out = NULL;
    if (!options->teacher && !options->teacher_cache)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "distill: no teacher model file (or teacher cache) given");
    ykd_distiller *d = calloc(1, sizeof *d);
    if (!d)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    d->o = *options;
    ykd_status st = ykd_trainer_open(student_device, &options->train, &d->trainer, err);
    if (st == YKD_OK)
        st = open_teacher(d, teacher_device, err);
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
    ykd_kd_term_free(d->term);
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
    return ykd_kd_term_values(d->term);
}

void ykd_distiller_teacher_times(const ykd_distiller *d, double *forward_ms, double *waited_ms)
{
    ykd_teacher_times(d->teacher, forward_ms, waited_ms);
}
