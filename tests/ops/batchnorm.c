/* Batch normalisation in the op table: training forward (case f = {mean of x}; OP_STRIDED,
 * OP_IN_PLACE), backward (OP_STRIDED, OP_ACCUMULATE), both with SiLU after BN as one op
 * (OP_SILU), inference forward, folding into a
 * convolution's weights (the case's shape is w's; OP_BIAS). Plus the float64 backward against
 * finite differences, determinism and the refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "yolokd/ops.h"

static const float eps = 1e-3f, momentum = 0.03f;

enum { X, Y, DY, DX, GAMMA, BETA, RMEAN, RVAR, MEAN, INVSTD, DGAMMA, DBETA, W, BIAS };
static const char *const slot_names[OP_SLOTS] = {
    "x", "y (or the folded w)", "dy", "dx", "gamma", "beta", "running mean", "running variance",
    "mean", "invstd", "dgamma", "dbeta (or the folded bias)", "w", "bias"};

static ref_shape channels(int c)
{
    return OP_SHAPE(1, c, 1, 1);
}

/* gamma, beta and the running statistics, per channel. */
static void parameters(op_io *io, int c)
{
    op_in(io, GAMMA, channels(c), 0.5f, 1.5f, false);
    op_in(io, BETA, channels(c), -0.5f, 0.5f, false);
    op_in(io, RMEAN, channels(c), -1, 1, false);
    op_in(io, RVAR, channels(c), 0.5f, 2.0f, false);
}

static ykd_batchnorm module(const op_io *io)
{
    return (ykd_batchnorm){io->dev[GAMMA], io->dev[BETA], io->dev[RMEAN], io->dev[RVAR],
                           momentum, eps};
}

static void describe(op_io *io, const char *what)
{
    ref_shape s = io->c->shape;
    unsigned f = io->c->flags;
    snprintf(io->what, sizeof io->what, "batchnorm%s %s [%d, %d, %d, %d] mean %g%s%s%s",
             f & OP_SILU ? " + SiLU" : "", what, s.n, s.c, s.h, s.w, io->c->f[0],
             f & OP_STRIDED ? " strided" : "", f & OP_IN_PLACE ? " in place" : "",
             f & OP_ACCUMULATE ? " accumulating" : "");
}

/* x with its values around the case's mean (far from 0 tests the variance), then y. */
static void x_and_y(op_io *io)
{
    ref_shape s = io->c->shape;
    bool strided = io->c->flags & OP_STRIDED;
    float offset = (float)io->c->f[0];
    op_in(io, X, s, offset - 2.0f, offset + 2.0f, strided);
    if (io->c->flags & OP_IN_PLACE)
        op_out_alias(io, Y, X, OP_FORWARD);
    else
        op_out(io, Y, s, strided, OP_FORWARD);
}

bool op_batchnorm_train_setup(op_io *io)
{
    io->slot_names = slot_names;
    int c = io->c->shape.c;
    describe(io, "train");
    x_and_y(io);
    parameters(io, c);
    op_out_alias(io, RMEAN, RMEAN, OP_FORWARD);
    op_out_alias(io, RVAR, RVAR, OP_FORWARD);
    op_out(io, MEAN, channels(c), false, OP_FORWARD);
    op_out(io, INVSTD, channels(c), false, OP_FORWARD);
    return op_setup_ok(io);
}

void op_batchnorm_train_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_shape s = io->c->shape;
    double *var = ykd_test_doubles(&io->mem, (size_t)s.c);
    ref_batchnorm_forward_train(s, io->ref[X], io->ref[GAMMA], io->ref[BETA], eps,
                                io->expect[Y], io->expect[MEAN], io->expect[INVSTD], var);
    if (io->c->flags & OP_SILU)
        ref_silu_forward(ref_numel(s), io->expect[Y], io->expect[Y]);
    for (int c = 0; c < s.c; c++) {
        io->expect[RMEAN][c] =
            (1.0 - momentum) * io->ref[RMEAN][c] + momentum * io->expect[MEAN][c];
        io->expect[RVAR][c] = (1.0 - momentum) * io->ref[RVAR][c] + momentum * var[c];
    }
}

ykd_status op_batchnorm_train_forward(op_io *io, ykd_error *err)
{
    ykd_batchnorm bn = module(io);
    if (io->c->flags & OP_SILU)
        return ykd_batchnorm_silu_forward_train_sync(io->dev[X], &bn, NULL, io->dev[Y],
                                                     io->dev[MEAN], io->dev[INVSTD], err);
    return ykd_batchnorm_forward_train(io->dev[X], &bn, io->dev[Y], io->dev[MEAN],
                                       io->dev[INVSTD], err);
}

