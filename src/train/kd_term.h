/* The distillation loss term of a training step: the teacher's tensors for the batch (from a
 * ykd_teacher), the KD context's losses added to the step's gradients, and the KD adapters
 * stepped with the student's optimizer. The distiller attaches one to its trainer; the step
 * benchmark to a bare step. */
#ifndef YKD_KD_TERM_H
#define YKD_KD_TERM_H

#include "train/checkpoint.h"
#include "train/teacher.h"
#include "yolokd/kd.h"
#include "yolokd/train.h"

typedef struct ykd_kd_term ykd_kd_term;

typedef struct ykd_kd_term_options {
    ykd_model *student;
    ykd_teacher *teacher;           /* not owned; prepared by ykd_kd_term_create */
    const ykd_kd_config *config;
    const ykd_optimizer *optimizer; /* the student's: the adapters step with its kind */
    uint64_t seed;                  /* the adapters' initialisation */
    int batch, imgsz;
    bool background;                /* the teacher's forward on its own thread */
    /* Where training stands for the KD schedule: the (fractional) epoch of epochs at batch.
     * NULL: epoch 0 of 1. */
    double (*progress)(void *user, const ykd_batch *batch, int *epochs);
    void *progress_user;
} ykd_kd_term_options;

/* The KD context for the teacher and student (refused, with the reason, when their classes
 * or strides differ), and the teacher prepared to hand over what it needs. */
ykd_status ykd_kd_term_create(const ykd_kd_term_options *options, ykd_kd_term **term,
                              ykd_error *err);
void ykd_kd_term_free(ykd_kd_term *term);

/* The loss term to add to a step or a trainer (it refers to term, which must outlive them). */
ykd_train_loss_term ykd_kd_term_loss(ykd_kd_term *term);

/* What the term keeps from step to step, for a resumable state: each adapter parameter's
 * values and accumulated gradient (the accumulation crosses epochs) and its optimizer state
 * (SGD's momentum, or AdamW's two moments). Fills out (up to cap) and returns the count; the
 * names live as long as the term. The rest of a step's KD is a function of the batch and of
 * where training stands (the schedule), so this is all of it. */
int ykd_kd_term_state(ykd_kd_term *term, ykd_state_tensor *out, int cap);

/* The KD context's config as used (the neck pairs resolved for the student). */
const ykd_kd_config *ykd_kd_term_config(const ykd_kd_term *term);

/* The last step's KD values. */
const ykd_kd_values *ykd_kd_term_values(const ykd_kd_term *term);

#endif
