/* SGD (plain, momentum, Nesterov, decoupled decay) and AdamW on every device: a first step
 * checked by hand, then several steps against the float64 reference; bad settings and
 * tensors refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/ops.h"

enum { STEPS = 5 };

/* Each step rounds a few times per parameter in float; over 5 steps the state drifts from the
 * float64 one by ~1e-7 relative: NMSE ~1e-14. */
static const double max_nmse = 1e-11;

/* param = 1 and grad = 0.5 everywhere: the values a step must give, worked out by hand. */
static void test_first_step_by_hand(ykd_test *t)
{
    ykd_test_mem m = {0};
    float ones[6] = {1, 1, 1, 1, 1, 1}, halves[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    float zeros[6] = {0};
    ykd_sgd plain = {0.1f, 0.0f, false, 0.01f}, heavy = {0.1f, 0.9f, false, 0.01f};
    ykd_sgd nesterov = {0.1f, 0.9f, true, 0.01f};
    ykd_adamw adamw = {0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
    /* 1 - 0.1*0.01*1 - 0.1*0.5; buf 0.5 then the same; Nesterov steps by 0.5 + 0.9*0.5 */
    const double expected[] = {0.949, 0.949, 0.904};
    const ykd_sgd *settings[] = {&plain, &heavy, &nesterov};
    ykd_error err;
    for (int i = 0; i < 3; i++) {
        const ykd_tensor *p = ykd_test_in(t, &m, ones, 1, 2, 3, 1, false);
        const ykd_tensor *g = ykd_test_in(t, &m, halves, 1, 2, 3, 1, false);
        const ykd_tensor *b = i == 0 ? NULL : ykd_test_in(t, &m, zeros, 1, 2, 3, 1, false);
        double want[6];
        for (int k = 0; k < 6; k++)
            want[k] = expected[i];
        if (p && g && CHECK_OK(t, ykd_sgd_step(p, g, b, settings[i], &err), err))
            ykd_test_expect_tensor(t, p, want, 1e-13, "sgd first step");
    }
    /* AdamW: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25, so
     * param = 1 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002; m and v as the
     * float betas give them (0.999f is 0.99900001, so 1 - beta2 is 1.3e-5 off 0.001) */
    const ykd_tensor *p = ykd_test_in(t, &m, ones, 1, 2, 3, 1, false);
    const ykd_tensor *g = ykd_test_in(t, &m, halves, 1, 2, 3, 1, false);
    const ykd_tensor *mm = ykd_test_in(t, &m, zeros, 1, 2, 3, 1, false);
    const ykd_tensor *vv = ykd_test_in(t, &m, zeros, 1, 2, 3, 1, false);
    double want_p[6], want_m[6], want_v[6];
    for (int k = 0; k < 6; k++) {
        want_p[k] = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8);
        want_m[k] = (1.0 - (double)0.9f) * 0.5;
        want_v[k] = (1.0 - (double)0.999f) * 0.25;
    }
    if (p && g && mm && vv && CHECK_OK(t, ykd_adamw_step(p, g, mm, vv, &adamw, &err), err)) {
        ykd_test_expect_tensor(t, p, want_p, 1e-13, "adamw first step");
        ykd_test_expect_tensor(t, mm, want_m, 1e-13, "adamw m");
        ykd_test_expect_tensor(t, vv, want_v, 1e-13, "adamw v");
    }
    ykd_test_mem_free(&m);
}

/* STEPS steps with fresh gradients each, against the reference after every step. */
static void check_sgd(ykd_test *t, ref_shape s, ykd_sgd sgd)
{
    ykd_test_mem m = {0};
    size_t n = ref_numel(s);
    double *pd, *bd = ykd_test_doubles(&m, n);
    float *p = ykd_test_inputs(&m, n, 1 + n, -1, 1, &pd);
    float *zeros = ykd_test_keep(&m, calloc(n, sizeof *zeros));
    bool with_buf = sgd.momentum > 0.0f;
    char what[128];
    snprintf(what, sizeof what, "sgd momentum %g%s decay %g, %zu values", (double)sgd.momentum,
             sgd.nesterov ? " nesterov" : "", (double)sgd.weight_decay, n);
    const ykd_tensor *gp = ykd_test_in(t, &m, p, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gb = with_buf ? ykd_test_in(t, &m, zeros, s.n, s.c, s.h, s.w, false) : NULL;
    ykd_error err;
    for (int step = 0; step < STEPS && gp && (gb || !with_buf); step++) {
        double *gd;
        float *g = ykd_test_inputs(&m, n, 100 + step, -1, 1, &gd);
        const ykd_tensor *gg = ykd_test_in(t, &m, g, s.n, s.c, s.h, s.w, false);
        ref_sgd_step(n, sgd.lr, sgd.momentum, sgd.nesterov, sgd.weight_decay, pd, gd,
                     with_buf ? bd : NULL);
        if (!gg || !CHECK_OK(t, ykd_sgd_step(gp, gg, gb, &sgd, &err), err) ||
            !ykd_test_expect_tensor(t, gp, pd, max_nmse, what) ||
            (with_buf && !ykd_test_expect_tensor(t, gb, bd, max_nmse, what)))
            break;
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static void check_adamw(ykd_test *t, ref_shape s, ykd_adamw adamw)
{
    ykd_test_mem m = {0};
    size_t n = ref_numel(s);
    double *pd, *md = ykd_test_doubles(&m, n), *vd = ykd_test_doubles(&m, n);
    float *p = ykd_test_inputs(&m, n, 2 + n, -1, 1, &pd);
    float *zeros = ykd_test_keep(&m, calloc(n, sizeof *zeros));
    char what[128];
    snprintf(what, sizeof what, "adamw decay %g, %zu values", (double)adamw.weight_decay, n);
    const ykd_tensor *gp = ykd_test_in(t, &m, p, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gm = ykd_test_in(t, &m, zeros, s.n, s.c, s.h, s.w, false);
    const ykd_tensor *gv = ykd_test_in(t, &m, zeros, s.n, s.c, s.h, s.w, false);
    ykd_error err;
    for (int step = 1; step <= STEPS && gp && gm && gv; step++) {
        double *gd;
        float *g = ykd_test_inputs(&m, n, 200 + step, -1, 1, &gd);
        const ykd_tensor *gg = ykd_test_in(t, &m, g, s.n, s.c, s.h, s.w, false);
        adamw.step = step;
        ref_adamw_step(n, adamw.lr, adamw.beta1, adamw.beta2, adamw.eps, adamw.weight_decay,
                       step, pd, gd, md, vd);
        if (!gg || !CHECK_OK(t, ykd_adamw_step(gp, gg, gm, gv, &adamw, &err), err) ||
            !ykd_test_expect_tensor(t, gp, pd, max_nmse, what) ||
            !ykd_test_expect_tensor(t, gm, md, max_nmse, what) ||
            !ykd_test_expect_tensor(t, gv, vd, max_nmse, what))
            break;
    }
    ykd_test_mem_guards_intact(t, &m, what);
    ykd_test_mem_free(&m);
}

static const ref_shape shapes[] = {{1, 1, 1, 1}, {3, 5, 7, 2}, {64, 17, 3, 3}};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

static void test_sgd(ykd_test *t)
{
    const ykd_sgd settings[] = {{0.1f, 0.0f, false, 0.0f}, {0.05f, 0.9f, false, 5e-4f},
                                {0.01f, 0.937f, true, 5e-4f}, {0.2f, 0.0f, false, 0.1f}};
    for (int s = 0; s < SHAPES; s++)
        for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
            check_sgd(t, shapes[s], settings[i]);
}

static void test_adamw(ykd_test *t)
{
    const ykd_adamw settings[] = {{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1},
                                  {0.01f, 0.937f, 0.999f, 1e-8f, 5e-4f, 1},
                                  {0.1f, 0.0f, 0.5f, 1e-3f, 0.05f, 1}};
    for (int s = 0; s < SHAPES; s++)
        for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
            check_adamw(t, shapes[s], settings[i]);
}

static void test_bad_settings(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *p = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *g = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *other = ykd_test_out(t, &m, 2, 3, 4, 6, false);
    const ykd_tensor *strided = ykd_test_out(t, &m, 2, 3, 4, 5, true);
    ykd_error err;
    if (p && g && other && strided) {
        ykd_sgd sgd = {0.1f, 1.0f, false, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, g, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_sgd_step: momentum 1 is outside [0, 1)");
        sgd = (ykd_sgd){0.1f, 0.0f, true, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "Nesterov");
        sgd = (ykd_sgd){0.1f, 0.9f, false, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        sgd = (ykd_sgd){-0.1f, 0.0f, false, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        sgd = (ykd_sgd){0.1f, 0.0f, false, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, other, NULL, &sgd, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "grad has shape [2, 3, 4, 6] but param has shape");
        CHECK_STATUS(t, ykd_sgd_step(strided, strided, NULL, &sgd, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "must be packed");
        ykd_adamw adamw = {1e-3f, 0.9f, 1.0f, 1e-8f, 0.0f, 1};
        CHECK_STATUS(t, ykd_adamw_step(p, g, g, g, &adamw, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_CONTAINS(t, err.message, "beta2 1 must lie in [0, 1)");
        adamw = (ykd_adamw){1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
        CHECK_STATUS(t, ykd_adamw_step(p, g, g, g, &adamw, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_CONTAINS(t, err.message, "step 0");
        adamw.step = 1;
        CHECK_STATUS(t, ykd_adamw_step(p, g, g, other, &adamw, &err), YKD_ERR_SHAPE, err);
        CHECK_STATUS(t, ykd_adamw_step(p, g, g, g, NULL, &err), YKD_ERR_INVALID_ARGUMENT, err);
        ykd_test_expect_all_poison(t, p, "refused update");
        ykd_test_expect_all_poison(t, g, "refused update");
    }
    ykd_test_mem_free(&m);
}

static const ykd_test_case cases[] = {
    {"optim: the first step, by hand", test_first_step_by_hand, YKD_TEST_EACH_DEVICE},
    {"optim: SGD steps against the reference", test_sgd, YKD_TEST_EACH_DEVICE},
    {"optim: AdamW steps against the reference", test_adamw, YKD_TEST_EACH_DEVICE},
    {"optim: bad settings and tensors are refused", test_bad_settings, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
