/* The teacher cache's cache.json: what the cache was made for, checked against the run that
 * opens it, and the teacher's facts for a run without the teacher. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "train/teacher_cache_internal.h"
#include "train/train_internal.h"

enum { MANIFEST_MAX_BYTES = 1 << 20, HEX_SIZE = 2 * YKD_SHA256_SIZE + 1 };

static const char *const FORMAT = "yolokd teacher cache";
static const int VERSION = 1;

/* The training options that decide the batches, by their names in the run's args.json. */
static const char *const batch_fields[] = {
    "epochs",  "batch",      "imgsz",      "seed",     "close_mosaic", "augment",
    "aug_hsv_h", "aug_hsv_s", "aug_hsv_v", "aug_flip_lr", "aug_scale", "aug_translate",
    "aug_mosaic",
};
enum { BATCH_FIELD_COUNT = sizeof batch_fields / sizeof batch_fields[0] };

static void manifest_path(const ykd_teacher_cache *c, char *path, size_t size)
{
    snprintf(path, size, "%s/cache.json", c->dir);
}

/* ---- what the run is ------------------------------------------------------------------- */

static void hash_u32(ykd_sha256 *h, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ykd_sha256_update(h, b, sizeof b);
}

static void hash_float(ykd_sha256 *h, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    hash_u32(h, bits);
}

/* The training split's identity: each usable image's file name and labels, in order (the
 * images' pixels are checked batch by batch). */
static void dataset_sha256(const ykd_dataset *d, char hex[HEX_SIZE])
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
    size_t count = ykd_dataset_count(d);
    hash_u32(&h, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        const char *path = ykd_dataset_image_path(d, i);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        ykd_sha256_update_field(&h, base, strlen(base));
        size_t boxes = 0;
        const ykd_box *b = ykd_dataset_labels(d, i, &boxes);
        hash_u32(&h, (uint32_t)boxes);
        for (size_t k = 0; k < boxes; k++) {
            hash_u32(&h, (uint32_t)b[k].cls);
            hash_float(&h, b[k].cx), hash_float(&h, b[k].cy);
            hash_float(&h, b[k].w), hash_float(&h, b[k].h);
        }
    }
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
}

static cJSON *batches_json(const ykd_teacher_cache_run *run)
{
    char *text = ykd_train_options_json(run->options);
    cJSON *all = text ? cJSON_Parse(text) : NULL;
    free(text);
    cJSON *out = cJSON_CreateObject();
    for (int i = 0; all && out && i < BATCH_FIELD_COUNT; i++) {
        cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(all, batch_fields[i]);
        if (item)
            cJSON_AddItemToObject(out, batch_fields[i], item);
    }
    if (out)
        cJSON_AddNumberToObject(out, "batches_per_epoch", (double)run->batches_per_epoch);
    cJSON_Delete(all);
    return out;
}

static cJSON *teacher_json(const ykd_teacher_facts *f, const char *sha)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "file", f->source);
    cJSON_AddStringToObject(t, "sha256", sha);
    cJSON *classes = cJSON_AddArrayToObject(t, "classes");
    for (int c = 0; c < f->classes; c++)
        cJSON_AddItemToArray(classes, f->class_names[c] ? cJSON_CreateString(f->class_names[c])
                                                        : cJSON_CreateNull());
    cJSON *strides = cJSON_AddArrayToObject(t, "strides");
    for (int l = 0; l < f->levels; l++)
        cJSON_AddItemToArray(strides, cJSON_CreateNumber(f->strides[l]));
    cJSON *tensors = cJSON_AddArrayToObject(t, "tensors");
    for (size_t i = 0; i < f->shape_count; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", f->shapes[i].name);
        cJSON_AddNumberToObject(s, "channels", f->shapes[i].channels);
        cJSON_AddNumberToObject(s, "stride", f->shapes[i].stride);
        cJSON_AddItemToArray(tensors, s);
    }
    return t;
}

