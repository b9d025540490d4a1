/* Synchronised batch normalisation (mpirun --sync-bn) with two ranks played in one process:
 * the partial sums each rank shares, exchanged by a fake communicator, give every rank the
 * whole batch's statistics and gradients (the float64 reference), on every device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops.h"
#include "yolokd/ops.h"

static const float eps = 1e-3f, momentum = 0.03f;
static const double max_nmse = 1e-9; /* as the table's batchnorm entries */

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
void op_batchnorm_sync_two_ranks(ykd_test *t)
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
