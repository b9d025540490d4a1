/* The distillation losses with kernels of their own (cl/loss_kd.cl): logit KD, LD, CWD and the
 * masked MSE; their operand checks and the per-group sums read back. PKD and imitation, which
 * compose these with other ops, are in loss_kd_feature.c. */
#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "ops/loss_kd_internal.h"

static const char *const kd_sources[] = {"cl/tensor.cl", "cl/shared.cl", "cl/loss_common.cl",
                                         "cl/loss_kd.cl", NULL};
static const char *const kd_grouped[] = {"kd_logit", "kd_ld", "kd_cwd", "kd_mse", NULL};

/* 64 work-items per group were measured the best on PoCL; kd_cwd keeps GROUP + 1 float4 of
 * local memory (16 bytes per work-item, 16 more for the extra entry). */
static const ykd_group_family kd_family = {kd_sources, kd_grouped, 64, 32};

static ykd_status kd_kernel(ykd_device *dev, const char *name, ykd_kernel **kernel,
                            size_t *group, ykd_error *err)
{
    return ykd_group_kernel(dev, &kd_family, name, kernel, group, err);
}

ykd_status ykd_kd_check_pair(const char *op, const ykd_tensor *student, const ykd_tensor *teacher,
                             const ykd_kd_grad *grad, ykd_error *err)
{
    bool has_dx = grad && grad->dx;
    const ykd_tensor *tensors[3] = {student, teacher, has_dx ? grad->dx : NULL};
    const char *names[3] = {"student", "teacher", "dx"};
    ykd_status st = ykd_op_check_operands(op, tensors, names, has_dx ? 3 : 2, err);
    if (st == YKD_OK)
        st = ykd_op_expect_same_shape(op, "teacher", teacher, "student", student, err);
    if (st == YKD_OK && has_dx)
        st = ykd_op_expect_same_shape(op, "dx", grad->dx, "student", student, err);
    if (st == YKD_OK && grad && !isfinite(grad->scale))
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: gradient scale %g is not finite", op,
                      (double)grad->scale);
    return st;
}

ykd_status ykd_kd_check_positive(const char *op, const char *what, double value, ykd_error *err)
{
    if (!(value > 0.0) || !isfinite(value))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: %s %g is not a finite number > 0",
                        op, what, value);
    return YKD_OK;
}

/* Fails unless mask is [N, 1, H, W] of x's N, H, W, on x's device. */
static ykd_status check_mask(const char *op, const char *name, const ykd_tensor *mask,
                             const ykd_tensor *x, ykd_error *err)
{
    const ykd_tensor *tensors[2] = {x, mask};
    const char *names[2] = {"student", name};
    ykd_status st = ykd_op_check_operands(op, tensors, names, 2, err);
    return st == YKD_OK ? ykd_op_expect_shape(op, name, mask, x->n, 1, x->h, x->w, err) : st;
}

/* The gradient's kernel arguments: scale, has_grad, accumulate, then the tensor (the student
 * in its place when there is none: never written then). */
static void args_grad(ykd_op_args *a, const ykd_tensor *student, const ykd_kd_grad *grad,
                      double grad_scale)
{
    bool has = grad && grad->dx;
    ykd_op_args_float(a, (float)grad_scale);
    ykd_op_args_int(a, has);
    ykd_op_args_int(a, has && grad->accumulate);
    ykd_op_args_tensor(a, has ? grad->dx : student);
}

/* One loss's launch: its kernel, the work-group size its program was built for, its
 * arguments. */
typedef struct kd_launch {
    ykd_kernel *kernel;
    size_t group;
    ykd_op_args a;
} kd_launch;

/* Runs the launch over global (work-groups of l->group along the first axis), groups groups
 * in all, each writing one partial sum; *sum = their sum, in order, in double. */
