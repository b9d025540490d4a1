/* Model descriptions (JSON): parsed, then every layer's row and the memory plan computed. */
#include "fuzz.h"
#include "yolokd/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ykd_error err;
    ykd_model_desc *desc = NULL;
    if (ykd_model_desc_parse((const char *)data, size, "fuzz.json", NULL, &desc, &err) != YKD_OK)
        return 0;
    for (int i = 0; i < ykd_model_desc_layer_count(desc); i++) {
        ykd_model_layer_info info;
        ykd_model_desc_layer(desc, i, 64, &info);
    }
    ykd_model_memory memory;
    int side = ykd_model_desc_max_stride(desc);
    ykd_model_desc_plan_memory(desc, YKD_MODEL_TRAINING, 1, side, side, 0, &memory, &err);
    ykd_model_desc_free(desc);
    return 0;
}
