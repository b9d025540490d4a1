/* Dataset files as Ultralytics ships them: stand-ins for VOC.yaml (splits as lists of
 * folders), coco.yaml (splits as .txt image lists with ./ paths), coco8.yaml (path: and a
 * null test:), with the same YAML shapes (index maps, a download: block of Python, comments),
 * plus what libyaml brings: multi-line flow lists, a byte-order mark, anchors and aliases.
 * Each stand-in is read by the library and by check-data --strict, through the .yaml file
 * itself (Ultralytics' data=coco.yaml) and through its folder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "data_fixtures.h"
#include "harness.h"
#include "yolokd/data.h"

/* An image and its label file at root/images/<sub>/stem.png and root/labels/<sub>/... */
static void image_with_label(ykd_test *t, const char *root, const char *sub, const char *stem,
                             const char *label)
{
    char path[4096];
    size_t size = 0;
    uint8_t *png = fx_png_solid(t, 16, 12, 40, 80, 120, &size);
    fx_write(t, fx_path(path, "%s/images/%s/%s.png", root, sub, stem), png, size);
    free(png);
    if (label)
        fx_write_text(t, fx_path(path, "%s/labels/%s/%s.txt", root, sub, stem), label);
}

/* Opens a split and checks its image count, and the total of boxes. */
static void expect_split(ykd_test *t, const char *data, ykd_split split, size_t images,
                         size_t boxes)
{
    ykd_dataset_options o;
    ykd_dataset_options_default(&o);
    o.strict = true;
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_dataset_open(data, split, &o, &ds, &err), err))
        return;
    CHECKF(t, ykd_dataset_count(ds) == images, "%s %s: %zu images, expected %zu", data,
           ykd_split_name(split), ykd_dataset_count(ds), images);
    CHECKF(t, ykd_dataset_report(ds)->boxes == boxes, "%s %s: %zu boxes, expected %zu", data,
           ykd_split_name(split), ykd_dataset_report(ds)->boxes, boxes);
    ykd_dataset_close(ds);
}

static void expect_check_data_strict(ykd_test *t, const char *data, const char *needle)
{
    run_result r = run_cli("check-data", "--data", data, "--strict", NULL);
    CHECKF(t, r.code == 0, "check-data --strict %s: exit %d: %s", data, r.code, r.err);
    CHECK_CONTAINS(t, r.out, "ok: no faults");
    CHECK_CONTAINS(t, r.out, needle);
    free_result(&r);
}

static const char voc_yaml[] =
    "# PASCAL VOC stand-in, shaped as Ultralytics' VOC.yaml\n"
    "# Train/val/test sets as 1) dir, 2) file: path/to/imgs.txt, or 3) list\n"
    "path: ../datasets/VOC\n"
    "train: # train images (relative to 'path')  16551 images\n"
    "  - images/train2012\n"
    "  - images/train2007\n"
    "  - images/val2012\n"
    "  - images/val2007\n"
    "val: # val images (relative to 'path')  4952 images\n"
    "  - images/test2007\n"
    "test: # test images (optional)\n"
    "  - images/test2007\n"
    "\n"
    "# Classes\n"
    "names:\n"
    "  0: aeroplane\n  1: bicycle\n  2: bird\n  3: boat\n  4: bottle\n  5: bus\n  6: car\n"
    "  7: cat\n  8: chair\n  9: cow\n  10: diningtable\n  11: dog\n  12: horse\n"
    "  13: motorbike\n  14: person\n  15: pottedplant\n  16: sheep\n  17: sofa\n  18: train\n"
    "  19: tvmonitor\n"
    "\n"
    "# Download script/URL (optional) ---------------------------------------\n"
    "download: |\n"
    "  import xml.etree.ElementTree as ET\n"
    "  from pathlib import Path\n"
    "\n"
    "  def convert_label(path, lb_path, year, image_id):\n"
    "      names = list(yaml['names'].values())  # names: list\n"
    "      for obj in root.iter('object'):\n"
    "          cls = obj.find('name').text\n"
    "  # Download\n"
    "  dir = Path(yaml['path'])  # dataset root dir\n"
    "  urls = [f'{url}VOCtrainval_06-Nov-2007.zip',  # 446MB\n"
    "          f'{url}VOCtest_06-Nov-2007.zip']\n";

