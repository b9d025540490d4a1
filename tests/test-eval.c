/* Evaluation: NMS, COCO-style AP on hand-made detection sets whose values are worked out in the
 * comments (perfect, all wrong, a duplicate, a missed gt, ties, IoU thresholds), precision and
 * recall at the best F1, the COCO results JSON, the way back from the letterbox, the training
 * curves picture, and the detector on the device against hand-built head outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "train/curves_internal.h"
#include "yolokd/curves.h"
#include "yolokd/eval.h"

/* ---- NMS -------------------------------------------------------------------------------- */

static void test_box_iou(ykd_test *t)
{
    /* (0,0,2,2) and (1,1,3,3): intersection 1, union 4 + 4 - 1 = 7 */
    CHECK(t, ykd_box_iou(0, 0, 2, 2, 1, 1, 3, 3) == 1.0 / 7.0);
    /* (0,0,4,4) and (0,0,4,3): 12 / 16 */
    CHECK(t, ykd_box_iou(0, 0, 4, 4, 0, 0, 4, 3) == 0.75);
    CHECK(t, ykd_box_iou(0, 0, 1, 1, 2, 2, 3, 3) == 0.0);
    CHECK(t, ykd_box_iou(1, 1, 1, 1, 1, 1, 1, 1) == 0.0); /* empty union */
}

static ykd_detection det(float x1, float y1, float x2, float y2, float score, int cls)
{
    return (ykd_detection){x1, y1, x2, y2, score, cls};
}

static void test_nms(ykd_test *t)
{
    ykd_detect_options o;
    ykd_detect_options_default(&o);
    ykd_error err;
    /* a and b overlap by 90 / 110 = 0.82 (> 0.7); c is b's box in another class; d overlaps a
     * by 50 / 150 and b by 45 / 155 */
    const ykd_detection in[] = {
        det(0, 0, 10, 10, 0.6f, 0), /* a */
        det(0, 1, 10, 11, 0.9f, 0), /* b: the best, kept first */
        det(0, 1, 10, 11, 0.5f, 1), /* c */
        det(5, 0, 15, 10, 0.4f, 0), /* d */
    };
    ykd_detection *out = NULL;
    size_t n = 0;
    if (CHECK_OK(t, ykd_nms(in, 4, &o, &out, &n, &err), err) && CHECK(t, n == 3)) {
        CHECK(t, out[0].score == 0.9f && out[1].score == 0.5f && out[1].cls == 1);
        CHECK(t, out[2].score == 0.4f);
    }
    free(out);
    o.agnostic = true; /* c now falls to b */
    if (CHECK_OK(t, ykd_nms(in, 4, &o, &out, &n, &err), err))
        CHECK(t, n == 2 && out[0].score == 0.9f && out[1].score == 0.4f);
    free(out);
    o.agnostic = false;
    o.max_det = 2;
    if (CHECK_OK(t, ykd_nms(in, 4, &o, &out, &n, &err), err))
        CHECK(t, n == 2 && out[1].cls == 1);
    free(out);
    o.max_det = 300;
    o.max_nms = 2; /* only b and a enter: a falls */
    if (CHECK_OK(t, ykd_nms(in, 4, &o, &out, &n, &err), err))
        CHECK(t, n == 1 && out[0].score == 0.9f);
    free(out);
    /* equal scores keep the order given: the first of two identical boxes survives */
    o.max_nms = 30000;
    const ykd_detection twins[] = {det(0, 0, 4, 4, 0.5f, 2), det(0, 0, 4, 4.5f, 0.5f, 2)};
    if (CHECK_OK(t, ykd_nms(twins, 2, &o, &out, &n, &err), err))
        CHECK(t, n == 1 && out[0].y2 == 4.0f);
    free(out);
    CHECK_OK(t, ykd_nms(NULL, 0, &o, &out, &n, &err), err);
    CHECK(t, n == 0 && out == NULL);
    o.iou = 1.5f;
    CHECK_STATUS(t, ykd_nms(in, 4, &o, &out, &n, &err), YKD_ERR_INVALID_ARGUMENT, err);
}

/* max_nms keeps the best candidates by score, equal scores in the order given, whatever the
 * selection inside does: 3000 disjoint boxes (nothing suppressed) with scores from nine
 * values, so the cut falls among equals. */
static void test_nms_keeps_the_top_candidates(ykd_test *t)
{
    enum { COUNT = 3000, KEEP = 1000 };
    ykd_detection *in = malloc(COUNT * sizeof *in);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 12);
    for (int i = 0; i < COUNT; i++) {
        float score = (float)(1 + ykd_test_rng_next(&rng) % 9) / 10.0f;
        in[i] = det((float)(3 * i), 0, (float)(3 * i + 2), 2, score, i % 4);
    }
    ykd_detect_options o;
    ykd_detect_options_default(&o);
    o.max_nms = KEEP;
    o.max_det = COUNT;
    ykd_detection *out = NULL;
    size_t n = 0;
    ykd_error err;
    if (CHECK_OK(t, ykd_nms(in, COUNT, &o, &out, &n, &err), err) && CHECK(t, n == KEEP)) {
        /* the expected order, by a plain walk down the nine scores */
        int k = 0, wrong = 0;
        for (int s = 9; s >= 1 && k < KEEP; s--)
            for (int i = 0; i < COUNT && k < KEEP; i++)
                if (in[i].score == (float)s / 10.0f)
                    wrong += out[k++].x1 != in[i].x1;
        CHECKF(t, wrong == 0, "%d of %d ranks differ", wrong, KEEP);
    }
    free(out);
    free(in);
}

