/* The teacher in a distillation: a frozen model on its own device, run in inference mode on
 * each training batch, whose named tensors are handed to the student's device.
 *
 * A batch goes to the teacher in ykd_teacher_begin and its tensors come out in
 * ykd_teacher_finish. With a background thread the teacher's forward runs between the two,
 * while the student's forward and detection loss run on theirs; without, finish does all of it.
 * The thread touches only the teacher's device and host memory: the tensors are read back into
 * host buffers there, and written to the student's device by finish, on the caller's thread
 * (a device is used from one thread at a time). */
#ifndef YKD_TEACHER_H
#define YKD_TEACHER_H

#include <stdbool.h>

#include "train/teacher_cache.h"
#include "train/teacher_facts.h"
#include "yolokd/data.h"
#include "yolokd/kd.h"
#include "yolokd/model.h"

typedef struct ykd_teacher ykd_teacher;

/* Loads the teacher's model file on device. */
ykd_status ykd_teacher_open(ykd_device *device, const char *path, ykd_teacher **teacher,
                            ykd_error *err);
void ykd_teacher_close(ykd_teacher *teacher);

/* A teacher around a model already made (benchmarks); the teacher owns it from then on. */
ykd_status ykd_teacher_adopt(ykd_model *model, ykd_teacher **teacher, ykd_error *err);

/* A teacher that only replays cache (which it owns from then on): every epoch the run needs
 * must be in the cache. */
ykd_status ykd_teacher_from_cache(ykd_teacher_cache *cache, ykd_teacher **teacher,
                                  ykd_error *err);

/* Gives the teacher a cache (owned from then on): held epochs are replayed from it, the others
 * run the teacher and are recorded. */
void ykd_teacher_use_cache(ykd_teacher *teacher, ykd_teacher_cache *cache);

/* The model (NULL for a teacher from a cache) and what the losses need to know of it. */
ykd_model *ykd_teacher_model(const ykd_teacher *teacher);
const ykd_teacher_facts *ykd_teacher_get_facts(const ykd_teacher *teacher);

/* Sets what each batch hands over: the named tensors names[0 .. count) of batches of up to
 * batch images of imgsz, placed on student_device. background: run the forward on a thread
 * of its own between begin and finish. */
ykd_status ykd_teacher_prepare(ykd_teacher *teacher, const char *const *names, size_t count,
                               int batch, int imgsz, ykd_device *student_device,
                               bool background, ykd_error *err);

/* Starts the teacher on a batch (its images stay valid until finish). */
ykd_status ykd_teacher_begin(ykd_teacher *teacher, const ykd_batch *batch, ykd_error *err);

/* Waits for (or runs) the batch's forward and gives its tensors on the student's device, in
 * the order of prepare's names, valid until the next begin. */
ykd_status ykd_teacher_finish(ykd_teacher *teacher, const ykd_batch *batch,
                              const ykd_kd_tensor **tensors, ykd_error *err);

/* Milliseconds the teacher's forwards (or replays) took, and how much of it the student waited for. */
void ykd_teacher_times(const ykd_teacher *teacher, double *forward_ms, double *waited_ms);

#endif
