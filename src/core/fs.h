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

/* Removes the temporary files an atomic write of folder/NAME leaves when killed
 * ("NAME.tmp-XXXXXX", for each of the names); other files are not touched. Best effort. */
void ykd_remove_stale_temps(const char *folder, const char *const *names, size_t count);

/* Fault injection, for tests: the nth atomic write from now (1-based) whose path starts with
 * prefix stops once its temporary file is written, before the rename: with exit_code < 0 it
 * fails (YKD_ERR_IO, "fault injected") leaving the temporary file as a kill would; otherwise
 * the process ends there with _exit(exit_code). n = 0 turns it off. Not thread-safe. */
void ykd_fs_inject_fault(const char *prefix, int n, int exit_code);

/* Removes path and everything below it (links are removed, not followed). Best effort: what
 * cannot be removed stays. */
void ykd_remove_tree(const char *path);

#endif
