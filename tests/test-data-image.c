/* Image decoding and encoding: every PNG colour type and depth, JPEG gray and RGB, and every
 * kind of bad file (truncated, bad CRC, wrong magic, absurd size, CMYK, cut JPEG, random
 * damage), from bytes the tests make; bilinear resize against hand-computed values. */
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "data_fixtures.h"
#include "harness.h"
#include "ref/ref.h"
#include "yolokd/data.h"

static bool pixel_is(const ykd_image *img, int x, int y, int r, int g, int b)
{
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    return p[0] == r && p[1] == g && p[2] == b;
}

/* Decodes PNG bytes and checks every pixel against expected RGB triples. */
static void check_png_pixels(ykd_test *t, const char *what, const uint8_t *png, size_t size, int w,
                             int h, const uint8_t *expected)
{
    ykd_image img;
    ykd_error err;
    if (!CHECK_OK(t, ykd_png_decode(png, size, what, 0, &img, &err), err))
        return;
    CHECKF(t, img.width == w && img.height == h, "%s: %dx%d", what, img.width, img.height);
    int wrong = 0;
    for (int i = 0; i < w * h * 3 && img.width == w && img.height == h; i++)
        wrong += img.pixels[i] != expected[i];
    CHECKF(t, wrong == 0, "%s: %d wrong channel values", what, wrong);
    ykd_image_free(&img);
}

/* 8-bit gray at depths 1, 2, 4, 8 and 16: samples spread over the range, gray to RGB. */
static void test_png_gray_depths(ykd_test *t)
{
    static const int depths[] = {1, 2, 4, 8, 16};
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        int depth = depths[d], w = 5, h = 3, max = (1 << depth) - 1;
        uint16_t samples[15];
        uint8_t expected[45];
        for (int i = 0; i < w * h; i++) {
            samples[i] = (uint16_t)((i * 4099 + 7) % (max + 1));
            /* libpng expands low depths by bit replication and scales 16 bits with rounding:
             * both equal round(v * 255 / max) */
            uint8_t v = (uint8_t)lround(samples[i] * 255.0 / max);
            memset(expected + 3 * i, v, 3);
        }
        size_t size = 0;
        uint8_t *png =
            fx_png(t, PNG_COLOR_TYPE_GRAY, depth, w, h, samples, NULL, 0, NULL, false, &size);
        char what[32];
        snprintf(what, sizeof what, "gray%d.png", depth);
        if (png)
            check_png_pixels(t, what, png, size, w, h, expected);
        free(png);
    }
}

/* RGB, RGBA and gray+alpha at 8 and 16 bits: alpha is dropped, colour kept even at alpha 0. */
static void test_png_color_and_alpha(ykd_test *t)
{
    static const int types[] = {PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA,
                                PNG_COLOR_TYPE_GRAY_ALPHA};
    for (size_t k = 0; k < 3; k++)
        for (int depth = 8; depth <= 16; depth += 8) {
            int channels = types[k] == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                           : types[k] == PNG_COLOR_TYPE_RGB      ? 3
                                                                 : 4;
            int w = 4, h = 2, max = (1 << depth) - 1;
            uint16_t samples[4 * 2 * 4];
            uint8_t expected[4 * 2 * 3];
            for (int i = 0; i < w * h; i++) {
                for (int c = 0; c < channels; c++)
                    samples[i * channels + c] = (uint16_t)((i * 977 + c * 4111 + 3) % (max + 1));
                if (channels == 2 || channels == 4)
                    samples[i * channels + channels - 1] = (uint16_t)(i % 2 ? 0 : max); /* alpha */
                for (int c = 0; c < 3; c++) {
                    int src = channels == 2 ? 0 : c;
                    expected[i * 3 + c] =
                        (uint8_t)lround(samples[i * channels + src] * 255.0 / max);
                }
            }
            size_t size = 0;
            uint8_t *png = fx_png(t, types[k], depth, w, h, samples, NULL, 0, NULL, false, &size);
            char what[32];
            snprintf(what, sizeof what, "type%d-%d.png", types[k], depth);
            if (png)
                check_png_pixels(t, what, png, size, w, h, expected);
            free(png);
        }
}

