/* Dataset files: the input as a dataset root's DATA_FILE (data.yaml or data.json, one target
 * each), read through the public ykd_data_config_read as a dataset is opened. */
#include "fuzz.h"
#include "yolokd/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *root = ykd_fuzz_write_file(DATA_FILE, data, size);
    if (!root)
        return 0;
    ykd_error err;
    ykd_data_config config;
    if (ykd_data_config_read(root, &config, &err) == YKD_OK)
        ykd_data_config_free(&config);
    return 0;
}
