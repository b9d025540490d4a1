/* Labels, dataset configuration and datasets: every validation fault from files the tests
 * write, skip versus strict, data.json and data.yaml in their accepted shapes and with wrong
 * ones, and yolokd check-data's output and exit codes. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_run.h"
#include "data_fixtures.h"
#include "harness.h"
#include "yolokd/data.h"

/* One line per fault kind, with the valid lines around them. */
static const char faulty_labels[] = "0 0.5 0.5 0.2 0.2\n"    /* 1 ok */
                                    "\n"                     /* 2 blank: allowed */
                                    "1 0.5 0.5 0.2\n"        /* 3 four fields */
                                    "0 0.5 abc 0.2 0.2\n"    /* 4 not a number */
                                    "0 nan 0.5 0.2 0.2\n"    /* 5 NaN */
                                    "0 0.5 0.5 inf 0.2\n"    /* 6 infinite */
                                    "3 0.5 0.5 0.2 0.2\n"    /* 7 class out of range (3 classes) */
                                    "-1 0.5 0.5 0.2 0.2\n"   /* 8 negative class */
                                    "1.5 0.5 0.5 0.2 0.2\n"  /* 9 class not an integer */
                                    "0 0.5 0.5 0 0.2\n"      /* 10 zero width */
                                    "0 0.5 0.5 -0.1 0.2\n"   /* 11 negative width */
                                    "0 0.9 0.5 0.4 0.2\n"    /* 12 reaches x = 1.1 */
                                    "2 0.995 0.5 0.02 0.1\n" /* 13 reaches x = 1.005: clipped */
                                    "0 0.5 0.5 0.2 0.2\n"    /* 14 duplicate of line 1 */
                                    "2.0 0.25 0.25 0.1 0.1\r\n" /* 15 ok: class 2.0, CRLF */
                                    "0 0.5 0.5 0.2 0.2 7\n"     /* 16 six fields */
                                    "0 0.5 0.5 0.2 0.2\n";      /* 17 duplicate of line 1 again */

static void test_label_faults_skipped_and_recorded(ykd_test *t)
{
    ykd_report report;
    ykd_error err;
    CHECK_OK(t, ykd_report_init(&report, 3, &err), err);
    ykd_box *boxes = NULL;
    size_t count = 0;
    CHECK_OK(t,
             ykd_labels_parse(faulty_labels, strlen(faulty_labels), "l.txt", 3, false, &boxes,
                              &count, &report, &err),
             err);
    if (CHECK(t, count == 3)) {
        CHECK(t, boxes[0].cls == 0 && boxes[0].cx == 0.5f && boxes[0].w == 0.2f);
        /* line 13 clipped to x 0.985..1: centre 0.9925, width 0.015 */
        CHECK(t, boxes[1].cls == 2 && fabsf(boxes[1].cx - 0.9925f) < 1e-6f &&
                     fabsf(boxes[1].w - 0.015f) < 1e-6f && boxes[1].h == 0.1f);
        CHECK(t, boxes[2].cls == 2 && boxes[2].cx == 0.25f && boxes[2].h == 0.1f);
    }
    static const struct {
        int line;
        ykd_fault_kind kind;
        const char *text;
    } expected[] = {
        {3, YKD_FAULT_LABEL_FIELDS, "expected 5 fields (class cx cy w h), found 4"},
        {4, YKD_FAULT_LABEL_NOT_NUMBER, "cy 'abc' is not a number"},
        {5, YKD_FAULT_LABEL_NOT_FINITE, "cx is NaN"},
        {6, YKD_FAULT_LABEL_NOT_FINITE, "w is infinite"},
        {7, YKD_FAULT_LABEL_CLASS, "class 3 out of range (the dataset has 3 classes: 0..2)"},
        {8, YKD_FAULT_LABEL_CLASS, "class -1 out of range"},
        {9, YKD_FAULT_LABEL_CLASS, "class 1.5 is not an integer"},
        {10, YKD_FAULT_LABEL_SIZE, "zero or negative size (w 0, h 0.2)"},
        {11, YKD_FAULT_LABEL_SIZE, "zero or negative size (w -0.1, h 0.2)"},
        {12, YKD_FAULT_LABEL_OUTSIDE, "box x 0.7..1.1, y 0.4..0.6 reaches outside"},
        {14, YKD_FAULT_LABEL_DUPLICATE, "duplicate of the box on line 1"},
        {16, YKD_FAULT_LABEL_FIELDS, "found 6"},
        {17, YKD_FAULT_LABEL_DUPLICATE, "duplicate of the box on line 1"},
    };
    size_t n = sizeof expected / sizeof expected[0];
    CHECKF(t, report.fault_count == n, "%zu faults", report.fault_count);
    for (size_t i = 0; i < n && i < report.fault_count; i++) {
        const ykd_fault *f = &report.faults[i];
        CHECKF(t, f->line == expected[i].line && f->kind == expected[i].kind && !f->image_skipped,
               "fault %zu: line %d kind %s", i, f->line, ykd_fault_kind_name(f->kind));
        CHECK_CONTAINS(t, f->message, expected[i].text);
        CHECK_CONTAINS(t, f->message, "(line skipped)");
        CHECK(t, strcmp(f->file, "l.txt") == 0);
    }
    CHECK(t, report.lines_skipped == n);
    CHECK(t, report.boxes_clipped == 1);
    char line[512];
    if (report.fault_count > 0) {
        ykd_fault_format(&report.faults[0], line, sizeof line);
        CHECK_CONTAINS(t, line, "l.txt:3: expected 5 fields");
    }
    free(boxes);
    ykd_report_free(&report);
}

