/* Validation: a model in inference mode over a whole split, letterboxed as the loader does
 * without augmentation, detections mapped back to each image's own pixels and evaluated COCO's
 * way against its labels; the validation losses from the same outputs. Used by the trainer
 * after every epoch and by `yolokd val`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/device_internal.h"
#include "train/head_views.h"
#include "yolokd/train.h"

struct ykd_validator {
    ykd_device *device;
    const ykd_dataset *dataset;
    ykd_val_options o;
    ykd_loader *loader;
    ykd_detector *detector;
    ykd_yolo_loss *loss;
    ykd_image_frame *frames; /* per dataset image */
    ykd_tensor images;       /* [batch, 3, S, S] */
    ykd_detections *dets;    /* per batch image */
};

void ykd_val_options_default(ykd_val_options *o)
{
    memset(o, 0, sizeof *o);
    o->imgsz = 640;
    o->batch = 32;
    o->workers = 2;
    o->cache_mb = 1024;
    ykd_detect_options_default(&o->detect);
    o->keep_detections = false;
    o->losses = true;
}

double ykd_fitness(const ykd_eval_result *eval)
{
    return 0.1 * eval->map50 + 0.9 * eval->map50_95;
}

void ykd_val_result_free(ykd_val_result *r)
{
    if (!r)
        return;
    ykd_eval_result_free(&r->eval);
    if (r->detections) {
        ykd_detections_free(r->detections, r->images);
        free(r->detections);
    }
    memset(r, 0, sizeof *r);
}

/* Every image's size from its header, and where the letterbox puts it. */
static ykd_status read_frames(ykd_validator *v, ykd_error *err)
{
    size_t n = ykd_dataset_count(v->dataset);
    v->frames = calloc(n ? n : 1, sizeof *v->frames);
    if (!v->frames)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "validation: out of host memory");
    for (size_t i = 0; i < n; i++) {
        int w = 0, h = 0;
        ykd_status st = ykd_image_probe(ykd_dataset_image_path(v->dataset, i),
                                        ykd_dataset_max_pixels(v->dataset), &w, &h, err);
        if (st != YKD_OK)
            return st;
        ykd_image_frame_letterbox(w, h, v->o.imgsz, &v->frames[i]);
    }
    return YKD_OK;
}

static ykd_status open_loader(ykd_validator *v, ykd_error *err)
{
    ykd_loader_options lo;
    ykd_loader_options_default(&lo);
    lo.image_size = v->o.imgsz;
    lo.batch_size = v->o.batch;
    lo.workers = v->o.workers;
    lo.shuffle = false;
    lo.augment = false;
    lo.cache_mb = v->o.cache_mb;
    return ykd_loader_open(v->dataset, &lo, &v->loader, err);
}

ykd_status ykd_validator_open(ykd_device *device, const ykd_dataset *dataset,
                              const ykd_val_options *options, ykd_validator **validator,
                              ykd_error *err)
{
    *validator = NULL;
    if (options->imgsz < 32 || options->batch < 1)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "validation: image size %d (at least 32) or batch %d (at least 1)",
                        options->imgsz, options->batch);
    if (ykd_dataset_count(dataset) == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "validation: the split has no images");
    ykd_validator *v = calloc(1, sizeof *v);
    if (!v)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "validation: out of host memory");
    v->device = device;
    v->dataset = dataset;
    v->o = *options;
    int nc = (int)ykd_dataset_class_count(dataset);
    v->dets = calloc((size_t)options->batch, sizeof *v->dets);
    ykd_status st = v->dets ? read_frames(v, err)
                            : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "validation: out of memory");
    if (st == YKD_OK)
        st = open_loader(v, err);
    if (st == YKD_OK)
        st = ykd_detector_init(device, nc, &v->detector, err);
    if (st == YKD_OK && options->losses)
        st = ykd_yolo_loss_init(device, nc, NULL, &v->loss, err);
    if (st == YKD_OK)
        st = ykd_tensor_alloc(device, options->batch, 3, options->imgsz, options->imgsz,
                              &v->images, err);
    if (st != YKD_OK) {
        ykd_validator_close(v);
        return st;
    }
    *validator = v;
    return YKD_OK;
}

void ykd_validator_close(ykd_validator *v)
{
    if (!v)
        return;
    ykd_loader_close(v->loader);
    ykd_detector_free(v->detector);
    ykd_yolo_loss_free(v->loss);
    ykd_tensor_free(&v->images);
    free(v->frames);
    free(v->dets);
    free(v);
}

const ykd_image_frame *ykd_validator_frame(const ykd_validator *v, size_t index)
{
    return index < ykd_dataset_count(v->dataset) ? &v->frames[index] : NULL;
}

static ykd_status check_model(const ykd_validator *v, const ykd_model *model, ykd_error *err)
{
    int nc = ykd_model_classes(model);
    int stride = ykd_model_desc_max_stride(ykd_model_get_desc(model));
    if ((size_t)nc != ykd_dataset_class_count(v->dataset))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "validation: the model has %d classes, the dataset %zu", nc,
                        ykd_dataset_class_count(v->dataset));
    if (v->o.imgsz % stride)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "validation: image size %d is not a multiple of the model's stride %d",
                        v->o.imgsz, stride);
    if (ykd_model_device(model) != v->device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "validation: the model is on another device than the validator");
    return YKD_OK;
}

