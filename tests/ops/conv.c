/* conv2d in the op table: case shape = x's [n, cin, h, w], p = {cout, k, stride, padding,
 * groups (0: 1)}; forward with a bias (OP_BIAS) and/or the SiLU epilogue (OP_SILU); backward:
 * the input gradient, then the weight and bias gradients, written or added to random values
 * (OP_ACCUMULATE); OP_STRIDED: x, dy and dx are channel views, else y is one. The entry's
 * variant (op_conv_variant, NULL for grouped convolutions, which have their own kernels)
 * picks the GEMM policy and the convolution's path. Plus the float64 gradients against finite
 * differences, channel views, the fused conv + BN + SiLU and the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "ops/ops_state.h"
#include "yolokd/ops.h"

enum { X, W, BIAS, DY, Y, DX, DW, DB };
static const char *const slot_names[OP_SLOTS] = {"x", "w", "bias", "dy", "y", "dx", "dw", "dbias"};
enum { COUT, KERNEL, STRIDE, PAD, GROUPS };

static ref_conv geometry(const op_case *c)
{
    ref_shape s = c->shape;
    int groups = c->p[GROUPS] > 1 ? c->p[GROUPS] : 1;
    return (ref_conv){s.n, s.c, s.h, s.w, c->p[COUT], c->p[KERNEL], c->p[STRIDE], c->p[PAD],
                      groups};
}

static ykd_conv2d_params params_of(const op_case *c)
{
    return (ykd_conv2d_params){.stride = c->p[STRIDE], .padding = c->p[PAD],
                               .groups = geometry(c).groups};
}

/* The GEMM policy and path the variant asks for; none for NULL. */
static bool set_path(op_io *io)
{
    const op_conv_variant *v = io->entry->variant;
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (!v)
        return true;
    if (!CHECK_OK(io->t, ykd_ops_state_get(io->t->device, &state, &err), err) ||
        !CHECK_OK(io->t, ykd_ops_set_gemm_policy(io->t->device, v->policy, &err), err))
        return false;
    state->column_budget = v->one_image_per_pass ? 1 : 0;
    state->columns_only = v->columns_only;
    state->conv_forward = v->forward;
    state->conv_weight_grad = v->weight_grad;
    state->conv_strided_grad = v->strided_grad;
    return true;
}

bool op_conv_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_conv g = geometry(io->c);
    unsigned flags = io->c->flags;
    bool accumulate = flags & OP_ACCUMULATE, strided = flags & OP_STRIDED;
    if (!set_path(io))
        return false;
    int ho = ref_conv_out(g.h, g.k, g.stride, g.pad), wo = ref_conv_out(g.w, g.k, g.stride, g.pad);
    int wc = g.cin / g.groups;
    snprintf(io->what, sizeof io->what,
             "%s: x [%d, %d, %d, %d], w [%d, %d, %d, %d], stride %d, padding %d, %d group%s%s%s%s%s",
             io->entry->name, g.n, g.cin, g.h, g.w, g.cout, wc, g.k, g.k, g.stride, g.pad,
             g.groups, g.groups > 1 ? "s" : "", flags & OP_BIAS ? ", bias" : "",
             flags & OP_SILU ? ", SiLU" : "", strided ? ", strided" : "",
             accumulate ? ", accumulating" : "");
    op_in(io, X, io->c->shape, -1, 1, strided);
    op_in(io, W, OP_SHAPE(g.cout, wc, g.k, g.k), -0.5f, 0.5f, false);
    op_in(io, BIAS, OP_SHAPE(1, g.cout, 1, 1), -0.5f, 0.5f, false);
    op_in(io, DY, OP_SHAPE(g.n, g.cout, ho, wo), -1, 1, strided);
    op_out(io, Y, OP_SHAPE(g.n, g.cout, ho, wo), !strided, OP_FORWARD);
    if (accumulate) {
        op_out_from(io, DX, io->c->shape, -1, 1, strided, OP_BACKWARD);
        op_out_from(io, DW, io->shape[W], -1, 1, false, OP_BACKWARD);
        op_out_from(io, DB, io->shape[BIAS], -1, 1, false, OP_BACKWARD);
    } else {
        op_out(io, DX, io->c->shape, strided, OP_BACKWARD);
        op_out(io, DW, io->shape[W], false, OP_BACKWARD);
        op_out(io, DB, io->shape[BIAS], false, OP_BACKWARD);
    }
    return op_setup_ok(io);
}

void op_conv_reference(op_io *io, op_phase phase)
{
    ref_conv g = geometry(io->c);
    bool silu = io->c->flags & OP_SILU, bias = io->c->flags & OP_BIAS;
    if (phase == OP_FORWARD) {
        ref_conv2d_forward(&g, io->ref[X], io->ref[W], bias ? io->ref[BIAS] : NULL, silu,
                           io->expect[Y]);
        return;
    }
    ref_conv2d_backward_input(&g, io->ref[DY], io->ref[W], io->expect[DX]);
    ref_conv2d_backward_weights(&g, io->ref[X], io->ref[DY], io->expect[DW], io->expect[DB]);
    if (io->c->flags & OP_ACCUMULATE) {
        op_add_initial(io, DX);
        op_add_initial(io, DW);
        op_add_initial(io, DB);
    }
}