static void test_label_strict_stops_at_first_fault(ykd_test *t)
{
    ykd_box *boxes = (ykd_box *)1;
    size_t count = 99;
    ykd_error err;
    CHECK_STATUS(t,
                 ykd_labels_parse(faulty_labels, strlen(faulty_labels), "dir/l.txt", 3, true,
                                  &boxes, &count, NULL, &err),
                 YKD_ERR_FORMAT, err);
    CHECK(t, boxes == NULL && count == 0);
    CHECK_CONTAINS(t, err.message, "dir/l.txt:3: expected 5 fields");
    /* a rounding overshoot (a printed label) is clamped without counting as clipped */
    ykd_report report;
    CHECK_OK(t, ykd_report_init(&report, 1, &err), err);
    const char *text = "0 0.9453125 0.5 0.109376 0.1";
    CHECK_OK(t,
             ykd_labels_parse(text, strlen(text), "r.txt", 1, false, &boxes, &count, &report, &err),
             err);
    CHECK(t, count == 1 && report.boxes_clipped == 0 && report.fault_count == 0);
    CHECK(t, count == 1 && boxes[0].cx + boxes[0].w / 2 <= 1.0f);
    free(boxes);
    ykd_report_free(&report);
}

/* Many boxes, every other one repeated: duplicates found without quadratic time. */
static void test_label_duplicates_at_scale(ykd_test *t)
{
    size_t lines = 40000;
    char *text = malloc(lines * 40);
    size_t used = 0;
    for (size_t i = 0; i < lines; i++) {
        size_t k = i % 2 ? i - 1 : i;
        used += (size_t)sprintf(text + used, "%zu 0.5 0.5 %.6f 0.1\n", k % 5,
                                0.01 + (double)k / lines * 0.5);
    }
    ykd_report report;
    ykd_error err;
    ykd_box *boxes = NULL;
    size_t count = 0;
    CHECK_OK(t, ykd_report_init(&report, 5, &err), err);
    CHECK_OK(t, ykd_labels_parse(text, used, "big.txt", 5, false, &boxes, &count, &report, &err),
             err);
    CHECK(t, count == lines / 2 && report.fault_count == lines / 2);
    if (report.fault_count > 0)
        CHECK(t, report.faults[0].line == 2 && report.faults[0].kind == YKD_FAULT_LABEL_DUPLICATE);
    free(boxes);
    free(text);
    ykd_report_free(&report);
}

