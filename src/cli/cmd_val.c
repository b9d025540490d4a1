/* yolokd val: a model file's COCO-style precision, recall and mAP on a dataset's validation
 * split, per class, and optionally its detections in the COCO results format. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/error_internal.h"
#include "yolokd/train.h"

static void print_val_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd val --weights W --data DIR [--device D] [--imgsz S] [--batch B]\n"
            "                  [--conf C] [--iou T] [--workers N] [--save-json FILE]\n"
            "\n"
            "Runs the model in inference mode over the validation split, letterboxed, keeps\n"
            "detections over the confidence with per-class NMS (at most 300 per image), and\n"
            "prints precision and recall (at the confidence of the best mean F1), mAP@0.5 and\n"
            "mAP@0.5:0.95 (COCO's 101-point AP, IoU 0.50:0.05:0.95) for all classes and each.\n"
            "\n"
            "  --weights W      a model file (yolokd train's best.safetensors, an export)\n"
            "  --data DIR       the dataset; its classes must be the model's\n"
            "  --imgsz S        square input side (default 640)\n"
            "  --batch B        images per batch (default 32)\n"
            "  --conf C         confidence threshold (default 0.001)\n"
            "  --iou T          NMS IoU threshold (default 0.7)\n"
            "  --workers N      loader threads (default 2)\n"
            "  --save-json F    write the detections as COCO results (image_id = file stem,\n"
            "                   bbox [x, y, w, h] in original pixels)\n");
}

typedef struct val_args {
    const char *weights, *data, *json;
    long long imgsz, batch, workers;
    double conf, iou;
} val_args;

static int parse_val_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io,
                          val_args *a)
{
    const ykd_cli_opt opts[] = {
        {"--weights", YKD_OPT_STRING, &a->weights, 0, 0},
        {"--data", YKD_OPT_STRING, &a->data, 0, 0},
        {"--device", YKD_OPT_STRING, &g->device, 0, 0},
        {"--save-json", YKD_OPT_STRING, &a->json, 0, 0},
        {"--imgsz", YKD_OPT_INT, &a->imgsz, 32, 8192},
        {"--batch", YKD_OPT_INT, &a->batch, 1, 4096},
        {"--workers", YKD_OPT_INT, &a->workers, 0, 64},
        {"--conf", YKD_OPT_DOUBLE, &a->conf, 0, 1},
        {"--iou", YKD_OPT_DOUBLE, &a->iou, 0, 1},
    };
    int code = ykd_cli_parse_options(argc, argv, io, "val", opts, sizeof opts / sizeof opts[0],
                                     print_val_help);
    if (code >= 0)
        return code;
    if (!a->weights || !a->data)
        return ykd_cli_usage_error(io, "val", "--weights and --data are required");
    return -1;
}

static void print_row(FILE *out, const char *name, size_t images, size_t instances, double p,
                      double r, double map50, double map)
{
    fprintf(out, "%20s %8zu %10zu %8.3f %8.3f %8.3f %9.3f\n", name, images, instances, p, r,
            map50, map);
}

static void print_table(FILE *out, const ykd_dataset *ds, const ykd_val_result *r)
{
    const ykd_eval_result *e = &r->eval;
    fprintf(out, "%20s %8s %10s %8s %8s %8s %9s\n", "class", "images", "instances", "P", "R",
            "mAP50", "mAP50-95");
    print_row(out, "all", e->images, e->instances, e->precision, e->recall, e->map50,
              e->map50_95);
    for (int c = 0; c < e->class_count; c++) {
        const ykd_eval_class *k = &e->classes[c];
        if (k->instances == 0)
            continue;
        print_row(out, ykd_dataset_class_name(ds, (size_t)c), k->images, k->instances,
                  k->precision, k->recall, k->ap50, k->ap50_95);
    }
}

/* "dir/000123.png" -> "000123" into buf. */
static void file_stem(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, size, "%.*s", (int)n, base);
}

static ykd_status save_json(const char *path, const ykd_dataset *ds, const ykd_val_result *r,
                            ykd_error *err)
{
    size_t n = ykd_dataset_count(ds);
    ykd_coco_image *images = calloc(n ? n : 1, sizeof *images);
    char (*ids)[256] = calloc(n ? n : 1, sizeof *ids);
    ykd_status st = YKD_OK;
    if (!images || !ids)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    for (size_t i = 0; i < n && st == YKD_OK; i++) {
        file_stem(ykd_dataset_image_path(ds, i), ids[i], sizeof ids[i]);
        images[i] = (ykd_coco_image){ids[i], r->detections[i].items, r->detections[i].count};
    }
    if (st == YKD_OK)
        st = ykd_coco_json_write(path, images, n, NULL, 0, err);
    free(images);
    free(ids);
    return st;
}

/* Loads the model, validates it, prints the table; returns the status. */
static ykd_status validate(ykd_device *device, const val_args *a, ykd_cli_io *io, ykd_error *err)
{
    ykd_model *model = NULL;
    ykd_dataset *ds = NULL;
    ykd_validator *v = NULL;
    ykd_val_result r;
    memset(&r, 0, sizeof r);
    ykd_val_options o;
    ykd_val_options_default(&o);
    o.imgsz = (int)a->imgsz, o.batch = (int)a->batch, o.workers = (int)a->workers;
    o.detect.conf = (float)a->conf, o.detect.iou = (float)a->iou;
    o.keep_detections = a->json != NULL;
    ykd_status st = ykd_model_load(device, a->weights, &model, err);
    if (st == YKD_OK)
        st = ykd_dataset_open(a->data, YKD_SPLIT_VAL, NULL, &ds, err);
    if (st == YKD_OK)
        st = ykd_validator_open(device, ds, &o, &v, err);
    if (st == YKD_OK)
        st = ykd_validator_run(v, model, NULL, NULL, &r, err);
    if (st == YKD_OK) {
        fprintf(io->out, "%s, %d classes, on %s: %zu images at %d in %.1f s (%.1f images/s)\n",
                ykd_model_desc_name(ykd_model_get_desc(model)), ykd_model_classes(model),
                ykd_device_get_info(device)->name, r.images, o.imgsz, r.seconds, r.images_per_s);
        print_table(io->out, ds, &r);
    }
    if (st == YKD_OK && a->json)
        st = save_json(a->json, ds, &r, err);
    if (st == YKD_OK && a->json)
        fprintf(io->out, "detections written to %s\n", a->json);
    ykd_val_result_free(&r);
    ykd_validator_close(v);
    ykd_dataset_close(ds);
    ykd_model_free(model);
    return st;
}

int ykd_cmd_val(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    val_args a = {NULL, NULL, NULL, 640, 32, 2, 0.001, 0.7};
    int code = parse_val_args(argc, argv, globals, io, &a);
    if (code >= 0)
        return code;
    ykd_device *device = NULL;
    code = ykd_cli_open_device(globals, io, "val", &device);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_error err = {0};
    ykd_status st = validate(device, &a, io, &err);
    if (st != YKD_OK)
        fprintf(io->err, "yolokd val: %s\n", err.message);
    ykd_device_close(device);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}
