/* yolokd convert: Pascal VOC, COCO and CSV stand-ins (their images tiny PNGs from the
 * library's own encoder) converted, checked line by line, and accepted by check-data
 * --strict; faults named file:line; tiles cut with boxes clipped and slivers dropped, and
 * train and val tiles from separate bands of each image. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "data_fixtures.h"
#include "harness.h"
#include "yolokd/convert.h"
#include "yolokd/data.h"

/* A w x h PNG of the pattern, encoded by the library. */
static void write_png(ykd_test *t, const char *path, int w, int h)
{
    ykd_image img;
    ykd_error err;
    void *png = NULL;
    size_t size = 0;
    if (!CHECK_OK(t, ykd_image_init(&img, w, h, 0, &err), err))
        return;
    fx_pattern(&img);
    if (CHECK_OK(t, ykd_png_encode(&img, &png, &size, &err), err))
        fx_write(t, path, png, size);
    free(png);
    ykd_image_free(&img);
}

/* An image for a converter to find: a path under the test's folder and a size. */
typedef struct png_spec {
    const char *path;
    int w, h;
} png_spec;

/* A dataset to convert in a new temporary folder (into tmp): the PNGs of specs and, unless
 * name is NULL, the annotation file name with text (its path into file). False (a failed
 * check) when the folder cannot be made. */
static bool make_source(ykd_test *t, char *tmp, const png_spec *specs, int count,
                        const char *name, const char *text, char *file)
{
    if (!ykd_test_mkdtemp(t, tmp, 4096))
        return false;
    for (int i = 0; i < count; i++) {
        char path[4096];
        write_png(t, fx_path(path, "%s/%s", tmp, specs[i].path), specs[i].w, specs[i].h);
    }
    if (name)
        fx_write_text(t, fx_path(file, "%s/%s", tmp, name), text);
    return true;
}

/* The label file of image stem in either split: its text, or NULL when there is none. */
static char *label_of(const char *out, const char *stem, const char **split)
{
    static const char *const splits[] = {"train", "val"};
    for (int s = 0; s < 2; s++) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/labels/%s/%s.txt", out, splits[s], stem);
        FILE *f = len > 0 && (size_t)len < sizeof path ? fopen(path, "rb") : NULL;
        if (!f)
            continue;
        char *text = calloc(1, 1 << 16);
        size_t n = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
        (void)n;
        fclose(f);
        if (split)
            *split = splits[s];
        return text;
    }
    return NULL;
}

static void expect_label(ykd_test *t, const char *out, const char *stem, const char *want)
{
    char *got = label_of(out, stem, NULL);
    CHECKF(t, got && strcmp(got, want) == 0, "%s.txt: '%s', expected '%s'", stem,
           got ? got : "(none)", want);
    free(got);
}

