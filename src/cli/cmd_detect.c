/* yolokd detect: a model's detections on an image or a folder of images, as annotated PNGs
 * and one YOLO-format text file of boxes with scores per image. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/error_internal.h"
#include "core/fs.h"
#include "yolokd/train.h"

static void print_detect_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd detect --weights W --source FILE|DIR --out DIR [--device D]\n"
            "                     [--conf C] [--iou T] [--imgsz S]\n"
            "\n"
            "Runs the model on each image (PNG or JPEG; a folder's images in name order),\n"
            "letterboxed to SxS, and writes into DIR, per image NAME: NAME.png with the boxes\n"
            "drawn and labelled, and NAME.txt with one line per box, 'class cx cy w h score',\n"
            "normalised to the image (YOLO format with the score last).\n"
            "\n"
            "  --weights W   a model file\n"
            "  --source S    an image, or a folder of images\n"
            "  --out DIR     where the results go (created)\n"
            "  --conf C      keep boxes scoring over C (default 0.25)\n"
            "  --iou T       NMS IoU threshold (default 0.7)\n"
            "  --imgsz S     square input side, a multiple of the stride (default 640)\n");
}

typedef struct detect_args {
    const char *weights, *source, *out;
    long long imgsz;
    double conf, iou;
} detect_args;

static int parse_detect_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io,
                             detect_args *a)
{
    const ykd_cli_opt opts[] = {
        {"--weights", YKD_OPT_STRING, &a->weights, 0, 0},
        {"--source", YKD_OPT_STRING, &a->source, 0, 0},
        {"--out", YKD_OPT_STRING, &a->out, 0, 0},
        {"--device", YKD_OPT_STRING, &g->device, 0, 0},
        {"--imgsz", YKD_OPT_INT, &a->imgsz, 32, 8192},
        {"--conf", YKD_OPT_DOUBLE, &a->conf, 0, 1},
        {"--iou", YKD_OPT_DOUBLE, &a->iou, 0, 1},
    };
    int code = ykd_cli_parse_options(argc, argv, io, "detect", opts, sizeof opts / sizeof opts[0],
                                     print_detect_help);
    if (code >= 0)
        return code;
    if (!a->weights || !a->source || !a->out)
        return ykd_cli_usage_error(io, "detect", "--weights, --source and --out are required");
    return -1;
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct path_list {
    char **paths;
    size_t count;
} path_list;

static void free_paths(path_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
}

static ykd_status add_path(path_list *l, const char *dir, const char *name, ykd_error *err)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char **grown = realloc(l->paths, (l->count + 1) * sizeof *grown);
    char *path = malloc(n);
    if (!grown || !path) {
        free(path);
        if (grown)
            l->paths = grown;
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of host memory");
    }
    snprintf(path, n, "%s%s%s", dir, *dir ? "/" : "", name);
    l->paths = grown;
    l->paths[l->count++] = path;
    return YKD_OK;
}

/* The source's images: the file itself, or a folder's images sorted by name. */
static ykd_status list_images(const char *source, path_list *l, ykd_error *err)
{
    struct stat sb;
    if (stat(source, &sb) != 0)
        return ykd_fail(err, YKD_ERR_NOT_FOUND, "detect: %s does not exist", source);
    if (!S_ISDIR(sb.st_mode))
        return add_path(l, "", source, err);
    DIR *d = opendir(source);
    if (!d)
        return ykd_fail(err, YKD_ERR_IO, "detect: cannot read folder %s", source);
    ykd_status st = YKD_OK;
    for (struct dirent *e = readdir(d); e && st == YKD_OK; e = readdir(d))
        if (e->d_name[0] != '.' && is_image_name(e->d_name))
            st = add_path(l, source, e->d_name, err);
    closedir(d);
    if (st == YKD_OK && l->count == 0)
        st = ykd_fail(err, YKD_ERR_NOT_FOUND, "detect: %s holds no .png, .jpg or .jpeg images",
                      source);
    if (l->count > 1)
        qsort(l->paths, l->count, sizeof *l->paths, compare_names);
    return st;
}

/* "dir/name.jpg" -> "name" */
static void stem_of(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    snprintf(buf, size, "%.*s", (int)(dot ? (size_t)(dot - base) : strlen(base)), base);
}

