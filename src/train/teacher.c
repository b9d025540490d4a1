#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/device_internal.h"
#include "train/teacher.h"

enum { MAX_TENSORS = 16 };

struct ykd_teacher {
    ykd_model *model; /* NULL when a cache replays every epoch */
    ykd_teacher_facts facts;
    bool own_facts;            /* facts made from the model, released at close */
    ykd_teacher_cache *cache;  /* owned; NULL without one */
    ykd_device *device, *student_device;
    int batch, imgsz;
    ykd_tensor images; /* [batch, 3, imgsz, imgsz] on the teacher's device */
    /* what a batch fills: the handed-over tensors, and with a cache all it stores */
    size_t stored_count;
    const char *stored[MAX_TENSORS];
    float *host[MAX_TENSORS]; /* packed [batch, c, h, w] */
    size_t count;             /* the handed-over tensors */
    char names[MAX_TENSORS][YKD_KD_NAME_SIZE];
    size_t source[MAX_TENSORS];         /* index of each in stored */
    ykd_tensor on_student[MAX_TENSORS]; /* [batch, ...] on the student's device */
    ykd_tensor views[MAX_TENSORS];      /* the first images of those for a short batch */
    ykd_kd_tensor handed[MAX_TENSORS];
    bool background;
    /* the batch in flight */
    pthread_t thread;
    bool running;
    const ykd_batch *pending;
    ykd_status status;
    ykd_error error;
    double forward_ms, waited_ms;
};

static ykd_status new_teacher(ykd_model *model, const char *source, ykd_teacher **out,
                              ykd_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: out of host memory");
    (*out)->model = model;
    (*out)->device = ykd_model_device(model);
    (*out)->own_facts = true;
    ykd_status st = ykd_teacher_facts_of_model(model, source, &(*out)->facts, err);
    if (st != YKD_OK) {
        (*out)->model = NULL; /* the caller keeps it */
        ykd_teacher_close(*out);
        *out = NULL;
    }
    return st;
}

ykd_status ykd_teacher_adopt(ykd_model *model, ykd_teacher **out, ykd_error *err)
{
    return new_teacher(model, "(a model in memory)", out, err);
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
    st = new_teacher(model, path, out, err);
    if (st != YKD_OK)
        ykd_model_free(model);
    return st;
}

ykd_status ykd_teacher_from_cache(ykd_teacher_cache *cache, ykd_teacher **out, ykd_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: out of host memory");
    (*out)->cache = cache;
    (*out)->facts = *ykd_teacher_cache_facts(cache);
    return YKD_OK;
}

void ykd_teacher_use_cache(ykd_teacher *t, ykd_teacher_cache *cache)
{
    ykd_teacher_cache_close(t->cache);
    t->cache = cache;
}

void ykd_teacher_close(ykd_teacher *t)
{
    if (!t)
        return;
    if (t->running)
        pthread_join(t->thread, NULL);
    for (size_t i = 0; i < MAX_TENSORS; i++) {
        free(t->host[i]);
        ykd_tensor_free(&t->on_student[i]);
    }
    ykd_tensor_free(&t->images);
    if (t->own_facts)
        ykd_teacher_facts_release(&t->facts);
    ykd_teacher_cache_close(t->cache);
    ykd_model_free(t->model);
    free(t);
}

ykd_model *ykd_teacher_model(const ykd_teacher *t)
{
    return t->model;
}

const ykd_teacher_facts *ykd_teacher_get_facts(const ykd_teacher *t)
{
    return &t->facts;
}