/* The backward on its own: the device and the reference get the same (float) mean and invstd
 * of the float64 forward; dgamma and dbeta accumulate onto random values. */
bool op_batchnorm_backward_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape;
    bool strided = io->c->flags & OP_STRIDED, accumulate = io->c->flags & OP_ACCUMULATE;
    describe(io, "backward");
    op_in(io, X, s, 0.5f - 2.0f, 0.5f + 2.0f, strided);
    op_in(io, DY, s, -1, 1, !strided);
    op_out(io, DX, s, strided, OP_BACKWARD);
    parameters(io, s.c);
    double *y = ykd_test_doubles(&io->mem, ref_numel(s));
    double *var = ykd_test_doubles(&io->mem, (size_t)s.c);
    op_values(io, MEAN, channels(s.c), 0, 1);
    op_values(io, INVSTD, channels(s.c), 0, 1);
    ref_batchnorm_forward_train(s, io->ref[X], io->ref[GAMMA], io->ref[BETA], eps, y,
                                io->ref[MEAN], io->ref[INVSTD], var);
    for (int c = 0; c < s.c; c++) {
        io->host[MEAN][c] = (float)io->ref[MEAN][c];
        io->host[INVSTD][c] = (float)io->ref[INVSTD][c];
        io->ref[MEAN][c] = io->host[MEAN][c];
        io->ref[INVSTD][c] = io->host[INVSTD][c];
    }
    op_upload(io, MEAN, false);
    op_upload(io, INVSTD, false);
    if (accumulate) {
        op_out_from(io, DGAMMA, channels(s.c), -1, 1, false, OP_BACKWARD);
        op_out_from(io, DBETA, channels(s.c), 0.5f, 2.0f, false, OP_BACKWARD);
    } else {
        op_out(io, DGAMMA, channels(s.c), false, OP_BACKWARD);
        op_out(io, DBETA, channels(s.c), false, OP_BACKWARD);
    }
    return op_setup_ok(io);
}

/* With SiLU after BN: dy is SiLU's output gradient, so BN's is dy times SiLU's slope at BN's
 * output, b = (x - mean) invstd gamma + beta with the (float) statistics the device gets. */
void op_batchnorm_backward_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_shape s = io->c->shape;
    const double *dy = io->ref[DY];
    if (io->c->flags & OP_SILU) {
        size_t plane = (size_t)s.h * s.w, count = ref_numel(s);
        double *b = ykd_test_doubles(&io->mem, count), *g = ykd_test_doubles(&io->mem, count);
        for (size_t i = 0; b && g && i < count; i++) {
            size_t c = i / plane % (size_t)s.c;
            b[i] = (io->ref[X][i] - io->ref[MEAN][c]) * io->ref[INVSTD][c] * io->ref[GAMMA][c] +
                   io->ref[BETA][c];
        }
        if (b && g)
            ref_silu_backward(count, b, dy, g);
        dy = g;
    }
    if (!dy)
        return;
    ref_batchnorm_backward(s, io->ref[X], dy, io->ref[GAMMA], io->ref[MEAN], io->ref[INVSTD],
                           io->expect[DX], io->expect[DGAMMA], io->expect[DBETA]);
    if (io->c->flags & OP_ACCUMULATE) {
        op_add_initial(io, DGAMMA);
        op_add_initial(io, DBETA);
    }
}

ykd_status op_batchnorm_backward_backward(op_io *io, ykd_error *err)
{
    bool accumulate = io->c->flags & OP_ACCUMULATE;
    if (io->c->flags & OP_SILU) {
        ykd_batchnorm bn = {io->dev[GAMMA], io->dev[BETA], NULL, NULL, momentum, eps};
        return ykd_batchnorm_silu_backward_sync(io->dev[X], io->dev[DY], &bn, NULL,
                                                io->dev[MEAN], io->dev[INVSTD], accumulate,
                                                io->dev[DX], io->dev[DGAMMA], io->dev[DBETA],
                                                err);
    }
    ykd_batchnorm bn = {io->dev[GAMMA], NULL, NULL, NULL, momentum, eps};
    return ykd_batchnorm_backward(io->dev[X], io->dev[DY], &bn, io->dev[MEAN], io->dev[INVSTD],
                                  accumulate, io->dev[DX], io->dev[DGAMMA], io->dev[DBETA], err);
}

bool op_batchnorm_infer_setup(op_io *io)
{
    io->slot_names = slot_names;
    describe(io, "infer");
    x_and_y(io);
    parameters(io, io->c->shape.c);
    return op_setup_ok(io);
}

