/* Writing converted annotations in the YOLO layout: each image checked against its file,
 * its boxes clipped or faulted, then either copied whole into train or val (a seeded hash of
 * its name decides) or cut into tiles, the bottom band of rows going to val. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "data/convert_internal.h"
#include "data/dataset_folder.h"
#include "data/report.h"

enum { LINE_SIZE = 96 };
static const char *const split_names[2] = {"train", "val"};

/* A label line and the annotation line it came from. */
typedef struct label_line {
    char text[LINE_SIZE];
    int line;
} label_line;

static int compare_lines(const void *a, const void *b)
{
    return strcmp(((const label_line *)a)->text, ((const label_line *)b)->text);
}

/* Where an output goes: the region of its image (pixels), its name and split. */
typedef struct output {
    const ykd_annotated_image *image;
    int x, y, w, h;
    int split;
    char stem[512];
} output;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The val split takes an image when a seeded hash of its file name falls under fraction. */
static int split_of_name(const char *name, uint64_t seed, double fraction)
{
    uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ull;
    h ^= h >> 31; /* mix the low bits up, as splitmix64 finishes */
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return (double)(h >> 11) * 0x1p-53 < fraction;
}

/* The image's boxes clipped to w x h; those out by more than 1% of a side, empty or
 * inverted are faults. *kept malloc'd. */
static ykd_status valid_boxes(ykd_annotations *a, const ykd_annotated_image *m, int w, int h,
                              ykd_annotated_box **kept, size_t *count, ykd_error *err)
{
    *count = 0;
    *kept = malloc((m->count ? m->count : 1) * sizeof **kept);
    if (!*kept)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    double tx = 0.01 * w, ty = 0.01 * h;
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < m->count && st == YKD_OK; i++) {
        ykd_annotated_box b = m->boxes[i];
        bool finite = isfinite(b.x1) && isfinite(b.y1) && isfinite(b.x2) && isfinite(b.y2);
        if (!finite || b.x2 <= b.x1 || b.y2 <= b.y1)
            st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, m->source, b.line, false, err,
                                      "box (%g, %g)-(%g, %g) of '%s' is empty or inverted",
                                      b.x1, b.y1, b.x2, b.y2, base_name(m->path));
        else if (b.x1 < -tx || b.y1 < -ty || b.x2 > w + tx || b.y2 > h + ty)
            st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, m->source, b.line, false, err,
                                      "box (%g, %g)-(%g, %g) is outside the %dx%d image '%s'",
                                      b.x1, b.y1, b.x2, b.y2, w, h, base_name(m->path));
        else {
            b.x1 = fmax(b.x1, 0), b.y1 = fmax(b.y1, 0);
            b.x2 = fmin(b.x2, w), b.y2 = fmin(b.y2, h);
            if (b.x2 > b.x1 && b.y2 > b.y1)
                (*kept)[(*count)++] = b;
        }
    }
    return st;
}

/* The label lines of the boxes inside out's region: a box cut by the region's edge is kept
 * when the part inside is over YKD_TILE_MIN_SIDE on both sides and keeps YKD_TILE_MIN_AREA_RATIO
 * of its area. Sorted; duplicates and boxes too small to print are faults. */
static ykd_status label_lines(ykd_annotations *a, const output *o, const ykd_annotated_box *boxes,
                              size_t count, label_line **lines, size_t *n, ykd_error *err)
{
    *n = 0;
    *lines = malloc((count ? count : 1) * sizeof **lines);
    if (!*lines)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < count; i++) {
        const ykd_annotated_box *b = &boxes[i];
        double x1 = fmax(b->x1, o->x), y1 = fmax(b->y1, o->y);
        double x2 = fmin(b->x2, o->x + o->w), y2 = fmin(b->y2, o->y + o->h);
        double iw = x2 - x1, ih = y2 - y1;
        if (iw <= 0 || ih <= 0)
            continue;
        bool cut = iw < b->x2 - b->x1 || ih < b->y2 - b->y1;
        if (cut && !(iw > YKD_TILE_MIN_SIDE && ih > YKD_TILE_MIN_SIDE &&
                     iw * ih >= YKD_TILE_MIN_AREA_RATIO * (b->x2 - b->x1) * (b->y2 - b->y1))) {
            a->result->dropped_in_tiles++;
            continue;
        }
        double cx = ((x1 + x2) / 2 - o->x) / o->w, cy = ((y1 + y2) / 2 - o->y) / o->h;
        double w = iw / o->w, h = ih / o->h;
        if (w < 1e-6 || h < 1e-6) {
            ykd_status st = ykd_annotation_fault(
                a, YKD_FAULT_ANNOTATION, o->image->source, b->line, false, err,
                "a box of %gx%g pixels is too small to write for the %dx%d image", iw, ih, o->w,
                o->h);
            if (st != YKD_OK)
                return st;
            continue;
        }
        snprintf((*lines)[*n].text, LINE_SIZE, "%d %.6f %.6f %.6f %.6f\n", b->cls, cx, cy, w, h);
        (*lines)[(*n)++].line = b->line;
    }
    if (*n > 1)
        qsort(*lines, *n, sizeof **lines, compare_lines);
    size_t unique = 0;
    for (size_t i = 0; i < *n; i++) {
        if (unique > 0 && strcmp((*lines)[i].text, (*lines)[unique - 1].text) == 0) {
            ykd_status st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, o->image->source,
                                                 (*lines)[i].line, false, err,
                                                 "the same box as another of '%s'",
                                                 base_name(o->image->path));
            if (st != YKD_OK)
                return st;
            continue;
        }
        (*lines)[unique++] = (*lines)[i];
    }
    *n = unique;
    return YKD_OK;
}