/* Host memory for each stored tensor, and where each handed-over one comes from. */
static ykd_status alloc_host(ykd_teacher *t, ykd_error *err)
{
    for (size_t i = 0; i < t->stored_count; i++) {
        const ykd_kd_shape *s = ykd_teacher_facts_shape(&t->facts, t->stored[i]);
        if (!s || t->imgsz % s->stride != 0)
            return ykd_fail(err, YKD_ERR_NOT_FOUND, "teacher %s has no tensor '%s' at %d pixels",
                            t->facts.source, t->stored[i], t->imgsz);
        size_t side = (size_t)(t->imgsz / s->stride);
        t->host[i] = malloc((size_t)t->batch * s->channels * side * side * sizeof(float));
        if (!t->host[i])
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher: out of host memory for %s",
                            t->stored[i]);
    }
    for (size_t i = 0; i < t->count; i++) {
        t->source[i] = t->stored_count;
        for (size_t k = 0; k < t->stored_count; k++)
            if (strcmp(t->stored[k], t->names[i]) == 0)
                t->source[i] = k;
        if (t->source[i] == t->stored_count)
            return ykd_fail(err, YKD_ERR_NOT_FOUND, "teacher: '%s' is not among its tensors",
                            t->names[i]);
    }
    return YKD_OK;
}

/* The handed-over tensors' places on the student's device. */
static ykd_status alloc_on_student(ykd_teacher *t, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < t->count && st == YKD_OK; i++) {
        const ykd_kd_shape *s = ykd_teacher_facts_shape(&t->facts, t->names[i]);
        int side = t->imgsz / s->stride;
        st = ykd_tensor_alloc(t->student_device, t->batch, s->channels, side, side,
                              &t->on_student[i], err);
    }
    return st;
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
    t->count = count;
    for (size_t i = 0; i < count; i++) {
        snprintf(t->names[i], sizeof t->names[i], "%s", names[i]);
        t->stored[i] = t->names[i];
    }
    t->stored_count = count;
    ykd_status st = YKD_OK;
    if (t->cache) {
        const char *const *stored = NULL;
        st = ykd_teacher_cache_bind(t->cache, names, count, &stored, &t->stored_count, err);
        for (size_t i = 0; st == YKD_OK && i < t->stored_count && i < MAX_TENSORS; i++)
            t->stored[i] = stored[i];
        if (st == YKD_OK && t->stored_count > MAX_TENSORS)
            st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "teacher: the cache stores over %d "
                          "tensors", MAX_TENSORS);
    }
    if (st == YKD_OK && t->model)
        st = ykd_tensor_alloc(t->device, batch, 3, imgsz, imgsz, &t->images, err);
    if (st == YKD_OK)
        st = alloc_host(t, err);
    if (st == YKD_OK)
        st = alloc_on_student(t, err);
    if (st != YKD_OK)
        ykd_error_prefix(err, "preparing the teacher's tensors");
    return st;
}

/* Upload, forward in inference mode, and every stored tensor read back into host memory
 * (and into the cache, when there is one). */
static ykd_status run_forward(ykd_teacher *t, const ykd_batch *b, ykd_error *err)
{
    ykd_tensor images = ykd_tensor_images(&t->images, 0, (int)b->count);
    ykd_status st = ykd_tensor_write(&images, b->images, err);
    if (st == YKD_OK)
        st = ykd_model_forward(t->model, &images, YKD_MODEL_INFERENCE, err);
    for (size_t i = 0; i < t->stored_count && st == YKD_OK; i++) {
        ykd_tensor out;
        st = ykd_model_output(t->model, t->stored[i], &out, err);
        if (st == YKD_OK)
            st = ykd_tensor_read(&out, t->host[i], err);
    }
    if (st != YKD_OK)
        ykd_error_prefix(err, "teacher forward");
    else if (t->cache)
        st = ykd_teacher_cache_record(t->cache, b, (const float *const *)t->host, err);
    return st;
}

/* The batch's tensors in host memory: replayed from the cache, or from a forward. */
static ykd_status teacher_work(ykd_teacher *t, const ykd_batch *b, ykd_error *err)
{
    double start = ykd_now_ms();
    ykd_status st;
    if (t->cache && ykd_teacher_cache_holds(t->cache, b->epoch))
        st = ykd_teacher_cache_read(t->cache, b, t->host, err);
    else if (t->model)
        st = run_forward(t, b, err);
    else
        st = ykd_fail(err, YKD_ERR_NOT_FOUND,
                      "teacher: the cache holds no epoch %d, and there is no teacher to run",
                      b->epoch + 1);
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
        st = ykd_tensor_write(&t->views[i], t->host[t->source[i]], err);
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
