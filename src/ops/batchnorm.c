/* Batch normalisation: training and inference forward, training backward, and folding into
 * a convolution (cl/batchnorm.cl). */
#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/batchnorm.cl";

/* Largest work-group a plane reduction uses: enough work-items for a GPU's memory system,
 * and on PoCL enough to split a plane into a few cache-friendly chunks. */
enum { PLANE_GROUP = 256 };

/* Elements of a plane per work-item of the element-wise kernels (PLANE_RUN in the source): a
 * floatv. */
#define PLANE_RUN YKD_OP_RUN_VECTOR

/* Checks the operands: tensors[0, shaped) have the shape of tensors[0], the rest are
 * per-channel [1, channels, 1, 1]; all on one device. */
static ykd_status check_operands(const char *op, const ykd_tensor *const *tensors,
                                 const char *const *names, int shaped, int count, int channels,
                                 ykd_error *err)
{
    ykd_status st = ykd_op_check_operands(op, tensors, names, count, err);
    for (int i = 1; i < shaped && st == YKD_OK; i++)
        st = ykd_op_expect_same_shape(op, names[i], tensors[i], names[0], tensors[0], err);
    for (int i = shaped; i < count && st == YKD_OK; i++)
        st = ykd_op_expect_shape(op, names[i], tensors[i], 1, channels, 1, 1, err);
    return st;
}

static ykd_status check_eps(const char *op, const ykd_batchnorm *bn, ykd_error *err)
{
    if (!(bn->eps >= 0.0f) || !isfinite(bn->eps))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: eps %g is not a finite number >= 0",
                        op, (double)bn->eps);
    return YKD_OK;
}

/* Training needs a momentum in [0, 1] and two values per channel for an unbiased variance. */
static ykd_status check_training(const char *op, const ykd_tensor *x, const ykd_batchnorm *bn,
                                 ykd_error *err)
{
    if (!(bn->momentum >= 0.0f && bn->momentum <= 1.0f))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: momentum %g is outside [0, 1]", op,
                        (double)bn->momentum);
    if ((size_t)x->n * (size_t)x->h * (size_t)x->w < 2) {
        char shape[96];
        ykd_tensor_shape_str(x, shape, sizeof shape);
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: x %s has one value per channel; batch statistics need at least two",
                        op, shape);
    }
    return check_eps(op, bn, err);
}

static size_t pow2_clamp(size_t n, size_t lo, size_t hi)
{
    size_t p = lo;
    while (p < n && p < hi)
        p *= 2;
    return p;
}

/* Runs a batchnorm_plane_* kernel: a work-group per (channel, image) plane of x, with a's
 * arguments followed by the plane size, the partial buffer and local scratch of
 * floats_per_item floats per work-item. */
static ykd_status run_plane_reduction(ykd_device *dev, const ykd_kernel *kernel, ykd_op_args *a,
                                      const ykd_tensor *x, ykd_buffer *partial,
                                      size_t floats_per_item, ykd_error *err)
{
    size_t plane = (size_t)x->h * (size_t)x->w;
    /* On a CPU whose work-items vectorise within themselves (PoCL) one work-item walks a
     * whole plane: the C x N planes keep the cores busy, and no tree or barrier is paid
     * (against work-groups of 8-256 work-items, chunks of 32 floats and more: the s/160
     * training shapes' statistics and gradient sums 2-3x faster on PoCL); where work-items
     * are lanes (GPUs, llvmpipe: a vector width of 1), up to a run of 8 floats per
     * work-item, at least a warp. */
    bool whole_planes = dev->info.type == YKD_DEVICE_TYPE_CPU && dev->info.vector_floats > 1;
    size_t want = whole_planes ? 1 : pow2_clamp(plane / 8, 32, PLANE_GROUP);
    size_t group = ykd_op_group_size(dev, kernel, want, floats_per_item * sizeof(float));
    ykd_op_args_uint(a, plane);
    ykd_op_args_mem(a, partial->mem);
    ykd_op_args_local(a, group * floats_per_item * sizeof(float));
    size_t global[3] = {group, (size_t)x->c, (size_t)x->n}, local[3] = {group, 1, 1};
    return ykd_op_run(dev, kernel, a, 3, global, local, err);
}

