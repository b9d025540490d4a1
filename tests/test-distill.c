/* Distillation runs: teacher and student on one device or on two (separate contexts, the
 * teacher's forward on its own thread) give bit-identical students; the KD losses change the
 * result; teachers that do not fit are refused with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "harness.h"
#include "train/teacher.h"
#include "train_fixtures.h"
#include "yolokd/distill.h"

/* Trains the tiny model 1 epoch into w->dir/teacher: the teacher every test distills from. */
static bool make_teacher(ykd_test *t, const tx_world *w, char *path, size_t size)
{
    char out[4096];
    ykd_train_options o;
    tx_options(w, "teacher", out, &o);
    o.epochs = 1;
    ykd_trainer *tr = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_trainer_open(t->device, &o, &tr, &err), err) &&
              CHECK_OK(t, ykd_trainer_run(tr, NULL, NULL, &err), err);
    ykd_trainer_close(tr);
    snprintf(path, size, "%s/last.safetensors", out);
    return ok;
}

/* A distillation of the tiny student into w->dir/name, teacher on teacher_device. */
static bool distill(ykd_test *t, const tx_world *w, const char *teacher, const char *name,
                    ykd_device *teacher_device, const char *kd_config, char *out)
{
    ykd_distill_options o;
    ykd_distill_options_default(&o);
    tx_options(w, name, out, &o.train);
    o.teacher = teacher;
    o.kd_config = kd_config;
    ykd_distiller *d = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_distiller_open(t->device, teacher_device, &o, &d, &err), err) &&
              CHECK_OK(t, ykd_distiller_run(d, NULL, NULL, &err), err);
    if (ok) {
        const ykd_kd_values *v = ykd_distiller_last_values(d);
        CHECKF(t, v->total > 0.0, "the KD losses are %g", v->total);
    }
    ykd_distiller_close(d);
    return ok;
}

static void test_one_device_or_two(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char teacher[4200], one[4096], two[4096], plain[4096], a[4200], b[4200], c[4200];
    ykd_device *other = ykd_test_reopen(t, NULL);
    /* the GEMMs fixed on both devices, so tuning cannot differ between the runs */
    bool ok = other && tx_fix_gemm(t, t->device) && tx_fix_gemm(t, other) &&
              make_teacher(t, &w, teacher, sizeof teacher);
    /* every loss, so each one's path is exercised */
    char config[4200];
    snprintf(config, sizeof config, "%s/kd.json", w.dir);
    static const char json[] =
        "{\"losses\": {\"logit\": {\"weight\": 0.5}, \"ld\": {}, \"cwd\": {}, \"pkd\": {},"
        " \"imitation\": {\"weight\": 0.5}}}";
    const void *parts[] = {json};
    size_t sizes[] = {sizeof json - 1};
    ykd_error err;
    ok = ok && CHECK_OK(t, ykd_file_write_atomic(config, parts, sizes, 1, &err), err);
    ok = ok && distill(t, &w, teacher, "one", t->device, config, one) &&
         distill(t, &w, teacher, "two", other, config, two);
    if (ok) {
        snprintf(a, sizeof a, "%s/last.safetensors", one);
        snprintf(b, sizeof b, "%s/last.safetensors", two);
        CHECKF(t, tx_same_files(t, a, b),
               "a teacher on a second device gave another student than on the student's");
    }
    /* the same run without KD ends elsewhere: the losses did something */
    ykd_train_options o;
    tx_options(&w, "plain", plain, &o);
    ykd_trainer *tr = NULL;
    if (ok && CHECK_OK(t, ykd_trainer_open(t->device, &o, &tr, &err), err) &&
        CHECK_OK(t, ykd_trainer_run(tr, NULL, NULL, &err), err)) {
        snprintf(c, sizeof c, "%s/last.safetensors", plain);
        CHECK(t, !tx_same_files(t, a, c));
    }
    ykd_trainer_close(tr);
    tx_unfix_gemm(t->device);
    ykd_device_close(other);
    tx_world_free(&w);
}

static void expect_refusal(ykd_test *t, const tx_world *w, const char *teacher,
                           const char *kd_config, ykd_status status, const char *needle)
{
    char out[4096];
    ykd_distill_options o;
    ykd_distill_options_default(&o);
    tx_options(w, "refused", out, &o.train);
    o.teacher = teacher;
    o.kd_config = kd_config;
    ykd_distiller *d = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_distiller_open(t->device, t->device, &o, &d, &err), status, err);
    CHECK(t, d == NULL);
    CHECK_CONTAINS(t, err.message, needle);
}

