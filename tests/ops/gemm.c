/* The GEMM implementations in the op table: case p = {m, n, k, batch, k-runs, transposed A,
 * transposed B, extra floats per row of A, B and C, bias, SiLU}, f = {beta}; A, B, C and the
 * bias are ranges of guarded buffers, and all of C (its padding too, which must keep its
 * values) is compared. The entry's variant: every tile shape the tuner may pick
 * (op_gemm_every_tile), a fixed implementation (a ykd_gemm_config), or NULL (the tuner's
 * choice). Plus the tuner's memory and the refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "ops.h"
#include "ops/gemm.h"
#include "ops/ops_state.h"

enum { A, B, C, BIAS };
static const char *const slot_names[OP_SLOTS] = {"A", "B", "C", "bias"};

const int op_gemm_every_tile = 1;
const ykd_gemm_config op_gemm_clblast = {YKD_GEMM_CLBLAST, 0, 0};

enum { M, N, K, BATCH, K_RUNS, TRANS_A, TRANS_B, PAD_LD, WITH_BIAS, SILU };

/* Where the operands lie: leading dimensions and floats between products or k-runs. */
typedef struct gemm_layout {
    int lda, ldb, ldc, a_rows, a_cols, b_rows, b_cols;
    size_t a_step, b_step, c_step, a_size, b_size, c_size;
} gemm_layout;

static gemm_layout layout_of(const int *p)
{
    gemm_layout l;
    l.a_rows = p[TRANS_A] ? p[K] : p[M];
    l.a_cols = p[TRANS_A] ? p[M] : p[K];
    l.b_rows = p[TRANS_B] ? p[N] : p[K];
    l.b_cols = p[TRANS_B] ? p[K] : p[N];
    int runs = p[BATCH] * p[K_RUNS];
    l.lda = l.a_cols + p[PAD_LD];
    l.ldb = l.b_cols + p[PAD_LD];
    l.ldc = p[N] + p[PAD_LD];
    l.a_step = (size_t)l.a_rows * l.lda + 5;
    l.b_step = (size_t)l.b_rows * l.ldb + 3;
    l.c_step = (size_t)p[M] * l.ldc + 2;
    l.a_size = l.a_step * runs;
    l.b_size = l.b_step * runs;
    l.c_size = l.c_step * p[BATCH];
    return l;
}

static ref_shape range(size_t n)
{
    return OP_SHAPE(1, 1, 1, (int)n);
}

bool op_gemm_setup(op_io *io)
{
    io->slot_names = slot_names;
    const int *p = io->c->p;
    gemm_layout l = layout_of(p);
    snprintf(io->what, sizeof io->what,
             "%s: m %d n %d k %d, batch %d, k-runs %d, %s%s, padding %d, beta %g%s%s",
             io->entry->name, p[M], p[N], p[K], p[BATCH], p[K_RUNS], p[TRANS_A] ? "A^T" : "A",
             p[TRANS_B] ? " B^T" : " B", p[PAD_LD], io->c->f[0], p[WITH_BIAS] ? ", bias" : "",
             p[SILU] ? ", SiLU" : "");
    op_in(io, A, range(l.a_size), -1, 1, false);
    op_in(io, B, range(l.b_size), -1, 1, false);
    op_out_from(io, C, range(l.c_size), -1, 1, false, OP_FORWARD);
    op_in(io, BIAS, range((size_t)p[M]), -1, 1, false);
    return op_setup_ok(io);
}

