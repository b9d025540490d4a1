/* Letterbox, flip, scale/translate, mosaic and HSV against hand-computed values, and the
 * training sample pipeline's determinism: same seed, same sample; another seed, another. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_fixtures.h"
#include "harness.h"
#include "yolokd/data.h"

static bool pixel_is(const ykd_image *img, int x, int y, const uint8_t rgb[3])
{
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    return p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
}

static const uint8_t pad[3] = {114, 114, 114};

static void solid(ykd_test *t, ykd_image *img, int w, int h, const uint8_t rgb[3])
{
    ykd_error err;
    CHECK_OK(t, ykd_image_init(img, w, h, 0, &err), err);
    for (size_t i = 0; i < (size_t)w * h; i++)
        memcpy(img->pixels + 3 * i, rgb, 3);
}

static bool near(float a, float b)
{
    return fabsf(a - b) < 1e-5f;
}

static bool box_is(const ykd_pixel_box *b, float x1, float y1, float x2, float y2)
{
    return near(b->x1, x1) && near(b->y1, y1) && near(b->x2, x2) && near(b->y2, y2);
}

/* 200x100 into 100: scale 0.5, 100x50 inside, 25 rows of gray above and below. */
static void test_letterbox_hand_values(ykd_test *t)
{
    const uint8_t c[3] = {10, 20, 30};
    ykd_image src, dst;
    ykd_error err;
    solid(t, &src, 200, 100, c);
    ykd_box boxes[2] = {{0, 0.5f, 0.5f, 0.5f, 0.5f}, {1, 0.1f, 0.2f, 0.2f, 0.4f}};
    ykd_letterbox_info li;
    if (CHECK_OK(t, ykd_letterbox(&src, 100, boxes, 2, &dst, &li, &err), err)) {
        CHECK(t, dst.width == 100 && dst.height == 100);
        CHECK(t, li.scale_x == 0.5f && li.scale_y == 0.5f && li.pad_x == 0 && li.pad_y == 25);
        CHECK(t, li.inner_w == 100 && li.inner_h == 50);
        CHECK(t, pixel_is(&dst, 50, 24, pad) && pixel_is(&dst, 50, 25, c));
        CHECK(t, pixel_is(&dst, 0, 74, c) && pixel_is(&dst, 99, 75, pad));
        CHECK(t, near(boxes[0].cx, 0.5f) && near(boxes[0].cy, 0.5f) && near(boxes[0].w, 0.5f) &&
                     near(boxes[0].h, 0.25f));
        /* cy = (0.2 * 50 + 25) / 100 */
        CHECK(t, near(boxes[1].cx, 0.1f) && near(boxes[1].cy, 0.35f) && near(boxes[1].w, 0.2f) &&
                     near(boxes[1].h, 0.2f));
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
    /* 30x20 into 64: 64x43 (42.67 rounded), 10 rows above (21 / 2 rounded down) */
    solid(t, &src, 30, 20, c);
    ykd_box full = {0, 0.5f, 0.5f, 1.0f, 1.0f};
    if (CHECK_OK(t, ykd_letterbox(&src, 64, &full, 1, &dst, &li, &err), err)) {
        CHECK(t, li.inner_w == 64 && li.inner_h == 43 && li.pad_x == 0 && li.pad_y == 10);
        CHECK(t, pixel_is(&dst, 3, 9, pad) && pixel_is(&dst, 3, 10, c) &&
                     pixel_is(&dst, 3, 52, c) && pixel_is(&dst, 3, 53, pad));
        CHECK(t, near(full.cy, 31.5f / 64) && near(full.h, 43.0f / 64) && near(full.w, 1.0f));
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
    /* already the right size: untouched */
    CHECK_OK(t, ykd_image_init(&src, 16, 16, 0, &err), err);
    fx_pattern(&src);
    if (CHECK_OK(t, ykd_letterbox(&src, 16, NULL, 0, &dst, NULL, &err), err)) {
        CHECK(t, memcmp(src.pixels, dst.pixels, 16 * 16 * 3) == 0);
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
}

static void test_flip_hand_values(ykd_test *t)
{
    ykd_image img, orig;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&img, 10, 4, 0, &err), err);
    CHECK_OK(t, ykd_image_init(&orig, 10, 4, 0, &err), err);
    fx_pattern(&img);
    fx_pattern(&orig);
    ykd_pixel_box b = {3, 1, 0, 3, 2};
    ykd_flip_lr(&img, &b, 1);
    CHECK(t, box_is(&b, 7, 0, 9, 2) && b.cls == 3);
    int wrong = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 10; x++)
            wrong += !pixel_is(&img, x, y, orig.pixels + ((size_t)y * 10 + 9 - x) * 3);
    CHECK(t, wrong == 0);
    ykd_flip_lr(&img, &b, 1);
    CHECK(t, box_is(&b, 1, 0, 3, 2) && memcmp(img.pixels, orig.pixels, 120) == 0);
    ykd_image_free(&img);
    ykd_image_free(&orig);
}