/* The manifest of a new cache for run (its "stored" list is added by bind). */
static ykd_status new_manifest(const ykd_teacher_cache_run *run, const char *teacher_sha,
                               const char *dataset_sha, cJSON **out, ykd_error *err)
{
    cJSON *m = cJSON_CreateObject();
    if (m) {
        cJSON_AddStringToObject(m, "format", FORMAT);
        cJSON_AddNumberToObject(m, "version", VERSION);
        cJSON_AddItemToObject(m, "teacher", teacher_json(run->teacher, teacher_sha));
        cJSON *d = cJSON_AddObjectToObject(m, "dataset");
        cJSON_AddStringToObject(d, "root", run->options->data);
        cJSON_AddNumberToObject(d, "images", (double)ykd_dataset_count(run->train));
        cJSON_AddStringToObject(d, "sha256", dataset_sha);
        cJSON_AddItemToObject(m, "batches", batches_json(run));
        cJSON_AddStringToObject(m, "storage", "fp16");
    }
    *out = m;
    return m ? YKD_OK : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
}

/* ---- reading cache.json ---------------------------------------------------------------- */

static ykd_status bad_manifest(const ykd_teacher_cache *c, const char *what, ykd_error *err)
{
    return ykd_fail(err, YKD_ERR_FORMAT,
                    "teacher cache %s: cache.json %s; delete the folder to make the cache anew",
                    c->dir, what);
}

static const char *string_at(const cJSON *o, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool int_at(const cJSON *o, const char *key, int lo, int hi, int *v)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(item) || item->valuedouble < lo || item->valuedouble > hi ||
        item->valuedouble != (int)item->valuedouble)
        return false;
    *v = (int)item->valuedouble;
    return true;
}

static ykd_status read_classes(ykd_teacher_cache *c, const cJSON *classes, ykd_error *err)
{
    int n = cJSON_GetArraySize(classes);
    if (!cJSON_IsArray(classes) || n < 1 || n > YKD_MODEL_MAX_CLASSES)
        return bad_manifest(c, "has no teacher.classes list", err);
    c->class_names = calloc((size_t)n, sizeof *c->class_names);
    c->facts.class_names = calloc((size_t)n, sizeof *c->facts.class_names);
    if (!c->class_names || !c->facts.class_names)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
    c->facts.classes = n;
    for (int i = 0; i < n; i++) {
        const cJSON *item = cJSON_GetArrayItem(classes, i);
        if (cJSON_IsNull(item))
            continue;
        if (!cJSON_IsString(item))
            return bad_manifest(c, "has a class name that is not a string", err);
        c->class_names[i] = strdup(item->valuestring);
        if (!c->class_names[i])
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
        c->facts.class_names[i] = c->class_names[i];
    }
    return YKD_OK;
}

static ykd_status read_levels(ykd_teacher_cache *c, const cJSON *teacher, ykd_error *err)
{
    const cJSON *strides = cJSON_GetObjectItemCaseSensitive(teacher, "strides");
    int n = cJSON_GetArraySize(strides);
    if (!cJSON_IsArray(strides) || n < 1 || n > YKD_MODEL_MAX_LEVELS)
        return bad_manifest(c, "has no teacher.strides list", err);
    c->facts.levels = n;
    for (int l = 0; l < n; l++) {
        const cJSON *s = cJSON_GetArrayItem(strides, l);
        if (!cJSON_IsNumber(s) || s->valuedouble < 1 || s->valuedouble > 4096)
            return bad_manifest(c, "has a stride that is not a number from 1 to 4096", err);
        c->facts.strides[l] = (int)s->valuedouble;
    }
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(teacher, "tensors"), *t;
    if (!cJSON_IsArray(tensors) || cJSON_GetArraySize(tensors) > YKD_TEACHER_MAX_SHAPES)
        return bad_manifest(c, "has no teacher.tensors list", err);
    cJSON_ArrayForEach(t, tensors) {
        ykd_kd_shape *s = &c->facts.shapes[c->facts.shape_count++];
        const char *name = string_at(t, "name");
        if (!name || strlen(name) >= sizeof s->name || !int_at(t, "channels", 1, 1 << 20, &s->channels) ||
            !int_at(t, "stride", 1, 4096, &s->stride))
            return bad_manifest(c, "has a tensor without a name, channels or stride", err);
        snprintf(s->name, sizeof s->name, "%s", name);
    }
    return YKD_OK;
}

