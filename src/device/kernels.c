/* The programs and kernels a device has built, kept until it closes so each is built once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "device/device_internal.h"

struct ykd_program_entry {
    char *key; /* the source paths and options that identify the program */
    cl_program program;
    ykd_kernel **kernels;
    size_t kernel_count;
};

/* "cl/a.cl\ncl/b.cl\n|options": equal keys mean the same program. */
static char *program_key(const char *const *paths, const char *options)
{
    size_t size = 2 + (options ? strlen(options) : 0);
    for (size_t i = 0; paths[i]; i++)
        size += strlen(paths[i]) + 1;
    char *key = malloc(size);
    if (!key)
        return NULL;
    key[0] = '\0';
    for (size_t i = 0; paths[i]; i++) {
        strcat(key, paths[i]);
        strcat(key, "\n");
    }
    strcat(key, "|");
    if (options)
        strcat(key, options);
    return key;
}

static ykd_status collect_sources(const char *const *paths, ykd_source_text **sources,
                                  size_t *count, ykd_error *err)
{
    size_t n = 0;
    while (paths[n])
        n++;
    if (n == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "a program needs at least one source");
    *sources = calloc(n, sizeof **sources);
    if (!*sources)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "collecting sources: out of host memory");
    for (size_t i = 0; i < n; i++) {
        const ykd_source_text *s = ykd_embedded_source_find(paths[i]);
        if (!s) {
            free(*sources);
            *sources = NULL;
            return ykd_fail(err, YKD_ERR_NOT_FOUND,
                            "kernel source '%s' is not embedded in this build", paths[i]);
        }
        (*sources)[i] = *s;
    }
    *count = n;
    return YKD_OK;
}

static ykd_program_entry *find_program(ykd_device *dev, const char *key)
{
    for (size_t i = 0; i < dev->program_count; i++)
        if (strcmp(dev->programs[i].key, key) == 0)
            return &dev->programs[i];
    return NULL;
}

static ykd_status add_program(ykd_device *dev, const char *const *paths, const char *options,
                              char *key, ykd_program_entry **entry, ykd_error *err)
{
    ykd_source_text *sources = NULL;
    size_t count = 0;
    ykd_status st = collect_sources(paths, &sources, &count, err);
    if (st != YKD_OK)
        return st;
    cl_program program = NULL;
    st = ykd_program_build(dev, sources, count, options, &program, err);
    free(sources);
    if (st != YKD_OK)
        return st;
    ykd_program_entry *grown =
        realloc(dev->programs, (dev->program_count + 1) * sizeof *dev->programs);
    if (!grown) {
        clReleaseProgram(program);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "keeping a program: out of host memory");
    }
    dev->programs = grown;
    *entry = &grown[dev->program_count++];
    **entry = (ykd_program_entry){.key = key, .program = program};
    return YKD_OK;
}

static ykd_status add_kernel(ykd_device *dev, ykd_program_entry *entry, const char *name,
                             ykd_kernel **out, ykd_error *err)
{
    if (strlen(name) >= sizeof((ykd_kernel *)0)->name)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "kernel name '%s' is too long", name);
    ykd_kernel **grown = realloc(entry->kernels, (entry->kernel_count + 1) * sizeof *grown);
    ykd_kernel *k = calloc(1, sizeof *k);
    if (!grown || !k) {
        free(k);
        if (grown)
            entry->kernels = grown;
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "creating kernel %s: out of host memory",
                        name);
    }
    entry->kernels = grown;
    cl_int rc = CL_SUCCESS;
    k->kernel = clCreateKernel(entry->program, name, &rc);
    if (rc != CL_SUCCESS) {
        free(k);
        return ykd_cl_fail(err, &dev->info, rc, "clCreateKernel", "kernel '%s'", name);
    }
    snprintf(k->name, sizeof k->name, "%s", name);
    rc = clGetKernelWorkGroupInfo(k->kernel, dev->id, CL_KERNEL_WORK_GROUP_SIZE,
                                  sizeof k->work_group_size, &k->work_group_size, NULL);
    if (rc != CL_SUCCESS || k->work_group_size == 0)
        k->work_group_size = 1;
    if (k->work_group_size > dev->info.max_work_group_size)
        k->work_group_size = dev->info.max_work_group_size;
    entry->kernels[entry->kernel_count++] = k;
    *out = k;
    return YKD_OK;
}

ykd_status ykd_device_kernel(ykd_device *dev, const char *const *paths, const char *options,
                             const char *name, ykd_kernel **kernel, ykd_error *err)
{
    *kernel = NULL;
    char *key = program_key(paths, options);
    if (!key)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "looking up a program: out of host memory");
    ykd_program_entry *entry = find_program(dev, key);
    if (entry) {
        free(key);
    } else {
        ykd_status st = add_program(dev, paths, options, key, &entry, err);
        if (st != YKD_OK) {
            free(key);
            return st;
        }
    }
    for (size_t i = 0; i < entry->kernel_count; i++)
        if (strcmp(entry->kernels[i]->name, name) == 0) {
            *kernel = entry->kernels[i];
            return YKD_OK;
        }
    return add_kernel(dev, entry, name, kernel, err);
}

void ykd_device_programs_release(ykd_device *dev)
{
    for (size_t i = 0; i < dev->program_count; i++) {
        ykd_program_entry *e = &dev->programs[i];
        for (size_t k = 0; k < e->kernel_count; k++) {
            clReleaseKernel(e->kernels[k]->kernel);
            free(e->kernels[k]);
        }
        free(e->kernels);
        clReleaseProgram(e->program);
        free(e->key);
    }
    free(dev->programs);
    dev->programs = NULL;
    dev->program_count = 0;
}