static void expect_config(ykd_test *t, bool yaml, const char *text, size_t classes,
                          const char *first, const char *last, const char *train, const char *val)
{
    ykd_data_config c;
    ykd_error err;
    ykd_status st = yaml ? ykd_data_config_parse_yaml(text, strlen(text), "data.yaml", &c, &err)
                         : ykd_data_config_parse_json(text, strlen(text), "data.json", &c, &err);
    if (!CHECKF(t, st == YKD_OK, "%s: %s", text, err.message))
        return;
    CHECKF(t, c.class_count == classes, "%zu classes from %s", c.class_count, text);
    if (c.class_count == classes) {
        CHECKF(t, strcmp(c.names[0], first) == 0, "first name '%s'", c.names[0]);
        CHECKF(t, strcmp(c.names[classes - 1], last) == 0, "last name '%s'", c.names[classes - 1]);
    }
    char got[2][512];
    for (int s = 0; s < 2; s++) /* a split's sources joined with ',' */
        for (size_t i = 0; i < c.splits[s].count; i++)
            snprintf(got[s] + (i ? strlen(got[s]) : 0), sizeof got[s] - (i ? strlen(got[s]) : 0),
                     "%s%s", i ? "," : "", c.splits[s].paths[i]);
    CHECKF(t, strcmp(got[0], train) == 0 && strcmp(got[1], val) == 0, "paths %s %s", got[0],
           got[1]);
    ykd_data_config_free(&c);
}

static void expect_config_error(ykd_test *t, bool yaml, const char *text, const char *needle)
{
    ykd_data_config c;
    ykd_error err;
    ykd_status st = yaml ? ykd_data_config_parse_yaml(text, strlen(text), "data.yaml", &c, &err)
                         : ykd_data_config_parse_json(text, strlen(text), "data.json", &c, &err);
    CHECKF(t, st == YKD_ERR_FORMAT, "accepted: %s", text);
    if (st != YKD_OK)
        CHECK_CONTAINS(t, err.message, needle);
    else
        ykd_data_config_free(&c);
}

static void test_data_json_shapes(ykd_test *t)
{
    expect_config(t, false, "{\"names\": [\"cat\", \"dog\"]}", 2, "cat", "dog", "images/train",
                  "images/val");
    expect_config(
        t, false,
        "{\"names\": {\"1\": \"dog\", \"0\": \"cat\"}, \"nc\": 2, \"train\": \"a/images/t\","
        " \"val\": \"/abs/images/v\", \"download\": [1, 2]}",
        2, "cat", "dog", "a/images/t", "/abs/images/v");
    expect_config_error(t, false, "{\"nc\": 2}", "data.json: no 'names' key");
    expect_config_error(t, false, "{\"names\": \"cat\"}",
                        "data.json: 'names' must be a list of strings or an object");
    expect_config_error(t, false, "{\"names\": [\"a\", 3]}",
                        "data.json: 'names': entry 1 is not a string");
    expect_config_error(t, false, "{\"names\": {\"x\": \"a\"}}",
                        "'names': key 'x' is not a class index");
    expect_config_error(t, false, "{\"names\": {\"0\": \"a\", \"2\": \"b\"}}",
                        "'names': index 2 is out of range 0..1");
    expect_config_error(t, false, "{\"names\": []}",
                        "'names': needs 1 to 65535 class names, has 0");
    expect_config_error(t, false, "{\"names\": [\"a\", \"\"]}", "class 1's name is empty");
    expect_config_error(t, false, "{\"names\": [\"a\"], \"train\": 5}",
                        "data.json: 'train' must be a string");
    expect_config_error(t, false, "{\"names\": [\"a\"], \"nc\": 2}",
                        "'nc' is 2 but 'names' has 1 names");
    expect_config_error(t, false, "{\"names\": [\"a\"], \"nc\": \"1\"}",
                        "'nc' must be a whole number");
    expect_config_error(t, false, "[\"a\"]", "data.json: must hold a JSON object");
    expect_config_error(t, false, "{\n\"names\": [\"a\",\n}", "data.json:3: not valid JSON");
}

