/* The YOLOv8 detection loss: the float64 reference checked by hand and by central differences,
 * then the device against the reference on hand-built cases (one box, two boxes competing for
 * an anchor, boxes smaller than a stride, images without boxes, padded labels) and random ones,
 * with the head outputs and gradients as channel views of one [N, 64 + nc, H, W] tensor, the
 * gradients in poisoned, guarded buffers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/loss.h"

enum { MAX_LEVELS = 3, BOX_CH = 64 };

/* ---- cases --------------------------------------------------------------------------------- */

/* A batch of head outputs (packed host arrays per level) and its labels. Strides 8, 16, 32. */
typedef struct loss_case {
    int n, nc, levels, img_w, img_h;
    int h[MAX_LEVELS], w[MAX_LEVELS], stride[MAX_LEVELS];
    float *box[MAX_LEVELS], *cls[MAX_LEVELS];
    double *boxd[MAX_LEVELS], *clsd[MAX_LEVELS];
    int max_boxes;
    int counts[8];
    float *labels;
} loss_case;

static size_t box_count(const loss_case *c, int l)
{
    return (size_t)c->n * BOX_CH * c->h[l] * c->w[l];
}

static size_t cls_count(const loss_case *c, int l)
{
    return (size_t)c->n * c->nc * c->h[l] * c->w[l];
}

static int anchors_of(const loss_case *c)
{
    int a = 0;
    for (int l = 0; l < c->levels; l++)
        a += c->h[l] * c->w[l];
    return a;
}

/* Zero logits everywhere (every side predicts 7.5 cells), no labels yet. */
static void case_init(loss_case *c, int n, int nc, int img_w, int img_h, int max_boxes)
{
    memset(c, 0, sizeof *c);
    c->n = n, c->nc = nc, c->levels = MAX_LEVELS, c->img_w = img_w, c->img_h = img_h;
    c->max_boxes = max_boxes;
    for (int l = 0; l < MAX_LEVELS; l++) {
        c->stride[l] = 8 << l;
        c->h[l] = img_h / c->stride[l];
        c->w[l] = img_w / c->stride[l];
        c->box[l] = calloc(box_count(c, l), sizeof(float));
        c->cls[l] = calloc(cls_count(c, l), sizeof(float));
    }
    c->labels = calloc((size_t)n * (max_boxes ? max_boxes : 1) * 5, sizeof(float));
}

static void case_free(loss_case *c)
{
    for (int l = 0; l < MAX_LEVELS; l++) {
        free(c->box[l]), free(c->cls[l]), free(c->boxd[l]), free(c->clsd[l]);
        c->boxd[l] = c->clsd[l] = NULL;
    }
    free(c->labels);
}

/* Adds gt (class, pixel box) to image b. */
static void case_add_box(loss_case *c, int b, int cls, double x1, double y1, double x2, double y2)
{
    float *row = c->labels + ((size_t)b * c->max_boxes + c->counts[b]++) * 5;
    row[0] = (float)cls;
    row[1] = (float)((x1 + x2) / 2 / c->img_w);
    row[2] = (float)((y1 + y2) / 2 / c->img_h);
    row[3] = (float)((x2 - x1) / c->img_w);
    row[4] = (float)((y2 - y1) / c->img_h);
}

/* Makes anchor (x, y) of level l in image b predict the pixel box: each side's distance d goes
 * to the two bins around it with linear weights, every other bin far below. Distances that are
 * whole or half cells come out exactly. */
static void case_predict(loss_case *c, int b, int l, int x, int y, const double px[4])
{
    int hw = c->h[l] * c->w[l], pos = y * c->w[l] + x;
    double s = c->stride[l], ax = x + 0.5, ay = y + 0.5;
    double d[4] = {ax - px[0] / s, ay - px[1] / s, px[2] / s - ax, px[3] / s - ay};
    for (int j = 0; j < 4; j++) {
        float *z = c->box[l] + ((size_t)b * BOX_CH + j * 16) * hw + pos;
        int lo = (int)floor(d[j]);
        double frac = d[j] - lo;
        for (int i = 0; i < 16; i++)
            z[(size_t)i * hw] = -60.0f;
        if (frac == 0.0) {
            z[(size_t)lo * hw] = 0.0f;
        } else if (frac == 0.5) {
            z[(size_t)lo * hw] = 0.0f, z[(size_t)(lo + 1) * hw] = 0.0f;
        } else {
            z[(size_t)lo * hw] = (float)log(1 - frac);
            z[(size_t)(lo + 1) * hw] = (float)log(frac);
        }
    }
}

/* Random head outputs: each side a bump around a random distance, class logits mostly low;
 * labels with counts[b] random boxes (and zero rows after them). */
