/* conv2d forward, input gradient and weight/bias gradients on every device against the
 * float64 reference, whose gradients are themselves checked by central finite differences.
 * Outputs are poisoned and guarded, or channel views of larger tensors; every GEMM path is
 * used: the direct 1x1 product, im2col, col2im, k-runs and per-image partial sums, several
 * passes through the scratch, our tiles and CLBlast, and each path of the forward pass (which
 * the input gradient of stride-1 convolutions runs too: columns, windows, Winograd) and of the
 * weight gradient (columns, windows, pixel rows) forced as well as chosen by measurement. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

static const ref_conv shapes[] = {
    {2, 3, 7, 9, 5, 3, 1, 1, 1},    /* 3x3 same padding, odd sizes */
    {1, 4, 8, 8, 6, 3, 2, 1, 1},    /* stride 2 */
    {3, 5, 5, 6, 7, 1, 1, 0, 1},    /* 1x1: the direct product */
    {2, 3, 9, 7, 4, 1, 2, 0, 1},    /* 1x1 with stride: through im2col */
    {2, 6, 6, 5, 9, 5, 1, 2, 1},    /* 5x5 */
    {2, 17, 20, 20, 33, 3, 1, 1, 1}, /* several GEMM tiles; weight gradient over k-runs */
    {4, 8, 12, 10, 16, 3, 2, 1, 1},
    {1, 2, 2, 3, 3, 3, 1, 1, 1},    /* kernel larger than the input */
    {2, 37, 3, 5, 21, 3, 1, 1, 1},  /* many channels on a tiny plane: K * C = 111 columns */
};

typedef struct conv_data {
    ref_conv c;
    int ho, wo;
    size_t nx, nw, ny;
    float *x, *w, *bias, *dy;
    double *xd, *wd, *biasd, *dyd;
} conv_data;

static double *widen(const float *f, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

static void make_data(const ref_conv *c, conv_data *d, uint64_t seed)
{
    d->c = *c;
    d->ho = ref_conv_out(c->h, c->k, c->stride, c->pad);
    d->wo = ref_conv_out(c->w, c->k, c->stride, c->pad);
    d->nx = (size_t)c->n * c->cin * c->h * c->w;
    d->nw = (size_t)c->cout * c->cin * c->k * c->k;
    d->ny = (size_t)c->n * c->cout * d->ho * d->wo;
    d->x = ykd_test_random_floats(d->nx, seed, -1.0f, 1.0f);
    d->w = ykd_test_random_floats(d->nw, seed + 1, -0.5f, 0.5f);
    d->bias = ykd_test_random_floats((size_t)c->cout, seed + 2, -0.5f, 0.5f);
    d->dy = ykd_test_random_floats(d->ny, seed + 3, -1.0f, 1.0f);
    d->xd = widen(d->x, d->nx);
    d->wd = widen(d->w, d->nw);
    d->biasd = widen(d->bias, (size_t)c->cout);
    d->dyd = widen(d->dy, d->ny);
}

static void free_data(conv_data *d)
{
    free(d->x);
    free(d->w);
    free(d->bias);
    free(d->dy);
    free(d->xd);
    free(d->wd);
    free(d->biasd);
    free(d->dyd);
}

static void describe(const ref_conv *c, char *buf, size_t size)
{
    snprintf(buf, size, "x [%d, %d, %d, %d], w [%d, %d, %d, %d], stride %d, padding %d", c->n,
             c->cin, c->h, c->w, c->cout, c->cin, c->k, c->k, c->stride, c->pad);
}

/* sum(dy * conv(x, w) + bias): the scalar whose gradients the backward computes. */
static double loss(const conv_data *d, const double *x, const double *w, const double *bias)
{
    double *y = malloc(d->ny * sizeof *y), sum = 0.0;
    ref_conv2d_forward(&d->c, x, w, bias, 0, y);
    for (size_t i = 0; i < d->ny; i++)
        sum += d->dyd[i] * y[i];
    free(y);
    return sum;
}

/* Central differences of the loss along a few coordinates of v against grad. */
static void check_finite_differences(ykd_test *t, conv_data *d, double *v, size_t n,
                                     const double *grad, const char *what)
{
    const double h = 1e-3;
    for (size_t s = 0; s < 7; s++) {
        size_t i = (s * 7919 + 3) % n;
        double saved = v[i];
        v[i] = saved + h;
        double up = loss(d, d->xd, d->wd, d->biasd);
        v[i] = saved - h;
        double down = loss(d, d->xd, d->wd, d->biasd);
        v[i] = saved;
        double numeric = (up - down) / (2 * h);
        CHECKF(t, fabs(numeric - grad[i]) <= 1e-7 * (1.0 + fabs(grad[i])),
               "%s[%zu]: finite difference %.12g, reference gradient %.12g", what, i, numeric,
               grad[i]);
    }
}

static void test_reference_gradients(ykd_test *t)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        conv_data d;
        make_data(&shapes[s], &d, 100 + s);
        double *dx = malloc(d.nx * sizeof *dx), *dw = malloc(d.nw * sizeof *dw);
        double *db = malloc((size_t)d.c.cout * sizeof *db);
        ref_conv2d_backward_input(&d.c, d.dyd, d.wd, dx);
        ref_conv2d_backward_weights(&d.c, d.xd, d.dyd, dw, db);
        check_finite_differences(t, &d, d.xd, d.nx, dx, "dx");
        check_finite_differences(t, &d, d.wd, d.nw, dw, "dw");
        check_finite_differences(t, &d, d.biasd, (size_t)d.c.cout, db, "dbias");
        free(dx);
        free(dw);
        free(db);
        free_data(&d);
    }
}