/* One line per box: class cx cy w h score, normalised to the image. */
static ykd_status write_labels(const char *path, const ykd_image *img, const ykd_detections *d,
                               ykd_error *err)
{
    size_t cap = d->count * 96 + 1, used = 0;
    char *text = malloc(cap);
    if (!text)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of host memory");
    text[0] = '\0';
    for (size_t i = 0; i < d->count; i++) {
        const ykd_detection *b = &d->items[i];
        double w = img->width, h = img->height;
        used += (size_t)snprintf(text + used, cap - used, "%d %.6f %.6f %.6f %.6f %.5f\n", b->cls,
                                 (b->x1 + b->x2) / 2 / w, (b->y1 + b->y2) / 2 / h,
                                 (b->x2 - b->x1) / w, (b->y2 - b->y1) / h, (double)b->score);
    }
    const void *parts[] = {text};
    size_t sizes[] = {used};
    ykd_status st = ykd_file_write_atomic(path, parts, sizes, 1, err);
    free(text);
    return st;
}

typedef struct detect_ctx {
    ykd_model *model;
    ykd_detector *detector;
    ykd_detect_options options;
    const char **names;
    int nc;
    const detect_args *a;
} detect_ctx;

static ykd_status detect_one(detect_ctx *c, const char *path, ykd_cli_io *io, ykd_error *err)
{
    ykd_image img = {0};
    ykd_detections d = {NULL, 0};
    char stem[1024], out[4096];
    stem_of(path, stem, sizeof stem);
    ykd_status st = ykd_image_read(path, 0, &img, err);
    if (st == YKD_OK)
        st = ykd_model_detect(c->model, c->detector, &img, (int)c->a->imgsz, &c->options, &d, err);
    if (st == YKD_OK) {
        snprintf(out, sizeof out, "%s/%s.txt", c->a->out, stem);
        st = write_labels(out, &img, &d, err);
    }
    if (st == YKD_OK) {
        ykd_draw_detections(&img, d.items, d.count, c->names[0] ? c->names : NULL,
                            (size_t)c->nc);
        snprintf(out, sizeof out, "%s/%s.png", c->a->out, stem);
        st = ykd_png_write(out, &img, err);
    }
    if (st == YKD_OK)
        fprintf(io->out, "%s: %zu detections -> %s\n", path, d.count, out);
    ykd_detections_free(&d, 1);
    ykd_image_free(&img);
    return st;
}

static ykd_status detect_all(ykd_device *device, const detect_args *a, ykd_cli_io *io,
                             ykd_error *err)
{
    path_list list = {NULL, 0};
    detect_ctx c = {NULL, NULL, {0}, NULL, 0, a};
    ykd_detect_options_default(&c.options);
    c.options.conf = (float)a->conf, c.options.iou = (float)a->iou;
    c.options.multi_label = false;
    ykd_status st = list_images(a->source, &list, err);
    if (st == YKD_OK)
        st = ykd_mkdir_p(a->out, err);
    if (st == YKD_OK)
        st = ykd_model_load(device, a->weights, &c.model, err);
    if (st == YKD_OK) {
        c.nc = ykd_model_classes(c.model);
        c.names = calloc((size_t)c.nc, sizeof *c.names);
        st = c.names ? ykd_detector_init(device, c.nc, &c.detector, err)
                     : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of host memory");
    }
    for (int i = 0; st == YKD_OK && i < c.nc; i++)
        c.names[i] = ykd_model_class_name(c.model, i);
    for (size_t i = 0; i < list.count && st == YKD_OK; i++)
        st = detect_one(&c, list.paths[i], io, err);
    free(c.names);
    ykd_detector_free(c.detector);
    ykd_model_free(c.model);
    free_paths(&list);
    return st;
}

int ykd_cmd_detect(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    detect_args a = {NULL, NULL, NULL, 640, 0.25, 0.7};
    int code = parse_detect_args(argc, argv, globals, io, &a);
    if (code >= 0)
        return code;
    ykd_device *device = NULL;
    code = ykd_cli_open_device(globals, io, "detect", &device);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_error err = {0};
    ykd_status st = detect_all(device, &a, io, &err);
    if (st != YKD_OK)
        fprintf(io->err, "yolokd detect: %s\n", err.message);
    ykd_device_close(device);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}
