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

/* The split whose key is key ("train", "val", "test"); false for any other key. */
bool ykd_config_split_of(const char *key, ykd_split *split);

/* Appends a folder or .txt list to a split (a copy of path; refused when empty or holding a
 * control character). */
ykd_status ykd_config_add_source(ykd_data_config *config, ykd_split split, const char *path,
                                 const char *where, ykd_error *err);

/* The root: `path:` (path_value, may be NULL) against the folder of the file named name. */
ykd_status ykd_config_set_root(ykd_data_config *config, const char *name, const char *path_value,
                               const char *where, ykd_error *err);

/* Fills the defaults ("images/train", "images/val"; the root when no `path:`) and checks nc
 * when given (>= 0). */
ykd_status ykd_config_finish(ykd_data_config *config, long nc, const char *name, ykd_error *err);

#endif
