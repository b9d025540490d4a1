/* Detections from a YOLO head: decode on the device (cl/detect_yolo.cl), then on the host the
 * candidates over the confidence threshold, NMS, and the way back to the original image. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "data/transform.h"
#include "ops/ops_internal.h"
#include "train/eval_internal.h"
#include "train/yolo_head.h"

static const char *const detect_sources[] = {"cl/detect_yolo.cl", NULL};

struct ykd_detector {
    ykd_device *device;
    int nc;
    ykd_buffer *boxes, *scores; /* [N, anchors] float4, [N, nc * anchors] level-blocked */
    float *host_boxes, *host_scores;
    size_t host_box_floats, host_score_floats;
};

void ykd_image_frame_letterbox(int width, int height, int size, ykd_image_frame *frame)
{
    int w, h;
    ykd_fit_size(width, height, size, &w, &h);
    frame->width = width;
    frame->height = height;
    frame->letterbox = (ykd_letterbox_info){
        (float)w / width, (float)h / height, (size - w) / 2, (size - h) / 2, w, h};
}

void ykd_detections_free(ykd_detections *dets, size_t images)
{
    for (size_t i = 0; dets && i < images; i++) {
        free(dets[i].items);
        dets[i].items = NULL;
        dets[i].count = 0;
    }
}

ykd_status ykd_detector_init(ykd_device *device, int nc, ykd_detector **detector, ykd_error *err)
{
    *detector = NULL;
    if (!device || nc < 1 || nc > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "detect: no device, or %d classes", nc);
    ykd_detector *d = calloc(1, sizeof *d);
    if (!d)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of host memory");
    d->device = device;
    d->nc = nc;
    *detector = d;
    return YKD_OK;
}

void ykd_detector_free(ykd_detector *d)
{
    if (!d)
        return;
    ykd_buffer_free(d->boxes);
    ykd_buffer_free(d->scores);
    free(d->host_boxes);
    free(d->host_scores);
    free(d);
}

/* Device and host room for floats floats in *buf / *host. */
static ykd_status ensure(ykd_detector *d, ykd_buffer **buf, float **host, size_t *have,
                         size_t floats, ykd_error *err)
{
    if (*have >= floats)
        return YKD_OK;
    ykd_buffer_free(*buf);
    *buf = NULL;
    float *h = realloc(*host, floats * sizeof(float));
    if (!h)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of host memory");
    *host = h;
    ykd_status st = ykd_buffer_alloc(d->device, floats * sizeof(float), buf, err);
    *have = st == YKD_OK ? floats : 0;
    return st;
}

/* Boxes and probabilities of every anchor, decoded on the device and read back. */
static ykd_status decode(ykd_detector *d, const ykd_yolo_level *levels,
                         const ykd_yolo_geometry *geo, ykd_error *err)
{
    size_t per_image = (size_t)d->nc * geo->anchors;
    ykd_status st = ensure(d, &d->boxes, &d->host_boxes, &d->host_box_floats,
                           (size_t)geo->images * geo->anchors * 4, err);
    if (st == YKD_OK)
        st = ensure(d, &d->scores, &d->host_scores, &d->host_score_floats,
                    (size_t)geo->images * per_image, err);
    ykd_kernel *boxes_k = NULL, *scores_k = NULL;
    if (st == YKD_OK)
        st = ykd_device_kernel(d->device, detect_sources, NULL, "yolo_detect_boxes", &boxes_k, err);
    if (st == YKD_OK)
        st = ykd_device_kernel(d->device, detect_sources, NULL, "yolo_detect_scores", &scores_k,
                               err);
    cl_int anchors = geo->anchors;
    cl_uint image_stride = (cl_uint)per_image;
    for (int l = 0; st == YKD_OK && l < geo->levels; l++) {
        ykd_tensor_args box = ykd_tensor_kernel_args(levels[l].box);
        ykd_tensor_args cls = ykd_tensor_kernel_args(levels[l].cls);
        cl_int4 geom = {{geo->h[l], geo->w[l], geo->stride[l], geo->first[l]}};
        ykd_kernel_arg box_args[] = {YKD_YOLO_TENSOR_ARGS(box), YKD_ARG(geom), YKD_ARG(anchors),
                                     YKD_ARG(d->boxes->mem)};
        size_t cells = (size_t)geo->h[l] * geo->w[l];
        size_t global[2] = {cells, (size_t)geo->images};
        st = ykd_kernel_run(d->device, boxes_k, box_args, 6, 2, global, NULL, NULL, err);
        cl_uint count = (cl_uint)(cells * d->nc), out_off = (cl_uint)d->nc * geo->first[l];
        ykd_kernel_arg score_args[] = {YKD_YOLO_TENSOR_ARGS(cls), YKD_ARG(count), YKD_ARG(out_off),
                                       YKD_ARG(image_stride), YKD_ARG(d->scores->mem)};
        size_t score_global[2] = {count, (size_t)geo->images};
        if (st == YKD_OK)
            st = ykd_kernel_run(d->device, scores_k, score_args, 7, 2, score_global, NULL, NULL,
                                err);
    }
    if (st == YKD_OK)
        st = ykd_buffer_read(d->boxes, 0, d->host_boxes,
                             (size_t)geo->images * geo->anchors * 4 * sizeof(float), err);
    if (st == YKD_OK)
        st = ykd_buffer_read(d->scores, 0, d->host_scores,
                             (size_t)geo->images * per_image * sizeof(float), err);
    return st;
}

