/* Enumeration of the real devices, and device spec strings resolved against made-up lists
 * (so every form is exercised even where only PoCL is installed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "device/discovery.h"
#include "harness.h"
#include "yolokd/device.h"

static void test_enumeration_describes_every_device(ykd_test *t)
{
    ykd_device_info *devices = NULL;
    size_t count = 0;
    if (!ykd_test_device_list(t, &devices, &count))
        return;
    CHECKF(t, count >= 1, "no OpenCL device found; the suite needs one (pocl-opencl-icd)");
    for (size_t i = 0; i < count; i++) {
        const ykd_device_info *d = &devices[i];
        CHECK(t, d->index == (int)i);
        CHECK(t, d->name[0] != '\0' && d->platform_name[0] != '\0');
        CHECK(t, strncmp(d->device_version, "OpenCL ", 7) == 0);
        CHECK(t, strncmp(d->opencl_c_version, "OpenCL C ", 9) == 0);
        CHECK(t, d->driver_version[0] != '\0');
        CHECK(t, d->compute_units >= 1);
        CHECK(t, d->global_mem_bytes > 0 && d->max_alloc_bytes > 0);
        CHECK(t, d->max_alloc_bytes <= d->global_mem_bytes);
        CHECK(t, d->local_mem_bytes >= 16 * 1024); /* the OpenCL 1.2 minimum */
        CHECK(t, d->max_work_group_size >= 1);
        CHECK(t, d->type == YKD_DEVICE_TYPE_CPU || d->type == YKD_DEVICE_TYPE_GPU ||
                     d->type == YKD_DEVICE_TYPE_ACCELERATOR || d->type == YKD_DEVICE_TYPE_OTHER);
        if (i > 0) {
            /* devices of one platform are contiguous and numbered within it */
            const ykd_device_info *prev = &devices[i - 1];
            bool same = prev->platform_index == d->platform_index;
            CHECK(t, same ? d->index_in_platform == prev->index_in_platform + 1
                          : d->platform_index > prev->platform_index && d->index_in_platform == 0);
        }
        if (strstr(d->platform_name, "Portable Computing Language") &&
            d->type == YKD_DEVICE_TYPE_CPU)
            CHECKF(t, d->fp64, "PoCL's CPU device supports cl_khr_fp64, enumeration says not");
    }
    ykd_device_list_free(devices);
}

/* A made-up machine: PoCL on an AMD CPU, two NVIDIA GPUs, a Mesa AMD GPU, an Intel GPU and an
 * Intel FPGA emulator. */
static void fake_device(ykd_device_info *d, int index, ykd_device_type type, const char *name,
                        const char *vendor, const char *platform, const char *platform_vendor,
                        const char *platform_version)
{
    memset(d, 0, sizeof *d);
    d->index = index;
    d->type = type;
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->vendor, sizeof d->vendor, "%s", vendor);
    snprintf(d->platform_name, sizeof d->platform_name, "%s", platform);
    snprintf(d->platform_vendor, sizeof d->platform_vendor, "%s", platform_vendor);
    snprintf(d->platform_version, sizeof d->platform_version, "%s", platform_version);
}

enum { FAKE_COUNT = 6 };