ykd_status op_conv_forward(op_io *io, ykd_error *err)
{
    ykd_conv2d_params params = params_of(io->c);
    bool silu = io->c->flags & OP_SILU, bias = io->c->flags & OP_BIAS;
    return ykd_conv2d_forward(io->dev[X], io->dev[W], bias ? io->dev[BIAS] : NULL, &params,
                              silu ? YKD_ACTIVATION_SILU : YKD_ACTIVATION_NONE, io->dev[Y], err);
}

ykd_status op_conv_backward(op_io *io, ykd_error *err)
{
    ykd_conv2d_params params = params_of(io->c);
    bool accumulate = io->c->flags & OP_ACCUMULATE;
    ykd_status st = ykd_conv2d_backward_input(io->dev[DY], io->dev[W], &params, accumulate,
                                              io->dev[DX], err);
    if (st == YKD_OK)
        st = ykd_conv2d_backward_weights(io->dev[X], io->dev[DY], &params, accumulate,
                                         io->dev[DW], io->dev[DB], err);
    return st;
}

/* The paths measured per shape: with the remembered choices and the tuning file set aside (so
 * every shape is measured now, and the file is left alone), the windows entry's cases run with
 * the paths chosen by measurement under its fixed tile; each shape gets a weight-gradient
 * choice, and the results pass the entry's comparisons (the accumulating case reuses it). */
void op_conv_paths_measured(ykd_test *t)
{
    const op_entry *windows = op_find_entry("conv2d, windows of padded copies, tiles 6x2");
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (!CHECK(t, windows != NULL) ||
        !CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err))
        return;
    op_entry measured = *windows;
    measured.name = "conv2d, paths measured per shape";
    measured.reference_gradient = NULL;
    measured.variant = &(const op_conv_variant){"tiled-6x2", false, false, YKD_CONV_FWD_CHOOSE,
                                                YKD_CONV_WGRAD_CHOOSE, YKD_CONV_SGRAD_CHOOSE};
    ykd_algo_choice *kept = state->algo_choices;
    size_t kept_count = state->algo_choice_count;
    char kept_path[sizeof state->tuning_path];
    memcpy(kept_path, state->tuning_path, sizeof kept_path);
    state->algo_choices = NULL, state->algo_choice_count = 0, state->tuning_path[0] = '\0';
    state->conv_measure_fixed = true; /* a fixed tile, so only the paths are measured */
    op_run_entry(t, &measured);
    state->conv_measure_fixed = false;
    for (size_t i = 0; i < measured.case_count; i++) {
        ref_conv g = geometry(&measured.cases[i]);
        char signature[128];
        snprintf(signature, sizeof signature, "conv-wgrad n%d c%d h%d w%d o%d k%d s%d p%d", g.n,
                 g.cin, g.h, g.w, g.cout, g.k, g.stride, g.pad);
        CHECKF(t, ykd_ops_algo_lookup(state, signature) != NULL,
               "no weight-gradient path measured for %s", signature);
    }
    CHECKF(t, state->algo_choice_count > 0, "no convolution path was measured");
    free(state->algo_choices);
    state->algo_choices = kept, state->algo_choice_count = kept_count;
    memcpy(state->tuning_path, kept_path, sizeof kept_path);
}

/* ---- the float64 gradients against central differences -------------------------------------- */

typedef struct fd_data {
    ref_conv g;
    size_t ny;
    double *x, *w, *bias, *dy;
} fd_data;

/* sum(dy * conv(x, w) + bias): the scalar whose gradients the backward computes. */
static double fd_loss(const fd_data *d)
{
    double *y = malloc(d->ny * sizeof *y), sum = 0.0;
    ref_conv2d_forward(&d->g, d->x, d->w, d->bias, 0, y);
    for (size_t i = 0; i < d->ny; i++)
        sum += d->dy[i] * y[i];
    free(y);
    return sum;
}

/* Central differences of the loss along a few coordinates of v against grad. */
static void check_differences(ykd_test *t, const fd_data *d, double *v, size_t n,
                              const double *grad, const char *what)
{
    const double h = 1e-3;
    for (size_t s = 0; s < 7; s++) {
        size_t i = (s * 7919 + 3) % n;
        double saved = v[i];
        v[i] = saved + h;
        double up = fd_loss(d);
        v[i] = saved - h;
        double down = fd_loss(d);
        v[i] = saved;
        double numeric = (up - down) / (2 * h);
        CHECKF(t, fabs(numeric - grad[i]) <= 1e-7 * (1.0 + fabs(grad[i])),
               "%s[%zu]: finite difference %.12g, reference gradient %.12g", what, i, numeric,
               grad[i]);
    }
}

/* ref_conv2d_forward of x and w (no bias) as a function of one of them, for
 * ykd_test_numeric_gradient. */
typedef struct fd_by {
    const fd_data *d;
    bool weights;
} fd_by;

