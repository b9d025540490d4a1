/* RGB images: allocation, format sniffing, reading files, probing headers, resizing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/codec.h"
#include "data/transform.h"
#include "yolokd/data.h"

enum { PROBE_PREFIX_BYTES = 64 * 1024 };

ykd_status ykd_image_init(ykd_image *img, int width, int height, uint8_t value, ykd_error *err)
{
    img->width = 0;
    img->height = 0;
    img->pixels = NULL;
    if (width <= 0 || height <= 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "bad image size %dx%d", width, height);
    size_t bytes = (size_t)width * (size_t)height * 3;
    img->pixels = malloc(bytes);
    if (!img->pixels)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for a %dx%d image", width,
                        height);
    memset(img->pixels, value, bytes);
    img->width = width;
    img->height = height;
    return YKD_OK;
}

void ykd_image_free(ykd_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    img->pixels = NULL;
    img->width = 0;
    img->height = 0;
}

ykd_image_format ykd_image_sniff(const void *data, size_t size)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *p = data;
    if (size >= 8 && memcmp(p, png_magic, 8) == 0)
        return YKD_IMAGE_FORMAT_PNG;
    if (size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return YKD_IMAGE_FORMAT_JPEG;
    return YKD_IMAGE_FORMAT_UNKNOWN;
}

ykd_status ykd_image_check_size(const char *name, uint64_t width, uint64_t height,
                                uint64_t max_pixels, ykd_error *err)
{
    if (max_pixels == 0)
        max_pixels = YKD_IMAGE_MAX_PIXELS;
    if (width == 0 || height == 0)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s: image has no pixels (%llux%llu)", name,
                        (unsigned long long)width, (unsigned long long)height);
    /* both are at most 2^32, so the product cannot overflow 64 bits */
    if (width * height > max_pixels || width > INT32_MAX || height > INT32_MAX)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                        "%s: image is %llux%llu = %llu pixels, over the limit of %llu", name,
                        (unsigned long long)width, (unsigned long long)height,
                        (unsigned long long)(width * height), (unsigned long long)max_pixels);
    return YKD_OK;
}

static ykd_status unknown_format(const char *name, ykd_error *err)
{
    return ykd_fail(err, YKD_ERR_FORMAT, "%s: not a PNG or JPEG file (wrong magic bytes)", name);
}

ykd_status ykd_image_decode(const void *data, size_t size, const char *name, uint64_t max_pixels,
                            ykd_image *img, ykd_error *err)
{
    img->width = img->height = 0;
    img->pixels = NULL;
    switch (ykd_image_sniff(data, size)) {
    case YKD_IMAGE_FORMAT_PNG:
        return ykd_png_decode(data, size, name, max_pixels, img, err);
    case YKD_IMAGE_FORMAT_JPEG:
        return ykd_jpeg_decode(data, size, name, max_pixels, img, err);
    default:
        return unknown_format(name, err);
    }
}

ykd_status ykd_image_read(const char *path, uint64_t max_pixels, ykd_image *img, ykd_error *err)
{
    void *data = NULL;
    size_t size = 0;
    img->width = img->height = 0;
    img->pixels = NULL;
    ykd_status st = ykd_file_read_all(path, YKD_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != YKD_OK)
        return st == YKD_ERR_FORMAT ? YKD_ERR_IO : st; /* over the size limit: unreadable */
    st = ykd_image_decode(data, size, path, max_pixels, img, err);
    free(data);
    return st;
}

/* Up to max bytes from the start of path; *total is the file's size. */
static ykd_status read_prefix(const char *path, size_t max, void **data, size_t *size,
                              long long *total, ykd_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ykd_fail(err, errno == ENOENT ? YKD_ERR_NOT_FOUND : YKD_ERR_IO,
                        "cannot open '%s': %s", path, strerror(errno));
    unsigned char *buf = malloc(max);
    size_t got = buf ? fread(buf, 1, max, f) : 0;
    int failed = !buf || ferror(f);
    *total = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    fclose(f);
    if (failed) {
        free(buf);
        return ykd_fail(err, YKD_ERR_IO, "cannot read '%s'", path);
    }
    *data = buf;
    *size = got;
    return YKD_OK;
}

static ykd_status read_header(const void *data, size_t size, const char *path, uint64_t max_pixels,
                              int *width, int *height, ykd_error *err)
{
    switch (ykd_image_sniff(data, size)) {
    case YKD_IMAGE_FORMAT_PNG:
        return ykd_png_read_header(data, size, path, max_pixels, width, height, err);
    case YKD_IMAGE_FORMAT_JPEG:
        return ykd_jpeg_read_header(data, size, path, max_pixels, width, height, err);
    default:
        return unknown_format(path, err);
    }
}

