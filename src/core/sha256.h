/* SHA-256 (FIPS 180-4): cache keys and integrity checks of files we write. */
#ifndef YKD_SHA256_H
#define YKD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "yolokd/status.h"

enum { YKD_SHA256_SIZE = 32 };

typedef struct ykd_sha256 {
    uint32_t state[8];
    uint64_t length_bytes;
    uint8_t block[64];
    size_t block_used;
} ykd_sha256;

void ykd_sha256_init(ykd_sha256 *h);
void ykd_sha256_update(ykd_sha256 *h, const void *data, size_t size);
void ykd_sha256_final(ykd_sha256 *h, uint8_t digest[YKD_SHA256_SIZE]);

/* Hashes a string with its length in front, so ("ab","c") and ("a","bc") differ. */
void ykd_sha256_update_field(ykd_sha256 *h, const void *data, size_t size);

/* digest as 64 lower-case hex digits and a NUL. */
void ykd_sha256_hex(const uint8_t digest[YKD_SHA256_SIZE], char hex[2 * YKD_SHA256_SIZE + 1]);

/* The SHA-256 of a whole file, as 64 hex digits; fails naming the file. */
ykd_status ykd_sha256_file(const char *path, char hex[2 * YKD_SHA256_SIZE + 1], ykd_error *err);

#endif
