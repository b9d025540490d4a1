/* Converting detection annotations into the YOLO layout (yolokd convert): Pascal VOC xml,
 * COCO instances JSON, or a CSV of boxes, into DIR/images/{train,val}, DIR/labels/{train,val}
 * and DIR/data.yaml, optionally cutting large images into overlapping tiles.
 *
 * Policies (README "Converting annotations"):
 * - Faults are handled as check-data handles them: a bad annotation file, image or box is
 *   left out and recorded in the report with its file and line (file: message where the
 *   format has no lines), or, strict, the first one fails the conversion.
 * - VOC: boxes are 1-based pixel indices as Ultralytics reads them (x = xmin - 1 ... xmax -
 *   1); objects marked difficult are left out (counted) unless keep_difficult.
 * - COCO: bbox is [x, y, width, height] in pixels; categories become classes 0.. in the
 *   order of their ids, named by their names; crowd annotations (iscrowd 1) are left out
 *   (counted), as Ultralytics' converter does.
 * - CSV: image,x1,y1,x2,y2,label per line, pixels; a first line whose x1 is not a number is
 *   a header; fields may be "quoted" ("" for a quote); a line with only the image (the other
 *   fields empty) makes it a background image.
 * - Classes (VOC, CSV): names in sorted order, or the order given in names.
 * - A box is clipped to its image when it pokes out by at most 1% of the image's side; one
 *   further out, inverted or empty is a fault. Duplicate boxes are written once (a fault).
 * - Split, without tiling: whole images, an image in val when a hash of (seed, its file name)
 *   falls under val_fraction. With tiling: by region, the bottom val_fraction of each image's
 *   rows is val and the rest train; tiles are cut within a region, so no train tile overlaps
 *   a val tile.
 * - Tiles: tile x tile pixels (smaller at an image or region edge shorter than a tile),
 *   stepping by tile * (1 - overlap) and ending flush with the edge. A box is kept in a tile
 *   when the part inside is over YKD_TILE_MIN_SIDE pixels on both sides and keeps at least
 *   YKD_TILE_MIN_AREA_RATIO of the box's area; otherwise it is dropped there (counted).
 * - Images are copied (or hard-linked with link) under their file name; tiles are written as
 *   PNG, NAME_xX_yY.png. Everything is written in a temporary folder beside out and renamed
 *   to out at the end; out must not exist (or be an empty folder).
 */
#ifndef YOLOKD_CONVERT_H
#define YOLOKD_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolokd/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define YKD_TILE_MIN_SIDE 2.0
#define YKD_TILE_MIN_AREA_RATIO 0.3

typedef enum ykd_convert_format {
    YKD_CONVERT_VOC, /* input: a folder of .xml files */
    YKD_CONVERT_COCO, /* input: an instances .json file */
    YKD_CONVERT_CSV   /* input: a .csv file */
} ykd_convert_format;

typedef struct ykd_convert_options {
    ykd_convert_format format;
    const char *input;
    const char *images; /* the images' folder; NULL: VOC input/../JPEGImages, else input's folder */
    const char *out;
    const char *const *names; /* fixed class order (VOC, CSV: required to match; COCO: the
                                 categories are looked up by name); NULL: from the input */
    size_t name_count;
    double val_fraction; /* default 0.2 */
    uint64_t seed;       /* default 0 */
    int tile;            /* tile side in pixels; 0 (default) no tiling */
    double overlap;      /* tiles' overlap, 0 <= overlap < 1, default 0.2 */
    bool link;           /* hard-link the images instead of copying them */
    bool strict;         /* stop at the first fault */
    bool keep_difficult; /* VOC: keep objects marked difficult */
    uint64_t max_pixels; /* 0: YKD_IMAGE_MAX_PIXELS */
} ykd_convert_options;

void ykd_convert_options_default(ykd_convert_options *options);

/* What a conversion did: counts per split (0 train, 1 val) and the faults. */
typedef struct ykd_convert_result {
    size_t images_in;        /* annotated images found */
    size_t images[2];        /* images (or tiles) written */
    size_t boxes[2];         /* boxes written */
    size_t difficult;        /* VOC objects left out as difficult */
    size_t crowd;            /* COCO crowd annotations left out */
    size_t dropped_in_tiles; /* box parts dropped at tile edges (slivers) */
    size_t class_count;
    char **names;
    ykd_report report; /* every fault: file, line, message */
} ykd_convert_result;

/* Converts as options say. result is filled (and must be freed) whatever the status. */
ykd_status ykd_convert(const ykd_convert_options *options, ykd_convert_result *result,
                       ykd_error *err);
void ykd_convert_result_free(ykd_convert_result *result);

const char *ykd_convert_format_name(ykd_convert_format format); /* "voc", "coco", "csv" */

#ifdef __cplusplus
}
#endif

#endif