static void fd_forward(void *ctx, const double *v, double *y)
{
    const fd_by *f = ctx;
    const fd_data *d = f->d;
    ref_conv2d_forward(&d->g, f->weights ? d->x : v, f->weights ? v : d->w, NULL, 0, y);
}

/* Central differences along every coordinate of x and w: the convolution is linear in each,
 * so they are exact up to rounding (an NMSE far below 1e-18). Run where that costs under
 * ~4e8 multiply-adds. */
static void check_every_difference(ykd_test *t, ykd_test_mem *m, const fd_data *d, size_t nx,
                                   size_t nw, const double *dx, const double *dw)
{
    const ref_conv *g = &d->g;
    double cost = (double)(nx + nw) * (double)d->ny * (g->cin / g->groups) * g->k * g->k;
    if (cost > 2e8)
        return;
    double *num_x = ykd_test_doubles(m, nx), *num_w = ykd_test_doubles(m, nw);
    fd_by by_x = {d, false}, by_w = {d, true};
    ykd_test_numeric_gradient(fd_forward, &by_x, d->x, nx, d->dy, d->ny, 1e-3, num_x);
    ykd_test_numeric_gradient(fd_forward, &by_w, d->w, nw, d->dy, d->ny, 1e-3, num_w);
    ykd_test_expect_close(t, dx, num_x, nx, 1e-18, "dx, every coordinate");
    ykd_test_expect_close(t, dw, num_w, nw, 1e-18, "dw, every coordinate");
}

/* Every shape of the entry (the plain cases): a few coordinates of dx, dw and dbias, and
 * every coordinate of dx and dw where that is cheap. */
void op_conv_reference_gradient(ykd_test *t, const op_entry *e)
{
    for (size_t s = 0; s < e->case_count; s++) {
        if (e->cases[s].flags & OP_ACCUMULATE)
            continue;
        ykd_test_mem m = {0};
        fd_data d = {.g = geometry(&e->cases[s])};
        ref_conv g = d.g;
        int ho = ref_conv_out(g.h, g.k, g.stride, g.pad);
        int wo = ref_conv_out(g.w, g.k, g.stride, g.pad);
        size_t nx = (size_t)g.n * g.cin * g.h * g.w;
        size_t nw = (size_t)g.cout * (g.cin / g.groups) * g.k * g.k;
        d.ny = (size_t)g.n * g.cout * ho * wo;
        ykd_test_inputs(&m, nx, 100 + s, -1, 1, &d.x);
        ykd_test_inputs(&m, nw, 101 + s, -0.5f, 0.5f, &d.w);
        ykd_test_inputs(&m, (size_t)g.cout, 102 + s, -0.5f, 0.5f, &d.bias);
        ykd_test_inputs(&m, d.ny, 103 + s, -1, 1, &d.dy);
        double *dx = ykd_test_doubles(&m, nx), *dw = ykd_test_doubles(&m, nw);
        double *db = ykd_test_doubles(&m, (size_t)g.cout);
        ref_conv2d_backward_input(&g, d.dy, d.w, dx);
        ref_conv2d_backward_weights(&g, d.x, d.dy, dw, db);
        check_differences(t, &d, d.x, nx, dx, "dx");
        check_differences(t, &d, d.w, nw, dw, "dw");
        check_differences(t, &d, d.bias, (size_t)g.cout, db, "dbias");
        check_every_difference(t, &m, &d, nx, nw, dx, dw);
        ykd_test_mem_free(&m);
    }
}

/* ---- plain tests --------------------------------------------------------------------------- */

/* y and x as channel views of larger tensors: a convolution writing into its slice of a
 * concatenation, reading a slice of another. */
void op_conv_views(ykd_test *t)
{
    const ref_conv c = {2, 3, 6, 7, 4, 3, 1, 1, 1};
    ykd_test_mem m = {0};
    int ho = 6, wo = 7;
    size_t nx = (size_t)c.n * c.cin * c.h * c.w, ny = (size_t)c.n * c.cout * ho * wo;
    double *xd, *wd, *expected = ykd_test_doubles(&m, ny);
    float *x = ykd_test_inputs(&m, nx, 77, -1, 1, &xd);
    float *w = ykd_test_inputs(&m, (size_t)c.cout * c.cin * 9, 78, -0.5f, 0.5f, &wd);
    float *wide_x = ykd_test_keep(&m, calloc((size_t)c.n * (c.cin + 2) * c.h * c.w, sizeof(float)));
    for (int b = 0; wide_x && b < c.n; b++) /* x sits at channels 1..3 of 5 */
        memcpy(wide_x + ((size_t)b * (c.cin + 2) + 1) * c.h * c.w,
               x + (size_t)b * c.cin * c.h * c.w, sizeof(float) * c.cin * c.h * c.w);
    const ykd_tensor *big_x =
        wide_x ? ykd_test_in(t, &m, wide_x, c.n, c.cin + 2, c.h, c.w, false) : NULL;
    const ykd_tensor *gw = ykd_test_in(t, &m, w, c.cout, c.cin, 3, 3, false);
    const ykd_tensor *big_y = ykd_test_out(t, &m, c.n, c.cout + 3, ho, wo, false);
    ykd_error err;
    if (big_x && gw && big_y) {
        ykd_tensor vx = ykd_tensor_channels(big_x, 1, c.cin);
        ykd_tensor vy = ykd_tensor_channels(big_y, 2, c.cout);
        ykd_conv2d_params params = {.stride = 1, .padding = 1, .groups = 1};
        ref_conv2d_forward(&c, xd, wd, NULL, 0, expected);
        if (CHECK_OK(t, ykd_conv2d_forward(&vx, gw, NULL, &params, YKD_ACTIVATION_NONE, &vy, &err),
                     err))
            ykd_test_expect_tensor(t, &vy, expected, 1e-10, "forward into a view");
        ykd_tensor outside = ykd_tensor_channels(big_y, 0, 2);
        ykd_test_expect_all_poison(t, &outside, "channels outside the view");
    }
    ykd_test_mem_guards_intact(t, &m, "conv views");
    ykd_test_mem_free(&m);
}

