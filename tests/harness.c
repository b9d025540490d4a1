#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "harness.h"

bool ykd_test_check(ykd_test *t, bool ok, const char *file, int line, const char *fmt, ...)
{
    if (ok)
        return true;
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (t->failures == 0)
        snprintf(t->first_failure, sizeof t->first_failure, "%s:%d: %s", file, line, what);
    t->failures++;
    printf("    %s:%d: check failed: %s\n", file, line, what);
    return false;
}

void ykd_test_skip(ykd_test *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->skipped, sizeof t->skipped, fmt, ap);
    va_end(ap);
    if (!t->skipped[0])
        snprintf(t->skipped, sizeof t->skipped, "no reason given");
}

bool ykd_test_check_status(ykd_test *t, ykd_status got, ykd_status expected,
                           const ykd_error *err, const char *call, const char *file, int line)
{
    return ykd_test_check(t, got == expected, file, line, "%s returned %s, expected %s; message: %s",
                          call, ykd_status_name(got), ykd_status_name(expected),
                          got != YKD_OK && err ? err->message : "");
}

ykd_device *ykd_test_reopen(ykd_test *t, const ykd_device_options *options)
{
    char spec[32];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    ykd_device *dev = NULL;
    ykd_error err;
    CHECK_OK(t, ykd_device_open(spec, options, &dev, &err), err);
    return dev;
}

/* Runs run(t) on other instead of t's device, then closes it; what names the variation in
 * the line that follows its failures. */
static void run_on_other(ykd_test *t, ykd_device *other, void (*run)(ykd_test *t),
                         const char *what)
{
    ykd_device *own = t->device;
    int before = t->failures;
    t->device = other;
    run(t);
    t->device = own;
    ykd_device_close(other);
    CHECKF(t, t->failures == before, "(the failures above: %s)", what);
}

void ykd_test_with_small_groups(ykd_test *t, void (*run)(ykd_test *t))
{
    static const size_t caps[] = {1, 4, 16};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        ykd_device_options options = {.max_work_group_size = caps[i]};
        ykd_device *capped = ykd_test_reopen(t, &options);
        if (!capped)
            return;
        CHECKF(t, ykd_device_get_info(capped)->max_work_group_size <= caps[i],
               "a cap of %zu reports work-groups of %zu", caps[i],
               ykd_device_get_info(capped)->max_work_group_size);
        char what[64];
        snprintf(what, sizeof what, "work-groups capped at %zu", caps[i]);
        run_on_other(t, capped, run, what);
    }
}

const char *ykd_test_fixed_gemm(const ykd_device *device)
{
    return ykd_device_get_info(device)->vector_floats >= 4 ? "tiled-8x1" : "clblast";
}

void ykd_test_with_vector_widths(ykd_test *t, void (*run)(ykd_test *t))
{
    static const unsigned widths[] = {1, 2, 4, 8, 16};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        ykd_device_options options = {.vector_floats = widths[i]};
        ykd_device *other = ykd_test_reopen(t, &options);
        if (!other)
            return;
        CHECKF(t, ykd_device_get_info(other)->vector_floats == widths[i],
               "asked for vectors of %u floats, the device reports %u", widths[i],
               ykd_device_get_info(other)->vector_floats);
        char what[64];
        snprintf(what, sizeof what, "vectors of %u floats", widths[i]);
        run_on_other(t, other, run, what);
    }
}

bool ykd_test_device_list(ykd_test *t, ykd_device_info **devices, size_t *count)
{
    ykd_error err;
    return CHECK_OK(t, ykd_device_list(devices, count, &err), err);
}

void ykd_test_setenv(ykd_test_env *env, const char *name, const char *value)
{
    const char *old = getenv(name);
    if (env->count < sizeof env->vars / sizeof env->vars[0]) {
        env->vars[env->count].name = name;
        env->vars[env->count].saved = old ? strdup(old) : NULL;
        env->count++;
    }
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

void ykd_test_restore_env(ykd_test_env *env)
{
    /* in reverse, so a variable set twice ends with its first saved value */
    while (env->count > 0) {
        env->count--;
        if (env->vars[env->count].saved)
            setenv(env->vars[env->count].name, env->vars[env->count].saved, 1);
        else
            unsetenv(env->vars[env->count].name);
        free(env->vars[env->count].saved);
    }
}

bool ykd_test_mkdtemp(ykd_test *t, char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/yolokd-test-XXXXXX", base && *base ? base : "/tmp");
    return ykd_test_check(t, mkdtemp(path) != NULL, __FILE__, __LINE__,
                          "cannot create a temporary folder %s", path);
}

void ykd_test_rmtree(const char *path)
{
    ykd_remove_tree(path);
}

int ykd_test_count_files(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISREG(st.st_mode))
            n++;
    }
    closedir(dir);
    return n;
}

bool ykd_test_any_file(const char *folder, char *path, size_t size)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(dir)) != NULL) {
        snprintf(path, size, "%s/%s", folder, e->d_name);
        struct stat st;
        found = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    }
    closedir(dir);
    return found;
}

