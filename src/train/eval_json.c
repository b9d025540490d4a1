/* The COCO results format: a JSON array with one object per detection, as pycocotools' loadRes
 * reads it (and Ultralytics writes it: bbox to 3 decimals, score to 5). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "yolokd/eval.h"

/* A growing string; on allocation failure it stays failed and the text is dropped. */
typedef struct text_buf {
    char *data;
    size_t len, cap;
    bool failed;
} text_buf;

static void append(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(text_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n =
            vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

static bool all_digits(const char *s)
{
    if (!*s || strlen(s) > 18) /* longer ones would not survive as JSON numbers */
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* The image id: a number when it is one, else a JSON string with escapes. */
static void append_id(text_buf *b, const char *id)
{
    if (all_digits(id)) {
        append(b, "%lld", strtoll(id, NULL, 10));
        return;
    }
    append(b, "\"");
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        if (*c == '"' || *c == '\\')
            append(b, "\\%c", *c);
        else if (*c < 0x20)
            append(b, "\\u%04x", *c);
        else
            append(b, "%c", *c);
    }
    append(b, "\"");
}

/* A number as Python prints round(x, digits): trailing zeros dropped but one, no "-0.0". */
static void append_rounded(text_buf *b, double x, int digits)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%.*f", digits, x);
    char *s = tmp;
    if (s[0] == '-' && strspn(s, "-0.") == strlen(s))
        s++;
    char *end = s + strlen(s) - 1;
    while (*end == '0' && end[-1] != '.')
        *end-- = '\0';
    append(b, "%s", s);
}

/* One detection as a results object. */
static void append_detection(text_buf *b, const char *id, const ykd_detection *d, int category)
{
    append(b, "{\"image_id\": ");
    append_id(b, id);
    append(b, ", \"category_id\": %d, \"bbox\": [", category);
    const double box[4] = {d->x1, d->y1, (double)d->x2 - d->x1, (double)d->y2 - d->y1};
    for (int j = 0; j < 4; j++) {
        append(b, j ? ", " : "");
        append_rounded(b, box[j], 3);
    }
    append(b, "], \"score\": ");
    append_rounded(b, d->score, 5);
    append(b, "}");
}

/* Refuses what would not make a valid results file. */
static ykd_status check_detection(const ykd_coco_image *image, size_t k, size_t category_count,
                                  bool mapped, ykd_error *err)
{
    const ykd_detection *d = &image->dets[k];
    if (!isfinite(d->x1 + d->y1 + d->x2 + d->y2 + d->score))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "coco json: image %s, detection %zu is not finite", image->id, k);
    if (mapped && (d->cls < 0 || (size_t)d->cls >= category_count))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "coco json: image %s, detection %zu: class %d has no category id (%zu "
                        "given)",
                        image->id, k, d->cls, category_count);
    return YKD_OK;
}

ykd_status ykd_coco_json_format(const ykd_coco_image *images, size_t count, const int *category_ids,
                                size_t category_count, char **text, ykd_error *err)
{
    *text = NULL;
    text_buf b = {0};
    ykd_status st = YKD_OK;
    append(&b, "[");
    const char *separator = "\n";
    for (size_t i = 0; st == YKD_OK && i < count; i++) {
        if (!images[i].id || (images[i].count > 0 && !images[i].dets)) {
            st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                          "coco json: image %zu has no id or no detections array", i);
            break;
        }
        for (size_t k = 0; st == YKD_OK && k < images[i].count; k++) {
            st = check_detection(&images[i], k, category_count, category_ids != NULL, err);
            if (st != YKD_OK)
                break;
            const ykd_detection *d = &images[i].dets[k];
            append(&b, "%s", separator);
            append_detection(&b, images[i].id, d, category_ids ? category_ids[d->cls] : d->cls);
            separator = ",\n";
        }
    }
    append(&b, "%s]\n", separator[0] == ',' ? "\n" : "");
    if (st == YKD_OK && b.failed)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "coco json: out of memory");
    if (st != YKD_OK) {
        free(b.data);
        return st;
    }
    *text = b.data;
    return YKD_OK;
}

ykd_status ykd_coco_json_write(const char *path, const ykd_coco_image *images, size_t count,
                               const int *category_ids, size_t category_count, ykd_error *err)
{
    char *text = NULL;
    ykd_status st = ykd_coco_json_format(images, count, category_ids, category_count, &text, err);
    if (st != YKD_OK)
        return st;
    const void *parts[1] = {text};
    size_t sizes[1] = {strlen(text)};
    st = ykd_file_write_atomic(path, parts, sizes, 1, err);
    free(text);
    return st;
}