/* Palette images at depths 2 and 8 with a tRNS chunk (ignored), and an interlaced one. */
static void test_png_palette_and_interlace(ykd_test *t)
{
    const uint8_t palette[4 * 3] = {10, 20, 30, 200, 100, 0, 0, 255, 128, 77, 77, 77};
    const uint8_t trns[4] = {0, 128, 255, 10};
    uint16_t idx[6] = {0, 1, 2, 3, 2, 1};
    uint8_t expected[18];
    for (int i = 0; i < 6; i++)
        memcpy(expected + 3 * i, palette + 3 * idx[i], 3);
    for (int depth = 2; depth <= 8; depth += 6) {
        size_t size = 0;
        uint8_t *png =
            fx_png(t, PNG_COLOR_TYPE_PALETTE, depth, 3, 2, idx, palette, 4, trns, false, &size);
        if (png)
            check_png_pixels(t, "palette.png", png, size, 3, 2, expected);
        free(png);
    }
    ykd_image img;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&img, 13, 9, 0, &err), err);
    fx_pattern(&img);
    uint16_t samples[13 * 9 * 3];
    for (int i = 0; i < 13 * 9 * 3; i++)
        samples[i] = img.pixels[i];
    size_t size = 0;
    uint8_t *png = fx_png(t, PNG_COLOR_TYPE_RGB, 8, 13, 9, samples, NULL, 0, NULL, true, &size);
    if (png)
        check_png_pixels(t, "interlaced.png", png, size, 13, 9, img.pixels);
    free(png);
    ykd_image_free(&img);
}

static void test_png_encode_roundtrip_and_atomic_write(ykd_test *t)
{
    ykd_image img, back;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&img, 37, 23, 0, &err), err);
    fx_pattern(&img);
    char dir[4096], path[4096];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    fx_path(path, "%s/out.png", dir);
    CHECK_OK(t, ykd_png_write(path, &img, &err), err);
    CHECK(t, ykd_test_count_files(dir) == 1); /* no temporary file left behind */
    if (CHECK_OK(t, ykd_image_read(path, 0, &back, &err), err)) {
        CHECK(t, back.width == 37 && back.height == 23);
        CHECK(t, memcmp(back.pixels, img.pixels, 37 * 23 * 3) == 0);
        ykd_image_free(&back);
    }
    /* the same pixels always give the same bytes */
    void *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(t, ykd_png_encode(&img, &a, &na, &err), err);
    CHECK_OK(t, ykd_png_encode(&img, &b, &nb, &err), err);
    CHECK(t, na == nb && a && b && memcmp(a, b, na) == 0);
    free(a);
    free(b);
    ykd_image_free(&img);
    ykd_test_rmtree(dir);
}

static uint8_t *pattern_png(ykd_test *t, int w, int h, size_t *size)
{
    ykd_image img;
    ykd_error err;
    void *data = NULL;
    if (!CHECK_OK(t, ykd_image_init(&img, w, h, 0, &err), err))
        return NULL;
    fx_pattern(&img);
    CHECK_OK(t, ykd_png_encode(&img, &data, size, &err), err);
    ykd_image_free(&img);
    return data;
}

static void expect_fault(ykd_test *t, const uint8_t *data, size_t size, const char *name,
                         uint64_t max_pixels, ykd_status expected, const char *needle)
{
    ykd_image img = {1, 1, NULL};
    ykd_error err = {0};
    CHECK_STATUS(t, ykd_image_decode(data, size, name, max_pixels, &img, &err), expected, err);
    CHECK(t, img.pixels == NULL && img.width == 0);
    CHECK_CONTAINS(t, err.message, name);
    CHECK_CONTAINS(t, err.message, needle);
}

