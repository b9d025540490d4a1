/* The distillation losses built from other ops: PKD (batch normalisation without affine
 * parameters on both maps, the MSE kernel between them, batch normalisation's backward for the
 * student) and feature imitation (a 1x1 convolution, the masked MSE, the convolution's
 * backward). Their temporaries are scratch buffers freed once queued. */
#include <math.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/loss_kd_internal.h"

/* A packed scratch tensor shaped like [n, c, h, w]. */
static ykd_status scratch_tensor(ykd_device *dev, const char *op, int n, int c, int h, int w,
                                 ykd_buffer **buf, ykd_tensor *t, ykd_error *err)
{
    ykd_status st = ykd_op_scratch(dev, (size_t)n * c * h * w, op, buf, err);
    if (st == YKD_OK)
        *t = ykd_tensor_view(*buf, 0, n, c, h, w);
    return st;
}

/* ---- PKD ----------------------------------------------------------------------------------- */

/* Per-channel vectors of the standardisations ([1, C, 1, 1] views of one buffer): a batch
 * normalisation with weight 1, bias 0 and momentum 0 (running statistics left as they are). */
enum { PKD_ONES, PKD_ZEROS, PKD_RUN_MEAN, PKD_RUN_VAR, PKD_MEAN_S, PKD_INVSTD_S, PKD_MEAN_T,
       PKD_INVSTD_T, PKD_DGAMMA, PKD_DBETA, PKD_VECTORS };

typedef struct pkd_state {
    ykd_buffer *vectors, *maps;
    ykd_tensor v[PKD_VECTORS];
    ykd_tensor s_hat, t_hat, dy, dx_tmp;
    ykd_batchnorm bn;
} pkd_state;

static ykd_status pkd_begin(const char *op, const ykd_tensor *s, pkd_state *p, ykd_error *err)
{
    ykd_device *dev = ykd_tensor_device(s);
    size_t c = (size_t)s->c, numel = ykd_tensor_numel(s);
    ykd_status st = ykd_op_scratch(dev, c * PKD_VECTORS, op, &p->vectors, err);
    if (st == YKD_OK)
        st = ykd_op_scratch(dev, numel * 4, op, &p->maps, err);
    for (int i = 0; i < PKD_VECTORS && st == YKD_OK; i++)
        p->v[i] = ykd_tensor_view(p->vectors, c * i, 1, s->c, 1, 1);
    ykd_tensor *maps[4] = {&p->s_hat, &p->t_hat, &p->dy, &p->dx_tmp};
    for (int i = 0; i < 4 && st == YKD_OK; i++)
        *maps[i] = ykd_tensor_view(p->maps, numel * i, s->n, s->c, s->h, s->w);
    if (st == YKD_OK)
        st = ykd_fill_f32(p->vectors, 0, c * PKD_VECTORS, 0.0f, err);
    if (st == YKD_OK)
        st = ykd_tensor_fill(&p->v[PKD_ONES], 1.0f, err);
    if (st == YKD_OK)
        st = ykd_tensor_fill(&p->v[PKD_RUN_VAR], 1.0f, err);
    p->bn = (ykd_batchnorm){&p->v[PKD_ONES], &p->v[PKD_ZEROS], &p->v[PKD_RUN_MEAN],
                            &p->v[PKD_RUN_VAR], 0.0f, YKD_KD_PKD_EPS};
    return st;
}

static void pkd_end(pkd_state *p)
{
    ykd_buffer_free(p->vectors);
    ykd_buffer_free(p->maps);
}

/* ds (+)= the standardisation's backward of dy (batch normalisation's, with weight 1). */
static ykd_status pkd_backward(const ykd_tensor *s, pkd_state *p, const ykd_kd_grad *grad,
                               ykd_error *err)
{
    const ykd_tensor *dx = grad->accumulate ? &p->dx_tmp : grad->dx;
    ykd_status st = ykd_batchnorm_backward(s, &p->dy, &p->bn, &p->v[PKD_MEAN_S],
                                           &p->v[PKD_INVSTD_S], false, dx, &p->v[PKD_DGAMMA],
                                           &p->v[PKD_DBETA], err);
    if (st == YKD_OK && grad->accumulate)
        st = ykd_tensor_axpy(1.0f, &p->dx_tmp, grad->dx, err);
    return st;
}