/* x' = s (x - 50) + t on a 100x100 source. */
static void test_affine_hand_values(ykd_test *t)
{
    const uint8_t c[3] = {200, 0, 0};
    ykd_image src, dst;
    ykd_error err;
    solid(t, &src, 100, 100, c);
    ykd_pixel_box boxes[3] = {{0, 20, 20, 60, 60}, {1, 0, 0, 100, 100}, {2, 0, 0, 4, 100}};
    size_t count = 3;
    if (CHECK_OK(t, ykd_affine_apply(&src, 100, 0.5f, 50, 50, boxes, &count, &dst, &err), err)) {
        /* the source lands on [25, 75)^2; pixel 74's centre maps to 99, pixel 75's to 101 */
        CHECK(t, pixel_is(&dst, 24, 50, pad) && pixel_is(&dst, 25, 50, c));
        CHECK(t, pixel_is(&dst, 74, 74, c) && pixel_is(&dst, 75, 74, pad));
        /* the third box is 2 px wide after scaling: not over 2 px, dropped */
        CHECK(t, count == 2);
        CHECK(t, box_is(&boxes[0], 35, 35, 55, 55) && boxes[0].cls == 0);
        CHECK(t, box_is(&boxes[1], 25, 25, 75, 75) && boxes[1].cls == 1);
        ykd_image_free(&dst);
    }
    /* doubled: boxes leave the image and are clipped, or dropped by the area rule */
    ykd_pixel_box more[4] = {{0, 60, 40, 90, 60},  /* x 70..130: clipped to 70..100, kept */
                             {1, 70, 40, 98, 60},  /* x 90..146: 10 of 56 wide (0.18), kept */
                             {2, 73, 10, 99, 90},  /* x 96..148: 4 of 52 wide (0.077), dropped */
                             {3, 74, 40, 99, 60}}; /* x 98..148: 2 px wide, dropped */
    count = 4;
    if (CHECK_OK(t, ykd_affine_apply(&src, 100, 2.0f, 50, 50, more, &count, &dst, &err), err)) {
        CHECK(t, count == 2);
        CHECK(t, box_is(&more[0], 70, 30, 100, 70) && more[0].cls == 0);
        CHECK(t, box_is(&more[1], 90, 30, 100, 70) && more[1].cls == 1);
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
    /* a sliver: 310 x 2.5 px has an aspect ratio of 124, over 100 */
    solid(t, &src, 400, 400, c);
    ykd_pixel_box sliver = {0, 10, 100, 320, 102.5f};
    count = 1;
    if (CHECK_OK(t, ykd_affine_apply(&src, 400, 1.0f, 200, 200, &sliver, &count, &dst, &err),
                 err)) {
        CHECK(t, count == 0);
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
}

/* The random version stays in its ranges and is a function of its seed. */
static void test_affine_random_ranges(ykd_test *t)
{
    ykd_image src, a, b;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&src, 100, 100, 0, &err), err);
    fx_pattern(&src);
    int distinct = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        ykd_pixel_box ba = {0, 40, 40, 60, 60}, bb = ba;
        size_t na = 1, nb = 1;
        CHECK_OK(t, ykd_augment_affine(&src, 100, 0.5f, 0.1f, seed, &ba, &na, &a, &err), err);
        CHECK_OK(t, ykd_augment_affine(&src, 100, 0.5f, 0.1f, seed, &bb, &nb, &b, &err), err);
        CHECK(t, na == 1 && nb == 1 && memcmp(&ba, &bb, sizeof ba) == 0);
        CHECK(t, memcmp(a.pixels, b.pixels, 100 * 100 * 3) == 0);
        float w = ba.x2 - ba.x1, cx = (ba.x1 + ba.x2) / 2, cy = (ba.y1 + ba.y2) / 2;
        CHECKF(t, w >= 10 && w <= 30 && cx >= 40 && cx <= 60 && cy >= 40 && cy <= 60,
               "seed %llu: width %g centre %g,%g", (unsigned long long)seed, w, cx, cy);
        ykd_image_free(&b);
        ykd_pixel_box bc = {0, 40, 40, 60, 60};
        size_t nc = 1;
        CHECK_OK(t, ykd_augment_affine(&src, 100, 0.5f, 0.1f, seed + 1000, &bc, &nc, &b, &err),
                 err);
        distinct += memcmp(a.pixels, b.pixels, 100 * 100 * 3) != 0;
        ykd_image_free(&a);
        ykd_image_free(&b);
    }
    CHECK(t, distinct == 20);
    ykd_image_free(&src);
}

