/* The distillation config: defaults, the JSON format (cJSON) with a JSON path in every fault,
 * and the weight schedule. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/float_text.h"
#include "core/fs.h"
#include "yolokd/kd.h"

enum { KD_CONFIG_MAX_BYTES = 1 << 20 };

static const char *const loss_names[YKD_KD_LOSS_COUNT] = {"logit", "ld", "cwd", "pkd",
                                                         "imitation"};

const char *ykd_kd_loss_name(ykd_kd_loss_kind kind)
{
    return kind >= 0 && kind < YKD_KD_LOSS_COUNT ? loss_names[kind] : "unknown";
}

static bool has_temperature(ykd_kd_loss_kind kind)
{
    return kind == YKD_KD_LOGIT || kind == YKD_KD_LD || kind == YKD_KD_CWD;
}

void ykd_kd_config_default(ykd_kd_config *c)
{
    memset(c, 0, sizeof *c);
    /* temperatures: LD's paper uses 10; CWD's 4 (its segmentation setting); the classes'
     * sigmoids are not softened by default */
    static const float temperatures[YKD_KD_LOSS_COUNT] = {1.0f, 10.0f, 4.0f, 1.0f, 1.0f};
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        c->loss[k] = (ykd_kd_loss_config){false, 1.0f, temperatures[k], k == YKD_KD_IMITATION};
    /* logit KD and LD: the best setting of the KD benchmark (BENCHMARKS.md), ahead of each
     * loss alone and of LD + CWD */
    c->loss[YKD_KD_LOGIT].enabled = true;
    c->loss[YKD_KD_LD].enabled = true;
    for (int l = 0; l < 3; l++) {
        snprintf(c->pairs[l].student, YKD_KD_NAME_SIZE, "p%d", 3 + l);
        snprintf(c->pairs[l].teacher, YKD_KD_NAME_SIZE, "p%d", 3 + l);
    }
    c->pair_count = 3;
    c->neck_pairs = true;
    c->schedule = YKD_KD_SCHEDULE_CONSTANT;
    c->final_fraction = 0.01f; /* YOLOv6's cosine decay ends at 1% */
}

bool ykd_kd_config_has_feature_loss(const ykd_kd_config *c)
{
    return c->loss[YKD_KD_CWD].enabled || c->loss[YKD_KD_PKD].enabled ||
           c->loss[YKD_KD_IMITATION].enabled;
}

double ykd_kd_schedule_factor(const ykd_kd_config *c, double epoch, int epochs)
{
    if (c->schedule != YKD_KD_SCHEDULE_COSINE || epochs <= 0)
        return 1.0;
    double e = epoch < 0.0 ? 0.0 : epoch > epochs ? epochs : epoch;
    double pi = 3.14159265358979323846;
    return c->final_fraction + (1.0 - c->final_fraction) * (1.0 + cos(pi * e / epochs)) / 2.0;
}

/* ---- parsing ----------------------------------------------------------------------------- */

typedef struct parser {
    const char *source;
    ykd_error *err;
} parser;

static ykd_status fault(const parser *p, const char *path, const char *fmt, ...) YKD_PRINTF(3, 4);

static ykd_status fault(const parser *p, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ykd_fail(p->err, YKD_ERR_FORMAT, "%s: %s: %s", p->source, path, msg);
}

/* What a JSON value is, for "expected ..., got ..." messages. */
static const char *kind_of(const cJSON *item)
{
    return cJSON_IsNumber(item)   ? "a number"
           : cJSON_IsString(item) ? "a string"
           : cJSON_IsArray(item)  ? "an array"
           : cJSON_IsObject(item) ? "an object"
           : cJSON_IsBool(item)   ? "a boolean"
                                  : "null";
}