static ykd_status run_summed(const char *op, ykd_device *dev, kd_launch *l, unsigned dims,
                             const size_t *global, size_t groups, double *sum, ykd_error *err)
{
    ykd_buffer *partial = NULL;
    float *host = malloc(groups * sizeof *host);
    ykd_status st = host ? ykd_op_scratch(dev, groups, op, &partial, err)
                         : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (st == YKD_OK) {
        ykd_op_args_mem(&l->a, partial->mem);
        size_t local[3] = {l->group, 1, 1};
        st = ykd_op_run(dev, l->kernel, &l->a, dims, global, local, err);
    }
    if (st == YKD_OK)
        st = ykd_buffer_read(partial, 0, host, groups * sizeof *host, err);
    *sum = 0.0;
    for (size_t i = 0; st == YKD_OK && i < groups; i++)
        *sum += host[i];
    ykd_buffer_free(partial);
    free(host);
    return st;
}

/* A kernel over the planes' positions, global (hw, channels, images): a's arguments are
 * complete but the partials. */
static ykd_status run_planes(const char *op, kd_launch *l, const ykd_tensor *x, double *sum,
                             ykd_error *err)
{
    size_t hw = (size_t)x->h * (size_t)x->w, per_plane = (hw + l->group - 1) / l->group;
    size_t global[3] = {hw, (size_t)x->c, (size_t)x->n};
    return run_summed(op, ykd_tensor_device(x), l, 3, global,
                      per_plane * (size_t)x->c * (size_t)x->n, sum, err);
}

/* An element-wise kernel over (count, images): a's arguments are complete but the partials. */
static ykd_status run_elements(const char *op, kd_launch *l, const ykd_tensor *x, size_t count,
                               double *sum, ykd_error *err)
{
    size_t per_image = (count + l->group - 1) / l->group;
    size_t global[2] = {count, (size_t)x->n};
    return run_summed(op, ykd_tensor_device(x), l, 2, global, per_image * (size_t)x->n, sum,
                      err);
}

ykd_status ykd_kd_finish(const char *op, double value, double *loss, ykd_error *err)
{
    *loss = value;
    if (!isfinite(value))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: the loss is not finite (the student or the teacher holds NaN or "
                        "infinity, or values so large the loss overflows)",
                        op);
    return YKD_OK;
}

/* Gets the kernel and starts its arguments with student and teacher, unless st is a failure
 * already (returned as is). */
static ykd_status call_begin(ykd_status st, const char *kernel_name, const ykd_tensor *student,
                             const ykd_tensor *teacher, kd_launch *l, ykd_error *err)
{
    *l = (kd_launch){0};
    if (st == YKD_OK)
        st = kd_kernel(ykd_tensor_device(student), kernel_name, &l->kernel, &l->group, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args_tensor(&l->a, student);
    ykd_op_args_tensor(&l->a, teacher);
    return YKD_OK;
}

/* The checks every tempered loss shares: the pair, the temperature, and *norm unless norm is
 * NULL (a loss whose normaliser is fixed). */
static ykd_status check_tempered(const char *op, const ykd_tensor *student,
                                 const ykd_tensor *teacher, float temperature,
                                 const double *norm, const ykd_kd_grad *grad, ykd_error *err)
{
    ykd_status st = ykd_kd_check_pair(op, student, teacher, grad, err);
    if (st == YKD_OK)
        st = ykd_kd_check_positive(op, "temperature", temperature, err);
    if (st == YKD_OK && norm)
        st = ykd_kd_check_positive(op, "norm", *norm, err);
    return st;
}

ykd_status ykd_kd_logit_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                             float temperature, double norm, const ykd_kd_grad *grad,
                             double *loss, ykd_error *err)
{
    static const char op[] = "ykd_kd_logit_loss";
    *loss = 0.0;
    kd_launch l;
    ykd_status st = check_tempered(op, student, teacher, temperature, &norm, grad, err);
    st = call_begin(st, "kd_logit", student, teacher, &l, err);
    if (st != YKD_OK)
        return st;
    double t = temperature, sum = 0.0;
    size_t count = ykd_tensor_image_size(student);
    ykd_op_args_uint(&l.a, count);
    ykd_op_args_float(&l.a, (float)(1.0 / t));
    args_grad(&l.a, student, grad, grad ? grad->scale * t / norm : 0.0);
    st = run_elements(op, &l, student, count, &sum, err);
    return st == YKD_OK ? ykd_kd_finish(op, sum * t * t / norm, loss, err) : st;
}