static void test_unfit_teachers_are_refused(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char path[4200];
    ykd_error err;
    /* a teacher of 3 classes for a 2-class dataset */
    ykd_model_desc_options options = {NULL, 3};
    ykd_model_desc *desc = NULL;
    ykd_model *model = NULL;
    snprintf(path, sizeof path, "%s/three.safetensors", w.dir);
    if (CHECK_OK(t, ykd_model_desc_parse(tx_tiny_model_json, strlen(tx_tiny_model_json),
                                         "tiny.json", &options, &desc, &err),
                 err) &&
        CHECK_OK(t, ykd_model_create(t->device, desc, 1, &model, &err), err) &&
        CHECK_OK(t, ykd_model_save(model, path, &err), err))
        expect_refusal(t, &w, path, NULL, YKD_ERR_INVALID_ARGUMENT, "has 3 classes but the "
                                                                     "student (its dataset) has 2");
    ykd_model_free(model);
    ykd_model_desc_free(desc);
    /* not a model file at all */
    snprintf(path, sizeof path, "%s/garbage.safetensors", w.dir);
    const void *parts[] = {"not a safetensors file"};
    size_t sizes[] = {22};
    if (CHECK_OK(t, ykd_file_write_atomic(path, parts, sizes, 1, &err), err))
        expect_refusal(t, &w, path, NULL, YKD_ERR_FORMAT, path);
    /* a teacher that is missing */
    snprintf(path, sizeof path, "%s/absent.safetensors", w.dir);
    expect_refusal(t, &w, path, NULL, YKD_ERR_NOT_FOUND, "absent.safetensors");
    /* a KD config naming a tensor the models lack */
    char teacher[4200], config[4200];
    static const char json[] = "{\"features\": [{\"student\": \"p9\", \"teacher\": \"p3\"}]}";
    const void *cparts[] = {json};
    size_t csizes[] = {sizeof json - 1};
    snprintf(config, sizeof config, "%s/bad.json", w.dir);
    if (make_teacher(t, &w, teacher, sizeof teacher) &&
        CHECK_OK(t, ykd_file_write_atomic(config, cparts, csizes, 1, &err), err))
        expect_refusal(t, &w, teacher, config, YKD_ERR_NOT_FOUND, "no tensor named 'p9'");
    tx_world_free(&w);
}

/* The teacher runner hands over exactly what the teacher computes: its tensors on the
 * student's device equal those of the same model run there directly, for a full batch and a
 * short one, with and without its thread. */
static void test_teacher_hands_over_its_tensors(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char teacher[4200];
    ykd_device *other = ykd_test_reopen(t, NULL);
    ykd_model *direct = NULL;
    ykd_error err;
    bool ok = other && tx_fix_gemm(t, t->device) && tx_fix_gemm(t, other) &&
              make_teacher(t, &w, teacher, sizeof teacher) &&
              CHECK_OK(t, ykd_model_load(t->device, teacher, &direct, &err), err);
    static const char *const names[] = {"p3", "cls4", "box3"};
    enum { BATCH = 3, SIZE = 64, IMAGE = 3 * SIZE * SIZE };
    float *pixels = malloc(sizeof(float) * BATCH * IMAGE);
    for (size_t i = 0; pixels && i < (size_t)BATCH * IMAGE; i++)
        pixels[i] = (float)((i * 37) % 101) / 100.0f;
    for (int round = 0; ok && round < 2; round++) {
        bool background = round == 1;
        ykd_teacher *runner = NULL;
        ok = CHECK_OK(t, ykd_teacher_open(other, teacher, &runner, &err), err) &&
             CHECK_OK(t, ykd_teacher_prepare(runner, names, 3, BATCH, SIZE, t->device,
                                             background, &err),
                      err);
        for (int count = BATCH; ok && count >= BATCH - 1; count--) {
            ykd_batch b = {.count = (size_t)count, .size = SIZE, .images = pixels};
            const ykd_kd_tensor *handed = NULL;
            ykd_tensor images;
            ok = CHECK_OK(t, ykd_teacher_begin(runner, &b, &err), err) &&
                 CHECK_OK(t, ykd_teacher_finish(runner, &b, &handed, &err), err) &&
                 CHECK_OK(t, ykd_tensor_alloc(t->device, count, 3, SIZE, SIZE, &images, &err),
                          err) &&
                 CHECK_OK(t, ykd_tensor_write(&images, pixels, &err), err) &&
                 CHECK_OK(t, ykd_model_forward(direct, &images, YKD_MODEL_INFERENCE, &err), err);
            for (int i = 0; ok && i < 3; i++) {
                ykd_tensor want;
                ok = CHECK_OK(t, ykd_model_output(direct, names[i], &want, &err), err) &&
                     CHECK(t, strcmp(handed[i].name, names[i]) == 0 &&
                                  ykd_tensor_same_shape(handed[i].tensor, &want));
                size_t n = ok ? ykd_tensor_numel(&want) : 0;
                float *a = malloc((n ? n : 1) * sizeof *a), *c = malloc((n ? n : 1) * sizeof *c);
                ok = ok && CHECK_OK(t, ykd_tensor_read(handed[i].tensor, a, &err), err) &&
                     CHECK_OK(t, ykd_tensor_read(&want, c, &err), err) &&
                     CHECKF(t, memcmp(a, c, n * sizeof *a) == 0,
                            "%s of %d images (thread %d) differs from the direct forward",
                            names[i], count, background);
                free(a);
                free(c);
            }
            ykd_tensor_free(&images);
        }
        ykd_teacher_close(runner);
    }
    free(pixels);
    ykd_model_free(direct);
    tx_unfix_gemm(t->device);
    ykd_device_close(other);
    tx_world_free(&w);
}

static const ykd_test_case cases[] = {
    {"distill: the teacher hands over exactly its tensors", test_teacher_hands_over_its_tensors,
     YKD_TEST_EACH_DEVICE},
    {"distill: a teacher on one device or on two gives the same student",
     test_one_device_or_two, YKD_TEST_EACH_DEVICE},
    {"distill: teachers that do not fit are refused", test_unfit_teachers_are_refused,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
