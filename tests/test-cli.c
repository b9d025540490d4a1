/* The yolokd command, run in-process: help, version, devices (table and JSON), a bad device
 * spec, selftest through the binary cache, and bench ops's timing (finite figures on every
 * device, the host clock when forced, --max-time), bench step's JSON (a step, a forward). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "cli_run.h"
#include "harness.h"

static void test_help_and_version(ykd_test *t)
{
    run_result r = run_cli("--version", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "yolokd ");
    CHECK_CONTAINS(t, r.out, ykd_version());
    CHECK_CONTAINS(t, r.out, "\nMPI: ");
    CHECK_CONTAINS(t, r.out, ykd_comm_library() ? ykd_comm_library() : "not built in");
    free_result(&r);
    r = run_cli("--help", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "devices");
    CHECK_CONTAINS(t, r.out, "YOLOKD_CACHE_DIR");
    free_result(&r);
    r = run_cli("devices", "--help", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "--json");
    free_result(&r);
    r = run_cli("help", "selftest", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "usage: yolokd [--device SPEC] selftest");
    free_result(&r);
}

static void test_usage_errors(ykd_test *t)
{
    run_result r = run_cli(NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "usage:");
    free_result(&r);
    r = run_cli("frobnicate", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "unknown command 'frobnicate'");
    free_result(&r);
    r = run_cli("--frob", "devices", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "unknown option '--frob'");
    free_result(&r);
    r = run_cli("devices", "--device", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--device needs a device spec");
    free_result(&r);
    r = run_cli("devices", "extra", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
}

static void test_devices_table(ykd_test *t)
{
    ykd_device_info *devices = NULL;
    size_t count = 0;
    if (!ykd_test_device_list(t, &devices, &count))
        return;
    run_result r = run_cli("devices", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, " #  type");
    for (size_t i = 0; i < count; i++)
        CHECK_CONTAINS(t, r.out, devices[i].name);
    CHECK_CONTAINS(t, r.out, "*");
    free_result(&r);
    ykd_device_list_free(devices);
}

static void test_devices_json(ykd_test *t)
{
    ykd_device_info *devices = NULL;
    size_t count = 0;
    if (!ykd_test_device_list(t, &devices, &count))
        return;
    char last[32];
    snprintf(last, sizeof last, "%zu", count ? count - 1 : 0);
    run_result r = run_cli("--device", last, "devices", "--json", NULL);
    CHECK(t, r.code == 0);
    cJSON *root = cJSON_Parse(r.out);
    if (CHECKF(t, root != NULL, "not JSON: %s", r.out)) {
        cJSON *list = cJSON_GetObjectItem(root, "devices");
        cJSON *selected = cJSON_GetObjectItem(root, "selected");
        CHECK(t, cJSON_IsArray(list) && cJSON_GetArraySize(list) == (int)count);
        CHECK(t, cJSON_IsNumber(selected) && selected->valueint == (int)count - 1);
        for (size_t i = 0; i < count && cJSON_IsArray(list); i++) {
            cJSON *d = cJSON_GetArrayItem(list, (int)i);
            cJSON *name = cJSON_GetObjectItem(d, "name");
            cJSON *memory = cJSON_GetObjectItem(d, "global_mem_bytes");
            cJSON *fp64 = cJSON_GetObjectItem(d, "fp64");
            CHECK(t, cJSON_IsString(name) && strcmp(name->valuestring, devices[i].name) == 0);
            CHECK(t, cJSON_IsNumber(memory) &&
                         memory->valuedouble == (double)devices[i].global_mem_bytes);
            CHECK(t, cJSON_IsBool(fp64) && cJSON_IsTrue(fp64) == devices[i].fp64);
            CHECK(t, cJSON_IsTrue(cJSON_GetObjectItem(d, "selected")) == (i == count - 1));
        }
        cJSON_Delete(root);
    }
    free_result(&r);
    ykd_device_list_free(devices);
}

static void test_unknown_device_lists_devices(ykd_test *t)
{
    ykd_device_info *devices = NULL;
    size_t count = 0;
    if (!ykd_test_device_list(t, &devices, &count))
        return;
    const char *commands[] = {"devices", "selftest"};
    for (int c = 0; c < 2; c++) {
        run_result r = run_cli("--device", "nosuch", commands[c], NULL);
        CHECKF(t, r.code == 2, "%s: exit %d", commands[c], r.code);
        CHECK_CONTAINS(t, r.err, "unknown device 'nosuch'");
        for (size_t i = 0; i < count; i++)
            CHECK_CONTAINS(t, r.err, devices[i].name);
        CHECK(t, r.out[0] == '\0');
        free_result(&r);
    }
    ykd_device_list_free(devices);
}

static void test_selftest_uses_the_cache(ykd_test *t)
{
    char dir[256];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    ykd_test_env env = {0};
    ykd_test_setenv(&env, "YOLOKD_CACHE_DIR", dir);
    char spec[16];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    run_result r = run_cli("--device", spec, "selftest", NULL);
    CHECKF(t, r.code == 0, "selftest exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "kernels: compiled from source");
    CHECK_CONTAINS(t, r.out, "fill + axpy on 1048576 floats: ok");
    free_result(&r);
    r = run_cli("selftest", "--device", spec, NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "kernels: loaded from the cache");
    CHECK_CONTAINS(t, r.out, dir);
    free_result(&r);
    ykd_test_restore_env(&env);
    ykd_test_rmtree(dir);
}

static bool positive_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > 0;
}

/* bench ops on a tiny configuration: whichever way the device is timed, every figure is
 * finite and positive, and the JSON says how it was timed. */
