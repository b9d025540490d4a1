/* Float64 references of the box terms of the YOLOv8 loss: CIoU (value and gradient) and the
 * distribution focal loss of one box side. Written from the definitions; the gradient by hand
 * (tests check it against central differences). */
#include <math.h>

#include "ref.h"

#define CIOU_EPS 1e-7
#define DFL_MAX_TARGET 14.99 /* bins - 1 - 0.01: the right bin always exists */

/* Every intermediate of CIoU, so the gradient can reuse them. */
typedef struct ciou_parts {
    double w1, h1, w2, h2; /* widths, heights (+eps) of p and t */
    double iw, ih;         /* intersection sides before clamping */
    double inter, uni, iou;
    double cw, ch, c2; /* enclosing box and its squared diagonal (+eps) */
    double dx, dy;     /* twice the centre offsets, t minus p */
    double rho2;       /* squared centre distance */
    double atan_diff;  /* atan(w2/h2) - atan(w1/h1) */
    double v, alpha;
} ciou_parts;

#define REF_PI 3.14159265358979323846
static const double aspect_k = 4.0 / (REF_PI * REF_PI);

static void ciou_compute(const double p[4], const double t[4], ciou_parts *c)
{
    c->w1 = p[2] - p[0];
    c->h1 = p[3] - p[1] + CIOU_EPS;
    c->w2 = t[2] - t[0];
    c->h2 = t[3] - t[1] + CIOU_EPS;
    c->iw = fmin(p[2], t[2]) - fmax(p[0], t[0]);
    c->ih = fmin(p[3], t[3]) - fmax(p[1], t[1]);
    c->inter = fmax(c->iw, 0.0) * fmax(c->ih, 0.0);
    c->uni = c->w1 * c->h1 + c->w2 * c->h2 - c->inter + CIOU_EPS;
    c->iou = c->inter / c->uni;
    c->cw = fmax(p[2], t[2]) - fmin(p[0], t[0]);
    c->ch = fmax(p[3], t[3]) - fmin(p[1], t[1]);
    c->c2 = c->cw * c->cw + c->ch * c->ch + CIOU_EPS;
    c->dx = t[0] + t[2] - p[0] - p[2];
    c->dy = t[1] + t[3] - p[1] - p[3];
    c->rho2 = (c->dx * c->dx + c->dy * c->dy) / 4.0;
    c->atan_diff = atan(c->w2 / c->h2) - atan(c->w1 / c->h1);
    c->v = aspect_k * c->atan_diff * c->atan_diff;
    c->alpha = c->v / (c->v - c->iou + (1.0 + CIOU_EPS));
}

double ref_ciou_fixed_alpha(const double p[4], const double t[4], double alpha)
{
    ciou_parts c;
    ciou_compute(p, t, &c);
    return c.iou - (c.rho2 / c.c2 + c.v * alpha);
}

double ref_ciou(const double p[4], const double t[4], double *alpha_out)
{
    ciou_parts c;
    ciou_compute(p, t, &c);
    if (alpha_out)
        *alpha_out = c.alpha;
    return c.iou - (c.rho2 / c.c2 + c.v * c.alpha);
}

void ref_ciou_grad(const double p[4], const double t[4], double grad[4])
{
    ciou_parts c;
    ciou_compute(p, t, &c);
    /* intersection: d(min/max)/dp is 1 where p's coordinate is the one kept */
    double d_inter[4] = {0, 0, 0, 0};
    if (c.iw > 0 && c.ih > 0) {
        d_inter[0] = p[0] >= t[0] ? -c.ih : 0.0;
        d_inter[2] = p[2] <= t[2] ? c.ih : 0.0;
        d_inter[1] = p[1] >= t[1] ? -c.iw : 0.0;
        d_inter[3] = p[3] <= t[3] ? c.iw : 0.0;
    }
    const double d_area[4] = {-c.h1, -c.w1, c.h1, c.w1};
    /* enclosing box: cw = max(x2) - min(x1) */
    double d_c2[4];
    d_c2[0] = p[0] <= t[0] ? -2.0 * c.cw : 0.0;
    d_c2[2] = p[2] >= t[2] ? 2.0 * c.cw : 0.0;
    d_c2[1] = p[1] <= t[1] ? -2.0 * c.ch : 0.0;
    d_c2[3] = p[3] >= t[3] ? 2.0 * c.ch : 0.0;
    const double d_rho2[4] = {-c.dx / 2.0, -c.dy / 2.0, -c.dx / 2.0, -c.dy / 2.0};
    /* v = k (atan(w2/h2) - atan(w1/h1))^2; d atan(w/h) = (h dw - w dh) / (w^2 + h^2) */
    double r2 = c.w1 * c.w1 + c.h1 * c.h1;
    double dv_dw = -2.0 * aspect_k * c.atan_diff * c.h1 / r2;
    double dv_dh = 2.0 * aspect_k * c.atan_diff * c.w1 / r2;
    const double d_v[4] = {-dv_dw, -dv_dh, dv_dw, dv_dh};
    for (int k = 0; k < 4; k++) {
        double d_union = d_area[k] - d_inter[k];
        double d_iou = (d_inter[k] * c.uni - c.inter * d_union) / (c.uni * c.uni);
        double d_dist = (d_rho2[k] * c.c2 - c.rho2 * d_c2[k]) / (c.c2 * c.c2);
        grad[k] = d_iou - d_dist - c.alpha * d_v[k];
    }
}

double ref_dfl(const double logits[REF_YOLO_BINS], double target, double *grad)
{
    target = fmin(fmax(target, 0.0), DFL_MAX_TARGET);
    int left = (int)target, right = left + 1;
    double w_left = right - target, w_right = 1.0 - w_left;
    double top = logits[0];
    for (int i = 1; i < REF_YOLO_BINS; i++)
        top = fmax(top, logits[i]);
    double sum = 0.0;
    for (int i = 0; i < REF_YOLO_BINS; i++)
        sum += exp(logits[i] - top);
    double lse = top + log(sum);
    if (grad)
        for (int i = 0; i < REF_YOLO_BINS; i++)
            grad[i] =
                exp(logits[i] - lse) - (i == left ? w_left : 0.0) - (i == right ? w_right : 0.0);
    return w_left * (lse - logits[left]) + w_right * (lse - logits[right]);
}