static void test_png_truncated_and_bad_crc(ykd_test *t)
{
    size_t size = 0;
    uint8_t *png = pattern_png(t, 64, 64, &size);
    if (!png)
        return;
    expect_fault(t, png, size / 2, "half.png", 0, YKD_ERR_FORMAT, "truncated");
    expect_fault(t, png, size - 4, "no-iend-crc.png", 0, YKD_ERR_FORMAT, "truncated");
    expect_fault(t, png, 20, "header-cut.png", 0, YKD_ERR_FORMAT, "truncated");
    /* a damaged CRC on IDAT; then damaged data in it (zlib notices before the CRC does) */
    size_t idat = fx_png_chunk(png, size, "IDAT");
    if (CHECK(t, idat > 0)) {
        uint32_t length = (uint32_t)png[idat + 2] << 8 | png[idat + 3];
        png[idat + 8 + length + 1] ^= 0x40;
        expect_fault(t, png, size, "crc.png", 0, YKD_ERR_FORMAT, "IDAT: CRC error");
        png[idat + 8 + length + 1] ^= 0x40;
        png[idat + 8 + 5] ^= 0x40;
        expect_fault(t, png, size, "data.png", 0, YKD_ERR_FORMAT, "corrupt PNG");
        png[idat + 8 + 5] ^= 0x40;
    }
    /* and a bad CRC on IHDR itself */
    png[8 + 8 + 13] ^= 1;
    expect_fault(t, png, size, "ihdr-crc.png", 0, YKD_ERR_FORMAT, "IHDR: CRC error");
    free(png);
}

static void test_wrong_magic_and_empty(ykd_test *t)
{
    const char gif[] = "GIF89a\x01\x00\x01\x00";
    expect_fault(t, (const uint8_t *)gif, sizeof gif, "fake.png", 0, YKD_ERR_FORMAT,
                 "not a PNG or JPEG");
    expect_fault(t, (const uint8_t *)"", 0, "empty.jpg", 0, YKD_ERR_FORMAT, "not a PNG or JPEG");
    ykd_image img;
    ykd_error err;
    CHECK_STATUS(t, ykd_image_read("/nonexistent/yolokd/x.png", 0, &img, &err), YKD_ERR_NOT_FOUND,
                 err);
    CHECK_CONTAINS(t, err.message, "/nonexistent/yolokd/x.png");
}

/* A 100000x100000 header is refused from the header alone: the file has no pixel data, so
 * anything that tried to allocate or read the pixels would fail differently. */
static void test_huge_header_refused_before_allocation(ykd_test *t)
{
    uint8_t png[64];
    size_t size = fx_png_header_only(100000, 100000, png);
    expect_fault(t, png, size, "huge.png", 0, YKD_ERR_OUT_OF_MEMORY,
                 "100000x100000 = 10000000000 pixels, over the limit of 50000000");
    char dir[4096], path[4096];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    fx_write(t, fx_path(path, "%s/huge.png", dir), png, size);
    int w = 0, h = 0;
    ykd_error err;
    CHECK_STATUS(t, ykd_image_probe(path, 0, &w, &h, &err), YKD_ERR_OUT_OF_MEMORY, err);
    CHECK_CONTAINS(t, err.message, "huge.png");
    /* the limit is configurable, for JPEG as for PNG */
    size = fx_png_header_only(10, 10, png);
    fx_write(t, path, png, size);
    CHECK_OK(t, ykd_image_probe(path, 100, &w, &h, &err), err);
    CHECK(t, w == 10 && h == 10);
    CHECK_STATUS(t, ykd_image_probe(path, 99, &w, &h, &err), YKD_ERR_OUT_OF_MEMORY, err);
    uint8_t gray[20 * 20];
    memset(gray, 90, sizeof gray);
    size_t jsize = 0;
    uint8_t *jpeg = fx_jpeg(t, 1, 20, 20, gray, 0, &jsize);
    if (jpeg)
        expect_fault(t, jpeg, jsize, "big.jpg", 399, YKD_ERR_OUT_OF_MEMORY,
                     "over the limit of 399");
    free(jpeg);
    ykd_test_rmtree(dir);
}