static ykd_status read_facts(ykd_teacher_cache *c, ykd_error *err)
{
    const cJSON *teacher = cJSON_GetObjectItemCaseSensitive(c->manifest, "teacher");
    c->facts.source = string_at(teacher, "file");
    if (!c->facts.source || !string_at(teacher, "sha256"))
        return bad_manifest(c, "names no teacher file and SHA-256", err);
    ykd_status st = read_classes(c, cJSON_GetObjectItemCaseSensitive(teacher, "classes"), err);
    return st == YKD_OK ? read_levels(c, teacher, err) : st;
}

static ykd_status load_manifest(ykd_teacher_cache *c, ykd_error *err)
{
    char path[4200];
    manifest_path(c, path, sizeof path);
    void *data = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(path, MANIFEST_MAX_BYTES, &data, &size, err);
    if (st != YKD_OK)
        return st;
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, data, size);
    ykd_sha256_final(&h, c->manifest_sha);
    c->manifest = cJSON_ParseWithLength(data, size);
    free(data);
    const char *format = string_at(c->manifest, "format");
    int version = 0;
    if (!format || strcmp(format, FORMAT) != 0)
        return bad_manifest(c, "is not a yolokd teacher cache's", err);
    if (!int_at(c->manifest, "version", 1, 1000000, &version) || version != VERSION)
        return bad_manifest(c, "is of another version of the format", err);
    c->manifest_on_disk = true;
    return read_facts(c, err);
}

/* ---- is it the run's cache? ------------------------------------------------------------ */

static ykd_status check_teacher(const ykd_teacher_cache *c, const ykd_teacher_cache_run *run,
                                const char *sha, ykd_error *err)
{
    const cJSON *teacher = cJSON_GetObjectItemCaseSensitive(c->manifest, "teacher");
    const char *made_sha = string_at(teacher, "sha256");
    if (strcmp(made_sha, sha) == 0)
        return YKD_OK;
    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                    "teacher cache %s was made for teacher %s (SHA-256 %.16s...), not for %s "
                    "(SHA-256 %.16s...): use another folder for this teacher, or delete this one",
                    c->dir, c->facts.source, made_sha, run->teacher_path, sha);
}

static ykd_status check_dataset(const ykd_teacher_cache *c, const ykd_teacher_cache_run *run,
                                const char *sha, ykd_error *err)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c->manifest, "dataset");
    const char *made_sha = string_at(d, "sha256"), *root = string_at(d, "root");
    int images = 0;
    if (!made_sha || !root || !int_at(d, "images", 0, 2000000000, &images))
        return bad_manifest(c, "does not describe its dataset", err);
    if (strcmp(made_sha, sha) == 0)
        return YKD_OK;
    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                    "teacher cache %s was made for another training set (%d images in %s, "
                    "SHA-256 %.16s...) than this run's (%zu images in %s, SHA-256 %.16s...): "
                    "use another folder, or delete this one",
                    c->dir, images, root, made_sha, ykd_dataset_count(run->train),
                    run->options->data, sha);
}

/* A seed as its JSON holds it: a number, or (caches made before seeds were numbers) a string
 * of digits. */
static bool seed_of(const cJSON *item, unsigned long long *seed)
{
    if (cJSON_IsNumber(item) && item->valuedouble >= 0) {
        *seed = (unsigned long long)item->valuedouble;
        return true;
    }
    char *end = NULL;
    if (!cJSON_IsString(item) || !item->valuestring[0])
        return false;
    *seed = strtoull(item->valuestring, &end, 10);
    return *end == '\0';
}

/* Whether two values of a batch field are the same option: seeds as numbers or strings; the
 * augmentations as the floats they are (caches made before floats were written at their own
 * precision hold 0.014999999664723873 for 0.015f). */
static bool same_field(const char *name, const cJSON *was, const cJSON *now)
{
    unsigned long long a, b;
    if (strcmp(name, "seed") == 0)
        return seed_of(was, &a) && seed_of(now, &b) && a == b;
    if (strncmp(name, "aug_", 4) == 0 && cJSON_IsNumber(was) && cJSON_IsNumber(now))
        return (float)was->valuedouble == (float)now->valuedouble;
    return cJSON_Compare(was, now, true);
}