/* Refuses keys of obj outside known[0 .. count), and a key given twice. */
static ykd_status check_keys(const parser *p, const cJSON *obj, const char *path,
                             const char *const *known, int count)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        bool found = false;
        for (int i = 0; i < count && !found; i++)
            found = strcmp(c->string, known[i]) == 0;
        char list[256] = "";
        for (int i = 0; i < count; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     known[i]);
        if (!found)
            return fault(p, path, "unknown key \"%s\" (known: %s)", c->string, list);
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return fault(p, path, "\"%s\" is given twice", c->string);
    }
    return YKD_OK;
}

static ykd_status expect_object(const parser *p, const cJSON *item, const char *path)
{
    return cJSON_IsObject(item) ? YKD_OK
                                : fault(p, path, "expected an object, got %s", kind_of(item));
}

/* A finite number, > 0 (positive) or >= 0. */
static ykd_status get_number(const parser *p, const cJSON *item, const char *path, bool positive,
                             float *value)
{
    if (!cJSON_IsNumber(item))
        return fault(p, path, "expected a number, got %s", kind_of(item));
    double v = cJSON_GetNumberValue(item);
    if (!isfinite(v) || fabs(v) > 1e30)
        return fault(p, path, "%g is not a usable number", v);
    if (positive ? !(v > 0.0) : v < 0.0)
        return fault(p, path, "%g is %s", v, positive ? "not above 0" : "negative");
    *value = (float)v;
    return YKD_OK;
}

/* One loss's object: weight, temperature (where the loss has one), mask (imitation). */
static ykd_status parse_loss(const parser *p, const cJSON *obj, ykd_kd_loss_kind kind,
                             ykd_kd_loss_config *out)
{
    char path[96];
    snprintf(path, sizeof path, "$.losses.%s", loss_names[kind]);
    const char *const known[] = {"weight", kind == YKD_KD_IMITATION ? "mask" : "temperature"};
    int known_count = kind == YKD_KD_IMITATION || has_temperature(kind) ? 2 : 1;
    ykd_status st = expect_object(p, obj, path);
    if (st == YKD_OK)
        st = check_keys(p, obj, path, known, known_count);
    out->enabled = true;
    for (const cJSON *c = st == YKD_OK ? obj->child : NULL; c && st == YKD_OK; c = c->next) {
        char at[128];
        snprintf(at, sizeof at, "%s.%s", path, c->string);
        if (strcmp(c->string, "weight") == 0)
            st = get_number(p, c, at, false, &out->weight);
        else if (strcmp(c->string, "temperature") == 0)
            st = get_number(p, c, at, true, &out->temperature);
        else if (!cJSON_IsString(c))
            st = fault(p, at, "expected \"assigned\" or \"all\", got %s", kind_of(c));
        else if (strcmp(c->valuestring, "assigned") == 0 || strcmp(c->valuestring, "all") == 0)
            out->masked = strcmp(c->valuestring, "assigned") == 0;
        else
            st = fault(p, at, "expected \"assigned\" or \"all\", got \"%s\"", c->valuestring);
    }
    return st;
}

static ykd_status parse_losses(const parser *p, const cJSON *obj, ykd_kd_config *c)
{
    ykd_status st = expect_object(p, obj, "$.losses");
    if (st == YKD_OK)
        st = check_keys(p, obj, "$.losses", loss_names, YKD_KD_LOSS_COUNT);
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        c->loss[k].enabled = false; /* the file names the losses it wants */
    for (const cJSON *item = st == YKD_OK ? obj->child : NULL; item && st == YKD_OK;
         item = item->next)
        for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
            if (strcmp(item->string, loss_names[k]) == 0)
                st = parse_loss(p, item, (ykd_kd_loss_kind)k, &c->loss[k]);
    return st;
}

/* A model tensor's name: p, box, cls or head, then the level's log2 stride (1 to 9). */
static bool valid_tensor_name(const char *name)
{
    static const char *const prefixes[] = {"p", "box", "cls", "head"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t len = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], len) == 0 && name[len] >= '1' && name[len] <= '9' &&
            name[len + 1] == '\0')
            return true;
    }
    return false;
}