void op_gemm_reference(op_io *io, op_phase phase)
{
    (void)phase;
    const int *p = io->c->p;
    gemm_layout l = layout_of(p);
    int m = p[M], n = p[N], k = p[K];
    size_t mk = (size_t)m * k, kn = (size_t)k * n, mn = (size_t)m * n;
    double *a = ykd_test_doubles(&io->mem, mk), *b = ykd_test_doubles(&io->mem, kn);
    double *c = ykd_test_doubles(&io->mem, mn), *sum = ykd_test_doubles(&io->mem, mn);
    double *identity = ykd_test_doubles(&io->mem, (size_t)m * m);
    const float *ha = io->host[A], *hb = io->host[B], *hc = io->host[C];
    for (int i = 0; i < m; i++)
        identity[(size_t)i * m + i] = 1.0;
    for (size_t i = 0; i < l.c_size; i++)
        io->expect[C][i] = hc[i]; /* padding keeps its value */
    for (int q = 0; q < p[BATCH]; q++) {
        memset(sum, 0, mn * sizeof *sum);
        for (int kb = 0; kb < p[K_RUNS]; kb++) {
            size_t run = (size_t)q * p[K_RUNS] + kb;
            for (int r = 0; r < l.a_rows; r++)
                for (int j = 0; j < l.a_cols; j++)
                    a[(size_t)r * l.a_cols + j] = ha[run * l.a_step + (size_t)r * l.lda + j];
            for (int r = 0; r < k; r++)
                for (int j = 0; j < n; j++) {
                    size_t stored = p[TRANS_B] ? (size_t)j * l.ldb + r : (size_t)r * l.ldb + j;
                    b[(size_t)r * n + j] = hb[run * l.b_step + stored];
                }
            /* each run adds alpha * op(A) B; the epilogue applies once */
            ref_gemm(m, n, k, p[TRANS_A], 1.0, a, b, 1.0, NULL, 0, sum);
        }
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
                c[(size_t)r * n + j] = hc[q * l.c_step + (size_t)r * l.ldc + j];
        /* c = act(1 * I * sum + beta * c + bias) */
        ref_gemm(m, n, m, 0, 1.0, identity, sum, io->c->f[0],
                 p[WITH_BIAS] ? io->ref[BIAS] : NULL, p[SILU], c);
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
                io->expect[C][q * l.c_step + (size_t)r * l.ldc + j] = c[(size_t)r * n + j];
    }
}

static ykd_gemm description(const op_io *io)
{
    const int *p = io->c->p;
    gemm_layout l = layout_of(p);
    const ykd_tensor *a = io->dev[A], *b = io->dev[B], *c = io->dev[C];
    bool batched = p[BATCH] > 1;
    return (ykd_gemm){.m = p[M], .n = p[N], .k = p[K], .batch = p[BATCH],
                      .k_batches = p[K_RUNS], .trans_a = p[TRANS_A], .trans_b = p[TRANS_B],
                      .a = {a->buffer, a->offset, l.lda, batched ? l.a_step : 0, l.a_step},
                      .b = {b->buffer, b->offset, l.ldb, batched ? l.b_step : 0, l.b_step},
                      .c = {c->buffer, c->offset, l.ldc, l.c_step, 0},
                      .alpha = 1.0f, .beta = (float)io->c->f[0],
                      .bias = p[WITH_BIAS] ? io->dev[BIAS]->buffer : NULL,
                      .bias_offset = io->dev[BIAS]->offset,
                      .act = p[SILU] ? YKD_ACTIVATION_SILU : YKD_ACTIVATION_NONE};
}

/* Every tile shape the tuner measures on any device (those for wide vectors and those for
 * narrow ones), each from C's initial values, each compared. */
static ykd_status every_tile(op_io *io, ykd_error *err)
{
    ykd_gemm g = description(io);
    ykd_gemm_config configs[16];
    size_t n = 0;
    const unsigned widths[] = {16, 8};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const ykd_gemm_config *shapes = NULL;
        size_t count = ykd_gemm_tile_shapes(widths[w], g.trans_b, &shapes);
        for (size_t i = 0; i < count && n < sizeof configs / sizeof configs[0]; i++)
            configs[n++] = shapes[i];
    }
    ykd_status st = YKD_OK;
    char base[sizeof io->what];
    snprintf(base, sizeof base, "%s", io->what);
    for (size_t i = 0; st == YKD_OK && i < n; i++) {
        char name[32];
        ykd_gemm_config_name(&configs[i], name, sizeof name);
        snprintf(io->what, sizeof io->what, "%.150s, %s", base, name);
        st = ykd_tensor_write(io->dev[C], io->host[C], err);
        if (st == YKD_OK)
            st = ykd_gemm_run_config(io->t->device, &g, &configs[i], err);
        if (st == YKD_OK)
            op_compare(io, C);
    }
    return st;
}

