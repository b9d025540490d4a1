/* The GEMM implementations against the float64 reference (every tile shape and CLBlast, with
 * batches, k-runs, transposed A, offsets, strides, beta, bias and SiLU), and the tuner's
 * choice remembered in the cache folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "op_check.h"
#include "ops/gemm.h"
#include "ops/ops_state.h"
#include "ref/ref.h"

typedef struct gemm_case {
    int m, n, k, batch, k_batches, trans_a, trans_b;
    int pad_ld;   /* extra floats per row of A, B and C */
    float beta;
    int bias, act;
} gemm_case;

static const gemm_case cases[] = {
    {13, 37, 19, 1, 1, 0, 0, 0, 0.0f, 0, 0},   /* partial tiles in both directions */
    {33, 64, 7, 1, 1, 1, 0, 0, 0.0f, 0, 0},    /* transposed A, full-width tiles */
    {7, 45, 30, 3, 1, 0, 0, 3, 0.5f, 1, 1},    /* batch, padded rows, beta, bias, SiLU */
    {12, 20, 9, 1, 4, 0, 0, 0, 1.0f, 0, 0},    /* k-runs summed into C */
    {70, 100, 150, 2, 1, 1, 0, 1, 0.0f, 1, 0}, /* several tiles each way */
    {13, 37, 19, 1, 1, 0, 1, 0, 0.0f, 0, 0},   /* transposed B: k shorter than a vector */
    {7, 45, 70, 3, 1, 0, 1, 3, 0.5f, 1, 1},    /* ... batch, padding, beta, bias, SiLU */
    {12, 21, 33, 1, 4, 0, 1, 0, 1.0f, 0, 0},   /* ... k-runs, k not a multiple of 16 */
    {70, 100, 150, 2, 1, 0, 1, 1, 0.0f, 1, 0}, /* ... several blocks each way */
};

/* Host copies, in the layouts the device sees, and the expected C. */
typedef struct gemm_data {
    size_t a_size, b_size, c_size;
    float *a, *b, *c, *bias;
    double *expected;
    int lda, ldb, ldc;
    size_t a_step, b_step, c_step; /* floats between products or k-runs */
} gemm_data;

static void make_data(const gemm_case *gc, gemm_data *d, uint64_t seed)
{
    int a_rows = gc->trans_a ? gc->k : gc->m, a_cols = gc->trans_a ? gc->m : gc->k;
    int b_rows = gc->trans_b ? gc->n : gc->k, b_cols = gc->trans_b ? gc->k : gc->n;
    int runs = gc->batch * gc->k_batches;
    d->lda = a_cols + gc->pad_ld;
    d->ldb = b_cols + gc->pad_ld;
    d->ldc = gc->n + gc->pad_ld;
    d->a_step = (size_t)a_rows * d->lda + 5;
    d->b_step = (size_t)b_rows * d->ldb + 3;
    d->c_step = (size_t)gc->m * d->ldc + 2;
    d->a_size = d->a_step * runs;
    d->b_size = d->b_step * runs;
    d->c_size = d->c_step * gc->batch;
    d->a = ykd_test_random_floats(d->a_size, seed, -1.0f, 1.0f);
    d->b = ykd_test_random_floats(d->b_size, seed + 1, -1.0f, 1.0f);
    d->c = ykd_test_random_floats(d->c_size, seed + 2, -1.0f, 1.0f);
    d->bias = ykd_test_random_floats((size_t)gc->m, seed + 3, -1.0f, 1.0f);
    d->expected = calloc(d->c_size, sizeof(double));
    size_t mk = (size_t)gc->m * gc->k, kn = (size_t)gc->k * gc->n, mn = (size_t)gc->m * gc->n;
    double *a = malloc(mk * sizeof *a), *b = malloc(kn * sizeof *b), *c = malloc(mn * sizeof *c);
    double *bias = malloc((size_t)gc->m * sizeof *bias), *sum = calloc(mn, sizeof *sum);
    for (int i = 0; i < gc->m; i++)
        bias[i] = d->bias[i];
    for (size_t i = 0; i < d->c_size; i++)
        d->expected[i] = d->c[i]; /* padding keeps its value: checked below */
    for (int p = 0; p < gc->batch; p++) {
        memset(sum, 0, mn * sizeof *sum);
        for (int kb = 0; kb < gc->k_batches; kb++) {
            size_t run = (size_t)p * gc->k_batches + kb;
            for (int r = 0; r < a_rows; r++)
                for (int q = 0; q < a_cols; q++)
                    a[(size_t)r * a_cols + q] = d->a[run * d->a_step + (size_t)r * d->lda + q];
            for (int r = 0; r < gc->k; r++)
                for (int q = 0; q < gc->n; q++) {
                    size_t stored = gc->trans_b ? (size_t)q * d->ldb + r : (size_t)r * d->ldb + q;
                    b[(size_t)r * gc->n + q] = d->b[run * d->b_step + stored];
                }
            /* each run adds alpha * op(A) B; the epilogue applies once */
            ref_gemm(gc->m, gc->n, gc->k, gc->trans_a, 1.0, a, b, 1.0, NULL, 0, sum);
        }
        for (int r = 0; r < gc->m; r++)
            for (int q = 0; q < gc->n; q++)
                c[(size_t)r * gc->n + q] = d->c[p * d->c_step + (size_t)r * d->ldc + q];
        double *identity = calloc((size_t)gc->m * gc->m, sizeof *identity);
        for (int i = 0; i < gc->m; i++)
            identity[(size_t)i * gc->m + i] = 1.0;
        /* c = act(1 * I * sum + beta * c + bias) */
        ref_gemm(gc->m, gc->n, gc->m, 0, 1.0, identity, sum, gc->beta, gc->bias ? bias : NULL,
                 gc->act, c);
        free(identity);
        for (int r = 0; r < gc->m; r++)
            for (int q = 0; q < gc->n; q++)
                d->expected[p * d->c_step + (size_t)r * d->ldc + q] = c[(size_t)r * gc->n + q];
    }
    free(a);
    free(b);
    free(c);
    free(bias);
    free(sum);
}

