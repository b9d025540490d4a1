/* Building OpenCL programs from embedded sources, through the on-disk binary cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "device/device_internal.h"
#include "device/program_cache.h"


const ykd_source_text *ykd_embedded_source_find(const char *path)
{
    for (size_t i = 0; i < ykd_embedded_source_count; i++)
        if (strcmp(ykd_embedded_sources[i].path, path) == 0)
            return &ykd_embedded_sources[i];
    return NULL;
}

/* Each source prefixed with a #line directive, so diagnostics name cl/<file>.cl:<line>. */
static char **sources_with_line_markers(const ykd_source_text *sources, size_t count,
                                        size_t *lengths)
{
    char **texts = calloc(count, sizeof *texts);
    if (!texts)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        size_t size = strlen(sources[i].path) + sources[i].length + 32;
        texts[i] = malloc(size);
        if (!texts[i]) {
            for (size_t j = 0; j < i; j++)
                free(texts[j]);
            free(texts);
            return NULL;
        }
        int prefix = snprintf(texts[i], size, "#line 1 \"%s\"\n", sources[i].path);
        memcpy(texts[i] + prefix, sources[i].text, sources[i].length);
        texts[i][prefix + sources[i].length] = '\n';
        lengths[i] = (size_t)prefix + sources[i].length + 1;
    }
    return texts;
}

static void fail_with_build_log(ykd_device *dev, cl_program program, cl_int rc,
                                const ykd_source_text *sources, size_t count, ykd_error *err)
{
    char names[512] = "";
    for (size_t i = 0; i < count; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? " + " : "", sources[i].path);
    }
    ykd_fail(err, YKD_ERR_BUILD, "building %s for device %d (%s) failed: %s (%d); build log:\n",
             names, dev->info.index, dev->info.name, ykd_cl_error_name(rc), (int)rc);
    size_t log_size = 0;
    if (clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size) !=
            CL_SUCCESS ||
        log_size == 0) {
        ykd_error_append(err, "(the driver gave no log)");
        return;
    }
    char *log = malloc(log_size + 1);
    if (!log)
        return;
    if (clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_LOG, log_size, log, NULL) ==
        CL_SUCCESS) {
        log[log_size] = '\0';
        ykd_error_append(err, "%s", log);
    }
    free(log);
}

static ykd_status build_program(ykd_device *dev, cl_program program, const char *options,
                                const ykd_source_text *sources, size_t count, ykd_error *err)
{
    cl_int rc = clBuildProgram(program, 1, &dev->id, options, NULL, NULL);
    if (rc == CL_SUCCESS)
        return YKD_OK;
    if (rc == CL_BUILD_PROGRAM_FAILURE || rc == CL_INVALID_BUILD_OPTIONS) {
        fail_with_build_log(dev, program, rc, sources, count, err);
        return YKD_ERR_BUILD;
    }
    return ykd_cl_fail(err, &dev->info, rc, "clBuildProgram", "%s", sources[0].path);
}

static ykd_status build_from_source(ykd_device *dev, const ykd_source_text *sources,
                                    size_t count, const char *options, cl_program *out,
                                    ykd_error *err)
{
    size_t *lengths = calloc(count, sizeof *lengths);
    char **texts = lengths ? sources_with_line_markers(sources, count, lengths) : NULL;
    if (!texts) {
        free(lengths);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "building %s: out of host memory",
                        sources[0].path);
    }
    cl_int rc = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(dev->context, (cl_uint)count,
                                                   (const char **)texts, lengths, &rc);
    for (size_t i = 0; i < count; i++)
        free(texts[i]);
    free(texts);
    free(lengths);
    if (rc != CL_SUCCESS)
        return ykd_cl_fail(err, &dev->info, rc, "clCreateProgramWithSource", "%s",
                           sources[0].path);
    ykd_status st = build_program(dev, program, options, sources, count, err);
    if (st != YKD_OK) {
        clReleaseProgram(program);
        return st;
    }
    *out = program;
    return YKD_OK;
}

/* A program from a cached binary, or NULL when the binary is refused by the driver. */
static cl_program build_from_binary(ykd_device *dev, const void *binary, size_t size,
                                    const char *options)
{
    cl_int rc = CL_SUCCESS, binary_rc = CL_SUCCESS;
    const unsigned char *bytes = binary;
    cl_program program =
        clCreateProgramWithBinary(dev->context, 1, &dev->id, &size, &bytes, &binary_rc, &rc);
    if (rc != CL_SUCCESS || binary_rc != CL_SUCCESS)
        return NULL;
    if (clBuildProgram(program, 1, &dev->id, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(program);
        return NULL;
    }
    return program;
}

/* Stores the program's binary; a failure only counts, since the run can go on without it. */
static void store_binary(ykd_device *dev, cl_program program, const char *key)
{
    size_t size = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0) {
        dev->cache_stats.write_failures++;
        return;
    }
    unsigned char *binary = malloc(size);
    ykd_status st = YKD_ERR_OUT_OF_MEMORY;
    if (binary &&
        clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binary, &binary, NULL) ==
            CL_SUCCESS)
        st = ykd_program_cache_store(dev->cache_dir, key, binary, size, NULL);
    free(binary);
    if (st == YKD_OK)
        dev->cache_stats.written++;
    else
        dev->cache_stats.write_failures++;
}

void ykd_program_options(const ykd_device *dev, const char *extra, char *buf, size_t size)
{
    /* every program is OpenCL C 1.2 (what NVIDIA's compiler and PoCL both accept), built for
     * the device's vector width (VECTOR_FLOATS, see cl/shared.cl) */
    snprintf(buf, size, "-cl-std=CL1.2 -DVECTOR_FLOATS=%u%s%s", dev->info.vector_floats,
             extra ? " " : "", extra ? extra : "");
}

ykd_status ykd_program_build(ykd_device *dev, const ykd_source_text *sources, size_t count,
                             const char *options, cl_program *program, ykd_error *err)
{
    *program = NULL;
    if (count == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "building a program with no sources");
    char full_options[1024];
    ykd_program_options(dev, options, full_options, sizeof full_options);
    double start = ykd_now_ms();
    bool cache_on = dev->cache_dir[0] != '\0';
    char key[YKD_PROGRAM_KEY_HEX];
    if (cache_on) {
        ykd_program_cache_key(&dev->info, sources, count, full_options, key);
        void *binary = NULL;
        size_t size = 0;
        ykd_status found = ykd_program_cache_load(dev->cache_dir, key, &binary, &size);
        if (found == YKD_OK)
            *program = build_from_binary(dev, binary, size, full_options);
        free(binary);
        if (*program) {
            dev->cache_stats.loaded_from_cache++;
            dev->cache_stats.build_ms += ykd_now_ms() - start;
            return YKD_OK;
        }
        if (found != YKD_ERR_NOT_FOUND)
            dev->cache_stats.rejected_entries++;
    }
    ykd_status st = build_from_source(dev, sources, count, full_options, program, err);
    if (st == YKD_OK) {
        dev->cache_stats.built_from_source++;
        if (cache_on)
            store_binary(dev, *program, key);
    }
    dev->cache_stats.build_ms += ykd_now_ms() - start;
    return st;
}
