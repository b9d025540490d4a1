/* Reductions and softmax along one axis in the op table: reduce case p = {axis, op}
 * (REF_REDUCE_*); softmax case p = {axis}, f = {logit range}; OP_STRIDED. Plus softmax's
 * float64 backward against finite differences, the sum of squares of a whole tensor and the
 * refusals. */
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { X, Y, DY, DX };
static const char *const slot_names[OP_SLOTS] = {"x", "y", "dy", "dx"};

static ref_shape reduced(ref_shape s, int axis)
{
    int *dims[4] = {&s.n, &s.c, &s.h, &s.w};
    *dims[axis] = 1;
    return s;
}

bool op_reduce_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape;
    int axis = io->c->p[0];
    bool strided = io->c->flags & OP_STRIDED;
    snprintf(io->what, sizeof io->what, "reduce op %d axis %d [%d, %d, %d, %d]%s", io->c->p[1],
             axis, s.n, s.c, s.h, s.w, strided ? " strided" : "");
    op_in(io, X, s, -3, 3, strided);
    op_out(io, Y, reduced(s, axis), !strided, OP_FORWARD);
    return op_setup_ok(io);
}

void op_reduce_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_reduce(io->shape[X], io->ref[X], io->c->p[0], io->c->p[1], io->expect[Y]);
}

ykd_status op_reduce_forward(op_io *io, ykd_error *err)
{
    return ykd_reduce(io->dev[X], io->c->p[0], (ykd_reduce_op)io->c->p[1], io->dev[Y], err);
}

bool op_softmax_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape;
    bool strided = io->c->flags & OP_STRIDED;
    float range = (float)io->c->f[0];
    snprintf(io->what, sizeof io->what, "softmax axis %d [%d, %d, %d, %d] logits to %g%s",
             io->c->p[0], s.n, s.c, s.h, s.w, range, strided ? " strided" : "");
    op_in(io, X, s, -range, range, strided);
    op_out(io, Y, s, !strided, OP_FORWARD);
    op_in(io, DY, s, -1, 1, strided);
    op_out(io, DX, s, strided, OP_BACKWARD);
    return op_setup_ok(io);
}

void op_softmax_reference(op_io *io, op_phase phase)
{
    if (phase == OP_FORWARD) {
        ref_softmax_forward(io->shape[X], io->ref[X], io->c->p[0], io->expect[Y]);
        return;
    }
    /* the backward takes the device's y; so does the reference */
    const double *y = op_download(io, Y);
    if (y)
        ref_softmax_backward(io->shape[X], y, io->ref[DY], io->c->p[0], io->expect[DX]);
}

ykd_status op_softmax_forward(op_io *io, ykd_error *err)
{
    return ykd_softmax_forward(io->dev[X], io->c->p[0], io->dev[Y], err);
}

ykd_status op_softmax_backward(op_io *io, ykd_error *err)
{
    return ykd_softmax_backward(io->dev[Y], io->dev[DY], io->c->p[0], io->dev[DX], err);
}

typedef struct fd_ctx {
    ref_shape s;
    int axis;
} fd_ctx;

static void fd_softmax(void *p, const double *x, double *y)
{
    const fd_ctx *c = p;
    ref_softmax_forward(c->s, x, c->axis, y);
}

void op_softmax_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    ref_shape s = {2, 3, 4, 5};
    size_t n = ref_numel(s);
    for (int axis = 0; axis < 4; axis++) {
        ykd_test_mem m = {0};
        fd_ctx ctx = {s, axis};
        double *x, *dy, *y = ykd_test_doubles(&m, n), *dx = ykd_test_doubles(&m, n);
        double *numeric = ykd_test_doubles(&m, n);
        ykd_test_inputs(&m, n, 11 + axis, -2, 2, &x);
        ykd_test_inputs(&m, n, 12 + axis, -1, 1, &dy);
        ref_softmax_forward(s, x, axis, y);
        ref_softmax_backward(s, y, dy, axis, dx);
        ykd_test_numeric_gradient(fd_softmax, &ctx, x, n, dy, n, 1e-5, numeric);
        /* central differences with h = 1e-5 err by ~1e-10 relative */
        ykd_test_expect_close(t, dx, numeric, n, 1e-16, "softmax dx");
        ykd_test_mem_free(&m);
    }
}

/* The sum of squares of a whole tensor (the gradient norm's), of sizes below one run of 8
 * floats, with a tail, over 64 groups' shares and far over them, against the float64 sum to
 * NMSE 1e-11 (float32 partial sums); the same bits on a second call. */
void op_sum_squares(ykd_test *t)
{
    static const ref_shape sizes[] = {{1, 1, 1, 1}, {1, 1, 1, 7}, {1, 3, 5, 7}, {2, 17, 20, 20},
                                      {1, 1, 1, 1000003}, {3, 5, 1, 8}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        ykd_test_mem m = {0};
        ref_shape s = sizes[k];
        size_t n = ref_numel(s);
        double *xd;
        float *x = ykd_test_inputs(&m, n, 61 + k, -2, 2, &xd);
        double expected = ref_sum_squares(n, xd), got = -1.0, again = -2.0;
        char what[96];
        snprintf(what, sizeof what, "sum of squares [%d, %d, %d, %d]", s.n, s.c, s.h, s.w);
        /* strided views of one image are contiguous: taken; of several, refused (below) */
        const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, s.n == 1);
        ykd_error err;
        if (gx && CHECK_OK(t, ykd_sum_squares(gx, &got, &err), err) &&
            CHECK_OK(t, ykd_sum_squares(gx, &again, &err), err)) {
            ykd_test_expect_close(t, &got, &expected, 1, 1e-11, what);
            CHECKF(t, got == again, "%s: %.17g, then %.17g", what, got, again);
        }
        ykd_test_mem_guards_intact(t, &m, what);
        ykd_test_mem_free(&m);
    }
}

void op_reduce_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 3, 1, 5, false);
    const ykd_tensor *other = ykd_test_out(t, &m, 2, 3, 4, 6, false);
    ykd_error err;
    if (x && y && other) {
        CHECK_STATUS(t, ykd_reduce(x, 4, YKD_REDUCE_SUM, y, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_CONTAINS(t, err.message, "ykd_reduce: axis 4 is not");
        CHECK_STATUS(t, ykd_reduce(x, -1, YKD_REDUCE_SUM, y, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_STATUS(t, ykd_reduce(x, 2, (ykd_reduce_op)7, y, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_STATUS(t, ykd_reduce(x, 3, YKD_REDUCE_MAX, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "y has shape [2, 3, 1, 5], expected [2, 3, 4, 1]");
        CHECK_STATUS(t, ykd_softmax_forward(x, 1, other, &err), YKD_ERR_SHAPE, err);
        CHECK_STATUS(t, ykd_softmax_forward(x, 5, x, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_softmax_backward(x, other, 1, x, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "ykd_softmax_backward: dy has shape [2, 3, 4, 6]");
        double sum = 0.0;
        const ykd_tensor *strided = ykd_test_out(t, &m, 2, 3, 4, 5, true);
        CHECK_STATUS(t, ykd_sum_squares(x, NULL, &err), YKD_ERR_INVALID_ARGUMENT, err);
        if (strided) {
            CHECK_STATUS(t, ykd_sum_squares(strided, &sum, &err), YKD_ERR_INVALID_ARGUMENT, err);
            CHECK_CONTAINS(t, err.message, "ykd_sum_squares: x must be packed");
        }
        ykd_test_expect_all_poison(t, y, "refused output");
        ykd_test_expect_all_poison(t, other, "refused output");
    }
    ykd_test_mem_free(&m);
}
