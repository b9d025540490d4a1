#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/cl_error.h"
#include "device/discovery.h"

static const char DEFAULT_ICD_FOLDER[] = "/etc/OpenCL/vendors";

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* .icd files in a folder (or 1 for an .icd file); -1 when it cannot be read. */
static int count_icd_files(const char *source)
{
    if (ends_with(source, ".icd"))
        return access(source, R_OK) == 0 ? 1 : -1;
    DIR *dir = opendir(source);
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        n += ends_with(e->d_name, ".icd");
    closedir(dir);
    return n;
}

/* Whether path, or the nearest of its parents that exists, is writable. */
static bool writable_or_creatable(const char *path)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    while (p[0]) {
        if (access(p, F_OK) == 0)
            return access(p, W_OK | X_OK) == 0;
        char *slash = strrchr(p, '/');
        if (!slash)
            return access(".", W_OK | X_OK) == 0;
        *slash = '\0';
        if (slash == p)
            return access("/", W_OK | X_OK) == 0;
    }
    return false;
}

/* PoCL's cache folder: POCL_CACHE_DIR, else XDG_CACHE_HOME/pocl, else HOME/.cache/pocl. */
static void find_pocl_cache(ykd_discovery *d)
{
    const char *pocl = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    d->pocl_cache[0] = '\0';
    if (pocl && *pocl)
        snprintf(d->pocl_cache, sizeof d->pocl_cache, "%s", pocl), d->pocl_cache_from = "POCL_CACHE_DIR";
    else if (xdg && *xdg)
        snprintf(d->pocl_cache, sizeof d->pocl_cache, "%s/pocl", xdg), d->pocl_cache_from = "XDG_CACHE_HOME";
    else if (home && *home)
        snprintf(d->pocl_cache, sizeof d->pocl_cache, "%s/.cache/pocl", home), d->pocl_cache_from = "HOME";
    else
        d->pocl_cache_from = "HOME";
    d->pocl_cache_writable = d->pocl_cache[0] && writable_or_creatable(d->pocl_cache);
}

void ykd_discovery_probe(ykd_discovery *d)
{
    memset(d, 0, sizeof *d);
    const char *vendors = getenv("OCL_ICD_VENDORS");
    d->icd_from_env = vendors && *vendors;
    snprintf(d->icd_source, sizeof d->icd_source, "%s", d->icd_from_env ? vendors : DEFAULT_ICD_FOLDER);
    d->icd_files = count_icd_files(d->icd_source);
    find_pocl_cache(d);
    const char *rusticl = getenv("RUSTICL_ENABLE");
    d->rusticl_enabled = rusticl && *rusticl;
    cl_platform_id ids[YKD_DISCOVERY_MAX_PLATFORMS];
    cl_uint n = 0;
    d->platforms_rc = clGetPlatformIDs(YKD_DISCOVERY_MAX_PLATFORMS, ids, &n);
    if (d->platforms_rc != CL_SUCCESS)
        return;
    d->platform_count = n < YKD_DISCOVERY_MAX_PLATFORMS ? n : YKD_DISCOVERY_MAX_PLATFORMS;
    for (size_t i = 0; i < d->platform_count; i++) {
        ykd_platform_probe *p = &d->platforms[i];
        if (clGetPlatformInfo(ids[i], CL_PLATFORM_NAME, sizeof p->name, p->name, NULL) !=
            CL_SUCCESS)
            snprintf(p->name, sizeof p->name, "platform %zu", i);
        p->devices_rc = clGetDeviceIDs(ids[i], CL_DEVICE_TYPE_ALL, 0, NULL, &p->devices);
    }
}

/* Text that grows into a fixed buffer. */
typedef struct out {
    char *buf;
    size_t size, used;
} out;

