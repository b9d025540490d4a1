/* yolokd check-data: reads both splits of a dataset, decoding every image, and prints what it
 * found: images, backgrounds, boxes per class, and every fault with its file and line. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <string.h>

#include "cli/cli.h"
#include "yolokd/data.h"

static void print_check_data_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd check-data --data DIR|FILE.yaml [--strict] [--json] [--max-pixels N]\n"
            "\n"
            "Reads a YOLO-format dataset without a model: its data.yaml (or data.json) for the\n"
            "class names and the splits (train, val, and test when given), each split's images\n"
            "and their labels. Every image is decoded and every label line validated, with the\n"
            "limits training applies (at most %d boxes per image). A bad image or line is\n"
            "skipped and listed with its file and line; images without a label file are\n"
            "backgrounds (allowed).\n"
            "\n"
            "  --data DIR|FILE  the dataset's root folder, or its .yaml/.json file itself\n"
            "  --strict         stop at the first fault (exit status 1)\n"
            "  --json           print one JSON object instead of text\n"
            "  --max-pixels N   refuse images over N pixels (default %d)\n"
            "\n"
            "Exit status: 0 when the dataset was read (faults are warnings unless --strict),\n"
            "1 when it could not be read or --strict found a fault, 2 on bad usage.\n",
            YKD_MAX_BOXES_PER_IMAGE, YKD_IMAGE_MAX_PIXELS);
}

typedef struct check_args {
    const char *data;
    bool strict, json;
    long long max_pixels;
} check_args;

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_check_args(int argc, char **argv, ykd_cli_io *io, check_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_check_data_help(io->out);
            return YKD_EXIT_OK;
        } else if (strcmp(argv[i], "--strict") == 0) {
            a->strict = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            a->json = true;
        } else if (ykd_cli_option_value(argc, argv, &i, "--data", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(io, "check-data", "--data needs a folder or a dataset file");
            a->data = value;
        } else if (ykd_cli_option_value(argc, argv, &i, "--max-pixels", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(io, "check-data", "--max-pixels needs a number");
            if (!ykd_cli_parse_int(io, "check-data", "--max-pixels", value, 1, 1LL << 40,
                                   &a->max_pixels))
                return YKD_EXIT_USAGE;
        } else {
            return ykd_cli_usage_error(io, "check-data", "unknown argument '%s'", argv[i]);
        }
    }
    if (!a->data)
        return ykd_cli_usage_error(io, "check-data", "--data DIR is required");
    return -1;
}

static void print_split(FILE *out, const char *name, const ykd_dataset *ds)
{
    const ykd_report *r = ykd_dataset_report(ds);
    fprintf(out,
            "%s: %zu images, %zu skipped, %zu backgrounds (%zu without a label file), "
            "%zu boxes, %zu label lines skipped, %zu boxes clipped\n",
            name, r->images, r->images_skipped, r->backgrounds, r->missing_labels, r->boxes,
            r->lines_skipped, r->boxes_clipped);
    fprintf(out, "  boxes per class:");
    for (size_t c = 0; c < r->class_count; c++)
        fprintf(out, "%s %s %zu", c ? "," : "", ykd_dataset_class_name(ds, c),
                r->boxes_per_class[c]);
    fprintf(out, "\n");
}

/* The splits checked: train, val, and test when the dataset file gives one (else NULL). */
typedef ykd_dataset *split_set[YKD_SPLIT_COUNT];

static size_t report_total(ykd_dataset *const ds[YKD_SPLIT_COUNT], size_t field)
{
    size_t total = 0;
    for (int s = 0; s < YKD_SPLIT_COUNT; s++)
        if (ds[s])
            total += *(const size_t *)((const char *)ykd_dataset_report(ds[s]) + field);
    return total;
}

static size_t fault_total(ykd_dataset *const ds[YKD_SPLIT_COUNT])
{
    return report_total(ds, offsetof(ykd_report, fault_count));
}

static void print_text(FILE *out, const char *root, ykd_dataset *const ds[YKD_SPLIT_COUNT])
{
    size_t classes = ykd_dataset_class_count(ds[0]);
    fprintf(out, "dataset %s: %zu classes\n", root, classes);
    for (int s = 0; s < YKD_SPLIT_COUNT; s++)
        if (ds[s])
            print_split(out, ykd_split_name((ykd_split)s), ds[s]);
    size_t total = fault_total(ds);
    if (total == 0) {
        fprintf(out, "ok: no faults\n");
        return;
    }
    fprintf(out, "faults (%zu):\n", total);
    for (int s = 0; s < YKD_SPLIT_COUNT; s++) {
        if (!ds[s])
            continue;
        const ykd_report *r = ykd_dataset_report(ds[s]);
        for (size_t i = 0; i < r->fault_count; i++) {
            char line[2048];
            ykd_fault_format(&r->faults[i], line, sizeof line);
            fprintf(out, "  warning: %s\n", line);
        }
    }
    fprintf(out,
            "%zu faults: %zu images and %zu label lines skipped (use --strict to stop "
            "at the first)\n",
            total, report_total(ds, offsetof(ykd_report, images_skipped)),
            report_total(ds, offsetof(ykd_report, lines_skipped)));
}

