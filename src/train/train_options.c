/* The trainer's options: defaults (Ultralytics' hyperparameters), checks naming the option,
 * and a JSON form that RUN/args.json and the resumable state carry. One table lists every
 * field once, for the JSON both ways. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/float_text.h"
#include "train/train_internal.h"

void ykd_train_options_default(ykd_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 100;
    o->batch = 16;
    o->imgsz = 640;
    o->workers = 2;
    o->close_mosaic = 10;
    o->cache_mb = 1024;
    o->augment = true;
    ykd_augment_options_default(&o->aug);
    o->optimizer = YKD_OPTIMIZER_AUTO;
    o->lr0 = 0.0;
    o->lrf = 0.01;
    o->momentum = 0.937;
    o->weight_decay = 5e-4;
    o->nbs = 64;
    o->warmup_epochs = 3.0;
    o->warmup_momentum = 0.8;
    o->warmup_bias_lr = 0.1;
    o->decay = YKD_LR_LINEAR;
    o->max_grad_norm = 10.0;
    o->ema_decay = 0.9999;
    o->ema_tau = 2000.0;
    o->val = true;
    o->val_batch = 0;
    o->val_conf = 0.001f;
    o->val_iou = 0.7f;
    o->sync_bn = false;
    o->ranks = 1;
}

typedef enum field_type { F_STRING, F_INT, F_DOUBLE, F_FLOAT, F_BOOL, F_SEED, F_OPTIM, F_DECAY } field_type;

typedef struct field {
    const char *name;
    field_type type;
    size_t offset;
    bool optional; /* added later: absent in older runs' state, which keeps the default */
} field;

#define FIELD(name, type) {#name, type, offsetof(ykd_train_options, name), false}
#define NEWER_FIELD(name, type) {#name, type, offsetof(ykd_train_options, name), true}
#define AUG(name) {"aug_" #name, F_FLOAT, offsetof(ykd_train_options, aug) + offsetof(ykd_augment_options, name), false}

static const field fields[] = {
    FIELD(model, F_STRING),        FIELD(weights, F_STRING),     FIELD(data, F_STRING),
    FIELD(out, F_STRING),          FIELD(exist_ok, F_BOOL),      FIELD(epochs, F_INT),         FIELD(batch, F_INT),
    FIELD(imgsz, F_INT),           FIELD(workers, F_INT),        FIELD(seed, F_SEED),
    FIELD(close_mosaic, F_INT),    FIELD(cache_mb, F_INT),       FIELD(augment, F_BOOL),
    AUG(hsv_h),                    AUG(hsv_s),                   AUG(hsv_v),
    AUG(flip_lr),                  AUG(scale),                   AUG(translate),
    AUG(mosaic),                   FIELD(optimizer, F_OPTIM),    FIELD(lr0, F_DOUBLE),
    FIELD(lrf, F_DOUBLE),          FIELD(momentum, F_DOUBLE),    FIELD(weight_decay, F_DOUBLE),
    FIELD(nbs, F_INT),             FIELD(warmup_epochs, F_DOUBLE), FIELD(warmup_momentum, F_DOUBLE),
    FIELD(warmup_bias_lr, F_DOUBLE), FIELD(decay, F_DECAY),      FIELD(max_grad_norm, F_DOUBLE),
    FIELD(ema_decay, F_DOUBLE),    FIELD(ema_tau, F_DOUBLE),     FIELD(val, F_BOOL),
    FIELD(val_batch, F_INT),       FIELD(val_conf, F_FLOAT),     FIELD(val_iou, F_FLOAT),
    NEWER_FIELD(strict, F_BOOL),   NEWER_FIELD(sync_bn, F_BOOL), NEWER_FIELD(ranks, F_INT),
};
enum { FIELD_COUNT = sizeof fields / sizeof fields[0] };

static void *at(const ykd_train_options *o, const field *f)
{
    return (char *)o + f->offset;
}

/* Seeds up to this are JSON numbers; larger ones strings (JSON readers hold 53 bits). */
static const uint64_t EXACT_SEED_MAX = 1ull << 53;

