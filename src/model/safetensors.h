/* The safetensors format: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and [begin, end) byte range in the data that follows, and an optional
 * "__metadata__" object of strings. Reading checks everything before any data is used;
 * writing goes to a temporary file renamed into place. */
#ifndef YKD_MODEL_SAFETENSORS_H
#define YKD_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "yolokd/status.h"

typedef enum ykd_st_dtype {
    YKD_ST_F32,
    YKD_ST_F16,
    YKD_ST_BF16,
    YKD_ST_I64,
    YKD_ST_OTHER /* a dtype of the format we do not convert (F64, I32, U8, BOOL, ...) */
} ykd_st_dtype;

enum { YKD_ST_MAX_DIMS = 8 };

typedef struct ykd_st_tensor {
    char *name;
    ykd_st_dtype dtype;
    char dtype_name[16];
    int ndim;
    int64_t shape[YKD_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end; /* bytes into the data section */
} ykd_st_tensor;

typedef struct ykd_safetensors {
    char *path;
    unsigned char *file;
    size_t size;
    size_t data_start;   /* 8 + header length */
    ykd_st_tensor *tensors;
    int count;
    void *metadata;      /* the __metadata__ object (cJSON), or NULL */
    void *header;        /* the parsed header (cJSON) */
} ykd_safetensors;

/* Reads and validates a whole file: lengths, JSON, dtypes, shapes, offsets within the data,
 * sizes equal to shape x dtype, tensors neither overlapping nor leaving gaps (as the format
 * requires), no name twice. Errors name the file and the tensor. */
ykd_status ykd_st_open(const char *path, ykd_safetensors *st, ykd_error *err);
void ykd_st_close(ykd_safetensors *st);

const ykd_st_tensor *ykd_st_find(const ykd_safetensors *st, const char *name);

/* A __metadata__ string, or NULL. */
const char *ykd_st_metadata(const ykd_safetensors *st, const char *key);

/* A floating tensor's elements as float32 (F16 and BF16 widened exactly). */
ykd_status ykd_st_read_f32(const ykd_safetensors *st, const ykd_st_tensor *t, float *out,
                           ykd_error *err);

/* An I64 tensor's first element. */
ykd_status ykd_st_read_i64(const ykd_safetensors *st, const ykd_st_tensor *t, int64_t *out,
                           ykd_error *err);

typedef struct ykd_st_entry {
    const char *name;
    ykd_st_dtype dtype; /* F32 or I64 */
    int ndim;
    int64_t shape[YKD_ST_MAX_DIMS];
    const void *data;   /* numel x dtype size bytes, little-endian */
} ykd_st_entry;

/* Writes the entries in order, with metadata key/value strings (count pairs), padding the
 * header with spaces to a multiple of 8 bytes so the data is aligned. */
ykd_status ykd_st_write(const char *path, const ykd_st_entry *entries, int count,
                        const char *const *meta_keys, const char *const *meta_values,
                        int meta_count, ykd_error *err);

#endif
