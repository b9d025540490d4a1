/* COCO instances JSON (cJSON): categories become classes 0.. in the order of their ids, images
 * are found by id, and each annotation's bbox [x, y, width, height] (pixels) is a box. Crowd
 * annotations (iscrowd 1) are left out and counted, as Ultralytics' converter does. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "data/convert_internal.h"

#define COCO_MAX_BYTES ((size_t)2 << 30)

typedef struct id_pair {
    double id;
    size_t index; /* category: its class (SIZE_MAX: not in --names); image: its position */
} id_pair;

static int compare_ids(const void *a, const void *b)
{
    double x = ((const id_pair *)a)->id, y = ((const id_pair *)b)->id;
    return x < y ? -1 : x > y;
}

static const id_pair *find_id(const id_pair *pairs, size_t count, double id)
{
    id_pair key = {id, 0};
    return bsearch(&key, pairs, count, sizeof *pairs, compare_ids);
}

/* A whole number held by key in item. */
static bool whole_at(const cJSON *item, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return false;
    *out = v->valuedouble;
    return true;
}

static ykd_status bad_file(const char *file, ykd_error *err, const char *what)
{
    return ykd_fail(err, YKD_ERR_FORMAT, "%s: %s", file, what);
}

/* Categories sorted by id into *pairs, each with its class. */
static ykd_status read_categories(ykd_annotations *a, const char *file, const cJSON *list,
                                  id_pair **pairs, size_t *count, ykd_error *err)
{
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return bad_file(file, err, "no 'categories' list (id and name of every class)");
    *count = (size_t)cJSON_GetArraySize(list);
    if (!(*pairs = calloc(*count, sizeof **pairs)))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        if (!whole_at(c, "id", &(*pairs)[i].id) || !name || !name[0])
            return ykd_fail(err, YKD_ERR_FORMAT,
                            "%s: category %zu needs a whole-number 'id' and a 'name'", file, i);
        (*pairs)[i].index = i; /* its position, for the name below */
    }
    qsort(*pairs, *count, sizeof **pairs, compare_ids);
    for (i = 0; i < *count; i++) {
        if (i > 0 && (*pairs)[i].id == (*pairs)[i - 1].id)
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: category id %.0f given twice", file,
                            (*pairs)[i].id);
        const cJSON *c = cJSON_GetArrayItem(list, (int)(*pairs)[i].index);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        int cls;
        ykd_status st = ykd_annotation_class(a, name, &cls, err);
        if (st != YKD_OK)
            return st;
        if (!a->names_fixed && (size_t)cls != i)
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: category name '%s' given twice", file,
                            name);
        (*pairs)[i].index = cls < 0 ? SIZE_MAX : (size_t)cls;
    }
    return YKD_OK;
}

static ykd_status read_images(ykd_annotations *a, const char *file, const char *images,
                              const cJSON *list, id_pair **pairs, size_t *count, ykd_error *err)
{
    if (!cJSON_IsArray(list))
        return bad_file(file, err, "no 'images' list");
    *count = (size_t)cJSON_GetArraySize(list);
    if (!(*pairs = calloc(*count ? *count : 1, sizeof **pairs)))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t i = 0;
    ykd_status st = YKD_OK;
    for (const cJSON *m = list->child; m && st == YKD_OK; m = m->next, i++) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "file_name"));
        double w = 0, h = 0;
        if (!whole_at(m, "id", &(*pairs)[i].id) || !name || !name[0])
            return ykd_fail(err, YKD_ERR_FORMAT,
                            "%s: image %zu needs a whole-number 'id' and a 'file_name'", file, i);
        whole_at(m, "width", &w);
        whole_at(m, "height", &h);
        char *path = ykd_annotation_image_path(images, name);
        ykd_annotated_image *image = NULL;
        st = path ? ykd_annotation_image(a, path, file, 0, &image, err)
                  : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        free(path);
        if (st == YKD_OK) {
            image->width = w > 0 && w <= 1e6 ? (int)w : 0;
            image->height = h > 0 && h <= 1e6 ? (int)h : 0;
            (*pairs)[i].index = (size_t)(image - a->images);
        }
    }
    qsort(*pairs, *count, sizeof **pairs, compare_ids);
    for (i = 1; i < *count && st == YKD_OK; i++)
        if ((*pairs)[i].id == (*pairs)[i - 1].id)
            st = ykd_fail(err, YKD_ERR_FORMAT, "%s: image id %.0f given twice", file,
                          (*pairs)[i].id);
    return st;
}