/* The kernels of one op, all obtained before anything is queued. */
static ykd_status get_kernels(ykd_device *dev, const char *const *names, ykd_kernel **kernels,
                              int count, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (int i = 0; i < count && st == YKD_OK; i++)
        st = ykd_op_kernel(dev, source, names[i], &kernels[i], err);
    return st;
}

/* A training pass over x (forward or backward): a plane reduction, a per-channel step, a pass
 * over the planes; with the plane partials (2 floats each) and a float4 per channel. */
typedef struct training_pass {
    ykd_device *dev;
    ykd_kernel *kernels[3];
    ykd_buffer *partial, *per_channel;
} training_pass;

static ykd_status pass_begin(training_pass *p, const ykd_tensor *x, const char *const *kernels,
                             const char *op, ykd_error *err)
{
    p->dev = ykd_tensor_device(x);
    p->partial = p->per_channel = NULL;
    ykd_status st = get_kernels(p->dev, kernels, p->kernels, 3, err);
    if (st == YKD_OK)
        st = ykd_op_scratch(p->dev, (size_t)x->c * (size_t)x->n * 2, op, &p->partial, err);
    if (st == YKD_OK)
        st = ykd_op_scratch(p->dev, (size_t)x->c * 4, op, &p->per_channel, err);
    return st;
}

static void pass_end(training_pass *p)
{
    ykd_buffer_free(p->partial);
    ykd_buffer_free(p->per_channel);
}

/* y = act(the affine map of each channel (4 floats per channel in affine) applied to x). */
static ykd_status run_apply(ykd_device *dev, const ykd_kernel *kernel, const ykd_tensor *x,
                            ykd_buffer *affine, ykd_activation act, const ykd_tensor *y,
                            ykd_error *err)
{
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_mem(&a, affine->mem);
    ykd_op_args_tensor(&a, y);
    ykd_op_args_uint(&a, (size_t)x->h * (size_t)x->w);
    ykd_op_args_uint(&a, (size_t)x->c);
    ykd_op_args_int(&a, (int)act);
    return ykd_op_run_per_plane_runs(dev, kernel, &a, x, PLANE_RUN, err);
}

/* Every rank's plane partials (C x n_r x 2 floats each, as on the device) laid out over the
 * global batch, channel-major as the per-channel kernels read them: out[(c N + m) 2 + k] with
 * m counting the images of ranks 0, 1, ... in turn. */
static void lay_out_global(const float *all, const size_t *counts, int ranks, size_t c,
                           float *out, size_t images)
{
    size_t base = 0, at = 0;
    for (int r = 0; r < ranks; r++) {
        size_t n = counts[r] / (2 * c);
        for (size_t ch = 0; ch < c; ch++)
            for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < 2; k++)
                    out[(ch * images + base + i) * 2 + k] = all[at + (ch * n + i) * 2 + k];
        base += n;
        at += counts[r];
    }
}

/* The pass's partials exchanged with the other ranks: *global holds the global batch's
 * (*images planes per channel). */
static ykd_status gather_partials(const ykd_bn_sync *sync, const training_pass *p,
                                  const ykd_tensor *x, const char *op, ykd_buffer **global,
                                  size_t *images, ykd_error *err)
{
    size_t c = (size_t)x->c, count = c * (size_t)x->n * 2;
    if (!sync->exchange || sync->ranks < 1)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: a sync without exchange or ranks",
                        op);
    float *mine = malloc(count * sizeof(float)), *all = NULL, *laid = NULL;
    size_t *counts = calloc((size_t)sync->ranks, sizeof *counts);
    ykd_status st = mine && counts ? YKD_OK
                                   : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                                              "%s: out of host memory", op);
    if (st == YKD_OK)
        st = ykd_buffer_read(p->partial, 0, mine, count * sizeof(float), err);
    if (st == YKD_OK)
        st = sync->exchange(sync->user, mine, count, &all, counts, err);
    size_t total = 0;
    for (int r = 0; r < sync->ranks && st == YKD_OK; r++) {
        if (counts[r] % (2 * c) != 0)
            st = ykd_fail(err, YKD_ERR_SHAPE,
                          "%s: rank %d sent %zu partials for %zu channels (the ranks' layers "
                          "differ)",
                          op, r, counts[r], c);
        total += counts[r];
    }
    *images = total / (2 * c);
    if (st == YKD_OK && !(laid = malloc((total ? total : 1) * sizeof(float))))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (st == YKD_OK)
        lay_out_global(all, counts, sync->ranks, c, laid, *images);
    if (st == YKD_OK)
        st = ykd_op_scratch(p->dev, total, op, global, err);
    if (st == YKD_OK)
        st = ykd_buffer_write(*global, 0, laid, total * sizeof(float), err);
    free(mine);
    free(all);
    free(laid);
    free(counts);
    return st;
}