/* Expected values of an accumulated result: prior + new. */
static double *plus(const float *prior, const double *fresh, size_t n)
{
    double *sum = malloc(n * sizeof *sum);
    for (size_t i = 0; i < n; i++)
        sum[i] = (double)prior[i] + fresh[i];
    return sum;
}

/* Every pass of one shape on t->device; max_nmse covers float32 sums of up to a few hundred
 * products of numbers below 1 (relative error ~1e-7, so NMSE ~1e-13; 1e-10 leaves room). */
static void check_shape(ykd_test *t, const ref_conv *c, uint64_t seed)
{
    const double max_nmse = 1e-10;
    char label[160];
    describe(c, label, sizeof label);
    conv_data d;
    make_data(c, &d, seed);
    ykd_conv2d_params params = {c->stride, c->pad, 1};
    ykd_tensor x, w, bias, dy;
    ykd_guarded y, dx, dw, db;
    ykd_error err;
    bool ready = ykd_test_upload(t, d.x, c->n, c->cin, c->h, c->w, &x) &&
                 ykd_test_upload(t, d.w, c->cout, c->cin, c->k, c->k, &w) &&
                 ykd_test_upload(t, d.bias, 1, c->cout, 1, 1, &bias) &&
                 ykd_test_upload(t, d.dy, c->n, c->cout, d.ho, d.wo, &dy) &&
                 ykd_test_guarded_alloc(t, c->n, c->cout, d.ho, d.wo, &y) &&
                 ykd_test_guarded_alloc(t, c->n, c->cin, c->h, c->w, &dx) &&
                 ykd_test_guarded_alloc(t, c->cout, c->cin, c->k, c->k, &dw) &&
                 ykd_test_guarded_alloc(t, 1, c->cout, 1, 1, &db);
    double *expect_y = malloc(d.ny * sizeof(double)), *expect_dx = malloc(d.nx * sizeof(double));
    double *expect_dw = malloc(d.nw * sizeof(double));
    double *expect_db = malloc((size_t)c->cout * sizeof(double));
    if (ready) {
        ref_conv2d_forward(c, d.xd, d.wd, d.biasd, 0, expect_y);
        if (CHECKF(t, ykd_conv2d_forward(&x, &w, &bias, &params, YKD_ACTIVATION_NONE, &y.tensor,
                                         &err) == YKD_OK,
                   "%s: %s", label, err.message))
            ykd_test_expect_tensor(t, &y.tensor, expect_y, max_nmse, "forward");
        ref_conv2d_forward(c, d.xd, d.wd, NULL, 1, expect_y);
        if (CHECK_OK(t, ykd_conv2d_forward(&x, &w, NULL, &params, YKD_ACTIVATION_SILU, &y.tensor,
                                           &err),
                     err))
            ykd_test_expect_tensor(t, &y.tensor, expect_y, max_nmse, "forward, SiLU, no bias");
        ykd_test_guards_intact(t, &y, "forward");

        ref_conv2d_backward_input(c, d.dyd, d.wd, expect_dx);
        if (CHECKF(t, ykd_conv2d_backward_input(&dy, &w, &params, false, &dx.tensor, &err) ==
                          YKD_OK,
                   "%s: %s", label, err.message))
            ykd_test_expect_tensor(t, &dx.tensor, expect_dx, max_nmse, "input gradient");
        ykd_test_guards_intact(t, &dx, "input gradient");

        ref_conv2d_backward_weights(c, d.xd, d.dyd, expect_dw, expect_db);
        if (CHECKF(t, ykd_conv2d_backward_weights(&x, &dy, &params, false, &dw.tensor,
                                                  &db.tensor, &err) == YKD_OK,
                   "%s: %s", label, err.message)) {
            ykd_test_expect_tensor(t, &dw.tensor, expect_dw, max_nmse, "weight gradient");
            ykd_test_expect_tensor(t, &db.tensor, expect_db, max_nmse, "bias gradient");
        }
        ykd_test_guards_intact(t, &dw, "weight gradient");
        ykd_test_guards_intact(t, &db, "bias gradient");
    }
    if (ready) {
        /* accumulate: gradients add to what is there (here: the random dx/dw/db below) */
        float *prior_x = ykd_test_random_floats(d.nx, seed + 9, -1.0f, 1.0f);
        float *prior_w = ykd_test_random_floats(d.nw, seed + 10, -1.0f, 1.0f);
        float *prior_b = ykd_test_random_floats((size_t)c->cout, seed + 11, -1.0f, 1.0f);
        double *sum_dx = plus(prior_x, expect_dx, d.nx), *sum_dw = plus(prior_w, expect_dw, d.nw);
        double *sum_db = plus(prior_b, expect_db, (size_t)c->cout);
        CHECK_OK(t, ykd_tensor_write(&dx.tensor, prior_x, &err), err);
        CHECK_OK(t, ykd_tensor_write(&dw.tensor, prior_w, &err), err);
        CHECK_OK(t, ykd_tensor_write(&db.tensor, prior_b, &err), err);
        if (CHECK_OK(t, ykd_conv2d_backward_input(&dy, &w, &params, true, &dx.tensor, &err),
                     err))
            ykd_test_expect_tensor(t, &dx.tensor, sum_dx, max_nmse, "accumulated dx");
        if (CHECK_OK(t, ykd_conv2d_backward_weights(&x, &dy, &params, true, &dw.tensor,
                                                    &db.tensor, &err),
                     err)) {
            ykd_test_expect_tensor(t, &dw.tensor, sum_dw, max_nmse, "accumulated dw");
            ykd_test_expect_tensor(t, &db.tensor, sum_db, max_nmse, "accumulated dbias");
        }
        free(prior_x), free(prior_w), free(prior_b), free(sum_dx), free(sum_dw), free(sum_db);
    }
    free(expect_y), free(expect_dx), free(expect_dw), free(expect_db);
    ykd_tensor_free(&x), ykd_tensor_free(&w), ykd_tensor_free(&bias), ykd_tensor_free(&dy);
    ykd_test_guarded_free(&y), ykd_test_guarded_free(&dx), ykd_test_guarded_free(&dw);
    ykd_test_guarded_free(&db);
    free_data(&d);
}