static ykd_status read_annotation(ykd_annotations *a, const char *file, size_t i,
                                  const cJSON *ann, const id_pair *cats, size_t cat_count,
                                  const id_pair *imgs, size_t img_count, ykd_error *err)
{
    double id = -1, image_id, category_id;
    whole_at(ann, "id", &id);
    const cJSON *crowd = cJSON_GetObjectItemCaseSensitive(ann, "iscrowd");
    if (cJSON_IsNumber(crowd) && crowd->valuedouble != 0) {
        a->result->crowd++;
        return YKD_OK;
    }
    const id_pair *image = whole_at(ann, "image_id", &image_id)
                               ? find_id(imgs, img_count, image_id)
                               : NULL;
    const id_pair *cat = whole_at(ann, "category_id", &category_id)
                             ? find_id(cats, cat_count, category_id)
                             : NULL;
    const cJSON *bbox = cJSON_GetObjectItemCaseSensitive(ann, "bbox");
    double v[4] = {0, 0, 0, 0};
    bool bbox_ok = cJSON_IsArray(bbox) && cJSON_GetArraySize(bbox) == 4;
    for (int k = 0; k < 4 && bbox_ok; k++) {
        const cJSON *x = cJSON_GetArrayItem(bbox, k);
        bbox_ok = cJSON_IsNumber(x) && isfinite(x->valuedouble);
        v[k] = bbox_ok ? x->valuedouble : 0;
    }
    const char *problem = !image  ? "its image_id is not in 'images'"
                          : !cat  ? "its category_id is not in 'categories'"
                          : !bbox_ok ? "its bbox is not 4 numbers [x, y, width, height]"
                          : cat->index == SIZE_MAX ? "its category is not one of --names"
                                                   : NULL;
    if (problem)
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, 0, false, err,
                                    "annotation %zu (id %.0f): %s", i, id, problem);
    ykd_annotated_box box = {(int)cat->index, v[0], v[1], v[0] + v[2], v[1] + v[3], 0};
    return ykd_annotation_add_box(&a->images[image->index], &box, err);
}

ykd_status ykd_convert_read_coco(ykd_annotations *a, const char *images, ykd_error *err)
{
    const char *file = a->options->input;
    void *text = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(file, COCO_MAX_BYTES, &text, &size, err);
    if (st != YKD_OK)
        return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, false);
    if (!root) {
        int line = 1;
        for (const char *c = text; end && c < end && c < (const char *)text + size; c++)
            line += *c == '\n';
        free(text);
        return ykd_fail(err, YKD_ERR_FORMAT, "%s:%d: not valid JSON", file, line);
    }
    free(text);
    id_pair *cats = NULL, *imgs = NULL;
    size_t cat_count = 0, img_count = 0;
    st = read_categories(a, file, cJSON_GetObjectItemCaseSensitive(root, "categories"), &cats,
                         &cat_count, err);
    if (st == YKD_OK)
        st = read_images(a, file, images, cJSON_GetObjectItemCaseSensitive(root, "images"),
                         &imgs, &img_count, err);
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(root, "annotations");
    if (st == YKD_OK && !cJSON_IsArray(anns))
        st = bad_file(file, err, "no 'annotations' list");
    size_t i = 0;
    for (const cJSON *ann = st == YKD_OK ? anns->child : NULL; ann && st == YKD_OK;
         ann = ann->next, i++)
        st = read_annotation(a, file, i, ann, cats, cat_count, imgs, img_count, err);
    free(cats);
    free(imgs);
    cJSON_Delete(root);
    return st;
}