/* One field as a JSON item; floats as the shortest text that reads back to the same float. */
static cJSON *field_json(const ykd_train_options *o, const field *f)
{
    void *p = at(o, f);
    char text[32];
    switch (f->type) {
    case F_STRING:
        return *(char **)p ? cJSON_CreateString(*(char **)p) : cJSON_CreateNull();
    case F_INT:
        return cJSON_CreateNumber(*(int *)p);
    case F_DOUBLE:
        return cJSON_CreateNumber(*(double *)p);
    case F_FLOAT:
        ykd_float_text(*(float *)p, text, sizeof text);
        return cJSON_CreateRaw(text);
    case F_BOOL:
        return cJSON_CreateBool(*(bool *)p);
    case F_SEED:
        snprintf(text, sizeof text, "%" PRIu64, *(uint64_t *)p);
        return *(uint64_t *)p <= EXACT_SEED_MAX ? cJSON_CreateRaw(text) : cJSON_CreateString(text);
    case F_OPTIM:
        return cJSON_CreateString(ykd_optimizer_kind_name(*(ykd_optimizer_kind *)p));
    case F_DECAY:
        return cJSON_CreateString(*(ykd_lr_decay *)p == YKD_LR_COSINE ? "cosine" : "linear");
    }
    return NULL;
}

char *ykd_train_options_json(const ykd_train_options *o)
{
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; root && i < FIELD_COUNT; i++)
        cJSON_AddItemToObject(root, fields[i].name, field_json(o, &fields[i]));
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static ykd_status bad_field(const char *source, const field *f, const char *what, ykd_error *err)
{
    return ykd_fail(err, YKD_ERR_FORMAT, "%s: option \"%s\" %s", source, f->name, what);
}

static ykd_status parse_string(const cJSON *item, const char *source, const field *f, void *p,
                               ykd_error *err)
{
    if (cJSON_IsNull(item))
        return YKD_OK;
    if (!cJSON_IsString(item))
        return bad_field(source, f, "should be a string", err);
    char *copy = strdup(item->valuestring);
    if (!copy)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
    *(char **)p = copy;
    return YKD_OK;
}

static ykd_status parse_named(const cJSON *item, const char *source, const field *f, void *p,
                              ykd_error *err)
{
    const char *s = cJSON_GetStringValue(item);
    if (!s)
        return bad_field(source, f, "should be a string", err);
    if (f->type == F_SEED) {
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || *end)
            return bad_field(source, f, "should be a whole number in a string", err);
        *(uint64_t *)p = v;
    } else if (f->type == F_OPTIM) {
        if (!ykd_optimizer_kind_parse(s, (ykd_optimizer_kind *)p))
            return bad_field(source, f, "should be \"sgd\", \"adamw\" or \"auto\"", err);
    } else if (strcmp(s, "cosine") == 0 || strcmp(s, "linear") == 0) {
        *(ykd_lr_decay *)p = strcmp(s, "cosine") == 0 ? YKD_LR_COSINE : YKD_LR_LINEAR;
    } else {
        return bad_field(source, f, "should be \"linear\" or \"cosine\"", err);
    }
    return YKD_OK;
}

static ykd_status parse_field(const cJSON *root, const char *source, const field *f,
                              ykd_train_options *o, ykd_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, f->name);
    void *p = at(o, f);
    if (!item && f->optional)
        return YKD_OK;
    if (!item)
        return bad_field(source, f, "is missing", err);
    if (f->type == F_STRING)
        return parse_string(item, source, f, p, err);
    if (f->type == F_SEED && cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (v < 0 || v > (double)EXACT_SEED_MAX || v != floor(v))
            return bad_field(source, f, "should be a whole number from 0 to 2^53 (larger ones "
                                        "in a string)", err);
        *(uint64_t *)p = (uint64_t)v;
        return YKD_OK;
    }
    if (f->type == F_SEED || f->type == F_OPTIM || f->type == F_DECAY)
        return parse_named(item, source, f, p, err);
    if (f->type == F_BOOL) {
        if (!cJSON_IsBool(item))
            return bad_field(source, f, "should be true or false", err);
        *(bool *)p = cJSON_IsTrue(item);
        return YKD_OK;
    }
    if (!cJSON_IsNumber(item))
        return bad_field(source, f, "should be a number", err);
    double v = item->valuedouble;
    if (f->type == F_INT && (v != floor(v) || fabs(v) > 2e9))
        return bad_field(source, f, "should be a whole number", err);
    if (f->type == F_INT)
        *(int *)p = (int)v;
    else if (f->type == F_FLOAT)
        *(float *)p = (float)v;
    else
        *(double *)p = v;
    return YKD_OK;
}