static void fake_machine(ykd_device_info d[FAKE_COUNT])
{
    fake_device(&d[0], 0, YKD_DEVICE_TYPE_CPU, "pthread-znver3-AMD EPYC 7763", "AuthenticAMD",
                "Portable Computing Language", "The pocl project", "OpenCL 3.0 PoCL 3.1");
    fake_device(&d[1], 1, YKD_DEVICE_TYPE_GPU, "NVIDIA H100 80GB HBM3", "NVIDIA Corporation",
                "NVIDIA CUDA", "NVIDIA Corporation", "OpenCL 3.0 CUDA 12.4");
    fake_device(&d[2], 2, YKD_DEVICE_TYPE_GPU, "NVIDIA GeForce RTX 4090", "NVIDIA Corporation",
                "NVIDIA CUDA", "NVIDIA Corporation", "OpenCL 3.0 CUDA 12.4");
    fake_device(&d[3], 3, YKD_DEVICE_TYPE_GPU, "AMD Radeon RX 7900 XTX (radeonsi, navi31)",
                "AMD", "rusticl", "Mesa/X.org", "OpenCL 3.0");
    fake_device(&d[4], 4, YKD_DEVICE_TYPE_GPU, "Intel(R) Arc(TM) A770 Graphics",
                "Intel(R) Corporation", "Intel(R) OpenCL Graphics", "Intel(R) Corporation",
                "OpenCL 3.0");
    fake_device(&d[5], 5, YKD_DEVICE_TYPE_ACCELERATOR, "Intel(R) FPGA Emulation Device",
                "Intel(R) Corporation", "Intel(R) FPGA Emulation Platform for OpenCL(TM)",
                "Intel(R) Corporation", "OpenCL 1.2");
}

typedef struct spec_case {
    const char *spec;
    ykd_status status;
    size_t index; /* expected when status is YKD_OK */
} spec_case;

