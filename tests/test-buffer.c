/* Buffers on every device: round trips, fills, copies within a device and between two
 * contexts, range checks, and the out-of-memory errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device/device_internal.h"
#include "harness.h"

static unsigned char *random_bytes(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (unsigned char)(ykd_test_rng_next(&rng) >> 56);
    return p;
}

static void test_round_trip(ykd_test *t)
{
    static const size_t sizes[] = {1, 3, 4096, 65537, 5 << 20};
    ykd_error err;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        ykd_buffer *buf = NULL;
        if (!CHECK_OK(t, ykd_buffer_alloc(t->device, n, &buf, &err), err))
            return;
        CHECK(t, ykd_buffer_size(buf) == n && ykd_buffer_device(buf) == t->device);
        unsigned char *data = random_bytes(n, n), *back = malloc(n);
        memset(back, 0xAA, n);
        CHECK_OK(t, ykd_buffer_write(buf, 0, data, n, &err), err);
        CHECK_OK(t, ykd_buffer_read(buf, 0, back, n, &err), err);
        CHECKF(t, memcmp(data, back, n) == 0, "%zu bytes came back different", n);
        if (n > 2) {
            /* a write at an offset changes those bytes and no others */
            unsigned char patch[2] = {0x5A, 0xA5};
            CHECK_OK(t, ykd_buffer_write(buf, n / 2, patch, 2, &err), err);
            memcpy(data + n / 2, patch, 2);
            CHECK_OK(t, ykd_buffer_read(buf, 0, back, n, &err), err);
            CHECK(t, memcmp(data, back, n) == 0);
            unsigned char one = 0;
            CHECK_OK(t, ykd_buffer_read(buf, n - 1, &one, 1, &err), err);
            CHECK(t, one == data[n - 1]);
        }
        free(data);
        free(back);
        ykd_buffer_free(buf);
    }
    CHECK(t, ykd_device_memory_in_use(t->device) == 0);
}

