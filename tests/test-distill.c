/* Distillation runs: teacher and student on one device or on two (separate contexts, the
 * teacher's forward on its own thread) give bit-identical students; the KD losses change the
 * result; teachers that do not fit are refused with the reason; a teacher cache records
 * without changing the run, replays without the teacher, and refuses to serve another run. */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "core/half.h"
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

/* A distillation of the tiny student into w->dir/name, teacher on teacher_device, with the
 * options changed by edit when given. */
static bool distill_with(ykd_test *t, const tx_world *w, const char *teacher, const char *name,
                         ykd_device *teacher_device, const char *kd_config, char *out,
                         void (*edit)(ykd_distill_options *, const void *), const void *user)
{
    ykd_distill_options o;
    ykd_distill_options_default(&o);
    tx_options(w, name, out, &o.train);
    o.teacher = teacher;
    o.kd_config = kd_config;
    if (edit)
        edit(&o, user);
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

static bool distill(ykd_test *t, const tx_world *w, const char *teacher, const char *name,
                    ykd_device *teacher_device, const char *kd_config, char *out)
{
    return distill_with(t, w, teacher, name, teacher_device, kd_config, out, NULL, NULL);
}

static bool write_text(ykd_test *t, const char *path, const char *text)
{
    const void *parts[] = {text};
    size_t sizes[] = {strlen(text)};
    ykd_error err;
    return CHECK_OK(t, ykd_file_write_atomic(path, parts, sizes, 1, &err), err);
}

/* dir/kd.json (its path into config) with every loss on, so that each one's path is
 * exercised. */
static bool write_every_loss(ykd_test *t, const char *dir, char *config, size_t size)
{
    snprintf(config, size, "%s/kd.json", dir);
    return write_text(t, config, "{\"losses\": {\"logit\": {\"weight\": 0.5}, \"ld\": {}, "
                                 "\"cwd\": {}, \"pkd\": {}, \"imitation\": {\"weight\": 0.5}}}");
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
    char config[4200];
    ykd_error err;
    ok = ok && write_every_loss(t, w.dir, config, sizeof config);
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
    static const char json[] = "{\"losses\": {\"cwd\": {}}, "
                               "\"features\": [{\"student\": \"p9\", \"teacher\": \"p3\"}]}";
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


/* ---- the teacher cache --------------------------------------------------------------------- */

/* One batch through a teacher with a cache: its handed tensors read back into host memory. */
static bool cached_batch(ykd_test *t, ykd_teacher *runner, const ykd_batch *b,
                         const char *const *names, float **out, size_t *sizes, ykd_error *err)
{
    const ykd_kd_tensor *handed = NULL;
    bool ok = CHECK_OK(t, ykd_teacher_begin(runner, b, err), *err) &&
              CHECK_OK(t, ykd_teacher_finish(runner, b, &handed, err), *err);
    for (int i = 0; ok && i < 2; i++) {
        ok = CHECK(t, strcmp(handed[i].name, names[i]) == 0);
        sizes[i] = ykd_tensor_numel(handed[i].tensor);
        out[i] = malloc(sizes[i] * sizeof(float));
        ok = ok && CHECK(t, out[i] != NULL) &&
             CHECK_OK(t, ykd_tensor_read(handed[i].tensor, out[i], err), *err);
    }
    return ok;
}

/* The cache stores the teacher's tensors as the nearest halves and replays exactly those,
 * without the teacher; a batch of other images is refused. */
static void test_teacher_cache_replays_halves(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char teacher[4200], out[4096], dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", w.dir);
    ykd_train_options o;
    tx_options(&w, "unused", out, &o);
    o.epochs = 1;
    ykd_dataset *train = NULL;
    ykd_teacher *runner = NULL;
    ykd_teacher_cache *cache = NULL;
    ykd_error err;
    bool ok = make_teacher(t, &w, teacher, sizeof teacher) &&
              CHECK_OK(t, ykd_dataset_open(w.data, YKD_SPLIT_TRAIN, NULL, &train, &err), err) &&
              CHECK_OK(t, ykd_teacher_open(t->device, teacher, &runner, &err), err);
    ykd_teacher_cache_run run = {dir, teacher, runner ? ykd_teacher_get_facts(runner) : NULL,
                                 train, &o, 1};
    static const char *const names[] = {"cls3", "p4"};
    enum { BATCH = 2, SIZE = 64, IMAGE = 3 * SIZE * SIZE };
    static float pixels[BATCH * IMAGE];
    for (size_t i = 0; i < (size_t)BATCH * IMAGE; i++)
        pixels[i] = (float)((i * 53) % 97) / 96.0f;
    ykd_batch b = {.epoch = 0, .index = 0, .count = BATCH, .size = SIZE, .images = pixels};
    float *live[2] = {0}, *replayed[2] = {0};
    size_t sizes[2], replayed_sizes[2];
    ok = ok && CHECK_OK(t, ykd_teacher_cache_open(&run, &cache, &err), err);
    if (ok)
        ykd_teacher_use_cache(runner, cache);
    ok = ok && CHECK_OK(t, ykd_teacher_prepare(runner, names, 2, BATCH, SIZE, t->device, false,
                                               &err),
                        err) &&
         cached_batch(t, runner, &b, names, live, sizes, &err);
    ykd_teacher_close(runner);
    runner = NULL, cache = NULL;
    run.teacher_path = NULL, run.teacher = NULL;
    ok = ok && CHECK_OK(t, ykd_teacher_cache_open(&run, &cache, &err), err) &&
         CHECK(t, ykd_teacher_cache_holds(cache, 0)) &&
         CHECK_OK(t, ykd_teacher_from_cache(cache, &runner, &err), err) &&
         CHECK_OK(t, ykd_teacher_prepare(runner, names, 2, BATCH, SIZE, t->device, true, &err),
                  err) &&
         cached_batch(t, runner, &b, names, replayed, replayed_sizes, &err);
    for (int i = 0; ok && i < 2; i++) {
        size_t wrong = 0, nonzero = 0;
        for (size_t k = 0; k < sizes[i]; k++) {
            wrong += replayed[i][k] != ykd_f16_to_f32(ykd_f32_to_f16(live[i][k]));
            nonzero += live[i][k] != 0.0f;
        }
        CHECKF(t, replayed_sizes[i] == sizes[i] && wrong == 0 && nonzero > sizes[i] / 2,
               "%s: %zu of %zu replayed values are not the live ones as halves (%zu nonzero)",
               names[i], wrong, sizes[i], nonzero);
    }
    pixels[5] += 0.5f; /* the same batch with another image: refused */
    const ykd_kd_tensor *handed = NULL;
    if (ok && CHECK_OK(t, ykd_teacher_begin(runner, &b, &err), err)) {
        CHECK_STATUS(t, ykd_teacher_finish(runner, &b, &handed, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "differs from the images the teacher saw");
    }
    for (int i = 0; i < 2; i++)
        free(live[i]), free(replayed[i]);
    ykd_teacher_close(runner);
    ykd_dataset_close(train);
    tx_world_free(&w);
}

static void use_cache(ykd_distill_options *o, const void *dir)
{
    o->teacher_cache = dir;
}

/* A run with the cache that must be refused at open (or, with at_run, during the run), the
 * message holding needle; edit changes its options before. */
static void expect_cache_refusal(ykd_test *t, const tx_world *w, const char *teacher,
                                 const char *cache, void (*edit)(ykd_distill_options *),
                                 bool at_run, const char *needle)
{
    char out[4096];
    ykd_distill_options o;
    ykd_distill_options_default(&o);
    tx_options(w, "refused", out, &o.train);
    o.train.exist_ok = true;
    o.teacher = teacher;
    o.teacher_cache = cache;
    if (edit)
        edit(&o);
    ykd_distiller *d = NULL;
    ykd_error err = {0};
    ykd_status st = ykd_distiller_open(t->device, t->device, &o, &d, &err);
    if (at_run && CHECK_OK(t, st, err))
        st = ykd_distiller_run(d, NULL, NULL, &err);
    CHECKF(t, st != YKD_OK, "a run the cache does not fit was not refused (%s)", needle);
    CHECK_CONTAINS(t, err.message, needle);
    ykd_distiller_close(d);
}

static void other_seed(ykd_distill_options *o)
{
    o->train.seed = 8;
}

static void other_imgsz(ykd_distill_options *o)
{
    o->train.imgsz = 96;
}

static void more_epochs_no_teacher(ykd_distill_options *o)
{
    o->train.epochs = 3;
    o->teacher = NULL;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static bool same_run(ykd_test *t, const char *a, const char *b)
{
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/last.safetensors", a);
    snprintf(pb, sizeof pb, "%s/last.safetensors", b);
    return tx_same_files(t, pa, pb);
}

static void test_teacher_cache(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char teacher[4200], cache[4200], live[4096], record[4096], replay[4096], again[4096],
        logit[4096];
    snprintf(cache, sizeof cache, "%s/cache", w.dir);
    bool ok = tx_fix_gemm(t, t->device) && make_teacher(t, &w, teacher, sizeof teacher);
    /* recording changes nothing: the student equals one distilled without a cache */
    ok = ok && distill(t, &w, teacher, "live", t->device, NULL, live) &&
         distill_with(t, &w, teacher, "record", t->device, NULL, record, use_cache, cache);
    ykd_trainer *resumed = NULL;
    ykd_error rerr = {0};
    if (ok) { /* a distillation resumes with distill --resume: train --resume refuses it */
        CHECK_STATUS(t, ykd_trainer_resume(t->device, live, 1, &resumed, &rerr),
                     YKD_ERR_UNSUPPORTED, rerr);
        CHECK_CONTAINS(t, rerr.message, "loss terms 'distillation'");
        ykd_trainer_close(resumed);
    }
    ok = ok && CHECKF(t, same_run(t, live, record), "recording the cache changed the student") &&
         CHECK(t, file_exists(cache, "cache.json") && file_exists(cache, "epoch-0000.bin") &&
                      file_exists(cache, "epoch-0001.bin"));
    /* replays without the teacher and with it read the same tensors; another KD config (logit
     * KD: the class scores) is served from the same cache */
    ok = ok && distill_with(t, &w, NULL, "replay", t->device, NULL, replay, use_cache, cache) &&
         distill_with(t, &w, teacher, "again", t->device, NULL, again, use_cache, cache);
    ok = ok && CHECKF(t, same_run(t, replay, again), "two replays of one cache differ");
    char config[4200];
    snprintf(config, sizeof config, "%s/logit.json", w.dir);
    static const char json[] = "{\"losses\": {\"logit\": {}}}";
    const void *parts[] = {json};
    size_t sizes[] = {sizeof json - 1};
    ykd_error err;
    ok = ok && CHECK_OK(t, ykd_file_write_atomic(config, parts, sizes, 1, &err), err) &&
         distill_with(t, &w, NULL, "logit", t->device, config, logit, use_cache, cache);
    if (ok) {
        /* runs the cache was not made for */
        expect_cache_refusal(t, &w, teacher, cache, other_seed, false, "seed 7, not 8");
        expect_cache_refusal(t, &w, teacher, cache, other_imgsz, false, "imgsz 64, not 96");
        expect_cache_refusal(t, &w, teacher, cache, more_epochs_no_teacher, false,
                             "epochs 2, not 3");
        char empty[4200];
        snprintf(empty, sizeof empty, "%s/empty", w.dir);
        expect_cache_refusal(t, &w, NULL, empty, NULL, false, "give --teacher to make one");
        /* another teacher: the same model retrained one epoch more */
        char other[4200], from[4200];
        snprintf(from, sizeof from, "%s/live/last.safetensors", w.dir);
        snprintf(other, sizeof other, "%s/other.safetensors", w.dir);
        if (tx_copy_file(t, from, other))
            expect_cache_refusal(t, &w, other, cache, NULL, false, "was made for teacher");
        /* an image whose pixels changed (names and labels kept): caught batch by batch */
        char image0[4200], image1[4200];
        snprintf(image0, sizeof image0, "%s/images/train/000000.png", w.data);
        snprintf(image1, sizeof image1, "%s/images/train/000001.png", w.data);
        if (tx_copy_file(t, image1, image0))
            expect_cache_refusal(t, &w, NULL, cache, NULL, true,
                                 "differs from the images the teacher saw");
        /* a changed label: another training set */
        char label[4200];
        snprintf(label, sizeof label, "%s/labels/train/000002.txt", w.data);
        static const char box[] = "1 0.5 0.5 0.25 0.25\n";
        const void *lparts[] = {box};
        size_t lsizes[] = {sizeof box - 1};
        if (CHECK_OK(t, ykd_file_write_atomic(label, lparts, lsizes, 1, &err), err))
            expect_cache_refusal(t, &w, teacher, cache, NULL, false,
                                 "was made for another training set");
    }
    tx_unfix_gemm(t->device);
    tx_world_free(&w);
}

/* ---- resume ------------------------------------------------------------------------------ */

/* Trains the tiny model at twice its widths 1 epoch into w->dir/wide: a teacher whose neck
 * outputs have more channels than the student's, so the feature losses need adapters. */
static bool make_wide_teacher(ykd_test *t, const tx_world *w, char *path, size_t size)
{
    char model[4200], out[4096];
    snprintf(model, sizeof model, "%s/wide.json", w->dir);
    char *json = strdup(tx_tiny_model_json);
    char *at = json ? strstr(json, "0.0625") : NULL;
    bool ok = CHECK(t, at != NULL);
    if (ok) {
        memcpy(at, "0.125 ", 6);
        const void *parts[] = {json};
        size_t sizes[] = {strlen(json)};
        ykd_error err;
        ok = CHECK_OK(t, ykd_file_write_atomic(model, parts, sizes, 1, &err), err);
    }
    free(json);
    ykd_train_options o;
    tx_options(w, "wide", out, &o);
    o.model = model, o.epochs = 1;
    ykd_trainer *tr = NULL;
    ykd_error err;
    ok = ok && CHECK_OK(t, ykd_trainer_open(t->device, &o, &tr, &err), err) &&
         CHECK_OK(t, ykd_trainer_run(tr, NULL, NULL, &err), err);
    ykd_trainer_close(tr);
    snprintf(path, size, "%s/last.safetensors", out);
    return ok;
}

/* A file's text (NUL-terminated) into *text; false (a failed check) when unreadable. */
static bool read_text(ykd_test *t, const char *dir, const char *name, char **text)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *data = NULL;
    size_t size = 0;
    *text = NULL;
    if (!tx_read_file(t, path, &data, &size))
        return false;
    *text = realloc(data, size + 1);
    if (!*text) {
        free(data);
        return false;
    }
    (*text)[size] = '\0';
    return true;
}

/* A distillation run records itself: each KD loss in metrics.csv and metrics.jsonl, a third
 * row of panels in curves.png, and in args.json the teacher (path, SHA-256), the KD config as
 * used, and the devices. */
static void check_run_records_kd(ykd_test *t, const char *run, const char *teacher)
{
    char *text = NULL;
    if (read_text(t, run, "metrics.csv", &text))
        CHECK_CONTAINS(t, text, ",seconds,train/kd_logit_loss,train/kd_ld_loss,train/kd_cwd_loss\n");
    free(text);
    if (read_text(t, run, "metrics.jsonl", &text))
        CHECK_CONTAINS(t, text, "\"train/kd_cwd_loss\":");
    free(text);
    if (read_text(t, run, "curves.png", &text)) /* IHDR: width, height big-endian at 16 */
        CHECK(t, (unsigned char)text[22] == (750 >> 8) && (unsigned char)text[23] == (750 & 255));
    free(text);
    char sha[65];
    ykd_error err;
    cJSON *args = NULL;
    if (read_text(t, run, "args.json", &text) &&
        CHECK_OK(t, ykd_sha256_file(teacher, sha, &err), err) &&
        CHECK(t, (args = cJSON_Parse(text)) != NULL)) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(args, "distill");
        const cJSON *kd = cJSON_GetObjectItemCaseSensitive(d, "kd");
        CHECK(t, strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "teacher")),
                        teacher) == 0);
        CHECK(t, strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "teacher_sha256")),
                        sha) == 0);
        char *kd_text = cJSON_PrintUnformatted(kd);
        ykd_kd_config c;
        if (CHECK(t, kd_text != NULL) &&
            CHECK_OK(t, ykd_kd_config_parse(kd_text, strlen(kd_text), "args.json", &c, &err),
                     err))
            CHECK(t, c.loss[YKD_KD_CWD].enabled && c.loss[YKD_KD_CWD].weight == 2.0f &&
                         c.loss[YKD_KD_LD].temperature == 10.0f && c.pair_count == 2 &&
                         !c.loss[YKD_KD_PKD].enabled);
        free(kd_text);
        CHECK(t, cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(args, "seed")));
        CHECK(t, cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(args, "device")) &&
                     cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(args, "teacher_device")));
    }
    cJSON_Delete(args);
    free(text);
}