static void test_data_yaml_shapes(ykd_test *t)
{
    expect_config(t, true,
                  "# a dataset\n"
                  "path: ../datasets/x   # ignored\n"
                  "train: images/train\n"
                  "val: 'images/v # not a comment'\n"
                  "nc: 3\n"
                  "names:\n"
                  "  - circle\n"
                  "  - \"square\"\n"
                  "\n"
                  "  - tri   # comment\n"
                  "download: |\n"
                  "  curl x\n"
                  "  - not: a name\n",
                  3, "circle", "tri", "images/train", "images/v # not a comment");
    expect_config(t, true, "names: [a, 'b, c', \"d\"]\n", 3, "a", "d", "images/train",
                  "images/val");
    expect_config(t, true, "names: ['it''s', x,]\n", 2, "it's", "x", "images/train", "images/val");
    expect_config(t, true, "names:\n  1: dog\n  0: cat\ntrain: tr\n", 2, "cat", "dog", "tr",
                  "images/val");
    expect_config(t, true, "names: {0: cat, 1: 'd o g'}\n", 2, "cat", "d o g", "images/train",
                  "images/val");
    expect_config(t, true, "names:\n- a\n- b\nval: v\n", 2, "a", "b", "images/train", "v");
    expect_config_error(
        t, true, "nc: 1\nnames: circle\n",
        "data.yaml:2: 'names' must be a list ([a, b] or '- a' lines) or an index map");
    expect_config_error(t, true, "names: [a]\ntrain: {x: y}\n",
                        "data.yaml:2: 'train' must be a folder of images, a .txt list");
    expect_config_error(t, true, "names: [a]\ntrain: [x, [y]]\n",
                        "data.yaml:2: 'train': each entry must be a folder or a .txt list");
    expect_config_error(t, true, "names: [a]\ntrain: []\n", "non-empty list");
    expect_config(t, true, "names: [a]\ntrain: [x, y]\n", 1, "a", "a", "x,y", "images/val");
    expect_config(t, false, "{\"names\": [\"a\"], \"train\": [\"x\", \"y\"], \"val\": null}", 1, "a",
                  "a", "x,y", "images/val");
    expect_config_error(t, true, "names:\n  - a\n  1: b\n",
                        "data.yaml:3:3: not valid YAML: did not find expected '-' indicator");
    expect_config_error(t, true, "names:\n  0: a\n  2: b\n",
                        "data.yaml:1: 'names': index 2 is out of range 0..1");
    expect_config_error(t, true, "names:\n  0: a\n  0: b\n",
                        "data.yaml:1: 'names': index 0 given twice");
    expect_config_error(t, true, "names: [a, b]\nnc: 4\n", "'nc' is 4 but 'names' has 2 names");
    expect_config_error(t, true, "names:\n\t- a\n", "data.yaml:2:1: not valid YAML: found character that cannot start any token");
    expect_config_error(t, true, "names: [a]\nnames: [b]\n", "data.yaml:2: 'names' given twice");
    expect_config_error(t, true, "names: [a]\njust words\n", "data.yaml:3:1: not valid YAML: could not find expected ':' while scanning a simple key (from line 2)");
    expect_config_error(t, true, "names: ['a, b]\n", "data.yaml:2:1: not valid YAML: found unexpected end of stream while scanning a quoted scalar (from line 1)");
    expect_config_error(t, true, "names: [[a], b]\n", "data.yaml:1: 'names': entry 0 is not a name");
    expect_config_error(t, true, "train: x\n", "data.yaml: no 'names' key");
    expect_config_error(t, true, "names:\ntrain: x\n", "data.yaml:1: 'names': needs 1 to 65535");
    expect_config_error(t, true, "names: [a]\nnc: three\n",
                        "data.yaml:2: 'nc' must be a whole number");
    expect_config_error(t, true, "names: [a]\n  - b\n", "data.yaml:2:3: not valid YAML: did not find expected key");
    expect_config_error(t, true, "names: [a]\ntrain: |\n  x\n",
                        "data.yaml:2: 'train': a path with a control character or line break");
}