/* Runs every shape with one GEMM policy, with one image per scratch pass if asked, through
 * im2col columns even where windows of padded copies would serve if asked, and the forward
 * pass and the weight gradient by the given paths (where they apply; 0: the path measured
 * fastest). */
static void check_all_shapes(ykd_test *t, const char *policy, bool one_image_per_pass,
                             bool columns_only, ykd_conv_forward_path forward,
                             ykd_conv_weight_grad_path weight_grad)
{
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err) ||
        !CHECK_OK(t, ykd_ops_set_gemm_policy(t->device, policy, &err), err))
        return;
    state->column_budget = one_image_per_pass ? 1 : 0;
    state->columns_only = columns_only;
    state->conv_forward = forward;
    state->conv_weight_grad = weight_grad;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_shape(t, &shapes[s], 1000 + s);
    state->column_budget = 0;
    state->columns_only = false;
    state->conv_forward = YKD_CONV_FWD_CHOOSE;
    state->conv_weight_grad = YKD_CONV_WGRAD_CHOOSE;
}

static void test_windows_with_tiles(ykd_test *t)
{
    check_all_shapes(t, "tiled-6x2", false, false, YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_WINDOWS);
}

static void test_windows_with_other_tiles_one_image_per_pass(ykd_test *t)
{
    check_all_shapes(t, "tiled-8x1", true, false, YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_WINDOWS);
}