/* Stops a run after batch 1 of epoch 1 (0-based): what a kill there leaves. */
static bool stop_in_second_epoch(const ykd_train_event *e, void *user)
{
    (void)user;
    return !(e->kind == YKD_TRAIN_BATCH && e->epoch == 1 && e->batch == 1);
}

static bool resume_distill(ykd_test *t, const char *run, const char *teacher)
{
    ykd_distiller *d = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_distiller_resume(t->device, t->device, run, teacher, -1, &d, &err),
                       err) &&
              CHECK(t, ykd_trainer_epoch(ykd_distiller_trainer(d)) == 1) &&
              CHECK_OK(t, ykd_distiller_run(d, NULL, NULL, &err), err);
    ykd_distiller_close(d);
    return ok;
}

static void use_cache_stopped(ykd_distill_options *o, const void *dir)
{
    o->teacher_cache = dir;
}

/* A distillation with adapters (CWD on the neck pairs, the teacher twice as wide), stopped in
 * its second epoch and resumed, ends as the uninterrupted one, bit for bit: weights, and the
 * whole state (the adapters, their gradients and optimizer state included). The stopped run
 * records a teacher cache, whose second epoch the resumed run then records. A changed teacher,
 * train --resume of a distillation and distill --resume of a training run are refused. */
