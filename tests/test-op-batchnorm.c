/* Batch normalisation on every device against the float64 reference: training forward (with
 * the running statistics), inference forward, backward, folding; the reference backward
 * against finite differences; the GPU work split run on this device; bad operands. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "device/device_internal.h"
#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

static const float eps = 1e-3f, momentum = 0.03f;

/* Batch statistics over N*H*W from 16 to 8184 values, odd planes, 1x1 planes, one image. */
static const ref_shape shapes[] = {
    {2, 3, 5, 7}, {16, 3, 1, 1}, {4, 19, 20, 20}, {8, 5, 31, 33}, {1, 2, 80, 80},
};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

/* Measured up to 6e-14, but 5e-11 where the mean is 100 (90 standard deviations): float
 * rounds each value's deviation from the mean at ulp(100) = 8e-6, some 7e-6 of the variance.
 * (E[x^2] - E[x]^2 in float would be ~1e-7 there.) 1e-9 leaves room for other devices. */
static const double max_nmse = 1e-9;

/* A case's host data: x (offset by `offset`, so a mean far from 0 tests the variance), dy,
 * and the per-channel parameters, as floats and float64. */
typedef struct bn_data {
    ref_shape s;
    float *x, *dy, *gamma, *beta, *rmean, *rvar;
    double *xd, *dyd, *gammad, *betad, *rmeand, *rvard;
} bn_data;

static bn_data bn_data_make(ykd_test_mem *m, ref_shape s, float offset, uint64_t seed)
{
    bn_data d = {.s = s};
    size_t n = ref_numel(s), c = (size_t)s.c;
    d.x = ykd_test_inputs(m, n, seed, offset - 2.0f, offset + 2.0f, &d.xd);
    d.dy = ykd_test_inputs(m, n, seed + 1, -1, 1, &d.dyd);
    d.gamma = ykd_test_inputs(m, c, seed + 2, 0.5f, 1.5f, &d.gammad);
    d.beta = ykd_test_inputs(m, c, seed + 3, -0.5f, 0.5f, &d.betad);
    d.rmean = ykd_test_inputs(m, c, seed + 4, -1, 1, &d.rmeand);
    d.rvar = ykd_test_inputs(m, c, seed + 5, 0.5f, 2.0f, &d.rvard);
    return d;
}

/* A per-channel tensor [1, C, 1, 1] holding values (guarded, kept by m). */
static const ykd_tensor *channel_in(ykd_test *t, ykd_test_mem *m, const float *values, int c)
{
    return ykd_test_in(t, m, values, 1, c, 1, 1, false);
}

static const ykd_tensor *channel_out(ykd_test *t, ykd_test_mem *m, int c)
{
    return ykd_test_out(t, m, 1, c, 1, 1, false);
}

