/* The training parts, each against values worked out by hand: the schedule (warm-up, decay,
 * accumulation, the nominal batch), the optimizer (SGD with coupled decay and Nesterov
 * momentum, AdamW, gradient clipping), the EMA, the state file (round trip, damage, foreign
 * and mismatched files), the options' JSON, the metrics files, the progress text, and the
 * step's gradient sink for extra loss terms. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/safetensors.h"
#include "core/float_text.h"
#include "train/checkpoint.h"
#include "train/train_internal.h"
#include "train_fixtures.h"
#include "yolokd/ops.h"
#include "yolokd/train.h"

static bool near(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

/* ---- schedule ----------------------------------------------------------------------------- */

/* 10 epochs of 50 batches, lr0 0.01, lrf 0.01, warm-up 3 epochs: nw = max(150, 100) = 150. */
static ykd_schedule example_schedule(ykd_lr_decay decay)
{
    return (ykd_schedule){.epochs = 10,
                          .batches_per_epoch = 50,
                          .lr0 = 0.01,
                          .lrf = 0.01,
                          .decay = decay,
                          .momentum = 0.937,
                          .warmup_epochs = 3.0,
                          .warmup_momentum = 0.8,
                          .warmup_bias_lr = 0.1,
                          .warmup_min_iters = 100,
                          .accumulate = 64.0 / 16.0};
}

static void test_schedule_factor(ykd_test *t)
{
    ykd_schedule lin = example_schedule(YKD_LR_LINEAR), cos = example_schedule(YKD_LR_COSINE);
    /* linear: (1 - e/10) * 0.99 + 0.01 */
    CHECK(t, ykd_schedule_factor(&lin, 0) == 1.0);
    CHECK(t, near(ykd_schedule_factor(&lin, 5), 0.505, 1e-15));
    CHECK(t, near(ykd_schedule_factor(&lin, 10), 0.01, 1e-15));
    /* cosine: 1 - 0.99 (1 - cos(pi e / 10)) / 2; e = 2: (1 - 0.809017) / 2 = 0.0954915 */
    CHECK(t, ykd_schedule_factor(&cos, 0) == 1.0);
    CHECK(t, near(ykd_schedule_factor(&cos, 2), 0.905463412215599, 1e-12));
    CHECK(t, near(ykd_schedule_factor(&cos, 5), 0.505, 1e-15));
    CHECK(t, near(ykd_schedule_factor(&cos, 10), 0.01, 1e-15));
}

static void test_schedule_warmup(ykd_test *t)
{
    ykd_schedule s = example_schedule(YKD_LR_LINEAR);
    CHECK(t, ykd_schedule_warmup_iters(&s) == 150);
    s.batches_per_epoch = 20; /* 3 * 20 = 60, raised to 100 */
    CHECK(t, ykd_schedule_warmup_iters(&s) == 100);
    s.warmup_epochs = 0;
    CHECK(t, ykd_schedule_warmup_iters(&s) == -1);
    s = example_schedule(YKD_LR_LINEAR);
    ykd_schedule_point p;
    /* ni 0: biases at warmup_bias_lr, the rest at 0, momentum 0.8, accumulate 1 */
    ykd_schedule_at(&s, 0, 0, &p);
    CHECK(t, p.lr[YKD_GROUP_BIAS] == 0.1 && p.lr[YKD_GROUP_DECAY] == 0.0 &&
                 p.lr[YKD_GROUP_BN] == 0.0);
    CHECK(t, p.momentum == 0.8 && p.accumulate == 1);
    /* ni 75 (epoch 1, halfway): target 0.01 lf(1) = 0.01 * 0.901 = 0.00901; biases
     * (0.1 + 0.00901) / 2, the rest 0.00901 / 2; momentum 0.8 + 0.137 / 2; accumulate
     * round(1 + 3 / 2 = 2.5) = 2, half to even as np.round */
    ykd_schedule_at(&s, 1, 75, &p);
    CHECKF(t, near(p.lr[YKD_GROUP_BIAS], 0.054505, 1e-15), "bias lr %.17g", p.lr[0]);
    CHECK(t, near(p.lr[YKD_GROUP_DECAY], 0.004505, 1e-15));
    CHECK(t, near(p.lr[YKD_GROUP_BN], 0.004505, 1e-15));
    CHECK(t, near(p.momentum, 0.8685, 1e-15));
    CHECKF(t, p.accumulate == 2, "accumulate %d", p.accumulate);
    /* ni 150, the warm-up's end (epoch 3): every group 0.01 lf(3) = 0.00703 */
    ykd_schedule_at(&s, 3, 150, &p);
    for (int g = 0; g < YKD_GROUP_COUNT; g++)
        CHECK(t, near(p.lr[g], 0.00703, 1e-15));
    CHECK(t, p.momentum == 0.937 && p.accumulate == 4);
    /* after it: lr0 lf(epoch) = 0.01 * 0.604 in epoch 4 */
    ykd_schedule_at(&s, 4, 200, &p);
    CHECK(t, near(p.lr[YKD_GROUP_BIAS], 0.00604, 1e-15) && p.momentum == 0.937);
    CHECK(t, p.accumulate == 4);
}

