/* Images of one format (DECODE: ykd_png_decode or ykd_jpeg_decode, one target each), decoded
 * directly and through the format sniffer, with a pixel limit small enough that a huge
 * declared size is refused rather than allocated. */
#include "fuzz.h"
#include "yolokd/data.h"

enum { MAX_PIXELS = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ykd_error err;
    ykd_image img = {0};
    if (DECODE(data, size, "fuzz-image", MAX_PIXELS, &img, &err) == YKD_OK)
        ykd_image_free(&img);
    if (ykd_image_decode(data, size, "fuzz-image", MAX_PIXELS, &img, &err) == YKD_OK)
        ykd_image_free(&img);
    return 0;
}