static void test_resume(ykd_test *t)
{
    tx_world w;
    if (!tx_fix_gemm(t, t->device) || !tx_world_make(t, &w))
        return;
    char teacher[4200], config[4200], whole[4096], stopped[4096], cache[4200], a[4200], b[4200];
    snprintf(config, sizeof config, "%s/kd.json", w.dir);
    snprintf(cache, sizeof cache, "%s/cache", w.dir);
    static const char json[] =
        "{\"losses\": {\"logit\": {}, \"ld\": {}, \"cwd\": {\"weight\": 2}}}";
    const void *parts[] = {json};
    size_t sizes[] = {sizeof json - 1};
    ykd_error err;
    bool ok = make_wide_teacher(t, &w, teacher, sizeof teacher) &&
              CHECK_OK(t, ykd_file_write_atomic(config, parts, sizes, 1, &err), err) &&
              distill(t, &w, teacher, "whole", t->device, config, whole);
    if (ok)
        check_run_records_kd(t, whole, teacher);
    ykd_distill_options o;
    ykd_distill_options_default(&o);
    tx_options(&w, "stopped", stopped, &o.train);
    o.teacher = teacher, o.kd_config = config;
    use_cache_stopped(&o, cache);
    ykd_distiller *d = NULL;
    ok = ok && CHECK_OK(t, ykd_distiller_open(t->device, t->device, &o, &d, &err), err) &&
         CHECK_OK(t, ykd_distiller_run(d, stop_in_second_epoch, NULL, &err), err) &&
         CHECK(t, ykd_trainer_epoch(ykd_distiller_trainer(d)) == 1);
    ykd_distiller_close(d);
    /* the adapters are in the state: 2 pairs x (weight, bias) x (value, grad, 2 moments) */
    ok = ok && CHECK(t, tx_state_progress(t, stopped, "epoch") == 1);
    snprintf(a, sizeof a, "%s/last.state.safetensors", stopped);
    unsigned char *state = NULL;
    size_t size = 0;
    if (ok && tx_read_file(t, a, &state, &size)) {
        static const char *const names[] = {"kd.adapter.p3.weight\"", "kd.adapter.p4.bias.grad",
                                            "kd.adapter.p3.weight.exp_avg_sq", "\"distill\""};
        for (int i = 0; i < 4; i++)
            CHECKF(t, memmem(state, size, names[i], strlen(names[i])) != NULL,
                   "no %s in the state", names[i]);
    }
    free(state);
    ykd_trainer *tr = NULL;
    if (ok) {
        CHECK_STATUS(t, ykd_trainer_resume(t->device, stopped, -1, &tr, &err),
                     YKD_ERR_UNSUPPORTED, err);
        CHECK_CONTAINS(t, err.message, "yolokd distill --resume");
        ykd_trainer_close(tr);
        snprintf(a, sizeof a, "%s/wide/last.state.safetensors", w.dir);
        CHECK_STATUS(t, ykd_distiller_resume(t->device, t->device, w.dir, NULL, -1, &d, &err),
                     YKD_ERR_NOT_FOUND, err);
        ykd_distiller_close(d);
        char wide_run[4200];
        snprintf(wide_run, sizeof wide_run, "%s/wide", w.dir);
        CHECK_STATUS(t, ykd_distiller_resume(t->device, t->device, wide_run, NULL, -1, &d, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "a training run, not a distillation");
        ykd_distiller_close(d);
        /* another teacher file given: refused */
        snprintf(a, sizeof a, "%s/whole/last.safetensors", w.dir);
        CHECK_STATUS(t, ykd_distiller_resume(t->device, t->device, stopped, a, -1, &d, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "a resumed distillation needs the same teacher");
        ykd_distiller_close(d);
    }
    /* what kills leave: our temporary files (removed on resume), a file that is not ours (kept),
     * a recording of a dead process in the cache (removed) */
    static const char *const leftovers[][2] = {{"", "last.safetensors.tmp-Ab12Cd"},
                                               {"", "metrics.csv.tmp-000000"},
                                               {"", "notes.txt.tmp-Ab12Cd"},
                                               {"cache", "epoch-0001.bin.tmp-999999999"}};
    for (int i = 0; ok && i < 4; i++) {
        char leftover[8400];
        snprintf(leftover, sizeof leftover, "%s/%s", leftovers[i][0][0] ? cache : stopped,
                 leftovers[i][1]);
        ok = write_text(t, leftover, "x");
    }
    if (ok && resume_distill(t, stopped, NULL)) {
        CHECK(t, !file_exists(stopped, leftovers[0][1]) && !file_exists(stopped, leftovers[1][1]));
        CHECK(t, file_exists(stopped, leftovers[2][1]));
        CHECK(t, !file_exists(cache, leftovers[3][1]));
        static const char *const files[] = {"last.safetensors", "best.safetensors"};
        for (int i = 0; i < 2; i++) {
            snprintf(a, sizeof a, "%s/%s", whole, files[i]);
            snprintf(b, sizeof b, "%s/%s", stopped, files[i]);
            CHECKF(t, tx_same_files(t, a, b), "the resumed distillation's %s differs", files[i]);
        }
        char da[65] = "a", db[65] = "b";
        CHECKF(t, tx_state_digest(t, whole, da) && tx_state_digest(t, stopped, db) &&
                      strcmp(da, db) == 0,
               "the resumed distillation's state (adapters included) differs");
        CHECK(t, file_exists(cache, "epoch-0000.bin") && file_exists(cache, "epoch-0001.bin"));
        /* the command: the run is complete now */
        char spec[16];
        snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
        run_result r = run_cli("distill", "--resume", stopped, "--student-device", spec,
                               "--teacher-device", spec, NULL);
        CHECKF(t, r.code == 1, "distill --resume of a finished run: exit %d", r.code);
        CHECK_CONTAINS(t, r.err, "finished all its 2 epochs");
        free_result(&r);
    }
    tx_unfix_gemm(t->device);
    tx_world_free(&w);
}

/* `yolokd train --model yolo11n` for one epoch (two steps), then distillation across the
 * families by the CLI with every KD loss where the channels differ, so that the feature losses
 * go through adapters: a YOLO11s teacher for YOLOv8n and YOLO11n students, a YOLOv8s teacher
 * for a YOLO11n student (the teachers freshly initialised and saved: what is tested is the
 * distillation, and training them would only cost time). Each student's weights load as its
 * model and its state holds adapters from its channels to the teacher's. */
static bool cli_train(ykd_test *t, const tx_world *w, const char *model, const char *name,
                      const char *run, const char *device)
{
    run_result r = run_cli("train", "--model", model, "--data", w->data, "--out", run,
                           "--epochs", "1", "--batch", "4", "--imgsz", "64", "--workers", "1",
                           "--device", device, NULL);
    bool ok = CHECKF(t, r.code == 0, "train --model %s exit %d: %s", model, r.code, r.err);
    char line[128];
    snprintf(line, sizeof line, "training %s: 8 training and 4 validation images", name);
    CHECK_CONTAINS(t, r.out, line);
    CHECK_CONTAINS(t, r.out, "1 epochs done");
    free_result(&r);
    return ok;
}

static void expect_model(ykd_test *t, const char *run, const char *name)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/last.safetensors", run);
    ykd_model_desc *d = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_model_desc_load(path, NULL, &d, &err), err))
        CHECKF(t, strcmp(ykd_model_desc_name(d), name) == 0, "%s holds %s, not %s", path,
               ykd_model_desc_name(d), name);
    ykd_model_desc_free(d);
}

