/* Resumable state files (checkpoint.h): device buffers to safetensors and back, guarded by a
 * format tag, a version and a SHA-256 of the whole file: the tensor data, each tensor's name and
 * place, and every metadata pair (options, progress, history) but the checksum itself. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/sha256.h"
#include "train/checkpoint.h"

static const char KEY_FORMAT[] = "format";
static const char KEY_VERSION[] = "yolokd.state_version";
static const char KEY_SHA[] = "yolokd.sha256";

/* Version 1 covered the tensor data only; it is still read, with that check. */
static const char VERSION_DATA_ONLY[] = "1";

enum { BUILTIN_KEYS = 3, MAX_META = 32 };

/* A tensor's place in the data section, for the digest. */
typedef struct tensor_place {
    const char *name;
    size_t begin, end;
} tensor_place;

static void update_number(ykd_sha256 *h, size_t v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%zu", v);
    ykd_sha256_update_field(h, text, (size_t)n);
}

/* Finishes a digest begun with the data section: the tensors' names and places (in data
 * order), then the metadata pairs sorted by key, KEY_SHA left out. */
static ykd_status finish_digest(ykd_sha256 *h, const tensor_place *places, int place_count,
                                const char **keys, const char **values, int meta_count,
                                char hex[2 * YKD_SHA256_SIZE + 1])
{
    int *order = malloc((size_t)(meta_count > 0 ? meta_count : 1) * sizeof *order);
    if (!order)
        return YKD_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < meta_count; i++) { /* insertion sort: a few dozen keys */
        int j = i;
        for (; j > 0 && strcmp(keys[order[j - 1]], keys[i]) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (int i = 0; i < place_count; i++) {
        ykd_sha256_update_field(h, places[i].name, strlen(places[i].name));
        update_number(h, places[i].begin);
        update_number(h, places[i].end);
    }
    for (int i = 0; i < meta_count; i++) {
        if (strcmp(keys[order[i]], KEY_SHA) == 0)
            continue;
        ykd_sha256_update_field(h, keys[order[i]], strlen(keys[order[i]]));
        ykd_sha256_update_field(h, values[order[i]], strlen(values[order[i]]));
    }
    free(order);
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_final(h, digest);
    ykd_sha256_hex(digest, hex);
    return YKD_OK;
}

static void free_hosts(float **hosts, int count)
{
    for (int i = 0; hosts && i < count; i++)
        free(hosts[i]);
    free(hosts);
}

/* Every tensor's floats, read from its buffer, and the digest of them all in order. */
static ykd_status read_tensors(const char *path, const ykd_state_tensor *tensors, int count,
                               float **hosts, ykd_sha256 *h, tensor_place *places, ykd_error *err)
{
    size_t at = 0;
    for (int i = 0; i < count; i++) {
        size_t bytes = tensors[i].floats * sizeof(float);
        hosts[i] = malloc(bytes ? bytes : 1);
        if (!hosts[i])
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
        ykd_status st = bytes ? ykd_buffer_read(tensors[i].buffer,
                                                tensors[i].offset * sizeof(float), hosts[i],
                                                bytes, err)
                              : YKD_OK;
        if (st != YKD_OK) {
            ykd_error_prefix(err, "writing %s: tensor %s", path, tensors[i].name);
            return st;
        }
        ykd_sha256_update(h, hosts[i], bytes);
        places[i] = (tensor_place){tensors[i].name, at, at + bytes};
        at += bytes;
    }
    return YKD_OK;
}

ykd_status ykd_state_write(const char *path, const ykd_state_tensor *tensors, int count,
                           const char *const *keys, const char *const *values, int meta_count,
                           ykd_error *err)
{
    if (meta_count < 0 || meta_count > MAX_META - BUILTIN_KEYS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "writing %s: %d metadata keys", path,
                        meta_count);
    size_t slots = (size_t)(count > 0 ? count : 1);
    float **hosts = calloc(slots, sizeof *hosts);
    ykd_st_entry *entries = calloc(slots, sizeof *entries);
    tensor_place *places = calloc(slots, sizeof *places);
    char hex[2 * YKD_SHA256_SIZE + 1] = "";
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_status st = hosts && entries && places
                        ? read_tensors(path, tensors, count, hosts, &h, places, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of host memory",
                                   path);
    for (int i = 0; i < count && st == YKD_OK; i++)
        entries[i] = (ykd_st_entry){tensors[i].name, YKD_ST_F32, 1,
                                    {(int64_t)tensors[i].floats}, hosts[i]};
    const char *all_keys[MAX_META] = {KEY_FORMAT, KEY_VERSION, KEY_SHA};
    const char *all_values[MAX_META] = {YKD_STATE_FORMAT, YKD_STATE_VERSION, hex};
    for (int i = 0; i < meta_count; i++) {
        all_keys[BUILTIN_KEYS + i] = keys[i];
        all_values[BUILTIN_KEYS + i] = values[i];
    }
    if (st == YKD_OK && finish_digest(&h, places, count, all_keys, all_values,
                                      BUILTIN_KEYS + meta_count, hex) != YKD_OK)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    if (st == YKD_OK)
        st = ykd_st_write(path, entries, count, all_keys, all_values, BUILTIN_KEYS + meta_count,
                          err);
    free_hosts(hosts, count);
    free(entries);
    free(places);
    return st;
}

/* The digest of what the file holds, as version (1: the data section only; else everything
 * finish_digest covers). */
static ykd_status file_digest(const ykd_safetensors *st, const char *version,
                              char hex[2 * YKD_SHA256_SIZE + 1])
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, st->file + st->data_start, st->size - st->data_start);
    if (strcmp(version, VERSION_DATA_ONLY) == 0) {
        uint8_t digest[YKD_SHA256_SIZE];
        ykd_sha256_final(&h, digest);
        ykd_sha256_hex(digest, hex);
        return YKD_OK;
    }
    int meta_count = cJSON_GetArraySize((const cJSON *)st->metadata);
    size_t slots = (size_t)(meta_count > st->count ? meta_count : st->count) + 1;
    tensor_place *places = calloc(slots, sizeof *places);
    const char **keys = calloc(slots, sizeof *keys), **values = calloc(slots, sizeof *values);
    ykd_status status = places && keys && values ? YKD_OK : YKD_ERR_OUT_OF_MEMORY;
    int n = 0;
    for (const cJSON *c = st->metadata ? ((const cJSON *)st->metadata)->child : NULL;
         c && status == YKD_OK; c = c->next, n++)
        keys[n] = c->string, values[n] = c->valuestring; /* strings: checked when opened */
    for (int i = 0; i < st->count && status == YKD_OK; i++) { /* in data order */
        int j = i;
        for (; j > 0 && places[j - 1].begin > st->tensors[i].begin; j--)
            places[j] = places[j - 1];
        places[j] = (tensor_place){st->tensors[i].name, st->tensors[i].begin,
                                   st->tensors[i].end};
    }
    if (status == YKD_OK)
        status = finish_digest(&h, places, st->count, keys, values, n, hex);
    free(places);
    free(keys);
    free(values);
    return status;
}

