/* A dataset split in the Ultralytics layout: the image list, every image's validated boxes,
 * and the report of what was skipped. Read-only once open, so loader threads share it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/dataset_folder.h"
#include "data/report.h"
#include "yolokd/data.h"

typedef struct dataset_entry {
    char *image;
    ykd_box *boxes;
    size_t box_count;
} dataset_entry;

struct ykd_dataset {
    ykd_split split;
    ykd_dataset_options options;
    ykd_data_config config;
    dataset_entry *entries;
    size_t count, capacity;
    size_t max_boxes;
    ykd_report report;
};

const char *ykd_split_name(ykd_split split)
{
    return split == YKD_SPLIT_VAL ? "val" : split == YKD_SPLIT_TEST ? "test" : "train";
}

void ykd_dataset_options_default(ykd_dataset_options *options)
{
    options->strict = false;
    options->max_pixels = YKD_IMAGE_MAX_PIXELS;
    options->check = YKD_IMAGE_CHECK_HEADER;
}

/* A fault: recorded (the caller skips the image or file), or with strict the open's error. */
static ykd_status dataset_fault(ykd_dataset *ds, ykd_fault_kind kind, const char *file,
                                bool image_skipped, const char *message, ykd_error *err)
{
    /* decoder messages start with the file name; the fault carries it separately */
    size_t n = strlen(file);
    if (strncmp(message, file, n) == 0 && strncmp(message + n, ": ", 2) == 0)
        message += n + 2;
    if (ds->options.strict)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: %s", file, message);
    if (image_skipped)
        ds->report.images_skipped++;
    if (ykd_report_add(&ds->report, kind, file, 0, image_skipped, "%s%s", message,
                       image_skipped ? " (image skipped)" : " (ignored)") != YKD_OK)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    return YKD_OK;
}

/* The label file of an image: its last "/images/" becomes "/labels/", its extension ".txt". */
static char *label_path(const char *image)
{
    size_t n = strlen(image);
    char *out = malloc(n + 8);
    if (!out)
        return NULL;
    memcpy(out, image, n + 1);
    char *at = NULL;
    for (char *p = strstr(out, "/images/"); p; p = strstr(p + 1, "/images/"))
        at = p;
    if (at)
        memcpy(at, "/labels/", 8);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash))
        *dot = '\0';
    strcat(out, ".txt");
    return out;
}

/* Checks the image as the options say: header only, or a whole decode. */
static ykd_status check_image(const ykd_dataset *ds, const char *path, ykd_error *err)
{
    if (ds->options.check == YKD_IMAGE_CHECK_DECODE) {
        ykd_image img;
        ykd_status st = ykd_image_read(path, ds->options.max_pixels, &img, err);
        ykd_image_free(&img);
        return st;
    }
    int w, h;
    return ykd_image_probe(path, ds->options.max_pixels, &w, &h, err);
}

/* Reads the image's label file into e (none: a background image). *skip when unreadable. */
static ykd_status read_labels(ykd_dataset *ds, dataset_entry *e, bool *skip, ykd_error *err)
{
    *skip = false;
    char *path = label_path(e->image);
    if (!path)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    struct stat st_buf;
    ykd_status st = YKD_OK;
    if (stat(path, &st_buf) != 0) {
        ds->report.missing_labels++;
        free(path);
        return YKD_OK;
    }
    void *text = NULL;
    size_t size = 0;
    ykd_error read_err;
    if (ykd_file_read_all(path, YKD_LABEL_MAX_FILE_BYTES, &text, &size, &read_err) != YKD_OK) {
        *skip = true;
        st = dataset_fault(ds, YKD_FAULT_LABEL_UNREADABLE, path, true, read_err.message, err);
    } else {
        st = ykd_labels_parse(text, size, path, ds->config.class_count, ds->options.strict,
                              &e->boxes, &e->box_count, &ds->report, err);
    }
    free(text);
    free(path);
    return st;
}