/* A dataset with one fault of each kind in train, and a clean val split. */
static bool planted_dataset(ykd_test *t, const char *root)
{
    static const char *const names[] = {"a", "b", "c"};
    char path[4096];
    bool ok = fx_dataset(t, root, names, 3);
    ok = ok && fx_sample(t, root, "train", "a-good", 40, 30, 10,
                         "0 0.5 0.5 0.5 0.5\n2 0.2 0.2 0.1 0.1\n");
    ok = ok && fx_sample(t, root, "train", "b-background", 40, 30, 20, NULL);
    ok = ok && fx_sample(t, root, "train", "c-empty", 40, 30, 30, "");
    ok = ok && fx_sample(t, root, "train", "d-badline", 40, 30, 40,
                         "1 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n");
    /* a PNG cut short: its header is whole, its pixels are not */
    size_t size = 0;
    uint8_t *png = fx_png_solid(t, 64, 64, 1, 2, 3, &size);
    ok = ok && png &&
         fx_write(t, fx_path(path, "%s/images/train/e-truncated.png", root), png, size / 2);
    free(png);
    ok = ok && fx_write_text(t, fx_path(path, "%s/images/train/f-notimage.png", root), "hello\n");
    uint8_t huge[64];
    size = fx_png_header_only(100000, 100000, huge);
    ok = ok && fx_write(t, fx_path(path, "%s/images/train/g-huge.png", root), huge, size);
    ok = ok && fx_write_text(t, fx_path(path, "%s/images/train/h-readme.txt", root), "notes\n");
    ok = ok && fx_sample(t, root, "train", "i-dirlabel", 8, 8, 50, NULL);
    ok = ok && mkdir(fx_path(path, "%s/labels/train/i-dirlabel.txt", root), 0700) == 0;
    ok = ok && mkdir(fx_path(path, "%s/images/train/j-subfolder", root), 0700) == 0;
    /* busy pixels, so half the file is well past the header */
    uint8_t rgb[64 * 64 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 31 % 251);
    uint8_t *jpeg = fx_jpeg(t, 3, 64, 64, rgb, 0, &size);
    ok =
        ok && jpeg && fx_write(t, fx_path(path, "%s/images/train/k-cut.jpg", root), jpeg, size / 2);
    ok = ok && jpeg && fx_write(t, fx_path(path, "%s/images/train/l-good.JPEG", root), jpeg, size);
    free(jpeg);
    ok = ok && fx_sample(t, root, "val", "v", 20, 20, 60, "1 0.5 0.5 0.5 0.5\n");
    return CHECK(t, ok);
}

static const ykd_fault *find_fault(const ykd_report *r, const char *file_end)
{
    for (size_t i = 0; i < r->fault_count; i++) {
        size_t n = strlen(r->faults[i].file), m = strlen(file_end);
        if (n >= m && strcmp(r->faults[i].file + n - m, file_end) == 0)
            return &r->faults[i];
    }
    return NULL;
}

static void check_fault(ykd_test *t, const ykd_report *r, const char *file_end, int line,
                        ykd_fault_kind kind, bool skipped, const char *text)
{
    const ykd_fault *f = find_fault(r, file_end);
    if (!CHECKF(t, f != NULL, "no fault for %s", file_end))
        return;
    CHECKF(t, f->line == line && f->kind == kind && f->image_skipped == skipped,
           "%s: line %d kind %s skipped %d", file_end, f->line, ykd_fault_kind_name(f->kind),
           f->image_skipped);
    CHECK_CONTAINS(t, f->message, text);
}