/* Four images of different sizes around (120, 90) on a 200x200 canvas (size 100). */
static void test_mosaic_hand_values(ykd_test *t)
{
    const uint8_t c[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}};
    ykd_image imgs[4], canvas;
    solid(t, &imgs[0], 100, 60, c[0]);  /* at (20, 30): x 20..120, y 30..90 */
    solid(t, &imgs[1], 80, 100, c[1]);  /* at (120, -10): x 120..200, y 0..90 (cut) */
    solid(t, &imgs[2], 100, 100, c[2]); /* at (20, 90): x 20..120, y 90..190 */
    solid(t, &imgs[3], 50, 40, c[3]);   /* at (120, 90): x 120..170, y 90..130 */
    ykd_pixel_box b0[1] = {{0, 10, 10, 50, 50}};
    ykd_pixel_box b1[2] = {{1, 0, 0, 40, 20}, {2, 0, 0, 40, 8}};
    ykd_pixel_box b3[1] = {{3, 40, 30, 50, 40}};
    const ykd_pixel_box *const boxes[4] = {b0, b1, NULL, b3};
    const size_t counts[4] = {1, 2, 0, 1};
    ykd_pixel_box out[4];
    size_t n = 0;
    ykd_error err;
    if (CHECK_OK(t, ykd_mosaic_apply(imgs, 100, 120, 90, boxes, counts, &canvas, out, &n, &err),
                 err)) {
        CHECK(t, canvas.width == 200 && canvas.height == 200);
        CHECK(t, pixel_is(&canvas, 19, 50, pad) && pixel_is(&canvas, 20, 30, c[0]));
        CHECK(t, pixel_is(&canvas, 119, 89, c[0]) && pixel_is(&canvas, 50, 29, pad));
        CHECK(t, pixel_is(&canvas, 120, 0, c[1]) && pixel_is(&canvas, 199, 89, c[1]));
        CHECK(t, pixel_is(&canvas, 20, 90, c[2]) && pixel_is(&canvas, 119, 189, c[2]));
        CHECK(t, pixel_is(&canvas, 50, 190, pad));
        CHECK(t, pixel_is(&canvas, 169, 129, c[3]) && pixel_is(&canvas, 170, 100, pad) &&
                     pixel_is(&canvas, 169, 130, pad));
        /* shifted by each image's corner; the second box of image 1 lies above the canvas */
        CHECK(t, n == 3);
        CHECK(t, box_is(&out[0], 30, 40, 70, 80) && out[0].cls == 0);
        CHECK(t, box_is(&out[1], 120, 0, 160, 10) && out[1].cls == 1);
        CHECK(t, box_is(&out[2], 160, 120, 170, 130) && out[2].cls == 3);
        ykd_image_free(&canvas);
    }
    for (int k = 0; k < 4; k++)
        ykd_image_free(&imgs[k]);
    for (uint64_t seed = 0; seed < 50; seed++) {
        int xc, yc, xc2, yc2;
        ykd_mosaic_center(100, seed, &xc, &yc);
        ykd_mosaic_center(100, seed, &xc2, &yc2);
        CHECK(t, xc == xc2 && yc == yc2 && xc >= 50 && xc < 150 && yc >= 50 && yc < 150);
    }
}

