/* The exponential moving average of the weights (Ultralytics' ModelEMA): a second model whose
 * parameters follow the trained one's, d ema + (1 - d) model after every optimizer step, with
 * a decay that ramps up from 0 so early updates follow the model closely. It averages every
 * float tensor of the state_dict, BN running statistics included; the fixed DFL projection is
 * stored last and left out, so it stays exactly 0..15. */
#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "yolokd/ops.h"
#include "yolokd/train.h"

struct ykd_ema {
    ykd_model *model;
    double decay, tau;
    int64_t updates;
    size_t floats; /* the averaged prefix of the parameter buffer */
};

double ykd_ema_decay_at(double decay, double tau, int64_t updates)
{
    return decay * (1.0 - exp(-(double)updates / tau));
}

/* The parameter buffer's floats before the fixed tensors (every other kind is averaged). */
static size_t averaged_floats(const ykd_model *model)
{
    size_t first, count, end = 0;
    for (int k = 0; k < YKD_PARAM_KIND_COUNT; k++) {
        if (k == YKD_PARAM_FIXED)
            continue;
        ykd_model_kind_range(model, (ykd_param_kind)k, &first, &count);
        if (count && first + count > end)
            end = first + count;
    }
    return end;
}

/* Class names from one model to another. */
static ykd_status copy_names(const ykd_model *from, ykd_model *to, ykd_error *err)
{
    int nc = ykd_model_classes(from);
    if (!ykd_model_class_name(from, 0))
        return YKD_OK;
    const char **names = calloc((size_t)nc, sizeof *names);
    if (!names)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "ema: out of host memory");
    for (int i = 0; i < nc; i++)
        names[i] = ykd_model_class_name(from, i);
    ykd_status st = ykd_model_set_class_names(to, names, nc, err);
    free(names);
    return st;
}

ykd_status ykd_ema_init(const ykd_model *model, double decay, double tau, ykd_ema **ema,
                        ykd_error *err)
{
    *ema = NULL;
    if (!(decay >= 0.0 && decay <= 1.0 && tau > 0.0 && isfinite(tau)))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "ema: decay %g must lie in [0, 1] and tau %g be positive", decay, tau);
    ykd_ema *e = calloc(1, sizeof *e);
    if (!e)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "ema: out of host memory");
    e->decay = decay;
    e->tau = tau;
    ykd_device *dev = ykd_model_device(model);
    ykd_status st = ykd_model_create(dev, ykd_model_get_desc(model), 0, &e->model, err);
    if (st == YKD_OK) {
        ykd_buffer *from = ykd_model_param_buffer(model), *to = ykd_model_param_buffer(e->model);
        st = ykd_buffer_copy(to, 0, from, 0, ykd_buffer_size(from), err);
    }
    if (st == YKD_OK)
        st = copy_names(model, e->model, err);
    if (st != YKD_OK) {
        ykd_ema_free(e);
        return st;
    }
    ykd_model_set_batches_tracked(e->model, ykd_model_batches_tracked(model));
    ykd_model_params_changed(e->model);
    e->floats = averaged_floats(model);
    *ema = e;
    return YKD_OK;
}

void ykd_ema_free(ykd_ema *ema)
{
    if (!ema)
        return;
    ykd_model_free(ema->model);
    free(ema);
}

/* As ModelEMA.update: v = d v + (1 - d) model's v, in one pass (v * d, then one fma). */
ykd_status ykd_ema_update(ykd_ema *ema, const ykd_model *model, ykd_error *err)
{
    ema->updates++;
    double d = ykd_ema_decay_at(ema->decay, ema->tau, ema->updates);
    if (ema->floats == 0)
        return YKD_OK;
    ykd_status st = ykd_axpby_f32(ema->floats, (float)(1.0 - d), ykd_model_param_buffer(model), 0,
                                  (float)d, ykd_model_param_buffer(ema->model), 0, err);
    ykd_model_params_changed(ema->model);
    return st;
}

ykd_model *ykd_ema_model(const ykd_ema *ema)
{
    return ema->model;
}

int64_t ykd_ema_updates(const ykd_ema *ema)
{
    return ema->updates;
}

void ykd_ema_set_updates(ykd_ema *ema, int64_t updates)
{
    ema->updates = updates;
}