static ykd_status parse_name(const parser *p, const cJSON *pair, const char *key,
                             const char *pair_path, char *out)
{
    char path[128];
    snprintf(path, sizeof path, "%s.%s", pair_path, key);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(pair, key);
    if (!item)
        return fault(p, path, "missing");
    if (!cJSON_IsString(item))
        return fault(p, path, "expected a tensor name, got %s", kind_of(item));
    if (!valid_tensor_name(item->valuestring))
        return fault(p, path,
                     "\"%.40s\" names no model tensor (p3, box3, cls3, head3 and so on per level)",
                     item->valuestring);
    snprintf(out, YKD_KD_NAME_SIZE, "%s", item->valuestring);
    return YKD_OK;
}

static ykd_status parse_features(const parser *p, const cJSON *arr, ykd_kd_config *c)
{
    if (!cJSON_IsArray(arr))
        return fault(p, "$.features", "expected an array of {\"student\", \"teacher\"}, got %s",
                     kind_of(arr));
    int count = cJSON_GetArraySize(arr);
    if (count > YKD_KD_MAX_PAIRS)
        return fault(p, "$.features", "%d pairs; at most %d", count, YKD_KD_MAX_PAIRS);
    if (count == 0)
        return fault(p, "$.features", "no pairs; name at least one, or leave it out for the "
                                      "neck outputs");
    static const char *const keys[] = {"student", "teacher"};
    ykd_status st = YKD_OK;
    c->pair_count = 0;
    c->neck_pairs = false;
    for (const cJSON *item = arr->child; item && st == YKD_OK; item = item->next) {
        char path[64];
        snprintf(path, sizeof path, "$.features[%d]", c->pair_count);
        ykd_kd_pair *pair = &c->pairs[c->pair_count];
        st = expect_object(p, item, path);
        if (st == YKD_OK)
            st = check_keys(p, item, path, keys, 2);
        if (st == YKD_OK)
            st = parse_name(p, item, "student", path, pair->student);
        if (st == YKD_OK)
            st = parse_name(p, item, "teacher", path, pair->teacher);
        for (int k = 0; k < c->pair_count && st == YKD_OK; k++)
            if (strcmp(c->pairs[k].student, pair->student) == 0)
                st = fault(p, path, "student tensor %s is paired already, at $.features[%d]",
                           pair->student, k);
        c->pair_count++;
    }
    return st;
}

static ykd_status parse_schedule(const parser *p, const cJSON *obj, ykd_kd_config *c)
{
    static const char *const keys[] = {"type", "final"};
    ykd_status st = expect_object(p, obj, "$.schedule");
    if (st == YKD_OK)
        st = check_keys(p, obj, "$.schedule", keys, 2);
    const cJSON *type = st == YKD_OK ? cJSON_GetObjectItemCaseSensitive(obj, "type") : NULL;
    const cJSON *final = st == YKD_OK ? cJSON_GetObjectItemCaseSensitive(obj, "final") : NULL;
    if (type && !cJSON_IsString(type))
        st = fault(p, "$.schedule.type", "expected \"constant\" or \"cosine\", got %s",
                   kind_of(type));
    else if (type && strcmp(type->valuestring, "cosine") == 0)
        c->schedule = YKD_KD_SCHEDULE_COSINE;
    else if (type && strcmp(type->valuestring, "constant") == 0)
        c->schedule = YKD_KD_SCHEDULE_CONSTANT;
    else if (type)
        st = fault(p, "$.schedule.type", "expected \"constant\" or \"cosine\", got \"%.40s\"",
                   type->valuestring);
    if (st == YKD_OK && final)
        st = get_number(p, final, "$.schedule.final", false, &c->final_fraction);
    if (st == YKD_OK && c->final_fraction > 1.0f)
        st = fault(p, "$.schedule.final", "%g is over 1 (a fraction of the initial weights)",
                   (double)c->final_fraction);
    return st;
}

