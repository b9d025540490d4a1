/* yolokd convert's library half: options, reading the annotations with the format's reader,
 * putting the classes in order, and writing the dataset in a temporary folder renamed into
 * place (dataset_folder.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/config_internal.h"
#include "data/convert_internal.h"
#include "data/dataset_folder.h"

void ykd_convert_options_default(ykd_convert_options *o)
{
    memset(o, 0, sizeof *o);
    o->val_fraction = 0.2;
    o->overlap = 0.2;
    o->max_pixels = YKD_IMAGE_MAX_PIXELS;
}

const char *ykd_convert_format_name(ykd_convert_format format)
{
    return format == YKD_CONVERT_VOC ? "voc" : format == YKD_CONVERT_COCO ? "coco" : "csv";
}

void ykd_convert_result_free(ykd_convert_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->class_count; i++)
        free(r->names[i]);
    free(r->names);
    ykd_report_free(&r->report);
    memset(r, 0, sizeof *r);
}

static ykd_status check_options(const ykd_convert_options *o, ykd_error *err)
{
    if (!o->input || !o->out)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "convert: needs an input and an output");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "convert: the val fraction %g is outside [0, 1)", o->val_fraction);
    if (o->tile < 0 || o->tile > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "convert: tile %d is outside 0..65536",
                        o->tile);
    if (!(o->overlap >= 0 && o->overlap < 1))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "convert: the overlap %g is outside [0, 1)", o->overlap);
    if (o->names && (o->name_count == 0 || o->name_count > YKD_MAX_CLASSES))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "convert: needs 1 to %d names",
                        YKD_MAX_CLASSES);
    return YKD_OK;
}

/* The images folder: given, or the format's usual place. */
static char *images_folder(const ykd_convert_options *o)
{
    if (o->images)
        return strdup(o->images);
    size_t n = strlen(o->input) + 32;
    char *dir = malloc(n);
    if (!dir)
        return NULL;
    const char *slash = strrchr(o->input, '/');
    if (o->format == YKD_CONVERT_VOC) /* VOCdevkit/VOC2012/Annotations beside JPEGImages */
        snprintf(dir, n, "%s/../JPEGImages", o->input);
    else if (slash)
        snprintf(dir, n, "%.*s", slash == o->input ? 1 : (int)(slash - o->input), o->input);
    else
        snprintf(dir, n, ".");
    return dir;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Classes found in the input (VOC, CSV) in sorted order, and every box renumbered. */
static ykd_status sort_classes(ykd_annotations *a, ykd_error *err)
{
    ykd_convert_result *r = a->result;
    if (a->names_fixed || r->class_count < 2)
        return YKD_OK;
    char **sorted = malloc(r->class_count * sizeof *sorted);
    int *renumber = malloc(r->class_count * sizeof *renumber);
    if (!sorted || !renumber) {
        free(sorted);
        free(renumber);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    memcpy(sorted, r->names, r->class_count * sizeof *sorted);
    qsort(sorted, r->class_count, sizeof *sorted, compare_names);
    for (size_t old = 0; old < r->class_count; old++)
        for (size_t i = 0; i < r->class_count; i++)
            if (sorted[i] == r->names[old])
                renumber[old] = (int)i;
    for (size_t m = 0; m < a->count; m++)
        for (size_t b = 0; b < a->images[m].count; b++)
            a->images[m].boxes[b].cls = renumber[a->images[m].boxes[b].cls];
    free(r->names);
    r->names = sorted;
    free(renumber);
    return YKD_OK;
}

static ykd_status fix_names(ykd_annotations *a, ykd_error *err)
{
    const ykd_convert_options *o = a->options;
    if (!o->names)
        return YKD_OK;
    a->names_fixed = false; /* the table is filled through the usual path */
    for (size_t i = 0; i < o->name_count; i++) {
        int cls;
        ykd_status st = ykd_annotation_class(a, o->names[i], &cls, err);
        if (st != YKD_OK)
            return st;
        if ((size_t)cls != i)
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "convert: class '%s' named twice",
                            o->names[i]);
    }
    a->names_fixed = true;
    return YKD_OK;
}

/* The names as a dataset file must hold them (non-empty, no control characters, at most
 * 255 bytes), checked by the config's own rules before anything is written. */
static ykd_status check_names(const ykd_convert_result *r, const char *input, ykd_error *err)
{
    long *indices = malloc(r->class_count * sizeof *indices);
    if (!indices)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < r->class_count; i++)
        indices[i] = (long)i;
    char where[4200];
    snprintf(where, sizeof where, "convert: the class names of %s", input);
    ykd_data_config config;
    memset(&config, 0, sizeof config);
    ykd_status st = ykd_config_set_names(&config, indices, (const char *const *)r->names,
                                         r->class_count, where, err);
    ykd_data_config_free(&config);
    free(indices);
    return st;
}

static ykd_status read_annotations(ykd_annotations *a, const char *images, ykd_error *err)
{
    switch (a->options->format) {
    case YKD_CONVERT_VOC:
        return ykd_convert_read_voc(a, images, err);
    case YKD_CONVERT_COCO:
        return ykd_convert_read_coco(a, images, err);
    default:
        return ykd_convert_read_csv(a, images, err);
    }
}

ykd_status ykd_convert(const ykd_convert_options *o, ykd_convert_result *result, ykd_error *err)
{
    memset(result, 0, sizeof *result);
    ykd_status st = ykd_report_init(&result->report, 0, err);
    if (st == YKD_OK)
        st = check_options(o, err);
    if (st != YKD_OK)
        return st;
    ykd_annotations a = {.options = o, .result = result};
    char *images = images_folder(o);
    st = images ? fix_names(&a, err) : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == YKD_OK)
        st = read_annotations(&a, images, err);
    if (st == YKD_OK)
        st = sort_classes(&a, err);
    if (st == YKD_OK && result->class_count == 0)
        st = ykd_fail(err, YKD_ERR_FORMAT, "convert: %s holds no boxes, so no class names",
                      o->input);
    if (st == YKD_OK)
        st = check_names(result, o->input, err);
    char tmp[YKD_DATASET_PATH_SIZE];
    if (st == YKD_OK)
        st = ykd_dataset_folder_begin("convert", o->out, tmp, err);
    if (st == YKD_OK) {
        st = ykd_convert_write(&a, tmp, err);
        st = ykd_dataset_folder_end("convert", tmp, o->out, st, err);
    }
    result->report.images = result->images_in;
    ykd_annotations_free(&a);
    free(images);
    return st;
}
