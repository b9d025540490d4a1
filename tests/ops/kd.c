/* The distillation losses in the op table, one entry per kind (the entry's variant points to
 * its op_kd_kind): case shape = the student's, p = {teacher channels through an adapter, 0:
 * none}, f = {temperature, norm}; OP_MASKED (mse, imitation: with a mask; ld always has its
 * weights), OP_STRIDED, OP_ACCUMULATE. The forward gives the loss and writes (or adds) 1.75
 * times its gradient; the adapter's gradients add to random values. Plus the float64
 * references by hand and against finite differences, determinism and the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "yolokd/kd_loss.h"

const int op_kd_kind[OP_KD_KINDS] = {OP_KD_LOGIT, OP_KD_LD, OP_KD_CWD, OP_KD_PKD, OP_KD_MSE,
                                     OP_KD_IMITATION};

enum { S, T, WEIGHT, AW, AB, DS, DW, DB };
static const char *const slot_names[OP_SLOTS] = {
    "student", "teacher", "weights", "adapter weight", "adapter bias", "student gradient",
    "adapter weight gradient", "adapter bias gradient"};

static const float grad_scale = 1.75f;

/* One loss on one input: host values (float, and their float64 copies). */
typedef struct problem {
    int kind;
    ref_shape sh; /* the student's */
    int ct;       /* imitation through an adapter: the teacher's channels; 0: no adapter */
    bool masked;
    double temperature, norm;
    float *s, *t, *w, *aw, *ab; /* w: LD weights or the mask [n, 1, h, w]; adapter */
    double *sd, *td, *wd, *awd, *abd;
} problem;

static ref_shape teacher_shape(const problem *p)
{
    ref_shape sh = p->sh;
    if (p->ct)
        sh.c = p->ct;
    return sh;
}

/* Weights: about half the anchors 0 (not positive), the rest in (0, 1]; a mask: 0 or 1. */
static void fill_weights(float *w, double *wd, size_t count, uint64_t seed, bool binary)
{
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; i < count; i++) {
        bool on = ykd_test_rng_next(&rng) % 2 == 0;
        w[i] = on ? (binary ? 1.0f : ykd_test_rng_uniform(&rng, 0.05f, 1.0f)) : 0.0f;
        wd[i] = w[i];
    }
}

/* Random inputs for the kind: logits wide enough to saturate some sigmoids, features whose
 * channels differ in mean and spread. */
static void problem_init(ykd_test_mem *m, problem *p, uint64_t seed)
{
    size_t ns = ref_numel(p->sh), nt = ref_numel(teacher_shape(p));
    float lo = p->kind == OP_KD_LOGIT ? -7.0f : -3.0f, hi = p->kind == OP_KD_LOGIT ? 4.0f : 3.0f;
    p->s = ykd_test_inputs(m, ns, seed, lo, hi, &p->sd);
    p->t = ykd_test_inputs(m, nt, seed + 1, lo, hi, &p->td);
    if (p->kind == OP_KD_PKD) /* a per-channel offset and scale, which standardising removes */
        for (size_t i = 0; i < ns; i++) {
            int c = (int)(i / ((size_t)p->sh.h * p->sh.w) % (size_t)p->sh.c);
            p->s[i] = p->s[i] * (0.5f + 0.25f * (float)c) + (float)c, p->sd[i] = p->s[i];
        }
    size_t anchors = (size_t)p->sh.n * p->sh.h * p->sh.w;
    p->w = ykd_test_keep(m, malloc(anchors * sizeof(float)));
    p->wd = ykd_test_doubles(m, anchors);
    fill_weights(p->w, p->wd, anchors, seed + 2, p->kind != OP_KD_LD);
    if (p->ct) {
        double bound = 1.0 / sqrt((double)p->sh.c);
        p->aw = ykd_test_inputs(m, (size_t)p->ct * p->sh.c, seed + 3, (float)-bound,
                                (float)bound, &p->awd);
        p->ab = ykd_test_inputs(m, (size_t)p->ct, seed + 4, (float)-bound, (float)bound, &p->abd);
    }
}