static void test_voc_yaml(ykd_test *t)
{
    char tmp[4096], root[4096], yaml[4096], cfg[4096];
    if (!ykd_test_mkdtemp(t, tmp, sizeof tmp))
        return;
    fx_path(root, "%s/datasets/VOC", tmp);
    fx_path(cfg, "%s/cfg", tmp);
    fx_path(yaml, "%s/VOC.yaml", cfg);
    static const char *const subs[] = {"train2012", "train2007", "val2012", "val2007",
                                       "test2007"};
    for (int i = 0; i < 5; i++) {
        image_with_label(t, root, subs[i], "a", "14 0.5 0.5 0.25 0.5\n");
        image_with_label(t, root, subs[i], "b", "19 0.25 0.25 0.25 0.25\n0 0.7 0.7 0.2 0.2\n");
    }
    fx_write_text(t, yaml, voc_yaml);
    expect_split(t, yaml, YKD_SPLIT_TRAIN, 8, 12);
    expect_split(t, yaml, YKD_SPLIT_VAL, 2, 3);
    expect_split(t, yaml, YKD_SPLIT_TEST, 2, 3);
    ykd_data_config c;
    ykd_error err;
    if (CHECK_OK(t, ykd_data_config_load(yaml, &c, &err), err)) {
        CHECK(t, c.class_count == 20 && strcmp(c.names[19], "tvmonitor") == 0);
        CHECK(t, c.splits[YKD_SPLIT_TRAIN].count == 4);
        char want[4096];
        CHECKF(t, strcmp(c.root, fx_path(want, "%s/../datasets/VOC", cfg)) == 0, "root %s",
               c.root);
        ykd_data_config_free(&c);
    }
    expect_check_data_strict(t, yaml, "train: 8 images, 0 skipped");
    ykd_test_rmtree(tmp);
}

