/* The on-disk cache of compiled program binaries (DESIGN.md §3).
 *
 * One file per program at <cache dir>/programs/<key>.clbin, where the key is the SHA-256 of
 * everything that determines the binary: the sources and their names, the build options, and
 * the device's name and versions, the driver's and the platform's. The file is a header (magic,
 * format version, payload size, key, payload SHA-256) and the binary; a file whose header or
 * checksum does not hold is treated as absent and rewritten. */
#ifndef YKD_PROGRAM_CACHE_H
#define YKD_PROGRAM_CACHE_H

#include "device/device_internal.h"

enum { YKD_PROGRAM_KEY_HEX = 65 };

void ykd_program_cache_key(const ykd_device_info *info, const ykd_source_text *sources,
                           size_t count, const char *options, char key[YKD_PROGRAM_KEY_HEX]);

/* The file an entry lives in. */
void ykd_program_cache_path(const char *cache_dir, const char *key, char *path, size_t size);

/* YKD_OK with a malloc'd binary; YKD_ERR_NOT_FOUND when absent; YKD_ERR_FORMAT when the file
 * is there but corrupt, truncated or made for another key. */
ykd_status ykd_program_cache_load(const char *cache_dir, const char *key, void **binary,
                                  size_t *size);

/* Writes the entry atomically (temporary file, then rename), creating the folders. */
ykd_status ykd_program_cache_store(const char *cache_dir, const char *key, const void *binary,
                                   size_t size, ykd_error *err);

#endif
