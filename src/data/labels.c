/* YOLO label files: one box a line, "class cx cy w h", normalised, or one polygon
 * "class x1 y1 ... xn yn" (segment labels, as COCO's from Ultralytics), taken as the box around
 * its points. Every line is validated; a bad one is skipped and recorded (or, when strict,
 * fails the parse). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/report.h"
#include "yolokd/data.h"

enum { LABEL_FIELDS = 5, TOKEN_MAX = 64 };

typedef struct label_parser {
    const char *path;
    size_t class_count;
    bool strict;
    ykd_report *report;
    ykd_error *err;
    ykd_box *boxes;
    int *lines; /* line of each kept box, for duplicate messages */
    size_t count;
    uint32_t *slots; /* hash set of kept boxes (index + 1; 0 is empty) */
    size_t slot_mask;
} label_parser;

/* A bad line: recorded and skipped, or (strict) the parse's error. Returns YKD_OK to go on. */
static ykd_status line_fault(label_parser *p, ykd_fault_kind kind, int line, const char *fmt, ...)
    YKD_PRINTF(4, 5);

static ykd_status line_fault(label_parser *p, ykd_fault_kind kind, int line, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (p->strict)
        return ykd_fail(p->err, YKD_ERR_FORMAT, "%s:%d: %s", p->path, line, message);
    p->report->lines_skipped++;
    if (ykd_report_add(p->report, kind, p->path, line, false, "%s (line skipped)", message) !=
        YKD_OK)
        return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    return YKD_OK;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits [s, end) into at most max tokens; returns how many there are (may exceed max). */
static int tokenize(const char *s, const char *end, const char **starts, size_t *lengths, int max)
{
    int n = 0;
    while (s < end) {
        while (s < end && is_space(*s))
            s++;
        if (s >= end)
            break;
        const char *t = s;
        while (s < end && !is_space(*s))
            s++;
        if (n < max) {
            starts[n] = t;
            lengths[n] = (size_t)(s - t);
        }
        n++;
    }
    return n;
}

/* A whole token as a number; false when any of it is not. */
static bool parse_number(const char *s, size_t length, double *value)
{
    char buf[TOKEN_MAX];
    if (length == 0 || length >= sizeof buf)
        return false;
    memcpy(buf, s, length);
    buf[length] = '\0';
    char *end = NULL;
    *value = strtod(buf, &end);
    return end == buf + length;
}

static uint64_t box_hash(const ykd_box *b)
{
    float v[4] = {b->cx + 0.0f, b->cy + 0.0f, b->w + 0.0f, b->h + 0.0f}; /* -0 becomes +0 */
    uint64_t h = (uint64_t)(uint32_t)b->cls * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 4; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        h = (h ^ bits) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

static bool same_box(const ykd_box *a, const ykd_box *b)
{
    return a->cls == b->cls && a->cx == b->cx && a->cy == b->cy && a->w == b->w && a->h == b->h;
}

/* The kept box equal to b, or -1; with insert, b (at index count) is added when new. */
static long find_or_insert(label_parser *p, const ykd_box *b, bool insert)
{
    size_t slot = (size_t)box_hash(b) & p->slot_mask;
    while (p->slots[slot] != 0) {
        size_t k = p->slots[slot] - 1;
        if (same_box(&p->boxes[k], b))
            return (long)k;
        slot = (slot + 1) & p->slot_mask;
    }
    if (insert)
        p->slots[slot] = (uint32_t)(p->count + 1);
    return -1;
}

static const char *const field_names[LABEL_FIELDS] = {"class", "cx", "cy", "w", "h"};

/* Clips a box that pokes out by at most the tolerance; false when it is further out. */
static bool clip_box(double v[LABEL_FIELDS], bool *clipped)
{
    double x1 = v[1] - v[3] / 2, x2 = v[1] + v[3] / 2;
    double y1 = v[2] - v[4] / 2, y2 = v[2] + v[4] / 2;
    double tol = YKD_LABEL_CLIP_TOLERANCE;
    if (x1 < -tol || y1 < -tol || x2 > 1 + tol || y2 > 1 + tol)
        return false;
    /* past the edge by less than rounding in a printed label: clamped, not counted */
    double slack = YKD_LABEL_ROUNDING;
    *clipped = x1 < -slack || y1 < -slack || x2 > 1 + slack || y2 > 1 + slack;
    if (x1 < 0 || y1 < 0 || x2 > 1 || y2 > 1) {
        x1 = fmax(x1, 0), y1 = fmax(y1, 0), x2 = fmin(x2, 1), y2 = fmin(y2, 1);
        v[1] = (x1 + x2) / 2, v[2] = (y1 + y2) / 2, v[3] = x2 - x1, v[4] = y2 - y1;
    }
    return true;
}

/* One number of a line into *v; false (the line recorded as a fault in *st) when it is not
 * a finite number. */
static bool line_number(label_parser *p, int line, const char *tok, size_t len, const char *name,
                        double *v, ykd_status *st)
{
    if (!parse_number(tok, len, v)) {
        *st = line_fault(p, YKD_FAULT_LABEL_NOT_NUMBER, line, "%s '%.*s' is not a number", name,
                         (int)(len < 40 ? len : 40), tok);
        return false;
    }
    if (!isfinite(*v)) {
        *st = line_fault(p, YKD_FAULT_LABEL_NOT_FINITE, line, "%s is %s", name,
                         isnan(*v) ? "NaN" : "infinite");
        return false;
    }
    return true;
}

/* A segment line, "class x1 y1 ... xn yn" (n >= 3, normalised), becomes the box around its
 * points, as Ultralytics' segments2boxes makes it. */
static ykd_status polygon_values(label_parser *p, int line, const char *s, const char *end,
                                 double v[LABEL_FIELDS], bool *ok)
{
    *ok = false;
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    ykd_status st = YKD_OK;
    for (int k = 0; s < end; k++) {
        const char *tok;
        size_t len;
        tokenize(s, end, &tok, &len, 1);
        s = tok + len;
        char name[32];
        if (k == 0)
            snprintf(name, sizeof name, "class");
        else
            snprintf(name, sizeof name, "point %d's %c", (k + 1) / 2, k % 2 ? 'x' : 'y');
        double x;
        if (!line_number(p, line, tok, len, name, &x, &st))
            return st;
        if (k == 0)
            v[0] = x;
        else
            lo[(k + 1) % 2] = fmin(lo[(k + 1) % 2], x), hi[(k + 1) % 2] = fmax(hi[(k + 1) % 2], x);
        while (s < end && is_space(*s))
            s++;
    }
    v[1] = (lo[0] + hi[0]) / 2, v[2] = (lo[1] + hi[1]) / 2;
    v[3] = hi[0] - lo[0], v[4] = hi[1] - lo[1];
    *ok = true;
    return YKD_OK;
}

/* Validates one line's fields into a box; YKD_OK with *ok false when the line was skipped.
 * [s, end) is the whole line, for a polygon's many fields. */
static ykd_status parse_line(label_parser *p, int line, const char **tok, const size_t *len,
                             int fields, const char *s, const char *end, bool *ok)
{
    *ok = false;
    double v[LABEL_FIELDS];
    ykd_status st = YKD_OK;
    if (fields >= 7 && fields % 2 == 1) {
        bool parsed = false;
        st = polygon_values(p, line, s, end, v, &parsed);
        if (!parsed)
            return st;
    } else if (fields != LABEL_FIELDS) {
        return line_fault(p, YKD_FAULT_LABEL_FIELDS, line,
                          "expected 5 fields (class cx cy w h), found %d (a polygon, class "
                          "x1 y1 ... xn yn, needs 3 or more points)",
                          fields);
    } else {
        for (int i = 0; i < LABEL_FIELDS; i++)
            if (!line_number(p, line, tok[i], len[i], field_names[i], &v[i], &st))
                return st;
    }
    if (v[0] != floor(v[0]))
        return line_fault(p, YKD_FAULT_LABEL_CLASS, line, "class %g is not an integer", v[0]);
    if (v[0] < 0 || v[0] >= (double)p->class_count)
        return line_fault(p, YKD_FAULT_LABEL_CLASS, line,
                          "class %.0f out of range (the dataset has %zu classes: 0..%zu)", v[0],
                          p->class_count, p->class_count ? p->class_count - 1 : 0);
    if (v[3] <= 0 || v[4] <= 0)
        return line_fault(p, YKD_FAULT_LABEL_SIZE, line,
                          "box has zero or negative size (w %g, h %g)", v[3], v[4]);
    bool clipped = false;
    if (!clip_box(v, &clipped))
        return line_fault(p, YKD_FAULT_LABEL_OUTSIDE, line,
                          "box x %g..%g, y %g..%g reaches outside the image [0,1] by more "
                          "than %g",
                          v[1] - v[3] / 2, v[1] + v[3] / 2, v[2] - v[4] / 2, v[2] + v[4] / 2,
                          (double)YKD_LABEL_CLIP_TOLERANCE);
    ykd_box *b = &p->boxes[p->count];
    *b = (ykd_box){(int)v[0], (float)v[1], (float)v[2], (float)v[3], (float)v[4]};
    if (b->w <= 0 || b->h <= 0)
        return line_fault(p, YKD_FAULT_LABEL_SIZE, line, "box has no area left after clipping");
    long twin = find_or_insert(p, b, true);
    if (twin >= 0)
        return line_fault(p, YKD_FAULT_LABEL_DUPLICATE, line, "duplicate of the box on line %d",
                          p->lines[twin]);
    if (clipped && p->report)
        p->report->boxes_clipped++;
    p->lines[p->count] = line;
    *ok = true;
    return YKD_OK;
}

/* Sizes the box arrays and the hash set for at most lines boxes. */
static ykd_status parser_alloc(label_parser *p, size_t lines)
{
    size_t slots = 16;
    while (slots < 2 * lines)
        slots *= 2;
    p->boxes = malloc(lines * sizeof *p->boxes);
    p->lines = malloc(lines * sizeof *p->lines);
    p->slots = calloc(slots, sizeof *p->slots);
    p->slot_mask = slots - 1;
    if (!p->boxes || !p->lines || !p->slots)
        return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", p->path);
    return YKD_OK;
}

ykd_status ykd_labels_parse(const char *text, size_t size, const char *path, size_t class_count,
                            bool strict, ykd_box **boxes, size_t *count, ykd_report *report,
                            ykd_error *err)
{
    *boxes = NULL;
    *count = 0;
    label_parser p = {path, class_count, strict || !report, report, err, NULL, NULL, 0, NULL, 0};
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    ykd_status st = parser_alloc(&p, lines);
    const char *s = text, *end = text + size;
    for (int line = 1; st == YKD_OK && s < end; line++) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        const char *tok[LABEL_FIELDS];
        size_t len[LABEL_FIELDS];
        int fields = tokenize(s, eol, tok, len, LABEL_FIELDS);
        bool ok = false;
        if (fields > 0) /* blank lines are allowed */
            st = parse_line(&p, line, tok, len, fields, s, eol, &ok);
        if (ok)
            p.count++;
        s = eol + 1;
    }
    free(p.lines);
    free(p.slots);
    if (st != YKD_OK || p.count == 0) {
        free(p.boxes);
        return st;
    }
    *boxes = p.boxes;
    *count = p.count;
    return YKD_OK;
}