/* ---- AP by hand ------------------------------------------------------------------------- */

static ykd_pixel_box gt(int cls, float x1, float y1, float x2, float y2)
{
    return (ykd_pixel_box){cls, x1, y1, x2, y2};
}

/* The result of one evaluator fed the images (dets[i], gts[i]). */
static bool evaluate(ykd_test *t, int nc, int images, const ykd_detection *const *dets,
                     const size_t *det_counts, const ykd_pixel_box *const *gts,
                     const size_t *gt_counts, ykd_eval_result *res)
{
    ykd_evaluator *e = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_evaluator_init(nc, &e, &err), err);
    for (int i = 0; ok && i < images; i++)
        ok = CHECK_OK(t, ykd_evaluator_add(e, dets[i], det_counts[i], gts[i], gt_counts[i], &err),
                      err);
    ok = ok && CHECK_OK(t, ykd_evaluator_result(e, res, &err), err);
    ykd_evaluator_free(e);
    return ok;
}

/* One image: shorthand for the cases below. */
static bool evaluate_one(ykd_test *t, int nc, const ykd_detection *dets, size_t det_count,
                         const ykd_pixel_box *gts, size_t gt_count, ykd_eval_result *res)
{
    return evaluate(t, nc, 1, &dets, &det_count, &gts, &gt_count, res);
}

/* Perfect: every gt found exactly, nothing else. Every detection is a TP at every threshold,
 * precision is 1 at every recall, so AP = 101 * 1 / 101 = 1 for each class and threshold. Two
 * images, two classes. */
static void test_ap_perfect(ykd_test *t)
{
    const ykd_pixel_box g0[] = {gt(0, 10, 10, 50, 60), gt(1, 70, 20, 90, 40)};
    const ykd_pixel_box g1[] = {gt(1, 0, 0, 30, 30)};
    const ykd_detection d0[] = {det(10, 10, 50, 60, 0.9f, 0), det(70, 20, 90, 40, 0.3f, 1)};
    const ykd_detection d1[] = {det(0, 0, 30, 30, 0.8f, 1)};
    const ykd_detection *dets[] = {d0, d1};
    const ykd_pixel_box *gts[] = {g0, g1};
    const size_t dn[] = {2, 1}, gn[] = {2, 1};
    ykd_eval_result r;
    if (evaluate(t, 3, 2, dets, dn, gts, gn, &r)) {
        CHECK(t, r.map50 == 1.0 && r.map50_95 == 1.0);
        CHECK(t, r.classes_with_gts == 2 && r.instances == 3 && r.detections == 3);
        CHECK(t, r.classes[1].instances == 2 && r.classes[1].images == 2);
        CHECK(t, r.precision == 1.0 && r.recall == 1.0);
        for (int k = 0; k < YKD_EVAL_THRESHOLDS; k++)
            CHECK(t, r.classes[0].ap[k] == 1.0 && r.classes[1].ap[k] == 1.0);
        CHECK(t, r.classes[2].instances == 0 && r.classes[2].ap50 == 0.0);
        ykd_eval_result_free(&r);
    }
}

/* All wrong: one detection far from the gt, one on the gt with the wrong class (class 1 has no
 * gt, so it counts nowhere). No TP anywhere: AP = 0. */
static void test_ap_all_wrong(ykd_test *t)
{
    const ykd_pixel_box g[] = {gt(0, 10, 10, 50, 50)};
    const ykd_detection d[] = {det(60, 60, 90, 90, 0.9f, 0), det(10, 10, 50, 50, 0.8f, 1)};
    ykd_eval_result r;
    if (evaluate_one(t, 2, d, 2, g, 1, &r)) {
        CHECK(t, r.map50 == 0.0 && r.map50_95 == 0.0);
        CHECK(t, r.classes_with_gts == 1 && r.precision == 0.0 && r.recall == 0.0);
        ykd_eval_result_free(&r);
    }
}

/* One duplicate: gts A and B; detections A (0.9), A again (0.8), B (0.7): TP, FP, TP. Recall
 * 1/2, 1/2, 1; precision 1, 1/2, 2/3, made monotone 1, 2/3, 2/3. Recall points 0 .. 0.50 (51
 * of them) take precision 1, points 0.51 .. 1 (50) take 2/3: AP = (51 + 50 * 2/3) / 101 =
 * 253 / 303. Precision and recall at the best F1: after 0.9, F1 = 2/3; after 0.8, 1/2; after
 * 0.7, P 2/3 and R 1 give F1 0.8, the best: confidence 0.7. */
