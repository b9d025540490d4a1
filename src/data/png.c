/* PNG through libpng. libpng reports errors by longjmp: every call gets its own error
 * context (message buffer, file name) and its own jmp_buf, so no state is shared between
 * threads. Alpha, transparency and gamma are ignored (data.h). */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/codec.h"
#include "yolokd/data.h"

typedef struct png_context {
    char message[256];
    /* reading */
    const uint8_t *data;
    size_t size, offset;
    /* writing */
    uint8_t *out;
    size_t out_size, out_capacity;
} png_context;

static void on_png_error(png_structp png, png_const_charp message)
{
    png_context *ctx = png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", message);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    /* benign (an odd ancillary chunk, an sRGB profile note): nothing to act on */
    (void)png;
    (void)message;
}

static void read_bytes(png_structp png, png_bytep dst, png_size_t length)
{
    png_context *ctx = png_get_io_ptr(png);
    if (length > ctx->size - ctx->offset)
        png_error(png, "file is truncated");
    memcpy(dst, ctx->data + ctx->offset, length);
    ctx->offset += length;
}

/* Every source format becomes 8-bit RGB without alpha. */
static void request_rgb8(png_structp png, png_infop info)
{
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (depth == 16)
        png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    /* palette expansion turns a tRNS chunk into alpha, which goes too */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* Decodes (or with img NULL, only reads the header of) one PNG held in memory. */
static ykd_status png_read(png_context *ctx, const char *name, uint64_t max_pixels, ykd_image *img,
                           int *width, int *height, ykd_error *err)
{
    /* ctx lives in the caller: the callbacks change it, and locals changed between setjmp
     * and longjmp would be indeterminate */
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", name);
    }
    /* changed after setjmp, so volatile: the longjmp path must see the current values */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: corrupt PNG: %s", name, ctx->message);
    }
    /* any CRC error is an error, in critical and ancillary chunks alike */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    /* our own pixel limit decides, with a message of ours */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_read_fn(png, ctx, read_bytes);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    ykd_status st = ykd_image_check_size(name, w, h, max_pixels, err);
    if (st != YKD_OK || !img) {
        png_destroy_read_struct(&png, &info, NULL);
        *width = (int)w;
        *height = (int)h;
        return st;
    }
    request_rgb8(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row size after conversion to RGB");
    pixels = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows)
        png_error(png, "out of host memory for the pixels");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* checks the chunks after the image and IEND */
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    img->width = (int)w;
    img->height = (int)h;
    img->pixels = pixels;
    return YKD_OK;
}

ykd_status ykd_png_decode(const void *data, size_t size, const char *name, uint64_t max_pixels,
                          ykd_image *img, ykd_error *err)
{
    int w, h;
    png_context ctx = {.data = data, .size = size};
    img->width = img->height = 0;
    img->pixels = NULL;
    return png_read(&ctx, name, max_pixels, img, &w, &h, err);
}

ykd_status ykd_png_read_header(const void *data, size_t size, const char *name, uint64_t max_pixels,
                               int *width, int *height, ykd_error *err)
{
    png_context ctx = {.data = data, .size = size};
    return png_read(&ctx, name, max_pixels, NULL, width, height, err);
}

static void write_bytes(png_structp png, png_bytep src, png_size_t length)
{
    png_context *ctx = png_get_io_ptr(png);
    if (length > ctx->out_capacity - ctx->out_size) {
        size_t capacity = ctx->out_capacity ? ctx->out_capacity : 65536;
        while (capacity - ctx->out_size < length)
            capacity *= 2;
        uint8_t *grown = realloc(ctx->out, capacity);
        if (!grown)
            png_error(png, "out of host memory");
        ctx->out = grown;
        ctx->out_capacity = capacity;
    }
    memcpy(ctx->out + ctx->out_size, src, length);
    ctx->out_size += length;
}

static void flush_nothing(png_structp png)
{
    (void)png;
}

static ykd_status png_encode(const ykd_image *img, png_context *ctx, ykd_error *err)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "PNG encoder: out of host memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return ykd_fail(err, YKD_ERR_IO, "PNG encoder: %s", ctx->message);
    }
    png_set_write_fn(png, ctx, write_bytes, flush_nothing);
    /* fast settings: the images are noisy, stronger compression buys little */
    png_set_compression_level(png, 1);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * img->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return YKD_OK;
}

ykd_status ykd_png_encode(const ykd_image *img, void **data, size_t *size, ykd_error *err)
{
    png_context ctx = {.data = NULL};
    ykd_status st = png_encode(img, &ctx, err);
    if (st != YKD_OK) {
        free(ctx.out);
        ctx.out = NULL;
        ctx.out_size = 0;
    }
    *data = ctx.out;
    *size = ctx.out_size;
    return st;
}

ykd_status ykd_png_write(const char *path, const ykd_image *img, ykd_error *err)
{
    void *data = NULL;
    size_t size = 0;
    ykd_status st = ykd_png_encode(img, &data, &size, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "%s", path);
        return st;
    }
    const void *parts[] = {data};
    st = ykd_file_write_atomic(path, parts, &size, 1, err);
    free(data);
    return st;
}
