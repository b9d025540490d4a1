/* Internal: a dataset written into a hidden temporary folder beside its destination and
 * renamed into place only when complete, so a partly written dataset never appears there.
 * Used by synth and convert; who ("synth", "convert") starts their messages. */
#ifndef YKD_DATA_DATASET_FOLDER_H
#define YKD_DATA_DATASET_FOLDER_H

#include <stddef.h>

#include "yolokd/status.h"

enum { YKD_DATASET_PATH_SIZE = 4096 };

/* Checks that out does not exist (or is an empty folder), then creates
 * "<parent>/.<name>.tmp-XXXXXX" into tmp (YKD_DATASET_PATH_SIZE bytes) with the four
 * images/labels x train/val folders. */
ykd_status ykd_dataset_folder_begin(const char *who, const char *out, char *tmp, ykd_error *err);

/* With st YKD_OK renames tmp to out (an error when it cannot); otherwise, or when the rename
 * fails, removes tmp. Returns the resulting status. */
ykd_status ykd_dataset_folder_end(const char *who, const char *tmp, const char *out,
                                  ykd_status st, ykd_error *err);

/* The folder's entries, sorted by name (dot files left out); *names and each name malloc'd.
 * what names the folder in the error ("images folder"). */
ykd_status ykd_list_folder(const char *dir, const char *what, char ***names, size_t *count,
                           ykd_error *err);

/* Writes text to path atomically. */
ykd_status ykd_write_text(const char *path, const char *text, ykd_error *err);

#endif