static void test_ap_one_duplicate(ykd_test *t)
{
    const ykd_pixel_box g[] = {gt(0, 0, 0, 10, 10), gt(0, 20, 0, 30, 10)};
    const ykd_detection d[] = {det(0, 0, 10, 10, 0.9f, 0), det(0, 0, 10, 10, 0.8f, 0),
                               det(20, 0, 30, 10, 0.7f, 0)};
    ykd_eval_result r;
    if (evaluate_one(t, 1, d, 3, g, 2, &r)) {
        CHECKF(t, fabs(r.map50 - 253.0 / 303.0) < 1e-15, "AP %.17g", r.map50);
        /* exact boxes: the same AP at every threshold (the mean of ten rounds) */
        CHECK(t, fabs(r.map50_95 - r.map50) < 1e-15);
        CHECK(t, r.confidence == 0.7f);
        CHECK(t, r.precision == 2.0 / 3.0 && r.recall == 1.0);
        ykd_eval_result_free(&r);
    }
    /* the duplicate last instead: TP, TP, FP; precision 1, 1, 2/3 made monotone stays 1 at
     * recall 1: AP = 1 (a late duplicate costs nothing) */
    const ykd_detection late[] = {det(0, 0, 10, 10, 0.9f, 0), det(20, 0, 30, 10, 0.8f, 0),
                                  det(0, 0, 10, 10, 0.7f, 0)};
    if (evaluate_one(t, 1, late, 3, g, 2, &r)) {
        CHECK(t, r.map50 == 1.0);
        CHECK(t, r.confidence == 0.8f && r.precision == 1.0 && r.recall == 1.0);
        ykd_eval_result_free(&r);
    }
}

/* One missed: two gts, one found. Recall reaches 1/2 with precision 1: points 0 .. 0.50 (51)
 * take 1, the other 50 take 0: AP = 51 / 101 exactly as the code divides. */
static void test_ap_one_missed(ykd_test *t)
{
    const ykd_pixel_box g[] = {gt(0, 0, 0, 10, 10), gt(0, 50, 50, 60, 60)};
    const ykd_detection d[] = {det(0, 0, 10, 10, 0.6f, 0)};
    ykd_eval_result r;
    if (evaluate_one(t, 1, d, 1, g, 2, &r)) {
        CHECK(t, r.map50 == 51.0 / 101.0 && fabs(r.map50_95 - 51.0 / 101.0) < 1e-15);
        CHECK(t, r.precision == 1.0 && r.recall == 0.5);
        ykd_eval_result_free(&r);
    }
}

/* Ties in score keep the order given. One gt; a miss and a hit, both 0.5. Miss first: FP, TP,
 * precision 0, 1/2 made monotone 1/2, 1/2, recall reaches 1 at the second: every point takes
 * 1/2, AP = 0.5. Hit first: TP, FP, precision 1 at recall 1: AP = 1. Across images the image
 * order decides the same way. */
static void test_ap_ties(ykd_test *t)
{
    const ykd_pixel_box g[] = {gt(0, 0, 0, 10, 10)};
    const ykd_detection miss_first[] = {det(40, 40, 50, 50, 0.5f, 0), det(0, 0, 10, 10, 0.5f, 0)};
    const ykd_detection hit_first[] = {det(0, 0, 10, 10, 0.5f, 0), det(40, 40, 50, 50, 0.5f, 0)};
    ykd_eval_result r;
    if (evaluate_one(t, 1, miss_first, 2, g, 1, &r)) {
        CHECK(t, r.map50 == 0.5);
        ykd_eval_result_free(&r);
    }
    if (evaluate_one(t, 1, hit_first, 2, g, 1, &r)) {
        CHECK(t, r.map50 == 1.0);
        ykd_eval_result_free(&r);
    }
    /* image 0 holds a false positive at 0.5, image 1 its gt found at 0.5: FP then TP */
    const ykd_detection fp[] = {det(40, 40, 50, 50, 0.5f, 0)};
    const ykd_detection tp[] = {det(0, 0, 10, 10, 0.5f, 0)};
    const ykd_detection *dets[] = {fp, tp};
    const ykd_pixel_box *gts[] = {NULL, g};
    const size_t dn[] = {1, 1}, gn[] = {0, 1};
    if (evaluate(t, 1, 2, dets, dn, gts, gn, &r)) {
        CHECK(t, r.map50 == 0.5);
        ykd_eval_result_free(&r);
    }
}

/* IoU thresholds: a detection covering 12 of a 16-pixel gt has IoU 0.75 exactly: a TP at 0.50
 * .. 0.75 (six thresholds), an FP at 0.80 .. 0.95. AP is 1 then 0: AP@0.5:0.95 = 6 / 10. A
 * second class with perfect detection: mAP@0.5:0.95 = (0.6 + 1) / 2 = 0.8. */
static void test_ap_thresholds(ykd_test *t)
{
    const ykd_pixel_box g[] = {gt(0, 0, 0, 4, 4), gt(1, 10, 10, 20, 20)};
    const ykd_detection d[] = {det(0, 0, 4, 3, 0.9f, 0), det(10, 10, 20, 20, 0.8f, 1)};
    ykd_eval_result r;
    if (evaluate_one(t, 2, d, 2, g, 2, &r)) {
        for (int k = 0; k < YKD_EVAL_THRESHOLDS; k++)
            CHECKF(t, r.classes[0].ap[k] == (k <= 5 ? 1.0 : 0.0), "threshold %.2f: AP %g",
                   ykd_eval_threshold(k), r.classes[0].ap[k]);
        CHECK(t, r.classes[0].ap50_95 == 0.6);
        CHECK(t, r.map50 == 1.0 && fabs(r.map50_95 - 0.8) < 1e-15); /* (0.6 + 1) / 2 rounds */
        ykd_eval_result_free(&r);
    }
}

