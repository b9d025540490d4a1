/* Device spec strings ("0", "gpu:1", "nvidia", "pocl:0", part of a name) resolved against a
 * device list. Pure: no OpenCL calls, so tests can feed it made-up device lists. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "yolokd/device.h"

static const char spec_forms[] =
    "A device spec is an index (0), a type (cpu, gpu, accelerator, optionally :N), a vendor "
    "(nvidia, amd, intel, apple, pocl, optionally :N), auto, or part of a device name.";

static bool contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

static bool equals_nocase(const char *a, const char *b)
{
    while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Parses a decimal index of at most 9 digits (larger would not be a real device). */
static bool parse_index(const char *s, size_t *value)
{
    if (!all_digits(s) || strlen(s) > 9)
        return false;
    size_t v = 0;
    for (; *s; s++)
        v = v * 10 + (size_t)(*s - '0');
    *value = v;
    return true;
}

void ykd_device_list_format(const ykd_device_info *devices, size_t count, char *buf,
                            size_t size)
{
    size_t used = strlen(buf);
    if (count == 0 && used < size)
        snprintf(buf + used, size - used, "  (no OpenCL devices found)\n");
    for (size_t i = 0; i < count; i++) {
        used = strlen(buf);
        if (used + 1 >= size)
            return;
        const ykd_device_info *d = &devices[i];
        snprintf(buf + used, size - used, "  %d  %-11s %s (%s)\n", d->index,
                 ykd_device_type_name(d->type), d->name, d->platform_name);
    }
}

/* Fails with status and a message that ends with the device table and the spec forms. */
static ykd_status fail_with_list(ykd_error *err, ykd_status status,
                                 const ykd_device_info *devices, size_t count, const char *what)
{
    if (!err)
        return status;
    ykd_fail(err, status, "%s; the devices here are:\n", what);
    ykd_device_list_format(devices, count, err->message, sizeof err->message);
    ykd_error_append(err, "%s", spec_forms);
    return status;
}

typedef bool (*device_filter)(const ykd_device_info *d, const void *arg);

static bool type_matches(const ykd_device_info *d, const void *arg)
{
    return d->type == *(const ykd_device_type *)arg;
}

typedef struct vendor_word {
    const char *word;
    const char *patterns[3]; /* any of these in a platform or GPU vendor string matches */
} vendor_word;

static const vendor_word vendor_words[] = {
    {"nvidia", {"nvidia", NULL, NULL}},
    {"amd", {"amd", "advanced micro devices", NULL}},
    {"intel", {"intel", NULL, NULL}},
    {"apple", {"apple", NULL, NULL}},
    {"pocl", {"portable computing language", "pocl", NULL}},
};

static bool any_pattern(const char *text, const vendor_word *v)
{
    for (int i = 0; i < 3 && v->patterns[i]; i++)
        if (contains_nocase(text, v->patterns[i]))
            return true;
    return false;
}

/* A vendor word matches the platform's name or vendor. A GPU or accelerator also matches its
 * own vendor string (Mesa's platform serves AMD GPUs); a CPU does not, so PoCL on an AMD CPU
 * (vendor "AuthenticAMD") is not "amd". */
static bool vendor_matches(const ykd_device_info *d, const void *arg)
{
    const vendor_word *v = arg;
    if (any_pattern(d->platform_name, v) || any_pattern(d->platform_vendor, v))
        return true;
    if (strcmp(v->word, "pocl") == 0 && contains_nocase(d->platform_version, "pocl"))
        return true;
    return d->type != YKD_DEVICE_TYPE_CPU && any_pattern(d->vendor, v);
}

static bool name_matches(const ykd_device_info *d, const void *arg)
{
    return contains_nocase(d->name, arg);
}

/* The nth device passing filter, or fails naming how many there are. */
static ykd_status pick_nth(const ykd_device_info *devices, size_t count, device_filter filter,
                           const void *arg, size_t nth, const char *spec, const char *what,
                           size_t *index, ykd_error *err)
{
    size_t seen = 0;
    for (size_t i = 0; i < count; i++) {
        if (!filter(&devices[i], arg))
            continue;
        if (seen++ == nth) {
            *index = i;
            return YKD_OK;
        }
    }
    char msg[512];
    if (seen == 0)
        snprintf(msg, sizeof msg, "no %s device for spec '%s'", what, spec);
    else
        snprintf(msg, sizeof msg, "no %s device %zu for spec '%s': there %s %zu (numbered from 0)",
                 what, nth, spec, seen == 1 ? "is" : "are", seen);
    return fail_with_list(err, YKD_ERR_NOT_FOUND, devices, count, msg);
}

