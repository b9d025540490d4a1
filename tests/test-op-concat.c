/* Concat, its backward and split on every device against the float64 reference: 1 to 9 parts
 * (more than one launch takes), strided parts and wholes, accumulation; the reference
 * backward against finite differences; bad parts refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

enum { MAX_PARTS = 9 };

typedef struct layout {
    int count;
    int channels[MAX_PARTS];
} layout;

/* One part, C2f-like pairs, SPPF's four equal parts, nine parts of different sizes. */
static const layout layouts[] = {
    {1, {3}}, {2, {2, 5}}, {4, {4, 4, 4, 4}}, {9, {1, 2, 3, 4, 5, 6, 7, 8, 9}},
};
enum { LAYOUTS = sizeof layouts / sizeof layouts[0] };

static const ref_shape sizes[] = {{1, 0, 1, 1}, {2, 0, 3, 5}, {2, 0, 20, 20}, {1, 0, 80, 80}};
enum { SIZES = sizeof sizes / sizeof sizes[0] };

static int total_channels(const layout *l)
{
    int c = 0;
    for (int k = 0; k < l->count; k++)
        c += l->channels[k];
    return c;
}

/* Host data of one case: parts and whole (random), as floats and float64. */
typedef struct concat_data {
    int n, h, w, c;
    size_t plane;
    float *parts[MAX_PARTS], *whole;
    double *parts_d[MAX_PARTS], *whole_d;
} concat_data;

static concat_data make_data(ykd_test_mem *m, const layout *l, ref_shape size, uint64_t seed)
{
    concat_data d = {.n = size.n, .h = size.h, .w = size.w, .c = total_channels(l),
                     .plane = (size_t)size.h * size.w};
    for (int k = 0; k < l->count; k++)
        d.parts[k] = ykd_test_inputs(m, (size_t)d.n * l->channels[k] * d.plane, seed + k, -1, 1,
                                     &d.parts_d[k]);
    d.whole = ykd_test_inputs(m, (size_t)d.n * d.c * d.plane, seed + 99, -1, 1, &d.whole_d);
    return d;
}

/* concat(parts) into a fresh whole; then the whole's backward into the parts: split, or
 * accumulating into parts already holding values. */