static void test_hsv(ykd_test *t)
{
    ykd_image img, copy;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&img, 3, 1, 0, &err), err);
    CHECK_OK(t, ykd_image_init(&copy, 3, 1, 0, &err), err);
    int gains_seen = 0, last_a = -1;
    for (uint64_t seed = 0; seed < 30; seed++) {
        const uint8_t start[9] = {100, 100, 100, 200, 200, 200, 0, 255, 0};
        memcpy(img.pixels, start, 9);
        ykd_augment_hsv(&img, 0.015f, 0.7f, 0.4f, seed);
        const uint8_t *p = img.pixels;
        /* grays stay gray, both scaled by one value gain in [0.6, 1.4] (capped at 255) */
        CHECK(t, p[0] == p[1] && p[1] == p[2] && p[3] == p[4] && p[4] == p[5]);
        int twice = 2 * p[0] > 255 ? 255 : 2 * p[0];
        CHECKF(t, p[0] >= 59 && p[0] <= 140 && abs(p[3] - twice) <= 2,
               "seed %llu: 100 -> %d, 200 -> %d", (unsigned long long)seed, p[0], p[3]);
        /* green's hue (60 of 180) moves by at most 1.5%: green stays the largest channel */
        CHECK(t, p[7] >= p[6] && p[7] >= p[8]);
        gains_seen += p[0] != last_a;
        last_a = p[0];
        memcpy(copy.pixels, start, 9);
        ykd_augment_hsv(&copy, 0.015f, 0.7f, 0.4f, seed);
        CHECK(t, memcmp(copy.pixels, img.pixels, 9) == 0);
    }
    CHECK(t, gains_seen > 10);
    /* all gains zero: the image is left exactly as it was */
    ykd_image_free(&img);
    CHECK_OK(t, ykd_image_init(&img, 16, 16, 0, &err), err);
    fx_pattern(&img);
    ykd_image_free(&copy);
    CHECK_OK(t, ykd_image_init(&copy, 16, 16, 0, &err), err);
    fx_pattern(&copy);
    ykd_augment_hsv(&img, 0, 0, 0, 7);
    CHECK(t, memcmp(img.pixels, copy.pixels, 16 * 16 * 3) == 0);
    ykd_image_free(&img);
    ykd_image_free(&copy);
}

static void test_sample_seeds(ykd_test *t)
{
    uint64_t s[5] = {ykd_sample_seed(0, 0, 0), ykd_sample_seed(0, 0, 1), ykd_sample_seed(0, 1, 0),
                     ykd_sample_seed(1, 0, 0), ykd_sample_seed(1, 1, 1)};
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            CHECK(t, s[i] != s[j]);
    /* pinned: a saved run replays only while this value stays what it was when recorded */
    CHECKF(t,
           s[0] == ykd_sample_seed(0, 0, 0) && ykd_sample_seed(42, 3, 17) == 0xfd5299b135cafe76ULL,
           "seed(42, 3, 17) = 0x%016llx", (unsigned long long)ykd_sample_seed(42, 3, 17));
}

/* A dataset of four pattern images with boxes, for the sample pipeline. */
static bool small_dataset(ykd_test *t, const char *root)
{
    static const char *const names[] = {"p", "q"};
    if (!fx_dataset(t, root, names, 2))
        return false;
    ykd_image img;
    ykd_error err;
    char path[4096];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(t, ykd_image_init(&img, 40 + 10 * i, 30 + 5 * i, 0, &err), err);
        fx_pattern(&img);
        CHECK_OK(t, ykd_png_write(fx_path(path, "%s/images/train/%d.png", root, i), &img, &err),
                 err);
        ykd_image_free(&img);
        fx_write_text(t, fx_path(path, "%s/labels/train/%d.txt", root, i),
                      "0 0.3 0.4 0.4 0.5\n1 0.7 0.7 0.2 0.3\n");
    }
    return true;
}