/* Inference: conv -> BN (running statistics) -> SiLU computed in float64 step by step equals
 * the fused path: the weights folded by ykd_batchnorm_fold, one convolution with the folded bias
 * and the SiLU epilogue. */
void op_conv_fused_bn_silu(ykd_test *t)
{
    const ref_conv c = {2, 5, 9, 8, 7, 3, 1, 1, 1};
    const double eps = 1e-3;
    ykd_test_mem m = {0};
    size_t nx = (size_t)c.n * c.cin * c.h * c.w, nw = (size_t)c.cout * c.cin * 9;
    size_t ny = (size_t)c.n * c.cout * c.h * c.w, cout = (size_t)c.cout;
    double *xd, *wd, *gd, *bd, *md, *vd;
    float *x = ykd_test_inputs(&m, nx, 55, -1, 1, &xd);
    float *w = ykd_test_inputs(&m, nw, 56, -0.5f, 0.5f, &wd);
    float *gamma = ykd_test_inputs(&m, cout, 61, 0.5f, 1.5f, &gd);
    float *beta = ykd_test_inputs(&m, cout, 62, -0.5f, 0.5f, &bd);
    float *mean = ykd_test_inputs(&m, cout, 63, -0.3f, 0.3f, &md);
    float *var = ykd_test_inputs(&m, cout, 64, 0.2f, 2.0f, &vd);
    double *conv = ykd_test_doubles(&m, ny), *expected = ykd_test_doubles(&m, ny);
    ref_conv2d_forward(&c, xd, wd, NULL, 0, conv);
    ref_batchnorm_forward_infer((ref_shape){c.n, c.cout, c.h, c.w}, conv, gd, bd, md, vd, eps,
                                expected);
    ref_silu_forward(ny, expected, expected);
    const ykd_tensor *gx = ykd_test_in(t, &m, x, c.n, c.cin, c.h, c.w, false);
    const ykd_tensor *gw = ykd_test_in(t, &m, w, c.cout, c.cin, 3, 3, false);
    ykd_batchnorm bn = {ykd_test_in(t, &m, gamma, 1, c.cout, 1, 1, false),
                        ykd_test_in(t, &m, beta, 1, c.cout, 1, 1, false),
                        ykd_test_in(t, &m, mean, 1, c.cout, 1, 1, false),
                        ykd_test_in(t, &m, var, 1, c.cout, 1, 1, false), 0.03f, (float)eps};
    const ykd_tensor *w_folded = ykd_test_out(t, &m, c.cout, c.cin, 3, 3, false);
    const ykd_tensor *b_folded = ykd_test_out(t, &m, 1, c.cout, 1, 1, false);
    const ykd_tensor *y = ykd_test_out(t, &m, c.n, c.cout, c.h, c.w, false);
    ykd_conv2d_params params = {.stride = 1, .padding = 1, .groups = 1};
    ykd_error err;
    if (gx && gw && bn.gamma && bn.beta && bn.running_mean && bn.running_var && w_folded &&
        b_folded && y &&
        CHECK_OK(t, ykd_batchnorm_fold(gw, NULL, &bn, w_folded, b_folded, &err), err) &&
        CHECK_OK(t, ykd_conv2d_forward(gx, w_folded, b_folded, &params, YKD_ACTIVATION_SILU, y,
                                       &err),
                 err))
        ykd_test_expect_tensor(t, y, expected, 1e-10, "fused conv + BN + SiLU");
    ykd_test_mem_guards_intact(t, &m, "fused conv + BN + SiLU");
    ykd_test_mem_free(&m);
}

/* One cache given batches whose Winograd products take different layouts of U (F(5x5) on
 * 10x9 planes: 2 images have 8 tiles, fewer than a vector of the GEMM's columns, so the tiles
 * are the products' rows and U is stored transposed; 4 images have 16): each call's result
 * right, 2 images, then 4, then 2 again. c is the 2-image shape; gx, gw, gb its tensors. */
