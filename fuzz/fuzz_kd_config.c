/* Distillation configs (JSON). */
#include "fuzz.h"
#include "yolokd/kd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ykd_error err;
    ykd_kd_config config;
    if (ykd_kd_config_parse((const char *)data, size, "kd.json", &config, &err) == YKD_OK)
        ykd_kd_config_has_feature_loss(&config);
    return 0;
}