static void test_jpeg_gray_and_rgb(ykd_test *t)
{
    uint8_t gray[16 * 8], rgb[16 * 8 * 3];
    memset(gray, 77, sizeof gray);
    for (int i = 0; i < 16 * 8; i++)
        rgb[3 * i] = 200, rgb[3 * i + 1] = 40, rgb[3 * i + 2] = 90;
    size_t size = 0;
    ykd_image img;
    ykd_error err;
    uint8_t *jpeg = fx_jpeg(t, 1, 16, 8, gray, 0, &size);
    if (jpeg && CHECK_OK(t, ykd_image_decode(jpeg, size, "gray.jpg", 0, &img, &err), err)) {
        CHECK(t, img.width == 16 && img.height == 8);
        int off = 0;
        for (int i = 0; i < 16 * 8 * 3; i++)
            off += abs(img.pixels[i] - 77) > 1;
        CHECKF(t, off == 0, "%d gray values more than 1 from 77", off);
        ykd_image_free(&img);
    }
    free(jpeg);
    jpeg = fx_jpeg(t, 3, 16, 8, rgb, 0, &size);
    if (jpeg && CHECK_OK(t, ykd_image_decode(jpeg, size, "rgb.jpg", 0, &img, &err), err)) {
        int off = 0;
        for (int i = 0; i < 16 * 8; i++)
            for (int c = 0; c < 3; c++)
                off += abs(img.pixels[3 * i + c] - rgb[c]) > 3;
        CHECKF(t, off == 0, "%d RGB values more than 3 from (200, 40, 90)", off);
        ykd_image_free(&img);
    }
    free(jpeg);
}

static void test_jpeg_faults(ykd_test *t)
{
    uint8_t cmyk[16 * 16 * 4], rgb[64 * 64 * 3];
    memset(cmyk, 50, sizeof cmyk);
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 31 % 251);
    size_t size = 0;
    uint8_t *jpeg = fx_jpeg(t, 4, 16, 16, cmyk, 0, &size);
    if (jpeg)
        expect_fault(t, jpeg, size, "cmyk.jpg", 0, YKD_ERR_UNSUPPORTED, "CMYK");
    free(jpeg);
    jpeg = fx_jpeg(t, 3, 64, 64, rgb, 0, &size);
    if (jpeg) {
        expect_fault(t, jpeg, size / 2, "half.jpg", 0, YKD_ERR_FORMAT, "corrupt JPEG");
        expect_fault(t, jpeg, 100, "header-cut.jpg", 0, YKD_ERR_FORMAT, "corrupt JPEG");
    }
    free(jpeg);
}

/* A header behind a 100 KB EXIF-like block: the probe's first read is too short, so it must
 * read on. */
static void test_probe_reads_past_large_metadata(ykd_test *t)
{
    uint8_t gray[24 * 10];
    memset(gray, 10, sizeof gray);
    size_t size = 0;
    uint8_t *jpeg = fx_jpeg(t, 1, 24, 10, gray, 100000, &size);
    char dir[4096], path[4096];
    if (!jpeg || !ykd_test_mkdtemp(t, dir, sizeof dir)) {
        free(jpeg);
        return;
    }
    CHECK(t, size > 100000);
    fx_write(t, fx_path(path, "%s/exif.jpg", dir), jpeg, size);
    int w = 0, h = 0;
    ykd_error err;
    CHECK_OK(t, ykd_image_probe(path, 0, &w, &h, &err), err);
    CHECK(t, w == 24 && h == 10);
    free(jpeg);
    ykd_test_rmtree(dir);
}

/* Random damage: flipped bytes and cuts anywhere must give OK or an error naming the file,
 * never a crash, hang or leak (the sanitizer build checks the latter). */
