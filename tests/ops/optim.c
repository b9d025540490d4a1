/* SGD and AdamW in the op table: STEPS steps with fresh gradients each, checked against the
 * float64 reference after every step. sgd case f = {lr, momentum, decoupled weight decay,
 * coupled decay, gradient scale (0: 1)}, p = {Nesterov}; adamw case f = {lr, beta1, beta2, eps,
 * weight decay, gradient scale (0: 1)}. Plus the first step by hand and the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { STEPS = 5, P = 0, S1 = 1, S2 = 2, GRAD = 3 }; /* S1, S2: momentum buffer / m, v */
static const char *const slot_names[OP_SLOTS] = {"param", "momentum buffer or m", "v"};

/* The float64 state after each step: [step][P, S1, S2]. */
typedef struct optim_expect {
    double *state[STEPS][3];
} optim_expect;

static bool is_sgd(const op_io *io)
{
    return io->entry->forward == op_sgd_forward;
}

static bool has_buffer(const op_io *io)
{
    return !is_sgd(io) || io->c->f[1] > 0.0;
}

static ykd_sgd sgd_of(const op_case *c)
{
    return (ykd_sgd){(float)c->f[0], (float)c->f[1], c->p[0] != 0, (float)c->f[2],
                     (float)c->f[3], (float)c->f[4]};
}

static ykd_adamw adamw_of(const op_case *c, int step)
{
    return (ykd_adamw){(float)c->f[0], (float)c->f[1], (float)c->f[2], (float)c->f[3],
                       (float)c->f[4], step, (float)c->f[5]};
}

/* A gradient scale as the kernels take it: 0 means 1. */
static double scale_of(float grad_scale)
{
    return grad_scale == 0.0f ? 1.0 : (double)grad_scale;
}

bool op_optim_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape;
    size_t n = ref_numel(s);
    if (is_sgd(io)) {
        ykd_sgd sgd = sgd_of(io->c);
        snprintf(io->what, sizeof io->what,
                 "sgd momentum %g%s decay %g coupled %g grad scale %g, %zu values",
                 (double)sgd.momentum, sgd.nesterov ? " nesterov" : "", (double)sgd.weight_decay,
                 (double)sgd.coupled_decay, scale_of(sgd.grad_scale), n);
    } else {
        ykd_adamw a = adamw_of(io->c, 1);
        snprintf(io->what, sizeof io->what, "adamw decay %g grad scale %g, %zu values",
                 (double)a.weight_decay, scale_of(a.grad_scale), n);
    }
    op_out_from(io, P, s, -1, 1, false, OP_FORWARD);
    for (int k = S1; k <= (is_sgd(io) ? S1 : S2) && has_buffer(io); k++) {
        op_out_from(io, k, s, 0, 0, false, OP_FORWARD); /* zeros */
    }
    for (int step = 0; step < STEPS; step++)
        op_in(io, GRAD + step, s, -1, 1, false);
    io->scratch = calloc(1, sizeof(optim_expect));
    optim_expect *e = io->scratch;
    for (int step = 0; e && step < STEPS; step++)
        for (int k = 0; k < 3; k++)
            e->state[step][k] = ykd_test_doubles(&io->mem, n);
    return CHECK(io->t, e != NULL) && op_setup_ok(io);
}

void op_optim_reference(op_io *io, op_phase phase)
{
    (void)phase;
    size_t n = ref_numel(io->shape[P]);
    optim_expect *e = io->scratch;
    double *state[3];
    for (int k = 0; k < 3; k++) {
        state[k] = ykd_test_doubles(&io->mem, n);
        for (size_t i = 0; io->ref[k] && i < n; i++)
            state[k][i] = io->ref[k][i];
    }
    const op_case *c = io->c;
    for (int step = 0; step < STEPS; step++) {
        const double *g = io->ref[GRAD + step];
        if (is_sgd(io)) {
            ykd_sgd sgd = sgd_of(c);
            ref_sgd_step(n, sgd.lr, sgd.momentum, sgd.nesterov, sgd.weight_decay,
                         sgd.coupled_decay, scale_of(sgd.grad_scale), state[P], g,
                         has_buffer(io) ? state[S1] : NULL);
        } else {
            ykd_adamw a = adamw_of(c, step + 1);
            ref_adamw_step(n, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, step + 1,
                           scale_of(a.grad_scale), state[P], g, state[S1], state[S2]);
        }
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < n; i++)
                e->state[step][k][i] = state[k][i];
    }
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; io->checked[k] && i < n; i++)
            io->expect[k][i] = state[k][i];
}