/* The image's labels in its own pixels. */
static ykd_status image_gts(const ykd_validator *v, size_t index, ykd_pixel_box **gts,
                            size_t *count, ykd_error *err)
{
    const ykd_box *boxes = ykd_dataset_labels(v->dataset, index, count);
    *gts = malloc((*count ? *count : 1) * sizeof **gts);
    if (!*gts)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "validation: out of host memory");
    double w = v->frames[index].width, h = v->frames[index].height;
    for (size_t k = 0; k < *count; k++) {
        const ykd_box *b = &boxes[k];
        (*gts)[k] = (ykd_pixel_box){b->cls, (float)((b->cx - b->w / 2) * w),
                                    (float)((b->cy - b->h / 2) * h), (float)((b->cx + b->w / 2) * w),
                                    (float)((b->cy + b->h / 2) * h)};
    }
    return YKD_OK;
}

/* What a run accumulates between batches. */
typedef struct val_pass {
    ykd_evaluator *evaluator;
    double box, cls, dfl;
    size_t loss_batches;
} val_pass;

/* Adds a batch's detections to the evaluation (and, when asked, hands them to the result). */
static ykd_status add_detections(ykd_validator *v, const ykd_batch *b, val_pass *p,
                                 ykd_val_result *r, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < b->count && st == YKD_OK; i++) {
        ykd_pixel_box *gts = NULL;
        size_t gt_count = 0;
        st = image_gts(v, b->sources[i], &gts, &gt_count, err);
        if (st == YKD_OK)
            st = ykd_evaluator_add(p->evaluator, v->dets[i].items, v->dets[i].count, gts,
                                   gt_count, err);
        free(gts);
        if (st == YKD_OK && r->detections) {
            r->detections[b->sources[i]] = v->dets[i];
            v->dets[i] = (ykd_detections){NULL, 0};
        }
    }
    ykd_detections_free(v->dets, b->count);
    return st;
}

/* One batch: forward, detections, losses, evaluation. */
static ykd_status run_batch(ykd_validator *v, ykd_model *model, const ykd_batch *b, val_pass *p,
                            ykd_val_result *r, ykd_error *err)
{
    ykd_tensor images = ykd_tensor_images(&v->images, 0, (int)b->count);
    ykd_image_frame *frames = malloc(b->count * sizeof *frames);
    if (!frames)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "validation: out of host memory");
    for (size_t i = 0; i < b->count; i++)
        frames[i] = v->frames[b->sources[i]];
    ykd_head_views h;
    ykd_status st = ykd_tensor_write(&images, b->images, err);
    if (st == YKD_OK)
        st = ykd_model_forward(model, &images, YKD_MODEL_INFERENCE, err);
    if (st == YKD_OK)
        st = ykd_head_views_get(model, &h, err);
    if (st == YKD_OK)
        st = ykd_detector_run(v->detector, h.levels, h.count, &v->o.detect, frames, v->dets, err);
    if (st == YKD_OK && v->loss) {
        ykd_yolo_targets targets = {b->labels, b->box_counts, b->max_boxes};
        ykd_yolo_loss_value value;
        st = ykd_yolo_loss_compute(v->loss, h.levels, h.count, &targets, NULL, false, &value,
                                   err);
        p->box += value.box, p->cls += value.cls, p->dfl += value.dfl;
        p->loss_batches++;
    }
    free(frames);
    if (st == YKD_OK)
        st = add_detections(v, b, p, r, err);
    return st;
}

static void finish_result(const val_pass *p, double ms, ykd_val_result *r)
{
    double n = (double)p->loss_batches;
    r->box = n > 0 ? p->box / n : NAN;
    r->cls = n > 0 ? p->cls / n : NAN;
    r->dfl = n > 0 ? p->dfl / n : NAN;
    r->fitness = ykd_fitness(&r->eval);
    r->seconds = ms / 1000.0;
    r->images_per_s = ms > 0 ? (double)r->eval.images / (ms / 1000.0) : 0.0;
}

/* The batches of one pass; the loader's order is the dataset's. */
static ykd_status run_batches(ykd_validator *v, ykd_model *model, ykd_val_callback cb,
                              void *user, val_pass *p, ykd_val_result *r, ykd_error *err)
{
    size_t total = ykd_loader_batches_per_epoch(v->loader), done = 0;
    ykd_status st = ykd_loader_start_epoch(v->loader, 0, err);
    while (st == YKD_OK) {
        ykd_batch *b = NULL;
        st = ykd_loader_next(v->loader, &b, err);
        if (st != YKD_OK || !b)
            break;
        if (b->count > 0)
            st = run_batch(v, model, b, p, r, err);
        ykd_loader_release(v->loader, b);
        if (st == YKD_OK && cb && !cb(++done, total, user))
            st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "validation: stopped");
    }
    return st;
}

ykd_status ykd_validator_run(ykd_validator *v, ykd_model *model, ykd_val_callback cb, void *user,
                             ykd_val_result *r, ykd_error *err)
{
    memset(r, 0, sizeof *r);
    ykd_status st = check_model(v, model, err);
    if (st != YKD_OK)
        return st;
    val_pass p = {NULL, 0, 0, 0, 0};
    r->images = ykd_dataset_count(v->dataset);
    if (v->o.keep_detections) {
        r->detections = calloc(r->images, sizeof *r->detections);
        if (!r->detections)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "validation: out of host memory");
    }
    double t0 = ykd_now_ms();
    st = ykd_evaluator_init(ykd_model_classes(model), &p.evaluator, err);
    if (st == YKD_OK)
        st = run_batches(v, model, cb, user, &p, r, err);
    if (st == YKD_OK)
        st = ykd_evaluator_result(p.evaluator, &r->eval, err);
    ykd_evaluator_free(p.evaluator);
    if (st != YKD_OK) {
        ykd_val_result_free(r);
        return st;
    }
    finish_result(&p, ykd_now_ms() - t0, r);
    return YKD_OK;
}