static void test_random_damage_never_crashes(ykd_test *t)
{
    size_t png_size = 0, jpeg_size = 0;
    uint8_t *png = pattern_png(t, 24, 16, &png_size);
    uint8_t rgb[24 * 16 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 13 % 256);
    uint8_t *jpeg = fx_jpeg(t, 3, 24, 16, rgb, 0, &jpeg_size);
    if (!png || !jpeg) {
        free(png);
        free(jpeg);
        return;
    }
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 5);
    int failures = 0, unnamed = 0;
    for (int round = 0; round < 600; round++) {
        const uint8_t *orig = round % 2 ? jpeg : png;
        size_t size = round % 2 ? jpeg_size : png_size;
        uint8_t *copy = malloc(size);
        memcpy(copy, orig, size);
        int flips = 1 + (int)(ykd_test_rng_next(&rng) % 4);
        for (int k = 0; k < flips; k++)
            copy[ykd_test_rng_next(&rng) % size] ^= (uint8_t)(1 + ykd_test_rng_next(&rng) % 255);
        if (round % 5 == 0)
            size = ykd_test_rng_next(&rng) % size;
        ykd_image img;
        ykd_error err = {0};
        if (ykd_image_decode(copy, size, "damaged", 0, &img, &err) == YKD_OK) {
            ykd_image_free(&img);
        } else {
            failures++;
            unnamed += strstr(err.message, "damaged") == NULL;
        }
        free(copy);
    }
    CHECKF(t, failures > 100, "only %d of 600 damaged files failed", failures);
    CHECKF(t, unnamed == 0, "%d errors did not name the file", unnamed);
    free(png);
    free(jpeg);
}

typedef struct decode_job {
    const uint8_t *good, *bad;
    size_t good_size, bad_size;
    int wrong;
} decode_job;

static void *decode_many(void *arg)
{
    decode_job *j = arg;
    for (int i = 0; i < 40; i++) {
        ykd_image img;
        ykd_error err;
        if (ykd_image_decode(j->good, j->good_size, "good", 0, &img, &err) != YKD_OK)
            j->wrong++;
        ykd_image_free(&img);
        if (ykd_image_decode(j->bad, j->bad_size, "bad", 0, &img, &err) == YKD_OK ||
            !strstr(err.message, "bad: corrupt PNG: file is truncated"))
            j->wrong++;
    }
    return NULL;
}

/* Errors are per call: threads decoding good and bad files at once each see their own. */
static void test_decoders_are_thread_safe(ykd_test *t)
{
    size_t size = 0;
    uint8_t *png = pattern_png(t, 32, 32, &size);
    if (!png)
        return;
    decode_job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (decode_job){png, png, size, size / 3, 0};
        pthread_create(&threads[i], NULL, decode_many, &jobs[i]);
    }
    int wrong = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        wrong += jobs[i].wrong;
    }
    CHECKF(t, wrong == 0, "%d decodes went wrong", wrong);
    free(png);
}

/* Bilinear with half-pixel centres: [0, 200] widened to 4 gives u = -0.25, 0.25, 0.75, 1.25,
 * so 0, 50, 150, 200 (the ends clamped). */
