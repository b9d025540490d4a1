/* Max pooling in the op table: case p = {kernel, stride, padding}; OP_STRIDED, OP_TIES,
 * OP_ACCUMULATE. Plus its float64 backward against finite differences and its refusals. */
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { X, Y, DY, DX };
static const char *const slot_names[OP_SLOTS] = {"x", "y", "dy", "dx"};

/* Inputs: distinct values (so no window has a tie and finite differences see no kink), or
 * values on a coarse grid (every window has ties). */
static void pool_values(float *x, double *xd, size_t n, uint64_t seed, bool ties)
{
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = ties ? (float)(ykd_test_rng_next(&rng) % 4) : (float)i * 0.01f;
    /* a permutation of the distinct values: swap each with a random earlier one */
    for (size_t i = n; !ties && i > 1; i--) {
        size_t j = ykd_test_rng_next(&rng) % i;
        float keep = x[i - 1];
        x[i - 1] = x[j];
        x[j] = keep;
    }
    for (size_t i = 0; i < n; i++)
        xd[i] = x[i];
}

static ref_shape pooled(ref_shape s, const int *p)
{
    return OP_SHAPE(s.n, s.c, ref_pool_out(s.h, p[0], p[1], p[2]),
                    ref_pool_out(s.w, p[0], p[1], p[2]));
}

bool op_maxpool_setup(op_io *io)
{
    io->slot_names = slot_names;
    const op_case *c = io->c;
    ref_shape s = c->shape, ys = pooled(s, c->p);
    bool strided = c->flags & OP_STRIDED;
    snprintf(io->what, sizeof io->what, "maxpool k%d s%d p%d [%d, %d, %d, %d]%s%s%s", c->p[0],
             c->p[1], c->p[2], s.n, s.c, s.h, s.w, strided ? " strided" : "",
             c->flags & OP_TIES ? " ties" : "", c->flags & OP_ACCUMULATE ? " accumulating" : "");
    if (!CHECKF(io->t, ys.h >= 1 && ys.w >= 1, "%s: the window does not fit", io->what))
        return false;
    op_values(io, X, s, 0, 1);
    pool_values(io->host[X], io->ref[X], ref_numel(s), io->seed, c->flags & OP_TIES);
    op_upload(io, X, strided);
    op_out(io, Y, ys, !strided, OP_FORWARD);
    op_in(io, DY, ys, -1, 1, strided);
    if (c->flags & OP_ACCUMULATE)
        op_out_from(io, DX, s, -1, 1, strided, OP_BACKWARD);
    else
        op_out(io, DX, s, strided, OP_BACKWARD);
    return op_setup_ok(io);
}

void op_maxpool_reference(op_io *io, op_phase phase)
{
    const int *p = io->c->p;
    if (phase == OP_FORWARD) {
        ref_maxpool_forward(io->shape[X], io->ref[X], p[0], p[1], p[2], io->expect[Y]);
        return;
    }
    ref_maxpool_backward(io->shape[X], io->ref[X], io->ref[DY], p[0], p[1], p[2],
                         io->expect[DX]);
    if (io->c->flags & OP_ACCUMULATE)
        op_add_initial(io, DX);
}

ykd_status op_maxpool_forward(op_io *io, ykd_error *err)
{
    const int *p = io->c->p;
    return ykd_maxpool_forward(io->dev[X], p[0], p[1], p[2], io->dev[Y], err);
}

ykd_status op_maxpool_backward(op_io *io, ykd_error *err)
{
    const int *p = io->c->p;
    return ykd_maxpool_backward(io->dev[X], io->dev[DY], p[0], p[1], p[2],
                                io->c->flags & OP_ACCUMULATE, io->dev[DX], err);
}

/* Differentiates the reference forward for one window. */
typedef struct fd_ctx {
    ref_shape s;
    int k, stride, pad;
} fd_ctx;

static void fd_forward(void *p, const double *x, double *y)
{
    const fd_ctx *c = p;
    ref_maxpool_forward(c->s, x, c->k, c->stride, c->pad, y);
}

void op_maxpool_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    static const int windows[][3] = {{5, 1, 2}, {2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {1, 1, 0},
                                     {4, 3, 2}};
    ref_shape s = {2, 2, 5, 6};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        ykd_test_mem m = {0};
        fd_ctx ctx = {s, windows[w][0], windows[w][1], windows[w][2]};
        ref_shape ys = pooled(s, windows[w]);
        size_t n = ref_numel(s), ny = ref_numel(ys);
        double *xd = ykd_test_doubles(&m, n), *dyd;
        double *dx = ykd_test_doubles(&m, n), *numeric = ykd_test_doubles(&m, n);
        float *x = ykd_test_inputs(&m, n, 9, 0, 1, NULL);
        pool_values(x, xd, n, 9, false);
        ykd_test_inputs(&m, ny, 10, -1, 1, &dyd);
        ref_maxpool_backward(s, xd, dyd, ctx.k, ctx.stride, ctx.pad, dx);
        /* values 0.01 apart and a step of 1e-4: no window changes its maximum, and the
         * function is linear there, so the differences are exact up to rounding */
        ykd_test_numeric_gradient(fd_forward, &ctx, xd, n, dyd, ny, 1e-4, numeric);
        ykd_test_expect_close(t, dx, numeric, n, 1e-20, "maxpool dx");
        ykd_test_mem_free(&m);
    }
}

void op_maxpool_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 2, 3, 6, 6, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 3, 6, 6, false);
    const ykd_tensor *small = ykd_test_out(t, &m, 2, 3, 2, 2, false);
    ykd_error err;
    if (x && y && small) {
        CHECK_STATUS(t, ykd_maxpool_forward(x, 0, 1, 0, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_maxpool_forward: kernel 0, stride 1, padding 0");
        CHECK_STATUS(t, ykd_maxpool_forward(x, 3, 1, -1, y, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_STATUS(t, ykd_maxpool_forward(x, 3, 1, 2, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_maxpool_backward(x, y, 3, 0, 1, false, x, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_maxpool_forward(x, 2, 2, 0, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "y has shape [2, 3, 6, 6], expected [2, 3, 3, 3]");
        CHECK_STATUS(t, ykd_maxpool_forward(small, 5, 1, 1, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "smaller than the 5x5 window");
        CHECK_STATUS(t, ykd_maxpool_backward(x, y, 5, 1, 2, false, small, &err), YKD_ERR_SHAPE,
                     err);
        CHECK_CONTAINS(t, err.message, "ykd_maxpool_backward: dx has shape [2, 3, 2, 2]");
        ykd_test_expect_all_poison(t, y, "refused output");
        ykd_test_expect_all_poison(t, small, "refused output");
    }
    ykd_test_mem_free(&m);
}