static void conv_cache_across_batches(ykd_test *t, ykd_test_mem *m, const ref_conv *c,
                                      const ykd_tensor *gx, const double *xd,
                                      const ykd_tensor *gw, const double *wd,
                                      const ykd_tensor *gb, const double *bd,
                                      ykd_conv2d_cache *cache)
{
    ref_conv four = *c;
    four.n = 4;
    size_t nx = (size_t)four.n * c->cin * c->h * c->w, ny = (size_t)c->cout * c->h * c->w;
    double *x4d, *expected2 = ykd_test_doubles(m, 2 * ny), *expected4 = ykd_test_doubles(m, 4 * ny);
    float *x4 = ykd_test_inputs(m, nx, 95, -1, 1, &x4d);
    const ykd_tensor *gx4 = ykd_test_in(t, m, x4, 4, c->cin, c->h, c->w, false);
    const ykd_tensor *y2 = ykd_test_out(t, m, 2, c->cout, c->h, c->w, false);
    const ykd_tensor *y4 = ykd_test_out(t, m, 4, c->cout, c->h, c->w, false);
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (!expected2 || !expected4 || !gx4 || !y2 || !y4 ||
        !CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err))
        return;
    ref_conv2d_forward(c, xd, wd, bd, 1, expected2);
    ref_conv2d_forward(&four, x4d, wd, bd, 1, expected4);
    state->conv_forward = YKD_CONV_FWD_WINOGRAD5;
    ykd_conv2d_params params = {.stride = 1, .padding = 1, .groups = 1, .cache = cache};
    const ykd_tensor *xs[] = {gx, gx4, gx}, *ys[] = {y2, y4, y2};
    const double *expected[] = {expected2, expected4, expected2};
    for (int call = 0; call < 3; call++) {
        char what[96];
        snprintf(what, sizeof what, "Winograd F(5x5), call %d with a cache, %d images", call + 1,
                 call == 1 ? 4 : 2);
        if (!CHECK_OK(t, ykd_conv2d_forward(xs[call], gw, gb, &params, YKD_ACTIVATION_SILU,
                                            ys[call], &err),
                      err) ||
            !ykd_test_expect_tensor(t, ys[call], expected[call], 1e-10, what))
            break;
    }
}

/* A weights cache (ykd_conv2d_params.cache) on every forward path: the same results on the
 * call that fills it and the call that reuses it, other weights given to it remade rather than
 * read stale, new values of the same weights read after a clear, and batches whose Winograd
 * products take U in different layouts (conv_cache_across_batches). */
void op_conv_weights_cache(ykd_test *t)
{
    const ref_conv c = {2, 17, 10, 9, 33, 3, 1, 1, 1};
    ykd_test_mem m = {0};
    size_t nx = (size_t)c.n * c.cin * c.h * c.w, nw = (size_t)c.cout * c.cin * 9;
    size_t ny = (size_t)c.n * c.cout * c.h * c.w;
    double *xd, *wd[2], *bd, *expected[2] = {ykd_test_doubles(&m, ny), ykd_test_doubles(&m, ny)};
    float *x = ykd_test_inputs(&m, nx, 91, -1, 1, &xd);
    float *w[2] = {ykd_test_inputs(&m, nw, 92, -0.5f, 0.5f, &wd[0]),
                   ykd_test_inputs(&m, nw, 93, -0.5f, 0.5f, &wd[1])};
    float *bias = ykd_test_inputs(&m, (size_t)c.cout, 94, -0.5f, 0.5f, &bd);
    for (int i = 0; i < 2; i++)
        if (expected[i] && wd[i])
            ref_conv2d_forward(&c, xd, wd[i], bd, 1, expected[i]);
    const ykd_tensor *gx = ykd_test_in(t, &m, x, c.n, c.cin, c.h, c.w, false);
    const ykd_tensor *gw[2] = {ykd_test_in(t, &m, w[0], c.cout, c.cin, 3, 3, false),
                               ykd_test_in(t, &m, w[1], c.cout, c.cin, 3, 3, false)};
    const ykd_tensor *gb = ykd_test_in(t, &m, bias, 1, c.cout, 1, 1, false);
    const ykd_tensor *y = ykd_test_out(t, &m, c.n, c.cout, c.h, c.w, false);
    ykd_ops_state *state = NULL;
    ykd_conv2d_cache *cache = NULL;
    ykd_error err;
    if (!gx || !gw[0] || !gw[1] || !gb || !y ||
        !CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err) ||
        !CHECK_OK(t, ykd_ops_set_gemm_policy(t->device, "tiled-6x2", &err), err) ||
        !CHECK_OK(t, ykd_conv2d_cache_new(&cache, &err), err)) {
        ykd_test_mem_free(&m);
        return;
    }
    static const int paths[] = {YKD_CONV_FWD_COLUMNS, YKD_CONV_FWD_WINDOWS,
                                YKD_CONV_FWD_WINOGRAD, YKD_CONV_FWD_ROWS,
                                YKD_CONV_FWD_WINOGRAD5};
    static const char *const names[] = {"columns", "windows", "Winograd", "pixel rows",
                                        "Winograd F(5x5)"};
    ykd_conv2d_params params = {.stride = 1, .padding = 1, .groups = 1, .cache = cache};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        state->conv_forward = paths[p];
        /* weights 0 (fills the cache), again (reuses it), weights 1 (remade), then weights 1
         * overwritten with weights 0's values and the cache cleared */
        const int given[] = {0, 0, 1, 1}, expect[] = {0, 0, 1, 0};
        for (int call = 0; call < 4; call++) {
            char what[96];
            snprintf(what, sizeof what, "%s path, call %d with a cache", names[p], call + 1);
            if (call == 3 &&
                !CHECK_OK(t, ykd_buffer_copy(gw[1]->buffer, gw[1]->offset * sizeof(float),
                                             gw[0]->buffer, gw[0]->offset * sizeof(float),
                                             nw * sizeof(float), &err),
                          err))
                break;
            if (call == 3)
                ykd_conv2d_cache_clear(cache);
            if (!CHECK_OK(t, ykd_conv2d_forward(gx, gw[given[call]], gb, &params,
                                                YKD_ACTIVATION_SILU, y, &err),
                          err) ||
                !ykd_test_expect_tensor(t, y, expected[expect[call]], 1e-10, what))
                break;
        }
        /* weights 1 back to their own values for the next path */
        CHECK_OK(t,
                 ykd_buffer_write(gw[1]->buffer, gw[1]->offset * sizeof(float), w[1],
                                  nw * sizeof(float), &err),
                 err);
        ykd_conv2d_cache_clear(cache);
    }
    conv_cache_across_batches(t, &m, &c, gx, xd, gw[0], wd[0], gb, bd, cache);
    state->conv_forward = 0;
    ykd_conv2d_cache_free(cache);
    CHECK_OK(t, ykd_ops_set_gemm_policy(t->device, getenv("YOLOKD_GEMM"), &err), err);
    ykd_test_mem_guards_intact(t, &m, "conv weights cache");
    ykd_test_mem_free(&m);
}