static void test_coco_yaml_image_lists(ykd_test *t)
{
    char tmp[4096], root[4096], yaml[4096], path[4096];
    if (!ykd_test_mkdtemp(t, tmp, sizeof tmp))
        return;
    fx_path(root, "%s/datasets/coco", tmp);
    /* COCO's labels from Ultralytics are segments: polygons, taken as the box around them */
    image_with_label(t, root, "train2017", "000000000009",
                     "0 0.45 0.4 0.6 0.45 0.55 0.7 0.4 0.6 0.42 0.41\n");
    image_with_label(t, root, "train2017", "000000000025", "79 0.5 0.5 0.2 0.2\n");
    image_with_label(t, root, "train2017", "000000000030", NULL); /* not in the list */
    image_with_label(t, root, "val2017", "000000000139", "2 0.5 0.5 0.2 0.2\n");
    image_with_label(t, root, "test2017", "000000000001", NULL);
    /* ./ is the list's folder (the root here); a plain relative path is the root's too */
    fx_write_text(t, fx_path(path, "%s/train2017.txt", root),
                  "./images/train2017/000000000025.png\n"
                  "images/train2017/000000000009.png\r\n"
                  "\n");
    fx_write_text(t, fx_path(path, "%s/val2017.txt", root),
                  "./images/val2017/000000000139.png\n");
    fx_write_text(t, fx_path(path, "%s/test-dev2017.txt", root),
                  fx_path(yaml, "%s/images/test2017/000000000001.png\n", root)); /* absolute */
    fx_path(yaml, "%s/cfg/coco.yaml", tmp);
    /* a UTF-8 byte-order mark, a multi-line flow list, and an index map through an alias */
    fx_write_text(t, yaml,
                  "\xEF\xBB\xBF# COCO 2017 stand-in \xF0\x9F\x9A\x80 (shaped as coco.yaml)\n"
                  "path: ../datasets/coco # dataset root dir\n"
                  "train: train2017.txt # train images (relative to 'path') 118287 images\n"
                  "val: val2017.txt # val images (relative to 'path') 5000 images\n"
                  "test: test-dev2017.txt # 20288 of 40670 images\n"
                  "classes: &coco_names\n"
                  "  0: person\n  1: bicycle\n  2: car\n"
                  "  3: motorcycle\n  4: 'traffic light'\n"
                  "names: *coco_names\n"
                  "download: |\n"
                  "  from pathlib import Path\n"
                  "  segments = True  # segment or box labels\n"
                  "  urls = ['http://images.cocodataset.org/zips/train2017.zip',  # 19G\n"
                  "          'http://images.cocodataset.org/zips/val2017.zip']  # 1G\n");
    /* class 79 is out of range for 5 names: strict refuses, naming the label file's line */
    ykd_dataset_options o;
    ykd_dataset_options_default(&o);
    o.strict = true;
    ykd_dataset *ds = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_dataset_open(yaml, YKD_SPLIT_TRAIN, &o, &ds, &err), YKD_ERR_FORMAT, err);
    CHECK_CONTAINS(t, err.message, "labels/train2017/000000000025.txt:1: class 79 out of range");
    fx_write_text(t, fx_path(path, "%s/labels/train2017/000000000025.txt", root),
                  "4 0.5 0.5 0.2 0.2\n");
    expect_split(t, yaml, YKD_SPLIT_TRAIN, 2, 2);
    expect_split(t, yaml, YKD_SPLIT_VAL, 1, 1);
    expect_split(t, yaml, YKD_SPLIT_TEST, 1, 0);
    if (CHECK_OK(t, ykd_dataset_open(yaml, YKD_SPLIT_TRAIN, &o, &ds, &err), err)) {
        /* sorted by path; labels beside "images" replaced by "labels" */
        CHECK(t, strstr(ykd_dataset_image_path(ds, 0), "000000000009.png") != NULL);
        size_t n = 0;
        const ykd_box *b = ykd_dataset_labels(ds, 0, &n); /* x 0.4..0.6, y 0.4..0.7 */
        CHECK(t, n == 1 && b[0].cls == 0 && fabsf(b[0].cx - 0.5f) < 1e-6f &&
                     fabsf(b[0].cy - 0.55f) < 1e-6f && fabsf(b[0].w - 0.2f) < 1e-6f &&
                     fabsf(b[0].h - 0.3f) < 1e-6f);
        b = ykd_dataset_labels(ds, 1, &n);
        CHECK(t, n == 1 && b[0].cls == 4);
        CHECK(t, strcmp(ykd_dataset_class_name(ds, 4), "traffic light") == 0);
        ykd_dataset_close(ds);
    }
    expect_check_data_strict(t, yaml, "test: 1 images, 0 skipped, 1 backgrounds");
    /* a list naming a missing image: the image is a fault naming it */
    fx_write_text(t, fx_path(path, "%s/val2017.txt", root), "./images/val2017/gone.png\n");
    run_result r = run_cli("check-data", "--data", yaml, NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "images/val2017/gone.png: cannot open");
    free_result(&r);
    /* a list that is not there: the dataset file and the path are named */
    fx_write_text(t, fx_path(path, "%s/val2017.txt", root), "");
    remove(path);
    CHECK_STATUS(t, ykd_dataset_open(yaml, YKD_SPLIT_VAL, &o, &ds, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "coco.yaml: cannot open the images folder or list");
    CHECK_CONTAINS(t, err.message, "val2017.txt");
    ykd_test_rmtree(tmp);
}