static ykd_status forward_train(const char *op, const ykd_tensor *x, const ykd_batchnorm *bn,
                                const ykd_bn_sync *sync, ykd_activation act, const ykd_tensor *y,
                                const ykd_tensor *save_mean, const ykd_tensor *save_invstd,
                                ykd_error *err);

ykd_status ykd_batchnorm_forward_train(const ykd_tensor *x, const ykd_batchnorm *bn,
                                       const ykd_tensor *y, const ykd_tensor *save_mean,
                                       const ykd_tensor *save_invstd, ykd_error *err)
{
    return forward_train("ykd_batchnorm_forward_train", x, bn, NULL, YKD_ACTIVATION_NONE, y,
                         save_mean, save_invstd, err);
}

ykd_status ykd_batchnorm_forward_train_sync(const ykd_tensor *x, const ykd_batchnorm *bn,
                                            const ykd_bn_sync *sync, const ykd_tensor *y,
                                            const ykd_tensor *save_mean,
                                            const ykd_tensor *save_invstd, ykd_error *err)
{
    return forward_train("ykd_batchnorm_forward_train", x, bn, sync, YKD_ACTIVATION_NONE, y,
                         save_mean, save_invstd, err);
}

ykd_status ykd_batchnorm_silu_forward_train_sync(const ykd_tensor *x, const ykd_batchnorm *bn,
                                                 const ykd_bn_sync *sync, const ykd_tensor *y,
                                                 const ykd_tensor *save_mean,
                                                 const ykd_tensor *save_invstd, ykd_error *err)
{
    return forward_train("ykd_batchnorm_silu_forward_train", x, bn, sync, YKD_ACTIVATION_SILU,
                         y, save_mean, save_invstd, err);
}

static ykd_status forward_train(const char *op, const ykd_tensor *x, const ykd_batchnorm *bn,
                                const ykd_bn_sync *sync, ykd_activation act, const ykd_tensor *y,
                                const ykd_tensor *save_mean, const ykd_tensor *save_invstd,
                                ykd_error *err)
{
    if (!bn)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: bn is NULL", op);
    const ykd_tensor *tensors[] = {x, y, bn->gamma, bn->beta, bn->running_mean,
                                   bn->running_var, save_mean, save_invstd};
    const char *names[] = {"x", "y", "gamma", "beta", "running_mean", "running_var",
                           "save_mean", "save_invstd"};
    ykd_status st = check_operands(op, tensors, names, 2, 8, x ? x->c : 0, err);
    if (st == YKD_OK)
        st = check_training(op, x, bn, err);
    static const char *const kernels[] = {"batchnorm_plane_moments", "batchnorm_train_stats",
                                          "batchnorm_apply"};
    training_pass p = {0};
    if (st == YKD_OK)
        st = pass_begin(&p, x, kernels, op, err);
    if (st != YKD_OK) {
        pass_end(&p);
        return st;
    }
    ykd_op_args moments = {.count = 0};
    ykd_op_args_tensor(&moments, x);
    st = run_plane_reduction(p.dev, p.kernels[0], &moments, x, p.partial, 3, err);
    ykd_buffer *global = NULL;
    size_t images = (size_t)x->n;
    if (st == YKD_OK && sync)
        st = gather_partials(sync, &p, x, op, &global, &images, err);

    ykd_op_args stats = {.count = 0};
    ykd_op_args_mem(&stats, global ? global->mem : p.partial->mem);
    ykd_op_args_uint(&stats, images);
    ykd_op_args_uint(&stats, (size_t)x->h * (size_t)x->w);
    ykd_op_args_float(&stats, bn->eps);
    ykd_op_args_float(&stats, bn->momentum);
    ykd_op_args_tensor(&stats, bn->gamma);
    ykd_op_args_tensor(&stats, bn->beta);
    ykd_op_args_tensor(&stats, save_mean);
    ykd_op_args_tensor(&stats, save_invstd);
    ykd_op_args_tensor(&stats, bn->running_mean);
    ykd_op_args_tensor(&stats, bn->running_var);
    ykd_op_args_mem(&stats, p.per_channel->mem);
    ykd_op_args_uint(&stats, (size_t)x->c);
    if (st == YKD_OK)
        st = ykd_op_run_1d(p.dev, p.kernels[1], &stats, (size_t)x->c, err);
    if (st == YKD_OK)
        st = run_apply(p.dev, p.kernels[2], x, p.per_channel, act, y, err);
    ykd_buffer_free(global);
    pass_end(&p);
    return st;
}

