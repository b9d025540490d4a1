/* What the trainer keeps in RUN/last.state.safetensors so that --resume continues bit for
 * bit: the raw weights (BN running statistics included), the EMA weights, the gradients
 * accumulated so far (the accumulation runs across epochs), the optimizer's buffers, the
 * counters (next epoch, iteration of the last optimizer step, optimizer steps, EMA updates,
 * BN batch counters), the best fitness, the metrics history and the options. The loader's
 * state is (seed, epoch, position) and a run resumes at an epoch's start, so the seed in the
 * options and the epoch are all of it. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/checkpoint.h"
#include "train/train_internal.h"

enum { MAX_TENSORS = 8 + YKD_TRAINER_MAX_EXTRA };

/* Floats of the parameter buffer that hold tensors (every kind). */
static size_t param_floats(const ykd_model *model)
{
    size_t first, count, end = 0;
    for (int k = 0; k < YKD_PARAM_KIND_COUNT; k++) {
        ykd_model_kind_range(model, (ykd_param_kind)k, &first, &count);
        if (count && first + count > end)
            end = first + count;
    }
    return end;
}

/* The state's tensors, in file order. */
static int state_tensors(const ykd_trainer *t, ykd_state_tensor *out)
{
    size_t floats = param_floats(t->model), trained = 0;
    int count = 0;
    out[count++] = (ykd_state_tensor){"model", ykd_model_param_buffer(t->model), 0, floats};
    out[count++] = (ykd_state_tensor){"ema", ykd_model_param_buffer(ykd_ema_model(t->ema)), 0,
                                      floats};
    const char *name;
    ykd_buffer *buffer;
    for (int i = 0; ykd_optimizer_state_at(t->optimizer, i, &name, &buffer, &trained); i++)
        out[count++] = (ykd_state_tensor){name, buffer, 0, trained};
    out[count++] = (ykd_state_tensor){"grad", ykd_model_grad_buffer(t->model), 0, trained};
    for (int i = 0; i < t->extra_count; i++)
        out[count++] = t->extra[i];
    return count;
}

static const char *const counter_keys[] = {
    "epoch",         "last_opt_step",       "optimizer_steps", "ema_updates",  "batches_tracked",
    "ema_batches_tracked", "best_epoch",    "train_images",    "val_images",   "classes",
    "batches_per_epoch"};
enum { COUNTERS = sizeof counter_keys / sizeof counter_keys[0] };

static void counters_of(const ykd_trainer *t, double v[COUNTERS])
{
    double values[COUNTERS] = {t->epoch,
                               (double)t->last_opt_step,
                               (double)ykd_optimizer_steps(t->optimizer),
                               (double)ykd_ema_updates(t->ema),
                               (double)ykd_model_batches_tracked(t->model),
                               (double)ykd_model_batches_tracked(ykd_ema_model(t->ema)),
                               t->best_epoch,
                               (double)ykd_dataset_count(t->train_set),
                               (double)ykd_dataset_count(t->val_set),
                               (double)ykd_dataset_class_count(t->train_set),
                               (double)t->batches_per_epoch};
    memcpy(v, values, sizeof values);
}

/* {"epoch": .., ..., "best_fitness": ..} (a best fitness of -inf, before any, as null). */
static char *progress_json(const ykd_trainer *t)
{
    cJSON *o = cJSON_CreateObject();
    double v[COUNTERS];
    counters_of(t, v);
    for (int i = 0; o && i < COUNTERS; i++)
        cJSON_AddNumberToObject(o, counter_keys[i], v[i]);
    if (o && isfinite(t->best_fitness))
        cJSON_AddNumberToObject(o, "best_fitness", t->best_fitness);
    else if (o)
        cJSON_AddNullToObject(o, "best_fitness");
    if (o && t->loss_terms[0])
        cJSON_AddStringToObject(o, "loss_terms", t->loss_terms);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static char *history_json(const ykd_trainer *t)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; list && i < t->row_count; i++)
        cJSON_AddItemToArray(list, ykd_train_row_json(&t->rows[i]));
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    return text;
}

ykd_status ykd_trainer_save_state(const ykd_trainer *t, ykd_error *err)
{
    char path[4096];
    ykd_run_path(t, YKD_RUN_STATE, path);
    if (!ykd_model_grad_buffer(t->model))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "writing %s: the model has no gradients "
                                                       "yet", path);
    ykd_state_tensor tensors[MAX_TENSORS];
    int count = state_tensors(t, tensors);
    char *options = ykd_train_options_json(&t->o);
    char *progress = progress_json(t);
    char *history = history_json(t);
    const char *keys[] = {"options", "yolokd.model", "progress", "history", t->extra_key};
    const char *values[] = {options, ykd_model_desc_json(ykd_model_get_desc(t->model)), progress,
                            history, t->extra_value};
    int meta = t->extra_key && t->extra_value ? 5 : 4;
    ykd_status st = options && progress && history
                        ? ykd_state_write(path, tensors, count, keys, values, meta, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of memory", path);
    free(options);
    free(progress);
    free(history);
    return st;
}

ykd_status ykd_trainer_add_row(ykd_trainer *t, const ykd_train_row *row, ykd_error *err)
{
    if (t->row_count == t->row_capacity) {
        size_t cap = t->row_capacity ? 2 * t->row_capacity : 16;
        ykd_train_row *rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
        t->rows = rows;
        t->row_capacity = cap;
    }
    t->rows[t->row_count++] = *row;
    return YKD_OK;
}

/* ---- restoring ---------------------------------------------------------------------------- */