/* The reference loss; ds, dw, db (may be NULL) receive its gradients. */
static double ref_eval(const problem *p, const double *s, double *ds, double *dw, double *db)
{
    const double *mask = p->masked ? p->wd : NULL;
    switch (p->kind) {
    case OP_KD_LOGIT:
        return ref_kd_logit(p->sh, s, p->td, p->temperature, p->norm, ds);
    case OP_KD_LD:
        return ref_kd_ld(p->sh, s, p->td, p->wd, p->temperature, p->norm, ds);
    case OP_KD_CWD:
        return ref_kd_cwd(p->sh, s, p->td, p->temperature, ds);
    case OP_KD_PKD:
        return ref_kd_pkd(p->sh, s, p->td, YKD_KD_PKD_EPS, ds);
    case OP_KD_MSE:
        return ref_kd_mse(p->sh, s, p->td, mask, p->norm, ds);
    default:
        return ref_kd_imitation(p->sh, p->ct ? p->ct : p->sh.c, s, p->td, mask, p->awd,
                                p->abd, p->norm, ds, dw, db);
    }
}

static problem problem_of(const op_entry *e, const op_case *c)
{
    return (problem){.kind = *(const int *)e->variant, .sh = c->shape, .ct = c->p[0],
                     .masked = c->flags & OP_MASKED, .temperature = c->f[0], .norm = c->f[1]};
}

/* The host values live in the case's scratch problem; slots hold the device tensors. */
bool op_kd_setup(op_io *io)
{
    io->slot_names = slot_names;
    problem *p = io->scratch = malloc(sizeof *p);
    if (!CHECK(io->t, p != NULL))
        return false;
    *p = problem_of(io->entry, io->c);
    problem_init(&io->mem, p, io->seed);
    ref_shape sh = p->sh, ts = teacher_shape(p);
    bool strided = io->c->flags & OP_STRIDED, accumulate = io->c->flags & OP_ACCUMULATE;
    op_describe(io, sh, p->ct ? " adapted" : "");
    io->dev[S] = ykd_test_in(io->t, &io->mem, p->s, sh.n, sh.c, sh.h, sh.w, strided);
    io->dev[T] = ykd_test_in(io->t, &io->mem, p->t, ts.n, ts.c, ts.h, ts.w, !strided);
    io->dev[WEIGHT] = ykd_test_in(io->t, &io->mem, p->w, sh.n, 1, sh.h, sh.w, strided);
    if (accumulate)
        op_out_from(io, DS, sh, -1, 1, strided, OP_FORWARD);
    else
        op_out(io, DS, sh, strided, OP_FORWARD);
    if (p->ct) {
        io->dev[AW] = ykd_test_in(io->t, &io->mem, p->aw, p->ct, sh.c, 1, 1, false);
        io->dev[AB] = ykd_test_in(io->t, &io->mem, p->ab, 1, p->ct, 1, 1, false);
        op_out_from(io, DW, OP_SHAPE(p->ct, sh.c, 1, 1), -1, 1, false, OP_FORWARD);
        op_out_from(io, DB, OP_SHAPE(1, p->ct, 1, 1), -1, 1, false, OP_FORWARD);
    }
    io->has_loss = true;
    return op_setup_ok(io);
}

void op_kd_reference(op_io *io, op_phase phase)
{
    (void)phase;
    const problem *p = io->scratch;
    double *dw = p->ct ? io->expect[DW] : NULL, *db = p->ct ? io->expect[DB] : NULL;
    io->expected_loss = ref_eval(p, p->sd, io->expect[DS], dw, db);
    for (int slot = DS; slot <= DB; slot++) {
        if (!io->checked[slot])
            continue;
        for (size_t i = 0; i < ref_numel(io->shape[slot]); i++)
            io->expect[slot][i] *= grad_scale;
        if (slot != DS || io->c->flags & OP_ACCUMULATE)
            op_add_initial(io, slot);
    }
}

ykd_status op_kd_forward(op_io *io, ykd_error *err)
{
    const problem *p = io->scratch;
    float temp = (float)p->temperature;
    const ykd_tensor *s = io->dev[S], *t = io->dev[T], *mask = p->masked ? io->dev[WEIGHT] : NULL;
    ykd_kd_grad grad = {io->dev[DS], grad_scale, io->c->flags & OP_ACCUMULATE};
    ykd_kd_adapter adapter = {io->dev[AW], io->dev[AB], io->dev[DW], io->dev[DB]};
    double *loss = &io->loss;
    switch (p->kind) {
    case OP_KD_LOGIT:
        return ykd_kd_logit_loss(s, t, temp, p->norm, &grad, loss, err);
    case OP_KD_LD:
        return ykd_kd_ld_loss(s, t, io->dev[WEIGHT], temp, p->norm, &grad, loss, err);
    case OP_KD_CWD:
        return ykd_kd_cwd_loss(s, t, temp, &grad, loss, err);
    case OP_KD_PKD:
        return ykd_kd_pkd_loss(s, t, &grad, loss, err);
    case OP_KD_MSE:
        return ykd_kd_mse_loss(s, t, mask, p->norm, &grad, loss, err);
    default:
        return ykd_kd_imitation_loss(s, t, mask, p->ct ? &adapter : NULL, p->norm, &grad, loss,
                                     err);
    }
}

