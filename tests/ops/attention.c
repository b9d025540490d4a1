/* YOLO11's batched matrix products and multi-head attention in the op table, and their
 * refusals.
 * matmul: case shape = {images, -, -, -}, p = {m, cols, k, A^T, B^T}, f = {beta}; C = 0.75
 * op(A) op(B) + beta C, C written (beta 0) or added to; OP_STRIDED: A and C are channel views,
 * else B is. A [rows, cols] operand is stored as [n, rows, 4, cols / 4] where the columns
 * divide by 4, else [n, rows, 1, cols].
 * attention: case shape = {images, -, h, w}, p = {heads, key_dim, head_dim}, scale
 * key_dim^-0.5; qkv and y channel views; the backward (dqkv written, or added to random values
 * with OP_ACCUMULATE) against central differences of the float64 forward, as attention has no
 * float64 backward of its own. */
#include <math.h>
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

/* ---- batched products ------------------------------------------------------------------- */

enum { MA, MB, MC };
static const char *const matmul_slots[OP_SLOTS] = {"a", "b", "c"};
enum { M_ROWS, M_COLS, M_K, M_TRANS_A, M_TRANS_B };
static const float matmul_alpha = 0.75f;

static ref_shape matrix_shape(int n, int rows, int cols)
{
    int h = cols % 4 == 0 ? 4 : 1;
    return OP_SHAPE(n, rows, h, cols / h);
}

bool op_matmul_setup(op_io *io)
{
    io->slot_names = matmul_slots;
    const int *p = io->c->p;
    int n = io->c->shape.n;
    bool strided = io->c->flags & OP_STRIDED, ta = p[M_TRANS_A], tb = p[M_TRANS_B];
    double beta = io->c->f[0];
    int ar = ta ? p[M_K] : p[M_ROWS], ac = ta ? p[M_ROWS] : p[M_K];
    int br = tb ? p[M_COLS] : p[M_K], bc = tb ? p[M_K] : p[M_COLS];
    snprintf(io->what, sizeof io->what, "matmul %d x [%d x %d x %d]%s%s beta %g%s", n, p[M_ROWS],
             p[M_K], p[M_COLS], ta ? " a^T" : "", tb ? " b^T" : "", beta,
             strided ? " strided" : "");
    op_in(io, MA, matrix_shape(n, ar, ac), -1, 1, strided);
    op_in(io, MB, matrix_shape(n, br, bc), -1, 1, !strided);
    ref_shape c = matrix_shape(n, p[M_ROWS], p[M_COLS]);
    if (beta != 0.0)
        op_out_from(io, MC, c, -1, 1, strided, OP_FORWARD);
    else
        op_out(io, MC, c, strided, OP_FORWARD);
    return op_setup_ok(io);
}

void op_matmul_reference(op_io *io, op_phase phase)
{
    (void)phase;
    const int *p = io->c->p;
    double beta = io->c->f[0];
    if (beta != 0.0)
        op_add_initial(io, MC); /* expect = C's values, scaled below */
    ref_matmul(io->c->shape.n, p[M_ROWS], p[M_COLS], p[M_K], p[M_TRANS_A], p[M_TRANS_B],
               matmul_alpha, io->ref[MA], io->ref[MB], beta, io->expect[MC]);
}

ykd_status op_matmul_forward(op_io *io, ykd_error *err)
{
    const int *p = io->c->p;
    return ykd_matmul(io->dev[MA], p[M_TRANS_A], io->dev[MB], p[M_TRANS_B], matmul_alpha,
                      (float)io->c->f[0], io->dev[MC], err);
}

void op_matmul_refusals(ykd_test *t)
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

enum { QKV, PROBS, Y, DY, DQKV };
static const char *const attention_slots[OP_SLOTS] = {"qkv", "probs", "y", "dy", "dqkv"};
enum { HEADS, KEY_DIM, HEAD_DIM };

static ykd_attention attention_of(const op_case *c)
{
    return (ykd_attention){c->p[HEADS], c->p[KEY_DIM], c->p[HEAD_DIM],
                           (float)(1.0 / sqrt((double)c->p[KEY_DIM]))};
}

bool op_attention_setup(op_io *io)
{
    io->slot_names = attention_slots;
    ref_shape s = io->c->shape;
    ykd_attention a = attention_of(io->c);
    int p = s.h * s.w, cq = a.heads * (2 * a.key_dim + a.head_dim), cy = a.heads * a.head_dim;
    bool accumulate = io->c->flags & OP_ACCUMULATE;
    snprintf(io->what, sizeof io->what, "attention n%d, %d heads (%d, %d), %dx%d%s", s.n, a.heads,
             a.key_dim, a.head_dim, s.h, s.w, accumulate ? " accumulating" : "");
    op_in(io, QKV, OP_SHAPE(s.n, cq, s.h, s.w), -1.5f, 1.5f, true);
    /* the probabilities are the backward's input, not compared */
    io->dev[PROBS] = ykd_test_out(io->t, &io->mem, s.n, a.heads * p, 1, p, false);
    op_out(io, Y, OP_SHAPE(s.n, cy, s.h, s.w), true, OP_FORWARD);
    op_in(io, DY, OP_SHAPE(s.n, cy, s.h, s.w), -1, 1, false);
    if (accumulate)
        op_out_from(io, DQKV, io->shape[QKV], -1, 1, true, OP_BACKWARD);
    else
        op_out(io, DQKV, io->shape[QKV], false, OP_BACKWARD);
    return op_setup_ok(io);
}

typedef struct attention_fd {
    ref_shape s;
    ykd_attention a;
} attention_fd;

static void attention_fd_forward(void *ctx, const double *qkv, double *y)
{
    const attention_fd *f = ctx;
    ref_attention_forward(f->s.n, f->s.h * f->s.w, f->a.heads, f->a.key_dim, f->a.head_dim,
                          1.0 / sqrt((double)f->a.key_dim), qkv, y);
}

void op_attention_reference(op_io *io, op_phase phase)
{
    attention_fd f = {io->c->shape, attention_of(io->c)};
    if (phase == OP_FORWARD) {
        attention_fd_forward(&f, io->ref[QKV], io->expect[Y]);
        return;
    }
    /* steps of 1e-5 err by ~1e-10 relative on a smooth function */
    ykd_test_numeric_gradient(attention_fd_forward, &f, io->ref[QKV], ref_numel(io->shape[QKV]),
                              io->ref[DY], ref_numel(io->shape[DY]), 1e-5, io->expect[DQKV]);
    if (io->c->flags & OP_ACCUMULATE)
        op_add_initial(io, DQKV);
}

ykd_status op_attention_forward(op_io *io, ykd_error *err)
{
    ykd_attention a = attention_of(io->c);
    return ykd_attention_forward(io->dev[QKV], &a, io->dev[PROBS], io->dev[Y], err);
}

ykd_status op_attention_backward(op_io *io, ykd_error *err)
{
    ykd_attention a = attention_of(io->c);
    return ykd_attention_backward(io->dev[QKV], io->dev[PROBS], io->dev[DY], &a,
                                  io->c->flags & OP_ACCUMULATE, io->dev[DQKV], err);
}

void op_attention_refusals(ykd_test *t)
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
