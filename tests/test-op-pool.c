/* Max pooling forward and backward on every device against the float64 reference: SPPF's
 * 5/1/2 and general windows, ties, strided tensors, accumulation; the reference backward
 * against finite differences; bad windows and shapes refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

typedef struct window {
    int k, s, p;
} window;

/* SPPF's window, YOLO's classic 2/2, and odd ones: stride above 1 with padding, a kernel
 * larger than the stride, 1x1. */
static const window windows[] = {{5, 1, 2}, {2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {1, 1, 0},
                                 {4, 3, 2}};
enum { WINDOWS = sizeof windows / sizeof windows[0] };

static const ref_shape shapes[] = {{1, 1, 1, 1}, {2, 3, 3, 5}, {1, 17, 20, 20}, {2, 3, 80, 80}};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

/* The forward selects input values, so it is exact; the backward adds at most k*k values of
 * dy per element: one rounding each, NMSE ~1e-15. */
static const double forward_nmse = 0.0, backward_nmse = 1e-13;

/* Inputs: distinct values (so no window has a tie and finite differences see no kink), or
 * values on a coarse grid (every window has ties). */
static float *pool_inputs(ykd_test_mem *m, size_t n, uint64_t seed, bool ties, double **as_d)
{
    float *x = ykd_test_inputs(m, n, seed, 0, 1, NULL);
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
    *as_d = ykd_test_keep(m, ykd_test_to_double(x, n));
    return x;
}

static void check_pool(ykd_test *t, ref_shape s, window w, bool strided, bool ties,
                       bool accumulate)
{
    int oh = ref_pool_out(s.h, w.k, w.s, w.p), ow = ref_pool_out(s.w, w.k, w.s, w.p);
    if (oh < 1 || ow < 1)
        return; /* the window does not fit: test_bad_operands covers it */
    ykd_test_mem m = {0};
    ref_shape ys = {s.n, s.c, oh, ow};
    size_t n = ref_numel(s), ny = ref_numel(ys);
    double *xd, *dyd, *y = ykd_test_doubles(&m, ny), *dx = ykd_test_doubles(&m, n);
    double *dx0d;
    float *x = pool_inputs(&m, n, 3 + n, ties, &xd);
    float *dy = ykd_test_inputs(&m, ny, 4 + n, -1, 1, &dyd);
    float *dx0 = ykd_test_inputs(&m, n, 5 + n, -1, 1, &dx0d);
    ref_maxpool_forward(s, xd, w.k, w.s, w.p, y);
    ref_maxpool_backward(s, xd, dyd, w.k, w.s, w.p, dx);
    for (size_t i = 0; accumulate && i < n; i++)
        dx[i] += dx0d[i];
    char what[160];
    snprintf(what, sizeof what, "maxpool k%d s%d p%d [%d, %d, %d, %d]%s%s%s", w.k, w.s, w.p, s.n,
             s.c, s.h, s.w, strided ? " strided" : "", ties ? " ties" : "",
             accumulate ? " accumulating" : "");
    const ykd_tensor *gx = ykd_test_in(t, &m, x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gy = ykd_test_out(t, &m, ys.n, ys.c, ys.h, ys.w, !strided);
    const ykd_tensor *gdy = ykd_test_in(t, &m, dy, ys.n, ys.c, ys.h, ys.w, strided);
    const ykd_tensor *gdx = accumulate ? ykd_test_in(t, &m, dx0, s.n, s.c, s.h, s.w, strided)
                                       : ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    ykd_error err;
    if (gx && gy && gdy && gdx &&
        CHECK_OK(t, ykd_maxpool_forward(gx, w.k, w.s, w.p, gy, &err), err) &&
        CHECK_OK(t, ykd_maxpool_backward(gx, gdy, w.k, w.s, w.p, accumulate, gdx, &err), err)) {
        ykd_test_expect_tensor(t, gy, y, forward_nmse, what);
        ykd_test_expect_tensor(t, gdx, dx, backward_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_against_reference(ykd_test *t)
{
    for (int w = 0; w < WINDOWS; w++)
        for (int s = 0; s < SHAPES; s++) {
            /* the largest shape only for SPPF's window and one general one */
            if (s == SHAPES - 1 && w > 1)
                continue;
            check_pool(t, shapes[s], windows[w], (s + w) % 2 == 1, false, w % 2 == 0);
        }
}

/* Ties route the gradient to the first maximum of each window, as the reference does. */
static void test_ties(ykd_test *t)
{
    for (int w = 0; w < WINDOWS; w++) {
        check_pool(t, shapes[1], windows[w], false, true, false);
        check_pool(t, shapes[2], windows[w], true, true, true);
    }
}

/* Differentiates the reference forward for one window. */
typedef struct fd_ctx {
    ref_shape s;
    window w;
} fd_ctx;

static void fd_forward(void *p, const double *x, double *y)
{
    const fd_ctx *c = p;
    ref_maxpool_forward(c->s, x, c->w.k, c->w.s, c->w.p, y);
}

static void test_reference_gradients(ykd_test *t)
{
    ref_shape s = {2, 2, 5, 6};
    for (int w = 0; w < WINDOWS; w++) {
        ykd_test_mem m = {0};
        fd_ctx ctx = {s, windows[w]};
        ref_shape ys = {s.n, s.c, ref_pool_out(s.h, ctx.w.k, ctx.w.s, ctx.w.p),
                        ref_pool_out(s.w, ctx.w.k, ctx.w.s, ctx.w.p)};
        size_t n = ref_numel(s), ny = ref_numel(ys);
        double *xd, *dyd, *dx = ykd_test_doubles(&m, n), *numeric = ykd_test_doubles(&m, n);
        pool_inputs(&m, n, 9, false, &xd);
        ykd_test_inputs(&m, ny, 10, -1, 1, &dyd);
        ref_maxpool_backward(s, xd, dyd, ctx.w.k, ctx.w.s, ctx.w.p, dx);
        /* values 0.01 apart and a step of 1e-4: no window changes its maximum, and the
         * function is linear there, so the differences are exact up to rounding */
        ykd_test_numeric_gradient(fd_forward, &ctx, xd, n, dyd, ny, 1e-4, numeric);
        ykd_test_expect_close(t, dx, numeric, n, 1e-20, "maxpool dx");
        ykd_test_mem_free(&m);
    }
}

static void test_bad_operands(ykd_test *t)
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

static const ykd_test_case cases[] = {
    {"maxpool: forward and backward against the reference", test_against_reference,
     YKD_TEST_EACH_DEVICE},
    {"maxpool: ties go to the first maximum", test_ties, YKD_TEST_EACH_DEVICE},
    {"maxpool: reference backward against finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"maxpool: bad windows and shapes are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