/* ---- the references against central differences ------------------------------------------- */

typedef struct fd_ctx {
    const problem *p;
    int part; /* 0: the student, 1: the adapter weight, 2: the adapter bias */
} fd_ctx;

static void fd_loss(void *ctx, const double *x, double *y)
{
    const fd_ctx *c = ctx;
    problem q = *c->p;
    if (c->part == 1)
        q.awd = (double *)x;
    if (c->part == 2)
        q.abd = (double *)x;
    y[0] = ref_eval(&q, c->part == 0 ? x : q.sd, NULL, NULL, NULL);
}

static const char *const kind_names[] = {"logit", "ld", "cwd", "pkd", "mse", "imitation"};

/* One problem per kind, small enough to difference. */
void op_kd_reference_gradient(ykd_test *t, const op_entry *e)
{
    static const problem problems[] = {
        {.kind = OP_KD_LOGIT, .sh = {2, 3, 2, 3}, .temperature = 2.0, .norm = 3.0},
        {.kind = OP_KD_LD, .sh = {2, 12, 2, 2}, .temperature = 3.0, .norm = 2.5},
        {.kind = OP_KD_CWD, .sh = {2, 3, 3, 4}, .temperature = 4.0},
        {.kind = OP_KD_PKD, .sh = {2, 3, 3, 4}},
        {.kind = OP_KD_MSE, .sh = {2, 3, 3, 4}, .masked = true, .norm = 7.0},
        {.kind = OP_KD_IMITATION, .sh = {2, 3, 3, 4}, .ct = 5, .masked = true, .norm = 9.0},
    };
    problem p = problems[*(const int *)e->variant];
    ykd_test_mem m = {0};
    problem_init(&m, &p, 100 + p.kind);
    size_t ns = ref_numel(p.sh);
    size_t nw = p.ct ? (size_t)p.ct * p.sh.c : 0, nb = (size_t)p.ct;
    double *ds = ykd_test_doubles(&m, ns), *num = ykd_test_doubles(&m, ns);
    double *dw = ykd_test_doubles(&m, nw + 1), *db = ykd_test_doubles(&m, nb + 1);
    double *numw = ykd_test_doubles(&m, nw + 1), *numb = ykd_test_doubles(&m, nb + 1);
    ref_eval(&p, p.sd, ds, p.ct ? dw : NULL, p.ct ? db : NULL);
    double one = 1.0;
    fd_ctx c = {&p, 0};
    ykd_test_numeric_gradient(fd_loss, &c, p.sd, ns, &one, 1, 1e-5, num);
    char what[96];
    snprintf(what, sizeof what, "%s reference ds", kind_names[p.kind]);
    /* differences with h = 1e-5 err by ~1e-10 relative */
    ykd_test_expect_close(t, ds, num, ns, 1e-14, what);
    if (p.ct) {
        c.part = 1;
        ykd_test_numeric_gradient(fd_loss, &c, p.awd, nw, &one, 1, 1e-5, numw);
        ykd_test_expect_close(t, dw, numw, nw, 1e-14, "imitation reference adapter weight");
        c.part = 2;
        ykd_test_numeric_gradient(fd_loss, &c, p.abd, nb, &one, 1, 1e-5, numb);
        ykd_test_expect_close(t, db, numb, nb, 1e-14, "imitation reference adapter bias");
    }
    ykd_test_mem_free(&m);
}

/* ---- the references by hand ---------------------------------------------------------------- */

/* KL((1/4, 3/4) || (1/2, 1/2)) = 1/4 ln(1/2) + 3/4 ln(3/2), in nats. */
#define KL_QUARTER_HALF (0.25 * log(0.5) + 0.75 * log(1.5))

