/* Safetensors files: opened and validated, every tensor read, and the model description the
 * file carries (or the built-in scale its tensors match) read as a model file's loader does. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "model/safetensors.h"
#include "model/weights.h"

static void read_tensors(const ykd_safetensors *st)
{
    ykd_error err;
    for (int i = 0; i < st->count; i++) {
        const ykd_st_tensor *t = &st->tensors[i];
        if (t->dtype == YKD_ST_I64 && t->numel > 0) {
            int64_t value;
            ykd_st_read_i64(st, t, &value, &err);
        } else if (t->dtype != YKD_ST_OTHER && t->numel > 0) {
            float *values = malloc(t->numel * sizeof *values);
            if (values)
                ykd_st_read_f32(st, t, values, &err);
            free(values);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *folder = ykd_fuzz_write_file("fuzz.safetensors", data, size);
    if (!folder)
        return 0;
    char path[512];
    if (snprintf(path, sizeof path, "%s/fuzz.safetensors", folder) >= (int)sizeof path)
        return 0;
    ykd_error err;
    ykd_safetensors st;
    if (ykd_st_open(path, &st, &err) == YKD_OK) {
        read_tensors(&st);
        ykd_st_metadata(&st, "yolokd.model");
        ykd_st_close(&st);
    }
    ykd_model_desc *desc = NULL;
    if (ykd_weights_read_desc(path, &desc, &err) == YKD_OK)
        ykd_model_desc_free(desc);
    return 0;
}
