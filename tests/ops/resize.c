/* Nearest upsampling by 2 in the op table: OP_STRIDED, OP_ACCUMULATE. Plus its float64
 * backward against finite differences and its refusals. */
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { X, Y, DY, DX };
static const char *const slot_names[OP_SLOTS] = {"x", "y", "dy", "dx"};

bool op_upsample2x_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape, ys = {s.n, s.c, 2 * s.h, 2 * s.w};
    bool strided = io->c->flags & OP_STRIDED, accumulate = io->c->flags & OP_ACCUMULATE;
    snprintf(io->what, sizeof io->what, "upsample2x [%d, %d, %d, %d]%s%s", s.n, s.c, s.h, s.w,
             strided ? " strided" : "", accumulate ? " accumulating" : "");
    op_in(io, X, s, -2, 2, strided);
    op_out(io, Y, ys, strided, OP_FORWARD);
    op_in(io, DY, ys, -1, 1, !strided);
    if (accumulate)
        op_out_from(io, DX, s, -1, 1, strided, OP_BACKWARD);
    else
        op_out(io, DX, s, strided, OP_BACKWARD);
    return op_setup_ok(io);
}

void op_upsample2x_reference(op_io *io, op_phase phase)
{
    if (phase == OP_FORWARD) {
        ref_upsample2x_forward(io->shape[X], io->ref[X], io->expect[Y]);
        return;
    }
    ref_upsample2x_backward(io->shape[X], io->ref[DY], io->expect[DX]);
    if (io->c->flags & OP_ACCUMULATE)
        op_add_initial(io, DX);
}

ykd_status op_upsample2x_forward(op_io *io, ykd_error *err)
{
    return ykd_upsample2x_forward(io->dev[X], io->dev[Y], err);
}

ykd_status op_upsample2x_backward(op_io *io, ykd_error *err)
{
    return ykd_upsample2x_backward(io->dev[DY], io->c->flags & OP_ACCUMULATE, io->dev[DX], err);
}

static void fd_forward(void *ctx, const double *x, double *y)
{
    ref_upsample2x_forward(*(const ref_shape *)ctx, x, y);
}

void op_upsample2x_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    ykd_test_mem m = {0};
    ref_shape s = {2, 3, 3, 4};
    size_t n = ref_numel(s), ny = 4 * n;
    double *xd, *dyd, *dx = ykd_test_doubles(&m, n), *numeric = ykd_test_doubles(&m, n);
    ykd_test_inputs(&m, n, 5, -1, 1, &xd);
    ykd_test_inputs(&m, ny, 6, -1, 1, &dyd);
    ref_upsample2x_backward(s, dyd, dx);
    /* a linear function: central differences are exact up to rounding */
    ykd_test_numeric_gradient(fd_forward, &s, xd, n, dyd, ny, 1e-3, numeric);
    ykd_test_expect_close(t, dx, numeric, n, 1e-20, "upsample2x dx");
    ykd_test_mem_free(&m);
}

void op_upsample2x_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 3, 8, 9, false);
    ykd_error err;
    if (x && y) {
        CHECK_STATUS(t, ykd_upsample2x_forward(x, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message,
                       "ykd_upsample2x_forward: y has shape [2, 3, 8, 9], expected [2, 3, 8, 10]");
        CHECK_STATUS(t, ykd_upsample2x_backward(y, false, x, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "ykd_upsample2x_backward: dy has shape [2, 3, 8, 9]");
        ykd_tensor empty = *x;
        empty.n = 0;
        CHECK_STATUS(t, ykd_upsample2x_forward(&empty, y, &err), YKD_ERR_SHAPE, err);
        ykd_test_expect_all_poison(t, y, "refused output");
        ykd_test_expect_all_poison(t, x, "refused output");
    }
    ykd_test_mem_free(&m);
}
