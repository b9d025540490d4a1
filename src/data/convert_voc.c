/* Pascal VOC annotations (one .xml per image), read with expat: a small, well-kept streaming
 * XML parser that reports the line of every element and error, refuses malformed XML, and
 * does not fetch external entities. Read: annotation/filename, size/width and height, and
 * every object's name, difficult and bndbox (xmin, ymin, xmax, ymax; parts ignored). */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "data/convert_internal.h"
#include "data/dataset_folder.h"

enum { VOC_MAX_BYTES = 16 << 20, VOC_DEPTH = 16, VOC_NAME = 32, VOC_TEXT = 1024 };

typedef struct voc_object {
    char name[256];
    char coord_text[4][64];
    bool has_coord[4];
    bool has_name;
    int difficult;
    int line;
} voc_object;

typedef struct voc_reader {
    XML_Parser parser;
    char stack[VOC_DEPTH][VOC_NAME];
    int depth;
    char text[VOC_TEXT];
    size_t text_len;
    char filename[VOC_TEXT];
    char width[64], height[64];
    voc_object current;
    voc_object *objects;
    size_t count, capacity;
    bool out_of_memory;
    bool wrong_root;
} voc_reader;

static const char *const coord_names[4] = {"xmin", "ymin", "xmax", "ymax"};

/* The element depth levels up from the current one ("" above the root). */
static const char *up(const voc_reader *r, int levels)
{
    int at = r->depth - 1 - levels;
    return at >= 0 && at < VOC_DEPTH ? r->stack[at] : "";
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    voc_reader *r = data;
    if (r->depth < VOC_DEPTH)
        snprintf(r->stack[r->depth], VOC_NAME, "%s", name);
    r->depth++;
    r->text_len = 0;
    if (r->depth == 1 && strcmp(name, "annotation") != 0)
        r->wrong_root = true;
    if (r->depth == 2 && strcmp(name, "object") == 0) {
        memset(&r->current, 0, sizeof r->current);
        r->current.line = (int)XML_GetCurrentLineNumber(r->parser);
    }
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
    voc_reader *r = data;
    size_t n = (size_t)len;
    if (r->text_len + n >= VOC_TEXT)
        n = VOC_TEXT - 1 - r->text_len;
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
}

/* The element's text without surrounding blanks. */
static char *element_text(voc_reader *r)
{
    r->text[r->text_len] = '\0';
    char *t = r->text;
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
        t++;
    size_t n = strlen(t);
    while (n > 0 && strchr(" \t\n\r", t[n - 1]))
        t[--n] = '\0';
    return t;
}

static void end_object(voc_reader *r)
{
    if (r->count == r->capacity) {
        size_t capacity = r->capacity ? 2 * r->capacity : 16;
        voc_object *grown = realloc(r->objects, capacity * sizeof *grown);
        if (!grown) {
            r->out_of_memory = true;
            return;
        }
        r->objects = grown;
        r->capacity = capacity;
    }
    r->objects[r->count++] = r->current;
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
    voc_reader *r = data;
    const char *parent = up(r, 1), *grandparent = up(r, 2);
    char *text = element_text(r);
    if (r->depth == 2 && strcmp(name, "filename") == 0)
        snprintf(r->filename, sizeof r->filename, "%s", text);
    else if (strcmp(parent, "size") == 0 && r->depth == 3 && strcmp(name, "width") == 0)
        snprintf(r->width, sizeof r->width, "%s", text);
    else if (strcmp(parent, "size") == 0 && r->depth == 3 && strcmp(name, "height") == 0)
        snprintf(r->height, sizeof r->height, "%s", text);
    else if (r->depth == 3 && strcmp(parent, "object") == 0 && strcmp(name, "name") == 0) {
        snprintf(r->current.name, sizeof r->current.name, "%s", text);
        r->current.has_name = true;
    } else if (r->depth == 3 && strcmp(parent, "object") == 0 && strcmp(name, "difficult") == 0)
        r->current.difficult = atoi(text);
    else if (r->depth == 4 && strcmp(parent, "bndbox") == 0 && strcmp(grandparent, "object") == 0)
        for (int k = 0; k < 4; k++)
            if (strcmp(name, coord_names[k]) == 0) {
                snprintf(r->current.coord_text[k], sizeof r->current.coord_text[k], "%s", text);
                r->current.has_coord[k] = true;
            }
    if (r->depth == 2 && strcmp(name, "object") == 0)
        end_object(r);
    r->depth--;
    r->text_len = 0;
}

static bool parse_number(const char *text, double *v)
{
    char *end = NULL;
    *v = strtod(text, &end);
    return end != text && *end == '\0';
}