void op_kd_hand_logit(ykd_test *t)
{
    /* teacher logit ln 3 (p = 3/4), student 0 (q = 1/2): the binary KL is KL_QUARTER_HALF;
     * dL/ds = T (q - p) / norm = -1/4 at T 1, norm 1 */
    ref_shape one = {1, 1, 1, 1};
    double s = 0.0, te = log(3.0), ds;
    double loss = ref_kd_logit(one, &s, &te, 1.0, 1.0, &ds);
    CHECKF(t, fabs(loss - KL_QUARTER_HALF) < 1e-12, "logit KD %.12g", loss);
    CHECKF(t, fabs(ds + 0.25) < 1e-12, "logit KD gradient %.12g", ds);
    /* T 2, norm 4: p = sigmoid(ln 3 / 2) = sqrt 3 / (1 + sqrt 3), q = 1/2; T^2 KL / 4 */
    double p = sqrt(3.0) / (1 + sqrt(3.0));
    double kl = p * log(p / 0.5) + (1 - p) * log((1 - p) / 0.5);
    loss = ref_kd_logit(one, &s, &te, 2.0, 4.0, &ds);
    CHECKF(t, fabs(loss - kl) < 1e-12, "logit KD at T 2: %.12g, by hand %.12g", loss, kl);
    CHECKF(t, fabs(ds - 2 * (0.5 - p) / 4) < 1e-12, "gradient at T 2: %.12g", ds);
    /* equal logits: nothing to learn */
    double same[3] = {-4, 0.5, 9}, d3[3];
    CHECK(t, fabs(ref_kd_logit((ref_shape){1, 3, 1, 1}, same, same, 3.0, 1.0, d3)) < 1e-15);
    CHECK(t, d3[0] == 0.0 && d3[1] == 0.0 && d3[2] == 0.0);
}

void op_kd_hand_ld_cwd(ykd_test *t)
{
    /* LD with 2 bins per side ([1, 8, 1, 2]): anchor 0 has weight 2, the teacher (0, ln 3) on
     * every side, the student (0, 0): L = 2 * 1/4 * 4 KL = 2 KL_QUARTER_HALF at T 1, norm 1;
     * anchor 1 has weight 0 and no gradient whatever its logits */
    ref_shape sh = {1, 8, 1, 2};
    double s[16] = {0}, te[16], w[2] = {2.0, 0.0}, ds[16];
    for (int i = 0; i < 16; i++) {
        int bin = i / 2 % 2, anchor = i % 2;
        te[i] = anchor == 0 && bin == 1 ? log(3.0) : 0.0;
        s[i] = anchor == 1 ? i : 0.0;
    }
    double loss = ref_kd_ld(sh, s, te, w, 1.0, 1.0, ds);
    CHECKF(t, fabs(loss - 2 * KL_QUARTER_HALF) < 1e-12, "LD %.12g", loss);
    /* d/ds = w T (ps - pt) / (4 norm) = 2 (1/2 - 1/4) / 4 for bin 0 */
    CHECKF(t, fabs(ds[0] - 0.125) < 1e-12 && fabs(ds[2] + 0.125) < 1e-12, "LD grad %g %g",
           ds[0], ds[2]);
    for (int i = 1; i < 16; i += 2)
        CHECKF(t, ds[i] == 0.0, "LD gradient at a zero weight: %g", ds[i]);
    /* CWD: one plane of two positions, the same numbers: KL_QUARTER_HALF at T 1; at T 2 the
     * teacher's ln 3 / 2 gives pt = (1, sqrt 3) / (1 + sqrt 3), times T^2 = 4 */
    double cs[2] = {0.0, 0.0}, ct[2] = {0.0, log(3.0)}, cg[2];
    ref_shape plane = {1, 1, 1, 2};
    loss = ref_kd_cwd(plane, cs, ct, 1.0, cg);
    CHECKF(t, fabs(loss - KL_QUARTER_HALF) < 1e-12, "CWD %.12g", loss);
    CHECK(t, fabs(cg[0] - 0.25) < 1e-12 && fabs(cg[1] + 0.25) < 1e-12);
    double p = sqrt(3.0) / (1 + sqrt(3.0));
    double kl = p * log(p / 0.5) + (1 - p) * log((1 - p) / 0.5);
    loss = ref_kd_cwd(plane, cs, ct, 2.0, NULL);
    CHECKF(t, fabs(loss - 4 * kl) < 1e-12, "CWD at T 2: %.12g, by hand %.12g", loss, 4 * kl);
}