static void case_random(loss_case *c, uint64_t seed, int n, int nc, int img_w, int img_h,
                        int max_boxes, const int *counts)
{
    case_init(c, n, nc, img_w, img_h, max_boxes);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (int l = 0; l < c->levels; l++) {
        size_t hw = (size_t)c->h[l] * c->w[l];
        for (int b = 0; b < n; b++)
            for (int j = 0; j < 4; j++)
                for (size_t p = 0; p < hw; p++) {
                    float mu = ykd_test_rng_uniform(&rng, 0.3f, 5.0f);
                    for (int i = 0; i < 16; i++)
                        c->box[l][((size_t)b * BOX_CH + j * 16 + i) * hw + p] =
                            -(i - mu) * (i - mu) / 1.3f + ykd_test_rng_uniform(&rng, -0.3f, 0.3f);
                }
        for (size_t i = 0; i < cls_count(c, l); i++)
            c->cls[l][i] = ykd_test_rng_uniform(&rng, -5.0f, 1.5f);
    }
    for (int b = 0; b < n; b++)
        for (int k = 0; k < counts[b]; k++) {
            double w = ykd_test_rng_uniform(&rng, 0.08f, 0.6f) * img_w;
            double h = ykd_test_rng_uniform(&rng, 0.08f, 0.6f) * img_h;
            double cx = ykd_test_rng_uniform(&rng, 0.15f, 0.85f) * img_w;
            double cy = ykd_test_rng_uniform(&rng, 0.15f, 0.85f) * img_h;
            case_add_box(c, b, (int)(ykd_test_rng_next(&rng) % (uint64_t)nc), cx - w / 2,
                         cy - h / 2, cx + w / 2, cy + h / 2);
        }
}

static double *widen(const float *f, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

/* The reference's view of the case (float64 copies of the logits). */
static ref_yolo_problem problem_of(loss_case *c)
{
    ref_yolo_problem p = {c->n,         c->nc, c->levels, {{0}}, c->labels, c->counts,
                          c->max_boxes, 10,    0.5,       6.0,   NULL};
    for (int l = 0; l < c->levels; l++) {
        free(c->boxd[l]), free(c->clsd[l]);
        c->boxd[l] = widen(c->box[l], box_count(c, l));
        c->clsd[l] = widen(c->cls[l], cls_count(c, l));
        p.level[l] = (ref_yolo_level){c->h[l], c->w[l], c->stride[l], c->boxd[l], c->clsd[l]};
    }
    return p;
}

/* ---- reference checks --------------------------------------------------------------------- */

static void test_ciou_by_hand(ykd_test *t)
{
    const double pi = 3.14159265358979323846;
    /* identical 2 x 2 boxes: the heights carry +1e-7 but the intersection does not, so the
     * union is 2 * 2 * (2 + 1e-7) - 4 + 1e-7 and IoU = 4 / (4 + 5e-7); no other term */
    double same[4] = {0, 0, 2, 2};
    CHECKF(t, fabs(ref_ciou(same, same, NULL) - 4 / (4 + 5e-7)) < 1e-12, "identical boxes: %.12g",
           ref_ciou(same, same, NULL));
    /* side by side, a gap of 1: IoU 0; enclosing 3 x 1 (c^2 = 10), centres 2 apart (rho^2 =
     * 4), same aspect (v = 0): CIoU = -4/10 */
    double a[4] = {0, 0, 1, 1}, b[4] = {2, 0, 3, 1};
    CHECKF(t, fabs(ref_ciou(a, b, NULL) + 0.4) < 1e-7, "side by side: %.12g", ref_ciou(a, b, NULL));
    /* (0,0,2,1) around (0,0,1,1): IoU 1/2, c^2 = 5, centres 1/2 apart (rho^2 = 1/4),
     * v = 4/pi^2 (atan 2 - pi/4)^2, alpha = v / (v + 1/2) */
    double wide[4] = {0, 0, 2, 1}, unit[4] = {0, 0, 1, 1};
    double v = 4.0 / (pi * pi) * pow(atan(2.0) - pi / 4, 2);
    double expected = 0.5 - (0.25 / 5 + v * v / (v + 0.5)), alpha;
    double got = ref_ciou(wide, unit, &alpha);
    CHECKF(t, fabs(got - expected) < 1e-7, "nested: %.12g, by hand %.12g", got, expected);
    CHECKF(t, fabs(alpha - v / (v + 0.5)) < 1e-7, "alpha %.12g", alpha);
    CHECK(t, fabs(ref_ciou(unit, wide, NULL) - got) < 1e-12); /* symmetric */
}

static void test_ciou_gradient(ykd_test *t)
{
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 7);
    for (int trial = 0; trial < 40; trial++) {
        double p[4], q[4];
        for (int k = 0; k < 2; k++) {
            p[k] = ykd_test_rng_uniform(&rng, 0, 4), q[k] = ykd_test_rng_uniform(&rng, 0, 4);
            p[k + 2] = p[k] + ykd_test_rng_uniform(&rng, 0.2f, 4);
            q[k + 2] = q[k] + ykd_test_rng_uniform(&rng, 0.2f, 4);
        }
        double alpha, grad[4];
        ref_ciou(p, q, &alpha);
        ref_ciou_grad(p, q, grad);
        for (int k = 0; k < 4; k++) {
            const double h = 1e-6;
            double saved = p[k];
            p[k] = saved + h;
            double up = ref_ciou_fixed_alpha(p, q, alpha);
            p[k] = saved - h;
            double down = ref_ciou_fixed_alpha(p, q, alpha);
            p[k] = saved;
            double numeric = (up - down) / (2 * h);
            CHECKF(t, fabs(numeric - grad[k]) < 1e-7 * (1 + fabs(grad[k])),
                   "trial %d coordinate %d: difference %.10g, analytic %.10g", trial, k, numeric,
                   grad[k]);
        }
    }
}