static ykd_status parse_root(const parser *p, const cJSON *root, ykd_kd_config *c)
{
    static const char *const keys[] = {"losses", "features", "schedule"};
    ykd_status st = expect_object(p, root, "$");
    if (st == YKD_OK)
        st = check_keys(p, root, "$", keys, 3);
    const cJSON *losses = cJSON_GetObjectItemCaseSensitive(root, "losses");
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(root, "features");
    const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(root, "schedule");
    if (st == YKD_OK && losses)
        st = parse_losses(p, losses, c);
    if (st == YKD_OK && features)
        st = parse_features(p, features, c);
    if (st == YKD_OK && schedule)
        st = parse_schedule(p, schedule, c);
    /* pairs no loss reads would be ignored: say so rather than train without them */
    if (st == YKD_OK && features && !ykd_kd_config_has_feature_loss(c))
        st = fault(p, "$.features", "feature pairs given, but no feature loss is on (name cwd, "
                                    "pkd or imitation in $.losses)");
    return st;
}

ykd_status ykd_kd_config_parse(const char *json, size_t length, const char *source,
                               ykd_kd_config *config, ykd_error *err)
{
    ykd_kd_config_default(config);
    parser p = {source ? source : "kd config", err};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, length, &end, false);
    if (!root) {
        int line = 1;
        for (const char *c = json; end && c < end && c < json + length; c++)
            line += *c == '\n';
        return ykd_fail(err, YKD_ERR_FORMAT, "%s:%d: not valid JSON", p.source, line);
    }
    ykd_status st = parse_root(&p, root, config);
    cJSON_Delete(root);
    if (st != YKD_OK)
        ykd_kd_config_default(config);
    return st;
}

ykd_status ykd_kd_config_load(const char *path, ykd_kd_config *config, ykd_error *err)
{
    ykd_kd_config_default(config);
    if (!path)
        return YKD_OK;
    void *text = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(path, KD_CONFIG_MAX_BYTES, &text, &size, err);
    if (st == YKD_OK)
        st = ykd_kd_config_parse(text, size, path, config, err);
    free(text);
    return st;
}

/* ---- writing ------------------------------------------------------------------------------- */

static void add_float(cJSON *obj, const char *key, float v)
{
    char text[32];
    ykd_float_text(v, text, sizeof text);
    cJSON_AddRawToObject(obj, key, text);
}

static cJSON *losses_json(const ykd_kd_config *c)
{
    cJSON *losses = cJSON_CreateObject();
    for (int k = 0; losses && k < YKD_KD_LOSS_COUNT; k++) {
        const ykd_kd_loss_config *l = &c->loss[k];
        cJSON *o = l->enabled ? cJSON_AddObjectToObject(losses, loss_names[k]) : NULL;
        if (!o)
            continue;
        add_float(o, "weight", l->weight);
        if (has_temperature((ykd_kd_loss_kind)k))
            add_float(o, "temperature", l->temperature);
        if (k == YKD_KD_IMITATION)
            cJSON_AddStringToObject(o, "mask", l->masked ? "assigned" : "all");
    }
    return losses;
}

char *ykd_kd_config_json(const ykd_kd_config *c)
{
    cJSON *root = cJSON_CreateObject();
    if (root)
        cJSON_AddItemToObject(root, "losses", losses_json(c));
    cJSON *features = root && ykd_kd_config_has_feature_loss(c)
                          ? cJSON_AddArrayToObject(root, "features")
                          : NULL;
    for (int i = 0; features && i < c->pair_count; i++) {
        cJSON *pair = cJSON_CreateObject();
        cJSON_AddStringToObject(pair, "student", c->pairs[i].student);
        cJSON_AddStringToObject(pair, "teacher", c->pairs[i].teacher);
        cJSON_AddItemToArray(features, pair);
    }
    cJSON *schedule = root ? cJSON_AddObjectToObject(root, "schedule") : NULL;
    if (schedule) {
        cJSON_AddStringToObject(schedule, "type",
                                c->schedule == YKD_KD_SCHEDULE_COSINE ? "cosine" : "constant");
        add_float(schedule, "final", c->final_fraction);
    }
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}
