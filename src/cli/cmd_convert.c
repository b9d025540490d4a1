/* yolokd convert: Pascal VOC xml, COCO instances JSON or a CSV of boxes into the YOLO layout,
 * optionally cut into tiles; faults listed as check-data lists them. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "yolokd/convert.h"

static void print_convert_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd convert --voc DIR | --coco FILE.json | --csv FILE.csv --out DIR\n"
            "                      [--images DIR] [--names a,b,...] [--val F] [--seed K]\n"
            "                      [--tile S [--overlap P]] [--link] [--keep-difficult]\n"
            "                      [--strict] [--max-pixels N]\n"
            "\n"
            "Converts detection annotations into a YOLO dataset: DIR/images/{train,val},\n"
            "DIR/labels/{train,val} and DIR/data.yaml with the class names. DIR must not\n"
            "exist (or be empty); it is built beside and renamed into place when complete.\n"
            "\n"
            "  --voc DIR        Pascal VOC: a folder of .xml files (one per image); boxes are\n"
            "                   1-based pixels; objects marked difficult are left out\n"
            "  --coco FILE      COCO instances JSON: bbox [x, y, w, h] in pixels; categories\n"
            "                   become classes in the order of their ids; crowd annotations\n"
            "                   (iscrowd 1) are left out\n"
            "  --csv FILE       lines image,x1,y1,x2,y2,label in pixels; header optional;\n"
            "                   \"quoted\" fields; a line with only the image is a background\n"
            "  --out DIR        the dataset folder to create\n"
            "  --images DIR     the images (default: VOC ../JPEGImages beside the .xml folder,\n"
            "                   COCO and CSV the file's folder)\n"
            "  --names a,b,...  the classes in this order (default: VOC and CSV the names\n"
            "                   found, sorted; COCO its categories); other names are faults\n"
            "  --val F          fraction for validation, 0 to <1 (default 0.2): whole images\n"
            "                   by a hash of their name and --seed; with --tile the bottom F\n"
            "                   of every image's rows, so no train tile overlaps a val tile\n"
            "  --seed K         seed of the split (default 0)\n"
            "  --tile S         cut images into SxS tiles (PNG), boxes clipped; a box cut by\n"
            "                   a tile's edge is kept when over %g px on both sides and at\n"
            "                   least %g of its area remains, else dropped (counted)\n"
            "  --overlap P      overlap of neighbouring tiles, 0 to <1 (default 0.2)\n"
            "  --link           hard-link the images instead of copying them\n"
            "  --keep-difficult VOC: keep objects marked difficult\n"
            "  --strict         stop at the first fault (exit status 1)\n"
            "  --max-pixels N   refuse images over N pixels (default %d)\n"
            "\n"
            "A box poking out of its image by at most 1%% of a side is clipped; one further\n"
            "out, empty or inverted, an unknown class, a missing or unreadable image, or a\n"
            "malformed line is a fault: left out and listed as file:line: message (use\n"
            "--strict to stop). Exit status: 0 converted (faults are warnings), 1 failure,\n"
            "2 bad usage. Check the result with yolokd check-data --data DIR --strict.\n",
            YKD_TILE_MIN_SIDE, YKD_TILE_MIN_AREA_RATIO, YKD_IMAGE_MAX_PIXELS);
}

typedef struct convert_args {
    const char *voc, *coco, *csv, *out, *images, *names;
    long long seed, tile, max_pixels;
    double val, overlap;
    bool link, strict, keep_difficult;
} convert_args;

static int parse_convert_args(int argc, char **argv, ykd_cli_io *io, convert_args *a)
{
    const ykd_cli_opt opts[] = {
        {"--voc", YKD_OPT_STRING, &a->voc, 0, 0},
        {"--coco", YKD_OPT_STRING, &a->coco, 0, 0},
        {"--csv", YKD_OPT_STRING, &a->csv, 0, 0},
        {"--out", YKD_OPT_STRING, &a->out, 0, 0},
        {"--images", YKD_OPT_STRING, &a->images, 0, 0},
        {"--names", YKD_OPT_STRING, &a->names, 0, 0},
        {"--val", YKD_OPT_DOUBLE, &a->val, 0, 0.999999},
        {"--seed", YKD_OPT_INT, &a->seed, 0, 9007199254740991.0},
        {"--tile", YKD_OPT_INT, &a->tile, 8, 65536},
        {"--overlap", YKD_OPT_DOUBLE, &a->overlap, 0, 0.95},
        {"--max-pixels", YKD_OPT_INT, &a->max_pixels, 1, 1099511627776.0},
        {"--link", YKD_OPT_FLAG, &a->link, 0, 0},
        {"--strict", YKD_OPT_FLAG, &a->strict, 0, 0},
        {"--keep-difficult", YKD_OPT_FLAG, &a->keep_difficult, 0, 0},
    };
    int code = YKD_CLI_PARSE_OPTIONS(argc, argv, io, "convert", opts, print_convert_help);
    if (code >= 0)
        return code;
    if (!!a->voc + !!a->coco + !!a->csv != 1)
        return ykd_cli_usage_error(io, "convert", "give one input: --voc DIR, --coco FILE or "
                                                  "--csv FILE");
    if (!a->out)
        return ykd_cli_usage_error(io, "convert", "--out DIR is required");
    return -1;
}

/* "a,b,c" into a malloc'd list of pointers into a copy. */
static char **split_names(const char *text, size_t *count, char **copy)
{
    *count = 0;
    *copy = strdup(text);
    char **list = malloc((strlen(text) / 2 + 2) * sizeof *list);
    if (!*copy || !list) {
        free(list);
        return NULL;
    }
    for (char *p = *copy, *comma;; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        list[(*count)++] = p;
        if (!comma)
            return list;
    }
}