static ykd_status check_file(const ykd_safetensors *st, ykd_error *err)
{
    const char *format = ykd_st_metadata(st, KEY_FORMAT);
    const char *version = ykd_st_metadata(st, KEY_VERSION);
    const char *sha = ykd_st_metadata(st, KEY_SHA);
    if (!format || strcmp(format, YKD_STATE_FORMAT) != 0)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: not a yolokd training state (its __metadata__ \"%s\" is %s%s%s, "
                        "not \"%s\"); a run's state is RUN/last.state.safetensors",
                        st->path, KEY_FORMAT, format ? "\"" : "", format ? format : "absent",
                        format ? "\"" : "", YKD_STATE_FORMAT);
    if (!version ||
        (strcmp(version, YKD_STATE_VERSION) != 0 && strcmp(version, VERSION_DATA_ONLY) != 0))
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: training state version %s; this yolokd reads version %s (and %s)",
                        st->path, version ? version : "(none)", YKD_STATE_VERSION,
                        VERSION_DATA_ONLY);
    char hex[2 * YKD_SHA256_SIZE + 1];
    if (file_digest(st, version, hex) != YKD_OK)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", st->path);
    if (!sha || strcmp(sha, hex) != 0)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: the file does not match the checksum it was written with (sha256 "
                        "%.16s..., recorded %.16s...): the file is damaged or was edited (a run's "
                        "state is not to be changed by hand)",
                        st->path, hex, sha ? sha : "(none)");
    return YKD_OK;
}

ykd_status ykd_state_open(const char *path, ykd_state_file *file, ykd_error *err)
{
    memset(file, 0, sizeof *file);
    ykd_status st = ykd_st_open(path, &file->st, err);
    if (st != YKD_OK)
        return st;
    st = check_file(&file->st, err);
    if (st != YKD_OK)
        ykd_st_close(&file->st);
    return st;
}

void ykd_state_close(ykd_state_file *file)
{
    if (file->st.file || file->st.tensors)
        ykd_st_close(&file->st);
    memset(file, 0, sizeof *file);
}

const char *ykd_state_meta(const ykd_state_file *file, const char *key)
{
    return ykd_st_metadata(&file->st, key);
}

ykd_status ykd_state_meta_required(const ykd_state_file *file, const char *key,
                                   const char **value, ykd_error *err)
{
    *value = ykd_st_metadata(&file->st, key);
    if (!*value)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: __metadata__ \"%s\" is missing",
                        file->st.path, key);
    return YKD_OK;
}

ykd_status ykd_state_read(const ykd_state_file *file, const char *name, ykd_buffer *buffer,
                          size_t offset, size_t floats, ykd_error *err)
{
    const ykd_st_tensor *t = ykd_st_find(&file->st, name);
    if (!t)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s is missing", file->st.path, name);
    if (t->dtype != YKD_ST_F32 || t->numel != floats)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: tensor %s holds %zu %s values; this run needs %zu F32 values",
                        file->st.path, name, t->numel, t->dtype_name, floats);
    if (floats == 0)
        return YKD_OK;
    return ykd_buffer_write(buffer, offset * sizeof(float), file->st.file + file->st.data_start +
                                                                t->begin,
                            floats * sizeof(float), err);
}
