/* A run's per-epoch figures: RUN/metrics.csv (Ultralytics' results.csv columns, plus fitness,
 * images/s and seconds) and RUN/metrics.jsonl (one JSON object per epoch with the same keys),
 * rewritten whole after every epoch; and the JSON form of a row the resumable state keeps. One
 * table lists the columns for all three. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "train/train_internal.h"

typedef struct column {
    const char *key;
    size_t offset; /* of a double in ykd_train_row */
} column;

#define M(field) offsetof(ykd_train_row, m) + offsetof(ykd_epoch_metrics, field)

static const column columns[] = {
    {"train/box_loss", M(train_box)},
    {"train/cls_loss", M(train_cls)},
    {"train/dfl_loss", M(train_dfl)},
    {"metrics/precision(B)", M(precision)},
    {"metrics/recall(B)", M(recall)},
    {"metrics/mAP50(B)", M(map50)},
    {"metrics/mAP50-95(B)", M(map50_95)},
    {"val/box_loss", M(val_box)},
    {"val/cls_loss", M(val_cls)},
    {"val/dfl_loss", M(val_dfl)},
    {"lr/pg0", offsetof(ykd_train_row, lr) + 0 * sizeof(double)},
    {"lr/pg1", offsetof(ykd_train_row, lr) + 1 * sizeof(double)},
    {"lr/pg2", offsetof(ykd_train_row, lr) + 2 * sizeof(double)},
    {"fitness", offsetof(ykd_train_row, fitness)},
    {"images_per_s", offsetof(ykd_train_row, images_per_s)},
    {"seconds", offsetof(ykd_train_row, seconds)},
};
enum { COLUMNS = sizeof columns / sizeof columns[0] };

static double *value_at(const ykd_train_row *row, const column *c)
{
    return (double *)((char *)row + c->offset);
}

static void add_value(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* A row as JSON; NaN becomes null. The extra columns (loss term parts) follow the others. */
cJSON *ykd_train_row_json(const ykd_train_row *row)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "epoch", row->m.epoch);
    for (int i = 0; i < COLUMNS; i++)
        add_value(o, columns[i].key, *value_at(row, &columns[i]));
    for (int i = 0; i < row->m.extra_count; i++)
        add_value(o, row->m.extra_names[i], row->m.extra[i]);
    return o;
}

/* A number or null (NaN) at key; false when missing or of another type. */
static bool get_value(const cJSON *o, const char *key, double *v)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!item || !(cJSON_IsNumber(item) || cJSON_IsNull(item)))
        return false;
    *v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    return true;
}

ykd_status ykd_train_row_parse(const cJSON *o, const char *source,
                               const char *const *extra_names, int extra_count,
                               ykd_train_row *row, ykd_error *err)
{
    memset(row, 0, sizeof *row);
    const cJSON *epoch = cJSON_GetObjectItemCaseSensitive(o, "epoch");
    if (!cJSON_IsNumber(epoch))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: a history row has no epoch", source);
    row->m.epoch = (int)epoch->valuedouble;
    for (int i = 0; i < COLUMNS + extra_count; i++) {
        const char *key = i < COLUMNS ? columns[i].key : extra_names[i - COLUMNS];
        double *v = i < COLUMNS ? value_at(row, &columns[i]) : &row->m.extra[i - COLUMNS];
        if (!get_value(o, key, v))
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: history row %d: \"%s\" is missing",
                            source, row->m.epoch, key);
    }
    row->m.extra_count = extra_count;
    row->m.extra_names = extra_names;
    return YKD_OK;
}

/* Text that grows; *ok turns false when memory runs out. */
typedef struct text {
    char *data;
    size_t length, capacity;
    bool ok;
} text;

static void append(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->ok && t->length + n + 1 > t->capacity) {
        size_t cap = (t->capacity + n + 1) * 2;
        char *d = realloc(t->data, cap);
        t->ok = d != NULL;
        t->data = d ? d : t->data;
        t->capacity = d ? cap : t->capacity;
    }
    if (!t->ok)
        return;
    memcpy(t->data + t->length, s, n + 1);
    t->length += n;
}

static void csv_rows(text *t, const ykd_train_row *rows, size_t count)
{
    append(t, "epoch");
    for (int i = 0; i < COLUMNS; i++) {
        append(t, ",");
        append(t, columns[i].key);
    }
    int extra = count > 0 ? rows[0].m.extra_count : 0;
    for (int i = 0; i < extra; i++) {
        append(t, ",");
        append(t, rows[0].m.extra_names[i]);
    }
    append(t, "\n");
    for (size_t r = 0; r < count; r++) {
        char cell[64];
        snprintf(cell, sizeof cell, "%d", rows[r].m.epoch);
        append(t, cell);
        for (int i = 0; i < COLUMNS + extra; i++) {
            double v = i < COLUMNS ? *value_at(&rows[r], &columns[i])
                       : i - COLUMNS < rows[r].m.extra_count ? rows[r].m.extra[i - COLUMNS]
                                                             : NAN;
            snprintf(cell, sizeof cell, isfinite(v) ? ",%.6g" : ",", v);
            append(t, cell);
        }
        append(t, "\n");
    }
}

static void jsonl_rows(text *t, const ykd_train_row *rows, size_t count)
{
    for (size_t r = 0; r < count && t->ok; r++) {
        cJSON *o = ykd_train_row_json(&rows[r]);
        char *line = o ? cJSON_PrintUnformatted(o) : NULL;
        t->ok = line != NULL;
        if (line) {
            append(t, line);
            append(t, "\n");
        }
        cJSON_free(line);
        cJSON_Delete(o);
    }
}

char *ykd_metrics_jsonl_text(const ykd_train_row *rows, size_t count)
{
    text jsonl = {NULL, 0, 0, true};
    append(&jsonl, "");
    jsonl_rows(&jsonl, rows, count);
    if (!jsonl.ok)
        free(jsonl.data);
    return jsonl.ok ? jsonl.data : NULL;
}

static ykd_status write_text(const char *run, const char *name, const text *t, ykd_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", run, name);
    if (!t->ok)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    const void *parts[] = {t->data ? t->data : ""};
    size_t sizes[] = {t->length};
    return ykd_file_write_atomic(path, parts, sizes, 1, err);
}

ykd_status ykd_metrics_write(const char *run, const ykd_train_row *rows, size_t count,
                             ykd_error *err)
{
    text csv = {NULL, 0, 0, true}, jsonl = {NULL, 0, 0, true};
    csv_rows(&csv, rows, count);
    jsonl_rows(&jsonl, rows, count);
    ykd_status st = write_text(run, YKD_RUN_CSV, &csv, err);
    if (st == YKD_OK)
        st = write_text(run, YKD_RUN_JSONL, &jsonl, err);
    free(csv.data);
    free(jsonl.data);
    return st;
}
