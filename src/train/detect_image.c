/* Detection of a single image: the letterbox validation uses, the model's inference forward,
 * the detector, and the way back to the image's pixels. */
#include <stdlib.h>

#include "core/error_internal.h"
#include "train/head_views.h"
#include "yolokd/train.h"

/* HWC bytes to CHW floats in [0, 1], as the loader gives them. */
static void to_planes(const ykd_image *img, float *out)
{
    size_t plane = (size_t)img->width * img->height;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            out[c * plane + i] = (float)img->pixels[3 * i + c] / 255.0f;
}

/* The letterboxed image on the device as [1, 3, imgsz, imgsz]. */
static ykd_status upload(ykd_device *dev, const ykd_image *image, int imgsz, ykd_tensor *input,
                         ykd_image_frame *frame, ykd_error *err)
{
    ykd_image boxed = {0};
    float *planes = malloc((size_t)imgsz * imgsz * 3 * sizeof *planes);
    ykd_status st = planes ? ykd_letterbox(image, imgsz, NULL, 0, &boxed, &frame->letterbox, err)
                           : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of host memory");
    if (st == YKD_OK) {
        frame->width = image->width, frame->height = image->height;
        to_planes(&boxed, planes);
        st = ykd_tensor_alloc(dev, 1, 3, imgsz, imgsz, input, err);
    }
    if (st == YKD_OK)
        st = ykd_tensor_write(input, planes, err);
    ykd_image_free(&boxed);
    free(planes);
    return st;
}

ykd_status ykd_model_detect(ykd_model *model, ykd_detector *detector, const ykd_image *image,
                            int imgsz, const ykd_detect_options *options, ykd_detections *out,
                            ykd_error *err)
{
    out->items = NULL, out->count = 0;
    int stride = ykd_model_desc_max_stride(ykd_model_get_desc(model));
    if (imgsz < stride || imgsz % stride)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "detect: image size %d is not a multiple of the model's stride %d", imgsz,
                        stride);
    ykd_tensor input = {0};
    ykd_image_frame frame;
    ykd_head_views h;
    ykd_status st = upload(ykd_model_device(model), image, imgsz, &input, &frame, err);
    if (st == YKD_OK)
        st = ykd_model_forward(model, &input, YKD_MODEL_INFERENCE, err);
    if (st == YKD_OK)
        st = ykd_head_views_get(model, &h, err);
    if (st == YKD_OK)
        st = ykd_detector_run(detector, h.levels, h.count, options, &frame, out, err);
    ykd_tensor_free(&input);
    return st;
}
