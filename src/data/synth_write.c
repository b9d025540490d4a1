/* Writing the synthetic dataset: everything goes into a hidden temporary folder beside the
 * destination, which is renamed into place only when complete. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/synth_internal.h"
#include "yolokd/data.h"

enum { PATH_SIZE = 4096 };

static ykd_status write_text(const char *path, const char *text, ykd_error *err)
{
    const void *parts[] = {text};
    size_t size = strlen(text);
    return ykd_file_write_atomic(path, parts, &size, 1, err);
}

/* "class cx cy w h" lines. */
static char *label_text(const ykd_synth_object *objects, size_t count)
{
    char *text = malloc(count * 64 + 1);
    if (!text)
        return NULL;
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const ykd_box *b = &objects[i].box;
        used += (size_t)snprintf(text + used, 64, "%d %.6f %.6f %.6f %.6f\n", b->cls, (double)b->cx,
                                 (double)b->cy, (double)b->w, (double)b->h);
    }
    return text;
}

static ykd_status write_sample(const char *tmp, const ykd_synth_options *o, int split, int index,
                               ykd_error *err)
{
    const char *name = split ? "val" : "train";
    ykd_image img;
    ykd_synth_object *objects = NULL;
    size_t count = 0;
    ykd_status st = ykd_synth_render(o, split, index, &img, &objects, &count, NULL, err);
    if (st != YKD_OK)
        return st;
    char path[PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/images/%s/%06d.png", tmp, name, index);
    st = ykd_png_write(path, &img, err);
    char *text = st == YKD_OK ? label_text(objects, count) : NULL;
    if (st == YKD_OK && !text)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    snprintf(path, sizeof path, "%s/labels/%s/%06d.txt", tmp, name, index);
    if (st == YKD_OK)
        st = write_text(path, text, err);
    free(text);
    free(objects);
    ykd_image_free(&img);
    return st;
}

static ykd_status write_config(const char *tmp, const ykd_synth_options *o, ykd_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *names = cJSON_AddArrayToObject(root, "names");
    for (int c = 0; c < o->classes; c++)
        cJSON_AddItemToArray(names, cJSON_CreateString(ykd_synth_class_name(c)));
    cJSON_AddNumberToObject(root, "nc", o->classes);
    cJSON_AddStringToObject(root, "train", "images/train");
    cJSON_AddStringToObject(root, "val", "images/val");
    cJSON *made = cJSON_AddObjectToObject(root, "synth");
    cJSON_AddNumberToObject(made, "seed", (double)o->seed);
    cJSON_AddNumberToObject(made, "image_size", o->image_size);
    cJSON_AddNumberToObject(made, "train_images", o->train_images);
    cJSON_AddNumberToObject(made, "val_images", o->val_images);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    char path[PATH_SIZE + 64], *with_newline = malloc(strlen(text) + 2);
    ykd_status st = YKD_ERR_OUT_OF_MEMORY;
    if (with_newline) {
        snprintf(path, sizeof path, "%s/data.json", tmp);
        sprintf(with_newline, "%s\n", text);
        st = write_text(path, with_newline, err);
    } else {
        ykd_fail(err, st, "synth: out of host memory");
    }
    free(with_newline);
    cJSON_free(text);
    return st;
}

static bool folder_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(dir)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(dir);
    return empty;
}

/* The destination must not exist, or be an empty folder (rename replaces that). */
static ykd_status check_destination(const char *out, ykd_error *err)
{
    struct stat st;
    if (stat(out, &st) != 0 || (S_ISDIR(st.st_mode) && folder_is_empty(out)))
        return YKD_OK;
    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                    "synth: '%s' already exists; remove it or choose another --out", out);
}

/* Creates "<parent>/.<name>.tmp-XXXXXX" beside out (and the parent, if missing). */
static ykd_status make_temporary(const char *out, char *tmp, ykd_error *err)
{
    char copy[PATH_SIZE];
    if (snprintf(copy, sizeof copy, "%s", out) >= (int)sizeof copy)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "synth: path too long: '%s'", out);
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    char *slash = strrchr(copy, '/');
    const char *dir = ".", *base = copy;
    if (slash == copy) {
        dir = "/", base = copy + 1;
    } else if (slash) {
        *slash = '\0';
        dir = copy, base = slash + 1;
    }
    if (snprintf(tmp, PATH_SIZE, "%s/.%s.tmp-XXXXXX", dir, base) >= PATH_SIZE)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "synth: path too long: '%s'", out);
    ykd_status st = ykd_mkdir_p(dir, err);
    if (st != YKD_OK)
        return st;
    if (!mkdtemp(tmp))
        return ykd_fail(err, YKD_ERR_IO, "synth: cannot create a folder beside '%s': %s", out,
                        strerror(errno));
    chmod(tmp, 0755); /* mkdtemp makes it private; the finished dataset is not */
    return YKD_OK;
}

static ykd_status make_layout(const char *tmp, ykd_error *err)
{
    static const char *const folders[] = {"images/train", "images/val", "labels/train",
                                          "labels/val"};
    for (size_t i = 0; i < 4; i++) {
        char path[PATH_SIZE + 64];
        snprintf(path, sizeof path, "%s/%s", tmp, folders[i]);
        ykd_status st = ykd_mkdir_p(path, err);
        if (st != YKD_OK)
            return st;
    }
    return YKD_OK;
}

ykd_status ykd_synth_write(const char *out, const ykd_synth_options *o, ykd_error *err)
{
    ykd_status st = ykd_synth_check_options(o, true, err);
    if (st == YKD_OK)
        st = check_destination(out, err);
    char tmp[PATH_SIZE];
    if (st == YKD_OK)
        st = make_temporary(out, tmp, err);
    if (st != YKD_OK)
        return st;
    st = make_layout(tmp, err);
    for (int i = 0; st == YKD_OK && i < o->train_images; i++)
        st = write_sample(tmp, o, 0, i, err);
    for (int i = 0; st == YKD_OK && i < o->val_images; i++)
        st = write_sample(tmp, o, 1, i, err);
    if (st == YKD_OK)
        st = write_config(tmp, o, err);
    if (st == YKD_OK && rename(tmp, out) != 0)
        st = ykd_fail(err, YKD_ERR_IO, "synth: cannot rename '%s' to '%s': %s", tmp, out,
                      strerror(errno));
    if (st != YKD_OK)
        ykd_remove_tree(tmp);
    return st;
}
