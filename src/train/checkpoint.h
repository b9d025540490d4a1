/* Resumable state files: safetensors whose tensors are copied from device buffers and whose
 * __metadata__ carries a format tag, a version and the SHA-256 of the tensor data, so a
 * damaged or foreign file is refused before anything is restored from it. Written to a
 * temporary name and renamed, as every file we write. */
#ifndef YKD_TRAIN_CHECKPOINT_H
#define YKD_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"
#include "yolokd/device.h"
#include "yolokd/status.h"

#define YKD_STATE_FORMAT "yolokd-train-state"
#define YKD_STATE_VERSION "2"

/* A range of floats of a device buffer, stored as a 1-D F32 tensor. */
typedef struct ykd_state_tensor {
    const char *name;
    ykd_buffer *buffer;
    size_t offset; /* floats */
    size_t floats;
} ykd_state_tensor;

/* Writes the tensors (read back from their buffers) and the metadata pairs, adding the
 * format, version and checksum keys. */
ykd_status ykd_state_write(const char *path, const ykd_state_tensor *tensors, int count,
                           const char *const *keys, const char *const *values, int meta_count,
                           ykd_error *err);

typedef struct ykd_state_file {
    ykd_safetensors st;
} ykd_state_file;

/* Opens and checks a state file: safetensors structure, format tag, version, checksum. */
ykd_status ykd_state_open(const char *path, ykd_state_file *file, ykd_error *err);
void ykd_state_close(ykd_state_file *file);

/* A metadata string; NULL when absent. */
const char *ykd_state_meta(const ykd_state_file *file, const char *key);

/* A metadata string that must be there: fails naming the file and the key. */
ykd_status ykd_state_meta_required(const ykd_state_file *file, const char *key,
                                   const char **value, ykd_error *err);

/* Copies tensor name (exactly floats F32 values) into buffer at offset (floats); fails
 * naming the file and the tensor when it is missing or of another size. */
ykd_status ykd_state_read(const ykd_state_file *file, const char *name, ykd_buffer *buffer,
                          size_t offset, size_t floats, ykd_error *err);

#endif