/* One object into a box of image; faults are recorded against the object's line. */
static ykd_status add_object(ykd_annotations *a, const char *file, const voc_object *o,
                             ykd_annotated_image *image, ykd_error *err)
{
    if (o->difficult && !a->options->keep_difficult) {
        a->result->difficult++;
        return YKD_OK;
    }
    if (!o->has_name || !o->name[0])
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, o->line, false, err,
                                    "object without a <name>");
    double v[4];
    for (int k = 0; k < 4; k++) {
        if (!o->has_coord[k])
            return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, o->line, false, err,
                                        "object '%s' has no bndbox/%s", o->name,
                                        coord_names[k]);
        if (!parse_number(o->coord_text[k], &v[k]))
            return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, o->line, false, err,
                                        "object '%s': %s '%s' is not a number", o->name,
                                        coord_names[k], o->coord_text[k]);
    }
    int cls;
    ykd_status st = ykd_annotation_class(a, o->name, &cls, err);
    if (st != YKD_OK)
        return st;
    if (cls < 0)
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, o->line, false, err,
                                    "class '%s' is not one of --names", o->name);
    /* VOC pixels are 1-based; Ultralytics' VOC conversion shifts both corners by one */
    ykd_annotated_box box = {cls, v[0] - 1, v[1] - 1, v[2] - 1, v[3] - 1, o->line};
    return ykd_annotation_add_box(image, &box, err);
}

/* An integer size field, 0 when absent; -1 when malformed. */
static int size_field(const char *text)
{
    if (!text[0])
        return 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    return end != text && *end == '\0' && v >= 0 && v <= 1000000 ? (int)v : -1;
}

static ykd_status read_file(ykd_annotations *a, const char *file, const char *images,
                            ykd_error *err)
{
    void *data = NULL;
    size_t size = 0;
    ykd_error read_err;
    if (ykd_file_read_all(file, VOC_MAX_BYTES, &data, &size, &read_err) != YKD_OK)
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file, 0, true, err, "%s",
                                    read_err.message);
    voc_reader r;
    memset(&r, 0, sizeof r);
    r.parser = XML_ParserCreate(NULL);
    if (!r.parser) {
        free(data);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for an XML parser");
    }
    XML_SetUserData(r.parser, &r);
    XML_SetElementHandler(r.parser, on_start, on_end);
    XML_SetCharacterDataHandler(r.parser, on_text);
    ykd_status st = YKD_OK;
    if (XML_Parse(r.parser, data, (int)size, XML_TRUE) == XML_STATUS_ERROR)
        st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file,
                                  (int)XML_GetCurrentLineNumber(r.parser), true, err,
                                  "not valid XML: %s",
                                  XML_ErrorString(XML_GetErrorCode(r.parser)));
    else if (r.out_of_memory)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory reading '%s'", file);
    else if (r.wrong_root)
        st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file, 1, true, err,
                                  "the root element is not <annotation>");
    else if (!r.filename[0])
        st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file, 0, true, err,
                                  "no <filename> naming the image");
    else if (size_field(r.width) < 0 || size_field(r.height) < 0)
        st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file, 0, true, err,
                                  "size/width '%s' or height '%s' is not a whole number",
                                  r.width, r.height);
    else {
        char *path = ykd_annotation_image_path(images, r.filename);
        ykd_annotated_image *image = NULL;
        st = path ? ykd_annotation_image(a, path, file, 0, &image, err)
                  : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        free(path);
        if (st == YKD_OK && strcmp(image->source, file) != 0) {
            st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file, 0, false, err,
                                      "image '%s' is annotated already in %s", r.filename,
                                      image->source);
        } else if (st == YKD_OK) {
            image->width = size_field(r.width);
            image->height = size_field(r.height);
            for (size_t i = 0; i < r.count && st == YKD_OK; i++)
                st = add_object(a, file, &r.objects[i], image, err);
        }
    }
    XML_ParserFree(r.parser);
    free(r.objects);
    free(data);
    return st;
}

static bool is_xml(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".xml") == 0;
}

ykd_status ykd_convert_read_voc(ykd_annotations *a, const char *images, ykd_error *err)
{
    char **names = NULL;
    size_t count = 0;
    ykd_status st = ykd_list_folder(a->options->input, "VOC annotations folder", &names, &count,
                                    err);
    size_t xml = 0;
    for (size_t i = 0; i < count && st == YKD_OK; i++) {
        if (!is_xml(names[i]))
            continue;
        xml++;
        char *file = ykd_annotation_image_path(a->options->input, names[i]);
        st = file ? read_file(a, file, images, err)
                  : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        free(file);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (st == YKD_OK && xml == 0)
        st = ykd_fail(err, YKD_ERR_NOT_FOUND, "convert: no .xml file in '%s'", a->options->input);
    return st;
}