static void test_dataset_planted_faults(ykd_test *t)
{
    char root[4096];
    if (!ykd_test_mkdtemp(t, root, sizeof root) || !planted_dataset(t, root))
        return;
    ykd_dataset_options o;
    ykd_dataset_options_default(&o);
    o.check = YKD_IMAGE_CHECK_DECODE;
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, &o, &ds, &err), err))
        return;
    const ykd_report *r = ykd_dataset_report(ds);
    CHECKF(t, r->images == 10 && r->images_skipped == 5, "%zu images, %zu skipped", r->images,
           r->images_skipped);
    CHECK(t, ykd_dataset_count(ds) == 5);
    CHECK(t, r->backgrounds == 3 && r->missing_labels == 2); /* b, c (empty), l */
    CHECK(t, r->boxes == 3 && r->boxes_per_class[0] == 1 && r->boxes_per_class[1] == 1 &&
                 r->boxes_per_class[2] == 1);
    CHECK(t, r->lines_skipped == 1 && r->fault_count == 8);
    check_fault(t, r, "labels/train/d-badline.txt", 2, YKD_FAULT_LABEL_CLASS, false,
                "class 7 out of range");
    check_fault(t, r, "images/train/e-truncated.png", 0, YKD_FAULT_IMAGE_CORRUPT, true,
                "corrupt PNG: file is truncated (image skipped)");
    check_fault(t, r, "images/train/f-notimage.png", 0, YKD_FAULT_IMAGE_CORRUPT, true,
                "not a PNG or JPEG file");
    check_fault(t, r, "images/train/g-huge.png", 0, YKD_FAULT_IMAGE_TOO_LARGE, true,
                "over the limit");
    check_fault(t, r, "images/train/h-readme.txt", 0, YKD_FAULT_FILE_IGNORED, false,
                "not a .png, .jpg or .jpeg image (ignored)");
    check_fault(t, r, "labels/train/i-dirlabel.txt", 0, YKD_FAULT_LABEL_UNREADABLE, true,
                "not a regular file");
    check_fault(t, r, "images/train/j-subfolder", 0, YKD_FAULT_FILE_IGNORED, false, "a folder");
    check_fault(t, r, "images/train/k-cut.jpg", 0, YKD_FAULT_IMAGE_CORRUPT, true, "corrupt JPEG");
    /* the images kept, in name order, with their labels */
    static const char *const kept[] = {"a-good.png", "b-background.png", "c-empty.png",
                                       "d-badline.png", "l-good.JPEG"};
    for (size_t i = 0; i < 5 && ykd_dataset_count(ds) == 5; i++) {
        const char *p = ykd_dataset_image_path(ds, i);
        CHECKF(t,
               strlen(p) > strlen(kept[i]) && strcmp(p + strlen(p) - strlen(kept[i]), kept[i]) == 0,
               "image %zu is %s", i, p);
    }
    size_t n = 0;
    const ykd_box *b = ykd_dataset_labels(ds, 0, &n);
    CHECK(t, n == 2 && b[1].cls == 2 && b[1].cx == 0.2f && b[1].w == 0.1f);
    b = ykd_dataset_labels(ds, 3, &n);
    CHECK(t, n == 1 && b[0].cls == 1);
    CHECK(t, ykd_dataset_max_boxes(ds) == 2);
    CHECK(t, strcmp(ykd_dataset_class_name(ds, 2), "c") == 0 && ykd_dataset_class_count(ds) == 3);
    ykd_image img;
    if (CHECK_OK(t, ykd_dataset_load_image(ds, 4, &img, &err), err)) {
        CHECK(t, img.width == 64 && img.height == 64);
        ykd_image_free(&img);
    }
    ykd_dataset_close(ds);
    /* a header-only check cannot see the truncation: that image is kept until decoded */
    o.check = YKD_IMAGE_CHECK_HEADER;
    if (CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, &o, &ds, &err), err)) {
        CHECKF(t, ykd_dataset_count(ds) == 7 && ykd_dataset_report(ds)->fault_count == 6,
               "%zu images, %zu faults", ykd_dataset_count(ds),
               ykd_dataset_report(ds)->fault_count);
        ykd_dataset_close(ds);
    }
    /* strict: the first fault in name order stops the open */
    o.strict = true;
    CHECK_STATUS(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, &o, &ds, &err), YKD_ERR_FORMAT, err);
    CHECK_CONTAINS(t, err.message, "labels/train/d-badline.txt:2: class 7 out of range");
    CHECK(t, ds == NULL);
    ykd_test_rmtree(root);
}

static void test_dataset_yaml_paths_and_missing_parts(ykd_test *t)
{
    char root[4096], path[4096];
    if (!ykd_test_mkdtemp(t, root, sizeof root))
        return;
    ykd_dataset *ds = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), YKD_ERR_NOT_FOUND,
                 err);
    CHECK_CONTAINS(t, err.message, "no data.json or data.yaml");
    fx_write_text(t, fx_path(path, "%s/data.yaml", root),
                  "train: pics/images/tr\nval: flat\nnames:\n  0: only\n");
    CHECK_STATUS(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), YKD_ERR_NOT_FOUND,
                 err);
    CHECK_CONTAINS(t, err.message, "pics/images/tr");
    size_t size = 0;
    uint8_t *png = fx_png_solid(t, 10, 10, 5, 5, 5, &size);
    /* labels beside "images" replaced by "labels"; without an images folder, next to it */
    fx_write(t, fx_path(path, "%s/pics/images/tr/x.png", root), png, size);
    fx_write_text(t, fx_path(path, "%s/pics/labels/tr/x.txt", root), "0 0.5 0.5 1 1\n");
    fx_write(t, fx_path(path, "%s/flat/y.png", root), png, size);
    fx_write_text(t, fx_path(path, "%s/flat/y.txt", root), "0 0.5 0.5 0.5 0.5\n");
    free(png);
    if (CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), err)) {
        size_t n = 0;
        ykd_dataset_labels(ds, 0, &n);
        CHECK(t, ykd_dataset_count(ds) == 1 && n == 1);
        ykd_dataset_close(ds);
    }
    /* y.txt sits among the images: it is listed as an ignored file, y.png gets its box */
    if (CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_VAL, NULL, &ds, &err), err)) {
        size_t n = 0;
        const ykd_box *b = ykd_dataset_labels(ds, 0, &n);
        CHECK(t, ykd_dataset_count(ds) == 1 && n == 1 && b[0].w == 0.5f);
        CHECK(t, ykd_dataset_report(ds)->fault_count == 1);
        ykd_dataset_close(ds);
    }
    ykd_test_rmtree(root);
}