static void test_nominal_batch(ykd_test *t)
{
    CHECK(t, ykd_nominal_accumulate(16, 64) == 4);
    CHECK(t, ykd_nominal_accumulate(24, 64) == 3);  /* 2.67 */
    CHECK(t, ykd_nominal_accumulate(40, 64) == 2);  /* 1.6 */
    CHECK(t, ykd_nominal_accumulate(128, 64) == 1); /* 0.5 rounds to 0, at least 1 */
    CHECK(t, ykd_nominal_accumulate(4, 10) == 2);   /* 2.5: half to even */
    CHECK(t, ykd_nominal_accumulate(4, 14) == 4);   /* 3.5: half to even */
    /* 5e-4 * batch * accumulate / 64 */
    CHECK(t, near(ykd_nominal_weight_decay(5e-4, 16, 64), 5e-4, 1e-18));
    CHECK(t, near(ykd_nominal_weight_decay(5e-4, 24, 64), 5.625e-4, 1e-18));
    CHECK(t, near(ykd_nominal_weight_decay(5e-4, 128, 64), 1e-3, 1e-18));
}

static void test_optimizer_auto(ykd_test *t)
{
    ykd_optimizer_kind kind;
    double lr0, momentum, bias_lr;
    /* 400 images, batch 16: ceil(400 / 64) * 30 = 210 iterations: AdamW, 0.002 * 5 / 10 */
    ykd_optimizer_auto(400, 16, 64, 30, 6, &kind, &lr0, &momentum, &bias_lr);
    CHECK(t, kind == YKD_OPTIMIZER_ADAMW && lr0 == 0.001 && momentum == 0.9 && bias_lr == 0.0);
    /* 80 classes: 0.002 * 5 / 84 = 0.000119047.. rounded to 6 decimals */
    ykd_optimizer_auto(400, 16, 64, 30, 80, &kind, &lr0, &momentum, &bias_lr);
    CHECK(t, kind == YKD_OPTIMIZER_ADAMW && lr0 == 0.000119);
    /* 100000 images, 10 epochs: 1563 * 10 = 15630 > 10000: SGD 0.01 */
    ykd_optimizer_auto(100000, 16, 64, 10, 6, &kind, &lr0, &momentum, &bias_lr);
    CHECK(t, kind == YKD_OPTIMIZER_SGD && lr0 == 0.01 && momentum == 0.9);
}

static void test_param_groups(ykd_test *t)
{
    CHECK(t, ykd_param_kind_group(YKD_PARAM_CONV_WEIGHT) == YKD_GROUP_DECAY);
    CHECK(t, ykd_param_kind_group(YKD_PARAM_BN_WEIGHT) == YKD_GROUP_BN);
    CHECK(t, ykd_param_kind_group(YKD_PARAM_BN_BIAS) == YKD_GROUP_BIAS);
    CHECK(t, ykd_param_kind_group(YKD_PARAM_CONV_BIAS) == YKD_GROUP_BIAS);
    CHECK(t, ykd_param_kind_group(YKD_PARAM_BN_MEAN) == -1);
    CHECK(t, ykd_param_kind_group(YKD_PARAM_FIXED) == -1);
}

/* ---- a tiny model on the device ------------------------------------------------------------ */

static ykd_model *tiny_model(ykd_test *t)
{
    ykd_model_desc *d = NULL;
    ykd_model *m = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_model_desc_parse(tx_tiny_model_json, strlen(tx_tiny_model_json), "tiny",
                                         NULL, &d, &err),
                 err))
        CHECK_OK(t, ykd_model_create(t->device, d, 1, &m, &err), err);
    ykd_model_desc_free(d);
    return m;
}

static float *read_floats(ykd_test *t, ykd_buffer *buf, size_t floats)
{
    float *host = malloc(floats * sizeof *host);
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_read(buf, 0, host, floats * sizeof *host, &err), err)) {
        free(host);
        return NULL;
    }
    return host;
}

static size_t trained_floats(const ykd_model *m)
{
    size_t first, count, end = 0;
    for (int k = 0; k <= YKD_PARAM_CONV_BIAS; k++) {
        ykd_model_kind_range(m, (ykd_param_kind)k, &first, &count);
        end = first + count > end ? first + count : end;
    }
    return end;
}

/* Writes value * (1 + i % 7) into floats [0, n) of buf: distinct, known values. */
static bool fill_pattern(ykd_test *t, ykd_buffer *buf, size_t n, float value)
{
    float *host = malloc(n * sizeof *host);
    for (size_t i = 0; i < n; i++)
        host[i] = value * (float)(1 + i % 7);
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_buffer_write(buf, 0, host, n * sizeof *host, &err), err);
    free(host);
    return ok;
}

/* A tiny model with gradients, and an optimizer over it. */
typedef struct opt_fixture {
    ykd_model *model;
    ykd_optimizer *opt;
    size_t n; /* trained floats */
} opt_fixture;

static void opt_fixture_free(opt_fixture *f)
{
    ykd_optimizer_free(f->opt);
    ykd_model_free(f->model);
}

static bool opt_fixture_make(ykd_test *t, const ykd_optimizer_options *o, opt_fixture *f)
{
    ykd_error err;
    memset(f, 0, sizeof *f);
    f->model = tiny_model(t);
    if (!f->model)
        return false;
    f->n = trained_floats(f->model);
    bool ok = CHECK_OK(t, ykd_model_zero_grad(f->model, &err), err) &&
              CHECK_OK(t, ykd_optimizer_init(f->model, o, &f->opt, &err), err);
    if (!ok)
        opt_fixture_free(f);
    return ok;
}

