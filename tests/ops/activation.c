/* SiLU, sigmoid and LeakyReLU in the op table: OP_STRIDED, OP_IN_PLACE (y is x, dx is dy).
 * Plus their float64 backwards against finite differences and their refusals. */
#include <math.h>
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { X, DY, X_COPY, Y, DX };
static const char *const slot_names[OP_SLOTS] = {"x", "dy", "a copy of x", "y", "dx"};

static const float slope = 0.1f;

/* The backward of sigmoid takes the forward's output; the others take its input. */
static bool saved_is_y(const op_io *io)
{
    return io->entry->forward == op_sigmoid_forward;
}

/* Uniform in [-8, 8), with the extremes exp() must survive in front where there are enough
 * other elements (alone, a result of 1e-42 that float flushes to 0 would be all the NMSE). */
static void activation_values(op_io *io, ref_shape s)
{
    static const float extremes[] = {-100.0f, 100.0f, 0.0f, -88.5f, 89.0f, -1.2785f};
    enum { EXTREMES = sizeof extremes / sizeof extremes[0] };
    size_t n = ref_numel(s);
    float *x = op_values(io, X, s, -8.0f, 8.0f);
    for (size_t i = 0; n > 4 * EXTREMES && i < EXTREMES; i++) {
        x[i] = extremes[i];
        io->ref[X][i] = x[i];
    }
}

bool op_activation_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape;
    bool strided = io->c->flags & OP_STRIDED, in_place = io->c->flags & OP_IN_PLACE;
    op_describe(io, s, "");
    activation_values(io, s);
    op_upload(io, X, strided);
    op_in(io, DY, s, -1, 1, strided);
    /* in place, the backward still needs the forward's input: a copy of x */
    io->shape[X_COPY] = s;
    io->host[X_COPY] = io->host[X];
    op_upload(io, X_COPY, !strided);
    if (in_place) {
        op_out_alias(io, Y, X, OP_FORWARD);
        op_out_alias(io, DX, DY, OP_BACKWARD);
    } else {
        op_out(io, Y, s, strided, OP_FORWARD);
        op_out(io, DX, s, strided, OP_BACKWARD);
    }
    return op_setup_ok(io);
}

/* The float64 input of the backward: x, or the device's y (sigmoid's backward takes it, so
 * the reference does too). */
static const double *backward_saved(op_io *io)
{
    return saved_is_y(io) ? op_download(io, Y) : io->ref[X];
}

#define ACTIVATION_REFERENCE(name, forward_call, backward_call)                                \
    void op_##name##_reference(op_io *io, op_phase phase)                                      \
    {                                                                                          \
        size_t n = ref_numel(io->shape[X]);                                                    \
        const double *x = io->ref[X], *dy = io->ref[DY];                                       \
        double *y = io->expect[Y], *dx = io->expect[DX];                                       \
        const double *saved = phase == OP_BACKWARD ? backward_saved(io) : NULL;                \
        if (phase == OP_FORWARD)                                                               \
            forward_call;                                                                      \
        else if (saved)                                                                        \
            backward_call;                                                                     \
    }

ACTIVATION_REFERENCE(silu, ref_silu_forward(n, x, y), ref_silu_backward(n, saved, dy, dx))
ACTIVATION_REFERENCE(sigmoid, ref_sigmoid_forward(n, x, y),
                     ref_sigmoid_backward(n, saved, dy, dx))
ACTIVATION_REFERENCE(leaky_relu, ref_leaky_relu_forward(n, slope, x, y),
                     ref_leaky_relu_backward(n, slope, saved, dy, dx))

/* The backward's saved operand on the device: y for sigmoid, else x (its copy in place). */
static const ykd_tensor *device_saved(const op_io *io)
{
    if (saved_is_y(io))
        return io->dev[Y];
    return io->c->flags & OP_IN_PLACE ? io->dev[X_COPY] : io->dev[X];
}

ykd_status op_silu_forward(op_io *io, ykd_error *err)
{
    return ykd_silu_forward(io->dev[X], io->dev[Y], err);
}

ykd_status op_silu_backward(op_io *io, ykd_error *err)
{
    return ykd_silu_backward(device_saved(io), io->dev[DY], io->dev[DX], err);
}

