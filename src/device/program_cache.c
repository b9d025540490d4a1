#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "device/program_cache.h"

/* Bump when the file layout or the key's ingredients change. */
enum { CACHE_FORMAT_VERSION = 1 };
enum { HEADER_SIZE = 8 + 4 + 4 + 8 + YKD_SHA256_SIZE + YKD_SHA256_SIZE };
/* No sane program binary is this large; a size field beyond it is corruption. */
#define MAX_BINARY_BYTES ((size_t)1 << 30)

static const char magic[8] = {'Y', 'K', 'D', 'C', 'L', 'B', 'I', 'N'};

static void hash_string(ykd_sha256 *h, const char *s)
{
    ykd_sha256_update_field(h, s, strlen(s));
}

void ykd_program_cache_key(const ykd_device_info *info, const ykd_source_text *sources,
                           size_t count, const char *options, char key[YKD_PROGRAM_KEY_HEX])
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
    uint8_t version = CACHE_FORMAT_VERSION;
    ykd_sha256_update_field(&h, &version, 1);
    for (size_t i = 0; i < count; i++) {
        hash_string(&h, sources[i].path);
        ykd_sha256_update_field(&h, sources[i].text, sources[i].length);
    }
    hash_string(&h, options ? options : "");
    hash_string(&h, info->name);
    hash_string(&h, info->vendor);
    hash_string(&h, info->device_version);
    hash_string(&h, info->driver_version);
    hash_string(&h, info->platform_name);
    hash_string(&h, info->platform_version);
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, key);
}

void ykd_program_cache_path(const char *cache_dir, const char *key, char *path, size_t size)
{
    snprintf(path, size, "%s/programs/%s.clbin", cache_dir, key);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The key's 64 hex digits as 32 bytes (the key is always our own lower-case hex). */
static void key_bytes(const char *key, uint8_t out[YKD_SHA256_SIZE])
{
    for (int i = 0; i < YKD_SHA256_SIZE; i++) {
        unsigned v = 0;
        sscanf(key + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static void payload_digest(const void *binary, size_t size, uint8_t out[YKD_SHA256_SIZE])
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, binary, size);
    ykd_sha256_final(&h, out);
}

ykd_status ykd_program_cache_load(const char *cache_dir, const char *key, void **binary,
                                  size_t *size)
{
    *binary = NULL;
    *size = 0;
    char path[4200];
    ykd_program_cache_path(cache_dir, key, path, sizeof path);
    void *data = NULL;
    size_t file_size = 0;
    ykd_status st = ykd_file_read_all(path, MAX_BINARY_BYTES + HEADER_SIZE, &data, &file_size,
                                      NULL);
    if (st == YKD_ERR_NOT_FOUND)
        return st;
    if (st != YKD_OK)
        return YKD_ERR_FORMAT;
    const uint8_t *p = data;
    uint8_t expected_key[YKD_SHA256_SIZE], digest[YKD_SHA256_SIZE];
    key_bytes(key, expected_key);
    bool valid = file_size >= HEADER_SIZE && memcmp(p, magic, sizeof magic) == 0 &&
                 get_u32(p + 8) == CACHE_FORMAT_VERSION &&
                 get_u64(p + 16) == file_size - HEADER_SIZE && get_u64(p + 16) > 0 &&
                 memcmp(p + 24, expected_key, YKD_SHA256_SIZE) == 0;
    if (valid) {
        payload_digest(p + HEADER_SIZE, file_size - HEADER_SIZE, digest);
        valid = memcmp(p + 24 + YKD_SHA256_SIZE, digest, YKD_SHA256_SIZE) == 0;
    }
    if (!valid) {
        free(data);
        return YKD_ERR_FORMAT;
    }
    size_t n = file_size - HEADER_SIZE;
    memmove(data, p + HEADER_SIZE, n);
    *binary = data;
    *size = n;
    return YKD_OK;
}

ykd_status ykd_program_cache_store(const char *cache_dir, const char *key, const void *binary,
                                   size_t size, ykd_error *err)
{
    char folder[4200], path[4200];
    snprintf(folder, sizeof folder, "%s/programs", cache_dir);
    ykd_status st = ykd_mkdir_p(folder, err);
    if (st != YKD_OK)
        return st;
    uint8_t header[HEADER_SIZE];
    memcpy(header, magic, sizeof magic);
    put_u32(header + 8, CACHE_FORMAT_VERSION);
    put_u32(header + 12, 0);
    put_u64(header + 16, size);
    key_bytes(key, header + 24);
    payload_digest(binary, size, header + 24 + YKD_SHA256_SIZE);
    ykd_program_cache_path(cache_dir, key, path, sizeof path);
    const void *parts[] = {header, binary};
    const size_t sizes[] = {sizeof header, size};
    return ykd_file_write_atomic(path, parts, sizes, 2, err);
}
