/* The optimizer over the model's parameter groups: SGD with Nesterov momentum (weight decay
 * coupled, as torch.optim.SGD) or AdamW (decay decoupled), after clipping the gradients'
 * global norm. The clip coefficient and SGD's coupled decay are applied inside the update
 * kernels (one pass over the parameters): the gradient buffer itself is only read. The model
 * stores its parameters grouped by kind, so each kind is one range of
 * the parameter buffer and, at the same offsets, of the gradient buffer; the optimizer's own
 * buffers use those offsets too. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error_internal.h"
#include "yolokd/ops.h"
#include "yolokd/train.h"

enum { MAX_STATE = 2 };

struct ykd_optimizer {
    ykd_model *model;
    ykd_optimizer_options o;
    size_t trained_floats; /* the gradient buffer's length */
    ykd_buffer *state[MAX_STATE]; /* SGD: momentum; AdamW: m, v */
    int state_count;
    int64_t steps;
};

static const ykd_param_kind trained_kinds[] = {YKD_PARAM_CONV_WEIGHT, YKD_PARAM_BN_WEIGHT,
                                               YKD_PARAM_BN_BIAS, YKD_PARAM_CONV_BIAS};
enum { TRAINED_KINDS = sizeof trained_kinds / sizeof trained_kinds[0] };

static const char *const kind_names[] = {"sgd", "adamw", "auto"};

const char *ykd_optimizer_kind_name(ykd_optimizer_kind kind)
{
    return kind >= 0 && kind <= YKD_OPTIMIZER_AUTO ? kind_names[kind] : "?";
}

bool ykd_optimizer_kind_parse(const char *name, ykd_optimizer_kind *kind)
{
    for (int k = 0; k <= YKD_OPTIMIZER_AUTO; k++) {
        if (strcasecmp(name, kind_names[k]) == 0) {
            *kind = (ykd_optimizer_kind)k;
            return true;
        }
    }
    return false;
}

void ykd_optimizer_auto(size_t images, int batch, int nbs, int epochs, int nc,
                        ykd_optimizer_kind *kind, double *lr0, double *momentum,
                        double *warmup_bias_lr)
{
    size_t per_step = (size_t)(batch > nbs ? batch : nbs);
    double iterations = (double)((images + per_step - 1) / per_step) * epochs;
    bool long_run = iterations > 10000;
    *kind = long_run ? YKD_OPTIMIZER_SGD : YKD_OPTIMIZER_ADAMW;
    /* Ultralytics rounds the fitted LR to 6 decimals */
    *lr0 = long_run ? 0.01 : round(0.002 * 5.0 / (4 + nc) * 1e6) / 1e6;
    *momentum = 0.9;
    *warmup_bias_lr = 0.0; /* "no higher than 0.01 for Adam" */
}

void ykd_optimizer_options_default(ykd_optimizer_options *o)
{
    *o = (ykd_optimizer_options){YKD_OPTIMIZER_SGD, 5e-4, true, 0.999, 1e-8, 10.0};
}

static ykd_status check_options(const ykd_optimizer_options *o, ykd_error *err)
{
    if (o->kind != YKD_OPTIMIZER_SGD && o->kind != YKD_OPTIMIZER_ADAMW)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "optimizer: unknown kind %d", (int)o->kind);
    if (!(o->weight_decay >= 0.0 && isfinite(o->weight_decay)) ||
        !(o->max_grad_norm >= 0.0 && isfinite(o->max_grad_norm)))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "optimizer: weight decay %g and max gradient norm %g must be finite and "
                        ">= 0",
                        o->weight_decay, o->max_grad_norm);
    if (o->kind == YKD_OPTIMIZER_ADAMW && !(o->beta2 >= 0.0 && o->beta2 < 1.0 && o->eps >= 0.0))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "optimizer: AdamW's beta2 %g must lie in [0, 1) and eps %g be >= 0",
                        o->beta2, o->eps);
    return YKD_OK;
}

ykd_status ykd_optimizer_init(ykd_model *model, const ykd_optimizer_options *options,
                              ykd_optimizer **optimizer, ykd_error *err)
{
    *optimizer = NULL;
    ykd_status st = check_options(options, err);
    if (st != YKD_OK)
        return st;
    ykd_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "optimizer: out of host memory");
    opt->model = model;
    opt->o = *options;
    for (int k = 0; k < TRAINED_KINDS; k++) {
        size_t first, count;
        ykd_model_kind_range(model, trained_kinds[k], &first, &count);
        if (first + count > opt->trained_floats)
            opt->trained_floats = first + count;
    }
    opt->state_count = options->kind == YKD_OPTIMIZER_SGD ? 1 : 2;
    ykd_device *dev = ykd_model_device(model);
    size_t bytes = (opt->trained_floats ? opt->trained_floats : 1) * sizeof(float);
    for (int i = 0; i < opt->state_count && st == YKD_OK; i++) {
        st = ykd_buffer_alloc(dev, bytes, &opt->state[i], err);
        if (st == YKD_OK)
            st = ykd_fill_f32(opt->state[i], 0, opt->trained_floats, 0.0f, err);
    }
    if (st != YKD_OK) {
        ykd_optimizer_free(opt);
        return st;
    }
    *optimizer = opt;
    return YKD_OK;
}

void ykd_optimizer_free(ykd_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->state_count; i++)
        ykd_buffer_free(opt->state[i]);
    free(opt);
}

int64_t ykd_optimizer_steps(const ykd_optimizer *opt)
{
    return opt->steps;
}