/* LD's own checks: 4 sides of at most YKD_KD_MAX_BINS bins, the weight's shape. */
static ykd_status check_ld(const char *op, const ykd_tensor *student, const ykd_tensor *weight,
                           ykd_error *err)
{
    if (student->c % 4 != 0 || student->c / 4 > YKD_KD_MAX_BINS) {
        char shape[96];
        ykd_tensor_shape_str(student, shape, sizeof shape);
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: student %s: the channels must be 4 sides x at most %d bins", op,
                        shape, YKD_KD_MAX_BINS);
    }
    return check_mask(op, "weight", weight, student, err);
}

ykd_status ykd_kd_ld_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                          const ykd_tensor *weight, float temperature, double norm,
                          const ykd_kd_grad *grad, double *loss, ykd_error *err)
{
    static const char op[] = "ykd_kd_ld_loss";
    *loss = 0.0;
    kd_launch l;
    ykd_status st = check_tempered(op, student, teacher, temperature, &norm, grad, err);
    if (st == YKD_OK)
        st = check_ld(op, student, weight, err);
    st = call_begin(st, "kd_ld", student, teacher, &l, err);
    if (st != YKD_OK)
        return st;
    double t = temperature, sum = 0.0;
    size_t hw = (size_t)student->h * (size_t)student->w;
    ykd_op_args_tensor(&l.a, weight);
    ykd_op_args_uint(&l.a, hw);
    ykd_op_args_uint(&l.a, (size_t)student->c / 4);
    ykd_op_args_float(&l.a, (float)(1.0 / t));
    args_grad(&l.a, student, grad, grad ? grad->scale * t / (4.0 * norm) : 0.0);
    st = run_elements(op, &l, student, 4 * hw, &sum, err);
    return st == YKD_OK ? ykd_kd_finish(op, sum * t * t / (4.0 * norm), loss, err) : st;
}

ykd_status ykd_kd_cwd_loss(const ykd_tensor *student, const ykd_tensor *teacher,
                           float temperature, const ykd_kd_grad *grad, double *loss,
                           ykd_error *err)
{
    static const char op[] = "ykd_kd_cwd_loss";
    *loss = 0.0;
    kd_launch l;
    ykd_status st = check_tempered(op, student, teacher, temperature, NULL, grad, err);
    st = call_begin(st, "kd_cwd", student, teacher, &l, err);
    if (st != YKD_OK)
        return st;
    double t = temperature, planes = (double)student->n * student->c, sum = 0.0;
    ykd_op_args_uint(&l.a, (size_t)student->h * (size_t)student->w);
    ykd_op_args_float(&l.a, (float)(1.0 / t));
    args_grad(&l.a, student, grad, grad ? grad->scale * t / planes : 0.0);
    size_t global[3] = {l.group, (size_t)student->c, (size_t)student->n};
    st = run_summed(op, ykd_tensor_device(student), &l, 3, global, (size_t)planes, &sum, err);
    return st == YKD_OK ? ykd_kd_finish(op, sum * t * t / planes, loss, err) : st;
}

ykd_status ykd_kd_mse_loss(const ykd_tensor *pred, const ykd_tensor *target,
                           const ykd_tensor *mask, double norm, const ykd_kd_grad *grad,
                           double *loss, ykd_error *err)
{
    static const char op[] = "ykd_kd_mse_loss";
    *loss = 0.0;
    kd_launch l;
    ykd_status st = ykd_kd_check_pair(op, pred, target, grad, err);
    if (st == YKD_OK && mask)
        st = check_mask(op, "mask", mask, pred, err);
    if (st == YKD_OK)
        st = ykd_kd_check_positive(op, "norm", norm, err);
    st = call_begin(st, "kd_mse", pred, target, &l, err);
    if (st != YKD_OK)
        return st;
    double sum = 0.0;
    ykd_op_args_tensor(&l.a, mask ? mask : pred);
    ykd_op_args_uint(&l.a, (size_t)pred->h * (size_t)pred->w);
    ykd_op_args_int(&l.a, mask != NULL);
    args_grad(&l.a, pred, grad, grad ? grad->scale / norm : 0.0);
    st = run_planes(op, &l, pred, &sum, err);
    return st == YKD_OK ? ykd_kd_finish(op, sum / norm, loss, err) : st;
}
