/* safetensors reading (every offset checked before use) and writing (atomic). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "core/half.h"
#include "model/safetensors.h"

/* What we accept: weight files of a few hundred MB; the header limit is the reference
 * implementation's. */
enum { HEADER_MAX = 100 << 20 };
static const size_t FILE_MAX = (size_t)16 << 30;

static const struct {
    const char *name;
    ykd_st_dtype dtype;
    size_t size;
} dtypes[] = {{"F32", YKD_ST_F32, 4},    {"F16", YKD_ST_F16, 2},   {"BF16", YKD_ST_BF16, 2},
              {"I64", YKD_ST_I64, 8},    {"F64", YKD_ST_OTHER, 8}, {"I32", YKD_ST_OTHER, 4},
              {"U32", YKD_ST_OTHER, 4},  {"I16", YKD_ST_OTHER, 2}, {"U16", YKD_ST_OTHER, 2},
              {"I8", YKD_ST_OTHER, 1},   {"U8", YKD_ST_OTHER, 1},  {"BOOL", YKD_ST_OTHER, 1},
              {"U64", YKD_ST_OTHER, 8},  {"F8_E4M3", YKD_ST_OTHER, 1},
              {"F8_E5M2", YKD_ST_OTHER, 1}};

static size_t dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].size;
    return 0;
}

static ykd_st_dtype dtype_of(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].dtype;
    return YKD_ST_OTHER;
}

static const char *dtype_name(ykd_st_dtype dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].name;
    return "?";
}

static bool whole_number(const cJSON *item, double max)
{
    double v = cJSON_GetNumberValue(item);
    return cJSON_IsNumber(item) && v >= 0 && v <= max && v == floor(v);
}

/* dtype, shape and data_offsets of one header entry. */
static ykd_status parse_entry(const ykd_safetensors *st, const cJSON *item, size_t data_size,
                              ykd_st_tensor *t, ykd_error *err)
{
    const char *path = st->path, *name = item->string;
    if (!cJSON_IsObject(item))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s: the header entry is not an object",
                        path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || !dtype_size(dtype->valuestring))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s: missing or unknown dtype%s%s",
                        path, name, cJSON_IsString(dtype) ? " " : "",
                        cJSON_IsString(dtype) ? dtype->valuestring : "");
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtype->valuestring);
    t->dtype = dtype_of(dtype->valuestring);
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > YKD_ST_MAX_DIMS)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s: shape is not a list of up to %d "
                                             "sizes",
                        path, name, YKD_ST_MAX_DIMS);
    t->ndim = cJSON_GetArraySize(shape);
    double numel = 1.0;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!whole_number(d, 1e12))
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s: shape[%d] is not a size", path,
                            name, i);
        t->shape[i] = (int64_t)cJSON_GetNumberValue(d);
        numel *= (double)t->shape[i];
    }
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !whole_number(cJSON_GetArrayItem(offsets, 0), 9e15) ||
        !whole_number(cJSON_GetArrayItem(offsets, 1), 9e15))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s: data_offsets is not [begin, end]",
                        path, name);
    double begin = cJSON_GetNumberValue(cJSON_GetArrayItem(offsets, 0));
    double end = cJSON_GetNumberValue(cJSON_GetArrayItem(offsets, 1));
    double needed = numel * (double)dtype_size(t->dtype_name);
    if (end < begin || end - begin != needed)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: tensor %s: data_offsets [%.0f, %.0f] hold %.0f bytes, but a %s "
                        "tensor of %.0f elements takes %.0f",
                        path, name, begin, end, end - begin, t->dtype_name, numel, needed);
    if (end > (double)data_size)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: tensor %s: data_offsets [%.0f, %.0f] run past the end of the data "
                        "(%zu bytes): the file is truncated or its header is wrong",
                        path, name, begin, end, data_size);
    t->begin = (size_t)begin;
    t->end = (size_t)end;
    t->numel = (size_t)numel;
    return YKD_OK;
}

static int by_begin(const void *a, const void *b)
{
    const ykd_st_tensor *x = *(ykd_st_tensor *const *)a, *y = *(ykd_st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(ykd_st_tensor *const *)a)->name, (*(ykd_st_tensor *const *)b)->name);
}