static void test_dfl_by_hand(ykd_test *t)
{
    double flat[16] = {0}, ramp[16], grad[16];
    for (int i = 0; i < 16; i++)
        ramp[i] = i;
    /* equal bins: every cross-entropy is log 16, whatever the target */
    CHECK(t, fabs(ref_dfl(flat, 3.25, NULL) - log(16.0)) < 1e-12);
    /* logits 0..15 and a target past the end: clamped to 14.99, bins 14 and 15 weighted 0.01
     * and 0.99, so the loss is lse - (0.01 * 14 + 0.99 * 15) */
    double lse = 0.0;
    for (int i = 0; i < 16; i++)
        lse += exp(i);
    lse = log(lse);
    CHECKF(t, fabs(ref_dfl(ramp, 20.0, NULL) - (lse - 14.99)) < 1e-12, "clamped: %.12g",
           ref_dfl(ramp, 20.0, NULL));
    /* target 3.25: bins 3 and 4 with weights 0.75 and 0.25 */
    CHECK(t, fabs(ref_dfl(ramp, 3.25, NULL) - (lse - 0.75 * 3 - 0.25 * 4)) < 1e-12);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 3);
    double z[16];
    for (int i = 0; i < 16; i++)
        z[i] = ykd_test_rng_uniform(&rng, -3, 3);
    ref_dfl(z, 6.7, grad);
    for (int i = 0; i < 16; i++) {
        const double h = 1e-6;
        double saved = z[i];
        z[i] = saved + h;
        double up = ref_dfl(z, 6.7, NULL);
        z[i] = saved - h;
        double down = ref_dfl(z, 6.7, NULL);
        z[i] = saved;
        CHECKF(t, fabs((up - down) / (2 * h) - grad[i]) < 1e-8, "bin %d", i);
    }
}

/* d total / d v[i] by central differences with the assignment held fixed. */
static double numeric_derivative(const ref_yolo_problem *p, const ref_yolo_assignment *as,
                                 double *v, size_t i)
{
    const double h = 1e-5;
    double saved = v[i];
    ref_yolo_loss up, down;
    v[i] = saved + h;
    ref_yolo_loss_eval(p, as, NULL, NULL, &up);
    v[i] = saved - h;
    ref_yolo_loss_eval(p, as, NULL, NULL, &down);
    v[i] = saved;
    return (up.total - down.total) / (2 * h);
}

static void test_reference_loss_gradient(ykd_test *t)
{
    loss_case c;
    const int counts[2] = {3, 2};
    case_random(&c, 11, 2, 3, 64, 32, 4, counts);
    ref_yolo_problem p = problem_of(&c);
    ref_yolo_assignment as;
    ref_yolo_assign(&p, &as);
    CHECKF(t, as.positives > 5, "only %d positives", as.positives);
    double *dbox[MAX_LEVELS], *dcls[MAX_LEVELS];
    for (int l = 0; l < c.levels; l++) {
        dbox[l] = malloc(box_count(&c, l) * sizeof(double));
        dcls[l] = malloc(cls_count(&c, l) * sizeof(double));
    }
    ref_yolo_loss loss;
    ref_yolo_loss_eval(&p, &as, dbox, dcls, &loss);
    CHECK(t, loss.box > 0 && loss.cls > 0 && loss.dfl > 0);
    /* the gradient holds CIoU's alpha constant, as Ultralytics does: so must the differences */
    double *alpha = malloc((size_t)c.n * as.anchors * sizeof(double));
    ref_yolo_alphas(&p, &as, alpha);
    p.frozen_alpha = alpha;
    int checked_box = 0;
    for (int l = 0; l < c.levels; l++) {
        for (size_t i = 0; i < cls_count(&c, l); i += 5) {
            double num = numeric_derivative(&p, &as, c.clsd[l], i);
            CHECKF(t, fabs(num - dcls[l][i]) < 1e-6 * (1 + fabs(dcls[l][i])),
                   "level %d class logit %zu: difference %.10g, analytic %.10g", l, i, num,
                   dcls[l][i]);
        }
        for (size_t i = 0; i < box_count(&c, l); i += 3) {
            if (dbox[l][i] == 0.0) /* not at an assigned anchor */
                continue;
            checked_box++;
            double num = numeric_derivative(&p, &as, c.boxd[l], i);
            CHECKF(t, fabs(num - dbox[l][i]) < 1e-6 * (1 + fabs(dbox[l][i])),
                   "level %d box logit %zu: difference %.10g, analytic %.10g", l, i, num,
                   dbox[l][i]);
        }
    }
    CHECKF(t, checked_box > 50, "only %d box logits checked", checked_box);
    free(alpha);
    for (int l = 0; l < c.levels; l++)
        free(dbox[l]), free(dcls[l]);
    ref_yolo_assignment_free(&as);
    case_free(&c);
}

/* ---- the device ---------------------------------------------------------------------------- */

/* Device tensors of a case: per level one head [N, 64 + nc, H, W] with box and class views, and
 * a poisoned, guarded gradient head with views. */
typedef struct device_case {
    ykd_tensor head[MAX_LEVELS], box[MAX_LEVELS], cls[MAX_LEVELS];
    ykd_guarded grad[MAX_LEVELS];
    ykd_tensor dbox[MAX_LEVELS], dcls[MAX_LEVELS];
    ykd_yolo_level levels[MAX_LEVELS], grads[MAX_LEVELS];
} device_case;