static ykd_status copy_file(const char *from, const char *to, bool link_it, ykd_error *err)
{
    if (link_it) {
        if (link(from, to) == 0)
            return YKD_OK;
        return ykd_fail(err, YKD_ERR_IO, "convert: cannot hard-link '%s' to '%s': %s", from, to,
                        strerror(errno));
    }
    void *data = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(from, YKD_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    const void *parts[] = {data};
    if (st == YKD_OK)
        st = ykd_file_write_atomic(to, parts, &size, 1, err);
    free(data);
    return st;
}

/* The image file's name in the dataset: its own extension when the dataset reads it, else
 * the one its format has. */
static const char *image_extension(const char *path)
{
    const char *dot = strrchr(base_name(path), '.');
    if (dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
        return dot;
    unsigned char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f)
        fclose(f);
    return ykd_image_sniff(magic, got) == YKD_IMAGE_FORMAT_PNG ? ".png" : ".jpg";
}

/* Writes out's labels, then its image: pixels (a tile), or the source file copied. */
static ykd_status write_output(ykd_annotations *a, const char *tmp, const output *o,
                               const ykd_annotated_box *boxes, size_t count,
                               const ykd_image *pixels, ykd_error *err)
{
    label_line *lines = NULL;
    size_t n = 0;
    ykd_status st = label_lines(a, o, boxes, count, &lines, &n, err);
    const char *split = split_names[o->split];
    char label[YKD_DATASET_PATH_SIZE + 600], image[YKD_DATASET_PATH_SIZE + 600];
    snprintf(label, sizeof label, "%s/labels/%s/%s.txt", tmp, split, o->stem);
    snprintf(image, sizeof image, "%s/images/%s/%s%s", tmp, split, o->stem,
             pixels ? ".png" : image_extension(o->image->path));
    struct stat sb;
    if (st == YKD_OK && n > YKD_MAX_BOXES_PER_IMAGE)
        st = ykd_annotation_fault(a, YKD_FAULT_LABEL_TOO_MANY, o->image->path, 0, true, err,
                                  "%zu boxes at (%d, %d), over the limit of %d per image", n,
                                  o->x, o->y, YKD_MAX_BOXES_PER_IMAGE);
    else if (st == YKD_OK && stat(label, &sb) == 0)
        st = ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, o->image->path, 0, true, err,
                                  "another image in %s has the name '%s'", split, o->stem);
    else if (st == YKD_OK) {
        char *text = malloc(n * LINE_SIZE + 1);
        size_t at = 0;
        for (size_t i = 0; text && i < n; i++)
            at += (size_t)snprintf(text + at, LINE_SIZE, "%s", lines[i].text);
        if (text)
            text[at] = '\0';
        st = text ? ykd_write_text(label, text, err)
                  : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        free(text);
        if (st == YKD_OK)
            st = pixels ? ykd_png_write(image, pixels, err)
                        : copy_file(o->image->path, image, a->options->link, err);
        if (st == YKD_OK) {
            a->result->images[o->split]++;
            a->result->boxes[o->split] += n;
        }
    }
    free(lines);
    return st;
}

/* Starts of tiles of side t along n pixels: every step, the last flush with the end. */
static size_t tile_starts(int n, int t, int step, int *starts)
{
    size_t count = 0;
    for (int p = 0;; p += step) {
        if (p + t >= n) {
            starts[count++] = n - t;
            return count;
        }
        starts[count++] = p;
    }
}

