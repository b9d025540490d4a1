#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/teacher_facts.h"

ykd_status ykd_teacher_facts_of_model(const ykd_model *model, const char *source,
                                      ykd_teacher_facts *f, ykd_error *err)
{
    memset(f, 0, sizeof *f);
    f->source = source;
    f->classes = ykd_model_classes(model);
    f->class_names = calloc((size_t)(f->classes > 0 ? f->classes : 1), sizeof *f->class_names);
    if (!f->class_names)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: out of host memory");
    for (int c = 0; c < f->classes; c++)
        f->class_names[c] = ykd_model_class_name(model, c);
    f->levels = ykd_model_level_count(model);
    for (int l = 0; l < f->levels && l < YKD_MODEL_MAX_LEVELS; l++)
        f->strides[l] = ykd_model_level_stride(model, l);
    return ykd_kd_model_shapes(model, f->shapes, YKD_TEACHER_MAX_SHAPES, &f->shape_count, err);
}

void ykd_teacher_facts_release(ykd_teacher_facts *f)
{
    free(f->class_names);
    f->class_names = NULL;
}

const ykd_kd_shape *ykd_teacher_facts_shape(const ykd_teacher_facts *f, const char *name)
{
    for (size_t i = 0; i < f->shape_count; i++)
        if (strcmp(f->shapes[i].name, name) == 0)
            return &f->shapes[i];
    return NULL;
}

ykd_status ykd_teacher_facts_check_student(const ykd_teacher_facts *f, const ykd_model *student,
                                           ykd_error *err)
{
    int sc = ykd_model_classes(student);
    if (f->classes != sc)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher %s has %d classes but the student (its dataset) has %d: "
                        "teacher and student must share their classes",
                        f->source, f->classes, sc);
    for (int c = 0; c < sc; c++) {
        const char *tn = f->class_names[c], *sn = ykd_model_class_name(student, c);
        if (tn && sn && strcmp(tn, sn) != 0)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "teacher %s calls class %d '%s' but the student's dataset calls it "
                            "'%s': teacher and student must share their classes",
                            f->source, c, tn, sn);
    }
    int sl = ykd_model_level_count(student);
    if (f->levels != sl)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher %s detects at %d levels, the student at %d", f->source,
                        f->levels, sl);
    for (int l = 0; l < sl; l++)
        if (f->strides[l] != ykd_model_level_stride(student, l))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "teacher %s's level %d has stride %d, the student's %d", f->source,
                            l, f->strides[l], ykd_model_level_stride(student, l));
    return YKD_OK;
}