void op_batchnorm_infer_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_batchnorm_forward_infer(io->c->shape, io->ref[X], io->ref[GAMMA], io->ref[BETA],
                                io->ref[RMEAN], io->ref[RVAR], eps, io->expect[Y]);
}

ykd_status op_batchnorm_infer_forward(op_io *io, ykd_error *err)
{
    ykd_batchnorm bn = module(io);
    return ykd_batchnorm_forward_infer(io->dev[X], &bn, io->dev[Y], err);
}

bool op_batchnorm_fold_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape ws = io->c->shape;
    bool bias = io->c->flags & OP_BIAS;
    snprintf(io->what, sizeof io->what, "batchnorm fold w [%d, %d, %d, %d]%s", ws.n, ws.c, ws.h,
             ws.w, bias ? " with a bias" : "");
    op_in(io, W, ws, -1, 1, false);
    if (bias)
        op_in(io, BIAS, channels(ws.n), -1, 1, false);
    parameters(io, ws.n);
    op_out(io, Y, ws, false, OP_FORWARD);
    op_out(io, DBETA, channels(ws.n), false, OP_FORWARD); /* the folded bias */
    return op_setup_ok(io);
}

void op_batchnorm_fold_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_batchnorm_fold(io->c->shape, io->ref[W], io->ref[BIAS], io->ref[GAMMA], io->ref[BETA],
                       io->ref[RMEAN], io->ref[RVAR], eps, io->expect[Y], io->expect[DBETA]);
}

ykd_status op_batchnorm_fold_forward(op_io *io, ykd_error *err)
{
    ykd_batchnorm bn = module(io);
    return ykd_batchnorm_fold(io->dev[W], io->dev[BIAS], &bn, io->dev[Y], io->dev[DBETA], err);
}

/* Differentiates the reference training forward with respect to x, gamma or beta. */
typedef struct fd_ctx {
    ref_shape s;
    const double *x, *gamma, *beta;
    int wrt; /* 0 x, 1 gamma, 2 beta */
} fd_ctx;

static void fd_forward(void *p, const double *v, double *y)
{
    const fd_ctx *c = p;
    double mean[8], invstd[8], var[8];
    ref_batchnorm_forward_train(c->s, c->wrt == 0 ? v : c->x, c->wrt == 1 ? v : c->gamma,
                                c->wrt == 2 ? v : c->beta, eps, y, mean, invstd, var);
}

void op_batchnorm_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    ykd_test_mem m = {0};
    ref_shape s = {2, 3, 2, 3};
    size_t n = ref_numel(s);
    double *x, *dyd, *gamma, *beta;
    ykd_test_inputs(&m, n, 41, -1.5f, 2.5f, &x);
    ykd_test_inputs(&m, n, 42, -1, 1, &dyd);
    ykd_test_inputs(&m, 3, 43, 0.5f, 1.5f, &gamma);
    ykd_test_inputs(&m, 3, 44, -0.5f, 0.5f, &beta);
    double *y = ykd_test_doubles(&m, n), mean[3], invstd[3], var[3];
    double *dx = ykd_test_doubles(&m, n), dgamma[3], dbeta[3];
    ref_batchnorm_forward_train(s, x, gamma, beta, eps, y, mean, invstd, var);
    ref_batchnorm_backward(s, x, dyd, gamma, mean, invstd, dx, dgamma, dbeta);
    double *numeric = ykd_test_doubles(&m, n);
    double *analytic[] = {dx, dgamma, dbeta};
    double *inputs[] = {x, gamma, beta};
    static const char *const names[] = {"dx", "dgamma", "dbeta"};
    for (int wrt = 0; wrt < 3; wrt++) {
        fd_ctx ctx = {s, x, gamma, beta, wrt};
        size_t count = wrt == 0 ? n : (size_t)s.c;
        ykd_test_numeric_gradient(fd_forward, &ctx, inputs[wrt], count, dyd, n, 1e-5, numeric);
        /* central differences with h = 1e-5 err by ~1e-10 relative */
        ykd_test_expect_close(t, analytic[wrt], numeric, count, 1e-16, names[wrt]);
    }
    ykd_test_mem_free(&m);
}