/* A freshly initialised built-in model of the dataset's 2 classes, saved to path. */
static bool save_builtin(ykd_test *t, const char *name, const char *path)
{
    ykd_model_desc *desc = NULL;
    ykd_model *m = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_model_desc_builtin(name, 2, &desc, &err), err) &&
              CHECK_OK(t, ykd_model_create(t->device, desc, 3, &m, &err), err) &&
              CHECK_OK(t, ykd_model_save(m, path, &err), err);
    ykd_model_free(m);
    ykd_model_desc_free(desc);
    return ok;
}

/* The run's state holds an adapter per level from the student's channels to the teacher's. */
static void expect_adapters(ykd_test *t, const char *run, const int *student_c,
                            const int *teacher_c)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/last.state.safetensors", run);
    unsigned char *state = NULL;
    size_t size = 0;
    if (!tx_read_file(t, path, &state, &size))
        return;
    uint64_t header = 0;
    for (int i = 7; size >= 8 && i >= 0; i--)
        header = header << 8 | state[i];
    cJSON *json = CHECK(t, size >= 8 && header <= size - 8)
                      ? cJSON_ParseWithLength((const char *)state + 8, (size_t)header)
                      : NULL;
    for (int l = 0; json && l < 3; l++) {
        static const char *const parts[2] = {"weight", "bias"};
        for (int p = 0; p < 2; p++) {
            char name[64];
            snprintf(name, sizeof name, "kd.adapter.p%d.%s", l + 3, parts[p]);
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(json, name), "shape");
            double numel = 1;
            for (const cJSON *d = shape ? shape->child : NULL; d; d = d->next)
                numel *= cJSON_GetNumberValue(d);
            double want = (double)teacher_c[l] * (p == 0 ? student_c[l] : 1);
            CHECKF(t, shape && numel == want, "%s: %s holds %g values, not %g", run, name,
                   shape ? numel : 0.0, want);
        }
    }
    CHECK(t, json != NULL);
    cJSON_Delete(json);
    free(state);
}