static void test_coco8_yaml_and_folder(ykd_test *t)
{
    char tmp[4096], root[4096], path[4096];
    if (!ykd_test_mkdtemp(t, tmp, sizeof tmp))
        return;
    fx_path(root, "%s/coco8", tmp);
    image_with_label(t, root, "train", "000000000009", "1 0.5 0.5 0.2 0.2\n");
    image_with_label(t, root, "val", "000000000036", "0 0.5 0.5 0.2 0.2\n");
    /* path relative to the file's folder; test: with no value; YOLOv5's flow list of names */
    fx_write_text(t, fx_path(path, "%s/coco8.yaml", tmp),
                  "path: coco8 # dataset root dir\n"
                  "train: images/train # train images (relative to 'path') 4 images\n"
                  "val: images/val # val images (relative to 'path') 4 images\n"
                  "test: # test images (optional)\n"
                  "\n"
                  "nc: 3\n"
                  "names: ['person', 'bicycle',\n"
                  "        'car']  # class names\n"
                  "download: https://example.invalid/coco8.zip\n");
    expect_split(t, path, YKD_SPLIT_TRAIN, 1, 1);
    expect_split(t, path, YKD_SPLIT_VAL, 1, 1);
    ykd_dataset *ds = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_dataset_open(path, YKD_SPLIT_TEST, NULL, &ds, &err), YKD_ERR_NOT_FOUND,
                 err);
    CHECK_CONTAINS(t, err.message, "coco8.yaml: no 'test' split");
    expect_check_data_strict(t, path, "dataset ");
    /* the same file inside the root, without path:, found through the folder */
    fx_write_text(t, fx_path(path, "%s/data.yaml", root),
                  "train: images/train\nval: images/val\nnames: {0: person, 1: bicycle}\n");
    expect_split(t, root, YKD_SPLIT_TRAIN, 1, 1);
    expect_check_data_strict(t, root, "val: 1 images");
    /* an absolute path: */
    fx_write_text(t, fx_path(path, "%s/abs.yaml", tmp), "");
    char text[8192];
    snprintf(text, sizeof text, "path: %s\nnames: [a, b]\n", root);
    fx_write_text(t, path, text);
    expect_split(t, path, YKD_SPLIT_VAL, 1, 1);
    ykd_test_rmtree(tmp);
}

static void test_yaml_errors_name_file_line_key(ykd_test *t)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"names: [a]\n---\nnames: [b]\n", "d.yaml:2: a second YAML document"},
        {"names: [a]\npath: [x]\n", "d.yaml:2: 'path' must be a folder"},
        {"names: [a]\nval:\n  - ok\n  - {x: 1}\n", "d.yaml:4: 'val': each entry must be"},
        {"names:\n  0: a\n  x: b\n", "d.yaml:3: 'names': key 'x' is not a class index"},
        {"names: [a, ~]\n", "d.yaml:1: 'names': entry 1 is not a name"},
        {"- a\n- b\n", "d.yaml:1: must hold keys and values"},
        {"", "d.yaml: empty (no 'names' key)"},
        {"names: [a]\nnc: '1'\n", "d.yaml:2: 'nc' must be a whole number"},
        {"names: *nothing\n", "d.yaml:1:8: not valid YAML: found undefined alias"},
        {"names: [a]\ntrain: \"x\\ty\"\n", "d.yaml:2: 'train': a path with a control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ykd_data_config c;
        ykd_error err;
        ykd_status st = ykd_data_config_parse_yaml(cases[i].text, strlen(cases[i].text),
                                                   "cfg/d.yaml", &c, &err);
        if (CHECKF(t, st == YKD_ERR_FORMAT, "accepted: %s", cases[i].text))
            CHECK_CONTAINS(t, err.message, cases[i].needle);
        else
            ykd_data_config_free(&c);
    }
    /* deep nesting is refused before libyaml (whose scanner is quadratic in it) sees it */
    size_t n = 200000;
    char *deep = malloc(2 * n + 16);
    if (deep) {
        memcpy(deep, "names:\n  ", 9);
        memset(deep + 9, '[', n);
        memset(deep + 9 + n, ']', n);
        ykd_data_config c;
        ykd_error err;
        CHECK_STATUS(t, ykd_data_config_parse_yaml(deep, 9 + 2 * n, "d.yaml", &c, &err),
                     YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "d.yaml:2: lists or maps nested deeper than 64 levels");
        free(deep);
    }
    /* the root of a file without path: is its folder; with a relative one, below it */
    ykd_data_config c;
    ykd_error err;
    if (CHECK_OK(t, ykd_data_config_parse_yaml("names: [a]\n", 11, "cfg/d.yaml", &c, &err), err)) {
        CHECK(t, strcmp(c.root, "cfg") == 0 && c.splits[YKD_SPLIT_TEST].count == 0);
        ykd_data_config_free(&c);
    }
    if (CHECK_OK(t, ykd_data_config_parse_yaml("path: x\nnames: [a]\n", 19, "d.yaml", &c, &err),
                 err)) {
        CHECK(t, strcmp(c.root, "x") == 0);
        ykd_data_config_free(&c);
    }
}