ykd_status ykd_batchnorm_forward_infer(const ykd_tensor *x, const ykd_batchnorm *bn,
                                       const ykd_tensor *y, ykd_error *err)
{
    static const char op[] = "ykd_batchnorm_forward_infer";
    if (!bn)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: bn is NULL", op);
    const ykd_tensor *tensors[] = {x, y, bn->running_mean, bn->running_var, bn->gamma, bn->beta};
    const char *names[] = {"x", "y", "running_mean", "running_var", "gamma", "beta"};
    ykd_status st = check_operands(op, tensors, names, 2, 6, x ? x->c : 0, err);
    if (st == YKD_OK)
        st = check_eps(op, bn, err);
    static const char *const kernel_names[] = {"batchnorm_infer_affine", "batchnorm_apply"};
    ykd_device *dev = st == YKD_OK ? ykd_tensor_device(x) : NULL;
    ykd_kernel *k[2];
    ykd_buffer *affine = NULL;
    if (st == YKD_OK)
        st = get_kernels(dev, kernel_names, k, 2, err);
    if (st == YKD_OK)
        st = ykd_op_scratch(dev, (size_t)x->c * 4, op, &affine, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, bn->running_mean);
    ykd_op_args_tensor(&a, bn->running_var);
    ykd_op_args_float(&a, bn->eps);
    ykd_op_args_tensor(&a, bn->gamma);
    ykd_op_args_tensor(&a, bn->beta);
    ykd_op_args_mem(&a, affine->mem);
    ykd_op_args_uint(&a, (size_t)x->c);
    st = ykd_op_run_1d(dev, k[0], &a, (size_t)x->c, err);
    if (st == YKD_OK)
        st = run_apply(dev, k[1], x, affine, YKD_ACTIVATION_NONE, y, err);
    ykd_buffer_free(affine);
    return st;
}

static ykd_status backward(const char *op, const ykd_tensor *x, const ykd_tensor *dy,
                           const ykd_batchnorm *bn, const ykd_bn_sync *sync, ykd_activation act,
                           const ykd_tensor *save_mean, const ykd_tensor *save_invstd,
                           bool accumulate_params, const ykd_tensor *dx,
                           const ykd_tensor *dgamma, const ykd_tensor *dbeta, ykd_error *err);

ykd_status ykd_batchnorm_backward(const ykd_tensor *x, const ykd_tensor *dy,
                                  const ykd_batchnorm *bn, const ykd_tensor *save_mean,
                                  const ykd_tensor *save_invstd, bool accumulate_params,
                                  const ykd_tensor *dx, const ykd_tensor *dgamma,
                                  const ykd_tensor *dbeta, ykd_error *err)
{
    return backward("ykd_batchnorm_backward", x, dy, bn, NULL, YKD_ACTIVATION_NONE, save_mean,
                    save_invstd, accumulate_params, dx, dgamma, dbeta, err);
}

