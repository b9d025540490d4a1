/* A CSV of boxes: image,x1,y1,x2,y2,label per record (pixels), RFC 4180 quoting ("a,b" and ""
 * for a quote, line breaks inside quotes). A first record whose x1 is not a number is a
 * header. A record with only the image (the other five fields empty) is a background image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "data/convert_internal.h"

#define CSV_MAX_BYTES ((size_t)1 << 30)
enum { CSV_FIELDS = 6 };

typedef struct csv_reader {
    const char *text;
    size_t size, at;
    int line;   /* the line the reader is on */
    char *buf;  /* the record's fields, each NUL-terminated */
} csv_reader;

typedef struct csv_record {
    const char *fields[CSV_FIELDS];
    int count; /* fields found (may be over CSV_FIELDS: only the first are kept) */
    int line;
    bool unterminated;
} csv_record;

/* The next record; false at the end of the text. Blank lines are skipped. */
static bool next_record(csv_reader *r, csv_record *rec)
{
    while (r->at < r->size && (r->text[r->at] == '\n' || r->text[r->at] == '\r')) {
        r->line += r->text[r->at] == '\n';
        r->at++;
    }
    if (r->at >= r->size)
        return false;
    memset(rec, 0, sizeof *rec);
    rec->line = r->line;
    size_t w = 0;
    bool quoted = false, field_start = true;
    rec->fields[0] = r->buf;
    rec->count = 1;
    for (; r->at < r->size; r->at++) {
        char c = r->text[r->at];
        if (quoted) {
            if (c == '"' && r->at + 1 < r->size && r->text[r->at + 1] == '"') {
                r->buf[w++] = '"';
                r->at++;
            } else if (c == '"') {
                quoted = false;
            } else {
                r->line += c == '\n';
                r->buf[w++] = c;
            }
        } else if (c == '"' && field_start) {
            quoted = true;
            field_start = false;
        } else if (c == ',') {
            r->buf[w++] = '\0';
            if (rec->count < CSV_FIELDS)
                rec->fields[rec->count] = r->buf + w;
            rec->count++;
            field_start = true;
        } else if (c == '\n') {
            break;
        } else if (c != '\r') {
            r->buf[w++] = c;
            field_start = false;
        }
    }
    r->buf[w] = '\0';
    rec->unterminated = quoted;
    return true;
}

/* The field without surrounding blanks (in place). */
static const char *trimmed(const char *field)
{
    char *f = (char *)field;
    while (*f == ' ' || *f == '\t')
        f++;
    size_t n = strlen(f);
    while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t'))
        f[--n] = '\0';
    return f;
}

static bool parse_number(const char *text, double *v)
{
    char *end = NULL;
    *v = strtod(text, &end);
    return end != text && *end == '\0';
}

static const char *const field_names[CSV_FIELDS] = {"image", "x1", "y1", "x2", "y2", "label"};

static ykd_status read_record(ykd_annotations *a, const char *file, const char *images,
                              const csv_record *rec, ykd_error *err)
{
    if (rec->count != CSV_FIELDS)
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, rec->line, false, err,
                                    "%d fields, expected 6 (image,x1,y1,x2,y2,label)",
                                    rec->count);
    const char *f[CSV_FIELDS];
    bool rest_empty = true;
    for (int k = 0; k < CSV_FIELDS; k++) {
        f[k] = trimmed(rec->fields[k]);
        rest_empty = rest_empty && (k == 0 || !f[k][0]);
    }
    if (!f[0][0])
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, rec->line, false, err,
                                    "no image named");
    double v[4];
    for (int k = 0; k < 4 && !rest_empty; k++)
        if (!parse_number(f[k + 1], &v[k]))
            return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, rec->line, false, err,
                                        "%s '%s' is not a number", field_names[k + 1], f[k + 1]);
    if (!rest_empty && !f[5][0])
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, rec->line, false, err,
                                    "no label");
    int cls = 0;
    ykd_status st = rest_empty ? YKD_OK : ykd_annotation_class(a, f[5], &cls, err);
    if (st != YKD_OK)
        return st;
    if (cls < 0)
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, file, rec->line, false, err,
                                    "class '%s' is not one of --names", f[5]);
    char *path = ykd_annotation_image_path(images, f[0]);
    ykd_annotated_image *image = NULL;
    st = path ? ykd_annotation_image(a, path, file, rec->line, &image, err)
              : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    free(path);
    if (st != YKD_OK || rest_empty)
        return st;
    ykd_annotated_box box = {cls, v[0], v[1], v[2], v[3], rec->line};
    return ykd_annotation_add_box(image, &box, err);
}

ykd_status ykd_convert_read_csv(ykd_annotations *a, const char *images, ykd_error *err)
{
    const char *file = a->options->input;
    void *text = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(file, CSV_MAX_BYTES, &text, &size, err);
    if (st != YKD_OK)
        return st;
    csv_reader r = {text, size, 0, 1, malloc(size + 1)};
    if (!r.buf)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for '%s'", file);
    /* a UTF-8 byte-order mark, as spreadsheets write it */
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.at = 3;
    csv_record rec;
    bool first = true;
    while (st == YKD_OK && next_record(&r, &rec)) {
        double x;
        if (rec.unterminated) {
            st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION_FILE, file, rec.line, false, err,
                                      "a quoted field runs to the end of the file");
            break;
        }
        if (first && rec.count >= 2 && !parse_number(trimmed(rec.fields[1]), &x) &&
            trimmed(rec.fields[1])[0]) {
            first = false; /* a header */
            continue;
        }
        first = false;
        st = read_record(a, file, images, &rec, err);
    }
    free(r.buf);
    free(text);
    return st;
}