static void test_columns_with_tiles(ykd_test *t)
{
    check_all_shapes(t, "tiled-12x1", false, true, YKD_CONV_FWD_COLUMNS, YKD_CONV_WGRAD_COLUMNS);
}

static void test_columns_with_tiles_one_image_per_pass(ykd_test *t)
{
    check_all_shapes(t, "tiled-4x2", true, true, YKD_CONV_FWD_COLUMNS, YKD_CONV_WGRAD_COLUMNS);
}

static void test_weight_grad_rows_with_tiles(ykd_test *t)
{
    check_all_shapes(t, "tiled-6x2", false, false, YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_ROWS);
}

static void test_weight_grad_rows_one_image_per_pass(ykd_test *t)
{
    check_all_shapes(t, "tiled-4x2", true, false, YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_ROWS);
}

static void test_winograd_with_tiles(ykd_test *t)
{
    check_all_shapes(t, "tiled-6x2", false, false, YKD_CONV_FWD_WINOGRAD,
                     YKD_CONV_WGRAD_WINDOWS);
}

static void test_winograd_one_image_per_pass(ykd_test *t)
{
    check_all_shapes(t, "tiled-8x1", true, false, YKD_CONV_FWD_WINOGRAD, YKD_CONV_WGRAD_ROWS);
}

static void test_winograd_with_clblast(ykd_test *t)
{
    check_all_shapes(t, "clblast", false, false, YKD_CONV_FWD_WINOGRAD, YKD_CONV_WGRAD_COLUMNS);
}

/* The paths measured per shape: with the remembered choices and the tuning file set aside
 * (so every shape is measured now, and the file is left alone), each shape gets a choice and
 * the results pass the same comparisons (the first call measures, the accumulating one reuses
 * the choice). */