/* A detection takes the unmatched gt of highest IoU, not the first one over the threshold.
 * Gts g0 (0,0)-(10,10) and g1 (5,0)-(15,10); d1 (3,0)-(13,10) at 0.9 overlaps g0 by 70 / 130
 * and g1 by 80 / 120, so it takes g1; d2 on g0 (IoU 1; 50 / 150 with g1) at 0.8 finds g0 free:
 * two TPs, AP@0.5 = 1. Taking the first gt over 0.5 would give d1 g0 and leave d2 a false
 * positive (AP 51 / 101). */
static void test_matching_prefers_highest_iou(ykd_test *t)
{
    const ykd_pixel_box g[] = {gt(0, 0, 0, 10, 10), gt(0, 5, 0, 15, 10)};
    const ykd_detection d[] = {det(3, 0, 13, 10, 0.9f, 0), det(0, 0, 10, 10, 0.8f, 0)};
    ykd_eval_result r;
    if (evaluate_one(t, 1, d, 2, g, 2, &r)) {
        CHECK(t, r.classes[0].ap50 == 1.0);
        ykd_eval_result_free(&r);
    }
}

static void test_evaluator_refusals(ykd_test *t)
{
    ykd_evaluator *e = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_evaluator_init(2, &e, &err), err))
        return;
    const ykd_detection bad_cls[] = {det(0, 0, 1, 1, 0.5f, 2)};
    CHECK_STATUS(t, ykd_evaluator_add(e, bad_cls, 1, NULL, 0, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "detection 0 of image 0: class 2 of 2");
    const ykd_pixel_box bad_gt[] = {gt(0, 0, 0, NAN, 1)};
    CHECK_STATUS(t, ykd_evaluator_add(e, NULL, 0, bad_gt, 1, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "gt 0 of image 0");
    ykd_eval_result r;
    if (CHECK_OK(t, ykd_evaluator_result(e, &r, &err), err)) { /* nothing added: zeros */
        CHECK(t, r.images == 0 && r.map50 == 0.0 && r.classes_with_gts == 0);
        ykd_eval_result_free(&r);
    }
    ykd_evaluator_free(e);
}

/* ---- COCO JSON, letterbox ------------------------------------------------------------------ */

static void test_coco_json(ykd_test *t)
{
    const ykd_detection a[] = {det(10.5f, 20.0f, 30.25f, 60.0f, 0.875f, 1),
                               det(0, 0, 1.0f / 3, 2, 0.123456f, 0)};
    const ykd_detection b[] = {det(5, 5, 6, 6, 0.5f, 2)};
    const ykd_coco_image images[] = {{"000042", a, 2}, {"img\"7", b, 1}, {"9", NULL, 0}};
    char *text = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_coco_json_format(images, 3, NULL, 0, &text, &err), err)) {
        const char *expected =
            "[\n"
            "{\"image_id\": 42, \"category_id\": 1, \"bbox\": [10.5, 20.0, 19.75, 40.0], "
            "\"score\": 0.875},\n"
            "{\"image_id\": 42, \"category_id\": 0, \"bbox\": [0.0, 0.0, 0.333, 2.0], "
            "\"score\": 0.12346},\n"
            "{\"image_id\": \"img\\\"7\", \"category_id\": 2, \"bbox\": [5.0, 5.0, 1.0, 1.0], "
            "\"score\": 0.5}\n"
            "]\n";
        CHECKF(t, strcmp(text, expected) == 0, "got:\n%s", text);
    }
    free(text);
    const int coco91[] = {1, 2, 3};
    if (CHECK_OK(t, ykd_coco_json_format(images, 1, coco91, 3, &text, &err), err))
        CHECK_CONTAINS(t, text, "\"category_id\": 2, \"bbox\": [10.5");
    free(text);
    CHECK_STATUS(t, ykd_coco_json_format(images, 2, coco91, 2, &text, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "class 2 has no category id");
    if (CHECK_OK(t, ykd_coco_json_format(images + 2, 1, NULL, 0, &text, &err), err))
        CHECK(t, strcmp(text, "[]\n") == 0);
    free(text);
    char dir[256], path[300];
    if (ykd_test_mkdtemp(t, dir, sizeof dir)) {
        snprintf(path, sizeof path, "%s/results.json", dir);
        CHECK_OK(t, ykd_coco_json_write(path, images, 1, NULL, 0, &err), err);
        CHECK(t, ykd_test_count_files(dir) == 1);
        ykd_test_rmtree(dir);
    }
}

