/* Test fixtures for the data layer: files, PNGs and JPEGs of every kind, small datasets.
 * Everything a data test reads, the test writes itself with these. */
#ifndef YKD_TEST_DATA_FIXTURES_H
#define YKD_TEST_DATA_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "yolokd/data.h"

/* Writes bytes to path, creating its folder; a failed check when it cannot. */
bool fx_write(ykd_test *t, const char *path, const void *data, size_t size);
bool fx_write_text(ykd_test *t, const char *path, const char *text);
/* path formatted printf-style into buf (size 4096). */
const char *fx_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A PNG of any colour type and depth: samples holds w*h*channels values (0..2^depth-1), with
 * channels from the colour type (palette: 1 index). palette (RGB triples, palette_size
 * entries) and trns (alpha per entry) only for PNG_COLOR_TYPE_PALETTE. malloc'd; NULL on a
 * failed check. */
uint8_t *fx_png(ykd_test *t, int color_type, int depth, int w, int h, const uint16_t *samples,
                const uint8_t *palette, int palette_size, const uint8_t *trns, bool interlace,
                size_t *size);

/* An RGB image with every pixel rgb, as PNG bytes. */
uint8_t *fx_png_solid(ykd_test *t, int w, int h, uint8_t r, uint8_t g, uint8_t b, size_t *size);

/* A baseline JPEG with components 1 (gray), 3 (RGB) or 4 (CMYK), quality 95. samples:
 * w*h*components bytes. extra_app1 > 0 adds an APP1 block of that many bytes (an EXIF-like
 * payload) before the image. malloc'd. */
uint8_t *fx_jpeg(ykd_test *t, int components, int w, int h, const uint8_t *samples,
                 size_t extra_app1, size_t *size);

/* An image whose pixel (x, y) is (x*7+y*3, x*5, y*11) mod 256: distinct, checkable values. */
void fx_pattern(ykd_image *img);

/* A dataset root with data.json naming the classes, and the four empty split folders. */
bool fx_dataset(ykd_test *t, const char *root, const char *const *names, int class_count);

/* Writes an image (PNG of the given solid colour) and, unless labels is NULL, its label file
 * into root's split. */
bool fx_sample(ykd_test *t, const char *root, const char *split, const char *stem, int w, int h,
               uint8_t gray, const char *labels);

/* CRC-32 as PNG chunks use it (ISO 3309), for hand-made chunks. */
uint32_t fx_crc32(const uint8_t *data, size_t size);

/* A PNG signature, an IHDR of the given size (8-bit RGB), an IDAT of 4 bytes that are not
 * zlib data, and IEND, all with correct CRCs: anything that tried to decode the pixels would
 * fail. 61 bytes into out. */
size_t fx_png_header_only(uint32_t width, uint32_t height, uint8_t out[64]);

/* Offset of the first chunk of the given type in PNG bytes, or 0. */
size_t fx_png_chunk(const uint8_t *png, size_t size, const char *type);

#endif
