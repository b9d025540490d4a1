/* fill_f32 and axpy_f32 on every device against the float64 reference, with the output
 * poisoned first and guard bands around it checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

enum { GUARD = 67 }; /* elements of poison on each side of the range under test */

static const float poison = -12345.678f;

/* Sizes around work-group and vector boundaries, and one large odd size. */
static const size_t sizes[] = {1, 2, 7, 63, 64, 65, 255, 1000, 100003};

static bool guards_intact(ykd_test *t, const float *y, size_t n, const char *what)
{
    for (size_t i = 0; i < GUARD; i++)
        if (!CHECKF(t, y[i] == poison && y[GUARD + n + i] == poison,
                    "%s n=%zu: guard element %zu was written", what, n, i))
            return false;
    return true;
}

static void test_fill(ykd_test *t)
{
    ykd_error err;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s], total = n + 2 * GUARD;
        ykd_buffer *buf = NULL;
        if (!CHECK_OK(t, ykd_buffer_alloc(t->device, total * sizeof(float), &buf, &err), err))
            return;
        float *y = malloc(total * sizeof *y);
        CHECK_OK(t, ykd_buffer_fill(buf, 0, &poison, sizeof poison, total * sizeof(float), &err),
                 err);
        float value = (float)n * 0.25f - 3.0f;
        CHECK_OK(t, ykd_fill_f32(buf, GUARD, n, value, &err), err);
        CHECK_OK(t, ykd_buffer_read(buf, 0, y, total * sizeof *y, &err), err);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++)
            wrong += y[GUARD + i] != value;
        CHECKF(t, wrong == 0, "fill n=%zu: %zu elements wrong", n, wrong);
        guards_intact(t, y, n, "fill");
        free(y);
        ykd_buffer_free(buf);
    }
}

static void test_axpy_matches_reference(ykd_test *t)
{
    ykd_error err;
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 42);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s], total = n + 2 * GUARD;
        float *x = malloc(n * sizeof *x), *y = malloc(total * sizeof *y);
        double *expected = malloc(n * sizeof *expected);
        for (size_t i = 0; i < n; i++)
            x[i] = ykd_test_rng_uniform(&rng, -2.0f, 2.0f);
        for (size_t i = 0; i < total; i++)
            y[i] = i < GUARD || i >= GUARD + n ? poison : ykd_test_rng_uniform(&rng, -2.0f, 2.0f);
        float alpha = ykd_test_rng_uniform(&rng, -1.5f, 1.5f);
        ref_axpy(n, alpha, x, y + GUARD, expected);

        ykd_buffer *xb = NULL, *yb = NULL;
        if (CHECK_OK(t, ykd_buffer_alloc(t->device, (n + 3) * sizeof(float), &xb, &err), err) &&
            CHECK_OK(t, ykd_buffer_alloc(t->device, total * sizeof(float), &yb, &err), err)) {
            /* x sits at an element offset of 3 to exercise the offset arguments */
            CHECK_OK(t, ykd_buffer_write(xb, 3 * sizeof(float), x, n * sizeof *x, &err), err);
            CHECK_OK(t, ykd_buffer_write(yb, 0, y, total * sizeof *y, &err), err);
            CHECK_OK(t, ykd_axpy_f32(n, alpha, xb, 3, yb, GUARD, &err), err);
            CHECK_OK(t, ykd_buffer_read(yb, 0, y, total * sizeof *y, &err), err);
            double nmse = ykd_test_nmse(y + GUARD, expected, n);
            CHECKF(t, nmse < 1e-12, "axpy n=%zu: normalised MSE %.3g", n, nmse);
            guards_intact(t, y, n, "axpy");
        }
        ykd_buffer_free(xb);
        ykd_buffer_free(yb);
        free(x);
        free(y);
        free(expected);
    }
}

static void test_axpy_in_place(ykd_test *t)
{
    /* x and y the same range: y = (1 + alpha) y */
    float data[5] = {1, 2, 3, 4, 5}, back[5];
    ykd_buffer *buf = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, sizeof data, &buf, &err), err))
        return;
    CHECK_OK(t, ykd_buffer_write(buf, 0, data, sizeof data, &err), err);
    CHECK_OK(t, ykd_axpy_f32(5, 0.5f, buf, 0, buf, 0, &err), err);
    CHECK_OK(t, ykd_buffer_read(buf, 0, back, sizeof back, &err), err);
    for (int i = 0; i < 5; i++)
        CHECKF(t, back[i] == 1.5f * data[i], "element %d: %g", i, back[i]);
    ykd_buffer_free(buf);
}

static void test_bad_operands(ykd_test *t)
{
    ykd_buffer *a = NULL, *b = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, 10 * sizeof(float), &a, &err), err))
        return;
    CHECK_STATUS(t, ykd_fill_f32(a, 5, 6, 1.0f, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "fill_f32: x elements 5..11 lie outside its 10");
    CHECK_STATUS(t, ykd_axpy_f32(11, 1.0f, a, 0, a, 0, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_axpy_f32(4, 1.0f, a, 0, a, 2, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "overlap");
    CHECK_OK(t, ykd_fill_f32(a, 10, 0, 1.0f, &err), err);

    ykd_device *other = ykd_test_reopen(t, NULL);
    if (other) {
        if (CHECK_OK(t, ykd_buffer_alloc(other, 10 * sizeof(float), &b, &err), err)) {
            CHECK_STATUS(t, ykd_axpy_f32(10, 1.0f, a, 0, b, 0, &err), YKD_ERR_INVALID_ARGUMENT,
                         err);
            CHECK_CONTAINS(t, err.message, "copy one first");
        }
        ykd_buffer_free(b);
        ykd_device_close(other);
    }
    ykd_buffer_free(a);
}

static const ykd_test_case cases[] = {
    {"fill_f32: every element, nothing beyond", test_fill, YKD_TEST_EACH_DEVICE},
    {"axpy_f32: against the float64 reference", test_axpy_matches_reference,
     YKD_TEST_EACH_DEVICE},
    {"axpy_f32: in place", test_axpy_in_place, YKD_TEST_EACH_DEVICE},
    {"basic ops: bad operands are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