void op_kd_hand_pkd_mse(ykd_test *t)
{
    /* PKD: one channel (1, 2, 3, 4) (variance 5/4); an affine copy correlates fully: 0; the
     * negation anti-correlates: (1 / 8) * sum (2 x^)^2 = 2 * 5/4 / (5/4 + eps) */
    ref_shape sh = {1, 1, 2, 2};
    double te[4] = {1, 2, 3, 4}, affine[4], neg[4], ds[4];
    for (int i = 0; i < 4; i++)
        affine[i] = 3 * te[i] - 7, neg[i] = -te[i];
    double loss = ref_kd_pkd(sh, affine, te, 0.0, ds);
    CHECKF(t, fabs(loss) < 1e-15, "PKD of an affine copy %.3g", loss);
    loss = ref_kd_pkd(sh, neg, te, YKD_KD_PKD_EPS, NULL);
    double by_hand = 2 * 1.25 / (1.25 + YKD_KD_PKD_EPS);
    CHECKF(t, fabs(loss - by_hand) < 1e-12, "PKD of the negation %.12g, by hand %.12g", loss,
           by_hand);
    /* the standardised maps are unchanged by adding to or scaling the student: the gradient
     * is orthogonal to the constant map and to the student itself */
    ref_kd_pkd(sh, neg, te, 0.0, ds);
    double along_one = 0.0, along_s = 0.0;
    for (int i = 0; i < 4; i++)
        along_one += ds[i], along_s += ds[i] * (neg[i] + 2.5);
    CHECKF(t, fabs(along_one) < 1e-12 && fabs(along_s) < 1e-12, "PKD gradient %g %g", along_one,
           along_s);
    /* MSE: p (1, 2 | 3, -1) against 0, the mask keeping position 0 only: (1 + 9) / norm */
    ref_shape two = {1, 2, 1, 2};
    double p[4] = {1, 2, 3, -1}, zero[4] = {0}, mask[2] = {1, 0}, dp[4];
    loss = ref_kd_mse(two, p, zero, mask, 5.0, dp);
    CHECKF(t, fabs(loss - 2.0) < 1e-15, "masked MSE %g", loss);
    CHECK(t, dp[0] == 0.4 && dp[1] == 0.0 && dp[2] == 1.2 && dp[3] == 0.0);
}

/* ---- plain device tests -------------------------------------------------------------------- */

/* The same call twice: the same loss to the bit, the same gradient. */
void op_kd_deterministic(ykd_test *t)
{
    ykd_test_mem m = {0};
    problem p = {.kind = OP_KD_CWD, .sh = {2, 32, 20, 20}, .temperature = 4.0};
    problem_init(&m, &p, 5);
    const ykd_tensor *s = ykd_test_in(t, &m, p.s, 2, 32, 20, 20, false);
    const ykd_tensor *te = ykd_test_in(t, &m, p.t, 2, 32, 20, 20, false);
    const ykd_tensor *d1 = ykd_test_out(t, &m, 2, 32, 20, 20, false);
    const ykd_tensor *d2 = ykd_test_out(t, &m, 2, 32, 20, 20, false);
    ykd_error err;
    double l1 = 0, l2 = 1;
    ykd_kd_grad g1 = {d1, 1.0f, false}, g2 = {d2, 1.0f, false};
    if (s && te && d1 && d2 && CHECK_OK(t, ykd_kd_cwd_loss(s, te, 4.0f, &g1, &l1, &err), err) &&
        CHECK_OK(t, ykd_kd_cwd_loss(s, te, 4.0f, &g2, &l2, &err), err)) {
        CHECKF(t, l1 == l2, "two runs: %.17g and %.17g", l1, l2);
        float *a = ykd_test_keep(&m, ykd_test_download(t, d1));
        float *b = ykd_test_keep(&m, ykd_test_download(t, d2));
        CHECK(t, a && b && memcmp(a, b, ykd_tensor_numel(d1) * sizeof(float)) == 0);
    }
    ykd_test_mem_free(&m);
}

/* Device against float64 for one far-apart pair (values of magnitude 100 at T 1): the loss to
 * 1e-5 relative, the gradient by NMSE. */