static void test_paths_measured(ykd_test *t)
{
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err))
        return;
    ykd_algo_choice *kept = state->algo_choices;
    size_t kept_count = state->algo_choice_count;
    char kept_path[sizeof state->tuning_path];
    memcpy(kept_path, state->tuning_path, sizeof kept_path);
    state->algo_choices = NULL, state->algo_choice_count = 0, state->tuning_path[0] = '\0';
    state->conv_measure_fixed = true; /* a fixed tile, so only the paths are measured */
    check_all_shapes(t, "tiled-8x1", false, false, YKD_CONV_FWD_CHOOSE, YKD_CONV_WGRAD_CHOOSE);
    state->conv_measure_fixed = false;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const ref_conv *c = &shapes[i];
        char signature[128];
        snprintf(signature, sizeof signature, "conv-wgrad n%d c%d h%d w%d o%d k%d s%d p%d", c->n,
                 c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad);
        CHECKF(t, ykd_ops_algo_lookup(state, signature) != NULL,
               "no weight-gradient path measured for %s", signature);
    }
    CHECKF(t, state->algo_choice_count > 0, "no convolution path was measured");
    free(state->algo_choices);
    state->algo_choices = kept, state->algo_choice_count = kept_count;
    memcpy(state->tuning_path, kept_path, sizeof kept_path);
}

static void test_with_clblast(ykd_test *t)
{
    check_all_shapes(t, "clblast", false, false, YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_WINDOWS);
}

/* y and x as channel views of larger tensors: a convolution writing into its slice of a
 * concatenation, reading a slice of another. */
static void test_views(ykd_test *t)
{
    const ref_conv c = {2, 3, 6, 7, 4, 3, 1, 1, 1};
    conv_data d;
    make_data(&c, &d, 77);
    ykd_tensor big_x, big_y, w;
    ykd_error err;
    float *wide_x = calloc((size_t)c.n * (c.cin + 2) * c.h * c.w, sizeof(float));
    for (int b = 0; b < c.n; b++) /* x sits at channels 1..3 of 5 */
        memcpy(wide_x + ((size_t)b * (c.cin + 2) + 1) * c.h * c.w,
               d.x + (size_t)b * c.cin * c.h * c.w, sizeof(float) * c.cin * c.h * c.w);
    if (ykd_test_upload(t, wide_x, c.n, c.cin + 2, c.h, c.w, &big_x) &&
        ykd_test_upload(t, d.w, c.cout, c.cin, c.k, c.k, &w) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, c.n, c.cout + 3, d.ho, d.wo, &big_y, &err),
                 err)) {
        CHECK_OK(t, ykd_tensor_fill(&big_y, YKD_TEST_POISON, &err), err);
        ykd_tensor x = ykd_tensor_channels(&big_x, 1, c.cin);
        ykd_tensor y = ykd_tensor_channels(&big_y, 2, c.cout);
        ykd_conv2d_params params = {1, 1, 1};
        double *expected = malloc(d.ny * sizeof *expected);
        ref_conv2d_forward(&c, d.xd, d.wd, NULL, 0, expected);
        if (CHECK_OK(t, ykd_conv2d_forward(&x, &w, NULL, &params, YKD_ACTIVATION_NONE, &y, &err),
                     err))
            ykd_test_expect_tensor(t, &y, expected, 1e-10, "forward into a view");
        ykd_tensor outside = ykd_tensor_channels(&big_y, 0, 2);
        size_t n_out = ykd_tensor_numel(&outside);
        float *rest = malloc(n_out * sizeof *rest);
        if (CHECK_OK(t, ykd_tensor_read(&outside, rest, &err), err))
            for (size_t i = 0; i < n_out; i++)
                if (!CHECKF(t, rest[i] == YKD_TEST_POISON, "channel outside the view written"))
                    break;
        free(rest);
        free(expected);
        ykd_tensor_free(&big_y);
    }
    ykd_tensor_free(&big_x);
    ykd_tensor_free(&w);
    free(wide_x);
    free_data(&d);
}

/* Inference: conv -> BN (running statistics) -> SiLU computed in float64 step by step equals
 * the fused path: the weights folded by ykd_batchnorm_fold, one convolution with the folded bias
 * and the SiLU epilogue. */
