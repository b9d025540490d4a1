/* add, axpy and scale on every device against the float64 reference: packed and strided
 * tensors, outputs that are an input, and bad operands refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

/* One float32 rounding per element (axpy's fma, add, multiply): NMSE ~ 1e-15. */
static const double max_nmse = 1e-13;

static const ref_shape shapes[] = {
    {1, 1, 1, 1}, {2, 3, 3, 5}, {1, 17, 20, 20}, {3, 5, 80, 80},
};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

enum op { ADD, AXPY, SCALE };
static const char *const op_names[] = {"add", "axpy", "scale"};
static const float alpha = -0.75f;

/* Runs one op with y a separate guarded tensor (strided or packed), or a itself in place. */
static void check_op(ykd_test *t, enum op op, ref_shape s, bool strided, bool in_place)
{
    ykd_test_mem m = {0};
    size_t n = ref_numel(s);
    double *ad, *bd, *expected = ykd_test_doubles(&m, n);
    float *a = ykd_test_inputs(&m, n, 100 + n, -3, 3, &ad);
    float *b = ykd_test_inputs(&m, n, 200 + n, -3, 3, &bd);
    if (op == ADD)
        ref_add(n, ad, bd, expected);
    else if (op == AXPY) /* y (b, or a in place) += alpha * a */
        ref_axpy(n, alpha, a, in_place ? a : b, expected);
    else
        ref_scale(n, alpha, ad, expected);
    char what[128];
    snprintf(what, sizeof what, "%s [%d, %d, %d, %d]%s%s", op_names[op], s.n, s.c, s.h, s.w,
             strided ? " strided" : "", in_place ? " in place" : "");
    ykd_error err;
    const ykd_tensor *ga = ykd_test_in(t, &m, a, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gb = ykd_test_in(t, &m, b, s.n, s.c, s.h, s.w, !strided);
    const ykd_tensor *y = in_place      ? ga
                          : op == AXPY ? gb
                                       : ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    if (ga && gb && y) {
        ykd_status st = op == ADD    ? ykd_add_forward(ga, gb, y, &err)
                        : op == AXPY ? ykd_tensor_axpy(alpha, ga, y, &err)
                                     : ykd_tensor_scale(ga, alpha, y, &err);
        if (CHECK_OK(t, st, err))
            ykd_test_expect_tensor(t, y, expected, max_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_against_reference(ykd_test *t)
{
    for (int op = ADD; op <= SCALE; op++)
        for (int s = 0; s < SHAPES; s++) {
            check_op(t, op, shapes[s], false, false);
            check_op(t, op, shapes[s], true, false);
        }
}

static void test_in_place(ykd_test *t)
{
    ref_shape s = {3, 7, 5, 9};
    for (int op = ADD; op <= SCALE; op++) {
        check_op(t, op, s, true, true);
        check_op(t, op, s, false, true);
    }
}

static void test_bad_operands(ykd_test *t)
{
    ykd_guarded a, b;
    ykd_error err;
    if (!ykd_test_guarded_alloc(t, 2, 3, 4, 5, &a) || !ykd_test_guarded_alloc(t, 1, 3, 4, 5, &b))
        return;
    CHECK_STATUS(t, ykd_add_forward(&a.tensor, &b.tensor, &a.tensor, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_add_forward: b has shape [1, 3, 4, 5] but a has shape "
                                   "[2, 3, 4, 5]");
    CHECK_STATUS(t, ykd_tensor_axpy(1.0f, &a.tensor, &b.tensor, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_tensor_axpy: y has shape [1, 3, 4, 5]");
    ykd_tensor empty = b.tensor;
    empty.h = 0;
    CHECK_STATUS(t, ykd_tensor_scale(&b.tensor, 2.0f, &empty, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_tensor_scale: y has the empty shape [1, 3, 0, 5]");
    ykd_tensor beyond = b.tensor;
    beyond.n = 9;
    CHECK_STATUS(t, ykd_tensor_scale(&beyond, 2.0f, &beyond, &err), YKD_ERR_SHAPE, err);
    ykd_test_expect_all_poison(t, &a.tensor, "refused output");
    ykd_test_expect_all_poison(t, &b.tensor, "refused output");
    ykd_test_guarded_free(&a);
    ykd_test_guarded_free(&b);
}

static const ykd_test_case cases[] = {
    {"elementwise: add, axpy, scale against the reference", test_against_reference,
     YKD_TEST_EACH_DEVICE},
    {"elementwise: outputs in place", test_in_place, YKD_TEST_EACH_DEVICE},
    {"elementwise: bad operands are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