/* The data section must be exactly the tensors, back to back, each name once. */
static ykd_status check_layout(const ykd_safetensors *st, size_t data_size, ykd_error *err)
{
    ykd_st_tensor **sorted = malloc((size_t)(st->count ? st->count : 1) * sizeof *sorted);
    if (!sorted)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
    for (int i = 0; i < st->count; i++)
        sorted[i] = &st->tensors[i];
    ykd_status status = YKD_OK;
    qsort(sorted, (size_t)st->count, sizeof *sorted, by_name);
    for (int i = 1; i < st->count && status == YKD_OK; i++)
        if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0)
            status = ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s is listed twice", st->path,
                              sorted[i]->name);
    qsort(sorted, (size_t)st->count, sizeof *sorted, by_begin);
    size_t expected = 0;
    const char *previous = NULL;
    for (int i = 0; i < st->count && status == YKD_OK; i++) {
        const ykd_st_tensor *t = sorted[i];
        if (t->begin < expected)
            status = ykd_fail(err, YKD_ERR_FORMAT,
                              "%s: tensor %s (bytes %zu to %zu) overlaps tensor %s (ending at "
                              "%zu)",
                              st->path, t->name, t->begin, t->end, previous, expected);
        else if (t->begin > expected)
            status = ykd_fail(err, YKD_ERR_FORMAT,
                              "%s: tensor %s starts at byte %zu, leaving a gap after %s (ending "
                              "at %zu)",
                              st->path, t->name, t->begin, previous ? previous : "the header",
                              expected);
        expected = t->end;
        previous = t->name;
    }
    if (status == YKD_OK && expected != data_size)
        status = ykd_fail(err, YKD_ERR_FORMAT,
                          "%s: %zu bytes of data follow the last tensor (%s); the header does "
                          "not describe them",
                          st->path, data_size - expected, previous ? previous : "none");
    free(sorted);
    return status;
}

static ykd_status check_metadata(const ykd_safetensors *st, const cJSON *meta, ykd_error *err)
{
    if (!cJSON_IsObject(meta))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: __metadata__ is not an object", st->path);
    for (const cJSON *c = meta->child; c; c = c->next)
        if (!cJSON_IsString(c))
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: __metadata__ value \"%s\" is not a string",
                            st->path, c->string);
    return YKD_OK;
}

static ykd_status parse_header(ykd_safetensors *st, ykd_error *err)
{
    uint64_t length = 0;
    for (int i = 7; i >= 0; i--)
        length = length << 8 | st->file[i];
    if (length > st->size - 8)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: the header claims %llu bytes but the file has %zu after the length "
                        "(truncated?)",
                        st->path, (unsigned long long)length, st->size - 8);
    if (length > HEADER_MAX || length < 2 || st->file[8] != '{')
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: not a safetensors file (header of %llu bytes "
                                             "that does not start with '{')",
                        st->path, (unsigned long long)length);
    st->data_start = 8 + (size_t)length;
    cJSON *header = cJSON_ParseWithLength((const char *)st->file + 8, (size_t)length);
    st->header = header;
    if (!cJSON_IsObject(header))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: the header is not a JSON object", st->path);
    int entries = cJSON_GetArraySize(header);
    st->tensors = calloc((size_t)(entries ? entries : 1), sizeof *st->tensors);
    if (!st->tensors)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
    size_t data_size = st->size - st->data_start;
    ykd_status status = YKD_OK;
    for (const cJSON *c = header->child; c && status == YKD_OK; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            st->metadata = (void *)c;
            status = check_metadata(st, c, err);
            continue;
        }
        ykd_st_tensor *t = &st->tensors[st->count++];
        t->name = c->string;
        status = parse_entry(st, c, data_size, t, err);
    }
    return status == YKD_OK ? check_layout(st, data_size, err) : status;
}

ykd_status ykd_st_open(const char *path, ykd_safetensors *st, ykd_error *err)
{
    memset(st, 0, sizeof *st);
    st->path = strdup(path);
    if (!st->path)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    void *data = NULL;
    ykd_status status = ykd_file_read_all(path, FILE_MAX, &data, &st->size, err);
    st->file = data;
    if (status == YKD_OK && st->size < 8)
        status = ykd_fail(err, YKD_ERR_FORMAT,
                          "%s: truncated: %zu bytes, less than the 8-byte header length", path,
                          st->size);
    if (status == YKD_OK)
        status = parse_header(st, err);
    if (status != YKD_OK)
        ykd_st_close(st);
    return status;
}