static void test_fused_conv_bn_silu(ykd_test *t)
{
    const ref_conv c = {2, 5, 9, 8, 7, 3, 1, 1, 1};
    conv_data d;
    make_data(&c, &d, 55);
    size_t cout = (size_t)c.cout;
    float *gamma = ykd_test_random_floats(cout, 61, 0.5f, 1.5f);
    float *beta = ykd_test_random_floats(cout, 62, -0.5f, 0.5f);
    float *mean = ykd_test_random_floats(cout, 63, -0.3f, 0.3f);
    float *var = ykd_test_random_floats(cout, 64, 0.2f, 2.0f);
    double *gd = widen(gamma, cout), *bd = widen(beta, cout), *md = widen(mean, cout);
    double *vd = widen(var, cout), *conv = malloc(d.ny * sizeof *conv);
    double *expected = malloc(d.ny * sizeof *expected);
    const double eps = 1e-3;
    ref_conv2d_forward(&c, d.xd, d.wd, NULL, 0, conv);
    ref_shape ys = {c.n, c.cout, d.ho, d.wo};
    ref_batchnorm_forward_infer(ys, conv, gd, bd, md, vd, eps, expected);
    ref_silu_forward(d.ny, expected, expected);

    ykd_tensor x, w, tg, tb, tm, tv, w_folded, b_folded;
    ykd_guarded y;
    ykd_error err;
    if (ykd_test_upload(t, d.x, c.n, c.cin, c.h, c.w, &x) &&
        ykd_test_upload(t, d.w, c.cout, c.cin, c.k, c.k, &w) &&
        ykd_test_upload(t, gamma, 1, c.cout, 1, 1, &tg) &&
        ykd_test_upload(t, beta, 1, c.cout, 1, 1, &tb) &&
        ykd_test_upload(t, mean, 1, c.cout, 1, 1, &tm) &&
        ykd_test_upload(t, var, 1, c.cout, 1, 1, &tv) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, c.cout, c.cin, c.k, c.k, &w_folded, &err), err) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, 1, c.cout, 1, 1, &b_folded, &err), err) &&
        ykd_test_guarded_alloc(t, c.n, c.cout, d.ho, d.wo, &y)) {
        ykd_batchnorm bn = {&tg, &tb, &tm, &tv, 0.03f, (float)eps};
        ykd_conv2d_params params = {1, 1, 1};
        if (CHECK_OK(t, ykd_batchnorm_fold(&w, NULL, &bn, &w_folded, &b_folded, &err), err) &&
            CHECK_OK(t, ykd_conv2d_forward(&x, &w_folded, &b_folded, &params,
                                           YKD_ACTIVATION_SILU, &y.tensor, &err),
                     err))
            ykd_test_expect_tensor(t, &y.tensor, expected, 1e-10, "fused conv + BN + SiLU");
        ykd_test_guards_intact(t, &y, "fused conv + BN + SiLU");
        ykd_tensor_free(&w_folded), ykd_tensor_free(&b_folded);
        ykd_test_guarded_free(&y);
    }
    ykd_tensor_free(&x), ykd_tensor_free(&w), ykd_tensor_free(&tg), ykd_tensor_free(&tb);
    ykd_tensor_free(&tm), ykd_tensor_free(&tv);
    free(gamma), free(beta), free(mean), free(var), free(gd), free(bd), free(md), free(vd);
    free(conv), free(expected);
    free_data(&d);
}