ykd_status ykd_kd_pkd_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                           const ykd_kd_grad *grad, double *loss, ykd_error *err)
{
    static const char op[] = "ykd_kd_pkd_loss";
    *loss = 0.0;
    ykd_status st = ykd_kd_check_pair(op, student, teacher, grad, err);
    if (st == YKD_OK && (size_t)student->n * student->h * student->w < 2) {
        char shape[96];
        ykd_tensor_shape_str(student, shape, sizeof shape);
        st = ykd_fail(err, YKD_ERR_SHAPE,
                      "%s: student %s has one value per channel; standardising needs two", op,
                      shape);
    }
    if (st != YKD_OK)
        return st;
    pkd_state p;
    memset(&p, 0, sizeof p);
    st = pkd_begin(op, student, &p, err);
    if (st == YKD_OK)
        st = ykd_batchnorm_forward_train(student, &p.bn, &p.s_hat, &p.v[PKD_MEAN_S],
                                         &p.v[PKD_INVSTD_S], err);
    if (st == YKD_OK)
        st = ykd_batchnorm_forward_train(teacher, &p.bn, &p.t_hat, &p.v[PKD_MEAN_T],
                                         &p.v[PKD_INVSTD_T], err);
    bool has_dx = grad && grad->dx;
    ykd_kd_grad dy = {&p.dy, has_dx ? grad->scale : 0.0f, false};
    if (st == YKD_OK)
        st = ykd_kd_mse_loss(&p.s_hat, &p.t_hat, NULL, 2.0 * (double)ykd_tensor_numel(student),
                             has_dx ? &dy : NULL, loss, err);
    if (st == YKD_OK && has_dx)
        st = pkd_backward(student, &p, grad, err);
    pkd_end(&p);
    if (st != YKD_OK)
        ykd_error_prefix(err, "%s", op); /* the failure of a part names the part */
    return st;
}

/* ---- feature imitation --------------------------------------------------------------------- */

static const ykd_conv2d_params pointwise = {.stride = 1, .padding = 0, .groups = 1};

/* The adapter's tensors: weight [Ct, Cs, 1, 1] for the student's Cs, bias [1, Ct, 1, 1] (or
 * NULL) and the gradients of either (their shapes, or NULL), on the student's device. */
static ykd_status check_adapter(const char *op, const ykd_tensor *s, const ykd_kd_adapter *ad,
                                ykd_error *err)
{
    const ykd_tensor *tensors[5] = {s, ad->weight};
    const char *names[5] = {"student", "adapter weight"};
    int count = 2;
    const ykd_tensor *optional[3] = {ad->bias, ad->weight_grad, ad->bias_grad};
    const char *optional_names[3] = {"adapter bias", "adapter weight gradient",
                                     "adapter bias gradient"};
    for (int i = 0; i < 3; i++)
        if (optional[i]) {
            tensors[count] = optional[i];
            names[count++] = optional_names[i];
        }
    ykd_status st = ykd_op_check_operands(op, tensors, names, count, err);
    int ct = ad->weight->n;
    if (st == YKD_OK)
        st = ykd_op_expect_shape(op, "adapter weight", ad->weight, ct, s->c, 1, 1, err);
    if (st == YKD_OK && ad->weight_grad)
        st = ykd_op_expect_shape(op, "adapter weight gradient", ad->weight_grad, ct, s->c, 1, 1,
                                 err);
    if (st == YKD_OK && ad->bias)
        st = ykd_op_expect_shape(op, "adapter bias", ad->bias, 1, ct, 1, 1, err);
    if (st == YKD_OK && ad->bias_grad)
        st = ykd_op_expect_shape(op, "adapter bias gradient", ad->bias_grad, 1, ct, 1, 1, err);
    return st;
}