static void test_resize_hand_values(ykd_test *t)
{
    ykd_image src, dst;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&src, 2, 1, 0, &err), err);
    memset(src.pixels + 3, 200, 3);
    if (CHECK_OK(t, ykd_image_resize(&src, 4, 1, &dst, &err), err)) {
        CHECK(t, pixel_is(&dst, 0, 0, 0, 0, 0));
        CHECK(t, pixel_is(&dst, 1, 0, 50, 50, 50));
        CHECK(t, pixel_is(&dst, 2, 0, 150, 150, 150));
        CHECK(t, pixel_is(&dst, 3, 0, 200, 200, 200));
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
    /* halving a pattern averages 2x2 blocks: compare with a float64 reference */
    CHECK_OK(t, ykd_image_init(&src, 8, 6, 0, &err), err);
    fx_pattern(&src);
    if (CHECK_OK(t, ykd_image_resize(&src, 4, 3, &dst, &err), err)) {
        int off = 0;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                for (int c = 0; c < 3; c++) {
                    double sum = 0;
                    for (int k = 0; k < 4; k++)
                        sum += src.pixels[((2 * y + k / 2) * 8 + 2 * x + k % 2) * 3 + c];
                    off += fabs(dst.pixels[(y * 4 + x) * 3 + c] - sum / 4) > 0.5 + 1e-9;
                }
        CHECKF(t, off == 0, "%d values differ from the 2x2 means", off);
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
}

/* Largest |ours - reference| over an image, for a random src_w x src_h resized. */
static double resize_error(ykd_test *t, int sw, int sh, int dw, int dh, uint64_t seed,
                           bool smooth)
{
    ykd_image src, dst;
    ykd_error err;
    if (!CHECK_OK(t, ykd_image_init(&src, sw, sh, 0, &err), err))
        return 1e9;
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)sw * sh * 3; i++) /* noise, or a smooth ramp with noise */
        src.pixels[i] = smooth ? (uint8_t)((i / 3 % (size_t)sw) * 200 / (size_t)sw +
                                           ykd_test_rng_next(&rng) % 40)
                               : (uint8_t)ykd_test_rng_next(&rng);
    double *ref = malloc((size_t)dw * dh * 3 * sizeof *ref);
    double worst = 1e9;
    if (ref && CHECK_OK(t, ykd_image_resize(&src, dw, dh, &dst, &err), err)) {
        bool shrink = dw <= sw && dh <= sh;
        (shrink ? ref_resize_area_u8 : ref_resize_bilinear_u8)(src.pixels, sw, sh, dw, dh, ref);
        worst = 0;
        for (size_t i = 0; i < (size_t)dw * dh * 3; i++)
            worst = fmax(worst, fabs(dst.pixels[i] - ref[i]));
        ykd_image_free(&dst);
    }
    free(ref);
    ykd_image_free(&src);
    return worst;
}

/* Shrinking averages areas (INTER_AREA), growing is bilinear (INTER_LINEAR), each against
 * its float64 definition: within rounding (0.5) for area; bilinear's 11-bit weights add up to
 * 2 * 255 / 4096 on top. */
static void test_resize_against_references(ykd_test *t)
{
    static const int shrink[][4] = {{8, 6, 4, 3},     {37, 23, 11, 7},   {100, 75, 64, 48},
                                    {640, 480, 320, 240}, {641, 479, 640, 478}, {5, 5, 2, 2},
                                    {9, 1, 4, 1},     {300, 200, 17, 11}, {13, 13, 13, 13}};
    static const int grow[][4] = {{2, 2, 7, 5}, {7, 5, 19, 13}, {30, 20, 64, 43}, {1, 1, 3, 3}};
    for (size_t i = 0; i < sizeof shrink / sizeof shrink[0]; i++)
        for (int smooth = 0; smooth < 2; smooth++) {
            const int *s = shrink[i];
            double e = resize_error(t, s[0], s[1], s[2], s[3], 11 + i, smooth);
            CHECKF(t, e <= 0.5 + 1e-9, "area %dx%d -> %dx%d: off by %g", s[0], s[1], s[2], s[3],
                   e);
        }
    for (size_t i = 0; i < sizeof grow / sizeof grow[0]; i++) {
        const int *s = grow[i];
        double e = resize_error(t, s[0], s[1], s[2], s[3], 21 + i, false);
        CHECKF(t, e <= 0.5 + 2 * 255.0 / 4096, "bilinear %dx%d -> %dx%d: off by %g", s[0], s[1],
               s[2], s[3], e);
    }
    /* a third of the width: area takes the mean of (0, 255, 0) = 85 where a bilinear sample
     * at the centre would take the middle pixel's 255 */
    ykd_image src, dst;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&src, 9, 3, 0, &err), err);
    for (int y = 0; y < 3; y++)
        for (int x = 1; x < 9; x += 3)
            memset(src.pixels + ((size_t)y * 9 + x) * 3, 255, 3);
    if (CHECK_OK(t, ykd_image_resize(&src, 3, 1, &dst, &err), err)) {
        CHECK(t, pixel_is(&dst, 0, 0, 85, 85, 85) && pixel_is(&dst, 2, 0, 85, 85, 85));
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
}