/* The tiles of rows [y0, y1) of the image. */
static ykd_status write_region(ykd_annotations *a, const char *tmp, const ykd_annotated_image *m,
                               const ykd_image *img, int y0, int y1, int split,
                               const ykd_annotated_box *boxes, size_t count, ykd_error *err)
{
    const ykd_convert_options *op = a->options;
    int tw = op->tile < img->width ? op->tile : img->width;
    int th = op->tile < y1 - y0 ? op->tile : y1 - y0;
    int step = (int)lround(op->tile * (1 - op->overlap));
    step = step < 1 ? 1 : step;
    int *xs = malloc(((size_t)img->width / (size_t)step + 2) * sizeof *xs);
    int *ys = malloc(((size_t)(y1 - y0) / (size_t)step + 2) * sizeof *ys);
    ykd_status st = xs && ys ? YKD_OK : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t nx = st == YKD_OK ? tile_starts(img->width, tw, step, xs) : 0;
    size_t ny = st == YKD_OK ? tile_starts(y1 - y0, th, step, ys) : 0;
    const char *dot = strrchr(base_name(m->path), '.');
    int stem_len = dot ? (int)(dot - base_name(m->path)) : (int)strlen(base_name(m->path));
    for (size_t j = 0; j < ny && st == YKD_OK; j++)
        for (size_t i = 0; i < nx && st == YKD_OK; i++) {
            output o = {m, xs[i], y0 + ys[j], tw, th, split, {0}};
            snprintf(o.stem, sizeof o.stem, "%.*s_x%d_y%d", stem_len, base_name(m->path), o.x,
                     o.y);
            ykd_image tile;
            st = ykd_image_init(&tile, tw, th, 0, err);
            for (int r = 0; r < th && st == YKD_OK; r++)
                memcpy(tile.pixels + (size_t)r * tw * 3,
                       img->pixels + ((size_t)(o.y + r) * img->width + (size_t)o.x) * 3,
                       (size_t)tw * 3);
            if (st == YKD_OK)
                st = write_output(a, tmp, &o, boxes, count, &tile, err);
            ykd_image_free(&tile);
        }
    free(xs);
    free(ys);
    return st;
}

/* One annotated image: checked against its file, then written whole or as tiles. */
static ykd_status write_image(ykd_annotations *a, const char *tmp, const ykd_annotated_image *m,
                              ykd_error *err)
{
    const ykd_convert_options *op = a->options;
    int w = 0, h = 0;
    ykd_error image_err;
    ykd_status st = ykd_image_probe(m->path, op->max_pixels, &w, &h, &image_err);
    if (st != YKD_OK)
        return ykd_annotation_fault(a, ykd_fault_kind_of_image(st), m->path, 0, true, err, "%s",
                                    image_err.message);
    if ((m->width && m->width != w) || (m->height && m->height != h))
        return ykd_annotation_fault(a, YKD_FAULT_ANNOTATION, m->source, m->line, true, err,
                                    "'%s' is annotated as %dx%d but the image is %dx%d",
                                    base_name(m->path), m->width, m->height, w, h);
    ykd_annotated_box *boxes = NULL;
    size_t count = 0;
    st = valid_boxes(a, m, w, h, &boxes, &count, err);
    if (st == YKD_OK && op->tile == 0) {
        output o = {m, 0, 0, w, h, split_of_name(base_name(m->path), op->seed, op->val_fraction),
                    {0}};
        const char *dot = strrchr(base_name(m->path), '.');
        int n = dot ? (int)(dot - base_name(m->path)) : (int)strlen(base_name(m->path));
        snprintf(o.stem, sizeof o.stem, "%.*s", n, base_name(m->path));
        st = write_output(a, tmp, &o, boxes, count, NULL, err);
    } else if (st == YKD_OK) {
        ykd_image img;
        if (ykd_image_read(m->path, op->max_pixels, &img, &image_err) != YKD_OK) {
            free(boxes);
            return ykd_annotation_fault(a, YKD_FAULT_IMAGE_CORRUPT, m->path, 0, true, err, "%s",
                                        image_err.message);
        }
        int split_row = (int)lround(h * (1 - op->val_fraction));
        if (split_row > 0)
            st = write_region(a, tmp, m, &img, 0, split_row, 0, boxes, count, err);
        if (st == YKD_OK && split_row < h)
            st = write_region(a, tmp, m, &img, split_row, h, 1, boxes, count, err);
        ykd_image_free(&img);
    }
    free(boxes);
    return st;
}

ykd_status ykd_convert_write(ykd_annotations *a, const char *tmp, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < a->count && st == YKD_OK; i++)
        st = write_image(a, tmp, &a->images[i], err);
    char path[YKD_DATASET_PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/data.yaml", tmp);
    if (st == YKD_OK)
        st = ykd_data_config_write_yaml(path, "images/train", "images/val",
                                        (const char *const *)a->result->names,
                                        a->result->class_count, err);
    /* read back as training will read it: names the config would refuse fail here */
    ykd_data_config check;
    if (st == YKD_OK && (st = ykd_data_config_load(path, &check, err)) == YKD_OK)
        ykd_data_config_free(&check);
    return st;
}
