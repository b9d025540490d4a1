/* Distillation: a student trained as `yolokd train` trains, with the distillation losses of a
 * KD config (kd.h) against a frozen teacher on a device of its own.
 *
 * Each training step: the batch goes to the teacher (inference mode: BN running statistics,
 * no gradient, activations freed as it goes), whose tensors the losses need are moved to the
 * student's device; the student's forward and detection loss run meanwhile when the teacher
 * has a thread of its own (overlap); then the KD losses add their gradients to the detection
 * loss's, one backward, the optimizer steps the student and the KD adapters together.
 * Teacher and student must agree on the classes (count and names) and the strides, or the run
 * is refused before its first step with the reason. The saved student is an ordinary model
 * file; the adapters are not part of it, but the run's state holds them (ykd_distiller_resume).
 *
 * With a teacher cache (--teacher-cache), each epoch's teacher tensors are stored (fp16) the
 * first time and replayed by later runs with the same teacher, dataset, seed, epochs, batch,
 * image size and augmentations, which then need no teacher at all; a cache made for anything
 * else is refused, naming what differs. */
#ifndef YOLOKD_DISTILL_H
#define YOLOKD_DISTILL_H

#include "yolokd/kd.h"
#include "yolokd/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ykd_distill_options {
    ykd_train_options train; /* the student's run (train.model names the student) */
    const char *teacher;     /* the teacher's model file (.safetensors); may be NULL with a
                              * teacher cache that holds every epoch */
    const char *teacher_cache; /* a folder: the teacher's tensors of each epoch are replayed
                                * from it where it holds them, and recorded there where not
                                * (offline distillation); NULL: none */
    const char *kd_config;   /* the KD config (JSON), NULL for the defaults */
    bool overlap;            /* the teacher's forward on its own thread, true */
} ykd_distill_options;

void ykd_distill_options_default(ykd_distill_options *options);

typedef struct ykd_distiller ykd_distiller;

/* Sets up the run: the student's trainer on student_device, the teacher on teacher_device
 * (which may be the same ykd_device; the teacher then shares its thread and queue, without
 * overlap), the KD context and its adapters. */
ykd_status ykd_distiller_open(ykd_device *student_device, ykd_device *teacher_device,
                              const ykd_distill_options *options, ykd_distiller **distiller,
                              ykd_error *err);
/* Reopens the distillation in folder run from its state, to continue bit for bit as
 * ykd_trainer_resume does for training: the student's state, the KD adapters with their
 * gradients and optimizer state, the KD config as used, the teacher cache. The teacher is the
 * run's file, or teacher when given (moved); either must have the SHA-256 the run recorded. A
 * teacher file that is gone is replayed from the run's teacher cache when it holds every
 * epoch left. workers >= 0 overrides the run's. Refuses a training run's folder and the rest
 * ykd_trainer_resume refuses. */
ykd_status ykd_distiller_resume(ykd_device *student_device, ykd_device *teacher_device,
                                const char *run, const char *teacher, int workers,
                                ykd_distiller **distiller, ykd_error *err);
void ykd_distiller_close(ykd_distiller *distiller);

/* Trains as ykd_trainer_run does (the same files in the run folder). */
ykd_status ykd_distiller_run(ykd_distiller *distiller, ykd_train_callback callback, void *user,
                             ykd_error *err);

ykd_trainer *ykd_distiller_trainer(const ykd_distiller *distiller);
ykd_model *ykd_distiller_teacher(const ykd_distiller *distiller);

/* The last step's KD loss values, and the teacher's time: its forwards in all and how long
 * the student waited for them (overlap hides the difference). */
const ykd_kd_values *ykd_distiller_last_values(const ykd_distiller *distiller);
void ykd_distiller_teacher_times(const ykd_distiller *distiller, double *forward_ms,
                                 double *waited_ms);

#ifdef __cplusplus
}
#endif

#endif
