/* Writing a data.yaml that the reader (yaml.c) reads back to the same config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "data/dataset_folder.h"
#include "yolokd/data.h"

/* text as a YAML double-quoted scalar into out (at least 2 * strlen + 3 bytes). */
static void quoted(const char *text, char *out)
{
    *out++ = '"';
    for (; *text; text++) {
        if (*text == '"' || *text == '\\')
            *out++ = '\\';
        *out++ = *text;
    }
    *out++ = '"';
    *out = '\0';
}

ykd_status ykd_data_config_write_yaml(const char *path, const char *train, const char *val,
                                      const char *const *names, size_t class_count,
                                      ykd_error *err)
{
    size_t size = 256 + 2 * (strlen(train) + strlen(val));
    for (size_t i = 0; i < class_count; i++)
        size += 2 * strlen(names[i]) + 32;
    char *text = malloc(size), *item = malloc(size);
    if (!text || !item) {
        free(text);
        free(item);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    size_t at = 0;
    quoted(train, item);
    at += (size_t)snprintf(text + at, size - at, "path: . # the folder of this file\ntrain: %s\n",
                           item);
    quoted(val, item);
    at += (size_t)snprintf(text + at, size - at, "val: %s\nnc: %zu\nnames:\n", item, class_count);
    for (size_t i = 0; i < class_count; i++) {
        quoted(names[i], item);
        at += (size_t)snprintf(text + at, size - at, "  %zu: %s\n", i, item);
    }
    ykd_status st = ykd_write_text(path, text, err);
    free(text);
    free(item);
    return st;
}
