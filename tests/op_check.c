#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "op_check.h"

bool ykd_test_guarded_alloc(ykd_test *t, int n, int c, int h, int w, ykd_guarded *g)
{
    return ykd_test_guarded_alloc_view(t, n, c, h, w, false, g);
}

bool ykd_test_guarded_alloc_view(ykd_test *t, int n, int c, int h, int w, bool strided,
                                 ykd_guarded *g)
{
    int whole_c = strided ? c + 2 : c;
    size_t count = (size_t)n * whole_c * h * w + 2 * YKD_TEST_GUARD;
    ykd_error err;
    g->buffer = NULL;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, count * sizeof(float), &g->buffer, &err), err))
        return false;
    float poison = YKD_TEST_POISON;
    if (!CHECK_OK(t,
                  ykd_buffer_fill(g->buffer, 0, &poison, sizeof poison, count * sizeof(float),
                                  &err),
                  err))
        return false;
    ykd_tensor whole = ykd_tensor_view(g->buffer, YKD_TEST_GUARD, n, whole_c, h, w);
    g->tensor = strided ? ykd_tensor_channels(&whole, 1, c) : whole;
    return true;
}

bool ykd_test_guarded_upload(ykd_test *t, const float *host, int n, int c, int h, int w,
                             bool strided, ykd_guarded *g)
{
    ykd_error err;
    return ykd_test_guarded_alloc_view(t, n, c, h, w, strided, g) &&
           CHECK_OK(t, ykd_tensor_write(&g->tensor, host, &err), err);
}

bool ykd_test_guards_intact(ykd_test *t, const ykd_guarded *g, const char *what)
{
    size_t count = ykd_buffer_size(g->buffer) / sizeof(float);
    float *all = malloc(count * sizeof *all);
    bool *inside = calloc(count, sizeof *inside);
    ykd_error err;
    bool ok = CHECK(t, all && inside) &&
              CHECK_OK(t, ykd_buffer_read(g->buffer, 0, all, count * sizeof *all, &err), err);
    const ykd_tensor *v = &g->tensor;
    for (int n = 0; ok && n < v->n; n++)
        for (size_t i = 0; i < ykd_tensor_image_size(v); i++)
            inside[v->offset + (size_t)n * v->batch_stride + i] = true;
    for (size_t i = 0; ok && i < count; i++)
        ok = inside[i] || CHECKF(t, all[i] == YKD_TEST_POISON,
                                 "%s: float %td from the tensor's start (outside it) is %g", what,
                                 (ptrdiff_t)i - (ptrdiff_t)v->offset, all[i]);
    free(all);
    free(inside);
    return ok;
}

void ykd_test_guarded_free(ykd_guarded *g)
{
    ykd_buffer_free(g->buffer);
    g->buffer = NULL;
}

bool ykd_test_upload(ykd_test *t, const float *host, int n, int c, int h, int w,
                     ykd_tensor *tensor)
{
    ykd_error err;
    if (!CHECK_OK(t, ykd_tensor_alloc(t->device, n, c, h, w, tensor, &err), err))
        return false;
    return CHECK_OK(t, ykd_tensor_write(tensor, host, &err), err);
}

float *ykd_test_random_floats(size_t count, uint64_t seed, float lo, float hi)
{
    float *p = malloc((count ? count : 1) * sizeof *p);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; p && i < count; i++)
        p[i] = ykd_test_rng_uniform(&rng, lo, hi);
    return p;
}

void *ykd_test_keep(ykd_test_mem *m, void *block)
{
    if (m->block_count < YKD_TEST_MEM_BLOCKS)
        m->blocks[m->block_count++] = block;
    else
        abort(); /* a test keeping more than it declared: raise YKD_TEST_MEM_BLOCKS */
    return block;
}

double *ykd_test_doubles(ykd_test_mem *m, size_t count)
{
    return ykd_test_keep(m, calloc(count ? count : 1, sizeof(double)));
}

float *ykd_test_inputs(ykd_test_mem *m, size_t count, uint64_t seed, float lo, float hi,
                       double **as_double)
{
    float *x = ykd_test_keep(m, ykd_test_random_floats(count, seed, lo, hi));
    if (as_double)
        *as_double = ykd_test_keep(m, ykd_test_to_double(x, count));
    return x;
}

static ykd_guarded *next_tensor(ykd_test_mem *m)
{
    if (m->tensor_count >= YKD_TEST_MEM_TENSORS)
        abort(); /* raise YKD_TEST_MEM_TENSORS */
    ykd_guarded *g = &m->tensors[m->tensor_count++];
    g->buffer = NULL;
    return g;
}

const ykd_tensor *ykd_test_out(ykd_test *t, ykd_test_mem *m, int n, int c, int h, int w,
                               bool strided)
{
    ykd_guarded *g = next_tensor(m);
    return ykd_test_guarded_alloc_view(t, n, c, h, w, strided, g) ? &g->tensor : NULL;
}