static void expect_far(ykd_test *t, ref_shape sh, const float *s, const float *te, bool ld,
                       const char *what)
{
    ykd_test_mem m = {0};
    size_t n = ref_numel(sh), anchors = (size_t)sh.n * sh.h * sh.w;
    double *sd = ykd_test_keep(&m, malloc(n * sizeof *sd));
    double *td = ykd_test_keep(&m, malloc(n * sizeof *td));
    double *ds = ykd_test_keep(&m, malloc(n * sizeof *ds));
    double *wd = ykd_test_keep(&m, malloc(anchors * sizeof *wd));
    float *wf = ykd_test_keep(&m, malloc(anchors * sizeof *wf));
    const ykd_tensor *st = ykd_test_in(t, &m, s, sh.n, sh.c, sh.h, sh.w, false);
    const ykd_tensor *tt = ykd_test_in(t, &m, te, sh.n, sh.c, sh.h, sh.w, false);
    const ykd_tensor *dx = ykd_test_out(t, &m, sh.n, sh.c, sh.h, sh.w, false);
    if (sd && td && ds && wd && wf && st && tt && dx) {
        for (size_t i = 0; i < n; i++)
            sd[i] = s[i], td[i] = te[i];
        for (size_t i = 0; i < anchors; i++)
            wd[i] = wf[i] = 1.0f;
        const ykd_tensor *w = ykd_test_in(t, &m, wf, sh.n, 1, sh.h, sh.w, false);
        double want = ld ? ref_kd_ld(sh, sd, td, wd, 1.0, 1.0, ds) : ref_kd_cwd(sh, sd, td, 1.0, ds);
        double got = NAN;
        ykd_kd_grad grad = {dx, 1.0f, false};
        ykd_error err;
        if (w && CHECK_OK(t, ld ? ykd_kd_ld_loss(st, tt, w, 1.0f, 1.0, &grad, &got, &err)
                                : ykd_kd_cwd_loss(st, tt, 1.0f, &grad, &got, &err),
                          err)) {
            CHECKF(t, isfinite(got) && fabs(got - want) <= 1e-5 * fabs(want),
                   "%s: %.9g, float64 %.9g", what, got, want);
            ykd_test_expect_tensor(t, dx, ds, 1e-10, what);
        }
    }
    ykd_test_mem_free(&m);
}

/* Teacher and student far apart, where a sum of exponentials of their difference would
 * overflow a float: a teacher 100 above a flat student (the kernels' scaled sums), a student
 * 100 below a flat teacher (a term exp(g) - u), and both at once; at T 1. */
void op_kd_far_apart(ykd_test *t)
{
    float s[64] = {0}, te[64] = {0};
    te[0 * 16 + 3] = 100.0f;                       /* LD side 0: the teacher peaked */
    s[1 * 16 + 5] = -100.0f;                       /* side 1: the student far below */
    te[3 * 16 + 0] = 100.0f, s[3 * 16 + 0] = -100.0f; /* side 3: both; side 2 equal */
    expect_far(t, (ref_shape){1, 64, 1, 1}, s, te, true, "LD far apart");
    float cs[60] = {0}, ct[60] = {0};
    ct[7] = 100.0f;                      /* CWD plane 0: the teacher peaked */
    cs[20 + 11] = -100.0f;               /* plane 1: the student far below */
    ct[40 + 2] = 100.0f, cs[40 + 2] = -100.0f;
    expect_far(t, (ref_shape){1, 3, 4, 5}, cs, ct, false, "CWD far apart");
}