static cJSON *split_json(const ykd_dataset *ds)
{
    const ykd_report *r = ykd_dataset_report(ds);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "images", (double)r->images);
    cJSON_AddNumberToObject(o, "images_skipped", (double)r->images_skipped);
    cJSON_AddNumberToObject(o, "backgrounds", (double)r->backgrounds);
    cJSON_AddNumberToObject(o, "missing_labels", (double)r->missing_labels);
    cJSON_AddNumberToObject(o, "boxes", (double)r->boxes);
    cJSON_AddNumberToObject(o, "lines_skipped", (double)r->lines_skipped);
    cJSON_AddNumberToObject(o, "boxes_clipped", (double)r->boxes_clipped);
    cJSON *per = cJSON_AddObjectToObject(o, "boxes_per_class");
    for (size_t c = 0; c < r->class_count; c++)
        cJSON_AddNumberToObject(per, ykd_dataset_class_name(ds, c), (double)r->boxes_per_class[c]);
    return o;
}

static void add_faults_json(cJSON *list, const char *split, const ykd_report *r)
{
    for (size_t i = 0; i < r->fault_count; i++) {
        const ykd_fault *f = &r->faults[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "split", split);
        cJSON_AddStringToObject(o, "file", f->file);
        cJSON_AddNumberToObject(o, "line", f->line);
        cJSON_AddStringToObject(o, "kind", ykd_fault_kind_name(f->kind));
        cJSON_AddStringToObject(o, "message", f->message);
        cJSON_AddBoolToObject(o, "image_skipped", f->image_skipped);
        cJSON_AddItemToArray(list, o);
    }
}

/* The result (ds all open) or the error that stopped the check (error not NULL). */
static int print_json(FILE *out, const char *root, ykd_dataset *const ds[YKD_SPLIT_COUNT],
                      const char *error)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "data", root);
    cJSON_AddBoolToObject(o, "ok", !error && fault_total(ds) == 0);
    if (error) {
        cJSON_AddStringToObject(o, "error", error);
    } else {
        cJSON *names = cJSON_AddArrayToObject(o, "classes");
        for (size_t c = 0; c < ykd_dataset_class_count(ds[0]); c++)
            cJSON_AddItemToArray(names, cJSON_CreateString(ykd_dataset_class_name(ds[0], c)));
        cJSON *splits = cJSON_AddObjectToObject(o, "splits");
        cJSON *faults = cJSON_CreateArray();
        for (int s = 0; s < YKD_SPLIT_COUNT; s++) {
            if (!ds[s])
                continue;
            cJSON_AddItemToObject(splits, ykd_split_name((ykd_split)s), split_json(ds[s]));
            add_faults_json(faults, ykd_split_name((ykd_split)s), ykd_dataset_report(ds[s]));
        }
        cJSON_AddItemToObject(o, "faults", faults);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return YKD_EXIT_FAILURE;
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return error ? YKD_EXIT_FAILURE : YKD_EXIT_OK;
}

int ykd_cmd_check_data(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    (void)globals;
    check_args a = {NULL, false, false, YKD_IMAGE_MAX_PIXELS};
    int code = parse_check_args(argc, argv, io, &a);
    if (code >= 0)
        return code;
    ykd_dataset_options options;
    ykd_dataset_options_default(&options);
    options.strict = a.strict;
    options.check = YKD_IMAGE_CHECK_DECODE;
    options.max_pixels = (uint64_t)a.max_pixels;
    split_set ds = {NULL, NULL, NULL};
    ykd_error err = {0};
    ykd_data_config config;
    ykd_status st = ykd_data_config_load(a.data, &config, &err);
    bool has_test = st == YKD_OK && config.splits[YKD_SPLIT_TEST].count > 0;
    ykd_data_config_free(&config);
    for (int s = 0; s < YKD_SPLIT_COUNT && st == YKD_OK; s++)
        if (s != YKD_SPLIT_TEST || has_test)
            st = ykd_dataset_open(a.data, (ykd_split)s, &options, &ds[s], &err);
    if (st != YKD_OK) {
        if (a.json)
            print_json(io->out, a.data, ds, err.message);
        fprintf(io->err, "yolokd check-data: %s\n", err.message);
        code = YKD_EXIT_FAILURE;
    } else if (a.json) {
        code = print_json(io->out, a.data, ds, NULL);
    } else {
        print_text(io->out, a.data, ds);
        code = YKD_EXIT_OK;
    }
    for (int s = 0; s < YKD_SPLIT_COUNT; s++)
        ykd_dataset_close(ds[s]);
    return code;
}
