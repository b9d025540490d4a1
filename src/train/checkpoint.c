/* Resumable state files (checkpoint.h): device buffers to safetensors and back, guarded by a
 * format tag, a version and a SHA-256 of the tensor data. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/sha256.h"
#include "train/checkpoint.h"

static const char KEY_FORMAT[] = "format";
static const char KEY_VERSION[] = "yolokd.state_version";
static const char KEY_SHA[] = "yolokd.sha256";

enum { BUILTIN_KEYS = 3, MAX_META = 32 };

static void free_hosts(float **hosts, int count)
{
    for (int i = 0; hosts && i < count; i++)
        free(hosts[i]);
    free(hosts);
}

/* Every tensor's floats, read from its buffer, and the digest of them all in order. */
static ykd_status read_tensors(const char *path, const ykd_state_tensor *tensors, int count,
                               float **hosts, char hex[2 * YKD_SHA256_SIZE + 1], ykd_error *err)
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
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
        ykd_sha256_update(&h, hosts[i], bytes);
    }
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
    return YKD_OK;
}

ykd_status ykd_state_write(const char *path, const ykd_state_tensor *tensors, int count,
                           const char *const *keys, const char *const *values, int meta_count,
                           ykd_error *err)
{
    if (meta_count < 0 || meta_count > MAX_META - BUILTIN_KEYS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "writing %s: %d metadata keys", path,
                        meta_count);
    float **hosts = calloc((size_t)(count > 0 ? count : 1), sizeof *hosts);
    ykd_st_entry *entries = calloc((size_t)(count > 0 ? count : 1), sizeof *entries);
    char hex[2 * YKD_SHA256_SIZE + 1];
    ykd_status st = hosts && entries ? read_tensors(path, tensors, count, hosts, hex, err)
                                     : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                                                "writing %s: out of host memory", path);
    for (int i = 0; i < count && st == YKD_OK; i++)
        entries[i] = (ykd_st_entry){tensors[i].name, YKD_ST_F32, 1,
                                    {(int64_t)tensors[i].floats}, hosts[i]};
    const char *all_keys[MAX_META] = {KEY_FORMAT, KEY_VERSION, KEY_SHA};
    const char *all_values[MAX_META] = {YKD_STATE_FORMAT, YKD_STATE_VERSION, hex};
    for (int i = 0; i < meta_count; i++) {
        all_keys[BUILTIN_KEYS + i] = keys[i];
        all_values[BUILTIN_KEYS + i] = values[i];
    }
    if (st == YKD_OK)
        st = ykd_st_write(path, entries, count, all_keys, all_values, BUILTIN_KEYS + meta_count,
                          err);
    free_hosts(hosts, count);
    free(entries);
    return st;
}

/* The digest of the file's data section (the tensors, in file order, without gaps). */
static void data_digest(const ykd_safetensors *st, char hex[2 * YKD_SHA256_SIZE + 1])
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, st->file + st->data_start, st->size - st->data_start);
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
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
    if (!version || strcmp(version, YKD_STATE_VERSION) != 0)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: training state version %s; this yolokd reads version %s", st->path,
                        version ? version : "(none)", YKD_STATE_VERSION);
    char hex[2 * YKD_SHA256_SIZE + 1];
    data_digest(st, hex);
    if (!sha || strcmp(sha, hex) != 0)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: the tensor data does not match the checksum the file was written "
                        "with (sha256 %.16s..., recorded %.16s...): the file is damaged",
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
