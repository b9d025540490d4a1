/* The distiller: a trainer for the student with the distillation loss term (kd_term.c)
 * against the teacher's tensors (distill.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error_internal.h"
#include "core/sha256.h"
#include "train/kd_term.h"
#include "train/train_internal.h"
#include "yolokd/distill.h"

/* The state's metadata key of what a distillation adds to a training run's state. */
static const char STATE_KEY[] = "distill";

struct ykd_distiller {
    ykd_distill_options o; /* on resume its strings point at the copies below */
    char *teacher_copy, *cache_copy;
    char teacher_sha[2 * YKD_SHA256_SIZE + 1];
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
    ykd_status st = YKD_OK;
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
    /* with several ranks each records and replays its own part of every batch, in a folder
     * of its own: a cache made on K ranks serves runs on K ranks */
    char dir[4096];
    ykd_train_options rank_options = *to; /* its records hold a rank's part of a batch */
    rank_options.batch = (to->batch + to->ranks - 1) / to->ranks;
    if (to->ranks > 1)
        snprintf(dir, sizeof dir, "%s/rank-%d-of-%d", d->o.teacher_cache, ykd_comm_rank(),
                 to->ranks);
    else
        snprintf(dir, sizeof dir, "%s", d->o.teacher_cache);
    ykd_teacher_cache_run run = {
        .dir = dir,
        .teacher_path = d->o.teacher,
        .teacher = d->teacher ? ykd_teacher_get_facts(d->teacher) : NULL,
        .train = ykd_trainer_train_set(d->trainer),
        .options = &rank_options,
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
    if (st == YKD_OK && d->o.teacher)
        st = ykd_sha256_file(d->o.teacher, d->teacher_sha, err);
    if (st != YKD_OK || !d->o.teacher_cache)
        return st;
    ykd_teacher_cache *cache = NULL;
    st = open_cache(d, &cache, err);
    if (st == YKD_OK && !d->o.teacher)
        snprintf(d->teacher_sha, sizeof d->teacher_sha, "%s",
                 ykd_teacher_cache_teacher_sha256(cache));
    if (st == YKD_OK && d->teacher)
        ykd_teacher_use_cache(d->teacher, cache);
    else if (st == YKD_OK)
        st = ykd_teacher_from_cache(cache, &d->teacher, err);
    if (st != YKD_OK && !d->teacher)
        ykd_teacher_cache_close(cache);
    return st;
}

/* What the distillation adds to the run's state: its record (the teacher file and its SHA-256,
 * the teacher cache, the overlap, the KD config as used) and the KD term's tensors. */
static char *record_json(const ykd_distiller *d)
{
    cJSON *o = cJSON_CreateObject();
    char *kd = ykd_kd_config_json(ykd_kd_term_config(d->term));
    cJSON *kd_item = kd ? cJSON_Parse(kd) : NULL;
    free(kd);
    if (!o || !kd_item) {
        cJSON_Delete(o);
        cJSON_Delete(kd_item);
        return NULL;
    }
    cJSON_AddItemToObject(o, "teacher", d->o.teacher ? cJSON_CreateString(d->o.teacher)
                                                     : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "teacher_sha256", d->teacher_sha);
    cJSON_AddItemToObject(o, "teacher_cache", d->o.teacher_cache
                                                  ? cJSON_CreateString(d->o.teacher_cache)
                                                  : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "overlap", d->o.overlap);
    cJSON_AddItemToObject(o, "kd", kd_item);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static ykd_status declare_state(ykd_distiller *d, ykd_error *err)
{
    ykd_state_tensor tensors[YKD_TRAINER_MAX_EXTRA];
    int count = ykd_kd_term_state(d->term, tensors, YKD_TRAINER_MAX_EXTRA);
    char *record = record_json(d);
    ykd_status st = record ? ykd_trainer_set_extra_state(d->trainer, tensors, count, STATE_KEY,
                                                         record, err)
                           : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    free(record);
    return st;
}

/* The teacher, the KD term and the state declared, around an open trainer. */
static ykd_status open_kd(ykd_distiller *d, ykd_device *student_device,
                          ykd_device *teacher_device, ykd_error *err)
{
    ykd_status st = open_teacher(d, teacher_device, err);
    if (st == YKD_OK)
        st = setup_kd(d, student_device, teacher_device, err);
    if (st == YKD_OK)
        st = declare_state(d, err);
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
    ykd_status st = ykd_kd_config_load(d->o.kd_config, &d->config, err);
    if (st == YKD_OK)
        st = ykd_trainer_open(student_device, &options->train, &d->trainer, err);
    if (st == YKD_OK)
        st = open_kd(d, student_device, teacher_device, err);
    if (st == YKD_OK) /* again, now with the teacher and the KD config */
        st = ykd_trainer_write_args(d->trainer, teacher_device, err);
    if (st != YKD_OK) {
        ykd_distiller_close(d);
        return st;
    }
    *out = d;
    return YKD_OK;
}

/* ---- resuming ----------------------------------------------------------------------------- */

static ykd_status own_string(const cJSON *o, const char *key, char **copy, const char *source,
                             ykd_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNull(item))
        return YKD_OK;
    if (!cJSON_IsString(item))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: \"%s\".%s is missing or not a string", source,
                        STATE_KEY, key);
    *copy = strdup(item->valuestring);
    return *copy ? YKD_OK : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
}