/* One geometry of op_conv_winograd_whole_buffer: x in a buffer of its own size, so that the
 * input transform's loads at the first and last rows would leave the buffer, and take the
 * per-lane path there. */
static void winograd_whole_buffer_case(ykd_test *t, const ref_conv *c, const char *tile)
{
    ykd_test_mem m = {0};
    int ho = ref_conv_out(c->h, 3, 1, c->pad), wo = ref_conv_out(c->w, 3, 1, c->pad);
    size_t nx = (size_t)c->n * c->cin * c->h * c->w, nw = (size_t)c->cout * c->cin * 9;
    double *xd, *wd, *bd, *expected = ykd_test_doubles(&m, (size_t)c->n * c->cout * ho * wo);
    float *x = ykd_test_inputs(&m, nx, 95, -1, 1, &xd);
    float *w = ykd_test_inputs(&m, nw, 96, -0.5f, 0.5f, &wd);
    float *bias = ykd_test_inputs(&m, (size_t)c->cout, 97, -0.5f, 0.5f, &bd);
    const ykd_tensor *gw = ykd_test_in(t, &m, w, c->cout, c->cin, 3, 3, false);
    const ykd_tensor *gb = ykd_test_in(t, &m, bias, 1, c->cout, 1, 1, false);
    const ykd_tensor *y = ykd_test_out(t, &m, c->n, c->cout, ho, wo, false);
    ykd_tensor gx = {0};
    ykd_error err;
    char what[96];
    snprintf(what, sizeof what, "Winograd %s, x of %dx%d alone in its buffer, padding %d", tile,
             c->h, c->w, c->pad);
    if (expected && xd && gw && gb && y &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, c->n, c->cin, c->h, c->w, &gx, &err), err) &&
        CHECK_OK(t, ykd_tensor_write(&gx, x, &err), err)) {
        ref_conv2d_forward(c, xd, wd, bd, 1, expected);
        ykd_conv2d_params params = {.stride = 1, .padding = c->pad, .groups = 1};
        if (CHECK_OK(t, ykd_conv2d_forward(&gx, gw, gb, &params, YKD_ACTIVATION_SILU, y, &err),
                     err))
            ykd_test_expect_tensor(t, y, expected, 1e-10, what);
    }
    ykd_tensor_free(&gx);
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

/* Winograd's input transform reads x in place, zeros outside its planes; the loads that would
 * leave x's buffer (its first row behind the padding, its last rows with the lanes past the
 * row) go lane by lane. F(4x4) and F(5x5), strips of 4 tiles (planes up to 16 or 20 wide) and
 * of 8, paddings 0, 1, 2. */
void op_conv_winograd_whole_buffer(ykd_test *t)
{
    static const ref_conv cases[] = {
        {2, 3, 7, 9, 5, 3, 1, 1, 1},
        {1, 3, 11, 38, 4, 3, 1, 0, 1},
        {1, 5, 20, 20, 6, 3, 1, 1, 1},
        {2, 2, 6, 6, 3, 3, 1, 2, 1},
        {1, 2, 8, 43, 3, 3, 1, 1, 1}, /* two strips of 8 at either tile */
    };
    static const int paths[] = {YKD_CONV_FWD_WINOGRAD, YKD_CONV_FWD_WINOGRAD5};
    static const char *const tiles[] = {"F(4x4)", "F(5x5)"};
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err))
        return;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        state->conv_forward = paths[p];
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            winograd_whole_buffer_case(t, &cases[i], tiles[p]);
    }
    state->conv_forward = 0;
}

