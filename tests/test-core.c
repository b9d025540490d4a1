/* Core helpers: SHA-256 against FIPS 180-2 vectors, error records, atomic files, units,
 * and the cache folder's resolution from the environment. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "core/half.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "core/units.h"
#include "harness.h"

static void digest_of(const void *data, size_t size, char hex[65])
{
    ykd_sha256 h;
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, data, size);
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
}

static void test_sha256_vectors(ykd_test *t)
{
    char hex[65];
    digest_of("", 0, hex);
    CHECK(t, strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    digest_of("abc", 3, hex);
    CHECK(t, strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest_of(two_blocks, strlen(two_blocks), hex);
    CHECK(t, strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
}

static void test_sha256_million_a_in_pieces(ykd_test *t)
{
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    ykd_sha256 h;
    ykd_sha256_init(&h);
    /* uneven pieces cross block boundaries at every offset */
    size_t done = 0, piece = 1;
    while (done < 1000000) {
        size_t n = piece < 1000000 - done ? piece : 1000000 - done;
        if (n > sizeof chunk)
            n = sizeof chunk;
        ykd_sha256_update(&h, chunk, n);
        done += n;
        piece = piece * 7 % 997 + 1;
    }
    uint8_t digest[YKD_SHA256_SIZE];
    char hex[65];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
    CHECK(t, strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void test_sha256_fields_are_unambiguous(ykd_test *t)
{
    ykd_sha256 a, b;
    uint8_t da[YKD_SHA256_SIZE], db[YKD_SHA256_SIZE];
    ykd_sha256_init(&a);
    ykd_sha256_update_field(&a, "ab", 2);
    ykd_sha256_update_field(&a, "c", 1);
    ykd_sha256_init(&b);
    ykd_sha256_update_field(&b, "a", 1);
    ykd_sha256_update_field(&b, "bc", 2);
    ykd_sha256_final(&a, da);
    ykd_sha256_final(&b, db);
    CHECK(t, memcmp(da, db, sizeof da) != 0);
}

static void test_status_names(ykd_test *t)
{
    CHECK(t, strcmp(ykd_status_name(YKD_OK), "YKD_OK") == 0);
    CHECK(t, strcmp(ykd_status_name(YKD_ERR_OUT_OF_MEMORY), "YKD_ERR_OUT_OF_MEMORY") == 0);
    CHECK(t, strcmp(ykd_status_str(YKD_ERR_BUILD), "OpenCL program build failed") == 0);
    CHECK(t, strcmp(ykd_status_name((ykd_status)-999), "YKD_ERR_UNKNOWN") == 0);
    CHECK(t, strcmp(ykd_version(), "") != 0);
}

static void test_error_prefix_and_append(ykd_test *t)
{
    ykd_error err;
    CHECK(t, ykd_fail(&err, YKD_ERR_IO, "cannot read '%s'", "x.png") == YKD_ERR_IO);
    ykd_error_prefix(&err, "loading %s", "data");
    CHECK(t, err.status == YKD_ERR_IO);
    CHECK(t, strcmp(err.message, "loading data: cannot read 'x.png'") == 0);
    ykd_error_append(&err, " (%d)", 7);
    CHECK(t, strcmp(err.message, "loading data: cannot read 'x.png' (7)") == 0);
    /* filling past the end truncates and stays NUL-terminated */
    for (int i = 0; i < 600; i++)
        ykd_error_append(&err, "0123456789");
    CHECK(t, strlen(err.message) == sizeof err.message - 1);
    ykd_error_clear(&err);
    CHECK(t, err.status == YKD_OK && err.message[0] == '\0');
    CHECK(t, ykd_fail(NULL, YKD_ERR_SHAPE, "no record") == YKD_ERR_SHAPE);
    ykd_error_prefix(NULL, "no record either"); /* must not crash */
}

static void test_atomic_write_replaces_whole_file(ykd_test *t)
{
    char dir[256], path[512];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(path, sizeof path, "%s/nested/deeper", dir);
    ykd_error err;
    CHECK_OK(t, ykd_mkdir_p(path, &err), err);
    snprintf(path, sizeof path, "%s/nested/deeper/file.bin", dir);
    const void *parts[] = {"hello ", "world"};
    const size_t sizes[] = {6, 5};
    CHECK_OK(t, ykd_file_write_atomic(path, parts, sizes, 2, &err), err);
    const void *again[] = {"second"};
    const size_t again_size[] = {6};
    CHECK_OK(t, ykd_file_write_atomic(path, again, again_size, 1, &err), err);
    void *data = NULL;
    size_t size = 0;
    CHECK_OK(t, ykd_file_read_all(path, 100, &data, &size, &err), err);
    CHECK(t, size == 6 && data && memcmp(data, "second", 6) == 0);
    free(data);
    char folder[512];
    snprintf(folder, sizeof folder, "%s/nested/deeper", dir);
    CHECKF(t, ykd_test_count_files(folder) == 1, "temporary files left behind in %s", folder);
    CHECK_STATUS(t, ykd_file_read_all(path, 5, &data, &size, &err), YKD_ERR_FORMAT, err);
    CHECK_CONTAINS(t, err.message, "over the limit");
    snprintf(path, sizeof path, "%s/absent", dir);
    CHECK_STATUS(t, ykd_file_read_all(path, 5, &data, &size, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, path);
    snprintf(path, sizeof path, "%s/no/such/folder/file", dir);
    CHECK_STATUS(t, ykd_file_write_atomic(path, parts, sizes, 2, &err), YKD_ERR_IO, err);
    ykd_test_rmtree(dir);
}

static void test_mkdir_p_refuses_file_in_the_way(ykd_test *t)
{
    char dir[256], path[512];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(path, sizeof path, "%s/blocker", dir);
    ykd_error err;
    const void *parts[] = {"x"};
    const size_t sizes[] = {1};
    CHECK_OK(t, ykd_file_write_atomic(path, parts, sizes, 1, &err), err);
    snprintf(path, sizeof path, "%s/blocker/sub", dir);
    CHECK_STATUS(t, ykd_mkdir_p(path, &err), YKD_ERR_IO, err);
    CHECK_CONTAINS(t, err.message, "blocker");
    ykd_test_rmtree(dir);
}

static void test_format_bytes(ykd_test *t)
{
    char buf[32];
    ykd_format_bytes(512, buf, sizeof buf);
    CHECK(t, strcmp(buf, "512 B") == 0);
    ykd_format_bytes(1536, buf, sizeof buf);
    CHECK(t, strcmp(buf, "1.5 KiB") == 0);
    ykd_format_bytes(4097476608ULL, buf, sizeof buf);
    CHECK(t, strcmp(buf, "3.8 GiB") == 0);
}

static void test_cache_dir_resolution(ykd_test *t)
{
    char buf[256];
    ykd_cache_dir_resolve("/c", "/x", "/h", buf, sizeof buf);
    CHECK(t, strcmp(buf, "/c") == 0);
    ykd_cache_dir_resolve("off", "/x", "/h", buf, sizeof buf);
    CHECK(t, strcmp(buf, "") == 0);
    ykd_cache_dir_resolve(NULL, "/x", "/h", buf, sizeof buf);
    CHECK(t, strcmp(buf, "/x/yolokd") == 0);
    ykd_cache_dir_resolve("", "relative", "/h", buf, sizeof buf);
    CHECK(t, strcmp(buf, "/h/.cache/yolokd") == 0);
    ykd_cache_dir_resolve(NULL, NULL, NULL, buf, sizeof buf);
    CHECK(t, strcmp(buf, "") == 0);
}


/* The nearest half to x >= 0 (ties to the even one), by search over the positive halves, whose
 * bit patterns 0 .. 0x7bff increase with their values; 0x7c00 (infinity) beyond. */
static uint16_t nearest_half_reference(double x)
{
    if (x >= 65520.0)
        return 0x7c00;
    unsigned lo = 0, hi = 0x7bff;
    while (lo < hi) { /* the largest half <= x */
        unsigned mid = (lo + hi + 1) / 2;
        if ((double)ykd_f16_to_f32((uint16_t)mid) <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0x7bff)
        return 0x7bff;
    double below = x - ykd_f16_to_f32((uint16_t)lo), above = ykd_f16_to_f32((uint16_t)(lo + 1)) - x;
    if (below < above || (below == above && (lo & 1) == 0))
        return (uint16_t)lo;
    return (uint16_t)(lo + 1);
}

static void test_half_conversions(ykd_test *t)
{
    int wrong = 0;
    for (unsigned h = 0; h < 0x10000; h++) { /* every half survives the round trip */
        float f = ykd_f16_to_f32((uint16_t)h);
        if (isnan(f) ? !isnan(ykd_f16_to_f32(ykd_f32_to_f16(f))) : ykd_f32_to_f16(f) != h)
            wrong++;
    }
    CHECKF(t, wrong == 0, "%d halves do not round-trip", wrong);
    ykd_rng rng;
    ykd_rng_seed(&rng, 7);
    for (int i = 0; i < 200000; i++) { /* random floats from 2^-30 to 2^18, both signs */
        float x = ldexpf((float)ykd_rng_uniform(&rng, 1.0, 2.0), (int)ykd_rng_below(&rng, 48) - 30);
        float f = (i & 1) ? -x : x;
        uint16_t want = (uint16_t)(nearest_half_reference(x) | ((i & 1) ? 0x8000 : 0));
        uint16_t got = ykd_f32_to_f16(f);
        if (got != want && wrong++ < 5)
            CHECKF(t, false, "%.9g: 0x%04x, want 0x%04x", f, got, want);
    }
    CHECKF(t, wrong == 0, "%d floats rounded wrongly", wrong);
    /* ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10, and goes to the even 1 */
    CHECK(t, ykd_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);
    CHECK(t, ykd_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    CHECK(t, ykd_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(t, ykd_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(t, ykd_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(t, ykd_f16_fits(65519.0f) && !ykd_f16_fits(65520.0f) && !ykd_f16_fits(NAN));
    CHECK(t, ykd_f32_to_f16(0x1p-25f) == 0);     /* half the smallest subnormal: to even 0 */
    CHECK(t, ykd_f32_to_f16(0x1.8p-24f) == 2);   /* 1.5 x the smallest: to even 2 */
    CHECK(t, ykd_f32_to_f16(-0.0f) == 0x8000);
    CHECK(t, isnan(ykd_f16_to_f32(ykd_f32_to_f16(NAN))));
}

static const ykd_test_case cases[] = {
    {"sha256: FIPS vectors", test_sha256_vectors, YKD_TEST_HOST},
    {"sha256: a million 'a' in uneven pieces", test_sha256_million_a_in_pieces, YKD_TEST_HOST},
    {"sha256: length-prefixed fields", test_sha256_fields_are_unambiguous, YKD_TEST_HOST},
    {"status: names and descriptions", test_status_names, YKD_TEST_HOST},
    {"error: prefix, append, truncation", test_error_prefix_and_append, YKD_TEST_HOST},
    {"fs: atomic write replaces the whole file", test_atomic_write_replaces_whole_file,
     YKD_TEST_HOST},
    {"fs: mkdir -p refuses a file in the way", test_mkdir_p_refuses_file_in_the_way,
     YKD_TEST_HOST},
    {"half: every half round-trips, floats round to the nearest", test_half_conversions,
     YKD_TEST_HOST},
    {"units: byte sizes", test_format_bytes, YKD_TEST_HOST},
    {"cache: folder from the environment", test_cache_dir_resolution, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