ykd_status ykd_detector_decode(ykd_detector *d, const ykd_yolo_level *levels, int level_count,
                               const float **boxes, const float **scores, ykd_error *err)
{
    ykd_yolo_geometry geo = {0};
    ykd_status st =
        ykd_yolo_head_check("detect", d->device, d->nc, levels, level_count, NULL, &geo, err);
    if (st == YKD_OK)
        st = decode(d, levels, &geo, err);
    *boxes = st == YKD_OK ? d->host_boxes : NULL;
    *scores = st == YKD_OK ? d->host_scores : NULL;
    return st;
}

/* A growing array of candidates. */
typedef struct candidates {
    ykd_detection *items;
    size_t count, cap;
} candidates;

static bool push(candidates *c, const float *box, float score, int cls)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        ykd_detection *p = realloc(c->items, cap * sizeof *p);
        if (!p)
            return false;
        c->items = p;
        c->cap = cap;
    }
    c->items[c->count++] = (ykd_detection){box[0], box[1], box[2], box[3], score, cls};
    return true;
}

/* Image n's candidates in anchor order, then class order; fails on non-finite outputs. */
static ykd_status collect(const ykd_detector *d, const ykd_yolo_level *levels,
                          const ykd_yolo_geometry *geo, int n, const ykd_detect_options *o,
                          candidates *c, ykd_error *err)
{
    c->count = 0;
    const float *scores = d->host_scores + (size_t)n * d->nc * geo->anchors;
    for (int l = 0; l < geo->levels; l++) {
        size_t cells = (size_t)geo->h[l] * geo->w[l];
        const float *level_scores = scores + (size_t)d->nc * geo->first[l];
        for (size_t p = 0; p < cells; p++) {
            const float *box = d->host_boxes + ((size_t)n * geo->anchors + geo->first[l] + p) * 4;
            if (!isfinite(box[0] + box[1] + box[2] + box[3]))
                return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                                "detect: level %d box logits (stride %d) hold NaN or infinite "
                                "values (image %d)",
                                l, levels[l].stride, n);
            int best = -1;
            for (int k = 0; k < d->nc; k++) {
                float s = level_scores[(size_t)k * cells + p];
                if (isnan(s))
                    return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                                    "detect: level %d class logits (stride %d) hold NaN (image "
                                    "%d)",
                                    l, levels[l].stride, n);
                if (o->multi_label && s > o->conf && !push(c, box, s, k))
                    return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of memory");
                if (best < 0 || s > level_scores[(size_t)best * cells + p])
                    best = k;
            }
            float top = level_scores[(size_t)best * cells + p];
            if (!o->multi_label && top > o->conf && !push(c, box, top, best))
                return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "detect: out of memory");
        }
    }
    return YKD_OK;
}

/* Input pixels to the original image's, clipped to it (the letterbox undone). */
static void to_frame(ykd_detection *dets, size_t count, const ykd_image_frame *f)
{
    const ykd_letterbox_info *lb = &f->letterbox;
    for (size_t i = 0; i < count; i++) {
        ykd_detection *d = &dets[i];
        d->x1 = fminf(fmaxf((d->x1 - lb->pad_x) / lb->scale_x, 0.0f), (float)f->width);
        d->x2 = fminf(fmaxf((d->x2 - lb->pad_x) / lb->scale_x, 0.0f), (float)f->width);
        d->y1 = fminf(fmaxf((d->y1 - lb->pad_y) / lb->scale_y, 0.0f), (float)f->height);
        d->y2 = fminf(fmaxf((d->y2 - lb->pad_y) / lb->scale_y, 0.0f), (float)f->height);
    }
}

ykd_status ykd_detector_run(ykd_detector *d, const ykd_yolo_level *levels, int level_count,
                            const ykd_detect_options *options, const ykd_image_frame *frames,
                            ykd_detections *out, ykd_error *err)
{
    ykd_yolo_geometry geo = {0};
    ykd_status st = ykd_detect_options_check(options, err);
    if (st == YKD_OK)
        st = ykd_yolo_head_check("detect", d->device, d->nc, levels, level_count, NULL, &geo, err);
    if (st != YKD_OK)
        return st;
    memset(out, 0, (size_t)geo.images * sizeof *out);
    for (int n = 0; frames && n < geo.images; n++)
        if (frames[n].width <= 0 || frames[n].height <= 0 || !(frames[n].letterbox.scale_x > 0) ||
            !(frames[n].letterbox.scale_y > 0))
            return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                            "detect: frame of image %d is %dx%d with scale %g x %g", n,
                            frames[n].width, frames[n].height, frames[n].letterbox.scale_x,
                            frames[n].letterbox.scale_y);
    st = decode(d, levels, &geo, err);
    candidates c = {0};
    for (int n = 0; st == YKD_OK && n < geo.images; n++) {
        st = collect(d, levels, &geo, n, options, &c, err);
        if (st == YKD_OK)
            st = ykd_nms(c.items, c.count, options, &out[n].items, &out[n].count, err);
        if (st == YKD_OK && frames)
            to_frame(out[n].items, out[n].count, &frames[n]);
    }
    free(c.items);
    if (st != YKD_OK)
        ykd_detections_free(out, (size_t)geo.images);
    return st;
}