static bool upload_case(ykd_test *t, const loss_case *c, device_case *d)
{
    memset(d, 0, sizeof *d);
    bool ok = true;
    for (int l = 0; ok && l < c->levels; l++) {
        int ch = BOX_CH + c->nc;
        size_t hw = (size_t)c->h[l] * c->w[l];
        float *host = malloc((size_t)c->n * ch * hw * sizeof(float));
        for (int b = 0; b < c->n; b++) {
            memcpy(host + (size_t)b * ch * hw, c->box[l] + (size_t)b * BOX_CH * hw,
                   BOX_CH * hw * sizeof(float));
            memcpy(host + ((size_t)b * ch + BOX_CH) * hw, c->cls[l] + (size_t)b * c->nc * hw,
                   c->nc * hw * sizeof(float));
        }
        ok = ykd_test_upload(t, host, c->n, ch, c->h[l], c->w[l], &d->head[l]) &&
             ykd_test_guarded_alloc(t, c->n, ch, c->h[l], c->w[l], &d->grad[l]);
        free(host);
        if (!ok)
            break;
        d->box[l] = ykd_tensor_channels(&d->head[l], 0, BOX_CH);
        d->cls[l] = ykd_tensor_channels(&d->head[l], BOX_CH, c->nc);
        d->dbox[l] = ykd_tensor_channels(&d->grad[l].tensor, 0, BOX_CH);
        d->dcls[l] = ykd_tensor_channels(&d->grad[l].tensor, BOX_CH, c->nc);
        d->levels[l] = (ykd_yolo_level){&d->box[l], &d->cls[l], c->stride[l]};
        d->grads[l] = (ykd_yolo_level){&d->dbox[l], &d->dcls[l], c->stride[l]};
    }
    return ok;
}

static void free_device_case(device_case *d)
{
    for (int l = 0; l < MAX_LEVELS; l++) {
        ykd_tensor_free(&d->head[l]);
        ykd_test_guarded_free(&d->grad[l]);
    }
}

static ykd_yolo_targets targets_of(const loss_case *c)
{
    return (ykd_yolo_targets){c->labels, c->counts, (size_t)c->max_boxes};
}

/* What one device computation gave. */
typedef struct device_result {
    ykd_yolo_loss_value value;
    int *gt;
    float *score;
} device_result;

static void free_device_result(device_result *r)
{
    free(r->gt);
    free(r->score);
}

/* Runs the loss on the device with gradients into the guarded heads. */
static bool run_device(ykd_test *t, const loss_case *c, device_case *d, ykd_yolo_loss *loss,
                       bool accumulate, device_result *r)
{
    ykd_error err;
    ykd_yolo_targets targets = targets_of(c);
    memset(r, 0, sizeof *r);
    if (!CHECK_OK(t,
                  ykd_yolo_loss_compute(loss, d->levels, c->levels, &targets, d->grads, accumulate,
                                        &r->value, &err),
                  err))
        return false;
    int A = anchors_of(c);
    CHECK(t, ykd_yolo_loss_anchor_count(loss) == (size_t)A);
    r->gt = malloc((size_t)c->n * A * sizeof(int));
    r->score = malloc((size_t)c->n * A * sizeof(float));
    for (int b = 0; b < c->n; b++)
        if (!CHECK_OK(t,
                      ykd_yolo_loss_assignment(loss, b, r->gt + (size_t)b * A,
                                               r->score + (size_t)b * A, &err),
                      err))
            return false;
    return true;
}

static bool close_to(double got, double expected, double rel)
{
    return fabs(got - expected) <= rel * (1.0 + fabs(expected));
}