static void test_bench_ops_figures_are_finite(ykd_test *t)
{
    char spec[16];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    run_result r = run_cli("bench", "ops", "--devices", spec, "--models", "n", "--imgsz", "64",
                           "--batch", "1", "--ops", "silu,concat", "--min-time", "0", "--json",
                           NULL);
    CHECKF(t, r.code == 0, "bench ops exit %d: %s", r.code, r.err);
    cJSON *root = cJSON_Parse(r.out);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "devices"), 0);
    const cJSON *timing = cJSON_GetObjectItemCaseSensitive(d, "timing");
    if (CHECKF(t, cJSON_IsString(timing), "no timing in: %.300s", r.out)) {
        CHECK(t, strcmp(timing->valuestring, "events") == 0 ||
                     strcmp(timing->valuestring, "host") == 0);
        CHECK(t, positive_number(d, "sgemm_gflops") && positive_number(d, "copy_gbps"));
    }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(d, "results"), *row = NULL;
    CHECKF(t, cJSON_GetArraySize(rows) == 4, "%d rows", cJSON_GetArraySize(rows));
    cJSON_ArrayForEach(row, rows)
        CHECKF(t, positive_number(row, "ms") && positive_number(row, "gbps"),
               "a row without a finite, positive time: %s",
               cJSON_GetObjectItemCaseSensitive(row, "op")->valuestring);
    cJSON_Delete(root);
    free_result(&r);
}

/* With the host clock forced, the table says so; a --max-time that has passed before the
 * first configuration stops there and says so, after the reference figures. */