static ykd_status check_batches(ykd_teacher_cache *c, const ykd_teacher_cache_run *run,
                                ykd_error *err)
{
    const cJSON *made = cJSON_GetObjectItemCaseSensitive(c->manifest, "batches");
    cJSON *now = batches_json(run);
    ykd_status st = YKD_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, now) {
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(made, item->string);
        if (was && same_field(item->string, was, item))
            continue;
        char *a = was ? cJSON_PrintUnformatted(was) : NULL, *b = cJSON_PrintUnformatted(item);
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "teacher cache %s was made for a run with %s %s, not %s: its batches are "
                      "not this run's; use another folder, or delete this one",
                      c->dir, item->string, a ? a : "(unset)", b ? b : "?");
        free(a), free(b);
        break;
    }
    if (st == YKD_OK && !cJSON_IsObject(made))
        st = bad_manifest(c, "does not describe its batches", err);
    cJSON_Delete(now);
    return st;
}

/* ---- opening ----------------------------------------------------------------------------- */

static ykd_status check_or_start(ykd_teacher_cache *c, const ykd_teacher_cache_run *run,
                                 ykd_error *err)
{
    char teacher_sha[HEX_SIZE] = "", dataset_sha[HEX_SIZE];
    ykd_status st = YKD_OK;
    if (run->teacher_path)
        st = ykd_sha256_file(run->teacher_path, teacher_sha, err);
    dataset_sha256(run->train, dataset_sha);
    char path[4200];
    manifest_path(c, path, sizeof path);
    struct stat sb;
    if (st == YKD_OK && stat(path, &sb) != 0) {
        if (!run->teacher_path)
            return ykd_fail(err, YKD_ERR_NOT_FOUND,
                            "teacher cache %s holds no cache (no cache.json): give --teacher to "
                            "make one",
                            c->dir);
        st = ykd_mkdir_p(c->dir, err);
        if (st == YKD_OK)
            st = new_manifest(run, teacher_sha, dataset_sha, &c->manifest, err);
        return st == YKD_OK ? read_facts(c, err) : st; /* owned copies of run->teacher's */
    }
    if (st == YKD_OK)
        st = load_manifest(c, err);
    if (st == YKD_OK && run->teacher_path)
        st = check_teacher(c, run, teacher_sha, err);
    if (st == YKD_OK)
        st = check_dataset(c, run, dataset_sha, err);
    if (st == YKD_OK)
        st = check_batches(c, run, err);
    return st;
}

/* The stored tensors: names point into the manifest; their sizes per image from the facts. */
static ykd_status set_stored(ykd_teacher_cache *c, ykd_error *err)
{
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(c->manifest, "stored"), *item;
    if (!cJSON_IsArray(stored) || cJSON_GetArraySize(stored) > YKD_TEACHER_MAX_SHAPES)
        return bad_manifest(c, "has no list of stored tensors", err);
    c->stored_count = 0, c->image_elements = 0;
    cJSON_ArrayForEach(item, stored) {
        const ykd_kd_shape *s = cJSON_IsString(item)
                                    ? ykd_teacher_facts_shape(&c->facts, item->valuestring)
                                    : NULL;
        if (!s || c->imgsz % s->stride != 0)
            return bad_manifest(c, "stores a tensor the teacher does not have", err);
        size_t side = (size_t)(c->imgsz / s->stride);
        c->elements[c->stored_count] = (size_t)s->channels * side * side;
        c->image_elements += c->elements[c->stored_count];
        c->stored[c->stored_count++] = item->valuestring;
    }
    return YKD_OK;
}

ykd_status ykd_teacher_cache_open(const ykd_teacher_cache_run *run, ykd_teacher_cache **out,
                                  ykd_error *err)
{
    *out = NULL;
    ykd_teacher_cache *c = calloc(1, sizeof *c);
    if (!c)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
    snprintf(c->dir, sizeof c->dir, "%s", run->dir);
    c->recording_epoch = -1;
    c->batch = run->options->batch, c->imgsz = run->options->imgsz;
    c->epochs = run->options->epochs;
    c->batches_per_epoch = run->batches_per_epoch;
    c->held = calloc((size_t)(c->epochs > 0 ? c->epochs : 1), sizeof *c->held);
    ykd_status st = c->held ? check_or_start(c, run, err)
                            : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
    if (st == YKD_OK && c->manifest_on_disk)
        st = set_stored(c, err);
    if (st == YKD_OK && c->manifest_on_disk)
        st = ykd_teacher_cache_scan_epochs(c, err);
    if (st != YKD_OK) {
        ykd_teacher_cache_close(c);
        return st;
    }
    *out = c;
    return YKD_OK;
}