/* SGD, one step from a zero momentum buffer, by hand per element: the gradient times the clip
 * coefficient c (max / (norm + 1e-6), in float; 1 without clipping), the decayed group's
 * g' = fma(wd, p, c g); buf = g'; Nesterov: step = fma(m, buf, g'); p' = fma(-lr, step, p).
 * The other groups skip the decay and use their own LR. The gradients stay as they were. */
static void sgd_step_by_hand(ykd_test *t, double max_grad_norm)
{
    opt_fixture f;
    ykd_error err;
    ykd_optimizer_options o;
    ykd_optimizer_options_default(&o);
    o.weight_decay = 0.01, o.max_grad_norm = max_grad_norm;
    if (!opt_fixture_make(t, &o, &f))
        return;
    size_t n = f.n;
    const double lr[YKD_GROUP_COUNT] = {0.1, 0.01, 0.05}; /* bias, decay, bn */
    double norm = 0;
    if (fill_pattern(t, ykd_model_param_buffer(f.model), n, 0.5f) &&
        fill_pattern(t, ykd_model_grad_buffer(f.model), n, -0.25f))
        CHECK_OK(t, ykd_optimizer_step(f.opt, lr, 0.9, &norm, &err), err);
    double expected_norm = 0;
    for (size_t i = 0; i < n; i++)
        expected_norm += pow(0.25 * (double)(1 + i % 7), 2);
    CHECK(t, near(norm, sqrt(expected_norm), 1e-9 * sqrt(expected_norm)));
    float coef = max_grad_norm > 0 ? (float)(max_grad_norm / (norm + 1e-6)) : 1.0f;
    CHECK(t, max_grad_norm == 0 || coef < 1.0f); /* the clipping case clips */
    float *p = read_floats(t, ykd_model_param_buffer(f.model), n);
    float *grad = read_floats(t, ykd_model_grad_buffer(f.model), n);
    int wrong = 0, changed = 0;
    for (int k = 0; p && grad && k <= YKD_PARAM_CONV_BIAS; k++) {
        size_t first, count;
        ykd_model_kind_range(f.model, (ykd_param_kind)k, &first, &count);
        int g = ykd_param_kind_group((ykd_param_kind)k);
        for (size_t i = first; i < first + count; i++) {
            float p0 = 0.5f * (float)(1 + i % 7), g0 = -0.25f * (float)(1 + i % 7);
            float gc = coef * g0;
            float gd = g == YKD_GROUP_DECAY ? fmaf(0.01f, p0, gc) : gc;
            float step = fmaf(0.9f, gd, gd);
            wrong += p[i] != fmaf(-(float)lr[g], step, p0);
            changed += grad[i] != g0;
        }
    }
    CHECKF(t, p && wrong == 0, "%d of %zu parameters differ from the hand-computed step", wrong,
           n);
    CHECKF(t, grad && changed == 0, "%d of %zu gradients changed by the step", changed, n);
    CHECK(t, ykd_optimizer_steps(f.opt) == 1);
    free(p);
    free(grad);
    opt_fixture_free(&f);
}

static void test_sgd_step(ykd_test *t)
{
    sgd_step_by_hand(t, 0.0); /* no clipping */
}

static void test_sgd_step_clipped(ykd_test *t)
{
    sgd_step_by_hand(t, 1.0);
}

/* Clipping: every gradient 1, so the norm is sqrt(n); max 10 scales them by 10 / (sqrt(n) +
 * 1e-6) inside the update. Then AdamW's first step: m = (1 - b1) g, v = (1 - b2) g^2,
 * bias-corrected to g and g^2, so p' = p (1 - lr wd) - lr g / (|g| + eps), the decay on conv
 * weights only. */
static void test_clip_and_adamw(ykd_test *t)
{
    opt_fixture f;
    ykd_error err;
    ykd_optimizer_options o;
    ykd_optimizer_options_default(&o);
    o.kind = YKD_OPTIMIZER_ADAMW, o.weight_decay = 0.1, o.max_grad_norm = 10.0;
    if (!opt_fixture_make(t, &o, &f))
        return;
    size_t n = f.n;
    const double lr[YKD_GROUP_COUNT] = {0.002, 0.001, 0.003};
    double norm = 0;
    if (fill_pattern(t, ykd_model_param_buffer(f.model), n, 1.0f) &&
        CHECK_OK(t, ykd_fill_f32(ykd_model_grad_buffer(f.model), 0, n, 1.0f, &err), err))
        CHECK_OK(t, ykd_optimizer_step(f.opt, lr, 0.9, &norm, &err), err);
    CHECK(t, near(norm, sqrt((double)n), 1e-9));
    /* the step applies the coefficient; the gradients stay 1 */
    float *g = read_floats(t, ykd_model_grad_buffer(f.model), n);
    float coef = (float)(10.0 / (sqrt((double)n) + 1e-6));
    CHECK(t, coef < 1.0f);
    CHECKF(t, g && g[0] == 1.0f && g[n - 1] == 1.0f, "gradient %g after the step, expected 1",
           g ? g[0] : 0);
    float *p = read_floats(t, ykd_model_param_buffer(f.model), n);
    int wrong = 0;
    for (int k = 0; p && g && k <= YKD_PARAM_CONV_BIAS; k++) {
        size_t first, count;
        ykd_model_kind_range(f.model, (ykd_param_kind)k, &first, &count);
        int grp = ykd_param_kind_group((ykd_param_kind)k);
        double decay = grp == YKD_GROUP_DECAY ? 0.1 : 0.0;
        for (size_t i = first; i < first + count; i++) {
            double p0 = 1 + i % 7;
            double want = p0 * (1 - lr[grp] * decay) - lr[grp] * coef / (coef + 1e-8);
            wrong += !near(p[i], want, 2e-6 * p0);
        }
    }
    CHECKF(t, p && wrong == 0, "%d of %zu parameters differ from the hand-computed step", wrong,
           n);
    free(g);
    free(p);
    opt_fixture_free(&f);
}