static void test_bench_ops_host_clock_and_max_time(ykd_test *t)
{
    char spec[16];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    ykd_test_env env = {0};
    ykd_test_setenv(&env, "YOLOKD_TIMING", "host");
    run_result r = run_cli("bench", "ops", "--devices", spec, "--models", "n", "--imgsz", "64",
                           "--batch", "1", "--ops", "silu", "--min-time", "0", "--max-time",
                           "0.001", NULL);
    CHECKF(t, r.code == 0, "bench ops exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "timing: host clock around a finished queue (event profiling "
                             "unusable on this device: YOLOKD_TIMING=host)");
    CHECK_CONTAINS(t, r.out, "--max-time 0.001 s passed before n/64/1");
    CHECKF(t, !strstr(r.out, "inf") && !strstr(r.out, "nan"), "not finite: %s", r.out);
    const char *sgemm = strstr(r.out, "CLBlast SGEMM 1024^3: ");
    CHECKF(t, sgemm && strtod(sgemm + 22, NULL) > 0, "no SGEMM figure in: %s", r.out);
    free_result(&r);
    ykd_test_restore_env(&env);
}

/* bench step --json, a training step and (--forward) an inference forward on a tiny
 * configuration: one row each, finite positive times (a step's phases too), what
 * tools/bench-torch reads; --forward
 * with --teacher is a usage error; --forward --profile adds the kernels' device times.
 * The GEMMs are pinned: measuring every candidate on every shape of the model (compiling each
 * first) took three minutes a device from an empty kernel cache, and the tuner has tests of
 * its own (test-device-timing). */
static void test_bench_step_json(ykd_test *t)
{
    char spec[16];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    ykd_test_env env = {0};
    ykd_test_setenv(&env, "YOLOKD_GEMM", ykd_test_fixed_gemm(t->device));
    static const char *const keys[2] = {"step_ms", "forward_ms"};
    for (int forward = 0; forward < 2; forward++) {
        run_result r = run_cli("bench", "step", "--devices", spec, "--models", "n", "--imgsz",
                               "64", "--batch", "2", "--nc", "3", "--runs", "1", "--warmup", "0",
                               "--json", forward ? "--forward" : NULL, NULL);
        CHECKF(t, r.code == 0, "bench step exit %d: %s", r.code, r.err);
        cJSON *root = cJSON_Parse(r.out);
        const cJSON *row = cJSON_GetArrayItem(root, 0);
        CHECKF(t, cJSON_GetArraySize(root) == 1 && positive_number(row, keys[forward]) &&
                      positive_number(row, "images_per_s"),
               "no %s in: %.300s", keys[forward], r.out);
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(row, "model");
        CHECK(t, cJSON_IsString(model) && strcmp(model->valuestring, "n") == 0);
        /* a step's phases come from steps of their own, timed phase by phase */
        CHECKF(t, forward || (positive_number(row, "forward_ms") &&
                              positive_number(row, "backward_ms")),
               "no phases in: %.300s", r.out);
        cJSON_Delete(root);
        free_result(&r);
    }
    run_result r = run_cli("bench", "step", "--forward", "--teacher", "s", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--forward times the inference forward alone");
    free_result(&r);
    r = run_cli("bench", "step", "--devices", spec, "--models", "n", "--imgsz", "64", "--batch",
                "2", "--nc", "3", "--runs", "1", "--warmup", "0", "--forward", "--profile", NULL);
    CHECKF(t, r.code == 0, "bench step --forward --profile exit %d: %s", r.code, r.err);
    /* kernels with their shares ("im2col 32.7 (42%)"); which ones lead depends on the device:
     * where the GEMMs run in CLBlast, its kernels are not ours to list */
    CHECK_CONTAINS(t, r.out, "device time per step");
    CHECK_CONTAINS(t, r.out, "%), ");
    free_result(&r);
    ykd_test_restore_env(&env);
}

static const ykd_test_case cases[] = {
    {"cli: help and version", test_help_and_version, YKD_TEST_HOST},
    {"cli: usage errors exit 2", test_usage_errors, YKD_TEST_HOST},
    {"cli: devices table", test_devices_table, YKD_TEST_HOST},
    {"cli: devices --json", test_devices_json, YKD_TEST_HOST},
    {"cli: an unknown device exits 2 and lists the devices", test_unknown_device_lists_devices,
     YKD_TEST_HOST},
    {"cli: selftest, then again from the cache", test_selftest_uses_the_cache,
     YKD_TEST_EACH_DEVICE},
    {"cli: bench ops gives finite figures", test_bench_ops_figures_are_finite,
     YKD_TEST_EACH_DEVICE},
    {"cli: bench ops on the host clock, stopped by --max-time",
     test_bench_ops_host_clock_and_max_time, YKD_TEST_EACH_DEVICE},
    {"cli: bench step --json, a step and a forward", test_bench_step_json, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