/* One geometry of op_conv_saved_copy: x[0] and x[1] two inputs, each with its own tensor,
 * the same dy, and the float64 weight gradient of each. */
typedef struct saved_case {
    ref_conv c;
    size_t nx;
    float *x[2];
    const ykd_tensor *gx[2], *gdy, *gw, *y, *dw;
    double *expected_y[2], *expected_dw[2];
} saved_case;

static bool saved_case_make(ykd_test *t, ykd_test_mem *m, const ref_conv *c, saved_case *sc)
{
    int ho = ref_conv_out(c->h, c->k, c->stride, c->pad);
    int wo = ref_conv_out(c->w, c->k, c->stride, c->pad);
    size_t nw = (size_t)c->cout * c->cin * c->k * c->k, ny = (size_t)c->n * c->cout * ho * wo;
    *sc = (saved_case){.c = *c, .nx = (size_t)c->n * c->cin * c->h * c->w};
    double *xd[2], *dyd, *wd;
    float *dy = ykd_test_inputs(m, ny, 72, -1, 1, &dyd);
    float *w = ykd_test_inputs(m, nw, 73, -0.5f, 0.5f, &wd);
    for (int i = 0; i < 2; i++) {
        sc->x[i] = ykd_test_inputs(m, sc->nx, 70 + (uint64_t)i, -1, 1, &xd[i]);
        sc->expected_y[i] = ykd_test_doubles(m, ny);
        sc->expected_dw[i] = ykd_test_doubles(m, nw);
        if (!sc->x[i] || !sc->expected_y[i] || !sc->expected_dw[i] || !dyd || !wd)
            return CHECK(t, false);
        ref_conv2d_forward(c, xd[i], wd, NULL, 0, sc->expected_y[i]);
        ref_conv2d_backward_weights(c, xd[i], dyd, sc->expected_dw[i], NULL);
        sc->gx[i] = ykd_test_in(t, m, sc->x[i], c->n, c->cin, c->h, c->w, false);
    }
    sc->gdy = ykd_test_in(t, m, dy, c->n, c->cout, ho, wo, false);
    sc->gw = ykd_test_in(t, m, w, c->cout, c->cin, c->k, c->k, false);
    sc->y = ykd_test_out(t, m, c->n, c->cout, ho, wo, false);
    sc->dw = ykd_test_out(t, m, c->cout, c->cin, c->k, c->k, false);
    return sc->gx[0] && sc->gx[1] && sc->gdy && sc->gw && sc->y && sc->dw;
}

/* x[0]'s tensor given the values of x[which]. */
static bool saved_case_set_x0(ykd_test *t, const saved_case *sc, int which)
{
    ykd_error err;
    return CHECK_OK(t,
                    ykd_buffer_write(sc->gx[0]->buffer, sc->gx[0]->offset * sizeof(float),
                                     sc->x[which], sc->nx * sizeof(float), &err),
                    err);
}

static ykd_conv2d_params saved_case_params(const saved_case *sc, ykd_conv2d_saved *saved)
{
    return (ykd_conv2d_params){.stride = sc->c.stride, .padding = sc->c.pad, .groups = 1,
                               .saved = saved};
}

/* The forward over x[0]'s tensor with saved, the tensor holding x[values]. */
static bool saved_case_forward(ykd_test *t, const saved_case *sc, ykd_conv2d_saved *saved,
                               int values)
{
    ykd_conv2d_params params = saved_case_params(sc, saved);
    ykd_error err;
    return CHECK_OK(t,
                    ykd_conv2d_forward(sc->gx[0], sc->gw, NULL, &params, YKD_ACTIVATION_NONE,
                                       sc->y, &err),
                    err) &&
           ykd_test_expect_tensor(t, sc->y, sc->expected_y[values], 1e-10,
                                  "the forward with a saved object");
}

/* The weight gradient over x_tensor with saved, expected to be that of x[expect]. */
static bool saved_case_grad(ykd_test *t, const saved_case *sc, ykd_conv2d_saved *saved,
                            int x_tensor, int expect, const char *what)
{
    ykd_conv2d_params params = saved_case_params(sc, saved);
    ykd_error err;
    char full[160];
    snprintf(full, sizeof full, "x [%d, %d, %d, %d], k %d, stride %d: %s", sc->c.n, sc->c.cin,
             sc->c.h, sc->c.w, sc->c.k, sc->c.stride, what);
    return CHECK_OK(t,
                    ykd_conv2d_backward_weights(sc->gx[x_tensor], sc->gdy, &params, false,
                                                sc->dw, NULL, &err),
                    err) &&
           ykd_test_expect_tensor(t, sc->dw, sc->expected_dw[expect], 1e-10, full);
}

/* The steps of op_conv_saved_copy on one geometry. Changing x between a forward and its
 * backward breaks the saved object's contract on purpose: which values the gradient reflects
 * shows whether it read the forward's copy or made its own. */