/* The device's assignment, loss values and gradients against the reference. */
static void compare_with_reference(ykd_test *t, loss_case *c, device_case *d,
                                   const device_result *r, const char *what)
{
    ref_yolo_problem p = problem_of(c);
    ref_yolo_assignment as;
    ref_yolo_assign(&p, &as);
    double *dbox[MAX_LEVELS], *dcls[MAX_LEVELS];
    for (int l = 0; l < c->levels; l++) {
        dbox[l] = malloc(box_count(c, l) * sizeof(double));
        dcls[l] = malloc(cls_count(c, l) * sizeof(double));
    }
    ref_yolo_loss ref;
    ref_yolo_loss_eval(&p, &as, dbox, dcls, &ref);
    size_t mismatches = 0;
    for (size_t i = 0; i < (size_t)c->n * as.anchors; i++)
        if (r->gt[i] != as.gt[i] || !close_to(r->score[i], as.score[i], 1e-5))
            if (mismatches++ == 0)
                CHECKF(t, false,
                       "%s: anchor %zu: device gt %d score %.8g, reference gt %d "
                       "score %.8g",
                       what, i, r->gt[i], r->score[i], as.gt[i], as.score[i]);
    CHECKF(t, mismatches == 0, "%s: %zu anchors assigned differently", what, mismatches);
    const ykd_yolo_loss_value *v = &r->value;
    CHECKF(t, v->positives == (size_t)as.positives, "%s: %zu positives, reference %d", what,
           v->positives, as.positives);
    CHECKF(t, close_to(v->target_score_sum, as.score_sum, 1e-5), "%s: score sum %.8g vs %.8g", what,
           v->target_score_sum, as.score_sum);
    CHECKF(t,
           close_to(v->box_raw, ref.box, 2e-5) && close_to(v->cls_raw, ref.cls, 2e-5) &&
               close_to(v->dfl_raw, ref.dfl, 2e-5) && close_to(v->total, ref.total, 2e-5),
           "%s: device box %.8g cls %.8g dfl %.8g total %.8g; reference %.8g %.8g %.8g %.8g", what,
           v->box_raw, v->cls_raw, v->dfl_raw, v->total, ref.box, ref.cls, ref.dfl, ref.total);
    CHECK(t, close_to(v->box, 7.5 * v->box_raw, 1e-12) &&
                 close_to(v->cls, 0.5 * v->cls_raw, 1e-12) &&
                 close_to(v->dfl, 1.5 * v->dfl_raw, 1e-12) &&
                 close_to(v->total, c->n * (v->box + v->cls + v->dfl), 1e-12));
    for (int l = 0; l < c->levels; l++) {
        char label[96];
        snprintf(label, sizeof label, "%s: level %d box-logit gradient", what, l);
        ykd_test_expect_tensor(t, &d->dbox[l], dbox[l], 1e-9, label);
        snprintf(label, sizeof label, "%s: level %d class-logit gradient", what, l);
        ykd_test_expect_tensor(t, &d->dcls[l], dcls[l], 1e-9, label);
        ykd_test_guards_intact(t, &d->grad[l], label);
        free(dbox[l]), free(dcls[l]);
    }
    ref_yolo_assignment_free(&as);
}

/* Runs a case on the device and compares it with the reference; r keeps the device's result. */
static bool check_case(ykd_test *t, loss_case *c, const char *what, device_result *r)
{
    ykd_yolo_loss *loss = NULL;
    device_case d;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_yolo_loss_init(t->device, c->nc, NULL, &loss, &err), err) &&
              upload_case(t, c, &d) && run_device(t, c, &d, loss, false, r);
    if (ok)
        compare_with_reference(t, c, &d, r, what);
    ykd_yolo_loss_free(loss);
    free_device_case(&d);
    return ok;
}

/* Anchor index of cell (x, y) of level l. */
static int anchor_at(const loss_case *c, int l, int x, int y)
{
    int a = 0;
    for (int k = 0; k < l; k++)
        a += c->h[k] * c->w[k];
    return a + y * c->w[l] + x;
}

/* One gt, 32 x 32 px in a 64 x 64 input; every anchor predicts the gt exactly and all class
 * logits are 0, so all 20 candidates (16 at stride 8, 4 at stride 16; the stride-32 centres
 * lie on its edges) tie and the 10 lowest anchors win. Overlap 1 everywhere: target scores 1,
 * box loss 0, DFL log 2 (every distance is a half cell), every BCE term log 2. */
static void test_one_box(ykd_test *t)
{
    loss_case c;
    case_init(&c, 1, 3, 64, 64, 1);
    const double gt[4] = {16, 16, 48, 48};
    case_add_box(&c, 0, 1, gt[0], gt[1], gt[2], gt[3]);
    for (int l = 0; l < c.levels; l++)
        for (int y = 0; y < c.h[l]; y++)
            for (int x = 0; x < c.w[l]; x++) {
                double s = c.stride[l], ax = (x + 0.5) * s, ay = (y + 0.5) * s;
                if (ax > gt[0] && ax < gt[2] && ay > gt[1] && ay < gt[3])
                    case_predict(&c, 0, l, x, y, gt);
            }
    device_result r;
    if (check_case(t, &c, "one box", &r)) {
        const int expected[10] = {18, 19, 20, 21, 26, 27, 28, 29, 34, 35};
        for (int i = 0; i < 10; i++)
            CHECKF(t, r.gt[expected[i]] == 0 && r.score[expected[i]] == 1.0f,
                   "anchor %d: gt %d score %.9g", expected[i], r.gt[expected[i]],
                   r.score[expected[i]]);
        CHECK(t, r.value.positives == 10 && r.value.target_score_sum == 10.0);
        CHECK(t, r.value.box_raw == 0.0);
        CHECKF(t, fabs(r.value.dfl_raw - log(2.0)) < 1e-6, "dfl %.9g", r.value.dfl_raw);
        double cls = 84 * 3 * log(2.0) / 10;
        CHECKF(t, fabs(r.value.cls_raw - cls) < 1e-5 * cls, "cls %.9g, by hand %.9g",
               r.value.cls_raw, cls);
    }
    free_device_result(&r);
    case_free(&c);
}

/* Two 14 px gts overlapping in one stride-8 cell (2, 2) whose centre lies in both; each has 5
 * candidates (fewer than k), so both claim the shared anchor. It predicts one gt's box
 * exactly and goes to that gt (the higher overlap); 9 positives either way. */