ykd_status ykd_batchnorm_backward_sync(const ykd_tensor *x, const ykd_tensor *dy,
                                       const ykd_batchnorm *bn, const ykd_bn_sync *sync,
                                       const ykd_tensor *save_mean, const ykd_tensor *save_invstd,
                                       bool accumulate_params, const ykd_tensor *dx,
                                       const ykd_tensor *dgamma, const ykd_tensor *dbeta,
                                       ykd_error *err)
{
    return backward("ykd_batchnorm_backward", x, dy, bn, sync, YKD_ACTIVATION_NONE, save_mean,
                    save_invstd, accumulate_params, dx, dgamma, dbeta, err);
}

ykd_status ykd_batchnorm_silu_backward_sync(const ykd_tensor *x, const ykd_tensor *dy,
                                            const ykd_batchnorm *bn, const ykd_bn_sync *sync,
                                            const ykd_tensor *save_mean,
                                            const ykd_tensor *save_invstd,
                                            bool accumulate_params, const ykd_tensor *dx,
                                            const ykd_tensor *dgamma, const ykd_tensor *dbeta,
                                            ykd_error *err)
{
    return backward("ykd_batchnorm_silu_backward", x, dy, bn, sync, YKD_ACTIVATION_SILU,
                    save_mean, save_invstd, accumulate_params, dx, dgamma, dbeta, err);
}

/* The per-channel step of the backward: dgamma, dbeta (+)= from partial (images planes per
 * channel), and the input gradient's coefficients into coef. */
static ykd_status backward_params(const training_pass *p, const ykd_tensor *x, ykd_buffer *partial,
                                  size_t images, const ykd_tensor *save_mean,
                                  const ykd_tensor *save_invstd, const ykd_batchnorm *bn,
                                  bool accumulate, const ykd_tensor *dgamma,
                                  const ykd_tensor *dbeta, ykd_error *err)
{
    ykd_op_args params = {.count = 0};
    ykd_op_args_mem(&params, partial->mem);
    ykd_op_args_uint(&params, images);
    ykd_op_args_uint(&params, (size_t)x->h * (size_t)x->w);
    ykd_op_args_tensor(&params, save_mean);
    ykd_op_args_tensor(&params, save_invstd);
    ykd_op_args_tensor(&params, bn->gamma);
    ykd_op_args_uint(&params, accumulate);
    ykd_op_args_tensor(&params, dgamma);
    ykd_op_args_tensor(&params, dbeta);
    ykd_op_args_mem(&params, p->per_channel->mem);
    ykd_op_args_uint(&params, (size_t)x->c);
    return ykd_op_run_1d(p->dev, p->kernels[1], &params, (size_t)x->c, err);
}

/* With sync, the input gradient's coefficients again from the global batch's sums (the
 * parameter gradients, this rank's share, are kept from the local pass). */
static ykd_status global_coefficients(const ykd_bn_sync *sync, const training_pass *p,
                                      const ykd_tensor *x, const ykd_tensor *save_mean,
                                      const ykd_tensor *save_invstd, const ykd_batchnorm *bn,
                                      const char *op, ykd_error *err)
{
    ykd_buffer *global = NULL;
    size_t images = 0;
    ykd_tensor unused[2] = {{0}, {0}};
    ykd_status st = gather_partials(sync, p, x, op, &global, &images, err);
    for (int i = 0; i < 2 && st == YKD_OK; i++)
        st = ykd_tensor_alloc(p->dev, 1, x->c, 1, 1, &unused[i], err);
    if (st == YKD_OK)
        st = backward_params(p, x, global, images, save_mean, save_invstd, bn, false,
                             &unused[0], &unused[1], err);
    ykd_tensor_free(&unused[0]);
    ykd_tensor_free(&unused[1]);
    ykd_buffer_free(global);
    return st;
}