/* The letterbox of a large image is its area average, padded; of a small one, bilinear. */
static void test_letterbox_against_references(ykd_test *t)
{
    static const int sizes[][3] = {{200, 120, 64}, {24, 40, 64}};
    for (int k = 0; k < 2; k++) {
        int sw = sizes[k][0], sh = sizes[k][1], size = sizes[k][2];
        ykd_image src, dst;
        ykd_error err;
        if (!CHECK_OK(t, ykd_image_init(&src, sw, sh, 0, &err), err))
            return;
        ykd_test_rng rng;
        ykd_test_rng_seed(&rng, 5 + k);
        for (size_t i = 0; i < (size_t)sw * sh * 3; i++)
            src.pixels[i] = (uint8_t)ykd_test_rng_next(&rng);
        ykd_letterbox_info li;
        if (CHECK_OK(t, ykd_letterbox(&src, size, NULL, 0, &dst, &li, &err), err)) {
            int iw = li.inner_w, ih = li.inner_h;
            double *ref = malloc((size_t)iw * ih * 3 * sizeof *ref);
            (k == 0 ? ref_resize_area_u8 : ref_resize_bilinear_u8)(src.pixels, sw, sh, iw, ih,
                                                                   ref);
            double worst = 0;
            for (int y = 0; y < ih; y++)
                for (int x = 0; x < iw * 3; x++)
                    worst = fmax(worst, fabs(dst.pixels[((size_t)(y + li.pad_y) * size + li.pad_x) * 3 + x] -
                                             ref[(size_t)y * iw * 3 + x]));
            CHECKF(t, worst <= (k == 0 ? 0.5 + 1e-9 : 0.5 + 2 * 255.0 / 4096),
                   "letterbox %dx%d -> %d: off by %g", sw, sh, size, worst);
            CHECK(t, dst.pixels[0] == YKD_PAD_VALUE || li.pad_x + li.pad_y == 0);
            free(ref);
            ykd_image_free(&dst);
        }
        ykd_image_free(&src);
    }
}

static const ykd_test_case cases[] = {
    {"png: gray at depths 1, 2, 4, 8, 16", test_png_gray_depths, YKD_TEST_HOST},
    {"png: RGB, RGBA, gray+alpha at 8 and 16 bits", test_png_color_and_alpha, YKD_TEST_HOST},
    {"png: palette with tRNS, interlaced", test_png_palette_and_interlace, YKD_TEST_HOST},
    {"png: encode round trip, atomic write", test_png_encode_roundtrip_and_atomic_write,
     YKD_TEST_HOST},
    {"png: truncated files and bad CRCs", test_png_truncated_and_bad_crc, YKD_TEST_HOST},
    {"image: wrong magic, empty, missing", test_wrong_magic_and_empty, YKD_TEST_HOST},
    {"image: 100000x100000 refused before allocation", test_huge_header_refused_before_allocation,
     YKD_TEST_HOST},
    {"jpeg: gray and RGB", test_jpeg_gray_and_rgb, YKD_TEST_HOST},
    {"jpeg: CMYK refused, cut in half", test_jpeg_faults, YKD_TEST_HOST},
    {"image: probe reads past large metadata", test_probe_reads_past_large_metadata, YKD_TEST_HOST},
    {"image: random damage never crashes", test_random_damage_never_crashes, YKD_TEST_HOST},
    {"image: decoders are thread safe", test_decoders_are_thread_safe, YKD_TEST_HOST},
    {"image: bilinear resize by hand", test_resize_hand_values, YKD_TEST_HOST},
    {"image: area and bilinear resize vs float64 references", test_resize_against_references,
     YKD_TEST_HOST},
    {"image: letterbox vs float64 references", test_letterbox_against_references, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