static void test_ranges_are_checked(ykd_test *t)
{
    ykd_buffer *buf = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, 100, &buf, &err), err))
        return;
    char tmp[200] = {0};
    CHECK_STATUS(t, ykd_buffer_write(buf, 0, tmp, 101, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "outside the buffer of 100 bytes");
    CHECK_STATUS(t, ykd_buffer_read(buf, 99, tmp, 2, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_buffer_read(buf, SIZE_MAX, tmp, 2, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_buffer_write(buf, 2, tmp, SIZE_MAX - 1, &err), YKD_ERR_INVALID_ARGUMENT,
                 err);
    CHECK_OK(t, ykd_buffer_read(buf, 100, tmp, 0, &err), err);
    float zero = 0.0f;
    CHECK_STATUS(t, ykd_buffer_fill(buf, 0, &zero, 4, 104, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_buffer_fill(buf, 2, &zero, 4, 8, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_buffer_fill(buf, 0, &zero, 3, 9, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_buffer_copy(buf, 0, buf, 10, 20, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "overlap");
    CHECK_STATUS(t, ykd_buffer_copy(buf, 90, buf, 0, 20, &err), YKD_ERR_INVALID_ARGUMENT, err);
    ykd_buffer *empty = NULL;
    CHECK_STATUS(t, ykd_buffer_alloc(t->device, 0, &empty, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK(t, empty == NULL);
    ykd_buffer_free(buf);
}

static void test_fill_patterns(ykd_test *t)
{
    enum { N = 1024 };
    ykd_buffer *buf = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, N, &buf, &err), err))
        return;
    unsigned char expect[N], got[N];
    memset(expect, 0x11, N);
    CHECK_OK(t, ykd_buffer_fill(buf, 0, &expect[0], 1, N, &err), err);
    float value = -3.25f;
    CHECK_OK(t, ykd_buffer_fill(buf, 64, &value, 4, 128, &err), err);
    for (int i = 0; i < 32; i++)
        memcpy(expect + 64 + 4 * i, &value, 4);
    unsigned char pattern16[16];
    for (int i = 0; i < 16; i++)
        pattern16[i] = (unsigned char)(i * 17);
    CHECK_OK(t, ykd_buffer_fill(buf, 512, pattern16, 16, 256, &err), err);
    for (int i = 0; i < 16; i++)
        memcpy(expect + 512 + 16 * i, pattern16, 16);
    CHECK_OK(t, ykd_buffer_read(buf, 0, got, N, &err), err);
    CHECK(t, memcmp(expect, got, N) == 0);
    ykd_buffer_free(buf);
}

static void test_copy_within_device(ykd_test *t)
{
    enum { N = 300000 };
    ykd_buffer *a = NULL, *b = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, N, &a, &err), err) ||
        !CHECK_OK(t, ykd_buffer_alloc(t->device, N, &b, &err), err)) {
        ykd_buffer_free(a);
        return;
    }
    unsigned char *data = random_bytes(N, 7), *back = malloc(N);
    unsigned char zero = 0;
    CHECK_OK(t, ykd_buffer_write(a, 0, data, N, &err), err);
    CHECK_OK(t, ykd_buffer_fill(b, 0, &zero, 1, N, &err), err);
    CHECK_OK(t, ykd_buffer_copy(b, 1000, a, 5, N - 2000, &err), err);
    /* disjoint ranges of one buffer may be copied */
    CHECK_OK(t, ykd_buffer_copy(a, 0, a, N / 2, 100, &err), err);
    CHECK_OK(t, ykd_buffer_read(b, 0, back, N, &err), err);
    bool ok = true;
    for (size_t i = 0; i < N; i++) {
        unsigned char want = i >= 1000 && i < N - 1000 ? data[i - 1000 + 5] : 0;
        ok = ok && back[i] == want;
    }
    CHECK(t, ok);
    CHECK_OK(t, ykd_buffer_read(a, 0, back, 100, &err), err);
    CHECK(t, memcmp(back, data + N / 2, 100) == 0);
    free(data);
    free(back);
    ykd_buffer_free(a);
    ykd_buffer_free(b);
}

/* Two ykd_devices on the same physical device have separate contexts: copies between them
 * must go through the host, in both directions, and in pieces larger than the staging chunk. */
static void test_copy_between_contexts(ykd_test *t)
{
    ykd_device *other = ykd_test_reopen(t, NULL);
    ykd_error err;
    if (!other)
        return;
    CHECK(t, other->context != t->device->context && other->queue != t->device->queue);
    size_t n = (40 << 20) + 3; /* more than two 16 MiB staging chunks */
    ykd_buffer *a = NULL, *b = NULL, *c = NULL;
    unsigned char *data = random_bytes(n, 11), *back = malloc(n);
    if (CHECK_OK(t, ykd_buffer_alloc(t->device, n, &a, &err), err) &&
        CHECK_OK(t, ykd_buffer_alloc(other, n, &b, &err), err) &&
        CHECK_OK(t, ykd_buffer_alloc(t->device, n, &c, &err), err)) {
        CHECK_OK(t, ykd_buffer_write(a, 0, data, n, &err), err);
        CHECK_OK(t, ykd_buffer_copy(b, 0, a, 0, n, &err), err);
        CHECK_OK(t, ykd_buffer_read(b, 0, back, n, &err), err);
        CHECK(t, memcmp(data, back, n) == 0);
        CHECK_OK(t, ykd_buffer_copy(c, 1, b, 0, n - 1, &err), err);
        CHECK_OK(t, ykd_buffer_read(c, 1, back, n - 1, &err), err);
        CHECK(t, memcmp(data, back, n - 1) == 0);
        CHECK_STATUS(t, ykd_buffer_copy(b, 1, a, 0, n, &err), YKD_ERR_INVALID_ARGUMENT, err);
    }
    CHECK(t, ykd_device_memory_in_use(other) == (b ? n : 0));
    free(data);
    free(back);
    ykd_buffer_free(a);
    ykd_buffer_free(b);
    ykd_buffer_free(c);
    ykd_device_close(other);
}

static void test_too_large_for_one_allocation(ykd_test *t)
{
    const ykd_device_info *info = ykd_device_get_info(t->device);
    ykd_buffer *buf = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_buffer_alloc(t->device, (size_t)info->max_alloc_bytes + 1, &buf, &err),
                 YKD_ERR_OUT_OF_MEMORY, err);
    CHECK(t, buf == NULL);
    CHECK_CONTAINS(t, err.message, "out of device memory");
    CHECK_CONTAINS(t, err.message, info->name);
    CHECK_CONTAINS(t, err.message, "largest single buffer");
    CHECK(t, ykd_device_memory_in_use(t->device) == 0);
}

static void test_memory_limit(ykd_test *t)
{
    const ykd_device_info *info = ykd_device_get_info(t->device);
    ykd_device_options options = {.memory_limit_bytes = 1 << 20};
    ykd_device *dev = ykd_test_reopen(t, &options);
    ykd_error err;
    if (!dev)
        return;
    ykd_buffer *a = NULL, *b = NULL;
    CHECK_OK(t, ykd_buffer_alloc(dev, 600 << 10, &a, &err), err);
    CHECK(t, ykd_device_memory_in_use(dev) == 600 << 10);
    CHECK_STATUS(t, ykd_buffer_alloc(dev, 600 << 10, &b, &err), YKD_ERR_OUT_OF_MEMORY, err);
    CHECK_CONTAINS(t, err.message, "out of device memory: cannot allocate 600.0 KiB");
    CHECK_CONTAINS(t, err.message, "600.0 KiB is in use of a limit of 1.0 MiB");
    CHECK_CONTAINS(t, err.message, info->name);
    ykd_buffer_free(a);
    CHECK(t, ykd_device_memory_in_use(dev) == 0);
    CHECK_OK(t, ykd_buffer_alloc(dev, 600 << 10, &b, &err), err);
    ykd_buffer_free(b);
    ykd_device_close(dev);
}

/* A read not waited for sees what the commands queued before it wrote (a fill queued after the
 * write), leaves the host copy alone until done, and is refused outside the buffer. */
static void test_read_not_waited_for(ykd_test *t)
{
    enum { N = 1 << 18 };
    ykd_buffer *buf = NULL;
    ykd_error err;
    float *data = malloc(N * sizeof(float)), *back = malloc(N * sizeof(float));
    if (!CHECK(t, data && back) || !CHECK_OK(t, ykd_buffer_alloc(t->device, N * 4, &buf, &err), err)) {
        free(data);
        free(back);
        return;
    }
    for (size_t i = 0; i < N; i++)
        data[i] = (float)i, back[i] = -1.0f;
    float seven = 7.0f;
    ykd_read *read = NULL, *bad = NULL;
    bool done = false;
    CHECK_OK(t, ykd_buffer_write(buf, 0, data, N * 4, &err), err);
    CHECK_OK(t, ykd_buffer_fill(buf, 4 * 16, &seven, 4, 4 * 16, &err), err); /* floats 16..31 */
    CHECK_OK(t, ykd_buffer_read_start(buf, 4 * 8, back, (N - 8) * 4, &read, &err), err);
    for (int ms = 0; ms < 10000 && read && !done; ms++) { /* it completes by itself */
        CHECK_OK(t, ykd_read_poll(read, &done, &err), err);
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECKF(t, done, "the read was not done after 10 s");
    CHECK_OK(t, ykd_read_finish(read, &err), err);
    size_t wrong = 0;
    for (size_t i = 8; i < N; i++)
        wrong += back[i - 8] != (i >= 16 && i < 32 ? 7.0f : (float)i);
    CHECKF(t, wrong == 0, "%zu of %d floats read back wrong", wrong, N - 8);
    CHECK_STATUS(t, ykd_buffer_read_start(buf, 4, back, N * 4, &bad, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "outside the buffer");
    CHECK(t, bad == NULL);
    CHECK_OK(t, ykd_read_finish(NULL, &err), err);
    ykd_buffer_free(buf);
    free(data);
    free(back);
}

static const ykd_test_case cases[] = {
    {"buffer: a read not waited for", test_read_not_waited_for, YKD_TEST_EACH_DEVICE},
    {"buffer: round trips and offsets", test_round_trip, YKD_TEST_EACH_DEVICE},
    {"buffer: ranges are checked", test_ranges_are_checked, YKD_TEST_EACH_DEVICE},
    {"buffer: fill with 1-, 4- and 16-byte patterns", test_fill_patterns, YKD_TEST_EACH_DEVICE},
    {"buffer: copy within a device", test_copy_within_device, YKD_TEST_EACH_DEVICE},
    {"buffer: copy between two contexts", test_copy_between_contexts, YKD_TEST_EACH_DEVICE},
    {"buffer: larger than one allocation may be", test_too_large_for_one_allocation,
     YKD_TEST_EACH_DEVICE},
    {"buffer: the device memory limit", test_memory_limit, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