static void test_spec_forms(ykd_test *t)
{
    ykd_device_info d[FAKE_COUNT];
    fake_machine(d);
    static const spec_case cases[] = {
        {"0", YKD_OK, 0},         {"5", YKD_OK, 5},         {"005", YKD_OK, 5},
        {"cpu", YKD_OK, 0},       {"cpu:0", YKD_OK, 0},     {"gpu", YKD_OK, 1},
        {"gpu:0", YKD_OK, 1},     {"gpu:1", YKD_OK, 2},     {"gpu:3", YKD_OK, 4},
        {"GPU:2", YKD_OK, 3},     {"accelerator", YKD_OK, 5}, {"acc:0", YKD_OK, 5},
        {"nvidia", YKD_OK, 1},    {"nvidia:1", YKD_OK, 2},  {"amd", YKD_OK, 3},
        {"amd:0", YKD_OK, 3},     {"intel", YKD_OK, 4},     {"intel:1", YKD_OK, 5},
        {"pocl", YKD_OK, 0},      {"pocl:0", YKD_OK, 0},    {"auto", YKD_OK, 1},
        {"", YKD_OK, 1},          {"rtx 4090", YKD_OK, 2},  {"h100", YKD_OK, 1},
        {"radeon", YKD_OK, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t index = 999;
        ykd_error err = {0};
        ykd_status st = ykd_device_spec_resolve(cases[i].spec, d, FAKE_COUNT, &index, &err);
        CHECKF(t, st == cases[i].status && index == cases[i].index,
               "spec '%s': got %s index %zu, expected index %zu (%s)", cases[i].spec,
               ykd_status_name(st), index, cases[i].index, err.message);
    }
    size_t index = 999;
    ykd_error err;
    CHECK_OK(t, ykd_device_spec_resolve(NULL, d, FAKE_COUNT, &index, &err), err);
    CHECK(t, index == 1);
}

static void test_bad_specs_list_the_devices(ykd_test *t)
{
    ykd_device_info d[FAKE_COUNT];
    fake_machine(d);
    static const spec_case cases[] = {
        {"6", YKD_ERR_NOT_FOUND, 0},
        {"4090", YKD_ERR_NOT_FOUND, 0}, /* digits alone are an index, never a name */
        {"99999999999999999999", YKD_ERR_NOT_FOUND, 0},
        {"gpu:4", YKD_ERR_NOT_FOUND, 0},
        {"cpu:1", YKD_ERR_NOT_FOUND, 0},
        {"apple", YKD_ERR_NOT_FOUND, 0},
        {"gpu:", YKD_ERR_INVALID_ARGUMENT, 0},
        {"gpu:x", YKD_ERR_INVALID_ARGUMENT, 0},
        {"gpu:-1", YKD_ERR_INVALID_ARGUMENT, 0},
        {"gpu:1:2", YKD_ERR_INVALID_ARGUMENT, 0},
        {"nvidia:one", YKD_ERR_INVALID_ARGUMENT, 0},
        {"-1", YKD_ERR_NOT_FOUND, 0},
        {"nosuch", YKD_ERR_NOT_FOUND, 0},
        {"NVIDIA ", YKD_ERR_AMBIGUOUS, 0}, /* a name fragment both NVIDIA GPUs share */
        {"Intel(R)", YKD_ERR_AMBIGUOUS, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t index = 999;
        ykd_error err = {0};
        ykd_status st = ykd_device_spec_resolve(cases[i].spec, d, FAKE_COUNT, &index, &err);
        CHECKF(t, st == cases[i].status, "spec '%s': got %s, expected %s", cases[i].spec,
               ykd_status_name(st), ykd_status_name(cases[i].status));
        CHECKF(t, index == 999, "spec '%s' wrote an index on failure", cases[i].spec);
        CHECK_CONTAINS(t, err.message, cases[i].spec);
        for (int k = 0; k < FAKE_COUNT; k++)
            CHECK_CONTAINS(t, err.message, d[k].name);
    }
    size_t index = 0;
    ykd_error err;
    CHECK_STATUS(t, ykd_device_spec_resolve("gpu:4", d, FAKE_COUNT, &index, &err),
                 YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "there are 4");
}

static void test_cpu_vendor_is_not_a_gpu_vendor(ykd_test *t)
{
    /* PoCL on an AMD CPU reports vendor "AuthenticAMD": "amd" must not pick it */
    ykd_device_info d[1];
    fake_device(&d[0], 0, YKD_DEVICE_TYPE_CPU, "pthread-AMD EPYC", "AuthenticAMD",
                "Portable Computing Language", "The pocl project", "OpenCL 3.0 PoCL 3.1");
    size_t index = 0;
    ykd_error err;
    CHECK_STATUS(t, ykd_device_spec_resolve("amd", d, 1, &index, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_OK(t, ykd_device_spec_resolve("pocl", d, 1, &index, &err), err);
}

static void test_no_devices(ykd_test *t)
{
    size_t index = 0;
    ykd_error err;
    CHECK_STATUS(t, ykd_device_spec_resolve("auto", NULL, 0, &index, &err), YKD_ERR_NO_DEVICE,
                 err);
    CHECK_CONTAINS(t, err.message, "pocl-opencl-icd");
    char buf[256] = "";
    ykd_device_list_format(NULL, 0, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "no OpenCL devices");
}

static void test_auto_prefers_gpu_then_accelerator(ykd_test *t)
{
    ykd_device_info d[FAKE_COUNT];
    fake_machine(d);
    size_t index = 0;
    ykd_error err;
    /* only the CPU and the accelerator: the accelerator wins */
    ykd_device_info two[2] = {d[0], d[5]};
    CHECK_OK(t, ykd_device_spec_resolve("auto", two, 2, &index, &err), err);
    CHECK(t, index == 1);
    CHECK_OK(t, ykd_device_spec_resolve("auto", d, 1, &index, &err), err);
    CHECK(t, index == 0);
}

static void test_open_with_bad_spec_lists_real_devices(ykd_test *t)
{
    ykd_device *dev = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_device_open("nosuch", NULL, &dev, &err), YKD_ERR_NOT_FOUND, err);
    CHECK(t, dev == NULL);
    CHECK_CONTAINS(t, err.message, "unknown device 'nosuch'");
    ykd_device_info *devices = NULL;
    size_t count = 0;
    if (!ykd_test_device_list(t, &devices, &count))
        return;
    for (size_t i = 0; i < count; i++)
        CHECK_CONTAINS(t, err.message, devices[i].name);
    ykd_device_list_free(devices);
}

static void test_open_uses_environment_default(ykd_test *t)
{
    ykd_test_env env = {0};
    ykd_device *dev = NULL;
    ykd_error err;
    ykd_test_setenv(&env, "YOLOKD_DEVICE", "nosuch-from-env");
    CHECK_STATUS(t, ykd_device_open(NULL, NULL, &dev, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "YOLOKD_DEVICE: unknown device 'nosuch-from-env'");
    /* an explicit spec wins over the environment */
    if (CHECK_OK(t, ykd_device_open("0", NULL, &dev, &err), err)) {
        CHECK(t, ykd_device_get_info(dev)->index == 0);
        ykd_device_close(dev);
    }
    ykd_test_setenv(&env, "YOLOKD_DEVICE", "0");
    if (CHECK_OK(t, ykd_device_open("", NULL, &dev, &err), err))
        ykd_device_close(dev);
    ykd_test_restore_env(&env);
}

static void test_every_device_opens_by_index_and_type(ykd_test *t)
{
    const ykd_device_info *info = ykd_device_get_info(t->device);
    char spec[64];
    snprintf(spec, sizeof spec, "%d", info->index);
    ykd_device *dev = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_device_open(spec, NULL, &dev, &err), err)) {
        CHECK(t, strcmp(ykd_device_get_info(dev)->name, info->name) == 0);
        CHECK(t, ykd_device_memory_limit(dev) == info->global_mem_bytes);
        CHECK(t, ykd_device_memory_in_use(dev) == 0);
        CHECK_OK(t, ykd_device_finish(dev, &err), err);
        ykd_device_close(dev);
    }
    snprintf(spec, sizeof spec, "%s", ykd_device_type_name(info->type));
    if (CHECK_OK(t, ykd_device_open(spec, NULL, &dev, &err), err)) {
        CHECK(t, ykd_device_get_info(dev)->type == info->type);
        ykd_device_close(dev);
    }
}

/* ---- why no device ------------------------------------------------------------------------ */

static ykd_discovery platforms_without_devices(void)
{
    ykd_discovery d;
    memset(&d, 0, sizeof d);
    d.platforms_rc = CL_SUCCESS;
    d.platform_count = 2;
    snprintf(d.platforms[0].name, sizeof d.platforms[0].name, "Portable Computing Language");
    snprintf(d.platforms[1].name, sizeof d.platforms[1].name, "rusticl");
    d.platforms[0].devices_rc = d.platforms[1].devices_rc = CL_DEVICE_NOT_FOUND;
    snprintf(d.pocl_cache, sizeof d.pocl_cache, "/nonexistent/.cache/pocl");
    d.pocl_cache_from = "HOME";
    snprintf(d.icd_source, sizeof d.icd_source, "/etc/OpenCL/vendors");
    return d;
}

/* What the platforms returned, and the cause where it is known: the ICD files, PoCL's cache
 * folder under a HOME it cannot write, rusticl without RUSTICL_ENABLE, another error code. */
static void test_explain_no_device(ykd_test *t)
{
    char buf[2048];
    ykd_discovery d = platforms_without_devices();
    ykd_discovery_explain(&d, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "2 OpenCL platforms but no device: Portable Computing Language: "
                           "clGetDeviceIDs CL_DEVICE_NOT_FOUND (-1); rusticl:");
    CHECK_CONTAINS(t, buf, "PoCL finds no device when it cannot create its kernel cache, and "
                           "/nonexistent/.cache/pocl (from HOME) is not writable: set HOME");
    CHECK_CONTAINS(t, buf, "RUSTICL_ENABLE=llvmpipe");
    CHECK(t, strstr(buf, "install an OpenCL driver") == NULL);
    d.pocl_cache_writable = true, d.rusticl_enabled = true;
    ykd_discovery_explain(&d, buf, sizeof buf);
    CHECK(t, strstr(buf, "not writable") == NULL && strstr(buf, "RUSTICL_ENABLE") == NULL);
    CHECK_CONTAINS(t, buf, "POCL_DEBUG=all");
    /* no platform: the .icd files */
    d = platforms_without_devices();
    d.platforms_rc = CL_PLATFORM_NOT_FOUND_KHR, d.platform_count = 0;
    snprintf(d.icd_source, sizeof d.icd_source, "/tmp/empty-vendors");
    d.icd_from_env = true, d.icd_files = 0;
    ykd_discovery_explain(&d, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "found no platform (clGetPlatformIDs: CL_PLATFORM_NOT_FOUND_KHR "
                           "(-1001))");
    CHECK_CONTAINS(t, buf, "/tmp/empty-vendors (OCL_ICD_VENDORS) name, which holds none");
    CHECK_CONTAINS(t, buf, "pocl-opencl-icd");
    d.icd_files = 2;
    ykd_discovery_explain(&d, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "which holds 2, none of which loaded");
    d.platforms_rc = CL_OUT_OF_HOST_MEMORY;
    ykd_discovery_explain(&d, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "clGetPlatformIDs failed: CL_OUT_OF_HOST_MEMORY (-6)");
}

/* The explanation a fresh process gives (the ICD loader reads its files once per process):
 * with OCL_ICD_VENDORS naming an empty folder there is no platform, and it says so. */
static void test_explain_in_fresh_process(ykd_test *t)
{
    char self[4096], dir[256], cmd[8600];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!CHECK(t, n > 0) || !ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "OCL_ICD_VENDORS='%s' '%s' --explain-no-device", dir, self);
    FILE *p = popen(cmd, "r");
    char buf[2048] = "";
    size_t got = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
    buf[got] = '\0';
    if (p)
        pclose(p);
    CHECK_CONTAINS(t, buf, "found no platform");
    CHECK_CONTAINS(t, buf, dir);
    CHECK_CONTAINS(t, buf, "which holds none");
    if (geteuid() != 0) { /* root may create any HOME: PoCL then finds its device */
        snprintf(cmd, sizeof cmd, "env -u XDG_CACHE_HOME -u POCL_CACHE_DIR HOME=/nonexistent "
                                  "'%s' --explain-no-device", self);
        p = popen(cmd, "r");
        got = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
        buf[got] = '\0';
        if (p)
            pclose(p);
        CHECK_CONTAINS(t, buf, "/nonexistent/.cache/pocl (from HOME) is not writable");
    }
    ykd_test_rmtree(dir);
}

static const ykd_test_case cases[] = {
    {"enumeration describes every device", test_enumeration_describes_every_device,
     YKD_TEST_HOST},
    {"spec: every form", test_spec_forms, YKD_TEST_HOST},
    {"spec: bad ones fail and list the devices", test_bad_specs_list_the_devices,
     YKD_TEST_HOST},
    {"spec: a CPU's vendor string is not a GPU vendor", test_cpu_vendor_is_not_a_gpu_vendor,
     YKD_TEST_HOST},
    {"spec: no devices at all", test_no_devices, YKD_TEST_HOST},
    {"discovery: why no device, from what the platforms returned", test_explain_no_device,
     YKD_TEST_HOST},
    {"discovery: a fresh process without .icd files says so", test_explain_in_fresh_process,
     YKD_TEST_HOST},
    {"spec: auto prefers a GPU, then an accelerator", test_auto_prefers_gpu_then_accelerator,
     YKD_TEST_HOST},
    {"open: a bad spec lists the real devices", test_open_with_bad_spec_lists_real_devices,
     YKD_TEST_HOST},
    {"open: YOLOKD_DEVICE is the default", test_open_uses_environment_default, YKD_TEST_HOST},
    {"open: by index and by type", test_every_device_opens_by_index_and_type,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--explain-no-device") == 0) {
        char buf[2048];
        ykd_device_explain_none(buf, sizeof buf);
        printf("%s\n", buf);
        return 0;
    }
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
