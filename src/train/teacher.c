#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/device_internal.h"
#include "train/teacher.h"

enum { MAX_TENSORS = 16 };

struct ykd_teacher {
    ykd_model *model;
    ykd_device *device, *student_device;
    int batch, imgsz;
    ykd_tensor images; /* [batch, 3, imgsz, imgsz] on the teacher's device */
    size_t count;
    char names[MAX_TENSORS][YKD_KD_NAME_SIZE];
    float *host[MAX_TENSORS];         /* the tensors read back, packed */
    ykd_tensor on_student[MAX_TENSORS]; /* [batch, ...] on the student's device */
    ykd_tensor views[MAX_TENSORS];      /* the first images of those for a short batch */
    ykd_kd_tensor handed[MAX_TENSORS];
    int shapes[MAX_TENSORS][3]; /* c, h, w */
    bool background;
    /* the batch in flight */
    pthread_t thread;
    bool running;
    const ykd_batch *pending;
    ykd_status status;
    ykd_error error;
    double forward_ms, waited_ms;
};

ykd_status ykd_teacher_adopt(ykd_model *model, ykd_teacher **out, ykd_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: out of host memory");
    (*out)->model = model;
    (*out)->device = ykd_model_device(model);
    return YKD_OK;
}

ykd_status ykd_teacher_open(ykd_device *device, const char *path, ykd_teacher **out,
                            ykd_error *err)
{
    *out = NULL;
    ykd_model *model = NULL;
    ykd_status st = ykd_model_load(device, path, &model, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "teacher %s", path);
        return st;
    }
    st = ykd_teacher_adopt(model, out, err);
    if (st != YKD_OK)
        ykd_model_free(model);
    return st;
}

void ykd_teacher_close(ykd_teacher *t)
{
    if (!t)
        return;
    if (t->running)
        pthread_join(t->thread, NULL);
    for (size_t i = 0; i < t->count; i++) {
        free(t->host[i]);
        ykd_tensor_free(&t->on_student[i]);
    }
    ykd_tensor_free(&t->images);
    ykd_model_free(t->model);
    free(t);
}

ykd_model *ykd_teacher_model(const ykd_teacher *t)
{
    return t->model;
}

ykd_status ykd_teacher_prepare(ykd_teacher *t, const char *const *names, size_t count,
                               int batch, int imgsz, ykd_device *student_device,
                               bool background, ykd_error *err)
{
    if (count > MAX_TENSORS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "teacher: at most %d tensors handed over",
                        MAX_TENSORS);
    t->batch = batch, t->imgsz = imgsz, t->student_device = student_device;
    t->background = background;
    ykd_status st = ykd_tensor_alloc(t->device, batch, 3, imgsz, imgsz, &t->images, err);
    for (size_t i = 0; i < count && st == YKD_OK; i++) {
        int channels = 0, stride = 0;
        snprintf(t->names[i], sizeof t->names[i], "%s", names[i]);
        st = ykd_model_output_info(t->model, names[i], &channels, &stride, err);
        if (st != YKD_OK)
            break;
        int side = imgsz / stride;
        t->shapes[i][0] = channels, t->shapes[i][1] = side, t->shapes[i][2] = side;
        t->host[i] = malloc((size_t)batch * channels * side * side * sizeof(float));
        if (!t->host[i])
            st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: out of host memory for %s",
                          names[i]);
        else
            st = ykd_tensor_alloc(student_device, batch, channels, side, side,
                                  &t->on_student[i], err);
        t->count = i + 1;
    }
    if (st != YKD_OK)
        ykd_error_prefix(err, "preparing the teacher's tensors");
    return st;
}

/* Upload, forward in inference mode, and every named tensor read back into host memory. */
static ykd_status teacher_work(ykd_teacher *t, const ykd_batch *b, ykd_error *err)
{
    double start = ykd_now_ms();
    ykd_tensor images = ykd_tensor_images(&t->images, 0, (int)b->count);
    ykd_status st = ykd_tensor_write(&images, b->images, err);
    if (st == YKD_OK)
        st = ykd_model_forward(t->model, &images, YKD_MODEL_INFERENCE, err);
    for (size_t i = 0; i < t->count && st == YKD_OK; i++) {
        ykd_tensor out;
        st = ykd_model_output(t->model, t->names[i], &out, err);
        if (st == YKD_OK)
            st = ykd_tensor_read(&out, t->host[i], err);
    }
    if (st != YKD_OK)
        ykd_error_prefix(err, "teacher forward");
    t->forward_ms += ykd_now_ms() - start;
    return st;
}

static void *teacher_thread(void *arg)
{
    ykd_teacher *t = arg;
    t->status = teacher_work(t, t->pending, &t->error);
    return NULL;
}

ykd_status ykd_teacher_begin(ykd_teacher *t, const ykd_batch *b, ykd_error *err)
{
    if ((int)b->count > t->batch || b->size != t->imgsz)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "teacher: a batch of %zu images of %d pixels, prepared for %d of %d",
                        b->count, b->size, t->batch, t->imgsz);
    t->pending = b;
    if (!t->background)
        return YKD_OK;
    ykd_error_clear(&t->error);
    if (pthread_create(&t->thread, NULL, teacher_thread, t) != 0)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: cannot start a thread");
    t->running = true;
    return YKD_OK;
}

ykd_status ykd_teacher_finish(ykd_teacher *t, const ykd_batch *b, const ykd_kd_tensor **tensors,
                              ykd_error *err)
{
    if (t->pending != b)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "teacher: finish without begin");
    double start = ykd_now_ms();
    ykd_status st;
    if (t->running) {
        pthread_join(t->thread, NULL);
        t->running = false;
        st = t->status;
        if (st != YKD_OK && err)
            *err = t->error;
    } else {
        st = teacher_work(t, b, err);
    }
    t->waited_ms += ykd_now_ms() - start;
    t->pending = NULL;
    for (size_t i = 0; i < t->count && st == YKD_OK; i++) {
        t->views[i] = ykd_tensor_images(&t->on_student[i], 0, (int)b->count);
        st = ykd_tensor_write(&t->views[i], t->host[i], err);
        t->handed[i] = (ykd_kd_tensor){t->names[i], &t->views[i]};
    }
    *tensors = t->handed;
    return st;
}

void ykd_teacher_times(const ykd_teacher *t, double *forward_ms, double *waited_ms)
{
    *forward_ms = t->forward_ms;
    *waited_ms = t->waited_ms;
}
