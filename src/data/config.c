/* Dataset configuration: class names and split folders, from data.json (cJSON) or data.yaml
 * (yaml.c). Whatever the source, the same checks apply. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/config_internal.h"

enum { CONFIG_MAX_BYTES = 1 << 20 };

void ykd_data_config_free(ykd_data_config *config)
{
    if (!config)
        return;
    for (size_t i = 0; i < config->class_count; i++)
        free(config->names ? config->names[i] : NULL);
    free(config->names);
    free(config->train);
    free(config->val);
    free(config->source);
    memset(config, 0, sizeof *config);
}

static ykd_status check_name(const char *name, const char *where, long index, ykd_error *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > YKD_MAX_NAME_LENGTH)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: class %ld's name is %s", where, index,
                        len == 0 ? "empty" : "longer than 255 characters");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20)
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: class %ld's name has a control character",
                            where, index);
    return YKD_OK;
}

ykd_status ykd_config_set_names(ykd_data_config *config, const long *indices,
                                const char *const *names, size_t count, const char *where,
                                ykd_error *err)
{
    if (config->names)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: given twice", where);
    if (count == 0 || count > YKD_MAX_CLASSES)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: needs 1 to %d class names, has %zu", where,
                        YKD_MAX_CLASSES, count);
    char **table = calloc(count, sizeof *table);
    if (!table)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < count && st == YKD_OK; i++) {
        long k = indices[i];
        if (k < 0 || (size_t)k >= count)
            st = ykd_fail(err, YKD_ERR_FORMAT,
                          "%s: index %ld is out of range 0..%zu (the "
                          "indices must be 0 to the number of names - 1)",
                          where, k, count - 1);
        else if (table[k])
            st = ykd_fail(err, YKD_ERR_FORMAT, "%s: index %ld given twice", where, k);
        else if ((st = check_name(names[i], where, k, err)) == YKD_OK &&
                 !(table[k] = strdup(names[i])))
            st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (st != YKD_OK) {
        for (size_t i = 0; i < count; i++)
            free(table[i]);
        free(table);
        return st;
    }
    config->names = table;
    config->class_count = count;
    return YKD_OK;
}

ykd_status ykd_config_set_path(char **slot, const char *path, const char *where, ykd_error *err)
{
    if (*slot)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: given twice", where);
    if (path[0] == '\0')
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: empty path", where);
    *slot = strdup(path);
    return *slot ? YKD_OK : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
}

ykd_status ykd_config_finish(ykd_data_config *config, long nc, const char *name, ykd_error *err)
{
    if (!config->names)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: no 'names' key (the class names)", name);
    if (nc >= 0 && (size_t)nc != config->class_count)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: 'nc' is %ld but 'names' has %zu names", name, nc,
                        config->class_count);
    if (!config->train && !(config->train = strdup("images/train")))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!config->val && !(config->val = strdup("images/val")))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!(config->source = strdup(name)))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    return YKD_OK;
}

/* "names": ["a", "b"] or {"0": "a", "1": "b"}. */
static ykd_status json_names(ykd_data_config *config, const cJSON *names, const char *name,
                             ykd_error *err)
{
    char where[600];
    snprintf(where, sizeof where, "%s: 'names'", name);
    if (!cJSON_IsArray(names) && !cJSON_IsObject(names))
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s must be a list of strings or an object from "
                        "index to name",
                        where);
    size_t count = (size_t)cJSON_GetArraySize(names);
    long *indices = malloc((count ? count : 1) * sizeof *indices);
    const char **texts = malloc((count ? count : 1) * sizeof *texts);
    ykd_status st =
        indices && texts ? YKD_OK : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t i = 0;
    for (const cJSON *item = names->child; item && st == YKD_OK; item = item->next, i++) {
        texts[i] = cJSON_GetStringValue(item);
        indices[i] = (long)i;
        if (cJSON_IsObject(names)) {
            char *end = NULL;
            indices[i] = strtol(item->string, &end, 10);
            if (end == item->string || *end != '\0')
                st = ykd_fail(err, YKD_ERR_FORMAT, "%s: key '%s' is not a class index", where,
                              item->string);
        }
        if (st == YKD_OK && !texts[i])
            st = ykd_fail(err, YKD_ERR_FORMAT, "%s: entry %zu is not a string", where, i);
    }
    if (st == YKD_OK)
        st = ykd_config_set_names(config, indices, texts, count, where, err);
    free(indices);
    free(texts);
    return st;
}

static ykd_status json_path(char **slot, const cJSON *root, const char *key, const char *name,
                            ykd_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item)
        return YKD_OK;
    char where[600];
    snprintf(where, sizeof where, "%s: '%s'", name, key);
    if (!cJSON_IsString(item))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s must be a string (a folder of images)", where);
    return ykd_config_set_path(slot, item->valuestring, where, err);
}

static ykd_status json_config(ykd_data_config *config, const cJSON *root, const char *name,
                              ykd_error *err)
{
    if (!cJSON_IsObject(root))
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: must hold a JSON object", name);
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "names");
    if (!names)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: no 'names' key (the class names)", name);
    ykd_status st = json_names(config, names, name, err);
    if (st == YKD_OK)
        st = json_path(&config->train, root, "train", name, err);
    if (st == YKD_OK)
        st = json_path(&config->val, root, "val", name, err);
    long nc = -1;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "nc");
    if (st == YKD_OK && item) {
        double v = cJSON_GetNumberValue(item);
        if (!cJSON_IsNumber(item) || v < 0 || v > YKD_MAX_CLASSES || v != (long)v)
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: 'nc' must be a whole number", name);
        nc = (long)v;
    }
    return st == YKD_OK ? ykd_config_finish(config, nc, name, err) : st;
}

ykd_status ykd_data_config_parse_json(const char *text, size_t size, const char *name,
                                      ykd_data_config *config, ykd_error *err)
{
    memset(config, 0, sizeof *config);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, false);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        int line = 1;
        for (size_t i = 0; i < at && i < size; i++)
            line += text[i] == '\n';
        return ykd_fail(err, YKD_ERR_FORMAT, "%s:%d: not valid JSON", name, line);
    }
    ykd_status st = json_config(config, root, name, err);
    cJSON_Delete(root);
    if (st != YKD_OK)
        ykd_data_config_free(config);
    return st;
}

ykd_status ykd_data_config_read(const char *root, ykd_data_config *config, ykd_error *err)
{
    static const char *const files[] = {"data.json", "data.yaml", "data.yml"};
    memset(config, 0, sizeof *config);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        void *text = NULL;
        size_t size = 0;
        ykd_status st = ykd_file_read_all(path, CONFIG_MAX_BYTES, &text, &size, err);
        if (st == YKD_ERR_NOT_FOUND)
            continue;
        if (st != YKD_OK)
            return st;
        st = i == 0 ? ykd_data_config_parse_json(text, size, path, config, err)
                    : ykd_data_config_parse_yaml(text, size, path, config, err);
        free(text);
        return st;
    }
    return ykd_fail(err, YKD_ERR_NOT_FOUND, "%s: no data.json or data.yaml with the class names",
                    root);
}
