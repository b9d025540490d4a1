/* Sum, mean, max and softmax along each axis on every device against the float64 reference,
 * through both kernel shapes (a work-item per row, a work-group per long contiguous row) and
 * strided tensors; the sum of squares of a whole tensor; the reference softmax backward
 * against finite differences; bad axes and shapes refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

/* 1x1, odd sizes, channels and heights over a work-group, rows of 80 contiguous floats and of
 * 1500 (the work-group form), several images. */
static const ref_shape shapes[] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {3, 17, 20, 20}, {2, 3, 1, 1500},
                                   {1, 2, 80, 80}, {5, 3, 4, 6}};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

/* Float sums of up to 1500 terms of either sign round to ~1e-7 of the terms' size each: an
 * NMSE ~1e-13 measured; softmax adds exp's few ulp. */
static const double max_nmse = 1e-11;

static ref_shape reduced(ref_shape s, int axis)
{
    int *dims[4] = {&s.n, &s.c, &s.h, &s.w};
    *dims[axis] = 1;
    return s;
}

static void check_reduce(ykd_test *t, ref_shape s, int axis, int op, bool strided)
{
    ykd_test_mem m = {0};
    ref_shape ys = reduced(s, axis);
    size_t n = ref_numel(s);
    double *xd, *y = ykd_test_doubles(&m, ref_numel(ys));
    float *x = ykd_test_inputs(&m, n, 3 + n + axis, -3, 3, &xd);
    ref_reduce(s, xd, axis, op, y);
    char what[128];
    snprintf(what, sizeof what, "reduce op %d axis %d [%d, %d, %d, %d]%s", op, axis, s.n, s.c,
             s.h, s.w, strided ? " strided" : "");
    const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gy = ykd_test_out(t, &m, ys.n, ys.c, ys.h, ys.w, !strided);
    ykd_error err;
    if (gx && gy && CHECK_OK(t, ykd_reduce(gx, axis, (ykd_reduce_op)op, gy, &err), err))
        ykd_test_expect_tensor(t, gy, y, op == REF_REDUCE_MAX ? 0.0 : max_nmse, what);
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_reduce(ykd_test *t)
{
    for (int s = 0; s < SHAPES; s++)
        for (int axis = 0; axis < 4; axis++)
            for (int op = REF_REDUCE_SUM; op <= REF_REDUCE_MAX; op++)
                check_reduce(t, shapes[s], axis, op, (s + axis + op) % 2 == 1);
}

/* The sum of squares of sizes below one run of 8 floats, with a tail, over 64 groups' shares
 * and far over them, against the reference; the same sum on a second call. */
static void test_sum_squares(ykd_test *t)
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
            ykd_test_expect_close(t, &got, &expected, 1, max_nmse, what);
            CHECKF(t, got == again, "%s: %.17g, then %.17g", what, got, again);
        }
        ykd_test_mem_guards_intact(t, &m, what);
        ykd_test_mem_free(&m);
    }
}

/* Softmax forward and backward; scale widens the inputs (logits up to +-60 need the maximum
 * subtracted). */
static void check_softmax(ykd_test *t, ref_shape s, int axis, bool strided, float scale)
{
    ykd_test_mem m = {0};
    size_t n = ref_numel(s);
    double *xd, *dyd, *y = ykd_test_doubles(&m, n), *dx = ykd_test_doubles(&m, n);
    float *x = ykd_test_inputs(&m, n, 7 + n + axis, -scale, scale, &xd);
    float *dy = ykd_test_inputs(&m, n, 8 + n, -1, 1, &dyd);
    ref_softmax_forward(s, xd, axis, y);
    char what[128];
    snprintf(what, sizeof what, "softmax axis %d [%d, %d, %d, %d]%s", axis, s.n, s.c, s.h, s.w,
             strided ? " strided" : "");
    const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gy = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, !strided);
    const ykd_tensor *gdy = ykd_test_in(t, &m, dy, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gdx = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    ykd_error err;
    if (gx && gy && gdy && gdx &&
        CHECK_OK(t, ykd_softmax_forward(gx, axis, gy, &err), err) &&
        ykd_test_expect_tensor(t, gy, y, max_nmse, what)) {
        /* the backward takes the device's y; so does the reference */
        float *yf = ykd_test_keep(&m, ykd_test_download(t, gy));
        double *yd = yf ? ykd_test_keep(&m, ykd_test_to_double(yf, n)) : NULL;
        if (yd && CHECK_OK(t, ykd_softmax_backward(gy, gdy, axis, gdx, &err), err)) {
            ref_softmax_backward(s, yd, dyd, axis, dx);
            /* Wide logits make rows nearly one-hot: dx = y (dy - dot) cancels to about
             * (1 - y) dy, tiny, while float leaves an absolute error ~6e-8 |dy| in dot (NMSE
             * up to 6e-10 measured over 3 channels). */
            ykd_test_expect_tensor(t, gdx, dx, scale > 10.0f ? 1e-8 : max_nmse, what);
        }
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_softmax(ykd_test *t)
{
    for (int s = 0; s < SHAPES; s++)
        for (int axis = 0; axis < 4; axis++)
            check_softmax(t, shapes[s], axis, (s + axis) % 2 == 0, s % 2 ? 60.0f : 3.0f);
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

static void test_reference_gradients(ykd_test *t)
{
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

static void test_bad_operands(ykd_test *t)
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

static const ykd_test_case cases[] = {
    {"reduce: sum, mean, max along each axis against the reference", test_reduce,
     YKD_TEST_EACH_DEVICE},
    {"softmax: forward and backward along each axis against the reference", test_softmax,
     YKD_TEST_EACH_DEVICE},
    {"sum of squares against the reference, the same twice", test_sum_squares,
     YKD_TEST_EACH_DEVICE},
    {"softmax: reference backward against finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"reduce, softmax: bad axes and shapes are refused", test_bad_operands,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
