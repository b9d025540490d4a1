/* The learning-rate schedule of YOLOv8 training: a per-epoch factor (linear or cosine decay
 * to lrf), a warm-up over the first iterations that raises the LRs from 0 (the biases' from
 * warmup_bias_lr down), SGD's momentum from warmup_momentum, and the gradient accumulation
 * from 1 to the nominal batch's, each by linear interpolation as Ultralytics' trainer does
 * with np.interp. */
#include <math.h>

#include "yolokd/train.h"

#define SCHEDULE_PI 3.14159265358979323846

const char *ykd_param_group_name(ykd_param_group group)
{
    switch (group) {
    case YKD_GROUP_BIAS:
        return "bias";
    case YKD_GROUP_DECAY:
        return "decay";
    case YKD_GROUP_BN:
        return "bn";
    default:
        return "?";
    }
}

int ykd_param_kind_group(ykd_param_kind kind)
{
    switch (kind) {
    case YKD_PARAM_CONV_WEIGHT:
        return YKD_GROUP_DECAY;
    case YKD_PARAM_BN_WEIGHT:
        return YKD_GROUP_BN;
    case YKD_PARAM_BN_BIAS:
    case YKD_PARAM_CONV_BIAS:
        return YKD_GROUP_BIAS;
    default:
        return -1;
    }
}

/* rint rounds half to even (the default rounding mode), as Python's round and np.round. */
int ykd_nominal_accumulate(int batch, int nbs)
{
    double a = rint((double)nbs / batch);
    return a < 1.0 ? 1 : (int)a;
}

double ykd_nominal_weight_decay(double weight_decay, int batch, int nbs)
{
    return weight_decay * batch * ykd_nominal_accumulate(batch, nbs) / nbs;
}

double ykd_schedule_factor(const ykd_schedule *s, int epoch)
{
    double x = (double)epoch / s->epochs;
    if (s->decay == YKD_LR_COSINE)
        return fmax((1.0 - cos(x * SCHEDULE_PI)) / 2.0, 0.0) * (s->lrf - 1.0) + 1.0;
    return fmax(1.0 - x, 0.0) * (1.0 - s->lrf) + s->lrf;
}

int64_t ykd_schedule_warmup_iters(const ykd_schedule *s)
{
    if (s->warmup_epochs <= 0.0)
        return -1;
    int64_t nw = (int64_t)rint(s->warmup_epochs * (double)s->batches_per_epoch);
    return nw > s->warmup_min_iters ? nw : s->warmup_min_iters;
}

/* np.interp(x, [0, x1], [y0, y1]) for 0 <= x <= x1: numpy's slope form, exact at the ends. */
static double interp(double x, double x1, double y0, double y1)
{
    if (x >= x1)
        return y1;
    return (y1 - y0) / x1 * x + y0;
}

void ykd_schedule_at(const ykd_schedule *s, int epoch, int64_t ni, ykd_schedule_point *p)
{
    double lr = s->lr0 * ykd_schedule_factor(s, epoch);
    int64_t nw = ykd_schedule_warmup_iters(s);
    double full = rint(s->accumulate);
    p->accumulate = full < 1.0 ? 1 : (int)full;
    p->momentum = s->momentum;
    for (int g = 0; g < YKD_GROUP_COUNT; g++)
        p->lr[g] = lr;
    if (ni > nw)
        return;
    double x = (double)ni, x1 = (double)nw;
    double a = rint(interp(x, x1, 1.0, s->accumulate));
    p->accumulate = a < 1.0 ? 1 : (int)a;
    p->momentum = interp(x, x1, s->warmup_momentum, s->momentum);
    for (int g = 0; g < YKD_GROUP_COUNT; g++)
        p->lr[g] = interp(x, x1, g == YKD_GROUP_BIAS ? s->warmup_bias_lr : 0.0, lr);
}