/* A gradient that is not finite stops the step before anything changes. */
static void test_nonfinite_gradient(ykd_test *t)
{
    opt_fixture f;
    ykd_error err;
    ykd_optimizer_options o;
    ykd_optimizer_options_default(&o);
    if (!opt_fixture_make(t, &o, &f))
        return;
    float *before = read_floats(t, ykd_model_param_buffer(f.model), f.n);
    float nan = NAN;
    CHECK_OK(t, ykd_buffer_write(ykd_model_grad_buffer(f.model), 3 * sizeof(float), &nan,
                                 sizeof nan, &err),
             err);
    const double lr[YKD_GROUP_COUNT] = {0.1, 0.1, 0.1};
    CHECK_STATUS(t, ykd_optimizer_step(f.opt, lr, 0.9, NULL, &err), YKD_ERR_NOT_FINITE, err);
    CHECK_CONTAINS(t, err.message, "gradient norm is nan");
    float *after = read_floats(t, ykd_model_param_buffer(f.model), f.n);
    CHECK(t, before && after && memcmp(before, after, f.n * sizeof *before) == 0);
    CHECK(t, ykd_optimizer_steps(f.opt) == 0);
    free(before);
    free(after);
    opt_fixture_free(&f);
}

/* ---- EMA ---------------------------------------------------------------------------------- */

/* d_1 = 0.9999 (1 - exp(-1/2000)) = 0.000499825033..; d_2 = 0.000999400216..; the EMA starts
 * as a copy (a), then after an update from model b: fma(1 - d, b, a * d), in float as the
 * kernels compute it; again from c. The DFL projection (fixed) stays 0..15. */
static void test_ema(ykd_test *t)
{
    CHECK(t, near(ykd_ema_decay_at(0.9999, 2000, 1), 0.000499825033328626, 1e-18));
    CHECK(t, near(ykd_ema_decay_at(0.9999, 2000, 2), 0.0009994002166083156, 1e-18));
    CHECK(t, near(ykd_ema_decay_at(0.9999, 2000, 1000000), 0.9999, 1e-15));
    ykd_model *m = tiny_model(t);
    ykd_ema *ema = NULL;
    ykd_error err;
    size_t fixed_first, fixed_count;
    if (!m)
        return;
    ykd_model_kind_range(m, YKD_PARAM_FIXED, &fixed_first, &fixed_count);
    size_t n = fixed_first; /* every averaged float comes before the fixed ones */
    if (!fill_pattern(t, ykd_model_param_buffer(m), n, 2.0f) ||
        !CHECK_OK(t, ykd_ema_init(m, 0.9999, 2000, &ema, &err), err)) {
        ykd_model_free(m);
        return;
    }
    CHECK(t, fill_pattern(t, ykd_model_param_buffer(m), n, -1.0f));
    CHECK_OK(t, ykd_ema_update(ema, m, &err), err);
    CHECK(t, fill_pattern(t, ykd_model_param_buffer(m), n, 0.5f));
    CHECK_OK(t, ykd_ema_update(ema, m, &err), err);
    CHECK(t, ykd_ema_updates(ema) == 2);
    /* the kernels take d and 1 - d (computed in double) as floats */
    float d1 = (float)ykd_ema_decay_at(0.9999, 2000, 1);
    float e1 = (float)(1.0 - ykd_ema_decay_at(0.9999, 2000, 1));
    float d2 = (float)ykd_ema_decay_at(0.9999, 2000, 2);
    float e2 = (float)(1.0 - ykd_ema_decay_at(0.9999, 2000, 2));
    float *v = read_floats(t, ykd_model_param_buffer(ykd_ema_model(ema)), n + fixed_count);
    int wrong = 0;
    for (size_t i = 0; v && i < n; i++) {
        float k = (float)(1 + i % 7);
        float after1 = fmaf(e1, -1.0f * k, 2.0f * k * d1);
        wrong += v[i] != fmaf(e2, 0.5f * k, after1 * d2);
    }
    CHECKF(t, v && wrong == 0, "%d of %zu averaged values differ", wrong, n);
    for (size_t i = 0; v && i < fixed_count; i++)
        CHECK(t, v[n + i] == (float)(i % 16));
    /* the BN running statistics are averaged too */
    size_t mean_first, mean_count;
    ykd_model_kind_range(m, YKD_PARAM_BN_MEAN, &mean_first, &mean_count);
    CHECK(t, mean_count > 0 && mean_first + mean_count <= n);
    free(v);
    ykd_ema_free(ema);
    ykd_model_free(m);
}