static void say(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(out *o, const char *fmt, ...)
{
    if (o->used >= o->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->used, o->size - o->used, fmt, ap);
    va_end(ap);
    o->used = n < 0 ? o->size : o->used + (size_t)n;
}

static void explain_no_platform(const ykd_discovery *d, out *o)
{
    say(o, "the OpenCL ICD loader found no platform (clGetPlatformIDs: %s (%d)); it loads the "
           "drivers that the .icd files in %s%s name, ",
        ykd_cl_error_name(d->platforms_rc), (int)d->platforms_rc, d->icd_source,
        d->icd_from_env ? " (OCL_ICD_VENDORS)" : "");
    if (d->icd_files < 0)
        say(o, "which cannot be read (it does not exist?)");
    else if (d->icd_files == 0)
        say(o, "which holds none");
    else
        say(o, "which holds %d, none of which loaded (a driver library missing?)", d->icd_files);
    say(o, ": install an OpenCL driver (for the CPU, the Debian package pocl-opencl-icd) and "
           "check it with 'clinfo -l'");
}

static bool is_pocl(const ykd_platform_probe *p)
{
    return strstr(p->name, "Portable Computing Language") || strstr(p->name, "pocl") ||
           strstr(p->name, "PoCL");
}

static void platform_hints(const ykd_discovery *d, const ykd_platform_probe *p, out *o)
{
    if (is_pocl(p) && !d->pocl_cache_writable) {
        if (!d->pocl_cache[0])
            say(o, "; PoCL finds no device without a kernel cache folder, and HOME is not set: "
                   "set HOME, XDG_CACHE_HOME or POCL_CACHE_DIR to a writable folder");
        else
            say(o, "; PoCL finds no device when it cannot create its kernel cache, and %s (from "
                   "%s) is not writable: set %s to a writable folder (or XDG_CACHE_HOME or "
                   "POCL_CACHE_DIR)",
                d->pocl_cache, d->pocl_cache_from, d->pocl_cache_from);
    } else if (is_pocl(p)) {
        say(o, "; POCL_DEBUG=all shows why PoCL found none");
    } else if (strstr(p->name, "rusticl") && !d->rusticl_enabled) {
        say(o, "; rusticl lists devices only when RUSTICL_ENABLE names its drivers (e.g. "
               "RUSTICL_ENABLE=llvmpipe)");
    }
}

void ykd_discovery_explain(const ykd_discovery *d, char *buf, size_t size)
{
    out o = {buf, size, 0};
    if (size == 0)
        return;
    buf[0] = '\0';
    if (d->platforms_rc == CL_PLATFORM_NOT_FOUND_KHR ||
        (d->platforms_rc == CL_SUCCESS && d->platform_count == 0)) {
        explain_no_platform(d, &o);
        return;
    }
    if (d->platforms_rc != CL_SUCCESS) {
        say(&o, "clGetPlatformIDs failed: %s (%d) (the ICD loader, or a driver it loaded from "
                "%s%s, failed)",
            ykd_cl_error_name(d->platforms_rc), (int)d->platforms_rc, d->icd_source,
            d->icd_from_env ? " (OCL_ICD_VENDORS)" : "");
        return;
    }
    say(&o, "%zu OpenCL platform%s but no device:", d->platform_count,
        d->platform_count == 1 ? "" : "s");
    for (size_t i = 0; i < d->platform_count; i++) {
        const ykd_platform_probe *p = &d->platforms[i];
        say(&o, "%s %s: clGetDeviceIDs %s (%d)", i ? ";" : "", p->name,
            ykd_cl_error_name(p->devices_rc), (int)p->devices_rc);
    }
    for (size_t i = 0; i < d->platform_count; i++)
        if (d->platforms[i].devices == 0)
            platform_hints(d, &d->platforms[i], &o);
    say(&o, "; 'clinfo -l' lists what the drivers see");
}

void ykd_device_explain_none(char *buf, size_t size)
{
    ykd_discovery d;
    ykd_discovery_probe(&d);
    ykd_discovery_explain(&d, buf, size);
}