static void test_sample_pipeline(ykd_test *t)
{
    char root[4096];
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!ykd_test_mkdtemp(t, root, sizeof root) || !small_dataset(t, root) ||
        !CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), err))
        return;
    ykd_augment_options aug;
    ykd_augment_options_default(&aug);
    ykd_image a, b, lb, src;
    ykd_box *ba = NULL, *bb = NULL;
    size_t na = 0, nb = 0;
    /* no augmentation: exactly the letterbox */
    CHECK_OK(t, ykd_sample_build(ds, 2, 64, false, false, &aug, 1, &a, &ba, &na, &err), err);
    CHECK_OK(t, ykd_dataset_load_image(ds, 2, &src, &err), err);
    size_t n = 0;
    ykd_box boxes[2];
    memcpy(boxes, ykd_dataset_labels(ds, 2, &n), sizeof boxes);
    CHECK_OK(t, ykd_letterbox(&src, 64, boxes, 2, &lb, NULL, &err), err);
    CHECK(t, na == 2 && memcmp(a.pixels, lb.pixels, 64 * 64 * 3) == 0);
    CHECK(t, na == 2 && near(ba[0].cx, boxes[0].cx) && near(ba[1].h, boxes[1].h));
    free(ba);
    ykd_image_free(&a);
    /* every augmentation at zero but a certain flip: the letterbox, mirrored */
    ykd_augment_options flip = {0, 0, 0, 1.0f, 0, 0, 0};
    CHECK_OK(t, ykd_sample_build(ds, 2, 64, true, true, &flip, 9, &a, &ba, &na, &err), err);
    ykd_pixel_box none[1];
    ykd_flip_lr(&lb, none, 0);
    CHECK(t, na == 2 && memcmp(a.pixels, lb.pixels, 64 * 64 * 3) == 0);
    CHECK(t, na == 2 && near(ba[0].cx, 1 - boxes[0].cx) && near(ba[0].cy, boxes[0].cy));
    free(ba);
    ykd_image_free(&a);
    ykd_image_free(&lb);
    ykd_image_free(&src);
    /* the full pipeline (mosaic included): a function of the seed */
    int differ = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        CHECK_OK(t, ykd_sample_build(ds, 1, 64, true, true, &aug, seed, &a, &ba, &na, &err), err);
        CHECK_OK(t, ykd_sample_build(ds, 1, 64, true, true, &aug, seed, &b, &bb, &nb, &err), err);
        CHECK(t, na == nb && memcmp(a.pixels, b.pixels, 64 * 64 * 3) == 0);
        CHECK(t, na == nb && (na == 0 || memcmp(ba, bb, na * sizeof *ba) == 0));
        for (size_t i = 0; i < na; i++)
            CHECK(t, ba[i].cx - ba[i].w / 2 >= -1e-6f && ba[i].cx + ba[i].w / 2 <= 1 + 1e-6f &&
                         ba[i].w * 64 > 2 && ba[i].h * 64 > 2);
        free(bb);
        ykd_image_free(&b);
        CHECK_OK(t, ykd_sample_build(ds, 1, 64, true, true, &aug, seed + 100, &b, &bb, &nb, &err),
                 err);
        differ += memcmp(a.pixels, b.pixels, 64 * 64 * 3) != 0;
        free(ba);
        free(bb);
        ykd_image_free(&a);
        ykd_image_free(&b);
    }
    CHECK(t, differ == 8);
    ykd_dataset_close(ds);
    ykd_test_rmtree(root);
}

static const ykd_test_case cases[] = {
    {"letterbox: pixels and boxes by hand", test_letterbox_hand_values, YKD_TEST_HOST},
    {"flip: pixels and boxes by hand", test_flip_hand_values, YKD_TEST_HOST},
    {"affine: scale, translate, clip and drop by hand", test_affine_hand_values, YKD_TEST_HOST},
    {"affine: random ranges and determinism", test_affine_random_ranges, YKD_TEST_HOST},
    {"mosaic: placement, clipping, dropping by hand", test_mosaic_hand_values, YKD_TEST_HOST},
    {"hsv: gains on gray and colour, determinism", test_hsv, YKD_TEST_HOST},
    {"sample seeds: distinct and fixed", test_sample_seeds, YKD_TEST_HOST},
    {"sample: letterbox, flip, seeded pipeline", test_sample_pipeline, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