/* The run's record back: teacher (or the one given, which must be the same file), cache,
 * overlap, KD config. */
static ykd_status read_record(ykd_distiller *d, const char *record, const char *teacher,
                              const char *source, ykd_error *err)
{
    cJSON *o = cJSON_Parse(record);
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(o, "teacher_sha256");
    const cJSON *kd = cJSON_GetObjectItemCaseSensitive(o, "kd");
    ykd_status st = cJSON_IsObject(o) && cJSON_IsString(sha) && cJSON_IsObject(kd)
                        ? YKD_OK
                        : ykd_fail(err, YKD_ERR_FORMAT,
                                   "%s: the \"%s\" record is not an object with "
                                   "\"teacher_sha256\" and \"kd\"",
                                   source, STATE_KEY);
    if (st == YKD_OK)
        snprintf(d->teacher_sha, sizeof d->teacher_sha, "%s", sha->valuestring);
    if (st == YKD_OK && teacher)
        d->teacher_copy = strdup(teacher);
    else if (st == YKD_OK)
        st = own_string(o, "teacher", &d->teacher_copy, source, err);
    if (st == YKD_OK)
        st = own_string(o, "teacher_cache", &d->cache_copy, source, err);
    d->o.overlap = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "overlap"));
    char *kd_text = st == YKD_OK ? cJSON_PrintUnformatted(kd) : NULL;
    if (kd_text) {
        char where[4200];
        snprintf(where, sizeof where, "%s: %s.kd", source, STATE_KEY);
        st = ykd_kd_config_parse(kd_text, strlen(kd_text), where, &d->config, err);
    }
    free(kd_text);
    cJSON_Delete(o);
    d->o.teacher = d->teacher_copy;
    d->o.teacher_cache = d->cache_copy;
    return st;
}

/* The teacher file must be the one the run was distilled from; without it (gone), a teacher
 * cache must hold every epoch left. */
static ykd_status check_teacher_file(ykd_distiller *d, bool given, const char *source,
                                     ykd_error *err)
{
    if (!d->o.teacher)
        return YKD_OK;
    FILE *f = fopen(d->o.teacher, "rb");
    if (!f && !given && d->o.teacher_cache) {
        d->o.teacher = NULL; /* replayed from the cache, which checks it holds what is left */
        return YKD_OK;
    }
    if (f)
        fclose(f);
    char sha[2 * YKD_SHA256_SIZE + 1];
    ykd_status st = ykd_sha256_file(d->o.teacher, sha, err);
    if (st == YKD_OK && strcmp(sha, d->teacher_sha) != 0)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "%s: the run was distilled from a teacher with SHA-256 %.16s..., but %s "
                      "has %.16s...: a resumed distillation needs the same teacher",
                      source, d->teacher_sha, d->o.teacher, sha);
    if (st != YKD_OK)
        ykd_error_prefix(err, "distill --resume");
    return st;
}

ykd_status ykd_distiller_resume(ykd_device *student_device, ykd_device *teacher_device,
                                const char *run, const char *teacher, int workers,
                                ykd_distiller **out, ykd_error *err)
{
    *out = NULL;
    ykd_distiller *d = calloc(1, sizeof *d);
    if (!d)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    ykd_distill_options_default(&d->o);
    char *record = NULL, path[4096];
    snprintf(path, sizeof path, "%s/%s", run, YKD_RUN_STATE);
    ykd_status st = ykd_trainer_reopen(student_device, run, workers, STATE_KEY, &record,
                                       &d->trainer, err);
    if (st == YKD_OK && !record)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "%s: a training run, not a distillation: resume it with yolokd train "
                      "--resume %s",
                      path, run);
    if (st == YKD_OK)
        st = read_record(d, record, teacher, path, err);
    free(record);
    if (st == YKD_OK) {
        d->o.train = *ykd_trainer_options(d->trainer);
        st = check_teacher_file(d, teacher != NULL, path, err);
    }
    if (st == YKD_OK)
        st = open_kd(d, student_device, teacher_device, err);
    if (st == YKD_OK)
        st = ykd_trainer_load_state(d->trainer, path, err);
    if (st == YKD_OK)
        st = ykd_trainer_reopen_files(d->trainer, path, err);
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
    free(d->teacher_copy);
    free(d->cache_copy);
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