void ykd_test_rng_seed(ykd_test_rng *rng, uint64_t seed)
{
    rng->state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t ykd_test_rng_next(ykd_test_rng *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

float ykd_test_rng_uniform(ykd_test_rng *rng, float lo, float hi)
{
    double unit = (double)(ykd_test_rng_next(rng) >> 11) / (double)(1ULL << 53);
    return (float)(lo + (hi - lo) * unit);
}

double ykd_test_nmse(const float *got, const double *expected, size_t n)
{
    double err = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - expected[i];
        err += d * d;
        norm += expected[i] * expected[i];
    }
    if (norm == 0.0)
        return err == 0.0 ? 0.0 : 1.0 / 0.0;
    return err / norm;
}

typedef struct tally {
    int passed;
    int failed;
} tally;

/* The monotonic clock in milliseconds. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Seconds since start_ms, printed after each result so that the slow tests show (the suite
 * has a time budget). */
static double seconds_since(double start_ms)
{
    return (now_ms() - start_ms) / 1000.0;
}

static void report(tally *tally, const ykd_test *t, const char *label, double start_ms)
{
    double took = seconds_since(start_ms);
    if (t->failures == 0 && t->skipped[0]) {
        printf("SKIPPED  %s: %s  (%.1f s)\n", label, t->skipped, took);
    } else if (t->failures == 0) {
        tally->passed++;
        printf("ok    %s  (%.1f s)\n", label, took);
    } else {
        tally->failed++;
        printf("FAIL  %s  (%d failed checks; first: %s)  (%.1f s)\n", label, t->failures,
               t->first_failure, took);
    }
    fflush(stdout);
}

static void run_host(const ykd_test_case *c, tally *tally)
{
    ykd_test t = {.name = c->name};
    double start = now_ms();
    c->run(&t);
    report(tally, &t, c->name, start);
}

/* The device specs to test on: $YOLOKD_TEST_DEVICES, else every index. */
static size_t device_specs(char specs[][64], size_t max, size_t device_count)
{
    const char *env = getenv("YOLOKD_TEST_DEVICES");
    size_t n = 0;
    if (!env || !*env) {
        for (size_t i = 0; i < device_count && n < max; i++)
            snprintf(specs[n++], 64, "%zu", i);
        return n;
    }
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", env);
    for (char *save = NULL, *s = strtok_r(copy, ",", &save); s && n < max;
         s = strtok_r(NULL, ",", &save))
        snprintf(specs[n++], 64, "%s", s);
    return n;
}

static void run_on_devices(const ykd_test_case *c, char specs[][64], size_t spec_count,
                           tally *tally)
{
    if (c->kind == YKD_TEST_FIRST_DEVICE && spec_count > 1)
        spec_count = 1;
    for (size_t i = 0; i < spec_count; i++) {
        ykd_test t = {.name = c->name};
        ykd_error err = {0};
        double start = now_ms();
        char label[1024];
        snprintf(label, sizeof label, "%.200s [device %.63s]", c->name, specs[i]);
        if (ykd_device_open(specs[i], NULL, &t.device, &err) != YKD_OK) {
            ykd_test_check(&t, false, __FILE__, __LINE__, "cannot open device %s: %s", specs[i],
                           err.message);
            report(tally, &t, label, start);
            continue;
        }
        const ykd_device_info *info = ykd_device_get_info(t.device);
        snprintf(label, sizeof label, "%.200s [device %d: %.255s%s]", c->name, info->index,
                 info->name, c->kind == YKD_TEST_FIRST_DEVICE ? "; the first device only" : "");
        c->run(&t);
        ykd_device_close(t.device);
        report(tally, &t, label, start);
    }
}

static bool selected(const ykd_test_case *c, int argc, char **argv)
{
    return argc < 2 || strstr(c->name, argv[1]) != NULL;
}

int ykd_test_main(const ykd_test_case *cases, size_t count, int argc, char **argv)
{
    tally tally = {0, 0};
    ykd_device_info *devices = NULL;
    size_t device_count = 0;
    ykd_error err = {0};
    if (ykd_device_list(&devices, &device_count, &err) != YKD_OK)
        fprintf(stderr, "listing devices failed: %s\n", err.message);
    ykd_device_list_free(devices);
    char specs[64][64];
    size_t spec_count = device_specs(specs, 64, device_count);

    bool any_device_test = false;
    for (size_t i = 0; i < count; i++) {
        if (!selected(&cases[i], argc, argv))
            continue;
        if (cases[i].kind == YKD_TEST_HOST) {
            run_host(&cases[i], &tally);
        } else {
            any_device_test = true;
            run_on_devices(&cases[i], specs, spec_count, &tally);
        }
    }
    if (any_device_test && spec_count == 0) {
        /* device tests with no device would pass vacuously: that is a failure */
        printf("FAIL  no OpenCL device to run the device tests on (install pocl-opencl-icd)\n");
        tally.failed++;
    }
    printf("%d passed, %d failed\n", tally.passed, tally.failed);
    return tally.failed == 0 ? 0 : 1;
}