static ykd_status backward(const char *op, const ykd_tensor *x, const ykd_tensor *dy,
                           const ykd_batchnorm *bn, const ykd_bn_sync *sync, ykd_activation act,
                           const ykd_tensor *save_mean, const ykd_tensor *save_invstd,
                           bool accumulate_params, const ykd_tensor *dx,
                           const ykd_tensor *dgamma, const ykd_tensor *dbeta, ykd_error *err)
{
    if (!bn)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: bn is NULL", op);
    /* beta enters only through SiLU's input; without it the kernels read gamma in its place */
    const ykd_tensor *shift = act != YKD_ACTIVATION_NONE || bn->beta ? bn->beta : bn->gamma;
    const ykd_tensor *tensors[] = {x,         dy,          dx,     bn->gamma, shift,
                                   save_mean, save_invstd, dgamma, dbeta};
    const char *names[] = {"x", "dy", "dx", "gamma", "beta", "save_mean", "save_invstd",
                           "dgamma", "dbeta"};
    ykd_status st = check_operands(op, tensors, names, 3, 9, x ? x->c : 0, err);
    static const char *const kernels[] = {"batchnorm_plane_grad_sums",
                                          "batchnorm_backward_params",
                                          "batchnorm_backward_input"};
    training_pass p = {0};
    if (st == YKD_OK)
        st = pass_begin(&p, x, kernels, op, err);
    if (st != YKD_OK) {
        pass_end(&p);
        return st;
    }
    size_t plane = (size_t)x->h * (size_t)x->w;
    ykd_op_args sums = {.count = 0};
    const ykd_tensor *sum_inputs[] = {x, dy, save_mean, save_invstd, bn->gamma, shift};
    for (size_t i = 0; i < sizeof sum_inputs / sizeof sum_inputs[0]; i++)
        ykd_op_args_tensor(&sums, sum_inputs[i]);
    ykd_op_args_int(&sums, (int)act);
    ykd_op_args_tensor(&sums, dx); /* with SiLU, dy times SiLU's slope, read back below */
    st = run_plane_reduction(p.dev, p.kernels[0], &sums, x, p.partial, 2, err);

    if (st == YKD_OK)
        st = backward_params(&p, x, p.partial, (size_t)x->n, save_mean, save_invstd, bn,
                             accumulate_params, dgamma, dbeta, err);
    if (st == YKD_OK && sync)
        st = global_coefficients(sync, &p, x, save_mean, save_invstd, bn, op, err);

    ykd_op_args input = {.count = 0};
    ykd_op_args_tensor(&input, x);
    ykd_op_args_tensor(&input, act != YKD_ACTIVATION_NONE ? dx : dy);
    ykd_op_args_mem(&input, p.per_channel->mem);
    ykd_op_args_tensor(&input, dx);
    ykd_op_args_uint(&input, plane);
    ykd_op_args_uint(&input, (size_t)x->c);
    if (st == YKD_OK)
        st = ykd_op_run_per_plane_runs(p.dev, p.kernels[2], &input, x, PLANE_RUN, err);
    pass_end(&p);
    return st;
}

ykd_status ykd_batchnorm_fold(const ykd_tensor *w, const ykd_tensor *bias,
                              const ykd_batchnorm *bn, const ykd_tensor *w_out,
                              const ykd_tensor *bias_out, ykd_error *err)
{
    static const char op[] = "ykd_batchnorm_fold";
    if (!bn)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: bn is NULL", op);
    /* bias is optional: without it, bias_out stands in as an argument the kernel never reads */
    const ykd_tensor *tensors[] = {w, w_out, bn->gamma, bn->beta, bn->running_mean,
                                   bn->running_var, bias_out, bias ? bias : bias_out};
    const char *names[] = {"w", "w_out", "gamma", "beta", "running_mean", "running_var",
                           "bias_out", "bias"};
    ykd_status st = check_operands(op, tensors, names, 2, 8, w ? w->n : 0, err);
    if (st == YKD_OK)
        st = check_eps(op, bn, err);
    ykd_kernel *kernel = NULL;
    if (st == YKD_OK)
        st = ykd_op_kernel(ykd_tensor_device(w), source, "batchnorm_fold", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, w);
    ykd_op_args_tensor(&a, tensors[7]);
    ykd_op_args_uint(&a, bias != NULL);
    ykd_op_args_tensor(&a, bn->gamma);
    ykd_op_args_tensor(&a, bn->beta);
    ykd_op_args_tensor(&a, bn->running_mean);
    ykd_op_args_tensor(&a, bn->running_var);
    ykd_op_args_float(&a, bn->eps);
    ykd_op_args_tensor(&a, w_out);
    ykd_op_args_tensor(&a, bias_out);
    ykd_op_args_uint(&a, ykd_tensor_image_size(w));
    return ykd_op_run_elements(ykd_tensor_device(w), kernel, &a, w, err);
}