/* Validates one image and its labels; keeps it unless a fault skips it. */
static ykd_status add_image(ykd_dataset *ds, char *path, ykd_error *err)
{
    ds->report.images++;
    ykd_error check_err;
    ykd_status st = check_image(ds, path, &check_err);
    if (st != YKD_OK) {
        st = dataset_fault(ds, ykd_fault_kind_of_image(st), path, true, check_err.message, err);
        free(path);
        return st;
    }
    dataset_entry e = {path, NULL, 0};
    bool skip = false;
    st = read_labels(ds, &e, &skip, err);
    if (st == YKD_OK && !skip && e.box_count > YKD_MAX_BOXES_PER_IMAGE) {
        char *labels = label_path(e.image);
        char message[256];
        snprintf(message, sizeof message,
                 "%zu boxes, over the limit of %d per image (the loss takes %d per sample, "
                 "and a mosaic joins %d images)",
                 e.box_count, YKD_MAX_BOXES_PER_IMAGE, YKD_MAX_BOXES_PER_SAMPLE,
                 YKD_MOSAIC_IMAGES);
        st = labels ? dataset_fault(ds, YKD_FAULT_LABEL_TOO_MANY, labels, true, message, err)
                    : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        free(labels);
        skip = true;
    }
    if (st != YKD_OK || skip) {
        free(e.image);
        free(e.boxes);
        return st;
    }
    ds->entries[ds->count++] = e;
    if (e.box_count > ds->max_boxes)
        ds->max_boxes = e.box_count;
    if (e.box_count == 0)
        ds->report.backgrounds++;
    ds->report.boxes += e.box_count;
    for (size_t i = 0; i < e.box_count; i++)
        ds->report.boxes_per_class[e.boxes[i].cls]++;
    return YKD_OK;
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ykd_status ykd_list_folder(const char *dir, const char *what, char ***names, size_t *count,
                           ykd_error *err)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ykd_fail(err, YKD_ERR_NOT_FOUND, "cannot open the %s '%s'", what, dir);
    size_t capacity = 0;
    ykd_status st = YKD_OK;
    struct dirent *e;
    while (st == YKD_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*count == capacity) {
            capacity = capacity ? 2 * capacity : 256;
            char **grown = realloc(*names, capacity * sizeof *grown);
            if (!grown) {
                st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            *names = grown;
        }
        if (!((*names)[*count] = strdup(e->d_name)))
            st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        else
            (*count)++;
    }
    closedir(d);
    if (*count > 1)
        qsort(*names, *count, sizeof **names, compare_names);
    return st;
}

/* The image paths of a split, gathered from its folders and lists, then sorted. */
typedef struct path_list {
    char **paths;
    size_t count, capacity;
} path_list;

static ykd_status path_list_add(path_list *l, const char *a, const char *b, ykd_error *err)
{
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? 2 * l->capacity : 256;
        char **grown = realloc(l->paths, capacity * sizeof *grown);
        if (!grown)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        l->paths = grown;
        l->capacity = capacity;
    }
    size_t n = strlen(a) + (b ? strlen(b) : 0) + 2;
    char *path = malloc(n);
    if (!path)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (b)
        snprintf(path, n, "%s/%s", a, b);
    else
        snprintf(path, n, "%s", a);
    l->paths[l->count++] = path;
    return YKD_OK;
}

static void path_list_free(path_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
}

static ykd_status add_folder(path_list *l, const char *dir, ykd_error *err)
{
    char **names = NULL;
    size_t count = 0;
    ykd_status st = ykd_list_folder(dir, "images folder", &names, &count, err);
    for (size_t i = 0; i < count && st == YKD_OK; i++)
        st = path_list_add(l, dir, names[i], err);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return st;
}

enum { IMAGE_LIST_MAX_BYTES = 256 << 20 };

/* A .txt list: one image path a line (blank lines skipped). As Ultralytics reads it, "./x"
 * is relative to the list's folder; another relative path is relative to the root. */
static ykd_status add_list(path_list *l, const char *list, const char *root, ykd_error *err)
{
    void *data = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(list, IMAGE_LIST_MAX_BYTES, &data, &size, err);
    if (st != YKD_OK)
        return st;
    const char *slash = strrchr(list, '/');
    char *folder = slash ? strndup(list, (size_t)(slash - list)) : strdup(".");
    if (!folder)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    const char *text = data;
    int line = 0;
    for (size_t at = 0; at < size && st == YKD_OK;) {
        line++;
        const char *eol = memchr(text + at, '\n', size - at);
        size_t end = eol ? (size_t)(eol - text) : size;
        size_t len = end - at;
        while (len > 0 && strchr(" \t\r", text[at + len - 1]))
            len--;
        const char *entry = text + at;
        at = end + 1;
        if (len == 0)
            continue;
        if (memchr(entry, '\0', len)) {
            st = ykd_fail(err, YKD_ERR_FORMAT, "%s:%d: a NUL byte in an image path", list, line);
            break;
        }
        char *name = strndup(entry, len);
        if (!name)
            st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        else if (name[0] == '/')
            st = path_list_add(l, name, NULL, err);
        else if (strncmp(name, "./", 2) == 0)
            st = path_list_add(l, folder, name + 2, err);
        else
            st = path_list_add(l, root, name, err);
        free(name);
    }
    free(folder);
    free(data);
    return st;
}

static bool ends_with_txt(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && strcasecmp(path + n - 4, ".txt") == 0;
}