ykd_status op_sigmoid_forward(op_io *io, ykd_error *err)
{
    return ykd_sigmoid_forward(io->dev[X], io->dev[Y], err);
}

ykd_status op_sigmoid_backward(op_io *io, ykd_error *err)
{
    return ykd_sigmoid_backward(device_saved(io), io->dev[DY], io->dev[DX], err);
}

ykd_status op_leaky_relu_forward(op_io *io, ykd_error *err)
{
    return ykd_leaky_relu_forward(io->dev[X], slope, io->dev[Y], err);
}

ykd_status op_leaky_relu_backward(op_io *io, ykd_error *err)
{
    return ykd_leaky_relu_backward(device_saved(io), slope, io->dev[DY], io->dev[DX], err);
}

/* ---- the float64 backwards against central differences -------------------------------------- */

enum { FD_N = 2 * 3 * 4 };

typedef void (*activation_fn)(size_t n, const double *x, double *y);

static void leaky_forward(size_t n, const double *x, double *y)
{
    ref_leaky_relu_forward(n, slope, x, y);
}

static void fd_forward(void *ctx, const double *x, double *y)
{
    (*(const activation_fn *)ctx)(FD_N, x, y);
}

/* f's backward (dx = dy * f'(at)) against differences of f; `at` is y for sigmoid. */
static void check_gradient(ykd_test *t, activation_fn f,
                           void (*backward)(size_t, const double *, const double *, double *),
                           bool at_y, const char *name)
{
    ykd_test_mem m = {0};
    double *x, *dy, y[FD_N], analytic[FD_N], numeric[FD_N];
    ykd_test_inputs(&m, FD_N, 21, -5, 5, &x);
    ykd_test_inputs(&m, FD_N, 22, -1, 1, &dy);
    f(FD_N, x, y);
    backward(FD_N, at_y ? y : x, dy, analytic);
    ykd_test_numeric_gradient(fd_forward, &f, x, FD_N, dy, FD_N, 1e-5, numeric);
    /* central differences err by ~h^2 f''' ~ 1e-10 relative: NMSE ~ 1e-20 */
    ykd_test_expect_close(t, analytic, numeric, FD_N, 1e-16, name);
    ykd_test_mem_free(&m);
}

static void leaky_backward(size_t n, const double *x, const double *dy, double *dx)
{
    ref_leaky_relu_backward(n, slope, x, dy, dx);
}

void op_silu_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    check_gradient(t, ref_silu_forward, ref_silu_backward, false, "silu");
}

void op_sigmoid_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    check_gradient(t, ref_sigmoid_forward, ref_sigmoid_backward, true, "sigmoid");
}

/* LeakyReLU's kink at 0 is avoided by the inputs (none within the step of 0). */
void op_leaky_relu_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    check_gradient(t, leaky_forward, leaky_backward, false, "leaky_relu");
}

void op_activation_refusals(ykd_test *t)
{
    ykd_guarded a, b;
    ykd_error err;
    if (!ykd_test_guarded_alloc(t, 2, 3, 4, 5, &a) || !ykd_test_guarded_alloc(t, 2, 3, 5, 4, &b))
        return;
    CHECK_STATUS(t, ykd_silu_forward(&a.tensor, &b.tensor, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_silu_forward: y has shape [2, 3, 5, 4] but x has shape "
                                   "[2, 3, 4, 5]");
    CHECK_STATUS(t, ykd_sigmoid_backward(&a.tensor, &a.tensor, &b.tensor, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "ykd_sigmoid_backward: dx");
    ykd_tensor empty = a.tensor;
    empty.c = 0;
    CHECK_STATUS(t, ykd_leaky_relu_forward(&empty, 0.1f, &a.tensor, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_leaky_relu_forward: x has the empty shape");
    CHECK_STATUS(t, ykd_leaky_relu_backward(&a.tensor, NAN, &a.tensor, &a.tensor, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "slope");
    /* nothing was queued: the outputs still hold the poison */
    ykd_test_expect_all_poison(t, &b.tensor, "refused output");
    ykd_test_expect_all_poison(t, &a.tensor, "refused output");
    ykd_test_guarded_free(&a);
    ykd_test_guarded_free(&b);
}