static void test_check_data_cli(ykd_test *t)
{
    char root[4096], clean[4096], path[4096];
    if (!ykd_test_mkdtemp(t, root, sizeof root) || !planted_dataset(t, root))
        return;
    run_result r = run_cli("check-data", "--data", root, NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out,
                   "train: 10 images, 5 skipped, 3 backgrounds (2 without a label "
                   "file), 3 boxes, 1 label lines skipped, 0 boxes clipped");
    CHECK_CONTAINS(t, r.out, "boxes per class: a 1, b 1, c 1");
    CHECK_CONTAINS(t, r.out, "val: 1 images, 0 skipped");
    fx_path(path, "warning: %s/labels/train/d-badline.txt:2: class 7 out of range", root);
    CHECK_CONTAINS(t, r.out, path);
    fx_path(path, "warning: %s/images/train/k-cut.jpg: corrupt JPEG", root);
    CHECK_CONTAINS(t, r.out, path);
    CHECK_CONTAINS(t, r.out, "8 faults: 5 images and 1 label lines skipped");
    free_result(&r);
    r = run_cli("check-data", "--data", root, "--json", NULL);
    CHECK(t, r.code == 0);
    cJSON *json = cJSON_Parse(r.out);
    if (CHECKF(t, json != NULL, "not JSON: %s", r.out)) {
        cJSON *faults = cJSON_GetObjectItem(json, "faults");
        CHECK(t, cJSON_GetArraySize(faults) == 8);
        CHECK(t, cJSON_IsFalse(cJSON_GetObjectItem(json, "ok")));
        cJSON *train = cJSON_GetObjectItem(cJSON_GetObjectItem(json, "splits"), "train");
        CHECK(t, cJSON_GetNumberValue(cJSON_GetObjectItem(train, "images_skipped")) == 5);
        cJSON *first = cJSON_GetArrayItem(faults, 0);
        CHECK(t,
              strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(first, "kind")), "label-class") == 0);
        CHECK(t, cJSON_GetNumberValue(cJSON_GetObjectItem(first, "line")) == 2);
        cJSON_Delete(json);
    }
    free_result(&r);
    r = run_cli("check-data", "--data", root, "--strict", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "d-badline.txt:2: class 7 out of range");
    free_result(&r);
    /* a clean dataset: no faults, --strict agrees; --max-pixels refuses what is too big */
    static const char *const names[] = {"x"};
    fx_path(clean, "%s/clean", root);
    fx_dataset(t, clean, names, 1);
    fx_sample(t, clean, "train", "t", 20, 10, 1, "0 0.5 0.5 0.5 0.5\n");
    fx_sample(t, clean, "val", "v", 20, 10, 1, NULL);
    r = run_cli("check-data", "--data", clean, "--strict", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "ok: no faults");
    free_result(&r);
    r = run_cli("check-data", "--data", clean, "--max-pixels", "199", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "20x10 = 200 pixels, over the limit of 199");
    free_result(&r);
    ykd_test_rmtree(root);
}

/* count distinct boxes, one a line */
static char *many_boxes(size_t count)
{
    char *text = malloc(count * 32 + 1);
    size_t at = 0;
    for (size_t i = 0; text && i < count; i++)
        at += (size_t)sprintf(text + at, "0 0.5 0.5 %.6f 0.25\n", 0.00001 * (double)(i + 1));
    return text;
}