static void check_concat(ykd_test *t, const layout *l, ref_shape size, bool strided,
                         bool accumulate)
{
    ykd_test_mem m = {0};
    concat_data d = make_data(&m, l, size, 10 * (uint64_t)l->count + size.h);
    double *whole = ykd_test_doubles(&m, (size_t)d.n * d.c * d.plane), *back[MAX_PARTS];
    ref_concat(d.n, d.plane, l->count, l->channels, (const double *const *)d.parts_d, whole);
    for (int k = 0; k < l->count; k++)
        back[k] = ykd_test_doubles(&m, (size_t)d.n * l->channels[k] * d.plane);
    ref_split(d.n, d.plane, l->count, l->channels, d.whole_d, back);
    for (int k = 0; accumulate && k < l->count; k++)
        for (size_t i = 0; i < (size_t)d.n * l->channels[k] * d.plane; i++)
            back[k][i] += d.parts_d[k][i];
    char what[128];
    snprintf(what, sizeof what, "concat of %d [%d, %d, %d, %d]%s%s", l->count, d.n, d.c, d.h,
             d.w, strided ? " strided" : "", accumulate ? " accumulating" : "");
    const ykd_tensor *parts[MAX_PARTS], *grads[MAX_PARTS];
    bool ok = true;
    for (int k = 0; k < l->count; k++) {
        /* every other part strided, so both kinds meet in one launch */
        bool part_strided = strided == (k % 2 == 0);
        parts[k] = ykd_test_in(t, &m, d.parts[k], d.n, l->channels[k], d.h, d.w, part_strided);
        grads[k] = accumulate
                       ? ykd_test_in(t, &m, d.parts[k], d.n, l->channels[k], d.h, d.w,
                                     !part_strided)
                       : ykd_test_out(t, &m, d.n, l->channels[k], d.h, d.w, !part_strided);
        ok = ok && parts[k] && grads[k];
    }
    const ykd_tensor *gy = ykd_test_out(t, &m, d.n, d.c, d.h, d.w, strided);
    const ykd_tensor *gdy = ykd_test_in(t, &m, d.whole, d.n, d.c, d.h, d.w, !strided);
    ykd_error err;
    if (ok && gy && gdy && CHECK_OK(t, ykd_concat_forward(parts, l->count, gy, &err), err))
        ykd_test_expect_tensor(t, gy, whole, 0.0, what);
    ykd_status st = accumulate ? ykd_concat_backward(gdy, true, grads, l->count, &err)
                               : ykd_split_forward(gdy, grads, l->count, &err);
    /* a copy is exact; adding rounds once */
    for (int k = 0; ok && gdy && CHECK_OK(t, st, err) && k < l->count; k++)
        ykd_test_expect_tensor(t, grads[k], back[k], accumulate ? 1e-14 : 0.0, what);
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_against_reference(ykd_test *t)
{
    for (int l = 0; l < LAYOUTS; l++)
        for (int s = 0; s < SIZES; s++) {
            check_concat(t, &layouts[l], sizes[s], (l + s) % 2 == 0, false);
            check_concat(t, &layouts[l], sizes[s], (l + s) % 2 == 1, true);
        }
}

/* concat_backward without accumulation overwrites, as split does. */
static void test_backward_overwrites(ykd_test *t)
{
    ykd_test_mem m = {0};
    const layout *l = &layouts[3];
    concat_data d = make_data(&m, l, sizes[1], 77);
    double *back[MAX_PARTS];
    const ykd_tensor *grads[MAX_PARTS];
    bool ok = true;
    for (int k = 0; k < l->count; k++) {
        back[k] = ykd_test_doubles(&m, (size_t)d.n * l->channels[k] * d.plane);
        grads[k] = ykd_test_in(t, &m, d.parts[k], d.n, l->channels[k], d.h, d.w, k % 3 == 0);
        ok = ok && grads[k];
    }
    ref_split(d.n, d.plane, l->count, l->channels, d.whole_d, back);
    const ykd_tensor *gdy = ykd_test_in(t, &m, d.whole, d.n, d.c, d.h, d.w, true);
    ykd_error err;
    if (ok && gdy && CHECK_OK(t, ykd_concat_backward(gdy, false, grads, l->count, &err), err))
        for (int k = 0; k < l->count; k++)
            ykd_test_expect_tensor(t, grads[k], back[k], 0.0, "concat backward");
    ykd_test_mem_guards_intact(t, &m, "concat backward");
    ykd_test_mem_free(&m);
}

/* loss = sum(dy * concat(parts)) as a function of all parts laid end to end. */
static void fd_forward(void *ctx, const double *x, double *y)
{
    const layout *l = ctx;
    const double *parts[MAX_PARTS];
    size_t at = 0;
    for (int k = 0; k < l->count; k++) {
        parts[k] = x + at;
        at += (size_t)2 * l->channels[k] * 6;
    }
    ref_concat(2, 6, l->count, l->channels, parts, y);
}

static void test_reference_gradients(ykd_test *t)
{
    ykd_test_mem m = {0};
    const layout *l = &layouts[2];
    size_t n = (size_t)2 * total_channels(l) * 6; /* 2 images of 2x3 planes */
    double *x, *dy, *numeric = ykd_test_doubles(&m, n), *analytic = ykd_test_doubles(&m, n);
    double *parts[MAX_PARTS];
    ykd_test_inputs(&m, n, 1, -1, 1, &x);
    ykd_test_inputs(&m, n, 2, -1, 1, &dy);
    size_t at = 0;
    for (int k = 0; k < l->count; k++) {
        parts[k] = analytic + at;
        at += (size_t)2 * l->channels[k] * 6;
    }
    ref_split(2, 6, l->count, l->channels, dy, parts);
    ykd_test_numeric_gradient(fd_forward, (void *)l, x, n, dy, n, 1e-3, numeric);
    ykd_test_expect_close(t, analytic, numeric, n, 1e-20, "concat backward");
    ykd_test_mem_free(&m);
}

static void test_bad_operands(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *a = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *b = ykd_test_out(t, &m, 2, 4, 4, 5, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 8, 4, 5, false);
    const ykd_tensor *other = ykd_test_out(t, &m, 1, 5, 4, 5, false);
    ykd_error err;
    if (a && b && y && other) {
        const ykd_tensor *two[] = {a, b}, *mixed[] = {a, other};
        CHECK_STATUS(t, ykd_concat_forward(two, 2, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "ykd_concat_forward: the 2 xs hold 7 channels in all, "
                                       "but y [2, 8, 4, 5] has 8");
        CHECK_STATUS(t, ykd_concat_forward(mixed, 2, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "xs[1] has shape [1, 5, 4, 5], expected [2, 5, 4, 5]");
        CHECK_STATUS(t, ykd_concat_forward(two, 0, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_split_forward(y, NULL, 2, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_concat_backward(y, false, mixed, 2, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "ykd_concat_backward: dxs[1]");
        ykd_test_expect_all_poison(t, y, "refused output");
        ykd_test_expect_all_poison(t, a, "refused output");
    }
    ykd_test_mem_free(&m);
}

static const ykd_test_case cases[] = {
    {"concat: forward, backward and split against the reference", test_against_reference,
     YKD_TEST_EACH_DEVICE},
    {"concat: backward without accumulating overwrites", test_backward_overwrites,
     YKD_TEST_EACH_DEVICE},
    {"concat: reference backward against finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"concat: bad parts are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
