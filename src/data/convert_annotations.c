/* The annotations a converter reads: images by path (hashed, so a CSV listing an image on
 * many lines stays linear), their boxes, the class names, and faults as check-data words them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/convert_internal.h"
#include "data/report.h"

struct ykd_name_index {
    size_t *slots; /* image position + 1; 0 empty */
    size_t capacity;
};

ykd_status ykd_annotation_fault(ykd_annotations *a, ykd_fault_kind kind, const char *file,
                                int line, bool image_skipped, ykd_error *err, const char *fmt,
                                ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (a->options->strict) {
        if (line > 0)
            return ykd_fail(err, YKD_ERR_FORMAT, "%s:%d: %s", file, line, message);
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: %s", file, message);
    }
    ykd_report *r = &a->result->report;
    if (image_skipped)
        r->images_skipped++;
    else
        r->lines_skipped++;
    if (ykd_report_add(r, kind, file, line, image_skipped, "%s%s", message,
                       image_skipped ? " (image skipped)" : " (left out)") != YKD_OK)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    return YKD_OK;
}

ykd_status ykd_annotation_class(ykd_annotations *a, const char *name, int *cls, ykd_error *err)
{
    ykd_convert_result *r = a->result;
    for (size_t i = 0; i < r->class_count; i++)
        if (strcmp(r->names[i], name) == 0) {
            *cls = (int)i;
            return YKD_OK;
        }
    *cls = -1;
    if (a->names_fixed)
        return YKD_OK;
    if (r->class_count >= 65535)
        return ykd_fail(err, YKD_ERR_FORMAT, "more than 65535 class names");
    char **grown = realloc(r->names, (r->class_count + 1) * sizeof *grown);
    if (!grown)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    r->names = grown;
    if (!(r->names[r->class_count] = strdup(name)))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    *cls = (int)r->class_count++;
    return YKD_OK;
}

static size_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* Grows the index to twice the images (rehashing them all) when it is half full. */
static ykd_status index_reserve(ykd_annotations *a, ykd_error *err)
{
    struct ykd_name_index *x = a->index;
    if (x && (a->count + 1) * 2 <= x->capacity)
        return YKD_OK;
    if (!x && !(x = a->index = calloc(1, sizeof *x)))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t capacity = x->capacity ? 2 * x->capacity : 1024;
    size_t *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < a->count; i++) {
        size_t h = hash_text(a->images[i].path) & (capacity - 1);
        while (slots[h])
            h = (h + 1) & (capacity - 1);
        slots[h] = i + 1;
    }
    free(x->slots);
    x->slots = slots;
    x->capacity = capacity;
    return YKD_OK;
}

ykd_status ykd_annotation_image(ykd_annotations *a, const char *path, const char *source,
                                int line, ykd_annotated_image **image, ykd_error *err)
{
    ykd_status st = index_reserve(a, err);
    if (st != YKD_OK)
        return st;
    struct ykd_name_index *x = a->index;
    size_t h = hash_text(path) & (x->capacity - 1);
    for (; x->slots[h]; h = (h + 1) & (x->capacity - 1))
        if (strcmp(a->images[x->slots[h] - 1].path, path) == 0) {
            *image = &a->images[x->slots[h] - 1];
            return YKD_OK;
        }
    if (a->count == a->capacity) {
        size_t capacity = a->capacity ? 2 * a->capacity : 256;
        ykd_annotated_image *grown = realloc(a->images, capacity * sizeof *grown);
        if (!grown)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        a->images = grown;
        a->capacity = capacity;
    }
    ykd_annotated_image *m = &a->images[a->count];
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    m->source = strdup(source);
    m->line = line;
    if (!m->path || !m->source) {
        free(m->path);
        free(m->source);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    x->slots[h] = ++a->count;
    a->result->images_in++;
    *image = m;
    return YKD_OK;
}

ykd_status ykd_annotation_add_box(ykd_annotated_image *image, const ykd_annotated_box *box,
                                  ykd_error *err)
{
    if (image->count == image->capacity) {
        size_t capacity = image->capacity ? 2 * image->capacity : 8;
        ykd_annotated_box *grown = realloc(image->boxes, capacity * sizeof *grown);
        if (!grown)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        image->boxes = grown;
        image->capacity = capacity;
    }
    image->boxes[image->count++] = *box;
    return YKD_OK;
}

char *ykd_annotation_image_path(const char *images, const char *name)
{
    size_t n = strlen(images) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path)
        return NULL;
    if (name[0] == '/')
        snprintf(path, n, "%s", name);
    else
        snprintf(path, n, "%s/%s", images, name);
    return path;
}

void ykd_annotations_free(ykd_annotations *a)
{
    for (size_t i = 0; i < a->count; i++) {
        free(a->images[i].path);
        free(a->images[i].source);
        free(a->images[i].boxes);
    }
    free(a->images);
    if (a->index)
        free(a->index->slots);
    free(a->index);
    memset(a, 0, sizeof *a);
}
