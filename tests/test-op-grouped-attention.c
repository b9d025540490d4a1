/* YOLO11's new ops on every device against the float64 references: grouped and depthwise
 * convolutions (forward, input and weight gradients; the reference's gradients against finite
 * differences), the batched matrix products, and multi-head attention over positions (its
 * backward against finite differences of the float64 forward); bad arguments refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

/* ---- grouped convolutions ---------------------------------------------------------------- */

static const ref_conv grouped_shapes[] = {
    {2, 6, 7, 9, 6, 3, 1, 1, 6},    /* depthwise 3x3 (YOLO11's DWConv and pe) */
    {1, 8, 9, 8, 8, 3, 2, 1, 8},    /* depthwise, stride 2 */
    {2, 6, 6, 5, 4, 3, 1, 1, 2},    /* two groups */
    {1, 3, 5, 6, 6, 5, 1, 2, 3},    /* depthwise with two outputs per channel, 5x5 */
    {2, 4, 4, 4, 8, 1, 1, 0, 4},    /* 1x1 in groups */
    {1, 2, 2, 3, 2, 3, 1, 1, 2},    /* kernel larger than the input */
    {3, 16, 20, 20, 16, 3, 1, 1, 16}, /* weight gradient over many positions */
};
enum { GROUPED_SHAPES = sizeof grouped_shapes / sizeof grouped_shapes[0] };

/* Sums of at most a few hundred products in float32. */
static const double conv_nmse = 1e-11;

typedef struct grouped_case {
    ref_conv c;
    int ho, wo;
    size_t nx, nw, ny;
} grouped_case;

static grouped_case grouped_geometry(const ref_conv *c)
{
    grouped_case g = {*c, ref_conv_out(c->h, c->k, c->stride, c->pad),
                      ref_conv_out(c->w, c->k, c->stride, c->pad), 0, 0, 0};
    g.nx = (size_t)c->n * c->cin * c->h * c->w;
    g.nw = (size_t)c->cout * (c->cin / c->groups) * c->k * c->k;
    g.ny = (size_t)c->n * c->cout * g.ho * g.wo;
    return g;
}