static void test_two_boxes_compete(ykd_test *t)
{
    const double a[4] = {9, 9, 23, 23}, b[4] = {17, 17, 31, 31};
    for (int winner = 0; winner < 2; winner++) {
        loss_case c;
        case_init(&c, 1, 2, 64, 64, 2);
        case_add_box(&c, 0, 0, a[0], a[1], a[2], a[3]);
        case_add_box(&c, 0, 1, b[0], b[1], b[2], b[3]);
        /* near the winner's box, not on it: at an exact fit CIoU's gradient has kinks that
         * float32 and float64 can take from different sides */
        const double *w = winner == 0 ? a : b;
        const double near[4] = {w[0] + 0.3, w[1] - 0.2, w[2] + 0.1, w[3] - 0.4};
        case_predict(&c, 0, 0, 2, 2, near);
        device_result r;
        if (check_case(t, &c, winner ? "competing, the second wins" : "competing, the first wins",
                       &r)) {
            CHECKF(t, r.gt[anchor_at(&c, 0, 2, 2)] == winner, "shared anchor went to gt %d",
                   r.gt[anchor_at(&c, 0, 2, 2)]);
            CHECK(t, r.value.positives == 9);
            /* a's own: (1,1), (2,1), (1,2) at stride 8 and (0,0) at stride 32; b's: (3,2),
             * (2,3), (3,3) at stride 8 and (1,1) at stride 16 */
            CHECK(t, r.gt[anchor_at(&c, 0, 1, 1)] == 0 && r.gt[anchor_at(&c, 0, 2, 1)] == 0 &&
                         r.gt[anchor_at(&c, 0, 1, 2)] == 0 && r.gt[anchor_at(&c, 2, 0, 0)] == 0);
            CHECK(t, r.gt[anchor_at(&c, 0, 3, 2)] == 1 && r.gt[anchor_at(&c, 0, 2, 3)] == 1 &&
                         r.gt[anchor_at(&c, 0, 3, 3)] == 1 && r.gt[anchor_at(&c, 1, 1, 1)] == 1);
        }
        free_device_result(&r);
        case_free(&c);
    }
}

/* A 2 x 2 px gt between the centres of every level gets no anchor at all; a 4 x 4 px gt over
 * the centre of stride-8 cell (0, 0) gets that one anchor, whatever its prediction. */
static void test_boxes_smaller_than_a_stride(ykd_test *t)
{
    loss_case c;
    case_init(&c, 2, 2, 64, 64, 1);
    case_add_box(&c, 0, 1, 9, 9, 11, 11);
    case_add_box(&c, 1, 0, 2, 2, 6, 6);
    device_result r;
    if (check_case(t, &c, "smaller than a stride", &r)) {
        int A = anchors_of(&c), first = -1, count = 0;
        for (int i = 0; i < 2 * A; i++)
            if (r.gt[i] >= 0 && count++ == 0)
                first = i;
        CHECKF(t, count == 1 && first == A, "%d positives, the first at %d", count, first);
        CHECK(t, r.value.positives == 1);
    }
    free_device_result(&r);
    case_free(&c);
}

/* An image without boxes next to one with boxes, and a batch with no boxes at all: their
 * anchors are all background, the score sum is floored at 1, the box terms are 0. */
static void test_images_without_boxes(ykd_test *t)
{
    loss_case c;
    const int counts[2] = {0, 3};
    case_random(&c, 5, 2, 4, 64, 64, 3, counts);
    device_result r;
    if (check_case(t, &c, "one image without boxes", &r)) {
        for (int i = 0; i < anchors_of(&c); i++)
            if (!CHECKF(t, r.gt[i] == -1 && r.score[i] == 0.0f, "anchor %d of the empty image", i))
                break;
        CHECK(t, r.value.positives > 0);
    }
    free_device_result(&r);
    case_free(&c);
    for (int max_boxes = 0; max_boxes < 2; max_boxes++) {
        const int none[2] = {0, 0};
        case_random(&c, 6, 2, 4, 64, 64, max_boxes, none);
        if (check_case(t, &c, max_boxes ? "no boxes in the batch" : "max_boxes 0", &r)) {
            CHECK(t, r.value.positives == 0 && r.value.target_score_sum == 0.0);
            CHECK(t, r.value.box_raw == 0.0 && r.value.dfl_raw == 0.0 && r.value.cls_raw > 0);
        }
        free_device_result(&r);
        case_free(&c);
    }
}

/* Rows past an image's count are padding: garbage there changes nothing, bit for bit. */
static void test_padded_labels(ykd_test *t)
{
    loss_case c;
    const int counts[2] = {2, 1};
    case_random(&c, 9, 2, 3, 64, 64, 5, counts);
    device_result clean, padded;
    bool ok = check_case(t, &c, "padded, zeros", &clean);
    const float garbage[5] = {99.0f, NAN, -4.0f, INFINITY, 7.0f};
    for (int b = 0; b < 2; b++)
        for (int k = c.counts[b]; k < c.max_boxes; k++)
            memcpy(c.labels + ((size_t)b * c.max_boxes + k) * 5, garbage, sizeof garbage);
    if (ok && check_case(t, &c, "padded, garbage", &padded)) {
        CHECK(t, padded.value.total == clean.value.total);
        CHECK(t, memcmp(padded.gt, clean.gt, (size_t)2 * anchors_of(&c) * sizeof(int)) == 0);
        free_device_result(&padded);
    }
    free_device_result(&clean);
    case_free(&c);
}