/* The device's state against the float64 one after step `step`. */
static bool state_matches(op_io *io, int step)
{
    optim_expect *e = io->scratch;
    bool ok = true;
    for (int k = 0; k < 3; k++)
        if (io->checked[k]) {
            double *keep = io->expect[k];
            io->expect[k] = e->state[step][k];
            ok = op_compare(io, k) && ok;
            io->expect[k] = keep;
        }
    return ok;
}

ykd_status op_sgd_forward(op_io *io, ykd_error *err)
{
    ykd_sgd sgd = sgd_of(io->c);
    ykd_status st = YKD_OK;
    for (int step = 0; st == YKD_OK && step < STEPS; step++) {
        st = ykd_sgd_step(io->dev[P], io->dev[GRAD + step], io->dev[S1], &sgd, err);
        if (st == YKD_OK && !state_matches(io, step))
            break;
    }
    return st;
}

ykd_status op_adamw_forward(op_io *io, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (int step = 0; st == YKD_OK && step < STEPS; step++) {
        ykd_adamw a = adamw_of(io->c, step + 1);
        st = ykd_adamw_step(io->dev[P], io->dev[GRAD + step], io->dev[S1], io->dev[S2], &a, err);
        if (st == YKD_OK && !state_matches(io, step))
            break;
    }
    return st;
}

/* AdamW's first step from param = 1, grad = 0.5 and zero moments, gradient scale s: with
 * g = 0.5 s, m = 0.1 g, v = 0.001 g^2 bias-correct to g and g^2, so
 * param = 1 * (1 - 0.1 * 0.01) - 0.1 * g / (g + 1e-8); m and v as the float betas give them
 * (0.999f is 0.99900001, so 1 - beta2 is 1.3e-5 off 0.001). */