static void test_across_families(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char device[16], config[4200], trained[4200], yolo11s[4200], yolov8s[4200];
    snprintf(device, sizeof device, "%d", ykd_device_get_info(t->device)->index);
    snprintf(trained, sizeof trained, "%s/yolo11n", w.dir);
    snprintf(yolo11s, sizeof yolo11s, "%s/yolo11s.safetensors", w.dir);
    snprintf(yolov8s, sizeof yolov8s, "%s/yolov8s.safetensors", w.dir);
    bool ok = write_every_loss(t, w.dir, config, sizeof config) &&
              cli_train(t, &w, "yolo11n", "yolo11n", trained, device) &&
              save_builtin(t, "yolo11s", yolo11s) && save_builtin(t, "yolov8s", yolov8s);
    if (ok)
        expect_model(t, trained, "yolo11n");
    /* the n scales' levels have 64, 128 and 256 channels, the s scales' twice as many */
    static const int n_channels[3] = {64, 128, 256}, s_channels[3] = {128, 256, 512};
    const struct {
        const char *teacher, *student, *name;
    } pairs[] = {{yolo11s, "n", "yolov8n"},
                 {yolo11s, "yolo11n", "yolo11n"},
                 {yolov8s, "yolo11n", "yolo11n"}};
    for (size_t i = 0; ok && i < sizeof pairs / sizeof pairs[0]; i++) {
        char run[4300];
        snprintf(run, sizeof run, "%s/kd-%zu", w.dir, i);
        run_result r = run_cli("--device", device, "distill", "--teacher", pairs[i].teacher,
                               "--student", pairs[i].student, "--data", w.data, "--out", run,
                               "--kd", config, "--epochs", "1", "--batch", "4", "--imgsz", "64",
                               "--workers", "1", NULL);
        CHECKF(t, r.code == 0, "distill %s -> %s exit %d: %s", pairs[i].teacher,
               pairs[i].student, r.code, r.err);
        CHECK_CONTAINS(t, r.out, "1 epochs done");
        static const char *const losses[] = {"kd_logit ", "kd_ld ", "kd_cwd ", "kd_pkd ",
                                             "kd_imitation "};
        for (int k = 0; k < 5; k++)
            CHECK_CONTAINS(t, r.out, losses[k]);
        free_result(&r);
        expect_model(t, run, pairs[i].name);
        expect_adapters(t, run, n_channels, s_channels);
    }
    tx_world_free(&w);
}