void ykd_optimizer_set_steps(ykd_optimizer *opt, int64_t steps)
{
    opt->steps = steps;
}

const ykd_optimizer_options *ykd_optimizer_get_options(const ykd_optimizer *opt)
{
    return &opt->o;
}

bool ykd_optimizer_state_at(const ykd_optimizer *opt, int index, const char **name,
                            ykd_buffer **buffer, size_t *floats)
{
    static const char *const sgd_names[] = {"momentum"};
    static const char *const adam_names[] = {"adam_m", "adam_v"};
    if (index < 0 || index >= opt->state_count)
        return false;
    *name = opt->o.kind == YKD_OPTIMIZER_SGD ? sgd_names[index] : adam_names[index];
    *buffer = opt->state[index];
    *floats = opt->trained_floats;
    return true;
}

/* The global L2 norm of every gradient, reduced on the device in a fixed partition (the same
 * norm every run): reading the gradients back to sum them on the host cost 7-28 ms a step. */
static ykd_status grad_norm(ykd_optimizer *opt, double *norm, ykd_error *err)
{
    ykd_buffer *grads = ykd_model_grad_buffer(opt->model);
    if (!grads)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "optimizer: the model has no gradients yet (no training forward)");
    double sum = 0.0;
    ykd_tensor all = ykd_tensor_view(grads, 0, 1, 1, 1, (int)opt->trained_floats);
    ykd_status st = opt->trained_floats ? ykd_sum_squares(&all, &sum, err) : YKD_OK;
    *norm = sqrt(sum);
    return st;
}

/* As torch.nn.utils.clip_grad_norm_: the gradients' scale max / (norm + 1e-6) when that is
 * below 1, else 1 (the update kernels apply it). A coefficient under float's range stays the
 * smallest float: a scale of 0 would mean 1 to them. */
static float clip_scale(const ykd_optimizer *opt, double norm)
{
    double coef = opt->o.max_grad_norm / (norm + 1e-6);
    if (opt->o.max_grad_norm <= 0.0 || coef >= 1.0)
        return 1.0f;
    return coef < FLT_TRUE_MIN ? FLT_TRUE_MIN : (float)coef;
}

/* One kind's range [first, first + count) as a packed tensor of buffer. */
static ykd_tensor range_view(ykd_buffer *buffer, size_t first, size_t count)
{
    return ykd_tensor_view(buffer, first, 1, 1, 1, (int)count);
}

static ykd_status step_sgd(ykd_optimizer *opt, ykd_tensor *p, ykd_tensor *g, size_t first,
                           size_t count, double lr, double momentum, double decay,
                           float grad_scale, ykd_error *err)
{
    ykd_tensor buf = range_view(opt->state[0], first, count);
    /* torch.optim.SGD: d_p = grad + weight_decay * param, the grad clipped first */
    ykd_sgd sgd = {(float)lr, (float)momentum, opt->o.nesterov && momentum > 0.0, 0.0f,
                   (float)decay, grad_scale};
    return ykd_sgd_step(p, g, momentum > 0.0 ? &buf : NULL, &sgd, err);
}

static ykd_status step_adamw(ykd_optimizer *opt, ykd_tensor *p, ykd_tensor *g, size_t first,
                             size_t count, double lr, double beta1, double decay,
                             float grad_scale, ykd_error *err)
{
    ykd_tensor m = range_view(opt->state[0], first, count);
    ykd_tensor v = range_view(opt->state[1], first, count);
    ykd_adamw a = {(float)lr,
                   (float)beta1,
                   (float)opt->o.beta2,
                   (float)opt->o.eps,
                   (float)decay,
                   (int)(opt->steps > 2000000000 ? 2000000000 : opt->steps),
                   grad_scale};
    return ykd_adamw_step(p, g, &m, &v, &a, err);
}

ykd_status ykd_optimizer_step(ykd_optimizer *opt, const double lr[YKD_GROUP_COUNT],
                              double momentum, double *grad_norm_out, ykd_error *err)
{
    double norm = 0.0;
    ykd_status st = grad_norm(opt, &norm, err);
    if (grad_norm_out)
        *grad_norm_out = norm;
    if (st == YKD_OK && !isfinite(norm))
        st = ykd_fail(err, YKD_ERR_NOT_FINITE, "optimizer: the gradient norm is %g", norm);
    if (st != YKD_OK)
        return st;
    float grad_scale = clip_scale(opt, norm);
    opt->steps++;
    ykd_buffer *params = ykd_model_param_buffer(opt->model);
    ykd_buffer *grads = ykd_model_grad_buffer(opt->model);
    for (int k = 0; k < TRAINED_KINDS && st == YKD_OK; k++) {
        size_t first, count;
        ykd_model_kind_range(opt->model, trained_kinds[k], &first, &count);
        if (count == 0)
            continue;
        int group = ykd_param_kind_group(trained_kinds[k]);
        double decay = group == YKD_GROUP_DECAY ? opt->o.weight_decay : 0.0;
        ykd_tensor p = range_view(params, first, count), g = range_view(grads, first, count);
        if (opt->o.kind == YKD_OPTIMIZER_SGD)
            st = step_sgd(opt, &p, &g, first, count, lr[group], momentum, decay, grad_scale,
                          err);
        else
            st = step_adamw(opt, &p, &g, first, count, lr[group], momentum, decay, grad_scale,
                            err);
    }
    ykd_model_params_changed(opt->model);
    return st;
}