/* The same inputs twice give the same bits: no atomics, a fixed reduction order. */
void op_batchnorm_deterministic(ykd_test *t)
{
    ykd_test_mem m = {0};
    ref_shape s = {8, 5, 31, 33};
    size_t n = ref_numel(s);
    float *x = ykd_test_inputs(&m, n, 51, -1, 3, NULL);
    float *dy = ykd_test_inputs(&m, n, 52, -1, 1, NULL);
    float *gamma = ykd_test_inputs(&m, 5, 53, 0.5f, 1.5f, NULL);
    float *beta = ykd_test_inputs(&m, 5, 54, -0.5f, 0.5f, NULL);
    float *rmean = ykd_test_inputs(&m, 5, 55, -1, 1, NULL);
    float *rvar = ykd_test_inputs(&m, 5, 56, 0.5f, 2.0f, NULL);
    const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gdy = ykd_test_in(t, &m, dy, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gy = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gdx = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, false);
    ykd_batchnorm bn = {ykd_test_in(t, &m, gamma, 1, 5, 1, 1, false),
                        ykd_test_in(t, &m, beta, 1, 5, 1, 1, false),
                        ykd_test_in(t, &m, rmean, 1, 5, 1, 1, false),
                        ykd_test_in(t, &m, rvar, 1, 5, 1, 1, false), momentum, eps};
    const ykd_tensor *sm = ykd_test_out(t, &m, 1, 5, 1, 1, false);
    const ykd_tensor *si = ykd_test_out(t, &m, 1, 5, 1, 1, false);
    const ykd_tensor *dg = ykd_test_out(t, &m, 1, 5, 1, 1, false);
    const ykd_tensor *db = ykd_test_out(t, &m, 1, 5, 1, 1, false);
    float *first[2] = {NULL, NULL};
    ykd_error err;
    for (int run = 0; run < 2 && gx && gdy && gy && gdx && bn.gamma && sm && si && dg && db; run++)
        if (CHECK_OK(t, ykd_batchnorm_forward_train(gx, &bn, gy, sm, si, &err), err) &&
            CHECK_OK(t, ykd_batchnorm_backward(gx, gdy, &bn, sm, si, false, gdx, dg, db, &err),
                     err)) {
            float *y = ykd_test_keep(&m, ykd_test_download(t, gy));
            float *dx = ykd_test_keep(&m, ykd_test_download(t, gdx));
            if (run == 0) {
                first[0] = y;
                first[1] = dx;
            } else if (y && dx && first[0] && first[1]) {
                CHECK(t, memcmp(first[0], y, n * sizeof *y) == 0);
                CHECK(t, memcmp(first[1], dx, n * sizeof *dx) == 0);
            }
        }
    ykd_test_mem_free(&m);
}

void op_batchnorm_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *c3 = ykd_test_out(t, &m, 1, 3, 1, 1, false);
    const ykd_tensor *c4 = ykd_test_out(t, &m, 1, 4, 1, 1, false);
    const ykd_tensor *one = ykd_test_out(t, &m, 1, 3, 1, 1, false);
    if (!x || !y || !c3 || !c4 || !one) {
        ykd_test_mem_free(&m);
        return;
    }
    ykd_batchnorm bn = {c3, c3, c3, c3, 0.1f, 1e-5f};
    ykd_error err;
    bn.beta = c4;
    CHECK_STATUS(t, ykd_batchnorm_forward_train(x, &bn, y, c3, c3, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_batchnorm_forward_train: beta has shape [1, 4, 1, 1], "
                                   "expected [1, 3, 1, 1]");
    CHECK_STATUS(t, ykd_batchnorm_forward_infer(x, &bn, y, &err), YKD_ERR_SHAPE, err);
    bn.beta = c3;
    CHECK_STATUS(t, ykd_batchnorm_backward(x, y, &bn, c3, c3, false, one, c3, c3, &err),
                 YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_batchnorm_backward: dx has shape [1, 3, 1, 1]");
    CHECK_STATUS(t, ykd_batchnorm_forward_train(one, &bn, one, c3, c3, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "one value per channel");
    bn.momentum = 1.5f;
    CHECK_STATUS(t, ykd_batchnorm_forward_train(x, &bn, y, c3, c3, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "momentum 1.5 is outside [0, 1]");
    bn.momentum = 0.1f;
    bn.eps = -1.0f;
    CHECK_STATUS(t, ykd_batchnorm_forward_infer(x, &bn, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_batchnorm_fold(x, NULL, &bn, y, c3, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_batchnorm_fold: gamma has shape [1, 3, 1, 1], expected "
                                   "[1, 2, 1, 1]");
    CHECK_STATUS(t, ykd_batchnorm_forward_infer(x, NULL, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
    ykd_test_expect_all_poison(t, y, "refused output");
    ykd_test_expect_all_poison(t, c3, "refused output");
    ykd_test_mem_free(&m);
}