static void adamw_first_step(ykd_test *t, ykd_test_mem *m, float grad_scale)
{
    float ones[6] = {1, 1, 1, 1, 1, 1}, halves[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    float zeros[6] = {0};
    ykd_adamw adamw = {0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, grad_scale};
    double g = 0.5 * scale_of(grad_scale);
    const ykd_tensor *p = ykd_test_in(t, m, ones, 1, 2, 3, 1, false);
    const ykd_tensor *gr = ykd_test_in(t, m, halves, 1, 2, 3, 1, false);
    const ykd_tensor *mm = ykd_test_in(t, m, zeros, 1, 2, 3, 1, false);
    const ykd_tensor *vv = ykd_test_in(t, m, zeros, 1, 2, 3, 1, false);
    double want_p[6], want_m[6], want_v[6];
    for (int k = 0; k < 6; k++) {
        want_p[k] = 0.999 - 0.1 * g / (g + 1e-8);
        want_m[k] = (1.0 - (double)0.9f) * g;
        want_v[k] = (1.0 - (double)0.999f) * g * g;
    }
    ykd_error err;
    if (p && gr && mm && vv && CHECK_OK(t, ykd_adamw_step(p, gr, mm, vv, &adamw, &err), err)) {
        ykd_test_expect_tensor(t, p, want_p, 1e-13, "adamw first step");
        ykd_test_expect_tensor(t, mm, want_m, 1e-13, "adamw m");
        ykd_test_expect_tensor(t, vv, want_v, 1e-13, "adamw v");
        ykd_test_expect_tensor(t, gr, (const double[6]){0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, 0,
                               "adamw leaves the gradient");
    }
}

/* param = 1 and grad = 0.5 everywhere: the values a step must give, worked out by hand. */
void op_optim_first_step_by_hand(ykd_test *t)
{
    ykd_test_mem m = {0};
    float ones[6] = {1, 1, 1, 1, 1, 1}, halves[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    float zeros[6] = {0};
    /* decoupled decay 0.01 throughout; the last three add a coupled decay 0.2 and scale the
     * gradient by 0.5 */
    const ykd_sgd settings[] = {
        {0.1f, 0.0f, false, 0.01f, 0.0f, 0.0f}, {0.1f, 0.9f, false, 0.01f, 0.0f, 0.0f},
        {0.1f, 0.9f, true, 0.01f, 0.0f, 0.0f},  {0.1f, 0.0f, false, 0.01f, 0.2f, 0.5f},
        {0.1f, 0.9f, false, 0.01f, 0.2f, 0.5f}, {0.1f, 0.9f, true, 0.01f, 0.2f, 0.5f},
    };
    /* d = 0.5, or 0.5 * 0.5 + 0.2 * 1 = 0.45; buf = d; param = 1 - 0.1 * 0.01 * 1 - 0.1 * step
     * with step = d (plain, heavy ball) or d + 0.9 d (Nesterov): 0.949, 0.904; 0.954, 0.9135 */
    const double expected[] = {0.949, 0.949, 0.904, 0.954, 0.954, 0.9135};
    const double expected_buf[] = {0, 0.5, 0.5, 0, 0.45, 0.45};
    ykd_error err;
    for (int i = 0; i < 6; i++) {
        const ykd_tensor *p = ykd_test_in(t, &m, ones, 1, 2, 3, 1, false);
        const ykd_tensor *g = ykd_test_in(t, &m, halves, 1, 2, 3, 1, false);
        bool momentum = settings[i].momentum > 0.0f;
        const ykd_tensor *b = momentum ? ykd_test_in(t, &m, zeros, 1, 2, 3, 1, false) : NULL;
        double want[6], want_buf[6], want_g[6];
        for (int k = 0; k < 6; k++)
            want[k] = expected[i], want_buf[k] = expected_buf[i], want_g[k] = 0.5;
        if (!p || !g || !CHECK_OK(t, ykd_sgd_step(p, g, b, &settings[i], &err), err))
            continue;
        ykd_test_expect_tensor(t, p, want, 1e-13, "sgd first step");
        if (b)
            ykd_test_expect_tensor(t, b, want_buf, 1e-13, "sgd momentum buffer");
        ykd_test_expect_tensor(t, g, want_g, 0, "sgd leaves the gradient");
    }
    adamw_first_step(t, &m, 0.0f);
    adamw_first_step(t, &m, 0.5f);
    ykd_test_mem_free(&m);
}

void op_optim_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *p = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *g = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *other = ykd_test_out(t, &m, 2, 3, 4, 6, false);
    const ykd_tensor *strided = ykd_test_out(t, &m, 2, 3, 4, 5, true);
    ykd_error err;
    if (p && g && other && strided) {
        ykd_sgd sgd = {0.1f, 1.0f, false, 0.0f, 0.0f, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, g, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_sgd_step: momentum 1 is outside [0, 1)");
        sgd = (ykd_sgd){0.1f, 0.0f, true, 0.0f, 0.0f, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "Nesterov");
        sgd = (ykd_sgd){0.1f, 0.9f, false, 0.0f, 0.0f, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        sgd = (ykd_sgd){-0.1f, 0.0f, false, 0.0f, 0.0f, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        sgd = (ykd_sgd){0.1f, 0.0f, false, 0.0f, -0.5f, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_sgd_step: coupled_decay -0.5 must be finite and >= 0");
        sgd = (ykd_sgd){0.1f, 0.0f, false, 0.0f, NAN, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "coupled_decay nan");
        sgd = (ykd_sgd){0.1f, 0.0f, false, 0.0f, 0.0f, -1.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_sgd_step: grad_scale -1 must be finite and >= 0");
        sgd = (ykd_sgd){0.1f, 0.0f, false, 0.0f, 0.0f, INFINITY};
        CHECK_STATUS(t, ykd_sgd_step(p, g, NULL, &sgd, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "grad_scale inf");
        sgd = (ykd_sgd){0.1f, 0.0f, false, 0.0f, 0.0f, 0.0f};
        CHECK_STATUS(t, ykd_sgd_step(p, other, NULL, &sgd, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "grad has shape [2, 3, 4, 6] but param has shape");
        CHECK_STATUS(t, ykd_sgd_step(strided, strided, NULL, &sgd, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "must be packed");
        ykd_adamw adamw = {1e-3f, 0.9f, 1.0f, 1e-8f, 0.0f, 1, 0.0f};
        CHECK_STATUS(t, ykd_adamw_step(p, g, g, g, &adamw, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_CONTAINS(t, err.message, "beta2 1 must lie in [0, 1)");
        adamw = (ykd_adamw){1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, NAN};
        CHECK_STATUS(t, ykd_adamw_step(p, g, g, g, &adamw, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_CONTAINS(t, err.message, "ykd_adamw_step: grad_scale nan must be finite and >= 0");
        adamw = (ykd_adamw){1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 0.0f};
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
