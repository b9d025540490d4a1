/* Internal: annotations read by a converter (VOC, COCO, CSV) before they are written in the
 * YOLO layout (convert.c). Readers add images and boxes in pixels, with class names; faults
 * go to the report (or, strict, fail). */
#ifndef YKD_DATA_CONVERT_INTERNAL_H
#define YKD_DATA_CONVERT_INTERNAL_H

#include <stdint.h>

#include "core/error_internal.h"
#include "yolokd/convert.h"

/* A box as annotated, in pixels of its image, and where it was written down. */
typedef struct ykd_annotated_box {
    int cls;
    double x1, y1, x2, y2;
    int line; /* in source, 0 when the format has none */
} ykd_annotated_box;

typedef struct ykd_annotated_image {
    char *path;   /* the image file */
    char *source; /* the annotation file, for messages */
    int line;     /* where the image is named in source (0: none) */
    int width, height; /* as annotated; 0 when the annotation gives none */
    ykd_annotated_box *boxes;
    size_t count, capacity;
} ykd_annotated_image;

typedef struct ykd_annotations {
    const ykd_convert_options *options;
    ykd_convert_result *result; /* counts, names and the report */
    ykd_annotated_image *images;
    size_t count, capacity;
    bool names_fixed; /* the class list is options->names (or COCO's categories) */
    struct ykd_name_index *index; /* image path -> position, for readers that need it */
} ykd_annotations;

/* A fault in file:line (line 0: the whole file): recorded, or, strict, the error. */
ykd_status ykd_annotation_fault(ykd_annotations *a, ykd_fault_kind kind, const char *file,
                                int line, bool image_skipped, ykd_error *err, const char *fmt,
                                ...) YKD_PRINTF(7, 8);

/* The class of a name: its index in the fixed list, or (list not fixed) a new or earlier
 * entry. *cls -1 when the name is not in a fixed list (the caller records the fault). */
ykd_status ykd_annotation_class(ykd_annotations *a, const char *name, int *cls, ykd_error *err);

/* The image whose file is path: found (readers that list one image several times, as CSV)
 * or appended. *image points into a->images until the next call. */
ykd_status ykd_annotation_image(ykd_annotations *a, const char *path, const char *source,
                                int line, ykd_annotated_image **image, ykd_error *err);

ykd_status ykd_annotation_add_box(ykd_annotated_image *image, const ykd_annotated_box *box,
                                  ykd_error *err);

void ykd_annotations_free(ykd_annotations *a);

/* The images folder joined with a file name from an annotation ("a/b.jpg" or absolute). */
char *ykd_annotation_image_path(const char *images, const char *name);

/* The readers. */
ykd_status ykd_convert_read_voc(ykd_annotations *a, const char *images, ykd_error *err);
ykd_status ykd_convert_read_coco(ykd_annotations *a, const char *images, ykd_error *err);
ykd_status ykd_convert_read_csv(ykd_annotations *a, const char *images, ykd_error *err);

/* Writes every image (or its tiles) and labels, and data.yaml, into tmp. */
ykd_status ykd_convert_write(ykd_annotations *a, const char *tmp, ykd_error *err);

#endif
