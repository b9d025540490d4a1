/* JPEG through libjpeg(-turbo). Errors arrive through error_exit, which must not return: a
 * per-call context holds the jmp_buf and the message. Warnings (corrupt or truncated data)
 * are treated as errors, and a progressive file with an absurd number of scans is refused,
 * so no input makes the decoder run without bound. EXIF orientation is ignored (data.h). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/error_internal.h"
#include "data/codec.h"
#include "yolokd/data.h"

enum { JPEG_MAX_SCANS = 500 };

typedef struct jpeg_context {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr errors;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_context;

static jpeg_context *context_of(j_common_ptr cinfo)
{
    return (jpeg_context *)((char *)cinfo - offsetof(jpeg_context, cinfo));
}

static void on_jpeg_error(j_common_ptr cinfo)
{
    jpeg_context *ctx = context_of(cinfo);
    cinfo->err->format_message(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

static void on_jpeg_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return; /* trace messages */
    on_jpeg_error(cinfo);
}

static void on_jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_context *ctx = context_of(cinfo);
        snprintf(ctx->message, sizeof ctx->message, "more than %d progressive scans",
                 JPEG_MAX_SCANS);
        longjmp(ctx->jump, 1);
    }
}

/* Decodes (or with img NULL, reads the header of) one JPEG held in memory. */
static ykd_status jpeg_read(jpeg_context *ctx, const void *data, size_t size, const char *name,
                            uint64_t max_pixels, ykd_image *img, int *width, int *height,
                            ykd_error *err)
{
    j_decompress_ptr cinfo = &ctx->cinfo;
    uint8_t *volatile pixels = NULL;
    cinfo->err = jpeg_std_error(&ctx->errors);
    ctx->errors.error_exit = on_jpeg_error;
    ctx->errors.emit_message = on_jpeg_message;
    if (setjmp(ctx->jump)) {
        free(pixels);
        jpeg_destroy_decompress(cinfo);
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: corrupt JPEG: %s", name, ctx->message);
    }
    jpeg_create_decompress(cinfo);
    ctx->progress.progress_monitor = on_jpeg_progress;
    cinfo->progress = &ctx->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    *width = (int)cinfo->image_width;
    *height = (int)cinfo->image_height;
    ykd_status st =
        ykd_image_check_size(name, cinfo->image_width, cinfo->image_height, max_pixels, err);
    if (st == YKD_OK &&
        (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK))
        st = ykd_fail(err, YKD_ERR_UNSUPPORTED,
                      "%s: CMYK JPEG images are not supported "
                      "(convert it to RGB)",
                      name);
    if (st != YKD_OK || !img) {
        jpeg_destroy_decompress(cinfo);
        return st;
    }
    cinfo->out_color_space = JCS_RGB;
    jpeg_start_decompress(cinfo);
    size_t w = cinfo->output_width, h = cinfo->output_height;
    if (cinfo->output_components != 3)
        ERREXIT(cinfo, JERR_BAD_IN_COLORSPACE);
    pixels = malloc(w * h * 3);
    if (!pixels)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    while (cinfo->output_scanline < h) {
        JSAMPROW row = pixels + (size_t)cinfo->output_scanline * w * 3;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);
    jpeg_destroy_decompress(cinfo);
    img->width = (int)w;
    img->height = (int)h;
    img->pixels = pixels;
    return YKD_OK;
}

ykd_status ykd_jpeg_decode(const void *data, size_t size, const char *name, uint64_t max_pixels,
                           ykd_image *img, ykd_error *err)
{
    img->width = img->height = 0;
    img->pixels = NULL;
    jpeg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", name);
    int w, h;
    ykd_status st = jpeg_read(ctx, data, size, name, max_pixels, img, &w, &h, err);
    free(ctx);
    return st;
}

ykd_status ykd_jpeg_read_header(const void *data, size_t size, const char *name,
                                uint64_t max_pixels, int *width, int *height, ykd_error *err)
{
    jpeg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", name);
    ykd_status st = jpeg_read(ctx, data, size, name, max_pixels, NULL, width, height, err);
    free(ctx);
    return st;
}
