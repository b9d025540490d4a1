/* Internal: building a ykd_data_config from parsed JSON or YAML. */
#ifndef YKD_DATA_CONFIG_INTERNAL_H
#define YKD_DATA_CONFIG_INTERNAL_H

#include "yolokd/data.h"

enum { YKD_MAX_CLASSES = 65535, YKD_MAX_NAME_LENGTH = 255 };

/* Class names given as (index, name) pairs, in any order: every index 0..count-1 exactly
 * once. where names the key in messages ("data.yaml:3: 'names'"). Copies the names. */
ykd_status ykd_config_set_names(ykd_data_config *config, const long *indices,
                                const char *const *names, size_t count, const char *where,
                                ykd_error *err);

/* Replaces *slot (train or val) with a copy of path. */
ykd_status ykd_config_set_path(char **slot, const char *path, const char *where, ykd_error *err);

/* Fills the defaults ("images/train", "images/val") and checks nc when given (>= 0). */
ykd_status ykd_config_finish(ykd_data_config *config, long nc, const char *name, ykd_error *err);

#endif