static void free_data(gemm_data *d)
{
    free(d->a);
    free(d->b);
    free(d->c);
    free(d->bias);
    free(d->expected);
}

static ykd_buffer *upload(ykd_test *t, const float *host, size_t count)
{
    ykd_buffer *buf = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_buffer_alloc(t->device, count * sizeof(float), &buf, &err), err))
        CHECK_OK(t, ykd_buffer_write(buf, 0, host, count * sizeof(float), &err), err);
    return buf;
}

/* Runs one case with one implementation (NULL: the tuner's choice) and checks all of C,
 * padding included (it must keep its values). */
static void check_case(ykd_test *t, const gemm_case *gc, const ykd_gemm_config *config,
                       const char *label)
{
    gemm_data d;
    make_data(gc, &d, (uint64_t)(gc->m * 131 + gc->n));
    ykd_buffer *a = upload(t, d.a, d.a_size), *b = upload(t, d.b, d.b_size);
    ykd_buffer *c = upload(t, d.c, d.c_size), *bias = upload(t, d.bias, (size_t)gc->m);
    bool batched = gc->batch > 1;
    ykd_gemm g = {.m = gc->m, .n = gc->n, .k = gc->k, .batch = gc->batch,
                  .k_batches = gc->k_batches, .trans_a = gc->trans_a, .trans_b = gc->trans_b,
                  .a = {a, 0, d.lda, batched ? d.a_step : 0, d.a_step},
                  .b = {b, 0, d.ldb, batched ? d.b_step : 0, d.b_step},
                  .c = {c, 0, d.ldc, d.c_step, 0},
                  .alpha = 1.0f, .beta = gc->beta, .bias = gc->bias ? bias : NULL,
                  .act = gc->act ? YKD_ACTIVATION_SILU : YKD_ACTIVATION_NONE};
    ykd_error err;
    ykd_status st = config ? ykd_gemm_run_config(t->device, &g, config, &err)
                           : ykd_gemm_run(t->device, &g, &err);
    if (CHECKF(t, st == YKD_OK, "%s: %s", label, err.message)) {
        ykd_tensor view = ykd_tensor_view(c, 0, 1, 1, 1, (int)d.c_size);
        ykd_test_expect_tensor(t, &view, d.expected, 1e-11, label);
    }
    ykd_buffer_free(a);
    ykd_buffer_free(b);
    ykd_buffer_free(c);
    ykd_buffer_free(bias);
    free_data(&d);
}

static void check_with(ykd_test *t, size_t case_index, const ykd_gemm_config *config)
{
    char name[32], label[96];
    ykd_gemm_config_name(config, name, sizeof name);
    snprintf(label, sizeof label, "%s, case %zu", name, case_index);
    check_case(t, &cases[case_index], config, label);
}

/* Every tile shape the tuner may pick for each case. */
static void test_tiled_shapes(ykd_test *t)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ykd_gemm shape = {.trans_b = cases[i].trans_b};
        ykd_gemm_config configs[8];
        size_t n = ykd_gemm_candidates(t->device, &shape, configs, 8);
        for (size_t c = 0; c < n; c++)
            if (configs[c].backend == YKD_GEMM_TILED)
                check_with(t, i, &configs[c]);
    }
}

static void test_clblast(ykd_test *t)
{
    ykd_gemm_config clblast = {YKD_GEMM_CLBLAST, 0, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_with(t, i, &clblast);
}

static void test_bad_descriptions(ykd_test *t)
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

/* Measures a shape once, remembers it across opens, and measures again after damage. */
static void test_tuner_remembers(ykd_test *t)
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
        ykd_device *own = t->device;
        t->device = dev;
        check_case(t, &cases[0], NULL, "tuned");
        t->device = own;
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
static void test_losing_backend_is_dropped(ykd_test *t)
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
        ykd_device *own = t->device;
        t->device = dev;
        check_case(t, &cases[0], NULL, "tuned after the drop"); /* writes the file */
        t->device = own;
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
static void test_calibration_is_remembered(ykd_test *t)
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

static const ykd_test_case test_cases[] = {
    {"gemm: every tile shape against the reference", test_tiled_shapes, YKD_TEST_EACH_DEVICE},
    {"gemm: CLBlast against the reference", test_clblast, YKD_TEST_EACH_DEVICE},
    {"gemm: bad descriptions are refused", test_bad_descriptions, YKD_TEST_EACH_DEVICE},
    {"gemm: the tuner remembers its choice", test_tuner_remembers, YKD_TEST_EACH_DEVICE},
    {"gemm: a backend that keeps losing is dropped", test_losing_backend_is_dropped,
     YKD_TEST_EACH_DEVICE},
    {"gemm: the calibration is remembered", test_calibration_is_remembered,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(test_cases, sizeof test_cases / sizeof test_cases[0], argc, argv);
}