static void test_letterbox_frame(ykd_test *t)
{
    /* 200 x 100 into 64: resized to 64 x 32 (scale 0.32), 16 rows of padding above */
    ykd_image_frame f;
    ykd_image_frame_letterbox(200, 100, 64, &f);
    CHECK(t, f.width == 200 && f.height == 100 && f.letterbox.inner_w == 64 &&
                 f.letterbox.inner_h == 32 && f.letterbox.pad_x == 0 && f.letterbox.pad_y == 16);
    CHECK(t, f.letterbox.scale_x == 0.32f && f.letterbox.scale_y == 0.32f);
    /* the same as ykd_letterbox gives */
    ykd_image src, dst;
    ykd_letterbox_info info;
    ykd_error err;
    if (CHECK_OK(t, ykd_image_init(&src, 200, 100, 0, &err), err) &&
        CHECK_OK(t, ykd_letterbox(&src, 64, NULL, 0, &dst, &info, &err), err)) {
        CHECK(t, memcmp(&info, &f.letterbox, sizeof info) == 0);
        ykd_image_free(&dst);
    }
    ykd_image_free(&src);
}

/* ---- curves -------------------------------------------------------------------------------- */

static bool pixel_is(const ykd_image *img, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    return p[0] == r && p[1] == g && p[2] == b;
}

static void test_curves(ykd_test *t)
{
    ykd_epoch_metrics rows[4];
    for (int i = 0; i < 4; i++)
        rows[i] =
            (ykd_epoch_metrics){i + 1, 2.0 - 0.3 * i, 3.0 - 0.5 * i, 1.5 - 0.1 * i, NAN,    NAN,
                                NAN,   0.1 * i,       0.2 * i,       0.25 * i,      0.1 * i,
                                0,     {0},           NULL};
    rows[2].map50 = NAN; /* a gap in one series */
    ykd_image img;
    ykd_error err;
    if (!CHECK_OK(t, ykd_curves_draw(rows, 4, &img, &err), err))
        return;
    CHECK(t, img.width == YKD_CURVES_WIDTH && img.height == YKD_CURVES_HEIGHT);
    CHECK(t, strcmp(ykd_curves_title(8), "metrics/mAP50") == 0);
    /* every finite point sits on the series colour; panel 0's first is top-left of its plot */
    int drawn = 0;
    for (int p = 0; p < YKD_CURVES_PANELS; p++) {
        ykd_curves_axes a;
        ykd_curves_axes_of(rows, 4, p, &a);
        for (int i = 0; i < 4; i++) {
            double v = ykd_curves_value(&rows[i], p);
            if (!isfinite(v))
                continue;
            int x = a.left + (int)lround((rows[i].epoch - a.e0) * a.sx);
            int y = a.top + a.height - 1 - (int)lround((v - a.v0) * a.sy);
            CHECKF(t, x >= a.left && x < a.left + a.width && y >= a.top && y < a.top + a.height,
                   "panel %d point %d outside its plot", p, i);
            drawn += CHECKF(t, pixel_is(&img, x, y, 31, 119, 180), "panel %d point %d", p, i);
        }
    }
    CHECK(t, drawn == 6 * 4 + 3); /* six full series, mAP50 with its gap, val losses absent */
    /* the gap: between epochs 2 and 4 of mAP50 (panel 8) the midpoint is not drawn */
    ykd_curves_axes a;
    ykd_curves_axes_of(rows, 4, 8, &a);
    int mid_x = a.left + (int)lround((3 - a.e0) * a.sx);
    int mid_y = a.top + a.height - 1 - (int)lround((0.5 * (0.25 + 0.75) - a.v0) * a.sy);
    CHECK(t, !pixel_is(&img, mid_x, mid_y, 31, 119, 180));
    /* the smoothed series starts at its first epoch's smoothed value (panel 1: no gap) */
    double series[4], smooth[4];
    for (int i = 0; i < 4; i++)
        series[i] = ykd_curves_value(&rows[i], 1);
    ykd_smooth_gaussian(series, 4, 3.0, smooth);
    ykd_curves_axes_of(rows, 4, 1, &a);
    int sx = a.left + (int)lround((rows[0].epoch - a.e0) * a.sx);
    int sy = a.top + a.height - 1 - (int)lround((smooth[0] - a.v0) * a.sy);
    CHECKF(t, pixel_is(&img, sx, sy, 255, 127, 14), "no smoothed line at (%d, %d)", sx, sy);
    /* and through the PNG writer, pixel for pixel */
    char dir[256], path[300];
    if (ykd_test_mkdtemp(t, dir, sizeof dir)) {
        snprintf(path, sizeof path, "%s/curves.png", dir);
        ykd_image back;
        if (CHECK_OK(t, ykd_curves_write(path, rows, 4, &err), err) &&
            CHECK_OK(t, ykd_image_read(path, 0, &back, &err), err)) {
            CHECK(t, back.width == img.width && back.height == img.height &&
                         memcmp(back.pixels, img.pixels, (size_t)img.width * img.height * 3) == 0);
            ykd_image_free(&back);
        }
        ykd_test_rmtree(dir);
    }
    ykd_image_free(&img);
    if (CHECK_OK(t, ykd_curves_draw(NULL, 0, &img, &err), err)) /* no epochs yet: the frames */
        ykd_image_free(&img);
    /* extreme values (the sanitizer build checks the arithmetic) and a one-value range */
    for (int i = 0; i < 4; i++)
        rows[i] = (ykd_epoch_metrics){i + 1, 1e308 * (i % 2 ? 1 : -1), 1.7e308, 1e-300 * i,
                                      -1e308, INFINITY, -INFINITY, 0.5, 0.5, 0.5, 0.5, 0, {0}, NULL};
    if (CHECK_OK(t, ykd_curves_draw(rows, 4, &img, &err), err))
        ykd_image_free(&img);
}