const ykd_tensor *ykd_test_in(ykd_test *t, ykd_test_mem *m, const float *host, int n, int c,
                              int h, int w, bool strided)
{
    ykd_guarded *g = next_tensor(m);
    return ykd_test_guarded_upload(t, host, n, c, h, w, strided, g) ? &g->tensor : NULL;
}

bool ykd_test_mem_guards_intact(ykd_test *t, const ykd_test_mem *m, const char *what)
{
    bool ok = true;
    for (int i = 0; i < m->tensor_count; i++)
        ok = (m->tensors[i].buffer == NULL || ykd_test_guards_intact(t, &m->tensors[i], what)) &&
             ok;
    return ok;
}

void ykd_test_mem_free(ykd_test_mem *m)
{
    for (int i = 0; i < m->block_count; i++)
        free(m->blocks[i]);
    for (int i = 0; i < m->tensor_count; i++)
        ykd_test_guarded_free(&m->tensors[i]);
    m->block_count = m->tensor_count = 0;
}

float *ykd_test_download(ykd_test *t, const ykd_tensor *tensor)
{
    float *host = malloc(ykd_tensor_numel(tensor) * sizeof *host);
    ykd_error err;
    if (CHECK(t, host != NULL) && CHECK_OK(t, ykd_tensor_read(tensor, host, &err), err))
        return host;
    free(host);
    return NULL;
}

bool ykd_test_expect_all_poison(ykd_test *t, const ykd_tensor *tensor, const char *what)
{
    float *host = ykd_test_download(t, tensor);
    bool ok = host != NULL;
    for (size_t i = 0; ok && i < ykd_tensor_numel(tensor); i++)
        ok = CHECKF(t, host[i] == YKD_TEST_POISON, "%s: element %zu was written (%g)", what, i,
                    host[i]);
    free(host);
    return ok;
}

double *ykd_test_to_double(const float *x, size_t count)
{
    double *d = malloc((count ? count : 1) * sizeof *d);
    for (size_t i = 0; d && i < count; i++)
        d[i] = x[i];
    return d;
}

double ykd_test_nmse_d(const double *got, const double *expected, size_t n)
{
    double err = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = got[i] - expected[i];
        err += d * d;
        norm += expected[i] * expected[i];
    }
    if (norm == 0.0)
        return err == 0.0 ? 0.0 : INFINITY;
    return err / norm;
}

/* YOLOKD_TEST_SHOW_NMSE=1 prints every comparison, for choosing bounds. */
static bool expect_nmse(ykd_test *t, double nmse, double max_nmse, const char *what)
{
    const char *show = getenv("YOLOKD_TEST_SHOW_NMSE");
    if (show && *show && *show != '0')
        printf("    nmse %.3g (bound %.1g) %s\n", nmse, max_nmse, what);
    return CHECKF(t, nmse <= max_nmse, "%s: normalised MSE %.3g over the bound %.1g", what, nmse,
                  max_nmse);
}

bool ykd_test_expect_close(ykd_test *t, const double *got, const double *expected, size_t n,
                           double max_nmse, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!CHECKF(t, isfinite(got[i]), "%s: element %zu is %g", what, i, got[i]))
            return false;
    return expect_nmse(t, ykd_test_nmse_d(got, expected, n), max_nmse, what);
}

void ykd_test_numeric_gradient(ykd_test_fn f, void *ctx, double *x, size_t nx, const double *dy,
                               size_t ny, double h, double *grad)
{
    double *y = malloc(ny * sizeof *y);
    for (size_t i = 0; y && i < nx; i++) {
        double keep = x[i], up = 0.0, down = 0.0;
        x[i] = keep + h;
        f(ctx, x, y);
        for (size_t j = 0; j < ny; j++)
            up += dy[j] * y[j];
        x[i] = keep - h;
        f(ctx, x, y);
        for (size_t j = 0; j < ny; j++)
            down += dy[j] * y[j];
        x[i] = keep;
        grad[i] = (up - down) / (2.0 * h);
    }
    free(y);
}

bool ykd_test_expect_floats(ykd_test *t, const float *got, const double *expected, size_t n,
                            double max_nmse, const char *what)
{
    if (!CHECKF(t, got != NULL, "%s: no values", what))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!CHECKF(t, isfinite(got[i]) && got[i] != YKD_TEST_POISON,
                    "%s: element %zu is %g (unwritten or not finite)", what, i, got[i]))
            return false;
    return expect_nmse(t, ykd_test_nmse(got, expected, n), max_nmse, what);
}

bool ykd_test_expect_tensor(ykd_test *t, const ykd_tensor *got, const double *expected,
                            double max_nmse, const char *what)
{
    size_t count = ykd_tensor_numel(got);
    float *host = malloc(count * sizeof *host);
    ykd_error err;
    bool ok = host && CHECK_OK(t, ykd_tensor_read(got, host, &err), err) &&
              ykd_test_expect_floats(t, host, expected, count, max_nmse, what);
    free(host);
    return ok;
}