/* Training forward on dev against the reference: y, saved statistics, running statistics. */
static void check_train(ykd_test *t, ykd_device *dev, ref_shape s, float offset, bool strided,
                        bool in_place)
{
    ykd_test_mem m = {0};
    ykd_device *keep = t->device;
    t->device = dev;
    bn_data d = bn_data_make(&m, s, offset, 7 + ref_numel(s));
    size_t n = ref_numel(s);
    double *y = ykd_test_doubles(&m, n), *mean = ykd_test_doubles(&m, s.c);
    double *invstd = ykd_test_doubles(&m, s.c), *var = ykd_test_doubles(&m, s.c);
    ref_batchnorm_forward_train(s, d.xd, d.gammad, d.betad, eps, y, mean, invstd, var);
    for (int c = 0; c < s.c; c++) {
        d.rmeand[c] = (1.0 - momentum) * d.rmeand[c] + momentum * mean[c];
        d.rvard[c] = (1.0 - momentum) * d.rvard[c] + momentum * var[c];
    }
    char what[128];
    snprintf(what, sizeof what, "batchnorm train [%d, %d, %d, %d] mean %g%s%s", s.n, s.c, s.h,
             s.w, offset, strided ? " strided" : "", in_place ? " in place" : "");
    const ykd_tensor *gx = ykd_test_in(t, &m, d.x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gy = in_place ? gx : ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    ykd_batchnorm bn = {channel_in(t, &m, d.gamma, s.c), channel_in(t, &m, d.beta, s.c),
                        channel_in(t, &m, d.rmean, s.c), channel_in(t, &m, d.rvar, s.c),
                        momentum, eps};
    const ykd_tensor *save_mean = channel_out(t, &m, s.c), *save_invstd = channel_out(t, &m, s.c);
    ykd_error err;
    if (gx && gy && bn.gamma && bn.beta && bn.running_mean && bn.running_var && save_mean &&
        save_invstd &&
        CHECK_OK(t, ykd_batchnorm_forward_train(gx, &bn, gy, save_mean, save_invstd, &err),
                 err)) {
        ykd_test_expect_tensor(t, gy, y, max_nmse, what);
        ykd_test_expect_tensor(t, save_mean, mean, max_nmse, what);
        ykd_test_expect_tensor(t, save_invstd, invstd, max_nmse, what);
        ykd_test_expect_tensor(t, bn.running_mean, d.rmeand, max_nmse, what);
        ykd_test_expect_tensor(t, bn.running_var, d.rvard, max_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
    t->device = keep;
}

/* Backward on dev against the reference, both given the same (float) mean and invstd. */
static void check_backward(ykd_test *t, ykd_device *dev, ref_shape s, bool strided,
                           bool accumulate)
{
    ykd_test_mem m = {0};
    ykd_device *keep = t->device;
    t->device = dev;
    bn_data d = bn_data_make(&m, s, 0.5f, 17 + ref_numel(s));
    size_t n = ref_numel(s);
    double *y = ykd_test_doubles(&m, n), *mean = ykd_test_doubles(&m, s.c);
    double *invstd = ykd_test_doubles(&m, s.c), *var = ykd_test_doubles(&m, s.c);
    ref_batchnorm_forward_train(s, d.xd, d.gammad, d.betad, eps, y, mean, invstd, var);
    float *meanf = ykd_test_keep(&m, malloc(s.c * sizeof *meanf));
    float *invstdf = ykd_test_keep(&m, malloc(s.c * sizeof *invstdf));
    for (int c = 0; c < s.c; c++) {
        meanf[c] = (float)mean[c];
        invstdf[c] = (float)invstd[c];
        mean[c] = meanf[c];
        invstd[c] = invstdf[c];
    }
    double *dx = ykd_test_doubles(&m, n), *dgamma = ykd_test_doubles(&m, s.c);
    double *dbeta = ykd_test_doubles(&m, s.c);
    ref_batchnorm_backward(s, d.xd, d.dyd, d.gammad, mean, invstd, dx, dgamma, dbeta);
    /* accumulating: the gradients start from rmean and rvar's values, as if from another use */
    for (int c = 0; accumulate && c < s.c; c++) {
        dgamma[c] += d.rmeand[c];
        dbeta[c] += d.rvard[c];
    }
    char what[128];
    snprintf(what, sizeof what, "batchnorm backward [%d, %d, %d, %d]%s%s", s.n, s.c, s.h, s.w,
             strided ? " strided" : "", accumulate ? " accumulating" : "");
    const ykd_tensor *gx = ykd_test_in(t, &m, d.x, s.n, s.c, s.h, s.w, strided);
    const ykd_tensor *gdy = ykd_test_in(t, &m, d.dy, s.n, s.c, s.h, s.w, !strided);
    const ykd_tensor *gdx = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, strided);
    ykd_batchnorm bn = {channel_in(t, &m, d.gamma, s.c), NULL, NULL, NULL, momentum, eps};
    const ykd_tensor *gmean = channel_in(t, &m, meanf, s.c);
    const ykd_tensor *ginvstd = channel_in(t, &m, invstdf, s.c);
    const ykd_tensor *gdgamma =
        accumulate ? channel_in(t, &m, d.rmean, s.c) : channel_out(t, &m, s.c);
    const ykd_tensor *gdbeta =
        accumulate ? channel_in(t, &m, d.rvar, s.c) : channel_out(t, &m, s.c);
    ykd_error err;
    if (gx && gdy && gdx && bn.gamma && gmean && ginvstd && gdgamma && gdbeta &&
        CHECK_OK(t,
                 ykd_batchnorm_backward(gx, gdy, &bn, gmean, ginvstd, accumulate, gdx, gdgamma,
                                        gdbeta, &err),
                 err)) {
        ykd_test_expect_tensor(t, gdx, dx, max_nmse, what);
        ykd_test_expect_tensor(t, gdgamma, dgamma, max_nmse, what);
        ykd_test_expect_tensor(t, gdbeta, dbeta, max_nmse, what);
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
    t->device = keep;
}

static void test_train(ykd_test *t)
{
    for (int s = 0; s < SHAPES; s++)
        check_train(t, t->device, shapes[s], 0.0f, s % 2 == 1, false);
    check_train(t, t->device, shapes[3], 100.0f, false, false);
    check_train(t, t->device, shapes[2], -30.0f, true, true);
    check_train(t, t->device, shapes[0], 3.0f, false, true);
}

static void test_backward(ykd_test *t)
{
    for (int s = 0; s < SHAPES; s++)
        check_backward(t, t->device, shapes[s], s % 2 == 0, s % 2 == 1);
    check_backward(t, t->device, shapes[3], true, true);
}

/* The launchers split planes into a contiguous range per work-item on CPUs and interleave
 * them on GPUs: this device, presented as a GPU, runs the GPU split. */
static void test_gpu_split(ykd_test *t)
{
    ykd_device *gpu = ykd_test_reopen(t, NULL);
    if (!gpu)
        return;
    gpu->info.type = YKD_DEVICE_TYPE_GPU;
    check_train(t, gpu, shapes[3], 100.0f, true, false);
    check_train(t, gpu, shapes[0], 0.0f, false, false);
    check_backward(t, gpu, shapes[3], true, false);
    check_backward(t, gpu, shapes[1], false, true);
    ykd_device_close(gpu);
}

static void test_infer(ykd_test *t)
{
    for (int s = 0; s < SHAPES; s++) {
        ykd_test_mem m = {0};
        ref_shape sh = shapes[s];
        bool strided = s % 2 == 0, in_place = s == 1;
        bn_data d = bn_data_make(&m, sh, 0.25f, 27 + s);
        double *y = ykd_test_doubles(&m, ref_numel(sh));
        ref_batchnorm_forward_infer(sh, d.xd, d.gammad, d.betad, d.rmeand, d.rvard, eps, y);
        const ykd_tensor *gx = ykd_test_in(t, &m, d.x, sh.n, sh.c, sh.h, sh.w, strided);
        const ykd_tensor *gy = in_place ? gx : ykd_test_out(t, &m, sh.n, sh.c, sh.h, sh.w, strided);
        ykd_batchnorm bn = {channel_in(t, &m, d.gamma, sh.c), channel_in(t, &m, d.beta, sh.c),
                            channel_in(t, &m, d.rmean, sh.c), channel_in(t, &m, d.rvar, sh.c),
                            momentum, eps};
        ykd_error err;
        /* one subtraction, a reciprocal square root and an fma per element: NMSE ~1e-14 */
        if (gx && gy && bn.gamma && bn.beta && bn.running_mean && bn.running_var &&
            CHECK_OK(t, ykd_batchnorm_forward_infer(gx, &bn, gy, &err), err))
            ykd_test_expect_tensor(t, gy, y, 1e-12, "batchnorm infer");
        ykd_test_mem_guards_intact(t, &m, "batchnorm infer");
        ykd_test_mem_free(&m);
    }
}

static void test_fold(ykd_test *t)
{
    ref_shape ws = {5, 3, 3, 3};
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        ykd_test_mem m = {0};
        double *wd, *biasd;
        float *w = ykd_test_inputs(&m, ref_numel(ws), 31, -1, 1, &wd);
        float *bias = ykd_test_inputs(&m, 5, 32, -1, 1, &biasd);
        bn_data d = bn_data_make(&m, (ref_shape){1, 5, 1, 1}, 0.0f, 33);
        double *w_out = ykd_test_doubles(&m, ref_numel(ws)), *bias_out = ykd_test_doubles(&m, 5);
        ref_batchnorm_fold(ws, wd, with_bias ? biasd : NULL, d.gammad, d.betad, d.rmeand,
                           d.rvard, eps, w_out, bias_out);
        const ykd_tensor *gw = ykd_test_in(t, &m, w, ws.n, ws.c, ws.h, ws.w, false);
        const ykd_tensor *gbias = with_bias ? channel_in(t, &m, bias, 5) : NULL;
        const ykd_tensor *gw_out = ykd_test_out(t, &m, ws.n, ws.c, ws.h, ws.w, false);
        const ykd_tensor *gbias_out = channel_out(t, &m, 5);
        ykd_batchnorm bn = {channel_in(t, &m, d.gamma, 5), channel_in(t, &m, d.beta, 5),
                            channel_in(t, &m, d.rmean, 5), channel_in(t, &m, d.rvar, 5),
                            momentum, eps};
        ykd_error err;
        if (gw && (gbias || !with_bias) && gw_out && gbias_out && bn.gamma &&
            CHECK_OK(t, ykd_batchnorm_fold(gw, gbias, &bn, gw_out, gbias_out, &err), err)) {
            ykd_test_expect_tensor(t, gw_out, w_out, 1e-12, "folded w");
            ykd_test_expect_tensor(t, gbias_out, bias_out, 1e-12, "folded bias");
        }
        ykd_test_mem_guards_intact(t, &m, "batchnorm fold");
        ykd_test_mem_free(&m);
    }
}

/* Differentiates the reference training forward with respect to x, gamma or beta. */
typedef struct fd_ctx {
    ref_shape s;
    const double *x, *gamma, *beta;
    int wrt; /* 0 x, 1 gamma, 2 beta */
} fd_ctx;

static void fd_forward(void *p, const double *v, double *y)
{
    const fd_ctx *c = p;
    double mean[8], invstd[8], var[8];
    ref_batchnorm_forward_train(c->s, c->wrt == 0 ? v : c->x, c->wrt == 1 ? v : c->gamma,
                                c->wrt == 2 ? v : c->beta, eps, y, mean, invstd, var);
}

static void test_reference_gradients(ykd_test *t)
{
    ykd_test_mem m = {0};
    ref_shape s = {2, 3, 2, 3};
    size_t n = ref_numel(s);
    bn_data d = bn_data_make(&m, s, 0.5f, 41);
    double *y = ykd_test_doubles(&m, n), mean[3], invstd[3], var[3];
    double *dx = ykd_test_doubles(&m, n), dgamma[3], dbeta[3];
    ref_batchnorm_forward_train(s, d.xd, d.gammad, d.betad, eps, y, mean, invstd, var);
    ref_batchnorm_backward(s, d.xd, d.dyd, d.gammad, mean, invstd, dx, dgamma, dbeta);
    double *numeric = ykd_test_doubles(&m, n);
    double *analytic[] = {dx, dgamma, dbeta};
    double *inputs[] = {d.xd, d.gammad, d.betad};
    static const char *const names[] = {"dx", "dgamma", "dbeta"};
    for (int wrt = 0; wrt < 3; wrt++) {
        fd_ctx ctx = {s, d.xd, d.gammad, d.betad, wrt};
        size_t count = wrt == 0 ? n : (size_t)s.c;
        ykd_test_numeric_gradient(fd_forward, &ctx, inputs[wrt], count, d.dyd, n, 1e-5, numeric);
        /* central differences with h = 1e-5 err by ~1e-10 relative */
        ykd_test_expect_close(t, analytic[wrt], numeric, count, 1e-16, names[wrt]);
    }
    ykd_test_mem_free(&m);
}

/* The same inputs twice give the same bits: no atomics, a fixed reduction order. */
static void test_deterministic(ykd_test *t)
{
    ykd_test_mem m = {0};
    ref_shape s = shapes[3];
    size_t n = ref_numel(s);
    bn_data d = bn_data_make(&m, s, 1.0f, 51);
    const ykd_tensor *gx = ykd_test_in(t, &m, d.x, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gdy = ykd_test_in(t, &m, d.dy, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gy = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gdx = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, false);
    ykd_batchnorm bn = {channel_in(t, &m, d.gamma, s.c), channel_in(t, &m, d.beta, s.c),
                        channel_in(t, &m, d.rmean, s.c), channel_in(t, &m, d.rvar, s.c),
                        momentum, eps};
    const ykd_tensor *sm = channel_out(t, &m, s.c), *si = channel_out(t, &m, s.c);
    const ykd_tensor *dg = channel_out(t, &m, s.c), *db = channel_out(t, &m, s.c);
    float *first[2] = {NULL, NULL};
    ykd_error err;
    for (int run = 0; run < 2 && gx && gdy && gy && gdx && bn.gamma && sm && si && dg && db; run++)
        if (CHECK_OK(t, ykd_batchnorm_forward_train(gx, &bn, gy, sm, si, &err), err) &&
            CHECK_OK(t, ykd_batchnorm_backward(gx, gdy, &bn, sm, si, false, gdx, dg, db, &err),
                     err)) {
            float *y = ykd_test_keep(&m, ykd_test_download(t, gy));
            float *dx = ykd_test_keep(&m, ykd_test_download(t, gdx));
            if (run == 0) {
                first[0] = y;
                first[1] = dx;
            } else if (y && dx && first[0] && first[1]) {
                CHECK(t, memcmp(first[0], y, n * sizeof *y) == 0);
                CHECK(t, memcmp(first[1], dx, n * sizeof *dx) == 0);
            }
        }
    ykd_test_mem_free(&m);
}

static void test_bad_operands(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *x = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *c3 = channel_out(t, &m, 3), *c4 = channel_out(t, &m, 4);
    const ykd_tensor *one = ykd_test_out(t, &m, 1, 3, 1, 1, false);
    if (!x || !y || !c3 || !c4 || !one) {
        ykd_test_mem_free(&m);
        return;
    }
    ykd_batchnorm bn = {c3, c3, c3, c3, 0.1f, 1e-5f};
    ykd_error err;
    bn.beta = c4;
    CHECK_STATUS(t, ykd_batchnorm_forward_train(x, &bn, y, c3, c3, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_batchnorm_forward_train: beta has shape [1, 4, 1, 1], "
                                   "expected [1, 3, 1, 1]");
    CHECK_STATUS(t, ykd_batchnorm_forward_infer(x, &bn, y, &err), YKD_ERR_SHAPE, err);
    bn.beta = c3;
    CHECK_STATUS(t, ykd_batchnorm_backward(x, y, &bn, c3, c3, false, one, c3, c3, &err),
                 YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_batchnorm_backward: dx has shape [1, 3, 1, 1]");
    CHECK_STATUS(t, ykd_batchnorm_forward_train(one, &bn, one, c3, c3, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "one value per channel");
    bn.momentum = 1.5f;
    CHECK_STATUS(t, ykd_batchnorm_forward_train(x, &bn, y, c3, c3, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "momentum 1.5 is outside [0, 1]");
    bn.momentum = 0.1f;
    bn.eps = -1.0f;
    CHECK_STATUS(t, ykd_batchnorm_forward_infer(x, &bn, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_batchnorm_fold(x, NULL, &bn, y, c3, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_batchnorm_fold: gamma has shape [1, 3, 1, 1], expected "
                                   "[1, 2, 1, 1]");
    CHECK_STATUS(t, ykd_batchnorm_forward_infer(x, NULL, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
    ykd_test_expect_all_poison(t, y, "refused output");
    ykd_test_expect_all_poison(t, c3, "refused output");
    ykd_test_mem_free(&m);
}


/* ---- synchronised BN: two ranks in one process ------------------------------------------- */

/* The exchange of two ranks played here: recording, a rank's partials are kept and returned
 * alone (one rank); exchanging, the rank's own and the other's recorded ones, in rank order. */
typedef struct fake_ranks {
    float *parts[2];
    size_t counts[2];
    int rank;
    bool record;
} fake_ranks;

static ykd_status fake_exchange(void *user, const float *mine, size_t count, float **all,
                                size_t *counts, ykd_error *err)
{
    fake_ranks *f = user;
    if (f->record) {
        free(f->parts[f->rank]);
        f->parts[f->rank] = malloc(count * sizeof(float));
        f->counts[f->rank] = count;
        if (f->parts[f->rank])
            memcpy(f->parts[f->rank], mine, count * sizeof(float));
    }
    size_t other = f->record ? 0 : f->counts[1 - f->rank];
    *all = malloc((count + other + 1) * sizeof(float));
    if (!*all || !f->parts[f->rank] || (!f->record && !f->parts[1 - f->rank]))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "fake exchange: nothing recorded");
    if (f->record) {
        memcpy(*all, mine, count * sizeof(float));
        counts[0] = count;
        return YKD_OK;
    }
    const float *first = f->rank == 0 ? mine : f->parts[0];
    const float *second = f->rank == 0 ? f->parts[1] : mine;
    counts[0] = f->rank == 0 ? count : other;
    counts[1] = f->rank == 0 ? other : count;
    memcpy(*all, first, counts[0] * sizeof(float));
    memcpy(*all + counts[0], second, counts[1] * sizeof(float));
    return YKD_OK;
}

/* Runs the training forward (or, with dy, the backward) of images [first, first + count) of x
 * as rank `rank`: recording its partials first, then with both ranks'. */
typedef struct sync_half {
    ykd_tensor x, y, dy, dx;
    const ykd_tensor *mean, *invstd, *dgamma, *dbeta;
    ykd_batchnorm bn;
} sync_half;

static bool sync_pass(ykd_test *t, fake_ranks *f, sync_half *h, int rank, bool record,
                      bool backward)
{
    f->rank = rank, f->record = record;
    ykd_bn_sync sync = {fake_exchange, f, record ? 1 : 2};
    ykd_error err;
    if (backward)
        return CHECK_OK(t, ykd_batchnorm_backward_sync(&h->x, &h->dy, &h->bn, &sync, h->mean,
                                                       h->invstd, false, &h->dx, h->dgamma,
                                                       h->dbeta, &err),
                        err);
    return CHECK_OK(t, ykd_batchnorm_forward_train_sync(&h->x, &h->bn, &sync, &h->y, h->mean,
                                                        h->invstd, &err),
                    err);
}

/* Two ranks holding 1 and 3 images (unequal parts) of a batch of 4, their partials exchanged:
 * each rank's output, saved and running statistics and input gradient are the whole batch's
 * (the float64 reference), and the ranks' dgamma and dbeta add up to the whole batch's. */
static void test_sync_two_ranks(ykd_test *t)
{
    ykd_test_mem m = {0};
    ref_shape s = {4, 5, 6, 7};
    bn_data d = bn_data_make(&m, s, 1.5f, 41);
    size_t n = ref_numel(s);
    double *y = ykd_test_doubles(&m, n), *mean = ykd_test_doubles(&m, s.c);
    double *invstd = ykd_test_doubles(&m, s.c), *var = ykd_test_doubles(&m, s.c);
    ref_batchnorm_forward_train(s, d.xd, d.gammad, d.betad, eps, y, mean, invstd, var);
    double *rmean = ykd_test_doubles(&m, s.c), *rvar = ykd_test_doubles(&m, s.c);
    for (int c = 0; c < s.c; c++) {
        rmean[c] = (1.0 - momentum) * d.rmeand[c] + momentum * mean[c];
        rvar[c] = (1.0 - momentum) * d.rvard[c] + momentum * var[c];
    }
    const ykd_tensor *gx = ykd_test_in(t, &m, d.x, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gdy = ykd_test_in(t, &m, d.dy, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gy = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gdx = ykd_test_out(t, &m, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gamma = channel_in(t, &m, d.gamma, s.c), *beta = channel_in(t, &m, d.beta, s.c);
    fake_ranks f = {{NULL, NULL}, {0, 0}, 0, false};
    sync_half h[2];
    int first[2] = {0, 1}, count[2] = {1, 3};
    bool ok = gx && gdy && gy && gdx && gamma && beta;
    for (int r = 0; r < 2 && ok; r++) {
        h[r].x = ykd_tensor_images(gx, first[r], count[r]);
        h[r].y = ykd_tensor_images(gy, first[r], count[r]);
        h[r].dy = ykd_tensor_images(gdy, first[r], count[r]);
        h[r].dx = ykd_tensor_images(gdx, first[r], count[r]);
        h[r].mean = channel_out(t, &m, s.c), h[r].invstd = channel_out(t, &m, s.c);
        h[r].dgamma = channel_out(t, &m, s.c), h[r].dbeta = channel_out(t, &m, s.c);
        h[r].bn = (ykd_batchnorm){gamma, beta, channel_in(t, &m, d.rmean, s.c),
                                  channel_in(t, &m, d.rvar, s.c), momentum, eps};
        ok = h[r].mean && h[r].invstd && h[r].dgamma && h[r].dbeta && h[r].bn.running_mean &&
             h[r].bn.running_var;
    }
    /* the forward: each rank's partials recorded (its running statistics then reset), then
     * exchanged */
    for (int r = 0; r < 2 && ok; r++) {
        ykd_error err;
        ok = sync_pass(t, &f, &h[r], r, true, false) &&
             CHECK_OK(t, ykd_tensor_write(h[r].bn.running_mean, d.rmean, &err), err) &&
             CHECK_OK(t, ykd_tensor_write(h[r].bn.running_var, d.rvar, &err), err);
    }
    for (int r = 0; r < 2 && ok; r++)
        ok = sync_pass(t, &f, &h[r], r, false, false);
    if (ok) {
        ykd_test_expect_tensor(t, gy, y, max_nmse, "synchronised batchnorm: y");
        for (int r = 0; r < 2; r++) {
            ykd_test_expect_tensor(t, h[r].mean, mean, max_nmse, "synchronised: mean");
            ykd_test_expect_tensor(t, h[r].invstd, invstd, max_nmse, "synchronised: invstd");
            ykd_test_expect_tensor(t, h[r].bn.running_mean, rmean, max_nmse,
                                   "synchronised: running mean");
            ykd_test_expect_tensor(t, h[r].bn.running_var, rvar, max_nmse,
                                   "synchronised: running variance");
        }
    }
    /* the backward, against the reference given rank 0's (float) statistics */
    float *meanf = ykd_test_keep(&m, malloc(s.c * sizeof(float)));
    float *invstdf = ykd_test_keep(&m, malloc(s.c * sizeof(float)));
    ykd_error err;
    ok = ok && CHECK_OK(t, ykd_tensor_read(h[0].mean, meanf, &err), err) &&
         CHECK_OK(t, ykd_tensor_read(h[0].invstd, invstdf, &err), err);
    for (int r = 0; r < 2 && ok; r++)
        ok = sync_pass(t, &f, &h[r], r, true, true);
    for (int r = 0; r < 2 && ok; r++)
        ok = sync_pass(t, &f, &h[r], r, false, true);
    if (ok) {
        for (int c = 0; c < s.c; c++)
            mean[c] = meanf[c], invstd[c] = invstdf[c];
        double *dx = ykd_test_doubles(&m, n), *dgamma = ykd_test_doubles(&m, s.c);
        double *dbeta = ykd_test_doubles(&m, s.c);
        ref_batchnorm_backward(s, d.xd, d.dyd, d.gammad, mean, invstd, dx, dgamma, dbeta);
        ykd_test_expect_tensor(t, gdx, dx, max_nmse, "synchronised batchnorm: dx");
        float *g0 = ykd_test_keep(&m, malloc(4 * s.c * sizeof(float)));
        float *g1 = g0 + s.c, *b0 = g0 + 2 * s.c, *b1 = g0 + 3 * s.c;
        ok = CHECK_OK(t, ykd_tensor_read(h[0].dgamma, g0, &err), err) &&
             CHECK_OK(t, ykd_tensor_read(h[1].dgamma, g1, &err), err) &&
             CHECK_OK(t, ykd_tensor_read(h[0].dbeta, b0, &err), err) &&
             CHECK_OK(t, ykd_tensor_read(h[1].dbeta, b1, &err), err);
        for (int c = 0; c < s.c && ok; c++)
            CHECKF(t, fabs(g0[c] + g1[c] - dgamma[c]) <= 1e-4 * (1 + fabs(dgamma[c])) &&
                          fabs(b0[c] + b1[c] - dbeta[c]) <= 1e-4 * (1 + fabs(dbeta[c])),
                   "channel %d: the ranks' dgamma %g + %g (reference %g), dbeta %g + %g (%g)", c,
                   g0[c], g1[c], dgamma[c], b0[c], b1[c], dbeta[c]);
    }
    ykd_test_mem_guards_intact(t, &m, "synchronised batchnorm");
    free(f.parts[0]);
    free(f.parts[1]);
    ykd_test_mem_free(&m);
}

static const ykd_test_case cases[] = {
    {"batchnorm: training forward against the reference", test_train, YKD_TEST_EACH_DEVICE},
    {"batchnorm: backward against the reference", test_backward, YKD_TEST_EACH_DEVICE},
    {"batchnorm: the GPU work split", test_gpu_split, YKD_TEST_EACH_DEVICE},
    {"batchnorm: inference forward against the reference", test_infer, YKD_TEST_EACH_DEVICE},
    {"batchnorm: folding into a convolution", test_fold, YKD_TEST_EACH_DEVICE},
    {"batchnorm: reference backward against finite differences", test_reference_gradients,
     YKD_TEST_HOST},
    {"batchnorm: deterministic", test_deterministic, YKD_TEST_EACH_DEVICE},
    {"batchnorm: synchronised over two ranks = the whole batch", test_sync_two_ranks,
     YKD_TEST_EACH_DEVICE},
    {"batchnorm: bad operands are refused", test_bad_operands, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