static void print_result(FILE *out, const ykd_convert_options *o, const ykd_convert_result *r)
{
    fprintf(out, "converted %s %s into %s: %zu images annotated, %zu classes\n",
            ykd_convert_format_name(o->format), o->input, o->out, r->images_in, r->class_count);
    fprintf(out, "  classes:");
    for (size_t c = 0; c < r->class_count; c++)
        fprintf(out, "%s %zu %s", c ? "," : "", c, r->names[c]);
    fprintf(out, "\n");
    for (int s = 0; s < 2; s++)
        fprintf(out, "%s: %zu %s, %zu boxes\n", s ? "val" : "train", r->images[s],
                o->tile ? "tiles" : "images", r->boxes[s]);
    if (r->difficult || r->crowd || r->dropped_in_tiles)
        fprintf(out,
                "left out by policy: %zu difficult objects, %zu crowd annotations, %zu box "
                "parts at tile edges\n",
                r->difficult, r->crowd, r->dropped_in_tiles);
    if (r->report.fault_count == 0) {
        fprintf(out, "ok: no faults\n");
        return;
    }
    fprintf(out, "faults (%zu):\n", r->report.fault_count);
    for (size_t i = 0; i < r->report.fault_count; i++) {
        char line[2048];
        ykd_fault_format(&r->report.faults[i], line, sizeof line);
        fprintf(out, "  warning: %s\n", line);
    }
    fprintf(out, "%zu faults: %zu images and %zu annotations left out (use --strict to stop at "
                 "the first)\n",
            r->report.fault_count, r->report.images_skipped, r->report.lines_skipped);
}

int ykd_cmd_convert(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    (void)globals;
    ykd_convert_options o;
    ykd_convert_options_default(&o);
    convert_args a = {0};
    a.val = o.val_fraction;
    a.overlap = o.overlap;
    a.max_pixels = (long long)o.max_pixels;
    int code = parse_convert_args(argc, argv, io, &a);
    if (code >= 0)
        return code;
    o.format = a.voc ? YKD_CONVERT_VOC : a.coco ? YKD_CONVERT_COCO : YKD_CONVERT_CSV;
    o.input = a.voc ? a.voc : a.coco ? a.coco : a.csv;
    o.out = a.out;
    o.images = a.images;
    o.val_fraction = a.val;
    o.seed = (uint64_t)a.seed;
    o.tile = (int)a.tile;
    o.overlap = a.overlap;
    o.link = a.link;
    o.strict = a.strict;
    o.keep_difficult = a.keep_difficult;
    o.max_pixels = (uint64_t)a.max_pixels;
    char *names_copy = NULL;
    char **names = a.names ? split_names(a.names, &o.name_count, &names_copy) : NULL;
    if (a.names && !names) {
        fprintf(io->err, "yolokd convert: out of host memory\n");
        return YKD_EXIT_FAILURE;
    }
    o.names = (const char *const *)names;
    ykd_convert_result r;
    ykd_error err = {0};
    ykd_status st = ykd_convert(&o, &r, &err);
    if (st != YKD_OK) {
        fprintf(io->err, "yolokd convert: %s\n", err.message);
        code = YKD_EXIT_FAILURE;
    } else {
        print_result(io->out, &o, &r);
        code = YKD_EXIT_OK;
    }
    ykd_convert_result_free(&r);
    free(names);
    free(names_copy);
    return code;
}
