/* The test harness: each tests/test-<area>.c lists its tests and hands them to
 * ykd_test_main, which runs host tests once and device tests on every OpenCL device present,
 * prints a line per run and ends with "N passed, N failed". */
#ifndef YKD_TEST_HARNESS_H
#define YKD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* CHECK_CONTAINS */

#include "yolokd/device.h"

typedef struct ykd_test ykd_test;

/* What a running test sees: the device it runs on (NULL for host tests) and its failures. */
struct ykd_test {
    const char *name;
    ykd_device *device;
    int failures;
    char first_failure[1024];
    char skipped[512]; /* why the test could not run; empty when it ran */
};

typedef enum ykd_test_kind {
    YKD_TEST_HOST,        /* runs once, no device */
    YKD_TEST_EACH_DEVICE, /* runs once per device, with t->device open */
    /* runs on the first device only, for tests whose subject is on the host (files written and
     * recovered, a cache's records) but that need a device to train with: the device side of
     * what they run is tested on every device by other cases. The label says so. */
    YKD_TEST_FIRST_DEVICE
} ykd_test_kind;

typedef struct ykd_test_case {
    const char *name;
    void (*run)(ykd_test *t);
    ykd_test_kind kind;
} ykd_test_case;

/* Runs the cases (all, or those whose name contains argv[1]); exit status 0 when none failed.
 * YOLOKD_TEST_DEVICES (a comma list of specs) restricts the devices; default: all. */
int ykd_test_main(const ykd_test_case *cases, size_t count, int argc, char **argv);

/* Marks the test as not run, with why (a missing test-time tool): it is reported as
 * "SKIPPED  name: why" and counted neither passed nor failed. Checks that fail still fail. */
void ykd_test_skip(ykd_test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records a failure unless ok; returns ok so a test can stop early. */
bool ykd_test_check(ykd_test *t, bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define CHECK(t, cond) ykd_test_check((t), (cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(t, cond, ...) ykd_test_check((t), (cond), __FILE__, __LINE__, __VA_ARGS__)
/* Expects a call to return `expected`; shows the error message otherwise. */
#define CHECK_STATUS(t, call, expected, err)                                                   \
    ykd_test_check_status((t), (call), (expected), &(err), #call, __FILE__, __LINE__)
#define CHECK_OK(t, call, err) CHECK_STATUS(t, call, YKD_OK, err)

bool ykd_test_check_status(ykd_test *t, ykd_status got, ykd_status expected,
                           const ykd_error *err, const char *call, const char *file, int line);

/* Expects text to contain needle. */
#define CHECK_CONTAINS(t, text, needle)                                                        \
    ykd_test_check((t), strstr((text), (needle)) != NULL, __FILE__, __LINE__,                  \
                   "expected \"%s\" in: %s", (needle), (text))

/* Opens the test's device a second time, in a context of its own; NULL (a failed check) when
 * it cannot. options may be NULL. */
ykd_device *ykd_test_reopen(ykd_test *t, const ykd_device_options *options);

/* Runs run(t) with t->device reopened with work-groups capped at 1, 4 and 16 work-items
 * (ykd_device_options.max_work_group_size), as devices with small limits choose them. */
void ykd_test_with_small_groups(ykd_test *t, void (*run)(ykd_test *t));

/* Runs run(t) with t->device reopened with its kernels built for vectors of 1, 2, 4, 8 and 16
 * floats (ykd_device_options.vector_floats), as devices preferring each width build them. */
void ykd_test_with_vector_widths(ykd_test *t, void (*run)(ykd_test *t));

/* The one GEMM configuration tests pin where runs must compute alike bit for bit (nothing
 * measured, every convolution on its fallback path): our float16 tiles (tiled-8x1) on devices
 * whose work-items vectorise within themselves (PoCL), CLBlast where work-items are lanes
 * (llvmpipe, GPUs): there a work-item of our CPU-shaped tiles holds 128 accumulators and a
 * training step (YOLOv8n, 64 pixels, 2 images) took five times as long. Our tiles are tested
 * on every device by the op table. */
const char *ykd_test_fixed_gemm(const ykd_device *device);

/* The real device list; false (a failed check) when listing fails. Free with
 * ykd_device_list_free. */
bool ykd_test_device_list(ykd_test *t, ykd_device_info **devices, size_t *count);

/* Sets (value) or unsets (NULL) environment variables for one test and puts them back. */
typedef struct ykd_test_env {
    size_t count;
    struct {
        const char *name;
        char *saved; /* NULL when the variable was unset */
    } vars[8];
} ykd_test_env;

void ykd_test_setenv(ykd_test_env *env, const char *name, const char *value);
void ykd_test_restore_env(ykd_test_env *env);

/* A fresh empty folder under $TMPDIR (or /tmp), removed by ykd_test_rmtree. */
bool ykd_test_mkdtemp(ykd_test *t, char *path, size_t size);
void ykd_test_rmtree(const char *path);

/* Number of regular files directly inside a folder (0 when it does not exist). */
int ykd_test_count_files(const char *path);

/* The path of some regular file directly inside folder; false when there is none. */
bool ykd_test_any_file(const char *folder, char *path, size_t size);

/* A small deterministic generator (xorshift64*), so failures replay. */
typedef struct ykd_test_rng {
    uint64_t state;
} ykd_test_rng;

void ykd_test_rng_seed(ykd_test_rng *rng, uint64_t seed);
uint64_t ykd_test_rng_next(ykd_test_rng *rng);
/* Uniform in [lo, hi). */
float ykd_test_rng_uniform(ykd_test_rng *rng, float lo, float hi);

/* Normalised mean squared error sum((a-b)^2) / sum(b^2), as ggml's backend tests use. */
double ykd_test_nmse(const float *got, const double *expected, size_t n);

#endif
