/* Nearest upsampling by 2 forward and backward on every device against the float64
 * reference, packed and strided, accumulating; the reference backward against finite
 * differences; bad shapes refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

static const ref_shape shapes[] = {{1, 1, 1, 1}, {2, 3, 3, 5}, {1, 17, 20, 20}, {2, 5, 80, 80}};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

/* The forward copies; the backward adds 4 values: NMSE ~1e-15. */
static const double backward_nmse = 1e-13;

static void check_upsample(ykd_test *t, ref_shape s, bool strided, bool accumulate)
{
    ykd_test_mem m = {0};
    ref_shape ys = {s.n, s.c, 2 * s.h, 2 * s.w};
    size_t n = ref_numel(s), ny = ref_numel(ys);
    double *xd, *dyd, *dx0d, *y = ykd_test_doubles(&m, ny), *dx = ykd_test_doubles(&m, n);
    float *x = ykd_test_inputs(&m, n, 1 + n, -2, 2, &xd);
    float *dy = ykd_test_inputs(&m, ny, 2 + n, -1, 1, &dyd);
    float *dx0 = ykd_test_inputs(&m, n, 3 + n, -1, 1, &dx0d);
    ref_upsample2x_forward(s, xd, y);
    ref_upsample2x_backward(s, dyd, dx);
    for (size_t i = 0; accumulate && i < n; i++)
        dx[i] += dx0d[i];
    char what[128];
    snprintf(what, sizeof what, "upsample2x [%d, %d, %d, %d]%s%s", s.n, s.c, s.h, s.w,
             strided ? " strided" : "", accumulate ? " accumulating" : "");
    const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gy = ykd_test_out(t, &m, ys.n, ys.c, ys.h, ys.w, strided);
    const ykd_tensor *gdy = ykd_test_in(t, &m, dy, ys.n, ys.c, ys.h, ys.w, !strided);
    const ykd_tensor *gdx = accumulate ? ykd_test_in(t, &m, dx0, s.n, s.c, s.h, s.w, strided)
                                       : ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    ykd_error err;
    if (gx && gy && gdy && gdx && CHECK_OK(t, ykd_upsample2x_forward(gx, gy, &err), err) &&
        CHECK_OK(t, ykd_upsample2x_backward(gdy, accumulate, gdx, &err), err)) {
        ykd_test_expect_tensor(t, gy, y, 0.0, what);
        ykd_test_expect_tensor(t, gdx, dx, backward_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_against_reference(ykd_test *t)
{
    for (int s = 0; s < SHAPES; s++) {
        check_upsample(t, shapes[s], false, s % 2 == 1);
        check_upsample(t, shapes[s], true, s % 2 == 0);
    }
}

static void fd_forward(void *ctx, const double *x, double *y)
{
    ref_upsample2x_forward(*(const ref_shape *)ctx, x, y);
}

static void test_reference_gradients(ykd_test *t)
{
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

static void test_bad_operands(ykd_test *t)
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

static const ykd_test_case cases[] = {
    {"upsample2x: forward and backward against the reference", test_against_reference,
     YKD_TEST_EACH_DEVICE},
    {"upsample2x: reference backward against finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"upsample2x: bad shapes are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
