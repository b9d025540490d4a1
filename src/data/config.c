/* Dataset configuration: class names, the root and each split's image sources, from
 * data.json (cJSON) or data.yaml (yaml.c, libyaml). Whatever the source, the same checks
 * apply. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/config_internal.h"

enum { CONFIG_MAX_BYTES = 1 << 20 };

static void free_sources(ykd_data_sources *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->paths[i]);
    free(s->paths);
}

void ykd_data_config_free(ykd_data_config *config)
{
    if (!config)
        return;
    for (size_t i = 0; i < config->class_count; i++)
        free(config->names ? config->names[i] : NULL);
    free(config->names);
    for (int s = 0; s < YKD_SPLIT_COUNT; s++)
        free_sources(&config->splits[s]);
    free(config->root);
    free(config->source);
    memset(config, 0, sizeof *config);
}

static ykd_status out_of_memory(ykd_error *err)
{
    return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
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
        return out_of_memory(err);
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
            st = out_of_memory(err);
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

bool ykd_config_split_of(const char *key, ykd_split *split)
{
    for (int s = 0; s < YKD_SPLIT_COUNT; s++)
        if (strcmp(key, ykd_split_name((ykd_split)s)) == 0) {
            *split = (ykd_split)s;
            return true;
        }
    return false;
}

static ykd_status check_path_text(const char *path, const char *where, ykd_error *err)
{
    if (path[0] == '\0')
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: empty path", where);
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c < 0x20)
            return ykd_fail(err, YKD_ERR_FORMAT,
                            "%s: a path with a control character or line break", where);
    return YKD_OK;
}

ykd_status ykd_config_add_source(ykd_data_config *config, ykd_split split, const char *path,
                                 const char *where, ykd_error *err)
{
    ykd_status st = check_path_text(path, where, err);
    if (st != YKD_OK)
        return st;
    ykd_data_sources *s = &config->splits[split];
    char **grown = realloc(s->paths, (s->count + 1) * sizeof *grown);
    if (!grown)
        return out_of_memory(err);
    s->paths = grown;
    if (!(s->paths[s->count] = strdup(path)))
        return out_of_memory(err);
    s->count++;
    return YKD_OK;
}

ykd_status ykd_config_set_root(ykd_data_config *config, const char *name, const char *path_value,
                               const char *where, ykd_error *err)
{
    if (path_value) {
        ykd_status st = check_path_text(path_value, where, err);
        if (st != YKD_OK)
            return st;
    }
    /* the file's folder: "." for a bare name, "/" for a file at the top */
    const char *slash = strrchr(name, '/');
    int folder_len = !slash ? 1 : slash == name ? 1 : (int)(slash - name);
    const char *folder = slash ? name : ".";
    size_t n = strlen(name) + (path_value ? strlen(path_value) : 0) + 4;
    char *root = malloc(n);
    if (!root)
        return out_of_memory(err);
    if (path_value && (path_value[0] == '/' || !slash))
        snprintf(root, n, "%s", path_value); /* absolute, or beside a file in the cwd */
    else if (path_value)
        snprintf(root, n, "%.*s/%s", folder_len, folder, path_value);
    else
        snprintf(root, n, "%.*s", folder_len, folder);
    free(config->root);
    config->root = root;
    return YKD_OK;
}

ykd_status ykd_config_finish(ykd_data_config *config, long nc, const char *name, ykd_error *err)
{
    if (!config->names)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: no 'names' key (the class names)", name);
    if (nc >= 0 && (size_t)nc != config->class_count)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: 'nc' is %ld but 'names' has %zu names", name, nc,
                        config->class_count);
    static const char *const defaults[] = {"images/train", "images/val"};
    ykd_status st = YKD_OK;
    for (int s = 0; s < 2 && st == YKD_OK; s++)
        if (config->splits[s].count == 0)
            st = ykd_config_add_source(config, (ykd_split)s, defaults[s], name, err);
    if (st == YKD_OK && !config->root)
        st = ykd_config_set_root(config, name, NULL, name, err);
    if (st == YKD_OK && !(config->source = strdup(name)))
        st = out_of_memory(err);
    return st;
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
    ykd_status st = indices && texts ? YKD_OK : out_of_memory(err);
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

/* "train": "folder" or "list.txt", or a list of them; null or absent: not given. */
static ykd_status json_split(ykd_data_config *config, const cJSON *root, ykd_split split,
                             const char *name, ykd_error *err)
{
    const char *key = ykd_split_name(split);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item || cJSON_IsNull(item))
        return YKD_OK;
    char where[600];
    snprintf(where, sizeof where, "%s: '%s'", name, key);
    if (cJSON_IsString(item))
        return ykd_config_add_source(config, split, item->valuestring, where, err);
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) == 0)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s must be a string (a folder of images or a .txt list of them) or a "
                        "non-empty list of them",
                        where);
    ykd_status st = YKD_OK;
    for (const cJSON *e = item->child; e && st == YKD_OK; e = e->next)
        st = cJSON_IsString(e) ? ykd_config_add_source(config, split, e->valuestring, where, err)
                               : ykd_fail(err, YKD_ERR_FORMAT, "%s: an entry is not a string",
                                          where);
    return st;
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
    for (int s = 0; s < YKD_SPLIT_COUNT && st == YKD_OK; s++)
        st = json_split(config, root, (ykd_split)s, name, err);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(root, "path");
    if (st == YKD_OK && path && !cJSON_IsNull(path)) {
        if (!cJSON_IsString(path))
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: 'path' must be a string (the root)", name);
        char where[600];
        snprintf(where, sizeof where, "%s: 'path'", name);
        st = ykd_config_set_root(config, name, path->valuestring, where, err);
    }
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

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads and parses one dataset file; YKD_ERR_NOT_FOUND when it does not exist. */
static ykd_status read_file(const char *path, ykd_data_config *config, ykd_error *err)
{
    void *text = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(path, CONFIG_MAX_BYTES, &text, &size, err);
    if (st != YKD_OK)
        return st;
    st = ends_with(path, ".json") ? ykd_data_config_parse_json(text, size, path, config, err)
                                  : ykd_data_config_parse_yaml(text, size, path, config, err);
    free(text);
    return st;
}

ykd_status ykd_data_config_read(const char *root, ykd_data_config *config, ykd_error *err)
{
    static const char *const files[] = {"data.json", "data.yaml", "data.yml"};
    memset(config, 0, sizeof *config);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        ykd_status st = read_file(path, config, err);
        if (st != YKD_ERR_NOT_FOUND)
            return st;
    }
    return ykd_fail(err, YKD_ERR_NOT_FOUND, "%s: no data.json or data.yaml with the class names",
                    root);
}

ykd_status ykd_data_config_load(const char *path, ykd_data_config *config, ykd_error *err)
{
    memset(config, 0, sizeof *config);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ykd_data_config_read(path, config, err);
    ykd_status st = read_file(path, config, err);
    if (st == YKD_ERR_NOT_FOUND)
        return ykd_fail(err, YKD_ERR_NOT_FOUND,
                        "%s: no such folder or file, so no data.json or data.yaml to read "
                        "(give the dataset's folder, or its .yaml file)",
                        path);
    return st;
}