void ykd_teacher_cache_close(ykd_teacher_cache *c)
{
    if (!c)
        return;
    ykd_teacher_cache_drop_recording(c);
    for (int i = 0; c->class_names && i < c->facts.classes; i++)
        free(c->class_names[i]);
    free(c->class_names);
    free(c->facts.class_names);
    cJSON_Delete(c->manifest);
    free(c->held);
    free(c->halves);
    free(c);
}

const char *ykd_teacher_cache_teacher_sha256(const ykd_teacher_cache *c)
{
    return string_at(cJSON_GetObjectItemCaseSensitive(c->manifest, "teacher"), "sha256");
}

const ykd_teacher_facts *ykd_teacher_cache_facts(const ykd_teacher_cache *c)
{
    return &c->facts;
}

bool ykd_teacher_cache_holds(const ykd_teacher_cache *c, int epoch)
{
    return epoch >= 0 && epoch < c->epochs && c->held[epoch];
}

int ykd_teacher_cache_missing_epoch(const ykd_teacher_cache *c, int first, int last)
{
    for (int e = first; e < last; e++)
        if (!ykd_teacher_cache_holds(c, e))
            return e;
    return -1;
}

/* ---- binding the run's tensors ----------------------------------------------------------- */

static bool listed(const cJSON *list, const char *name)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
        if (cJSON_IsString(item) && strcmp(item->valuestring, name) == 0)
            return true;
    return false;
}

/* A new cache stores what the run hands over and every level's p, box and cls. */
static ykd_status write_new_manifest(ykd_teacher_cache *c, const char *const *names,
                                     size_t count, ykd_error *err)
{
    static const char *const kinds[] = {"p", "box", "cls"};
    cJSON *stored = cJSON_AddArrayToObject(c->manifest, "stored");
    for (size_t i = 0; stored && i < count; i++)
        if (!listed(stored, names[i]))
            cJSON_AddItemToArray(stored, cJSON_CreateString(names[i]));
    for (size_t k = 0; stored && k < 3; k++)
        for (size_t i = 0; i < c->facts.shape_count; i++) {
            const char *name = c->facts.shapes[i].name;
            size_t n = strlen(kinds[k]);
            if (strncmp(name, kinds[k], n) == 0 && name[n] >= '0' && name[n] <= '9' &&
                !listed(stored, name))
                cJSON_AddItemToArray(stored, cJSON_CreateString(name));
        }
    char *text = stored ? cJSON_Print(c->manifest) : NULL;
    if (!text)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
    size_t size = strlen(text);
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, text, size);
    ykd_sha256_final(&h, c->manifest_sha);
    char path[4200];
    manifest_path(c, path, sizeof path);
    const void *parts[] = {text};
    ykd_status st = ykd_file_write_atomic(path, parts, &size, 1, err);
    free(text);
    c->manifest_on_disk = st == YKD_OK;
    return st;
}

ykd_status ykd_teacher_cache_bind(ykd_teacher_cache *c, const char *const *names, size_t count,
                                  const char *const **stored, size_t *stored_count,
                                  ykd_error *err)
{
    ykd_status st = YKD_OK;
    if (!c->manifest_on_disk) {
        st = write_new_manifest(c, names, count, err);
        if (st == YKD_OK)
            st = set_stored(c, err);
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(c->manifest, "stored");
    for (size_t i = 0; i < count && st == YKD_OK; i++)
        if (!listed(list, names[i]))
            st = ykd_fail(err, YKD_ERR_NOT_FOUND,
                          "teacher cache %s does not hold the teacher's '%s', which the KD "
                          "config needs: use another folder for this config",
                          c->dir, names[i]);
    if (st == YKD_OK) {
        free(c->halves);
        c->halves = malloc((size_t)c->batch * c->image_elements * sizeof *c->halves);
        if (!c->halves)
            st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "teacher cache: out of memory");
    }
    *stored = c->stored;
    *stored_count = c->stored_count;
    return st;
}