void ykd_st_close(ykd_safetensors *st)
{
    cJSON_Delete(st->header);
    free(st->tensors);
    free(st->file);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const ykd_st_tensor *ykd_st_find(const ykd_safetensors *st, const char *name)
{
    for (int i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *ykd_st_metadata(const ykd_safetensors *st, const char *key)
{
    if (!st->metadata)
        return NULL;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive((const cJSON *)st->metadata, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Little-endian loads from unaligned bytes. */
static uint64_t load_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

ykd_status ykd_st_read_f32(const ykd_safetensors *st, const ykd_st_tensor *t, float *out,
                           ykd_error *err)
{
    const unsigned char *p = st->file + st->data_start + t->begin;
    for (size_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case YKD_ST_F32: {
            uint32_t bits = (uint32_t)load_le(p + 4 * i, 4);
            memcpy(&out[i], &bits, sizeof bits);
            break;
        }
        case YKD_ST_F16:
            out[i] = ykd_f16_to_f32((uint16_t)load_le(p + 2 * i, 2));
            break;
        case YKD_ST_BF16:
            out[i] = ykd_bf16_to_f32((uint16_t)load_le(p + 2 * i, 2));
            break;
        default:
            return ykd_fail(err, YKD_ERR_FORMAT,
                            "%s: tensor %s has dtype %s; F32, F16 or BF16 was expected",
                            st->path, t->name, t->dtype_name);
        }
    }
    return YKD_OK;
}

ykd_status ykd_st_read_i64(const ykd_safetensors *st, const ykd_st_tensor *t, int64_t *out,
                           ykd_error *err)
{
    if (t->dtype != YKD_ST_I64 || t->numel != 1)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: tensor %s should be one I64 value; it is %zu of %s", st->path,
                        t->name, t->numel, t->dtype_name);
    *out = (int64_t)load_le(st->file + st->data_start + t->begin, 8);
    return YKD_OK;
}

static size_t entry_bytes(const ykd_st_entry *e)
{
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++)
        numel *= (size_t)e->shape[d];
    return numel * (e->dtype == YKD_ST_I64 ? 8 : 4);
}

/* The header JSON for the entries and metadata, padded with spaces to a multiple of 8. */
static char *build_header(const ykd_st_entry *entries, int count, const char *const *meta_keys,
                          const char *const *meta_values, int meta_count, size_t *length)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && meta_count > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; ok && i < meta_count; i++)
            ok = meta && cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
    }
    size_t offset = 0;
    for (int i = 0; ok && i < count; i++) {
        const ykd_st_entry *e = &entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = t ? cJSON_AddArrayToObject(t, "shape") : NULL;
        cJSON *offsets = t ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
        ok = t && shape && offsets && cJSON_AddStringToObject(t, "dtype", dtype_name(e->dtype));
        for (int d = 0; ok && d < e->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        size_t bytes = entry_bytes(e);
        ok = ok && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return NULL;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *out = malloc(padded);
    if (out) {
        memcpy(out, text, n);
        memset(out + n, ' ', padded - n);
        *length = padded;
    }
    cJSON_free(text);
    return out;
}

ykd_status ykd_st_write(const char *path, const ykd_st_entry *entries, int count,
                        const char *const *meta_keys, const char *const *meta_values,
                        int meta_count, ykd_error *err)
{
    size_t length = 0;
    char *header = build_header(entries, count, meta_keys, meta_values, meta_count, &length);
    const void **parts = malloc((size_t)(count + 2) * sizeof *parts);
    size_t *sizes = malloc((size_t)(count + 2) * sizeof *sizes);
    ykd_status status = YKD_OK;
    if (!header || !parts || !sizes)
        status = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of memory", path);
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)((uint64_t)length >> (8 * i));
    if (status == YKD_OK) {
        parts[0] = prefix, sizes[0] = 8;
        parts[1] = header, sizes[1] = length;
        for (int i = 0; i < count; i++)
            parts[i + 2] = entries[i].data, sizes[i + 2] = entry_bytes(&entries[i]);
        status = ykd_file_write_atomic(path, parts, sizes, (size_t)count + 2, err);
    }
    free(header);
    free(parts);
    free(sizes);
    return status;
}
