/* SiLU, sigmoid and LeakyReLU forward and backward on every device against the float64
 * reference, on packed and strided tensors and in place; the reference backward against
 * central finite differences; bad operands refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

enum activation { SILU, SIGMOID, LEAKY_RELU, ACTIVATIONS };
static const char *const names[] = {"silu", "sigmoid", "leaky_relu"};
static const float slope = 0.1f;

/* The backward of sigmoid takes the forward's output; the others take its input. */
static bool saved_is_y(enum activation a)
{
    return a == SIGMOID;
}

static ykd_status forward(enum activation a, const ykd_tensor *x, const ykd_tensor *y,
                          ykd_error *err)
{
    return a == SILU      ? ykd_silu_forward(x, y, err)
           : a == SIGMOID ? ykd_sigmoid_forward(x, y, err)
                          : ykd_leaky_relu_forward(x, slope, y, err);
}

static ykd_status backward(enum activation a, const ykd_tensor *saved, const ykd_tensor *dy,
                           const ykd_tensor *dx, ykd_error *err)
{
    return a == SILU      ? ykd_silu_backward(saved, dy, dx, err)
           : a == SIGMOID ? ykd_sigmoid_backward(saved, dy, dx, err)
                          : ykd_leaky_relu_backward(saved, slope, dy, dx, err);
}

static void ref_forward(enum activation a, size_t n, const double *x, double *y)
{
    if (a == SILU)
        ref_silu_forward(n, x, y);
    else if (a == SIGMOID)
        ref_sigmoid_forward(n, x, y);
    else
        ref_leaky_relu_forward(n, slope, x, y);
}

static void ref_backward(enum activation a, size_t n, const double *saved, const double *dy,
                         double *dx)
{
    if (a == SILU)
        ref_silu_backward(n, saved, dy, dx);
    else if (a == SIGMOID)
        ref_sigmoid_backward(n, saved, dy, dx);
    else
        ref_leaky_relu_backward(n, slope, saved, dy, dx);
}


/* exp() rounds within a few ulp, so exp-based results differ from float64 by ~1e-7
 * relative: an NMSE near 1e-14; LeakyReLU is exact up to one rounding. */
static const double max_nmse = 1e-11;

/* Odd sizes, batch 1 and >1, channels not a multiple of any work-group, 1x1 to 80x80. */
static const ref_shape shapes[] = {
    {1, 1, 1, 1}, {2, 3, 3, 5}, {1, 17, 20, 20}, {3, 5, 80, 80},
};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

/* Uniform in [-8, 8), with the extremes exp() must survive in front where there are enough
 * other elements (alone, a result of 1e-42 that float flushes to 0 would be all the NMSE). */
static float *activation_inputs(ykd_test_mem *m, size_t n, uint64_t seed, double **as_double)
{
    static const float extremes[] = {-100.0f, 100.0f, 0.0f, -88.5f, 89.0f, -1.2785f};
    enum { EXTREMES = sizeof extremes / sizeof extremes[0] };
    float *x = ykd_test_inputs(m, n, seed, -8.0f, 8.0f, NULL);
    for (size_t i = 0; n > 4 * EXTREMES && i < EXTREMES; i++)
        x[i] = extremes[i];
    *as_double = ykd_test_keep(m, ykd_test_to_double(x, n));
    return x;
}

/* Forward then backward of one activation on guarded tensors, checking both. In place, y is
 * x itself and dx is dy itself. */
static void check_activation(ykd_test *t, enum activation a, ref_shape s, bool strided,
                             bool in_place)
{
    ykd_test_mem m = {0};
    size_t n = ref_numel(s);
    double *xd, *dyd, *y_ref = ykd_test_doubles(&m, n), *dx_ref = ykd_test_doubles(&m, n);
    float *x = activation_inputs(&m, n, 11 + n, &xd);
    float *dy = ykd_test_inputs(&m, n, 12 + n, -1, 1, &dyd);
    ref_forward(a, n, xd, y_ref);
    char what[128];
    snprintf(what, sizeof what, "%s [%d, %d, %d, %d]%s%s", names[a], s.n, s.c, s.h, s.w,
             strided ? " strided" : "", in_place ? " in place" : "");
    ykd_error err;
    const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gdy = ykd_test_in(t, &m, dy, s.n, s.c, s.h, s.w, strided);
    /* in place, the backward still needs the forward's input: a copy of x */
    const ykd_tensor *gx_copy = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, !strided);
    const ykd_tensor *gy = in_place ? gx : ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gdx = in_place ? gdy : ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    if (gx && gdy && gx_copy && gy && gdx &&
        CHECK_OK(t, forward(a, gx, gy, &err), err) &&
        ykd_test_expect_tensor(t, gy, y_ref, max_nmse, what)) {
        /* sigmoid's backward takes the device's y, so the reference does too */
        float *y = saved_is_y(a) ? ykd_test_keep(&m, ykd_test_download(t, gy)) : NULL;
        const double *saved = y ? ykd_test_keep(&m, ykd_test_to_double(y, n)) : xd;
        ref_backward(a, n, saved, dyd, dx_ref);
        const ykd_tensor *dev_saved = saved_is_y(a) ? gy : in_place ? gx_copy : gx;
        if ((!saved_is_y(a) || y) &&
            CHECK_OK(t, backward(a, dev_saved, gdy, gdx, &err), err))
            ykd_test_expect_tensor(t, gdx, dx_ref, max_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_against_reference(ykd_test *t)
{
    for (enum activation a = 0; a < ACTIVATIONS; a++)
        for (int s = 0; s < SHAPES; s++) {
            check_activation(t, a, shapes[s], false, false);
            check_activation(t, a, shapes[s], true, false);
        }
}

static void test_in_place(ykd_test *t)
{
    ref_shape s = {2, 3, 7, 9};
    for (enum activation a = 0; a < ACTIVATIONS; a++) {
        check_activation(t, a, s, false, true);
        check_activation(t, a, s, true, true);
    }
}

static void activation_fn(void *ctx, const double *x, double *y)
{
    ref_forward(*(const enum activation *)ctx, 2 * 3 * 4, x, y);
}

/* The reference backward against central differences of the reference forward; LeakyReLU's
 * kink at 0 is avoided by the inputs (none within the step of 0). */
static void test_reference_gradients(ykd_test *t)
{
    enum { N = 2 * 3 * 4 };
    for (enum activation a = 0; a < ACTIVATIONS; a++) {
        ykd_test_mem m = {0};
        double *x, *dy, y[N], analytic[N], numeric[N];
        ykd_test_inputs(&m, N, 21, -5, 5, &x);
        ykd_test_inputs(&m, N, 22, -1, 1, &dy);
        ref_forward(a, N, x, y);
        ref_backward(a, N, saved_is_y(a) ? y : x, dy, analytic);
        ykd_test_numeric_gradient(activation_fn, &a, x, N, dy, N, 1e-5, numeric);
        /* central differences err by ~h^2 f''' ~ 1e-10 relative: NMSE ~ 1e-20 */
        ykd_test_expect_close(t, analytic, numeric, N, 1e-16, names[a]);
        ykd_test_mem_free(&m);
    }
}

static void test_bad_operands(ykd_test *t)
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

static const ykd_test_case cases[] = {
    {"activations: forward and backward against the reference", test_against_reference,
     YKD_TEST_EACH_DEVICE},
    {"activations: in place", test_in_place, YKD_TEST_EACH_DEVICE},
    {"activations: reference backward against finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"activations: bad operands are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
