/* File helpers: whole-file reads, directory creation, and atomic writes (temp + rename). */
#ifndef YKD_FS_H
#define YKD_FS_H

#include <stddef.h>

#include "yolokd/status.h"

/* Creates path and its missing parents (mode 0700 for new folders). */
ykd_status ykd_mkdir_p(const char *path, ykd_error *err);

/* Reads a whole file into a malloc'd buffer (*data, *size); refuses files over max_size. */
ykd_status ykd_file_read_all(const char *path, size_t max_size, void **data, size_t *size,
                             ykd_error *err);

/* Writes the parts, in order, to a temporary file beside path, flushes it to disk and renames
 * it over path, so readers see either the old file or the whole new one. */
ykd_status ykd_file_write_atomic(const char *path, const void *const *parts,
                                 const size_t *part_sizes, size_t part_count, ykd_error *err);

/* Removes path and everything below it (links are removed, not followed). Best effort: what
 * cannot be removed stays. */
void ykd_remove_tree(const char *path);

#endif
