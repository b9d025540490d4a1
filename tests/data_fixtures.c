#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "core/fs.h"
#include "data_fixtures.h"

const char *fx_path(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 4096, fmt, ap);
    va_end(ap);
    return buf;
}

bool fx_write(ykd_test *t, const char *path, const void *data, size_t size)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    ykd_error err;
    if (slash && slash != dir) {
        *slash = '\0';
        if (!CHECK_OK(t, ykd_mkdir_p(dir, &err), err))
            return false;
    }
    FILE *f = fopen(path, "wb");
    if (!CHECKF(t, f != NULL, "cannot write %s", path))
        return false;
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return CHECKF(t, ok, "short write to %s", path);
}

bool fx_write_text(ykd_test *t, const char *path, const char *text)
{
    return fx_write(t, path, text, strlen(text));
}

typedef struct memory_sink {
    uint8_t *data;
    size_t size;
} memory_sink;

static void sink_write(png_structp png, png_bytep src, png_size_t n)
{
    memory_sink *m = png_get_io_ptr(png);
    m->data = realloc(m->data, m->size + n);
    memcpy(m->data + m->size, src, n);
    m->size += n;
}

static void sink_flush(png_structp png)
{
    (void)png;
}

static int png_channels(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return 4;
    default:
        return 1;
    }
}

/* Packs one row of samples at the given depth, big-endian, as PNG stores them. */
static void pack_row(const uint16_t *samples, int n, int depth, uint8_t *row)
{
    if (depth == 16) {
        for (int i = 0; i < n; i++) {
            row[2 * i] = (uint8_t)(samples[i] >> 8);
            row[2 * i + 1] = (uint8_t)samples[i];
        }
        return;
    }
    memset(row, 0, (size_t)(n * depth + 7) / 8);
    for (int i = 0; i < n; i++) {
        int bit = i * depth;
        row[bit / 8] |= (uint8_t)(samples[i] << (8 - depth - bit % 8));
    }
}

uint8_t *fx_png(ykd_test *t, int color_type, int depth, int w, int h, const uint16_t *samples,
                const uint8_t *palette, int palette_size, const uint8_t *trns, bool interlace,
                size_t *size)
{
    memory_sink m = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    int channels = png_channels(color_type);
    uint8_t *row = malloc((size_t)w * channels * 2 + 8);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        free(m.data);
        CHECKF(t, false, "libpng could not write the test PNG");
        return NULL;
    }
    png_set_write_fn(png, &m, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color colors[256];
        for (int i = 0; i < palette_size; i++)
            colors[i] = (png_color){palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]};
        png_set_PLTE(png, info, colors, palette_size);
        if (trns)
            png_set_tRNS(png, info, trns, palette_size, NULL);
    }
    png_write_info(png, info);
    int passes = interlace ? png_set_interlace_handling(png) : 1;
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            pack_row(samples + (size_t)y * w * channels, w * channels, depth, row);
            png_write_row(png, row);
        }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    *size = m.size;
    return m.data;
}

uint8_t *fx_png_solid(ykd_test *t, int w, int h, uint8_t r, uint8_t g, uint8_t b, size_t *size)
{
    ykd_image img;
    ykd_error err;
    if (!CHECK_OK(t, ykd_image_init(&img, w, h, 0, &err), err))
        return NULL;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        img.pixels[3 * i] = r;
        img.pixels[3 * i + 1] = g;
        img.pixels[3 * i + 2] = b;
    }
    void *data = NULL;
    CHECK_OK(t, ykd_png_encode(&img, &data, size, &err), err);
    ykd_image_free(&img);
    return data;
}

uint8_t *fx_jpeg(ykd_test *t, int components, int w, int h, const uint8_t *samples,
                 size_t extra_app1, size_t *size)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr errors;
    c.err = jpeg_std_error(&errors);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    jpeg_mem_dest(&c, &out, &out_size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    if (extra_app1 > 0) {
        uint8_t *payload = calloc(1, extra_app1);
        memcpy(payload, "Exif\0\0", 6);
        /* one marker holds at most 65533 bytes; larger payloads take several */
        for (size_t done = 0; done < extra_app1; done += 65533) {
            size_t n = extra_app1 - done < 65533 ? extra_app1 - done : 65533;
            jpeg_write_marker(&c, JPEG_APP0 + 1, payload + done, (unsigned int)n);
        }
        free(payload);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(samples + (size_t)c.next_scanline * w * components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    CHECK(t, out != NULL);
    *size = out_size;
    return out;
}

void fx_pattern(ykd_image *img)
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
            p[0] = (uint8_t)((x * 7 + y * 3) & 255);
            p[1] = (uint8_t)((x * 5) & 255);
            p[2] = (uint8_t)((y * 11) & 255);
        }
}

bool fx_dataset(ykd_test *t, const char *root, const char *const *names, int class_count)
{
    char json[4096] = "{\"names\": [";
    for (int i = 0; i < class_count; i++)
        snprintf(json + strlen(json), sizeof json - strlen(json), "%s\"%s\"", i ? ", " : "",
                 names[i]);
    strcat(json, "]}\n");
    char path[4096];
    ykd_error err;
    static const char *const folders[] = {"images/train", "images/val", "labels/train",
                                          "labels/val"};
    for (int i = 0; i < 4; i++)
        if (!CHECK_OK(t, ykd_mkdir_p(fx_path(path, "%s/%s", root, folders[i]), &err), err))
            return false;
    return fx_write_text(t, fx_path(path, "%s/data.json", root), json);
}

bool fx_sample(ykd_test *t, const char *root, const char *split, const char *stem, int w, int h,
               uint8_t gray, const char *labels)
{
    size_t size = 0;
    uint8_t *png = fx_png_solid(t, w, h, gray, gray, gray, &size);
    char path[4096];
    bool ok =
        png && fx_write(t, fx_path(path, "%s/images/%s/%s.png", root, split, stem), png, size);
    free(png);
    if (ok && labels)
        ok = fx_write_text(t, fx_path(path, "%s/labels/%s/%s.txt", root, split, stem), labels);
    return ok;
}

uint32_t fx_crc32(const uint8_t *data, size_t size)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk at out + at; returns the new end. */
static size_t put_chunk(uint8_t *out, size_t at, const char *type, const uint8_t *data,
                        uint32_t length)
{
    put_be32(out + at, length);
    memcpy(out + at + 4, type, 4);
    if (length)
        memcpy(out + at + 8, data, length);
    put_be32(out + at + 8 + length, fx_crc32(out + at + 4, length + 4));
    return at + 12 + length;
}

size_t fx_png_header_only(uint32_t width, uint32_t height, uint8_t out[64])
{
    static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, magic, 8);
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8; /* depth */
    ihdr[9] = 2; /* RGB */
    size_t at = put_chunk(out, 8, "IHDR", ihdr, 13);
    static const uint8_t not_zlib[4] = {0xde, 0xad, 0xbe, 0xef};
    at = put_chunk(out, at, "IDAT", not_zlib, 4);
    return put_chunk(out, at, "IEND", NULL, 0);
}

size_t fx_png_chunk(const uint8_t *png, size_t size, const char *type)
{
    for (size_t at = 8; at + 12 <= size;) {
        uint32_t length = (uint32_t)png[at] << 24 | (uint32_t)png[at + 1] << 16 |
                          (uint32_t)png[at + 2] << 8 | png[at + 3];
        if (memcmp(png + at + 4, type, 4) == 0)
            return at;
        at += 12 + (size_t)length;
    }
    return 0;
}