/* ---- state files ---------------------------------------------------------------------------- */

static bool flip_byte(ykd_test *t, const char *path, long from_end)
{
    FILE *f = fopen(path, "r+b");
    if (!CHECK(t, f != NULL))
        return false;
    fseek(f, -from_end, SEEK_END);
    int c = fgetc(f);
    fseek(f, -from_end, SEEK_END);
    fputc(c ^ 0x40, f);
    return CHECK(t, fclose(f) == 0);
}

static void test_state_round_trip(ykd_test *t)
{
    char dir[256], path[512];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(path, sizeof path, "%s/s.safetensors", dir);
    ykd_buffer *a = NULL, *b = NULL, *c = NULL;
    ykd_error err;
    CHECK_OK(t, ykd_buffer_alloc(t->device, 40 * sizeof(float), &a, &err), err);
    CHECK_OK(t, ykd_buffer_alloc(t->device, 12 * sizeof(float), &b, &err), err);
    CHECK_OK(t, ykd_buffer_alloc(t->device, 40 * sizeof(float), &c, &err), err);
    fill_pattern(t, a, 40, 0.125f);
    fill_pattern(t, b, 12, -3.0f);
    /* floats [10, 40) of a, and all of b */
    const ykd_state_tensor tensors[] = {{"first", a, 10, 30}, {"second", b, 0, 12}};
    const char *keys[] = {"note"}, *values[] = {"{\"epoch\": 3}"};
    CHECK_OK(t, ykd_state_write(path, tensors, 2, keys, values, 1, &err), err);
    ykd_state_file f;
    if (CHECK_OK(t, ykd_state_open(path, &f, &err), err)) {
        CHECK(t, strcmp(ykd_state_meta(&f, "note"), "{\"epoch\": 3}") == 0);
        CHECK(t, ykd_state_meta(&f, "absent") == NULL);
        const char *v = NULL;
        CHECK_STATUS(t, ykd_state_meta_required(&f, "absent", &v, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "\"absent\" is missing");
        CHECK_OK(t, ykd_state_read(&f, "first", c, 5, 30, &err), err);
        float *got = read_floats(t, c, 40);
        int wrong = 0;
        for (int i = 0; got && i < 30; i++)
            wrong += got[5 + i] != 0.125f * (float)(1 + (10 + i) % 7);
        CHECK(t, got && wrong == 0);
        free(got);
        CHECK_STATUS(t, ykd_state_read(&f, "second", c, 0, 13, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "tensor second holds 12 F32 values; this run needs 13");
        CHECK_STATUS(t, ykd_state_read(&f, "third", c, 0, 1, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "tensor third is missing");
        ykd_state_close(&f);
    }
    /* one bit of the data changed: refused, naming the file */
    if (flip_byte(t, path, 5)) {
        CHECK_STATUS(t, ykd_state_open(path, &f, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "the file is damaged");
        CHECK_CONTAINS(t, err.message, path);
    }
    ykd_buffer_free(a);
    ykd_buffer_free(b);
    ykd_buffer_free(c);
    ykd_test_rmtree(dir);
}

/* A model file, a state of another version, a truncated state: refused with the reason. */
static void test_state_refusals(ykd_test *t)
{
    char dir[256], path[512];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    ykd_error err;
    ykd_state_file f;
    ykd_model *m = tiny_model(t);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (m && CHECK_OK(t, ykd_model_save(m, path, &err), err)) {
        CHECK_STATUS(t, ykd_state_open(path, &f, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "not a yolokd training state");
    }
    ykd_model_free(m);
    float x = 1.0f;
    const ykd_st_entry e = {"x", YKD_ST_F32, 1, {1}, &x};
    const char *keys[] = {"format", "yolokd.state_version"};
    const char *values[] = {YKD_STATE_FORMAT, "99"};
    snprintf(path, sizeof path, "%s/future.safetensors", dir);
    if (CHECK_OK(t, ykd_st_write(path, &e, 1, keys, values, 2, &err), err)) {
        CHECK_STATUS(t, ykd_state_open(path, &f, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "training state version 99; this yolokd reads version 2");
    }
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    CHECK(t, ykd_state_open(path, &f, &err) != YKD_OK);
    CHECK_CONTAINS(t, err.message, path);
    ykd_test_rmtree(dir);
}

/* ---- options, metrics, progress text -------------------------------------------------------- */

static void test_options_json(ykd_test *t)
{
    ykd_train_options o, back;
    ykd_train_options_default(&o);
    o.model = "s", o.data = "/data/x", o.out = "runs/a", o.weights = NULL;
    o.seed = 18446744073709551615ull, o.lr0 = 0.0123456789012345, o.decay = YKD_LR_COSINE;
    o.optimizer = YKD_OPTIMIZER_ADAMW, o.aug.mosaic = 0.25f, o.val = false;
    char *json = ykd_train_options_json(&o);
    ykd_error err;
    if (CHECK(t, json != NULL) &&
        CHECK_OK(t, ykd_train_options_parse(json, "args.json", &back, &err), err)) {
        CHECK(t, strcmp(back.model, "s") == 0 && strcmp(back.out, "runs/a") == 0);
        CHECK(t, back.weights == NULL && back.seed == o.seed && back.lr0 == o.lr0);
        CHECK(t, back.decay == YKD_LR_COSINE && back.optimizer == YKD_OPTIMIZER_ADAMW);
        CHECK(t, back.aug.mosaic == 0.25f && back.aug.hsv_h == o.aug.hsv_h && !back.val);
        CHECK(t, back.val_conf == o.val_conf && back.nbs == 64 && back.epochs == o.epochs);
        ykd_train_options_free_strings(&back);
    }
    free(json);
    /* numbers as JSON numbers: a seed that fits 53 bits, floats at their own precision */
    o.seed = 7;
    json = ykd_train_options_json(&o);
    if (CHECK(t, json != NULL)) {
        CHECK_CONTAINS(t, json, "\"seed\":\t7,");
        CHECK_CONTAINS(t, json, "\"aug_hsv_h\":\t0.015,");
        CHECK_CONTAINS(t, json, "\"aug_mosaic\":\t0.25,");
        CHECK_CONTAINS(t, json, "\"val_conf\":\t0.001,");
        CHECK_CONTAINS(t, json, "\"val_iou\":\t0.7,");
        if (CHECK_OK(t, ykd_train_options_parse(json, "args.json", &back, &err), err)) {
            CHECK(t, back.seed == 7 && back.aug.hsv_h == o.aug.hsv_h && back.val_iou == o.val_iou);
            ykd_train_options_free_strings(&back);
        }
    }
    free(json);
    char text[32];
    static const float floats[] = {0.015f, 1e-7f, 3.4028235e38f, 0.1f, 16777217.0f, -2.5f};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        ykd_float_text(floats[i], text, sizeof text);
        CHECKF(t, (float)strtod(text, NULL) == floats[i] && strlen(text) <= 15,
               "%.9g as \"%s\"", (double)floats[i], text);
    }
    ykd_float_text(0.015f, text, sizeof text);
    CHECK(t, strcmp(text, "0.015") == 0);
    ykd_float_text(NAN, text, sizeof text);
    CHECK(t, strcmp(text, "null") == 0);
    CHECK_STATUS(t, ykd_train_options_parse("{\"model\": \"n\"}", "x.json", &back, &err),
                 YKD_ERR_FORMAT, err);
    CHECK_CONTAINS(t, err.message, "x.json: option \"weights\" is missing");
    o.epochs = 0;
    CHECK_STATUS(t, ykd_train_options_check(&o, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "epochs 0 is out of range");
}

static void test_metrics_files(ykd_test *t)
{
    char dir[256], path[512];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    ykd_train_row rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].m = (ykd_epoch_metrics){1, 3.5, 4.25, 1.125, NAN, NAN, NAN, 0.5, 0.25, 0.125, 0.0625,
                                    0, {0}, NULL};
    rows[1] = rows[0];
    rows[1].m.epoch = 2, rows[1].lr[1] = 0.001, rows[1].fitness = 0.08125;
    ykd_error err;
    CHECK_OK(t, ykd_metrics_write(dir, rows, 2, &err), err);
    unsigned char *csv = NULL;
    size_t size = 0;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (tx_read_file(t, path, &csv, &size)) {
        csv = realloc(csv, size + 1);
        csv[size] = '\0';
        CHECK_CONTAINS(t, (char *)csv, "epoch,train/box_loss,train/cls_loss,train/dfl_loss,"
                                       "metrics/precision(B),metrics/recall(B),metrics/mAP50(B),"
                                       "metrics/mAP50-95(B),val/box_loss");
        /* NaN validation losses are empty cells */
        CHECK_CONTAINS(t, (char *)csv, "\n1,3.5,4.25,1.125,0.5,0.25,0.125,0.0625,,,,0,0,0,0,0,0\n");
        CHECK_CONTAINS(t, (char *)csv, "\n2,3.5,4.25,1.125,0.5,0.25,0.125,0.0625,,,,0,0.001,0,"
                                       "0.08125,0,0\n");
    }
    free(csv);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    unsigned char *jsonl = NULL;
    if (tx_read_file(t, path, &jsonl, &size)) {
        jsonl = realloc(jsonl, size + 1);
        jsonl[size] = '\0';
        char *second = strchr((char *)jsonl, '\n');
        cJSON *o = second ? cJSON_Parse(second + 1) : NULL;
        ykd_train_row back;
        if (CHECK(t, o != NULL) && CHECK_OK(t, ykd_train_row_parse(o, "jsonl", NULL, 0, &back, &err), err))
            CHECK(t, back.m.epoch == 2 && back.fitness == 0.08125 && isnan(back.m.val_box) &&
                         back.m.map50_95 == 0.0625 && back.lr[1] == 0.001);
        cJSON_Delete(o);
    }
    free(jsonl);
    /* the loss terms' parts: columns after the others, in both files, and read back */
    static const char *const names[] = {"train/kd_logit_loss", "train/kd_ld_loss"};
    for (int r = 0; r < 2; r++) {
        rows[r].m.extra_count = 2, rows[r].m.extra_names = names;
        rows[r].m.extra[0] = 0.25 * (r + 1), rows[r].m.extra[1] = 1.5;
    }
    CHECK_OK(t, ykd_metrics_write(dir, rows, 2, &err), err);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (tx_read_file(t, path, &csv, &size)) {
        csv = realloc(csv, size + 1);
        csv[size] = '\0';
        CHECK_CONTAINS(t, (char *)csv, ",seconds,train/kd_logit_loss,train/kd_ld_loss\n");
        CHECK_CONTAINS(t, (char *)csv, ",0.08125,0,0,0.5,1.5\n");
        free(csv);
    }
    char *text = ykd_metrics_jsonl_text(rows, 2);
    char *second = text ? strchr(text, '\n') : NULL;
    cJSON *o = second ? cJSON_Parse(second + 1) : NULL;
    ykd_train_row back;
    if (CHECK(t, o != NULL) &&
        CHECK_OK(t, ykd_train_row_parse(o, "jsonl", names, 2, &back, &err), err))
        CHECK(t, back.m.extra_count == 2 && back.m.extra[0] == 0.5 && back.m.extra[1] == 1.5);
    cJSON_Delete(o);
    free(text);
    ykd_test_rmtree(dir);
}

static void test_progress_text(ykd_test *t)
{
    char buf[256];
    ykd_format_duration(3723, buf, sizeof buf);
    CHECK(t, strcmp(buf, "1:02:03") == 0);
    ykd_format_duration(252.4, buf, sizeof buf);
    CHECK(t, strcmp(buf, "4:12") == 0);
    ykd_format_duration(NAN, buf, sizeof buf);
    CHECK(t, strcmp(buf, "0:00") == 0);
    ykd_train_event e = {.kind = YKD_TRAIN_BATCH, .epoch = 2, .epochs = 20, .batch = 12,
                         .batches = 25, .box = 1.23456, .cls = 2.5, .dfl = 1.0,
                         .images_per_s = 85.31, .eta_s = 252, .instances = 40};
    ykd_progress_format(&e, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "3/20");
    CHECK_CONTAINS(t, buf, "12/25");
    CHECK_CONTAINS(t, buf, "box 1.2346  cls 2.5000  dfl 1.0000");
    CHECK_CONTAINS(t, buf, "85.3 img/s  ETA 4:12");
    e.kind = YKD_TRAIN_NOTE, e.message = "hello";
    ykd_progress_format(&e, buf, sizeof buf);
    CHECK(t, strcmp(buf, "hello") == 0);
    /* the epoch's summary names each loss term's part */
    static const char *const names[] = {"train/kd_logit_loss", "train/kd_ld_loss"};
    ykd_train_row row;
    memset(&row, 0, sizeof row);
    row.m = (ykd_epoch_metrics){3, 1.5, 2.5, 1.0, NAN, NAN, NAN, 0.5, 0.25, 0.125, 0.0625,
                                2, {0.0144, 0.03875}, names};
    e = (ykd_train_event){.kind = YKD_TRAIN_EPOCH, .epoch = 2, .epochs = 20, .row = &row};
    ykd_progress_format(&e, buf, sizeof buf);
    CHECK_CONTAINS(t, buf, "dfl 1.0000 | kd_logit 0.0144  kd_ld 0.0387 | val P 0.500");
}

/* ---- the step and its gradient sink ----------------------------------------------------------- */

typedef struct sink_term {
    ykd_test *t;
    const char *name;
    float add;
    double value;
    double cls_grad_sum; /* what the sink held for cls3 (the detection loss's gradient) */
} sink_term;

/* Adds `add` to every element of the gradient of "p4" and reads the head's class gradient. */
static ykd_status sink_compute(void *user, ykd_model *model, const ykd_batch *batch,
                               ykd_grad_sink *sink, double *value, ykd_error *err)
{
    (void)model, (void)batch;
    sink_term *s = user;
    ykd_tensor g, cls;
    ykd_status st = ykd_grad_sink_get(sink, s->name, &g, err);
    if (st == YKD_OK)
        st = ykd_tensor_fill(&g, s->add, err); /* the first request is zeroed: fill adds */
    if (st == YKD_OK)
        st = ykd_grad_sink_get(sink, "cls3", &cls, err);
    size_t n = ykd_tensor_numel(&cls);
    float *host = st == YKD_OK ? malloc(n * sizeof *host) : NULL;
    if (host && ykd_tensor_read(&cls, host, err) == YKD_OK) {
        s->cls_grad_sum = 0;
        for (size_t i = 0; i < n; i++)
            s->cls_grad_sum += fabs(host[i]);
    }
    free(host);
    *value = s->value;
    return st;
}

/* A batch of two noise images with one box each, 64 pixels. */
static bool noise_batch(ykd_batch *b)
{
    memset(b, 0, sizeof *b);
    static float labels[2 * 5] = {0, 0.5f, 0.5f, 0.4f, 0.3f, 1, 0.3f, 0.6f, 0.2f, 0.5f};
    static int counts[2] = {1, 1};
    b->count = 2, b->size = 64, b->max_boxes = 1, b->labels = labels, b->box_counts = counts;
    b->images = malloc(2 * 3 * 64 * 64 * sizeof(float));
    for (size_t i = 0; b->images && i < 2 * 3 * 64 * 64; i++)
        b->images[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    return b->images != NULL;
}

/* Runs one step without an optimizer update and returns the parameter gradients. */
static float *step_grads(ykd_test *t, ykd_step *step, ykd_model *m, const ykd_batch *b,
                         ykd_status expect, ykd_error *err)
{
    ykd_schedule_point p = {{0.01, 0.01, 0.01}, 0.9, 1};
    ykd_step_result r;
    if (!CHECK_OK(t, ykd_model_zero_grad(m, err), *err) ||
        !CHECK_STATUS(t, ykd_step_run(step, b, &p, false, &r, err), expect, *err) ||
        expect != YKD_OK)
        return NULL;
    CHECK(t, !r.optimized && r.loss.total > 0 && isfinite(r.loss.total));
    return read_floats(t, ykd_model_grad_buffer(m), trained_floats(m));
}

static void test_step_extra_terms(ykd_test *t)
{
    ykd_model *m = tiny_model(t);
    ykd_yolo_loss *loss = NULL;
    ykd_optimizer *opt = NULL;
    ykd_step *step = NULL;
    ykd_batch b;
    ykd_error err;
    ykd_optimizer_options oo;
    ykd_optimizer_options_default(&oo);
    bool ok = m && noise_batch(&b) && CHECK_OK(t, ykd_yolo_loss_init(t->device, 2, NULL, &loss,
                                                                     &err), err) &&
              CHECK_OK(t, ykd_optimizer_init(m, &oo, &opt, &err), err);
    ykd_step_parts parts = {m, loss, opt, NULL};
    ok = ok && CHECK_OK(t, ykd_step_init(&parts, 2, 64, false, &step, &err), err);
    float *g0 = ok ? step_grads(t, step, m, &b, YKD_OK, &err) : NULL;
    float *g1 = ok ? step_grads(t, step, m, &b, YKD_OK, &err) : NULL;
    size_t n = m ? trained_floats(m) : 0;
    /* the same batch twice: the same gradients, bit for bit */
    CHECK(t, g0 && g1 && memcmp(g0, g1, n * sizeof *g0) == 0);
    sink_term term = {t, "p4", 0.5f, 1.25, 0};
    ykd_train_loss_term lt = {.name = "test term", .compute = sink_compute, .user = &term};
    ok = ok && CHECK_OK(t, ykd_step_add_loss_term(step, &lt, &err), err);
    float *g2 = ok ? step_grads(t, step, m, &b, YKD_OK, &err) : NULL;
    /* a gradient on p4 (layer 6's output) changes the gradients of the layers before it and
     * of none after (the Detect head, layer 10); the head's cls3 held the detection loss's
     * gradient */
    size_t before = 0, head = 0;
    for (size_t k = 0; g0 && g2 && k < ykd_model_param_count(m); k++) {
        const ykd_model_param *p = ykd_model_param_at(m, k);
        if (!p->grad.buffer)
            continue;
        size_t changed = 0;
        for (size_t i = p->grad.offset; i < p->grad.offset + ykd_tensor_numel(&p->grad); i++)
            changed += g0[i] != g2[i];
        if (strncmp(p->name, "model.10.", 9) == 0)
            head += changed;
        else if (strncmp(p->name, "model.6.", 8) == 0 || strncmp(p->name, "model.0.", 8) == 0)
            before += changed > 0;
    }
    CHECKF(t, g2 && head == 0 && before >= 6, "%zu head gradients changed; %zu tensors of "
                                               "layers 0 and 6 did", head, before);
    CHECK(t, term.cls_grad_sum > 0);
    term.value = NAN;
    step_grads(t, step, m, &b, YKD_ERR_NOT_FINITE, &err);
    CHECK_CONTAINS(t, err.message, "loss term test term is not finite");
    free(g0);
    free(g1);
    free(g2);
    free(b.images);
    ykd_step_free(step);
    ykd_optimizer_free(opt);
    ykd_yolo_loss_free(loss);
    ykd_model_free(m);
}

static const ykd_test_case cases[] = {
    {"schedule: linear and cosine factors", test_schedule_factor, YKD_TEST_HOST},
    {"schedule: warm-up LRs, momentum and accumulation by hand", test_schedule_warmup,
     YKD_TEST_HOST},
    {"schedule: nominal batch size (accumulation, decay)", test_nominal_batch, YKD_TEST_HOST},
    {"optimizer: Ultralytics' auto choice", test_optimizer_auto, YKD_TEST_HOST},
    {"optimizer: parameter groups", test_param_groups, YKD_TEST_HOST},
    {"optimizer: SGD Nesterov step with coupled decay by hand", test_sgd_step,
     YKD_TEST_EACH_DEVICE},
    {"optimizer: gradient clipping and an SGD step by hand", test_sgd_step_clipped,
     YKD_TEST_EACH_DEVICE},
    {"optimizer: gradient clipping and an AdamW step by hand", test_clip_and_adamw,
     YKD_TEST_EACH_DEVICE},
    {"optimizer: a non-finite gradient changes nothing", test_nonfinite_gradient,
     YKD_TEST_EACH_DEVICE},
    {"ema: decay ramp and two updates by hand", test_ema, YKD_TEST_EACH_DEVICE},
    {"state: round trip, wrong sizes, damage", test_state_round_trip, YKD_TEST_EACH_DEVICE},
    {"state: a model file, another version, a missing file", test_state_refusals,
     YKD_TEST_EACH_DEVICE},
    {"options: JSON round trip and checks", test_options_json, YKD_TEST_HOST},
    {"metrics: csv and jsonl", test_metrics_files, YKD_TEST_HOST},
    {"progress: durations and lines", test_progress_text, YKD_TEST_HOST},
    {"step: extra loss terms through the gradient sink", test_step_extra_terms,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