static void saved_case_run(ykd_test *t, ykd_ops_state *state, const saved_case *sc,
                           ykd_conv2d_saved *saved)
{
    state->conv_forward = YKD_CONV_FWD_ROWS, state->conv_weight_grad = YKD_CONV_WGRAD_ROWS;
    bool ok = saved_case_set_x0(t, sc, 0) && saved_case_forward(t, sc, saved, 0) &&
              saved_case_grad(t, sc, saved, 0, 0, "forward, then its weight gradient");
    /* x changed after the forward: the forward's copy read, then (taken) no longer */
    ok = ok && saved_case_set_x0(t, sc, 1) && saved_case_forward(t, sc, saved, 1) &&
         saved_case_set_x0(t, sc, 0) &&
         saved_case_grad(t, sc, saved, 0, 1, "the forward's copy read") &&
         saved_case_grad(t, sc, saved, 0, 0, "a second weight gradient makes its own");
    /* another input tensor: not the forward's copy */
    ok = ok && saved_case_forward(t, sc, saved, 0) &&
         saved_case_grad(t, sc, saved, 1, 1, "another input makes its own");
    /* a weight gradient by another path: the forward keeps nothing */
    state->conv_weight_grad = YKD_CONV_WGRAD_COLUMNS;
    ok = ok && saved_case_forward(t, sc, saved, 0);
    state->conv_weight_grad = YKD_CONV_WGRAD_ROWS;
    ok = ok && saved_case_set_x0(t, sc, 1) &&
         saved_case_grad(t, sc, saved, 0, 1, "nothing kept for a gradient by columns");
}

/* A saved object (ykd_conv2d_params.saved) between a forward and its weight gradient by pixel
 * rows: the forward and the gradient against float64, the copy read once, and only for the
 * input it was made from; with every image in one scratch pass and with one image per pass. */
void op_conv_saved_copy(ykd_test *t)
{
    static const ref_conv geometries[] = {{2, 17, 10, 9, 33, 3, 1, 1, 1},
                                          {2, 20, 9, 11, 24, 3, 2, 1, 1},
                                          {3, 5, 5, 6, 7, 1, 1, 0, 1}};
    ykd_ops_state *state = NULL;
    ykd_conv2d_saved *saved = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_ops_state_get(t->device, &state, &err), err) ||
        !CHECK_OK(t, ykd_ops_set_gemm_policy(t->device, "tiled-6x2", &err), err) ||
        !CHECK_OK(t, ykd_conv2d_saved_new(&saved, &err), err))
        return;
    for (size_t g = 0; g < sizeof geometries / sizeof geometries[0]; g++)
        for (int one_image = 0; one_image < 2; one_image++) {
            ykd_test_mem m = {0};
            saved_case sc;
            state->column_budget = one_image ? 1 : 0;
            if (saved_case_make(t, &m, &geometries[g], &sc))
                saved_case_run(t, state, &sc, saved);
            ykd_test_mem_guards_intact(t, &m, "conv saved copy");
            ykd_test_mem_free(&m);
        }
    state->column_budget = 0, state->conv_forward = 0, state->conv_weight_grad = 0;
    ykd_conv2d_saved_free(saved);
    CHECK_OK(t, ykd_ops_set_gemm_policy(t->device, getenv("YOLOKD_GEMM"), &err), err);
}

void op_conv_refusals(ykd_test *t)
{
    ykd_tensor x, w, y, w_wrong, bias_wrong;
    ykd_error err;
    ykd_conv2d_params params = {.stride = 1, .padding = 1, .groups = 1};
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
    ykd_conv2d_params stride2 = {.stride = 2, .padding = 1, .groups = 1};
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &stride2, 0, &y, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "expected [2, 4, 4, 4]");
    /* grouped convolutions exist (their own entries); 3 groups cannot split 4 outputs */
    ykd_conv2d_params grouped = {.stride = 1, .padding = 1, .groups = 3};
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &grouped, 0, &y, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "3 groups do not divide");
    ykd_conv2d_params bad = {.stride = 0, .padding = 1, .groups = 1};
    CHECK_STATUS(t, ykd_conv2d_forward(&x, &w, NULL, &bad, 0, &y, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    ykd_tensor tiny_x;
    if (CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 3, 1, 1, &tiny_x, &err), err)) {
        ykd_conv2d_params unpadded = {.stride = 1, .padding = 0, .groups = 1};
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

/* Groups that do not divide the channels, weights of the wrong depth, negative groups. */
void op_conv_grouped_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 1, 6, 5, 5, false);
    const ykd_tensor *w = ykd_test_out(t, &m, 6, 1, 3, 3, false);
    const ykd_tensor *w4 = ykd_test_out(t, &m, 4, 2, 3, 3, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 1, 6, 5, 5, false);
    ykd_error err;
    if (x && w && w4 && y) {
        ykd_conv2d_params four = {.stride = 1, .padding = 1, .groups = 4};
        ykd_conv2d_params two = {.stride = 1, .padding = 1, .groups = 2};
        ykd_conv2d_params negative = {.stride = 1, .padding = 1, .groups = -3};
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