/* The counters of "progress", each a whole number. */
static ykd_status parse_counters(const char *path, const cJSON *o, double v[COUNTERS],
                                 double *best, ykd_error *err)
{
    for (int i = 0; i < COUNTERS; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, counter_keys[i]);
        if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble))
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: progress \"%s\" is missing or not a whole "
                                                 "number",
                            path, counter_keys[i]);
        v[i] = item->valuedouble;
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "best_fitness");
    if (!b || !(cJSON_IsNumber(b) || cJSON_IsNull(b)))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: progress \"best_fitness\" is missing", path);
    *best = cJSON_IsNumber(b) ? b->valuedouble : -INFINITY;
    return YKD_OK;
}

/* The run must meet the same data. */
static ykd_status check_counters(const ykd_trainer *t, const char *path, const double v[COUNTERS],
                                 ykd_error *err)
{
    double now[COUNTERS];
    counters_of(t, now);
    static const struct {
        int index;
        const char *what;
    } same[] = {{7, "training images"}, {8, "validation images"}, {9, "classes"},
                {10, "batches per epoch"}};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int k = same[i].index;
        if (v[k] != now[k])
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "%s: the run was trained on %.0f %s of %s, which now has %.0f: a "
                            "resumed run must see the same data",
                            path, v[k], same[i].what, t->o.data, now[k]);
    }
    if (v[0] < 1 || v[0] > t->o.epochs || v[1] < -1 || v[2] < 0 || v[3] < 0)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: progress counters out of range", path);
    return YKD_OK;
}

static void apply_counters(ykd_trainer *t, const double v[COUNTERS], double best)
{
    t->epoch = (int)v[0];
    t->last_opt_step = (int64_t)v[1];
    ykd_optimizer_set_steps(t->optimizer, (int64_t)v[2]);
    ykd_ema_set_updates(t->ema, (int64_t)v[3]);
    ykd_model_set_batches_tracked(t->model, (int64_t)v[4]);
    ykd_model_set_batches_tracked(ykd_ema_model(t->ema), (int64_t)v[5]);
    t->best_epoch = (int)v[6];
    t->best_fitness = best;
}

static ykd_status load_history(ykd_trainer *t, const char *path, const char *json, ykd_error *err)
{
    cJSON *list = cJSON_Parse(json);
    ykd_status st = cJSON_IsArray(list) ? YKD_OK
                                        : ykd_fail(err, YKD_ERR_FORMAT,
                                                   "%s: __metadata__ \"history\" is not a list",
                                                   path);
    for (const cJSON *item = list ? list->child : NULL; item && st == YKD_OK; item = item->next) {
        ykd_train_row row;
        st = ykd_train_row_parse(item, path, t->part_columns, t->part_count, &row, err);
        if (st == YKD_OK)
            st = ykd_trainer_add_row(t, &row, err);
    }
    cJSON_Delete(list);
    return st;
}

static ykd_status load_progress(ykd_trainer *t, const char *path, const ykd_state_file *f,
                                ykd_error *err)
{
    const char *text = NULL;
    ykd_status st = ykd_state_meta_required(f, "progress", &text, err);
    if (st != YKD_OK)
        return st;
    cJSON *o = cJSON_Parse(text);
    double v[COUNTERS], best = 0.0;
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(o, "loss_terms");
    st = cJSON_IsObject(o) ? parse_counters(path, o, v, &best, err)
                           : ykd_fail(err, YKD_ERR_FORMAT,
                                      "%s: __metadata__ \"progress\" is not a JSON object", path);
    /* a distillation resumes as one, a training run as one */
    const char *saved_terms = cJSON_IsString(terms) ? terms->valuestring : "";
    if (st == YKD_OK && strcmp(saved_terms, t->loss_terms) != 0)
        st = ykd_fail(err, YKD_ERR_UNSUPPORTED,
                      "%s: the run was trained with the loss terms '%s', this one has '%s': %s",
                      path, saved_terms, t->loss_terms,
                      saved_terms[0] ? "resume a distillation with yolokd distill --resume"
                                     : "resume a training run with yolokd train --resume");
    cJSON_Delete(o);
    if (st == YKD_OK)
        st = check_counters(t, path, v, err);
    if (st == YKD_OK)
        apply_counters(t, v, best);
    return st;
}

static ykd_status load_tensors(ykd_trainer *t, const ykd_state_file *f, ykd_error *err)
{
    ykd_status st = ykd_model_zero_grad(t->model, err); /* creates the gradient buffer */
    ykd_state_tensor tensors[MAX_TENSORS];
    int count = st == YKD_OK ? state_tensors(t, tensors) : 0;
    for (int i = 0; i < count && st == YKD_OK; i++)
        st = ykd_state_read(f, tensors[i].name, tensors[i].buffer, tensors[i].offset,
                            tensors[i].floats, err);
    ykd_model_params_changed(t->model);
    ykd_model_params_changed(ykd_ema_model(t->ema));
    return st;
}

ykd_status ykd_trainer_load_state(ykd_trainer *t, const char *path, ykd_error *err)
{
    ykd_state_file f;
    ykd_status st = ykd_state_open(path, &f, err);
    if (st != YKD_OK)
        return st;
    const char *history = NULL;
    st = load_progress(t, path, &f, err);
    if (st == YKD_OK)
        st = ykd_state_meta_required(&f, "history", &history, err);
    if (st == YKD_OK)
        st = load_history(t, path, history, err);
    if (st == YKD_OK)
        st = load_tensors(t, &f, err);
    ykd_state_close(&f);
    return st;
}