/* The loss takes YKD_MAX_BOXES_PER_SAMPLE boxes per sample and a mosaic joins 4 images: a
 * label file over a quarter of it is refused by check-data as training refuses it. */
static void test_check_data_box_limit(ykd_test *t)
{
    char root[4096], path[4096];
    static const char *const names[] = {"x"};
    if (!ykd_test_mkdtemp(t, root, sizeof root) || !fx_dataset(t, root, names, 1))
        return;
    CHECK(t, YKD_MAX_BOXES_PER_IMAGE * 4 == YKD_MAX_BOXES_PER_SAMPLE);
    char *at_limit = many_boxes(YKD_MAX_BOXES_PER_IMAGE);
    char *over = many_boxes(YKD_MAX_BOXES_PER_IMAGE + 1);
    fx_sample(t, root, "train", "full", 20, 10, 1, at_limit);
    fx_sample(t, root, "train", "over", 20, 10, 1, over);
    fx_sample(t, root, "val", "v", 20, 10, 1, at_limit);
    run_result r = run_cli("check-data", "--data", root, NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "train: 2 images, 1 skipped");
    fx_path(path,
            "warning: %s/labels/train/over.txt: 16385 boxes, over the limit of 16384 per image",
            root);
    CHECK_CONTAINS(t, r.out, path);
    free_result(&r);
    r = run_cli("check-data", "--data", root, "--strict", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "over.txt: 16385 boxes, over the limit");
    free_result(&r);
    /* what remains trains: the loader's largest sample fits the loss */
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), err)) {
        CHECK(t, ykd_dataset_count(ds) == 1 &&
                     ykd_dataset_max_boxes(ds) == YKD_MAX_BOXES_PER_IMAGE);
        ykd_loader *loader = NULL;
        if (CHECK_OK(t, ykd_loader_open(ds, NULL, &loader, &err), err)) {
            CHECK(t, ykd_loader_max_boxes(loader) == YKD_MAX_BOXES_PER_SAMPLE);
            ykd_loader_close(loader);
        }
        ykd_dataset_close(ds);
    }
    fx_path(path, "%s/labels/train/over.txt", root);
    remove(path);
    r = run_cli("check-data", "--data", root, "--strict", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    free_result(&r);
    free(at_limit);
    free(over);
    ykd_test_rmtree(root);
}

static void test_check_data_usage_and_failures(ykd_test *t)
{
    run_result r = run_cli("check-data", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--data DIR is required");
    free_result(&r);
    r = run_cli("check-data", "--data", "/x", "--frob", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "unknown argument '--frob'");
    free_result(&r);
    r = run_cli("check-data", "--data", "/x", "--max-pixels", "lots", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
    r = run_cli("check-data", "--data", "/nonexistent/yolokd-data", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "no data.json or data.yaml");
    free_result(&r);
    r = run_cli("check-data", "--data", "/nonexistent/yolokd-data", "--json", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.out, "\"ok\":\tfalse");
    free_result(&r);
    r = run_cli("check-data", "--help", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "--strict");
    free_result(&r);
}

static const ykd_test_case cases[] = {
    {"labels: every fault skipped and recorded", test_label_faults_skipped_and_recorded,
     YKD_TEST_HOST},
    {"labels: strict stops at the first fault", test_label_strict_stops_at_first_fault,
     YKD_TEST_HOST},
    {"labels: duplicates among 40000 lines", test_label_duplicates_at_scale, YKD_TEST_HOST},
    {"config: data.json shapes and wrong types", test_data_json_shapes, YKD_TEST_HOST},
    {"config: data.yaml shapes and wrong types", test_data_yaml_shapes, YKD_TEST_HOST},
    {"dataset: planted faults, skip and strict", test_dataset_planted_faults, YKD_TEST_HOST},
    {"dataset: yaml paths, label folders, missing parts", test_dataset_yaml_paths_and_missing_parts,
     YKD_TEST_HOST},
    {"check-data: text, JSON, strict, limits", test_check_data_cli, YKD_TEST_HOST},
    {"check-data: boxes per image, as training limits them", test_check_data_box_limit,
     YKD_TEST_HOST},
    {"check-data: usage and failures", test_check_data_usage_and_failures, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