/* Random batches: square and not, crowded and sparse, against the reference. */
static void test_random_cases(ykd_test *t)
{
    static const struct {
        int n, nc, w, h, max_boxes, counts[4];
    } cases[] = {
        {2, 5, 64, 64, 4, {3, 1}},
        {3, 7, 64, 96, 6, {6, 0, 2}},
        {1, 2, 128, 64, 12, {12}},
        {4, 3, 96, 96, 8, {8, 5, 1, 7}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        loss_case c;
        case_random(&c, 100 + i, cases[i].n, cases[i].nc, cases[i].w, cases[i].h,
                    cases[i].max_boxes, cases[i].counts);
        char what[64];
        snprintf(what, sizeof what, "random case %zu", i);
        device_result r;
        check_case(t, &c, what, &r);
        free_device_result(&r);
        case_free(&c);
    }
}

/* The random batches with work-groups of 1, 4 and 16 work-items: the loss kernels are built
 * for the size the device allows and still match the reference. */
static void test_small_work_groups(ykd_test *t)
{
    ykd_test_with_small_groups(t, test_random_cases);
}

/* Gradients add to what is there with accumulate; two runs agree bit for bit; without gradient
 * tensors the values are the same. */
static void test_accumulate_and_determinism(ykd_test *t)
{
    loss_case c;
    const int counts[2] = {4, 2};
    case_random(&c, 21, 2, 4, 64, 64, 4, counts);
    ykd_yolo_loss *loss = NULL;
    device_case d;
    ykd_error err;
    device_result first, second;
    if (CHECK_OK(t, ykd_yolo_loss_init(t->device, c.nc, NULL, &loss, &err), err) &&
        upload_case(t, &c, &d) && run_device(t, &c, &d, loss, false, &first)) {
        size_t counts_l[MAX_LEVELS];
        float *once[MAX_LEVELS];
        for (int l = 0; l < c.levels; l++) {
            counts_l[l] = ykd_tensor_numel(&d.grad[l].tensor);
            once[l] = malloc(counts_l[l] * sizeof(float));
            CHECK_OK(t, ykd_tensor_read(&d.grad[l].tensor, once[l], &err), err);
        }
        if (run_device(t, &c, &d, loss, true, &second)) {
            CHECK(t, memcmp(&first.value, &second.value, sizeof first.value) == 0);
            for (int l = 0; l < c.levels; l++) {
                float *twice = malloc(counts_l[l] * sizeof(float));
                CHECK_OK(t, ykd_tensor_read(&d.grad[l].tensor, twice, &err), err);
                for (size_t i = 0; i < counts_l[l]; i++)
                    if (!CHECKF(t, twice[i] == once[l][i] + once[l][i],
                                "level %d element %zu: %.9g after accumulating %.9g", l, i,
                                twice[i], once[l][i]))
                        break;
                free(twice);
            }
        }
        ykd_yolo_loss_value forward_only;
        ykd_yolo_targets targets = targets_of(&c);
        if (CHECK_OK(t,
                     ykd_yolo_loss_compute(loss, d.levels, c.levels, &targets, NULL, false,
                                           &forward_only, &err),
                     err))
            CHECK(t, memcmp(&forward_only, &first.value, sizeof forward_only) == 0);
        for (int l = 0; l < c.levels; l++)
            free(once[l]);
        free_device_result(&second);
    }
    free_device_result(&first);
    ykd_yolo_loss_free(loss);
    free_device_case(&d);
    case_free(&c);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void expect_refusal(ykd_test *t, ykd_yolo_loss *loss, const device_case *d, int levels,
                           const loss_case *c, const ykd_yolo_level *grads, ykd_status status,
                           const char *needle)
{
    ykd_error err;
    ykd_yolo_loss_value v;
    ykd_yolo_targets targets = targets_of(c);
    CHECK_STATUS(t,
                 ykd_yolo_loss_compute(loss, d->levels, levels, &targets, grads, false, &v, &err),
                 status, err);
    CHECK_CONTAINS(t, err.message, needle);
}

static void test_bad_inputs(ykd_test *t)
{
    loss_case c;
    const int counts[2] = {2, 1};
    case_random(&c, 31, 2, 3, 64, 64, 2, counts);
    ykd_yolo_loss *loss = NULL;
    device_case d;
    ykd_error err;
    if (!CHECK_OK(t, ykd_yolo_loss_init(t->device, c.nc, NULL, &loss, &err), err) ||
        !upload_case(t, &c, &d)) {
        ykd_yolo_loss_free(loss);
        case_free(&c);
        return;
    }
    c.labels[5] = 3.0f; /* image 0, box 1: class 3 of 3 */
    expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_INVALID_ARGUMENT,
                   "labels of image 0, box 1: class 3 is not one of the 3 classes");
    c.labels[5] = 1.5f;
    expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_INVALID_ARGUMENT, "class 1.5");
    c.labels[5] = 1.0f;
    c.labels[8] = NAN;
    expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_INVALID_ARGUMENT,
                   "labels of image 0, box 1: value 3 is nan");
    c.labels[8] = 0.1f;
    c.counts[1] = 3;
    expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_INVALID_ARGUMENT,
                   "image 1 has 3 boxes, outside 0 to max_boxes (2)");
    c.counts[1] = 1;
    /* level 1 given a level-2 tensor: wrong size for its stride */
    ykd_yolo_level saved = d.levels[1];
    d.levels[1] = (ykd_yolo_level){d.levels[2].box, d.levels[2].cls, 16};
    expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_SHAPE,
                   "level 1 is 2x2 at stride 16, which does not cover the 64x64 input");
    d.levels[1] = saved;
    ykd_tensor narrow = ykd_tensor_channels(&d.head[0], BOX_CH, 2);
    d.levels[0].cls = &narrow;
    expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_SHAPE,
                   "level 0 class logits has shape [2, 2, 8, 8], expected [2, 3, 8, 8]");
    d.levels[0].cls = &d.cls[0];
    ykd_yolo_level bad_grads[MAX_LEVELS] = {d.grads[0], d.grads[1], d.grads[0]};
    expect_refusal(t, loss, &d, 3, &c, bad_grads, YKD_ERR_SHAPE,
                   "level 2 box-logit gradient has shape [2, 64, 8, 8], expected [2, 64, 2, 2]");
    expect_refusal(t, loss, &d, 0, &c, NULL, YKD_ERR_INVALID_ARGUMENT, "0 levels given");
    ykd_yolo_loss_options o;
    ykd_yolo_loss_options_default(&o);
    o.topk = 17;
    ykd_yolo_loss *bad = NULL;
    CHECK_STATUS(t, ykd_yolo_loss_init(t->device, 3, &o, &bad, &err), YKD_ERR_INVALID_ARGUMENT,
                 err);
    CHECK(t, bad == NULL);
    /* non-finite logits: found on the device, named by level and kind */
    float nan = NAN, inf = INFINITY;
    CHECK_OK(t, ykd_buffer_write(d.head[1].buffer, 5 * sizeof(float), &nan, sizeof nan, &err), err);
    expect_refusal(t, loss, &d, 3, &c, d.grads, YKD_ERR_INVALID_ARGUMENT,
                   "level 1 box logits (stride 16) hold 1 NaN or infinite values");
    CHECK_OK(
        t, ykd_buffer_write(d.head[1].buffer, 5 * sizeof(float), &c.box[1][5], sizeof(float), &err),
        err);
    size_t cls_at = (size_t)(BOX_CH + 2) * 64 + 9; /* image 0, class 2, cell 9 of level 0 */
    CHECK_OK(t, ykd_buffer_write(d.head[0].buffer, cls_at * sizeof(float), &inf, sizeof inf, &err),
             err);
    expect_refusal(t, loss, &d, 3, &c, d.grads, YKD_ERR_INVALID_ARGUMENT,
                   "level 0 class logits (stride 8) hold NaN or infinite values");
    ykd_device *other = ykd_test_reopen(t, NULL);
    ykd_tensor far;
    if (other && CHECK_OK(t, ykd_tensor_alloc(other, 2, BOX_CH, 8, 8, &far, &err), err)) {
        d.levels[0].box = &far;
        expect_refusal(t, loss, &d, 3, &c, NULL, YKD_ERR_INVALID_ARGUMENT, "copy it first");
        ykd_tensor_free(&far);
    }
    ykd_device_close(other);
    ykd_yolo_loss_free(loss);
    free_device_case(&d);
    case_free(&c);
}