/* Ticks at 1, 2 or 5 times a power of ten: the smallest such step with at most max ticks in
 * the range, worked by hand (multiples of the step between lo and hi, counted). */
static void test_curves_ticks(ykd_test *t)
{
    static const struct {
        double lo, hi;
        int max;
        double min_step;
        int count;
        double first, step;
    } cases[] = {
        {0.0, 1.0, 6, 0.0, 6, 0.0, 0.2},        /* 0.1 would give 11 */
        {0.013, 0.087, 6, 0.0, 4, 0.02, 0.02},  /* 0.01: 0.02 .. 0.08 is 7 */
        {1.0, 100.0, 5, 0.0, 5, 20.0, 20.0},    /* 10: 10 .. 100 is 10 */
        {-0.3, 0.45, 4, 0.0, 4, -0.2, 0.2},     /* 0.1: -0.3 .. 0.4 is 8 */
        {1200.0, 4300.0, 5, 0.0, 3, 2000.0, 1000.0}, /* 500: 1500 .. 4000 is 6 */
        {1.0, 4.0, 6, 1.0, 4, 1.0, 1.0},        /* epochs: 0.5 is below the least step */
        {1.0, 300.0, 6, 1.0, 6, 50.0, 50.0},    /* 20: 20 .. 300 is 15 */
        {2.0e-5, 9.0e-5, 4, 0.0, 4, 2.0e-5, 2.0e-5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double first = NAN, step = NAN;
        int count = ykd_ticks_choose(cases[i].lo, cases[i].hi, cases[i].max, cases[i].min_step,
                                     &first, &step);
        CHECKF(t,
               count == cases[i].count && fabs(step - cases[i].step) <= 1e-12 * cases[i].step &&
                   fabs(first - cases[i].first) <= 1e-9 * cases[i].step,
               "case %zu: %d ticks from %g by %g, expected %d from %g by %g", i, count, first,
               step, cases[i].count, cases[i].first, cases[i].step);
    }
    double first, step;
    CHECK(t, ykd_ticks_choose(0.5, 0.5, 6, 0.0, &first, &step) == 0); /* an empty range */
    CHECK(t, ykd_ticks_choose(0.0, NAN, 6, 0.0, &first, &step) == 0);
    CHECK(t, ykd_ticks_choose(0.0, 1.0, 0, 0.0, &first, &step) == 0);
    CHECK(t, ykd_ticks_choose(-1e308, 1e308, 6, 0.0, &first, &step) == 0); /* range overflows */
    int huge = ykd_ticks_choose(1e307, 1.7e308, 6, 0.0, &first, &step);
    CHECKF(t, huge == 0 || (isfinite(first) && isfinite(step)), "%d ticks from %g by %g", huge,
           first, step);
    /* decimals enough for a multiple of the step, none for whole steps */
    CHECK(t, ykd_ticks_decimals(0.2) == 1 && ykd_ticks_decimals(0.05) == 2 &&
                 ykd_ticks_decimals(0.001) == 3 && ykd_ticks_decimals(2e-5) == 5 &&
                 ykd_ticks_decimals(1.0) == 0 && ykd_ticks_decimals(20.0) == 0);
}

/* scipy's gaussian_filter1d, mode "reflect", truncate 4, worked by hand at sigma 1 (radius 4,
 * g_k = exp(-k^2 / 2), Z = g_0 + 2 (g_1 + g_2 + g_3 + g_4) = 2.5066208042). */
static void test_curves_smoothing(ykd_test *t)
{
    /* an impulse far from the ends gives the normalised kernel around it, 0 beyond */
    double impulse[11] = {0}, out[11];
    impulse[5] = 1.0;
    ykd_smooth_gaussian(impulse, 11, 1.0, out);
    const double kernel[5] = {0.39894346935609776, 0.24197144565660073, 0.05399112742070441,
                              0.0044318616200312655, 0.00013383062461474175};
    int wrong = 0;
    for (int i = 0; i < 11; i++) {
        int k = i > 5 ? i - 5 : 5 - i;
        wrong += fabs(out[i] - (k <= 4 ? kernel[k] : 0.0)) > 1e-12;
    }
    CHECKF(t, wrong == 0, "%d of 11 impulse responses wrong", wrong);
    /* [0, 1] reflected is ... 1 0 | 0 1 | 1 0 ...: at 0 the taps -3, -2, 1 and 2 see a 1, so
     * out[0] = (g_1 + 2 g_2 + g_3) / Z = 0.35438556, and out[1] = 1 - out[0] by symmetry */
    const double pair[2] = {0.0, 1.0};
    ykd_smooth_gaussian(pair, 2, 1.0, out);
    CHECKF(t,
           fabs(out[0] - 0.3543855621180408) < 1e-12 &&
               fabs(out[1] - 0.6456144378819592) < 1e-12,
           "[0, 1] smoothed to [%.10f, %.10f]", out[0], out[1]);
    /* a constant stays constant to the ends, one sample stays itself (sigma 3, as drawn) */
    const double flat[3] = {2.5, 2.5, 2.5}, one = 7.0;
    ykd_smooth_gaussian(flat, 3, 3.0, out);
    CHECK(t, fabs(out[0] - 2.5) < 1e-12 && fabs(out[1] - 2.5) < 1e-12 &&
                 fabs(out[2] - 2.5) < 1e-12);
    ykd_smooth_gaussian(&one, 1, 3.0, out);
    CHECK(t, fabs(out[0] - 7.0) < 1e-12);
    /* a symmetric kernel leaves a straight line straight away from the ends (radius 12) */
    double ramp[40], smooth[40];
    for (int i = 0; i < 40; i++)
        ramp[i] = 0.5 * i - 3.0;
    ykd_smooth_gaussian(ramp, 40, 3.0, smooth);
    wrong = 0;
    for (int i = 12; i < 28; i++)
        wrong += fabs(smooth[i] - ramp[i]) > 1e-9;
    CHECKF(t, wrong == 0, "%d ramp samples moved", wrong);
}

/* ---- the detector on the device ---------------------------------------------------------- */

enum { NC = 3, CH = 64 + NC };

/* Head outputs for a 64 x 64 input, two images, every logit far below: nothing detected. */
typedef struct head {
    int h[3], w[3];
    float *host[3];
    ykd_tensor tensor[3], box[3], cls[3];
    ykd_yolo_level levels[3];
} head;

static void head_init(head *hd)
{
    for (int l = 0; l < 3; l++) {
        hd->h[l] = hd->w[l] = 8 >> l;
        size_t n = (size_t)2 * CH * hd->h[l] * hd->w[l];
        hd->host[l] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            hd->host[l][i] = -20.0f; /* sigmoid 2e-9: under any threshold */
    }
}

/* Image b, level l, cell (x, y) predicts the pixel box (whole or half cells from the centre). */
static void head_box(head *hd, int b, int l, int x, int y, const float px[4])
{
    int hw = hd->h[l] * hd->w[l], s = 8 << l, pos = y * hd->w[l] + x;
    double d[4] = {x + 0.5 - px[0] / s, y + 0.5 - px[1] / s, px[2] / s - x - 0.5,
                   px[3] / s - y - 0.5};
    for (int j = 0; j < 4; j++) {
        float *z = hd->host[l] + ((size_t)b * CH + j * 16) * hw + pos;
        int lo = (int)floor(d[j]);
        for (int i = 0; i < 16; i++)
            z[(size_t)i * hw] = -60.0f;
        z[(size_t)lo * hw] = 0.0f;
        if (d[j] != lo)
            z[(size_t)(lo + 1) * hw] = 0.0f; /* a half: two equal bins */
    }
}

static void head_score(head *hd, int b, int l, int x, int y, int cls, float logit)
{
    int hw = hd->h[l] * hd->w[l];
    hd->host[l][((size_t)b * CH + 64 + cls) * hw + y * hd->w[l] + x] = logit;
}

static bool head_upload(ykd_test *t, head *hd)
{
    for (int l = 0; l < 3; l++) {
        if (!ykd_test_upload(t, hd->host[l], 2, CH, hd->h[l], hd->w[l], &hd->tensor[l]))
            return false;
        hd->box[l] = ykd_tensor_channels(&hd->tensor[l], 0, 64);
        hd->cls[l] = ykd_tensor_channels(&hd->tensor[l], 64, NC);
        hd->levels[l] = (ykd_yolo_level){&hd->box[l], &hd->cls[l], 8 << l};
    }
    return true;
}

static void head_free(head *hd)
{
    for (int l = 0; l < 3; l++) {
        free(hd->host[l]);
        ykd_tensor_free(&hd->tensor[l]);
    }
}

static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static bool same_det(const ykd_detection *d, float x1, float y1, float x2, float y2, float score,
                     int cls)
{
    return d->x1 == x1 && d->y1 == y1 && d->x2 == x2 && d->y2 == y2 && d->cls == cls &&
           fabsf(d->score - score) < 1e-6f;
}

/* Image 0: cells (2,2) and (3,3) at stride 8 both predict (16,16)-(48,48), class 1 at logits 2
 * and 1; (3,3) also class 2 at 0.5; cell (1,1) at stride 16 predicts (8,8)-(24,24), class 0 at
 * 3. NMS drops (3,3)'s class 1 (IoU 1 with (2,2)'s); its class 2 stays (another class). Image 1
 * has nothing over the threshold. */
static void test_detector(ykd_test *t)
{
    head hd;
    head_init(&hd);
    const float big[4] = {16, 16, 48, 48}, small[4] = {8, 8, 24, 24};
    head_box(&hd, 0, 0, 2, 2, big);
    head_box(&hd, 0, 0, 3, 3, big);
    head_box(&hd, 0, 1, 1, 1, small);
    head_score(&hd, 0, 0, 2, 2, 1, 2.0f);
    head_score(&hd, 0, 0, 3, 3, 1, 1.0f);
    head_score(&hd, 0, 0, 3, 3, 2, 0.5f);
    head_score(&hd, 0, 1, 1, 1, 0, 3.0f);
    ykd_detector *det_ = NULL;
    ykd_error err;
    ykd_detections out[2];
    ykd_detect_options o;
    ykd_detect_options_default(&o);
    if (!head_upload(t, &hd) || !CHECK_OK(t, ykd_detector_init(t->device, NC, &det_, &err), err))
        goto done;
    if (CHECK_OK(t, ykd_detector_run(det_, hd.levels, 3, &o, NULL, out, &err), err)) {
        CHECK(t, out[0].count == 3 && out[1].count == 0);
        if (out[0].count == 3) {
            CHECK(t, same_det(&out[0].items[0], 8, 8, 24, 24, sigmoid(3.0f), 0));
            CHECK(t, same_det(&out[0].items[1], 16, 16, 48, 48, sigmoid(2.0f), 1));
            CHECK(t, same_det(&out[0].items[2], 16, 16, 48, 48, sigmoid(0.5f), 2));
        }
        ykd_detections_free(out, 2);
    }
    /* the best class only: (3,3) offers class 1, which NMS drops */
    o.multi_label = false;
    if (CHECK_OK(t, ykd_detector_run(det_, hd.levels, 3, &o, NULL, out, &err), err)) {
        CHECK(t, out[0].count == 2);
        ykd_detections_free(out, 2);
    }
    /* back to a 128 x 64 original (scale 0.5, 16 rows of padding above), clipped to it */
    o.multi_label = true;
    ykd_image_frame frames[2];
    ykd_image_frame_letterbox(128, 64, 64, &frames[0]);
    ykd_image_frame_letterbox(64, 64, 64, &frames[1]);
    if (CHECK_OK(t, ykd_detector_run(det_, hd.levels, 3, &o, frames, out, &err), err)) {
        if (CHECK(t, out[0].count == 3)) {
            CHECK(t, same_det(&out[0].items[0], 16, 0, 48, 16, sigmoid(3.0f), 0));
            CHECK(t, same_det(&out[0].items[1], 32, 0, 96, 64, sigmoid(2.0f), 1));
        }
        /* found exactly: with these as the gts, mAP is 1 (class 2 has none: it counts nowhere) */
        const ykd_pixel_box gts[] = {gt(0, 16, 0, 48, 16), gt(1, 32, 0, 96, 64)};
        ykd_eval_result r;
        if (evaluate_one(t, NC, out[0].items, out[0].count, gts, 2, &r)) {
            CHECK(t, r.map50 == 1.0 && r.map50_95 == 1.0);
            ykd_eval_result_free(&r);
        }
        ykd_detections_free(out, 2);
    }
    /* a NaN class logit is refused, naming the level */
    float nan = NAN;
    size_t at = ((size_t)1 * CH + 64 + 1) * 16 + 5; /* image 1, class 1, stride 16, cell 5 */
    CHECK_OK(t, ykd_buffer_write(hd.tensor[1].buffer, at * sizeof(float), &nan, sizeof nan, &err),
             err);
    CHECK_STATUS(t, ykd_detector_run(det_, hd.levels, 3, &o, NULL, out, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "level 1 class logits (stride 16) hold NaN (image 1)");
    ykd_tensor narrow = ykd_tensor_channels(&hd.tensor[2], 64, 2);
    hd.levels[2].cls = &narrow;
    CHECK_STATUS(t, ykd_detector_run(det_, hd.levels, 3, &o, NULL, out, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "detect: level 2 class logits has shape [2, 2, 2, 2]");
done:
    ykd_detector_free(det_);
    head_free(&hd);
}

static const ykd_test_case cases[] = {
    {"nms: box IoU", test_box_iou, YKD_TEST_HOST},
    {"nms: per class, agnostic, max_det, max_nms, ties", test_nms, YKD_TEST_HOST},
    {"nms: max_nms keeps the best candidates", test_nms_keeps_the_top_candidates, YKD_TEST_HOST},
    {"ap: perfect detections give 1", test_ap_perfect, YKD_TEST_HOST},
    {"ap: all wrong gives 0", test_ap_all_wrong, YKD_TEST_HOST},
    {"ap: one duplicate", test_ap_one_duplicate, YKD_TEST_HOST},
    {"ap: one missed gt", test_ap_one_missed, YKD_TEST_HOST},
    {"ap: ties in score keep their order", test_ap_ties, YKD_TEST_HOST},
    {"ap: IoU thresholds 0.50 to 0.95", test_ap_thresholds, YKD_TEST_HOST},
    {"ap: matching takes the highest IoU", test_matching_prefers_highest_iou, YKD_TEST_HOST},
    {"ap: bad items are refused", test_evaluator_refusals, YKD_TEST_HOST},
    {"coco json: the results format", test_coco_json, YKD_TEST_HOST},
    {"letterbox: frames match ykd_letterbox", test_letterbox_frame, YKD_TEST_HOST},
    {"curves: points, gaps, PNG", test_curves, YKD_TEST_HOST},
    {"curves: ticks at 1, 2 or 5 times a power of ten", test_curves_ticks, YKD_TEST_HOST},
    {"curves: Gaussian smoothing as scipy's", test_curves_smoothing, YKD_TEST_HOST},
    {"detector: decode, threshold, NMS, back to the image", test_detector, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