/* The converter's output names a fault: "warning: " and the text formatted printf-style. */
static void expect_warning(ykd_test *t, const char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_warning(ykd_test *t, const char *out, const char *fmt, ...)
{
    char want[8192] = "warning: ";
    va_list args;
    va_start(args, fmt);
    vsnprintf(want + strlen(want), sizeof want - strlen(want), fmt, args);
    va_end(args);
    CHECK_CONTAINS(t, out, want);
}

static void expect_strict_check(ykd_test *t, const char *out)
{
    run_result r = run_cli("check-data", "--data", out, "--strict", NULL);
    CHECKF(t, r.code == 0, "check-data --strict %s: exit %d: %s", out, r.code, r.err);
    CHECK_CONTAINS(t, r.out, "ok: no faults");
    free_result(&r);
}

static const char voc_a[] =
    "<annotation>\n"
    "  <folder>VOC2012</folder>\n"
    "  <filename>a.png</filename>\n"
    "  <size><width>40</width><height>30</height><depth>3</depth></size>\n"
    "  <object>\n"
    "    <name>dog</name><difficult>0</difficult>\n"
    "    <bndbox><xmin>11</xmin><ymin>6</ymin><xmax>30</xmax><ymax>25</ymax></bndbox>\n"
    "  </object>\n"
    "  <object>\n" /* line 9: difficult, left out */
    "    <name>cat</name><difficult>1</difficult>\n"
    "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>\n"
    "  </object>\n"
    "</annotation>\n";

static const char voc_b[] =
    "<?xml version=\"1.0\"?>\n"
    "<annotation>\n"
    "  <filename>b.png</filename>\n"
    "  <size><width>20</width><height>20</height></size>\n"
    "  <object>\n"
    "    <name>person</name>\n"
    "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>21</xmax><ymax>21</ymax></bndbox>\n"
    "    <part><name>head</name>\n"
    "      <bndbox><xmin>2</xmin><ymin>2</ymin><xmax>6</xmax><ymax>6</ymax></bndbox></part>\n"
    "  </object>\n"
    "  <object>\n" /* line 11: beyond the image by far */
    "    <name>person</name>\n"
    "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>90</xmax><ymax>9</ymax></bndbox>\n"
    "  </object>\n"
    "  <object>\n" /* line 15: not a number */
    "    <name>dog</name>\n"
    "    <bndbox><xmin>one</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>\n"
    "  </object>\n"
    "</annotation>\n";

static void test_convert_voc(ykd_test *t)
{
    static const png_spec images[] = {{"VOC2012/JPEGImages/a.png", 40, 30},
                                      {"VOC2012/JPEGImages/b.png", 20, 20},
                                      {"VOC2012/JPEGImages/c.png", 16, 16}};
    char tmp[4096], ann[4096], out[4096], path[4096];
    if (!make_source(t, tmp, images, 3, NULL, NULL, NULL))
        return;
    fx_path(ann, "%s/VOC2012/Annotations", tmp);
    fx_path(out, "%s/voc-yolo", tmp);
    fx_write_text(t, fx_path(path, "%s/a.xml", ann), voc_a);
    fx_write_text(t, fx_path(path, "%s/b.xml", ann), voc_b);
    fx_write_text(t, fx_path(path, "%s/c.xml", ann),
                  "<annotation><filename>c.png</filename></annotation>\n");
    fx_write_text(t, fx_path(path, "%s/d.xml", ann),
                  "<annotation>\n<filename>d.png</filename>\n<object><name>x</nme>\n");
    fx_write_text(t, fx_path(path, "%s/e.xml", ann),
                  "<annotation><filename>missing.png</filename></annotation>\n");
    fx_write_text(t, fx_path(path, "%s/readme.txt", ann), "not an annotation\n");
    /* strict: the first fault (b.xml's object at line 15) stops it, and nothing is written */
    run_result r = run_cli("convert", "--voc", ann, "--out", out, "--strict", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "b.xml:15: object 'dog': xmin 'one' is not a number");
    free_result(&r);
    CHECK(t, label_of(out, "a", NULL) == NULL);
    r = run_cli("convert", "--voc", ann, "--out", out, "--val", "0.5", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "4 images annotated, 2 classes");
    CHECK_CONTAINS(t, r.out, "classes: 0 dog, 1 person");
    CHECK_CONTAINS(t, r.out, "1 difficult objects");
    expect_warning(t, r.out, "%s/b.xml:11: box (0, 0)-(89, 8) is outside", ann);
    expect_warning(t, r.out, "%s/b.xml:15: object 'dog': xmin 'one' is not a number", ann);
    expect_warning(t, r.out, "%s/d.xml:3: not valid XML: mismatched tag", ann);
    expect_warning(t, r.out, "%s/../JPEGImages/missing.png: cannot open", ann);
    free_result(&r);
    /* VOC's 1-based corners shifted by one: (10, 5)-(29, 24) of 40x30 */
    expect_label(t, out, "a", "0 0.487500 0.483333 0.475000 0.633333\n");
    expect_label(t, out, "b", "1 0.500000 0.500000 1.000000 1.000000\n"); /* clipped by 1 */
    expect_label(t, out, "c", "");
    ykd_data_config c;
    ykd_error err;
    if (CHECK_OK(t, ykd_data_config_load(out, &c, &err), err)) {
        CHECK(t, c.class_count == 2 && strcmp(c.names[1], "person") == 0);
        ykd_data_config_free(&c);
    }
    expect_strict_check(t, out);
    /* --names fixes the order; a name outside it is a fault; out must not exist */
    r = run_cli("convert", "--voc", ann, "--out", out, NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "already exists");
    free_result(&r);
    fx_path(out, "%s/voc-named", tmp);
    r = run_cli("convert", "--voc", ann, "--out", out, "--names", "person,cat",
                "--keep-difficult", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "a.xml:5: class 'dog' is not one of --names");
    free_result(&r);
    expect_label(t, out, "a", "1 0.050000 0.066667 0.100000 0.133333\n"); /* (0,0)-(4,4) */
    expect_strict_check(t, out);
    ykd_test_rmtree(tmp);
}

static const char coco_json[] =
    "{\"info\": {}, \"categories\": [{\"id\": 3, \"name\": \"zebra\"},"
    " {\"id\": 1, \"name\": \"cat\", \"supercategory\": \"animal\"}],\n"
    " \"images\": [{\"id\": 10, \"file_name\": \"x.png\", \"width\": 50,"
    " \"height\": 40}, {\"id\": 11, \"file_name\": \"y.png\", \"width\": 30,"
    " \"height\": 30}, {\"id\": 12, \"file_name\": \"z.png\", \"width\": 31,"
    " \"height\": 30}],\n"
    " \"annotations\": ["
    "{\"id\": 1, \"image_id\": 10, \"category_id\": 1, \"bbox\": [5, 5, 10, 20],"
    " \"iscrowd\": 0, \"area\": 200},"
    "{\"id\": 2, \"image_id\": 11, \"category_id\": 3, \"bbox\": [0, 0, 30, 15]},"
    "{\"id\": 3, \"image_id\": 11, \"category_id\": 3, \"bbox\": [0, 0, 30, 30],"
    " \"iscrowd\": 1},"
    "{\"id\": 4, \"image_id\": 11, \"category_id\": 7, \"bbox\": [1, 1, 2, 2]},"
    "{\"id\": 5, \"image_id\": 10, \"category_id\": 1, \"bbox\": [5, 5, 10]},"
    "{\"id\": 6, \"image_id\": 10, \"category_id\": 1, \"bbox\": [5, 5, 10, 20]}"
    "]}\n";

static void test_convert_coco(ykd_test *t)
{
    static const png_spec images[] = {
        {"images/x.png", 50, 40}, {"images/y.png", 30, 30}, {"images/z.png", 30, 30}};
    char tmp[4096], json[4096], out[4096], path[4096];
    if (!make_source(t, tmp, images, 3, "annotations/instances_val.json", coco_json, json))
        return;
    fx_path(out, "%s/coco-yolo", tmp);
    fx_path(path, "%s/images", tmp);
    run_result r = run_cli("convert", "--coco", json, "--images", path, "--out", out, "--val",
                           "0", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "classes: 0 cat, 1 zebra"); /* in the order of the ids */
    CHECK_CONTAINS(t, r.out, "1 crowd annotations");
    CHECK_CONTAINS(t, r.out, "instances_val.json: annotation 3 (id 4): its category_id is not in");
    CHECK_CONTAINS(t, r.out, "annotation 4 (id 5): its bbox is not 4 numbers");
    CHECK_CONTAINS(t, r.out, "instances_val.json: the same box as another of 'x.png'");
    CHECK_CONTAINS(t, r.out, "'z.png' is annotated as 31x30 but the image is 30x30");
    CHECK_CONTAINS(t, r.out, "train: 2 images, 2 boxes");
    free_result(&r);
    expect_label(t, out, "x", "0 0.200000 0.375000 0.200000 0.500000\n");
    expect_label(t, out, "y", "1 0.500000 0.250000 1.000000 0.500000\n");
    expect_strict_check(t, out);
    /* not JSON: the line is named */
    fx_write_text(t, json, "{\"categories\": [\n  {\"id\": 1,}\n]}\n");
    fx_path(out, "%s/coco-bad", tmp);
    r = run_cli("convert", "--coco", json, "--images", path, "--out", out, NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "instances_val.json:2: not valid JSON");
    free_result(&r);
    ykd_test_rmtree(tmp);
}

static const char boxes_csv[] =
    "\xEF\xBB\xBFimage,x1,y1,x2,y2,label\n"
    "\"a,b.png\",0,0,10,10,\"tree, big\"\n"
    "\"a,b.png\",10,0,20,10,car\r\n"
    "sub/c.png, 1 , 1 , 9 , 9 ,car\n"
    "sub/c.png,1,1,nine,9,car\n"
    "\n"
    "bg.png,,,,,\n"
    "sub/c.png,1,1,9\n"
    "\"sub/c.png\",2,2,8,8,\"say \"\"hi\"\"\"\n"
    "nothere.png,1,1,2,2,car\n";

static void test_convert_csv(ykd_test *t)
{
    static const png_spec images[] = {{"a,b.png", 20, 10}, {"sub/c.png", 10, 10},
                                      {"bg.png", 10, 10}};
    char tmp[4096], csv[4096], out[4096];
    if (!make_source(t, tmp, images, 3, "boxes.csv", boxes_csv, csv))
        return;
    fx_path(out, "%s/csv-yolo", tmp);
    /* a class name a dataset file cannot hold is refused before anything is written */
    char bad[4096];
    fx_write_text(t, fx_path(bad, "%s/bad.csv", tmp), "bg.png,1,1,5,5,\"tab\there\"\n");
    run_result r = run_cli("convert", "--csv", bad, "--out", out, NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "bad.csv: class 0's name has a control character");
    free_result(&r);
    r = run_cli("convert", "--csv", csv, "--out", out, "--val", "0", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "classes: 0 car, 1 say \"hi\", 2 tree, big");
    expect_warning(t, r.out, "%s:5: x2 'nine' is not a number", csv);
    expect_warning(t, r.out, "%s:8: 4 fields, expected 6", csv);
    expect_warning(t, r.out, "%s/nothere.png: cannot open", tmp);
    CHECK_CONTAINS(t, r.out, "train: 3 images, 4 boxes");
    free_result(&r);
    expect_label(t, out, "a,b", "0 0.750000 0.500000 0.500000 1.000000\n"
                                "2 0.250000 0.500000 0.500000 1.000000\n");
    expect_label(t, out, "c", "0 0.500000 0.500000 0.800000 0.800000\n"
                              "1 0.500000 0.500000 0.600000 0.600000\n");
    expect_label(t, out, "bg", "");
    expect_strict_check(t, out);
    ykd_test_rmtree(tmp);
}

/* Tile positions from the written names (NAME_xX_yY.png) of a split. */
static int tiles_of(const char *out, const char *split, int xy[][2], int max)
{
    char dir[4096];
    int len = snprintf(dir, sizeof dir, "%s/images/%s", out, split);
    DIR *d = len > 0 && (size_t)len < sizeof dir ? opendir(dir) : NULL;
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (n < max && sscanf(e->d_name, "big_x%d_y%d.png", &xy[n][0], &xy[n][1]) == 2)
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_convert_tiles(ykd_test *t)
{
    char tmp[4096], csv[4096], out[4096], path[4096];
    if (!ykd_test_mkdtemp(t, tmp, sizeof tmp))
        return;
    write_png(t, fx_path(path, "%s/big.png", tmp), 100, 80);
    fx_path(csv, "%s/boxes.csv", tmp);
    /* box 1 straddles x = 32 (tile 0 keeps 2 px of it: a sliver); box 2 straddles the val
     * band at row 60; box 3 is large and cut by most tiles */
    fx_write_text(t, csv,
                  "big.png,30,10,40,20,a\n"
                  "big.png,80,50,90,70,b\n"
                  "big.png,5,30,95,58,c\n");
    fx_path(out, "%s/tiles", tmp);
    run_result r = run_cli("convert", "--csv", csv, "--out", out, "--tile", "32", "--overlap",
                           "0.25", "--val", "0.25", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "train: 12 tiles");
    CHECK_CONTAINS(t, r.out, "val: 4 tiles");
    free_result(&r);
    int train[32][2], val[32][2];
    int nt = tiles_of(out, "train", train, 32), nv = tiles_of(out, "val", val, 32);
    CHECK(t, nt == 12 && nv == 4);
    /* train tiles lie in rows [0, 60), val tiles in [60, 80): none overlaps another split's */
    for (int i = 0; i < nt; i++)
        CHECKF(t, train[i][1] + 32 <= 60, "train tile at y %d reaches the val band", train[i][1]);
    for (int i = 0; i < nv; i++)
        CHECKF(t, val[i][1] == 60, "val tile at y %d", val[i][1]);
    /* x starts 0, 24, 48, 68 (the last flush with the edge); y starts 0, 24, 28 */
    expect_label(t, out, "big_x0_y0", "");  /* box 1 keeps 2x10 px there: dropped */
    expect_label(t, out, "big_x24_y0", "0 0.343750 0.468750 0.312500 0.312500\n");
    /* box 2: rows 50..60 in train tile (68, 28) (10 of 20 rows: kept, 50% >= 30%), rows
     * 60..70 in the val tile (68, 60) (20 rows high); box 3 keeps 27 of its 90 columns
     * there, 30%: kept */
    expect_label(t, out, "big_x68_y28",
                 "1 0.531250 0.843750 0.312500 0.312500\n"
                 "2 0.421875 0.500000 0.843750 0.875000\n");
    expect_label(t, out, "big_x68_y60", "1 0.531250 0.250000 0.312500 0.500000\n");
    ykd_image img;
    ykd_error err;
    fx_path(path, "%s/images/val/big_x68_y60.png", out);
    if (CHECK_OK(t, ykd_image_read(path, 0, &img, &err), err)) {
        CHECK(t, img.width == 32 && img.height == 20);
        ykd_image_free(&img);
    }
    expect_strict_check(t, out);
    ykd_test_rmtree(tmp);
}

static void test_convert_usage(ykd_test *t)
{
    run_result r = run_cli("convert", "--out", "/tmp/x", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "give one input");
    free_result(&r);
    r = run_cli("convert", "--csv", "a.csv", "--voc", "b", "--out", "/tmp/x", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
    r = run_cli("convert", "--csv", "a.csv", "--out", "/tmp/x", "--overlap", "1", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
    r = run_cli("convert", "--csv", "/nonexistent/yolokd.csv", "--out", "/tmp/yolokd-never",
                NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "cannot open '/nonexistent/yolokd.csv'");
    free_result(&r);
    r = run_cli("convert", "--help", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "--tile S");
    free_result(&r);
}

static const ykd_test_case cases[] = {
    {"convert: Pascal VOC", test_convert_voc, YKD_TEST_HOST},
    {"convert: COCO instances", test_convert_coco, YKD_TEST_HOST},
    {"convert: CSV of boxes", test_convert_csv, YKD_TEST_HOST},
    {"convert: tiles, slivers, train and val bands", test_convert_tiles, YKD_TEST_HOST},
    {"convert: usage", test_convert_usage, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
