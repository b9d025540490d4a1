/* The fault report: every skipped image or line, with file, line and message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/report.h"

static const char *const kind_names[] = {
    [YKD_FAULT_IMAGE_UNREADABLE] = "image-unreadable",
    [YKD_FAULT_IMAGE_CORRUPT] = "image-corrupt",
    [YKD_FAULT_IMAGE_TOO_LARGE] = "image-too-large",
    [YKD_FAULT_FILE_IGNORED] = "file-ignored",
    [YKD_FAULT_LABEL_UNREADABLE] = "label-unreadable",
    [YKD_FAULT_LABEL_FIELDS] = "label-fields",
    [YKD_FAULT_LABEL_NOT_NUMBER] = "label-not-number",
    [YKD_FAULT_LABEL_NOT_FINITE] = "label-not-finite",
    [YKD_FAULT_LABEL_CLASS] = "label-class",
    [YKD_FAULT_LABEL_OUTSIDE] = "label-outside",
    [YKD_FAULT_LABEL_SIZE] = "label-size",
    [YKD_FAULT_LABEL_DUPLICATE] = "label-duplicate",
    [YKD_FAULT_LABEL_TOO_MANY] = "label-too-many",
    [YKD_FAULT_ANNOTATION_FILE] = "annotation-file",
    [YKD_FAULT_ANNOTATION] = "annotation",
};

const char *ykd_fault_kind_name(ykd_fault_kind kind)
{
    if ((size_t)kind < sizeof kind_names / sizeof kind_names[0] && kind_names[kind])
        return kind_names[kind];
    return "unknown";
}

ykd_status ykd_report_init(ykd_report *report, size_t class_count, ykd_error *err)
{
    memset(report, 0, sizeof *report);
    report->class_count = class_count;
    report->boxes_per_class = calloc(class_count ? class_count : 1, sizeof(size_t));
    if (!report->boxes_per_class)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for a report");
    return YKD_OK;
}

void ykd_report_free(ykd_report *report)
{
    if (!report)
        return;
    ykd_report_clear_faults(report);
    free(report->faults);
    free(report->boxes_per_class);
    memset(report, 0, sizeof *report);
}

static ykd_status reserve(ykd_report *report, size_t more)
{
    if (report->fault_count + more <= report->fault_capacity)
        return YKD_OK;
    size_t capacity = report->fault_capacity ? report->fault_capacity : 16;
    while (capacity < report->fault_count + more)
        capacity *= 2;
    ykd_fault *grown = realloc(report->faults, capacity * sizeof *grown);
    if (!grown)
        return YKD_ERR_OUT_OF_MEMORY;
    report->faults = grown;
    report->fault_capacity = capacity;
    return YKD_OK;
}

ykd_status ykd_report_add(ykd_report *report, ykd_fault_kind kind, const char *file, int line,
                          bool image_skipped, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (reserve(report, 1) != YKD_OK)
        return YKD_ERR_OUT_OF_MEMORY;
    ykd_fault *f = &report->faults[report->fault_count];
    f->kind = kind;
    f->line = line;
    f->image_skipped = image_skipped;
    f->file = strdup(file);
    f->message = strdup(message);
    if (!f->file || !f->message) {
        free(f->file);
        free(f->message);
        return YKD_ERR_OUT_OF_MEMORY;
    }
    report->fault_count++;
    return YKD_OK;
}

void ykd_report_clear_faults(ykd_report *report)
{
    for (size_t i = 0; i < report->fault_count; i++) {
        free(report->faults[i].file);
        free(report->faults[i].message);
    }
    report->fault_count = 0;
}

ykd_fault_kind ykd_fault_kind_of_image(ykd_status status)
{
    if (status == YKD_ERR_OUT_OF_MEMORY)
        return YKD_FAULT_IMAGE_TOO_LARGE;
    if (status == YKD_ERR_FORMAT || status == YKD_ERR_UNSUPPORTED)
        return YKD_FAULT_IMAGE_CORRUPT;
    return YKD_FAULT_IMAGE_UNREADABLE;
}

void ykd_fault_format(const ykd_fault *fault, char *buf, size_t size)
{
    if (fault->line > 0)
        snprintf(buf, size, "%s:%d: %s", fault->file, fault->line, fault->message);
    else
        snprintf(buf, size, "%s: %s", fault->file, fault->message);
}