static ykd_status pick_auto(const ykd_device_info *devices, size_t count, size_t *index)
{
    static const ykd_device_type preference[] = {YKD_DEVICE_TYPE_GPU,
                                                 YKD_DEVICE_TYPE_ACCELERATOR};
    for (size_t p = 0; p < sizeof preference / sizeof preference[0]; p++)
        for (size_t i = 0; i < count; i++)
            if (devices[i].type == preference[p]) {
                *index = i;
                return YKD_OK;
            }
    *index = 0;
    return YKD_OK;
}

/* The part of a name search: exactly one device must match. */
static ykd_status pick_by_name(const ykd_device_info *devices, size_t count, const char *spec,
                               size_t *index, ykd_error *err)
{
    size_t matches = 0, first = 0;
    for (size_t i = 0; i < count; i++)
        if (name_matches(&devices[i], spec) && matches++ == 0)
            first = i;
    char msg[512];
    if (matches == 1) {
        *index = first;
        return YKD_OK;
    }
    if (matches == 0) {
        snprintf(msg, sizeof msg, "unknown device '%s'", spec);
        return fail_with_list(err, YKD_ERR_NOT_FOUND, devices, count, msg);
    }
    snprintf(msg, sizeof msg,
             "ambiguous device '%s': it is part of %zu device names; use an index instead", spec,
             matches);
    return fail_with_list(err, YKD_ERR_AMBIGUOUS, devices, count, msg);
}

static bool parse_type_word(const char *word, ykd_device_type *type)
{
    if (equals_nocase(word, "cpu"))
        *type = YKD_DEVICE_TYPE_CPU;
    else if (equals_nocase(word, "gpu"))
        *type = YKD_DEVICE_TYPE_GPU;
    else if (equals_nocase(word, "accelerator") || equals_nocase(word, "acc"))
        *type = YKD_DEVICE_TYPE_ACCELERATOR;
    else
        return false;
    return true;
}

static const vendor_word *parse_vendor_word(const char *word)
{
    for (size_t i = 0; i < sizeof vendor_words / sizeof vendor_words[0]; i++)
        if (equals_nocase(word, vendor_words[i].word))
            return &vendor_words[i];
    return NULL;
}

ykd_status ykd_device_spec_resolve(const char *spec, const ykd_device_info *devices,
                                   size_t count, size_t *index, ykd_error *err)
{
    if (count == 0)
        return ykd_fail(err, YKD_ERR_NO_DEVICE,
                        "no OpenCL device found: install an OpenCL driver (for the CPU, the "
                        "Debian package pocl-opencl-icd) and check it with 'clinfo -l'");
    if (!spec || !*spec || equals_nocase(spec, "auto"))
        return pick_auto(devices, count, index);

    size_t n;
    if (all_digits(spec)) {
        if (parse_index(spec, &n) && n < count) {
            *index = n;
            return YKD_OK;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "no device %s: there %s %zu (numbered from 0)", spec,
                 count == 1 ? "is" : "are", count);
        return fail_with_list(err, YKD_ERR_NOT_FOUND, devices, count, msg);
    }

    char word[64];
    const char *colon = strchr(spec, ':');
    size_t word_len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (word_len < sizeof word) {
        memcpy(word, spec, word_len);
        word[word_len] = '\0';
        ykd_device_type type;
        const vendor_word *vendor = parse_vendor_word(word);
        bool is_type = parse_type_word(word, &type);
        if (is_type || vendor) {
            n = 0;
            if (colon && !parse_index(colon + 1, &n)) {
                char msg[256];
                snprintf(msg, sizeof msg,
                         "bad device spec '%s': after '%s:' must come a device number", spec,
                         word);
                return fail_with_list(err, YKD_ERR_INVALID_ARGUMENT, devices, count, msg);
            }
            if (is_type)
                return pick_nth(devices, count, type_matches, &type, n, spec,
                                ykd_device_type_name(type), index, err);
            return pick_nth(devices, count, vendor_matches, vendor, n, spec, vendor->word, index,
                            err);
        }
    }
    return pick_by_name(devices, count, spec, index, err);
}
