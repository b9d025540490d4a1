/* Internal: the decoders' shared pieces (pixel limit, header-only decoding for probes). */
#ifndef YKD_DATA_CODEC_H
#define YKD_DATA_CODEC_H

#include <stdbool.h>

#include "yolokd/data.h"

/* Refuses width x height over max_pixels (0: the default) before anything is allocated;
 * YKD_ERR_OUT_OF_MEMORY ("over a limit") with a message naming the file. */
ykd_status ykd_image_check_size(const char *name, uint64_t width, uint64_t height,
                                uint64_t max_pixels, ykd_error *err);

/* Header only: validates the magic and dimensions and fills *width, *height. */
ykd_status ykd_png_read_header(const void *data, size_t size, const char *name, uint64_t max_pixels,
                               int *width, int *height, ykd_error *err);
ykd_status ykd_jpeg_read_header(const void *data, size_t size, const char *name,
                                uint64_t max_pixels, int *width, int *height, ykd_error *err);

#endif