/* yolokd bench loss runs a tiny shape and prints its row; bad options are usage errors. */
static void test_bench_command(ykd_test *t)
{
    run_result r = run_cli("bench", "loss", "--imgsz", "64", "--batch", "2", "--nc", "3",
                           "--boxes", "2", "--runs", "1", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "   64     2     3");
    CHECK_CONTAINS(t, r.out, "yolo_cls_loss");
    free_result(&r);
    r = run_cli("bench", "loss", "--imgsz", "64,x", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--imgsz takes sizes like 320,640");
    free_result(&r);
}

static const ykd_test_case cases[] = {
    {"reference: CIoU by hand", test_ciou_by_hand, YKD_TEST_HOST},
    {"reference: CIoU gradient matches central differences", test_ciou_gradient, YKD_TEST_HOST},
    {"reference: DFL by hand and by differences", test_dfl_by_hand, YKD_TEST_HOST},
    {"reference: loss gradient matches central differences", test_reference_loss_gradient,
     YKD_TEST_HOST},
    {"loss: one box, ties to the lowest anchors", test_one_box, YKD_TEST_EACH_DEVICE},
    {"loss: two boxes compete for an anchor", test_two_boxes_compete, YKD_TEST_EACH_DEVICE},
    {"loss: boxes smaller than a stride", test_boxes_smaller_than_a_stride, YKD_TEST_EACH_DEVICE},
    {"loss: images without boxes", test_images_without_boxes, YKD_TEST_EACH_DEVICE},
    {"loss: padded labels are ignored", test_padded_labels, YKD_TEST_EACH_DEVICE},
    {"loss: random batches against the reference", test_random_cases, YKD_TEST_EACH_DEVICE},
    {"loss: work-groups of 1, 4 and 16 against the reference", test_small_work_groups,
     YKD_TEST_EACH_DEVICE},
    {"loss: accumulate, determinism, forward only", test_accumulate_and_determinism,
     YKD_TEST_EACH_DEVICE},
    {"loss: bad inputs are refused", test_bad_inputs, YKD_TEST_EACH_DEVICE},
    {"bench loss: a tiny run", test_bench_command, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