static void check_grouped(ykd_test *t, const ref_conv *c, bool strided, bool accumulate,
                          uint64_t seed)
{
    grouped_case g = grouped_geometry(c);
    ykd_test_mem m = {0};
    double *xd, *wd, *bd, *dyd, *dx0d, *dw0d;
    float *x = ykd_test_inputs(&m, g.nx, seed, -1, 1, &xd);
    float *w = ykd_test_inputs(&m, g.nw, seed + 1, -0.5f, 0.5f, &wd);
    float *b = ykd_test_inputs(&m, (size_t)c->cout, seed + 2, -0.5f, 0.5f, &bd);
    float *dy = ykd_test_inputs(&m, g.ny, seed + 3, -1, 1, &dyd);
    float *dx0 = ykd_test_inputs(&m, g.nx, seed + 4, -1, 1, &dx0d);
    float *dw0 = ykd_test_inputs(&m, g.nw, seed + 5, -1, 1, &dw0d);
    double *y = ykd_test_doubles(&m, g.ny), *dx = ykd_test_doubles(&m, g.nx);
    double *dw = ykd_test_doubles(&m, g.nw), *db = ykd_test_doubles(&m, (size_t)c->cout);
    double *db0d;
    float *db0 = ykd_test_inputs(&m, (size_t)c->cout, seed + 6, -1, 1, &db0d);
    ref_conv2d_forward(c, xd, wd, bd, 1, y);
    ref_conv2d_backward_input(c, dyd, wd, dx);
    ref_conv2d_backward_weights(c, xd, dyd, dw, db);
    for (size_t i = 0; accumulate && i < g.nx; i++)
        dx[i] += dx0d[i];
    for (size_t i = 0; accumulate && i < g.nw; i++)
        dw[i] += dw0d[i];
    for (int i = 0; accumulate && i < c->cout; i++)
        db[i] += db0d[i];
    char what[160];
    snprintf(what, sizeof what, "grouped conv [%d, %d, %d, %d] -> %d, k%d s%d p%d, %d groups%s%s",
             c->n, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad, c->groups,
             strided ? ", strided" : "", accumulate ? ", accumulating" : "");
    int wc = c->cin / c->groups;
    const ykd_tensor *gx = ykd_test_in(t, &m, x, c->n, c->cin, c->h, c->w, strided);
    const ykd_tensor *gw = ykd_test_in(t, &m, w, c->cout, wc, c->k, c->k, false);
    const ykd_tensor *gb = ykd_test_in(t, &m, b, 1, c->cout, 1, 1, false);
    const ykd_tensor *gdy = ykd_test_in(t, &m, dy, c->n, c->cout, g.ho, g.wo, strided);
    const ykd_tensor *gy = ykd_test_out(t, &m, c->n, c->cout, g.ho, g.wo, !strided);
    const ykd_tensor *gdx =
        accumulate ? ykd_test_in(t, &m, dx0, c->n, c->cin, c->h, c->w, strided)
                   : ykd_test_out(t, &m, c->n, c->cin, c->h, c->w, strided);
    const ykd_tensor *gdw = accumulate ? ykd_test_in(t, &m, dw0, c->cout, wc, c->k, c->k, false)
                                       : ykd_test_out(t, &m, c->cout, wc, c->k, c->k, false);
    const ykd_tensor *gdb = accumulate ? ykd_test_in(t, &m, db0, 1, c->cout, 1, 1, false)
                                       : ykd_test_out(t, &m, 1, c->cout, 1, 1, false);
    ykd_conv2d_params p = {c->stride, c->pad, c->groups};
    ykd_error err;
    if (gx && gw && gb && gdy && gy && gdx && gdw && gdb &&
        CHECK_OK(t, ykd_conv2d_forward(gx, gw, gb, &p, YKD_ACTIVATION_SILU, gy, &err), err) &&
        CHECK_OK(t, ykd_conv2d_backward_input(gdy, gw, &p, accumulate, gdx, &err), err) &&
        CHECK_OK(t, ykd_conv2d_backward_weights(gx, gdy, &p, accumulate, gdw, gdb, &err), err)) {
        ykd_test_expect_tensor(t, gy, y, conv_nmse, what);
        ykd_test_expect_tensor(t, gdx, dx, conv_nmse, what);
        ykd_test_expect_tensor(t, gdw, dw, conv_nmse, what);
        ykd_test_expect_tensor(t, gdb, db, conv_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_grouped_against_reference(ykd_test *t)
{
    for (int i = 0; i < GROUPED_SHAPES; i++) {
        check_grouped(t, &grouped_shapes[i], i % 2 == 1, false, 10 + (uint64_t)i * 10);
        check_grouped(t, &grouped_shapes[i], i % 2 == 0, true, 15 + (uint64_t)i * 10);
    }
}

/* The reference's gradients of sum(dy * conv(x, w)) against central differences. */
typedef struct conv_fd {
    const ref_conv *c;
    const double *other; /* w when differentiating x, x when differentiating w */
    bool by_weights;
} conv_fd;

static void conv_fd_forward(void *ctx, const double *v, double *y)
{
    const conv_fd *f = ctx;
    if (f->by_weights)
        ref_conv2d_forward(f->c, f->other, v, NULL, 0, y);
    else
        ref_conv2d_forward(f->c, v, f->other, NULL, 0, y);
}

static void test_grouped_reference_gradients(ykd_test *t)
{
    for (int i = 0; i < GROUPED_SHAPES - 1; i++) {
        const ref_conv *c = &grouped_shapes[i];
        grouped_case g = grouped_geometry(c);
        ykd_test_mem m = {0};
        double *xd, *wd, *dyd;
        ykd_test_inputs(&m, g.nx, 40 + (uint64_t)i, -1, 1, &xd);
        ykd_test_inputs(&m, g.nw, 50 + (uint64_t)i, -1, 1, &wd);
        ykd_test_inputs(&m, g.ny, 60 + (uint64_t)i, -1, 1, &dyd);
        double *dx = ykd_test_doubles(&m, g.nx), *dw = ykd_test_doubles(&m, g.nw);
        double *nx = ykd_test_doubles(&m, g.nx), *nw = ykd_test_doubles(&m, g.nw);
        ref_conv2d_backward_input(c, dyd, wd, dx);
        ref_conv2d_backward_weights(c, xd, dyd, dw, NULL);
        conv_fd by_x = {c, wd, false}, by_w = {c, xd, true};
        ykd_test_numeric_gradient(conv_fd_forward, &by_x, xd, g.nx, dyd, g.ny, 1e-3, nx);
        ykd_test_numeric_gradient(conv_fd_forward, &by_w, wd, g.nw, dyd, g.ny, 1e-3, nw);
        /* linear in each: central differences are exact up to rounding */
        ykd_test_expect_close(t, dx, nx, g.nx, 1e-18, "grouped conv dx");
        ykd_test_expect_close(t, dw, nw, g.nw, 1e-18, "grouped conv dw");
        ykd_test_mem_free(&m);
    }
}

static void test_grouped_bad(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 1, 6, 5, 5, false);
    const ykd_tensor *w = ykd_test_out(t, &m, 6, 1, 3, 3, false);
    const ykd_tensor *w4 = ykd_test_out(t, &m, 4, 2, 3, 3, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 1, 6, 5, 5, false);
    ykd_error err;
    if (x && w && w4 && y) {
        ykd_conv2d_params four = {1, 1, 4}, two = {1, 1, 2}, negative = {1, 1, -3};
        CHECK_STATUS(t, ykd_conv2d_forward(x, w, NULL, &four, YKD_ACTIVATION_NONE, y, &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "4 groups do not divide");
        CHECK_STATUS(t, ykd_conv2d_forward(x, w, NULL, &two, YKD_ACTIVATION_NONE, y, &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "in 2 groups expect 2 input channels");
        CHECK_STATUS(t, ykd_conv2d_backward_input(y, w4, &two, false, x, &err), YKD_ERR_SHAPE,
                     err);
        CHECK_STATUS(t, ykd_conv2d_forward(x, w, NULL, &negative, YKD_ACTIVATION_NONE, y, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "groups must be >= 1");
        ykd_test_expect_all_poison(t, y, "refused output");
    }
    ykd_test_mem_free(&m);
}

/* ---- batched products ------------------------------------------------------------------- */

typedef struct product {
    int n, m, cols, k;
    bool trans_a, trans_b;
} product;

static const product products[] = {
    {2, 5, 7, 3, false, false}, {3, 6, 4, 9, true, false}, {2, 8, 5, 6, false, true},
    {1, 33, 40, 17, true, false}, {2, 20, 36, 24, false, true}, {1, 1, 1, 1, false, false},
};
enum { PRODUCTS = sizeof products / sizeof products[0] };

/* Stored shape of an operand as a [rows, cols] matrix per image: a tensor [n, rows, 1, cols]
 * (or [n, rows, h, w] with h * w = cols when the column count factors). */
static const ykd_tensor *matrix(ykd_test *t, ykd_test_mem *m, const float *host, int n, int rows,
                                int cols, bool strided)
{
    int h = cols % 4 == 0 ? 4 : 1;
    return host ? ykd_test_in(t, m, host, n, rows, h, cols / h, strided)
                : ykd_test_out(t, m, n, rows, h, cols / h, strided);
}

static void check_product(ykd_test *t, const product *p, bool strided, float beta,
                          uint64_t seed)
{
    ykd_test_mem m = {0};
    int ar = p->trans_a ? p->k : p->m, ac = p->trans_a ? p->m : p->k;
    int br = p->trans_b ? p->cols : p->k, bc = p->trans_b ? p->k : p->cols;
    size_t na = (size_t)p->n * ar * ac, nb = (size_t)p->n * br * bc,
           nc = (size_t)p->n * p->m * p->cols;
    double *ad, *bd, *cd;
    float *a = ykd_test_inputs(&m, na, seed, -1, 1, &ad);
    float *b = ykd_test_inputs(&m, nb, seed + 1, -1, 1, &bd);
    float *c = ykd_test_inputs(&m, nc, seed + 2, -1, 1, &cd);
    ref_matmul(p->n, p->m, p->cols, p->k, p->trans_a, p->trans_b, 0.75, ad, bd, beta, cd);
    char what[128];
    snprintf(what, sizeof what, "matmul %d x [%d x %d x %d]%s%s beta %g%s", p->n, p->m, p->k,
             p->cols, p->trans_a ? " a^T" : "", p->trans_b ? " b^T" : "", beta,
             strided ? " strided" : "");
    const ykd_tensor *ga = matrix(t, &m, a, p->n, ar, ac, strided);
    const ykd_tensor *gb = matrix(t, &m, b, p->n, br, bc, !strided);
    const ykd_tensor *gc = beta != 0.0f ? matrix(t, &m, c, p->n, p->m, p->cols, strided)
                                        : matrix(t, &m, NULL, p->n, p->m, p->cols, strided);
    ykd_error err;
    if (ga && gb && gc &&
        CHECK_OK(t, ykd_matmul(ga, p->trans_a, gb, p->trans_b, 0.75f, beta, gc, &err), err))
        ykd_test_expect_tensor(t, gc, cd, 1e-11, what);
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_products(ykd_test *t)
{
    for (int i = 0; i < PRODUCTS; i++) {
        check_product(t, &products[i], i % 2 == 0, 0.0f, 100 + (uint64_t)i * 5);
        check_product(t, &products[i], i % 2 == 1, 1.0f, 200 + (uint64_t)i * 5);
    }
}

static void test_products_bad(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *a = ykd_test_out(t, &m, 2, 3, 1, 4, false);
    const ykd_tensor *b = ykd_test_out(t, &m, 2, 5, 1, 6, false);
    const ykd_tensor *c = ykd_test_out(t, &m, 2, 3, 1, 6, false);
    const ykd_tensor *one = ykd_test_out(t, &m, 1, 4, 1, 6, false);
    ykd_error err;
    if (a && b && c && one) {
        CHECK_STATUS(t, ykd_matmul(a, false, b, false, 1, 0, c, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "do not chain: 4 against 5");
        CHECK_STATUS(t, ykd_matmul(a, true, b, true, 1, 0, c, &err), YKD_ERR_UNSUPPORTED, err);
        CHECK_STATUS(t, ykd_matmul(a, false, one, false, 1, 0, c, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "differ in images");
        ykd_test_expect_all_poison(t, c, "refused output");
    }
    ykd_test_mem_free(&m);
}

/* ---- attention ------------------------------------------------------------------------- */

typedef struct attention_case {
    int n, heads, kd, hd, h, w;
} attention_case;

static const attention_case attentions[] = {
    {2, 2, 4, 8, 3, 5},  /* YOLO11's ratio: key_dim = head_dim / 2 */
    {1, 1, 3, 3, 4, 4},
    {1, 3, 2, 4, 2, 3},
    {1, 2, 8, 16, 20, 20}, /* YOLO11n's P5 positions at 640 */
    {1, 1, 2, 2, 32, 32},  /* rows of 1024: a work-group per softmax row */
};
enum { ATTENTIONS = sizeof attentions / sizeof attentions[0] };

typedef struct attention_fd {
    const attention_case *a;
    double scale;
} attention_fd;

static void attention_fd_forward(void *ctx, const double *qkv, double *y)
{
    const attention_fd *f = ctx;
    ref_attention_forward(f->a->n, f->a->h * f->a->w, f->a->heads, f->a->kd, f->a->hd,
                          f->scale, qkv, y);
}

static void check_attention(ykd_test *t, const attention_case *a, bool gradients,
                            bool accumulate, uint64_t seed)
{
    ykd_test_mem m = {0};
    int p = a->h * a->w, cq = a->heads * (2 * a->kd + a->hd), cy = a->heads * a->hd;
    size_t nq = (size_t)a->n * cq * p, ny = (size_t)a->n * cy * p;
    double *qd, *dyd, *d0d;
    float *qkv = ykd_test_inputs(&m, nq, seed, -1.5f, 1.5f, &qd);
    float *dy = ykd_test_inputs(&m, ny, seed + 1, -1, 1, &dyd);
    float *d0 = ykd_test_inputs(&m, nq, seed + 2, -1, 1, &d0d);
    double *y = ykd_test_doubles(&m, ny);
    attention_fd f = {a, 1.0 / sqrt((double)a->kd)};
    attention_fd_forward(&f, qd, y);
    ykd_attention at = {a->heads, a->kd, a->hd, (float)f.scale};
    char what[128];
    snprintf(what, sizeof what, "attention n%d, %d heads (%d, %d), %dx%d%s", a->n, a->heads,
             a->kd, a->hd, a->h, a->w, accumulate ? " accumulating" : "");
    const ykd_tensor *gq = ykd_test_in(t, &m, qkv, a->n, cq, a->h, a->w, true);
    const ykd_tensor *gp = ykd_test_out(t, &m, a->n, a->heads * p, 1, p, false);
    const ykd_tensor *gy = ykd_test_out(t, &m, a->n, cy, a->h, a->w, true);
    ykd_error err;
    if (gq && gp && gy && CHECK_OK(t, ykd_attention_forward(gq, &at, gp, gy, &err), err))
        ykd_test_expect_tensor(t, gy, y, 1e-10, what);
    if (gradients) {
        double *numeric = ykd_test_doubles(&m, nq);
        ykd_test_numeric_gradient(attention_fd_forward, &f, qd, nq, dyd, ny, 1e-5, numeric);
        for (size_t i = 0; accumulate && i < nq; i++)
            numeric[i] += d0d[i];
        const ykd_tensor *gdy = ykd_test_in(t, &m, dy, a->n, cy, a->h, a->w, false);
        const ykd_tensor *gdq = accumulate ? ykd_test_in(t, &m, d0, a->n, cq, a->h, a->w, true)
                                           : ykd_test_out(t, &m, a->n, cq, a->h, a->w, false);
        if (gdy && gdq &&
            CHECK_OK(t, ykd_attention_backward(gq, gp, gdy, &at, accumulate, gdq, &err), err))
            ykd_test_expect_tensor(t, gdq, numeric, 1e-9, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void test_attention(ykd_test *t)
{
    for (int i = 0; i < ATTENTIONS; i++) {
        bool small = attentions[i].h * attentions[i].w <= 64;
        check_attention(t, &attentions[i], small, false, 300 + (uint64_t)i * 7);
        if (small)
            check_attention(t, &attentions[i], true, true, 400 + (uint64_t)i * 7);
    }
}

static void test_attention_bad(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *qkv = ykd_test_out(t, &m, 1, 16, 2, 2, false);
    const ykd_tensor *probs = ykd_test_out(t, &m, 1, 8, 1, 4, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 1, 8, 2, 2, false);
    ykd_error err;
    if (qkv && probs && y) {
        ykd_attention good = {2, 2, 4, 0.7f}, zero = {0, 2, 4, 0.7f}, wide = {2, 3, 4, 0.7f};
        CHECK_STATUS(t, ykd_attention_forward(qkv, &zero, probs, y, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "heads, key_dim and head_dim must be >= 1");
        CHECK_STATUS(t, ykd_attention_forward(qkv, &wide, probs, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "qkv has shape [1, 16, 2, 2], expected [1, 20, 2, 2]");
        CHECK_STATUS(t, ykd_attention_backward(qkv, probs, y, &good, false, y, &err),
                     YKD_ERR_SHAPE, err);
        ykd_test_expect_all_poison(t, y, "refused output");
    }
    ykd_test_mem_free(&m);
}

static const ykd_test_case cases[] = {
    {"grouped conv: forward and gradients against the reference", test_grouped_against_reference,
     YKD_TEST_EACH_DEVICE},
    {"grouped conv: reference gradients against finite differences",
     test_grouped_reference_gradients, YKD_TEST_HOST},
    {"grouped conv: bad groups are refused", test_grouped_bad, YKD_TEST_EACH_DEVICE},
    {"matmul: batched products against the reference", test_products, YKD_TEST_EACH_DEVICE},
    {"matmul: bad products are refused", test_products_bad, YKD_TEST_EACH_DEVICE},
    {"attention: forward against the reference, backward against finite differences",
     test_attention, YKD_TEST_EACH_DEVICE},
    {"attention: bad arguments are refused", test_attention_bad, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
