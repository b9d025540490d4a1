/* A dataset built in a hidden temporary folder beside its destination, renamed into place
 * only when complete. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/dataset_folder.h"

ykd_status ykd_write_text(const char *path, const char *text, ykd_error *err)
{
    const void *parts[] = {text};
    size_t size = strlen(text);
    return ykd_file_write_atomic(path, parts, &size, 1, err);
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
static ykd_status check_destination(const char *who, const char *out, ykd_error *err)
{
    struct stat st;
    if (stat(out, &st) != 0 || (S_ISDIR(st.st_mode) && folder_is_empty(out)))
        return YKD_OK;
    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                    "%s: '%s' already exists; remove it or choose another --out", who, out);
}

/* Creates "<parent>/.<name>.tmp-XXXXXX" beside out (and the parent, if missing). */
static ykd_status make_temporary(const char *who, const char *out, char *tmp, ykd_error *err)
{
    char copy[YKD_DATASET_PATH_SIZE];
    if (snprintf(copy, sizeof copy, "%s", out) >= (int)sizeof copy)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: path too long: '%s'", who, out);
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
    if (snprintf(tmp, YKD_DATASET_PATH_SIZE, "%s/.%s.tmp-XXXXXX", dir, base) >= YKD_DATASET_PATH_SIZE)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: path too long: '%s'", who, out);
    ykd_status st = ykd_mkdir_p(dir, err);
    if (st != YKD_OK)
        return st;
    if (!mkdtemp(tmp))
        return ykd_fail(err, YKD_ERR_IO, "%s: cannot create a folder beside '%s': %s", who,
                        out, strerror(errno));
    chmod(tmp, 0755); /* mkdtemp makes it private; the finished dataset is not */
    return YKD_OK;
}

static ykd_status make_layout(const char *tmp, ykd_error *err)
{
    static const char *const folders[] = {"images/train", "images/val", "labels/train",
                                          "labels/val"};
    for (size_t i = 0; i < 4; i++) {
        char path[YKD_DATASET_PATH_SIZE + 64];
        snprintf(path, sizeof path, "%s/%s", tmp, folders[i]);
        ykd_status st = ykd_mkdir_p(path, err);
        if (st != YKD_OK)
            return st;
    }
    return YKD_OK;
}

ykd_status ykd_dataset_folder_begin(const char *who, const char *out, char *tmp, ykd_error *err)
{
    ykd_status st = check_destination(who, out, err);
    if (st == YKD_OK)
        st = make_temporary(who, out, tmp, err);
    if (st != YKD_OK)
        return st;
    st = make_layout(tmp, err);
    if (st != YKD_OK)
        ykd_remove_tree(tmp);
    return st;
}

ykd_status ykd_dataset_folder_end(const char *who, const char *tmp, const char *out,
                                  ykd_status st, ykd_error *err)
{
    if (st == YKD_OK && rename(tmp, out) != 0)
        st = ykd_fail(err, YKD_ERR_IO, "%s: cannot rename '%s' to '%s': %s", who, tmp, out,
                      strerror(errno));
    if (st != YKD_OK)
        ykd_remove_tree(tmp);
    return st;
}
