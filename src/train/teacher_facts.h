/* What a distillation needs to know of its teacher before a step: its classes, its levels'
 * strides and the shapes of its named tensors. They come from the teacher's model, or from a
 * teacher cache's record of it when the cache replays without the teacher. */
#ifndef YKD_TEACHER_FACTS_H
#define YKD_TEACHER_FACTS_H

#include "yolokd/kd.h"
#include "yolokd/model.h"

enum { YKD_TEACHER_MAX_SHAPES = 4 * YKD_MODEL_MAX_LEVELS };

typedef struct ykd_teacher_facts {
    const char *source;       /* the teacher's file, for messages */
    int classes;
    const char **class_names; /* classes entries, any of them NULL; owned by who filled it */
    int levels;
    int strides[YKD_MODEL_MAX_LEVELS];
    ykd_kd_shape shapes[YKD_TEACHER_MAX_SHAPES];
    size_t shape_count;
} ykd_teacher_facts;

/* The facts of a loaded model (class_names malloc'd, pointing into the model: free them with
 * ykd_teacher_facts_release before the model goes). */
ykd_status ykd_teacher_facts_of_model(const ykd_model *model, const char *source,
                                      ykd_teacher_facts *facts, ykd_error *err);
void ykd_teacher_facts_release(ykd_teacher_facts *facts);

/* The shape of the named tensor, or NULL. */
const ykd_kd_shape *ykd_teacher_facts_shape(const ykd_teacher_facts *facts, const char *name);

/* Refuses a teacher whose classes (count or names) or strides differ from the student's,
 * naming the teacher's source. */
ykd_status ykd_teacher_facts_check_student(const ykd_teacher_facts *facts,
                                           const ykd_model *student, ykd_error *err);

#endif