ykd_status ykd_image_probe(const char *path, uint64_t max_pixels, int *width, int *height,
                           ykd_error *err)
{
    void *data = NULL;
    size_t size = 0;
    long long total = 0;
    ykd_status st = read_prefix(path, PROBE_PREFIX_BYTES, &data, &size, &total, err);
    if (st != YKD_OK)
        return st;
    st = read_header(data, size, path, max_pixels, width, height, err);
    free(data);
    /* a header past the prefix (a large EXIF block, say): try again with the whole file */
    if (st == YKD_ERR_FORMAT && total > (long long)size) {
        st = ykd_file_read_all(path, YKD_IMAGE_MAX_FILE_BYTES, &data, &size, err);
        if (st != YKD_OK)
            return st == YKD_ERR_FORMAT ? YKD_ERR_IO : st;
        st = read_header(data, size, path, max_pixels, width, height, err);
        free(data);
    }
    return st;
}

/* Source index pairs and 11-bit weights of one bilinear axis; valid false where the
 * position falls outside the source (and clamping is off). */
typedef struct axis_tap {
    int i0, i1;
    uint32_t w1; /* weight of i1, out of 2048 */
    bool valid;
} axis_tap;

static void axis_taps(int src, int dst, double a, double b, bool clamp, axis_tap *taps)
{
    for (int d = 0; d < dst; d++) {
        double u = (d + 0.5) * a + b;
        taps[d].valid = clamp || (u >= 0 && u < src);
        double s = u - 0.5; /* in pixel-index space */
        if (s < 0)
            s = 0;
        if (s > src - 1)
            s = src - 1;
        int i0 = (int)s;
        taps[d].i0 = i0;
        taps[d].i1 = i0 + 1 < src ? i0 + 1 : src - 1;
        taps[d].w1 = (uint32_t)((s - i0) * 2048.0 + 0.5);
    }
}

void ykd_image_sample(const ykd_image *src, ykd_image *dst, double ax, double bx, double ay,
                      double by, bool clamp)
{
    axis_tap stack[2 * 1024];
    size_t need = (size_t)dst->width + (size_t)dst->height;
    axis_tap *xt = need <= 2 * 1024 ? stack : malloc(need * sizeof *xt);
    if (!xt) { /* cannot happen for sane sizes; leave a visible gray image rather than crash */
        memset(dst->pixels, YKD_PAD_VALUE, (size_t)dst->width * dst->height * 3);
        return;
    }
    axis_tap *yt = xt + dst->width;
    axis_taps(src->width, dst->width, ax, bx, clamp, xt);
    axis_taps(src->height, dst->height, ay, by, clamp, yt);
    size_t stride = (size_t)src->width * 3;
    for (int y = 0; y < dst->height; y++) {
        const uint8_t *r0 = src->pixels + (size_t)yt[y].i0 * stride;
        const uint8_t *r1 = src->pixels + (size_t)yt[y].i1 * stride;
        uint32_t wy1 = yt[y].w1, wy0 = 2048 - wy1;
        uint8_t *out = dst->pixels + (size_t)y * dst->width * 3;
        for (int x = 0; x < dst->width; x++, out += 3) {
            if (!yt[y].valid || !xt[x].valid) {
                out[0] = out[1] = out[2] = YKD_PAD_VALUE;
                continue;
            }
            size_t a = (size_t)xt[x].i0 * 3, b = (size_t)xt[x].i1 * 3;
            uint32_t wx1 = xt[x].w1, wx0 = 2048 - wx1;
            for (int c = 0; c < 3; c++) {
                uint32_t top = r0[a + c] * wx0 + r0[b + c] * wx1;
                uint32_t bottom = r1[a + c] * wx0 + r1[b + c] * wx1;
                out[c] = (uint8_t)((top * wy0 + bottom * wy1 + (1u << 21)) >> 22);
            }
        }
    }
    if (xt != stack)
        free(xt);
}

ykd_status ykd_image_resize(const ykd_image *src, int dst_w, int dst_h, ykd_image *dst,
                            ykd_error *err)
{
    ykd_status st = ykd_image_init(dst, dst_w, dst_h, 0, err);
    if (st != YKD_OK)
        return st;
    /* as Ultralytics resizes with OpenCV: INTER_AREA to shrink, INTER_LINEAR to grow */
    if (dst_w <= src->width && dst_h <= src->height) {
        st = ykd_image_resize_area(src, dst, err);
        if (st != YKD_OK)
            ykd_image_free(dst);
        return st;
    }
    ykd_image_sample(src, dst, (double)src->width / dst_w, 0, (double)src->height / dst_h, 0, true);
    return YKD_OK;
}

void ykd_image_paste(ykd_image *dst, const ykd_image *src, int x, int y)
{
    int x0 = x < 0 ? -x : 0, y0 = y < 0 ? -y : 0;
    int x1 = src->width, y1 = src->height;
    if (x + x1 > dst->width)
        x1 = dst->width - x;
    if (y + y1 > dst->height)
        y1 = dst->height - y;
    if (x0 >= x1)
        return;
    for (int r = y0; r < y1; r++)
        memcpy(dst->pixels + ((size_t)(y + r) * dst->width + (size_t)(x + x0)) * 3,
               src->pixels + ((size_t)r * src->width + (size_t)x0) * 3, (size_t)(x1 - x0) * 3);
}