void op_kd_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *s = ykd_test_out(t, &m, 2, 8, 4, 5, false);
    const ykd_tensor *other = ykd_test_out(t, &m, 2, 8, 4, 6, false);
    const ykd_tensor *dx = ykd_test_out(t, &m, 2, 8, 4, 5, false);
    const ykd_tensor *w = ykd_test_out(t, &m, 2, 1, 4, 5, false);
    const ykd_tensor *wrong_w = ykd_test_out(t, &m, 2, 2, 4, 5, false);
    const ykd_tensor *six = ykd_test_out(t, &m, 2, 6, 4, 5, false);
    const ykd_tensor *aw = ykd_test_out(t, &m, 4, 7, 1, 1, false);
    ykd_error err;
    double loss;
    ykd_kd_grad g = {dx, 1.0f, false};
    if (!(s && other && dx && w && wrong_w && six && aw)) {
        ykd_test_mem_free(&m);
        return;
    }
    CHECK_STATUS(t, ykd_kd_logit_loss(s, other, 1.0f, 1.0, &g, &loss, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message,
                   "ykd_kd_logit_loss: teacher has shape [2, 8, 4, 6] but student has shape "
                   "[2, 8, 4, 5]");
    CHECK_STATUS(t, ykd_kd_cwd_loss(s, s, 1.0f, &(ykd_kd_grad){other, 1.0f, false}, &loss, &err),
                 YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "dx has shape [2, 8, 4, 6] but student has shape [2, 8, 4, 5]");
    CHECK_STATUS(t, ykd_kd_pkd_loss(other, s, &g, &loss, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_kd_pkd_loss: teacher has shape [2, 8, 4, 5]");
    CHECK_STATUS(t, ykd_kd_logit_loss(s, s, 0.0f, 1.0, &g, &loss, &err), YKD_ERR_INVALID_ARGUMENT,
                 err);
    CHECK_CONTAINS(t, err.message, "temperature 0 is not a finite number > 0");
    CHECK_STATUS(t, ykd_kd_cwd_loss(s, s, NAN, &g, &loss, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_kd_mse_loss(s, s, NULL, -1.0, &g, &loss, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "norm -1 is not");
    CHECK_STATUS(t, ykd_kd_ld_loss(six, six, w, 10.0f, 1.0, NULL, &loss, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "student [2, 6, 4, 5]: the channels must be 4 sides");
    CHECK_STATUS(t, ykd_kd_ld_loss(s, s, wrong_w, 10.0f, 1.0, &g, &loss, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "weight has shape [2, 2, 4, 5], expected [2, 1, 4, 5]");
    CHECK_STATUS(t, ykd_kd_mse_loss(s, s, wrong_w, 1.0, &g, &loss, &err), YKD_ERR_SHAPE, err);
    ykd_kd_adapter bad = {aw, NULL, NULL, NULL};
    CHECK_STATUS(t, ykd_kd_imitation_loss(s, s, NULL, &bad, 1.0, &g, &loss, &err), YKD_ERR_SHAPE,
                 err);
    CHECK_CONTAINS(t, err.message, "adapter weight has shape [4, 7, 1, 1], expected [4, 8, 1, 1]");
    ykd_test_expect_all_poison(t, dx, "the gradient of refused calls");
    ykd_test_mem_free(&m);
}

/* A teacher on another context of the same device: refused, naming the devices. */
void op_kd_other_device(ykd_test *t)
{
    ykd_device *second = ykd_test_reopen(t, NULL);
    ykd_test_mem m = {0};
    const ykd_tensor *s = ykd_test_out(t, &m, 1, 4, 3, 3, false);
    const ykd_tensor *dx = ykd_test_out(t, &m, 1, 4, 3, 3, false);
    ykd_tensor far = {0};
    ykd_error err;
    double loss;
    if (second && s && dx && CHECK_OK(t, ykd_tensor_alloc(second, 1, 4, 3, 3, &far, &err), err)) {
        ykd_kd_grad g = {dx, 1.0f, false};
        CHECK_STATUS(t, ykd_kd_cwd_loss(s, &far, 1.0f, &g, &loss, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_kd_cwd_loss: teacher is on device");
        CHECK_CONTAINS(t, err.message, "copy it first");
        ykd_test_expect_all_poison(t, dx, "the gradient of a refused call");
    }
    ykd_tensor_free(&far);
    ykd_test_mem_free(&m);
    ykd_device_close(second);
}

/* NaN in the student: the gradient is written, the loss refused. */
void op_kd_not_finite(ykd_test *t)
{
    ykd_test_mem m = {0};
    float host[12] = {0};
    host[5] = NAN;
    const ykd_tensor *s = ykd_test_in(t, &m, host, 1, 3, 2, 2, false);
    const ykd_tensor *z = ykd_test_out(t, &m, 1, 3, 2, 2, false);
    ykd_error err;
    double loss;
    if (s && z && CHECK_OK(t, ykd_tensor_fill(z, 0.0f, &err), err)) {
        CHECK_STATUS(t, ykd_kd_logit_loss(s, z, 1.0f, 1.0, NULL, &loss, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_kd_logit_loss: the loss is not finite");
        CHECK_STATUS(t, ykd_kd_pkd_loss(s, z, NULL, &loss, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "ykd_kd_pkd_loss: ");
    }
    ykd_test_mem_free(&m);
}