/* The adapter's backward from dy: its parameter gradients added, the student's written or
 * added. */
static ykd_status adapter_backward(const ykd_tensor *s, const ykd_tensor *dy,
                                   const ykd_kd_adapter *ad, const ykd_kd_grad *grad,
                                   ykd_error *err)
{
    ykd_status st = YKD_OK;
    if (ad->weight_grad || ad->bias_grad) {
        /* the convolution's backward wants the weight gradient; a missing one goes to scratch */
        ykd_buffer *spare = NULL;
        ykd_tensor dw;
        if (ad->weight_grad)
            dw = *ad->weight_grad;
        else
            st = scratch_tensor(ykd_tensor_device(s), "ykd_kd_imitation_loss", ad->weight->n,
                                s->c, 1, 1, &spare, &dw, err);
        if (st == YKD_OK)
            st = ykd_conv2d_backward_weights(s, dy, &pointwise, true, &dw,
                                             ad->bias_grad, err);
        ykd_buffer_free(spare);
    }
    if (st == YKD_OK && grad->dx)
        st = ykd_conv2d_backward_input(dy, ad->weight, &pointwise, grad->accumulate, grad->dx,
                                       err);
    return st;
}

/* Imitation through the adapter: y = adapter(s), the MSE of y and t into dy, back through it. */
static ykd_status imitate_adapted(const char *op, const ykd_tensor *s, const ykd_tensor *t,
                                  const ykd_tensor *mask, const ykd_kd_adapter *ad, double norm,
                                  const ykd_kd_grad *grad, double *loss, ykd_error *err)
{
    ykd_device *dev = ykd_tensor_device(s);
    ykd_buffer *buf = NULL;
    ykd_tensor y, dy;
    ykd_status st = ykd_op_scratch(dev, 2 * (size_t)s->n * ad->weight->n * s->h * s->w, op,
                                   &buf, err);
    if (st != YKD_OK)
        return st;
    size_t numel = (size_t)s->n * ad->weight->n * s->h * s->w;
    y = ykd_tensor_view(buf, 0, s->n, ad->weight->n, s->h, s->w);
    dy = ykd_tensor_view(buf, numel, s->n, ad->weight->n, s->h, s->w);
    st = ykd_op_expect_same_shape(op, "teacher", t, "adapter(student)", &y, err);
    if (st == YKD_OK)
        st = ykd_conv2d_forward(s, ad->weight, ad->bias, &pointwise, YKD_ACTIVATION_NONE, &y,
                                err);
    ykd_kd_grad to_dy = {&dy, grad ? grad->scale : 0.0f, false};
    if (st == YKD_OK)
        st = ykd_kd_mse_loss(&y, t, mask, norm, grad ? &to_dy : NULL, loss, err);
    if (st == YKD_OK && grad)
        st = adapter_backward(s, &dy, ad, grad, err);
    ykd_buffer_free(buf);
    return st;
}

ykd_status ykd_kd_imitation_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                                 const ykd_tensor *mask, const ykd_kd_adapter *adapter,
                                 double norm, const ykd_kd_grad *grad, double *loss,
                                 ykd_error *err)
{
    static const char op[] = "ykd_kd_imitation_loss";
    *loss = 0.0;
    if (!adapter)
        return ykd_kd_mse_loss(student, teacher, mask, norm, grad, loss, err);
    const ykd_tensor *tensors[2] = {student, teacher};
    const char *names[2] = {"student", "teacher"};
    ykd_status st = ykd_op_check_operands(op, tensors, names, 2, err);
    if (st == YKD_OK)
        st = check_adapter(op, student, adapter, err);
    if (st == YKD_OK && grad && grad->dx)
        st = ykd_kd_check_pair(op, student, student, grad, err);
    if (st == YKD_OK)
        st = ykd_kd_check_positive(op, "norm", norm, err);
    return st == YKD_OK
               ? imitate_adapted(op, student, teacher, mask, adapter, norm, grad, loss, err)
               : st;
}