/* Every source of the split: a folder's entries, or a list's lines. */
static ykd_status gather_paths(const ykd_dataset *ds, const ykd_data_sources *sources,
                               path_list *l, ykd_error *err)
{
    const char *root = ds->config.root;
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < sources->count && st == YKD_OK; i++) {
        const char *rel = sources->paths[i];
        char path[4096];
        if (rel[0] == '/')
            snprintf(path, sizeof path, "%s", rel);
        else
            snprintf(path, sizeof path, "%s/%s", root, rel);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            st = add_folder(l, path, err);
        else if (ends_with_txt(path) && stat(path, &sb) == 0)
            st = add_list(l, path, root, err);
        else if (stat(path, &sb) == 0)
            st = ykd_fail(err, YKD_ERR_FORMAT,
                          "%s: '%s' of %s is neither a folder of images nor a .txt list of them",
                          ds->config.source, path, ykd_split_name(ds->split));
        else
            st = ykd_fail(err, YKD_ERR_NOT_FOUND,
                          "%s: cannot open the images folder or list '%s' (%s)",
                          ds->config.source, path, ykd_split_name(ds->split));
    }
    return st;
}

/* Every gathered path: images are added, anything else is a recorded fault. */
static ykd_status scan_images(ykd_dataset *ds, const ykd_data_sources *sources, ykd_error *err)
{
    path_list l = {NULL, 0, 0};
    ykd_status st = gather_paths(ds, sources, &l, err);
    if (st == YKD_OK && l.count > 1)
        qsort(l.paths, l.count, sizeof *l.paths, compare_names);
    if (st == YKD_OK && !(ds->entries = calloc(l.count ? l.count : 1, sizeof *ds->entries)))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < l.count && st == YKD_OK; i++) {
        char *path = l.paths[i];
        l.paths[i] = NULL;
        const char *slash = strrchr(path, '/');
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            st = dataset_fault(ds, YKD_FAULT_FILE_IGNORED, path, false,
                               "a folder (subfolders are not read)", err);
            free(path);
        } else if (!is_image_name(slash ? slash + 1 : path)) {
            st = dataset_fault(ds, YKD_FAULT_FILE_IGNORED, path, false,
                               "not a .png, .jpg or .jpeg image", err);
            free(path);
        } else {
            st = add_image(ds, path, err);
        }
    }
    path_list_free(&l);
    return st;
}

ykd_status ykd_dataset_open(const char *data, ykd_split split, const ykd_dataset_options *options,
                            ykd_dataset **dataset, ykd_error *err)
{
    *dataset = NULL;
    ykd_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    ds->split = split;
    if (options)
        ds->options = *options;
    else
        ykd_dataset_options_default(&ds->options);
    if (ds->options.max_pixels == 0)
        ds->options.max_pixels = YKD_IMAGE_MAX_PIXELS;
    ykd_status st = ykd_data_config_load(data, &ds->config, err);
    if (st == YKD_OK)
        st = ykd_report_init(&ds->report, ds->config.class_count, err);
    if (st == YKD_OK && ds->config.splits[split].count == 0)
        st = ykd_fail(err, YKD_ERR_NOT_FOUND, "%s: no '%s' split", ds->config.source,
                      ykd_split_name(split));
    if (st == YKD_OK)
        st = scan_images(ds, &ds->config.splits[split], err);
    if (st != YKD_OK) {
        ykd_dataset_close(ds);
        return st;
    }
    *dataset = ds;
    return YKD_OK;
}

void ykd_dataset_close(ykd_dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->count; i++) {
        free(ds->entries[i].image);
        free(ds->entries[i].boxes);
    }
    free(ds->entries);
    ykd_report_free(&ds->report);
    ykd_data_config_free(&ds->config);
    free(ds);
}

size_t ykd_dataset_count(const ykd_dataset *ds)
{
    return ds->count;
}

size_t ykd_dataset_class_count(const ykd_dataset *ds)
{
    return ds->config.class_count;
}

const char *ykd_dataset_class_name(const ykd_dataset *ds, size_t cls)
{
    return cls < ds->config.class_count ? ds->config.names[cls] : NULL;
}

const char *ykd_dataset_image_path(const ykd_dataset *ds, size_t index)
{
    return index < ds->count ? ds->entries[index].image : NULL;
}

const ykd_box *ykd_dataset_labels(const ykd_dataset *ds, size_t index, size_t *count)
{
    *count = index < ds->count ? ds->entries[index].box_count : 0;
    return index < ds->count ? ds->entries[index].boxes : NULL;
}

size_t ykd_dataset_max_boxes(const ykd_dataset *ds)
{
    return ds->max_boxes;
}

uint64_t ykd_dataset_max_pixels(const ykd_dataset *ds)
{
    return ds->options.max_pixels;
}

ykd_status ykd_dataset_load_image(const ykd_dataset *ds, size_t index, ykd_image *img,
                                  ykd_error *err)
{
    if (index >= ds->count)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "image %zu of %zu", index, ds->count);
    return ykd_image_read(ds->entries[index].image, ds->options.max_pixels, img, err);
}

const ykd_report *ykd_dataset_report(const ykd_dataset *ds)
{
    return &ds->report;
}