ykd_status ykd_train_options_parse(const char *json, const char *source, ykd_train_options *o,
                                   ykd_error *err)
{
    ykd_train_options_default(o);
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: the options are not a JSON object", source);
    }
    ykd_status st = YKD_OK;
    for (int i = 0; i < FIELD_COUNT && st == YKD_OK; i++)
        st = parse_field(root, source, &fields[i], o, err);
    cJSON_Delete(root);
    if (st != YKD_OK)
        ykd_train_options_free_strings(o);
    return st;
}

void ykd_train_options_free_strings(ykd_train_options *o)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (fields[i].type != F_STRING)
            continue;
        char **p = at(o, &fields[i]);
        free(*p);
        *p = NULL;
    }
}

/* A value in [lo, hi], finite. */
static bool within(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

static ykd_status out_of_range(const char *name, double v, const char *range, ykd_error *err)
{
    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: %s %g is out of range (%s)", name, v,
                    range);
}

static ykd_status check_numbers(const ykd_train_options *o, ykd_error *err)
{
    if (o->epochs < 1 || o->epochs > 100000)
        return out_of_range("epochs", o->epochs, "1 to 100000", err);
    if (o->batch < 1 || o->batch > 4096)
        return out_of_range("batch", o->batch, "1 to 4096", err);
    if (o->imgsz < 32 || o->imgsz > 8192)
        return out_of_range("imgsz", o->imgsz, "32 to 8192", err);
    if (o->workers < 0 || o->workers > 64)
        return out_of_range("workers", o->workers, "0 to 64", err);
    if (o->close_mosaic < 0)
        return out_of_range("close_mosaic", o->close_mosaic, ">= 0", err);
    if (o->nbs < 1 || o->nbs > 65536)
        return out_of_range("nbs", o->nbs, "1 to 65536", err);
    if (!within(o->lr0, 0.0, 10.0))
        return out_of_range("lr0", o->lr0, "0 (the optimizer's default) to 10", err);
    if (!within(o->lrf, 0.0, 1.0))
        return out_of_range("lrf", o->lrf, "0 to 1", err);
    if (!within(o->momentum, 0.0, 0.999999) || !within(o->warmup_momentum, 0.0, 0.999999))
        return out_of_range("momentum", o->momentum, "0 to below 1, warm-up too", err);
    if (!within(o->weight_decay, 0.0, 1.0))
        return out_of_range("weight_decay", o->weight_decay, "0 to 1", err);
    if (!within(o->warmup_epochs, 0.0, 1e6) || !within(o->warmup_bias_lr, 0.0, 10.0))
        return out_of_range("warmup_epochs", o->warmup_epochs, ">= 0; warmup_bias_lr 0 to 10",
                            err);
    if (!within(o->max_grad_norm, 0.0, 1e30))
        return out_of_range("max_grad_norm", o->max_grad_norm, ">= 0", err);
    if (!within(o->ema_decay, 0.0, 1.0) || !within(o->ema_tau, 1e-9, 1e30))
        return out_of_range("ema_decay", o->ema_decay, "0 to 1, tau > 0", err);
    if (!within(o->val_conf, 0.0, 1.0) || !within(o->val_iou, 0.0, 1.0))
        return out_of_range("val_conf", o->val_conf, "0 to 1, val_iou too", err);
    if (o->val_batch < 0 || o->val_batch > 4096)
        return out_of_range("val_batch", o->val_batch, "0 (2 x batch) to 4096", err);
    return YKD_OK;
}

ykd_status ykd_train_options_check(const ykd_train_options *o, ykd_error *err)
{
    if (!o->model || !*o->model)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "train: no model (n, s, m, l, x, a .json description or a .safetensors "
                        "file)");
    if (!o->data || !*o->data)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: no dataset folder");
    if (!o->out || !*o->out)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: no run folder");
    if (o->optimizer < YKD_OPTIMIZER_SGD || o->optimizer > YKD_OPTIMIZER_AUTO)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: unknown optimizer %d",
                        (int)o->optimizer);
    return check_numbers(o, err);
}