static const ykd_test_case cases[] = {
    /* the CLI's plumbing across the model families (6 s on PoCL, 96 s on rusticl's llvmpipe,
     * whose launches cost milliseconds): the KD losses are checked on every device in
     * test-ops and test-kd, a distillation step by the next cases */
    {"distill: YOLO11 and YOLOv8 teach each other through the CLI, with every KD loss",
     test_across_families, YKD_TEST_FIRST_DEVICE},
    {"distill: the teacher hands over exactly its tensors", test_teacher_hands_over_its_tensors,
     YKD_TEST_EACH_DEVICE},
    {"distill: a teacher on one device or on two gives the same student",
     test_one_device_or_two, YKD_TEST_EACH_DEVICE},
    {"distill: teachers that do not fit are refused", test_unfit_teachers_are_refused,
     YKD_TEST_EACH_DEVICE},
    {"distill: a teacher cache replays the teacher's tensors as halves",
     test_teacher_cache_replays_halves, YKD_TEST_EACH_DEVICE},
    /* its subject is the cache's files and their checks (nine distillations, 1 s on PoCL, 135 s
     * on rusticl's llvmpipe); the replay's tensors are checked on every device above */
    {"distill: a teacher cache records, replays without the teacher, refuses other runs",
     test_teacher_cache, YKD_TEST_FIRST_DEVICE},
    /* the distillation's state files (75 s on llvmpipe); resuming bit for bit on each device is
     * test-train-run's */
    {"distill: stopped and resumed = uninterrupted, bit for bit (adapters included)",
     test_resume, YKD_TEST_FIRST_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