static void test_bad_operands(ykd_test *t)
{
    ykd_tensor x, w, y, w_wrong, bias_wrong;
    ykd_error err;
    ykd_conv2d_params params = {1, 1, 1};
    if (!CHECK_OK(t, ykd_tensor_alloc(t->device, 2, 3, 8, 8, &x, &err), err))
        return;
    CHECK_OK(t, ykd_tensor_alloc(t->device, 4, 3, 3, 3, &w, &err), err);
    CHECK_OK(t, ykd_tensor_alloc(t->device, 2, 4, 8, 8, &y, &err), err);
    CHECK_OK(t, ykd_tensor_alloc(t->device, 4, 2, 3, 3, &w_wrong, &err), err);
    CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 5, 1, 1, &bias_wrong, &err), err);
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w_wrong, NULL, &params, 0, &y, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "expect 2 input channels but the input [2, 3, 8, 8] has 3");
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, &bias_wrong, &params, 0, &y, &err),
                 YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "bias has shape [1, 5, 1, 1], expected [1, 4, 1, 1]");
    ykd_conv2d_params stride2 = {2, 1, 1};
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &stride2, 0, &y, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "expected [2, 4, 4, 4]");
    /* grouped convolutions exist (test-op-grouped-attention); 3 groups cannot split 4 outputs */
    ykd_conv2d_params grouped = {1, 1, 3};
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &grouped, 0, &y, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "3 groups do not divide");
    ykd_conv2d_params bad = {0, 1, 1};
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &bad, 0, &y, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    ykd_tensor tiny_x;
    if (CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 3, 1, 1, &tiny_x, &err), err)) {
        ykd_conv2d_params unpadded = {1, 0, 1};
        CHECK_STATUS(t, ykd_conv2d_forward(&tiny_x, &w, NULL, &unpadded, 0, &y, &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "does not fit the input [1, 3, 1, 1]");
        ykd_tensor_free(&tiny_x);
    }
    ykd_tensor empty = x;
    empty.n = 0;
    CHECK_STATUS(t, ykd_conv2d_forward(&empty, &w, NULL, &params, 0, &y, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_STATUS(t, ykd_conv2d_backward_weights(&x, &x, &params, false, &w, NULL, &err),
                 YKD_ERR_SHAPE, err);
    ykd_device *other = ykd_test_reopen(t, NULL);
    ykd_tensor far_y;
    if (other && CHECK_OK(t, ykd_tensor_alloc(other, 2, 4, 8, 8, &far_y, &err), err)) {
        CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &params, 0, &far_y, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "copy it first");
        ykd_tensor_free(&far_y);
    }
    ykd_device_close(other);
    CHECK(t, ykd_conv2d_out_size(640, 3, 2, 1) == 320 && ykd_conv2d_out_size(20, 5, 1, 2) == 20);
    ykd_tensor_free(&x), ykd_tensor_free(&w), ykd_tensor_free(&y), ykd_tensor_free(&w_wrong);
    ykd_tensor_free(&bias_wrong);
}

static const ykd_test_case cases[] = {
    {"conv2d: reference gradients match finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"conv2d: windows of padded copies, tiles 6x2", test_windows_with_tiles,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: windows, tiles 8x1, one image per scratch pass",
     test_windows_with_other_tiles_one_image_per_pass, YKD_TEST_EACH_DEVICE},
    {"conv2d: im2col columns, tiles 12x1", test_columns_with_tiles, YKD_TEST_EACH_DEVICE},
    {"conv2d: im2col columns, tiles 4x2, one image per scratch pass",
     test_columns_with_tiles_one_image_per_pass, YKD_TEST_EACH_DEVICE},
    {"conv2d: weight gradient by pixel rows, tiles 6x2", test_weight_grad_rows_with_tiles,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: pixel rows, tiles 4x2, one image per scratch pass",
     test_weight_grad_rows_one_image_per_pass, YKD_TEST_EACH_DEVICE},
    {"conv2d: Winograd forward and input gradient, tiles 6x2", test_winograd_with_tiles,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: Winograd, tiles 8x1, one image per scratch pass", test_winograd_one_image_per_pass,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: Winograd through CLBlast", test_winograd_with_clblast, YKD_TEST_EACH_DEVICE},
    {"conv2d: paths measured per shape", test_paths_measured,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: forward and backward through CLBlast", test_with_clblast, YKD_TEST_EACH_DEVICE},
    {"conv2d: channel views as input and output", test_views, YKD_TEST_EACH_DEVICE},
    {"conv2d: fused conv + BN + SiLU inference", test_fused_conv_bn_silu, YKD_TEST_EACH_DEVICE},
    {"conv2d: bad operands are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