/* Segment lines: a polygon needs 3 or more points; its numbers are checked one by one. */
static void test_polygon_labels(ykd_test *t)
{
    static const char text[] = "0 0.1 0.1 0.3 0.1 0.2 0.3\n"          /* 1 a triangle */
                               "0 0.1 0.1 0.3 0.1 0.2\n"              /* 2 six fields */
                               "0 0.1 0.1 0.3 0.1 0.2 0.3 0.5 0.5\n"  /* 3 a quadrilateral */
                               "0 0.1 0.1 0.3 x 0.2 0.3\n"            /* 4 not a number */
                               "0 0.1 0.1 0.3 0.1 0.2 nan\n"          /* 5 NaN */
                               "1 0.1 0.1 1.5 0.1 0.2 0.3\n";         /* 6 reaches x = 1.5 */
    ykd_report report;
    ykd_error err;
    ykd_box *boxes = NULL;
    size_t count = 0;
    CHECK_OK(t, ykd_report_init(&report, 2, &err), err);
    if (CHECK_OK(t, ykd_labels_parse(text, sizeof text - 1, "p.txt", 2, false, &boxes, &count,
                                     &report, &err),
                 err)) {
        CHECK(t, count == 2 && fabsf(boxes[0].cx - 0.2f) < 1e-6f &&
                     fabsf(boxes[0].cy - 0.2f) < 1e-6f && fabsf(boxes[0].w - 0.2f) < 1e-6f &&
                     fabsf(boxes[0].h - 0.2f) < 1e-6f);
        CHECK(t, count == 2 && fabsf(boxes[1].w - 0.4f) < 1e-6f && fabsf(boxes[1].h - 0.4f) < 1e-6f);
        CHECK(t, report.fault_count == 4);
        static const char *const want[] = {"p.txt:2: expected 5 fields (class cx cy w h), found 6",
                                           "p.txt:4: point 2's y 'x' is not a number",
                                           "p.txt:5: point 3's y is NaN",
                                           "p.txt:6: box x 0.1..1.5"};
        for (size_t i = 0; i < report.fault_count && i < 4; i++) {
            char line[1024];
            ykd_fault_format(&report.faults[i], line, sizeof line);
            CHECK_CONTAINS(t, line, want[i]);
        }
    }
    free(boxes);
    ykd_report_free(&report);
}

static const ykd_test_case cases[] = {
    {"yaml: VOC.yaml's lists of folders", test_voc_yaml, YKD_TEST_HOST},
    {"yaml: coco.yaml's image lists, BOM, aliases", test_coco_yaml_image_lists, YKD_TEST_HOST},
    {"yaml: coco8.yaml's path, null test, flow lists", test_coco8_yaml_and_folder, YKD_TEST_HOST},
    {"labels: segment polygons as boxes", test_polygon_labels, YKD_TEST_HOST},
    {"yaml: errors name the file, line and key", test_yaml_errors_name_file_line_key,
     YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