ykd_status op_gemm_forward(op_io *io, ykd_error *err)
{
    const void *variant = io->entry->variant;
    if (variant == &op_gemm_every_tile)
        return every_tile(io, err);
    ykd_gemm g = description(io);
    return variant ? ykd_gemm_run_config(io->t->device, &g, variant, err)
                   : ykd_gemm_run(io->t->device, &g, err);
}

/* ---- plain tests ------------------------------------------------------------------------- */

void op_gemm_refusals(ykd_test *t)
{
    ykd_buffer *buf = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, 100 * sizeof(float), &buf, &err), err))
        return;
    ykd_gemm g = {.m = 5, .n = 5, .k = 4, .batch = 1, .k_batches = 1, .a = {buf, 0, 4, 0, 0},
                  .b = {buf, 20, 5, 0, 0}, .c = {buf, 40, 5, 0, 0}, .alpha = 1.0f};
    CHECK_OK(t, ykd_gemm_check(&g, "t", &err), err);
    ykd_gemm bad = g;
    bad.c.offset = 80; /* 5 x 5 from 80 passes 100 */
    CHECK_STATUS(t, ykd_gemm_check(&bad, "t", &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "operand C");
    bad = g;
    bad.a.ld = 3;
    CHECK_STATUS(t, ykd_gemm_check(&bad, "t", &err), YKD_ERR_INVALID_ARGUMENT, err);
    bad = g;
    bad.k = 0;
    CHECK_STATUS(t, ykd_gemm_check(&bad, "t", &err), YKD_ERR_SHAPE, err);
    ykd_gemm_config config;
    CHECK(t, ykd_gemm_config_parse("tiled-6x2", &config) && config.tm == 6 && config.tv == 2);
    CHECK(t, !ykd_gemm_config_parse("tiled-6x", &config));
    CHECK(t, !ykd_gemm_config_parse("tiled-0x2", &config));
    CHECK_STATUS(t, ykd_ops_set_gemm_policy(t->device, "fastest", &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "YOLOKD_GEMM: unknown value 'fastest'");
    ykd_buffer_free(buf);
}

static unsigned tunings_of(ykd_device *device)
{
    ykd_ops_state *state = NULL;
    ykd_error err;
    return ykd_ops_state_get(device, &state, &err) == YKD_OK ? state->tunings : 0u;
}

/* The first case of the table's GEMM entry with the tuner's choice, on dev. */
static void run_tuned(ykd_test *t, ykd_device *dev)
{
    const op_entry *table_entry = op_find_entry("gemm, every tile shape");
    if (!CHECK(t, table_entry != NULL))
        return;
    op_entry tuned = *table_entry;
    tuned.name = "gemm, the tuner's choice";
    tuned.variant = NULL;
    ykd_device *own = t->device;
    t->device = dev;
    op_run_case(t, &tuned, 0);
    t->device = own;
}

/* Measures a shape once, remembers it across opens, and measures again after damage. */
void op_gemm_tuner_remembers(ykd_test *t)
{
    char dir[256], folder[300], path[600];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(folder, sizeof folder, "%s/tuning", dir);
    ykd_device_options options = {.cache_dir = dir};
    ykd_error err;
    /* round 0 measures; round 1 finds the choice; round 2 follows a damaged table */
    static const unsigned expected[3] = {1, 0, 1};
    for (int round = 0; round < 3; round++) {
        ykd_device *dev = ykd_test_reopen(t, &options);
        if (!dev)
            break;
        CHECK_OK(t, ykd_ops_set_gemm_policy(dev, "tiled", &err), err);
        run_tuned(t, dev);
        CHECKF(t, tunings_of(dev) == expected[round],
               "round %d: %u shapes measured, expected %u", round, tunings_of(dev),
               expected[round]);
        ykd_device_close(dev);
        if (!CHECK(t, ykd_test_count_files(folder) == 1 &&
                          ykd_test_any_file(folder, path, sizeof path)))
            break;
        if (round == 1) {
            FILE *f = fopen(path, "w");
            if (f) {
                fputs("garbage\tline\nm1 n1 k1 b1 kb1 t0\tno-such-kernel\t1.0\n", f);
                fclose(f);
            }
        }
    }
    void *text = NULL;
    size_t size = 0;
    if (CHECK_OK(t, ykd_file_read_all(path, 1 << 20, &text, &size, &err), err)) {
        CHECK_CONTAINS(t, (const char *)text, "m13 n37 k19 b1 kb1 t00\ttiled-");
        free(text);
    }
    ykd_test_rmtree(dir);
}

/* A backend that loses by over 3x on four shapes in a row is dropped, written to the tuning
 * file and still dropped after a reopen; one close call in between resets the count. */
void op_gemm_losing_backend_is_dropped(ykd_test *t)
{
    char dir[256];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    ykd_device_options options = {.cache_dir = dir};
    ykd_device *dev = ykd_test_reopen(t, &options);
    ykd_ops_state *state = NULL;
    ykd_error err;
    if (dev && CHECK_OK(t, ykd_ops_state_get(dev, &state, &err), err)) {
        const double heavy_loss[2] = {1.0, 3.5}, close_call[2] = {1.0, 2.5};
        for (int i = 0; i < 3; i++)
            ykd_gemm_score_backends(state, heavy_loss, 1.0);
        ykd_gemm_score_backends(state, close_call, 1.0);
        CHECK(t, !state->backend_dropped[YKD_GEMM_CLBLAST]);
        for (int i = 0; i < 4; i++)
            ykd_gemm_score_backends(state, heavy_loss, 1.0);
        CHECK(t, state->backend_dropped[YKD_GEMM_CLBLAST] &&
                     !state->backend_dropped[YKD_GEMM_TILED]);
        CHECK_OK(t, ykd_ops_set_gemm_policy(dev, "tiled", &err), err);
        run_tuned(t, dev); /* writes the file */
    }
    ykd_device_close(dev);
    dev = ykd_test_reopen(t, &options);
    if (dev && CHECK_OK(t, ykd_ops_state_get(dev, &state, &err), err))
        CHECKF(t, state->backend_dropped[YKD_GEMM_CLBLAST],
               "the drop was not remembered in the tuning file");
    ykd_device_close(dev);
    ykd_test_rmtree(dir);
}

/* The calibration decides once whether convolutions may use windows, and the decision comes
 * back from the tuning file on the next open without measuring again. */
void op_gemm_calibration_is_remembered(ykd_test *t)
{
    char dir[256];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    ykd_device_options options = {.cache_dir = dir};
    ykd_ops_state *state = NULL;
    ykd_error err;
    bool windows = false;
    ykd_device *dev = ykd_test_reopen(t, &options);
    if (dev && CHECK_OK(t, ykd_ops_state_get(dev, &state, &err), err)) {
        CHECK(t, !state->windows_decided);
        ykd_gemm_calibrate(dev, state);
        CHECK(t, state->windows_decided);
        windows = state->windows;
        /* the ratio is CLBlast's time over ours: windows exactly when it is at least 1 */
        CHECKF(t, state->calibration_ratio <= 0 || windows == (state->calibration_ratio >= 1.0),
               "ratio %g but windows %d", state->calibration_ratio, windows);
    }
    ykd_device_close(dev);
    dev = ykd_test_reopen(t, &options);
    if (dev && CHECK_OK(t, ykd_ops_state_get(dev, &state, &err), err)) {
        CHECK(t, state->windows_decided && state->windows == windows);
        CHECK(t, state->tunings == 0);
    }
    ykd_device_close(dev);
    ykd_test_rmtree(dir);
}
