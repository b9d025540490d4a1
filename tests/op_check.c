#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "op_check.h"

bool ykd_test_guarded_alloc(ykd_test *t, int n, int c, int h, int w, ykd_guarded *g)
{
    size_t count = (size_t)n * c * h * w + 2 * YKD_TEST_GUARD;
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
    g->tensor = ykd_tensor_view(g->buffer, YKD_TEST_GUARD, n, c, h, w);
    return true;
}

bool ykd_test_guards_intact(ykd_test *t, const ykd_guarded *g, const char *what)
{
    float front[YKD_TEST_GUARD], back[YKD_TEST_GUARD];
    size_t end = (YKD_TEST_GUARD + ykd_tensor_numel(&g->tensor)) * sizeof(float);
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_read(g->buffer, 0, front, sizeof front, &err), err) ||
        !CHECK_OK(t, ykd_buffer_read(g->buffer, end, back, sizeof back, &err), err))
        return false;
    for (int i = 0; i < YKD_TEST_GUARD; i++) {
        if (!CHECKF(t, front[i] == YKD_TEST_POISON, "%s: guard before the output changed at %d",
                    what, i - YKD_TEST_GUARD))
            return false;
        if (!CHECKF(t, back[i] == YKD_TEST_POISON, "%s: guard after the output changed at +%d",
                    what, i))
            return false;
    }
    return true;
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

bool ykd_test_expect_tensor(ykd_test *t, const ykd_tensor *got, const double *expected,
                            double max_nmse, const char *what)
{
    size_t count = ykd_tensor_numel(got);
    float *host = malloc(count * sizeof *host);
    ykd_error err;
    bool ok = host && CHECK_OK(t, ykd_tensor_read(got, host, &err), err);
    for (size_t i = 0; ok && i < count; i++)
        ok = CHECKF(t, isfinite(host[i]) && host[i] != YKD_TEST_POISON,
                    "%s: element %zu is %g (unwritten or not finite)", what, i, host[i]);
    if (ok) {
        double nmse = ykd_test_nmse(host, expected, count);
        ok = CHECKF(t, nmse <= max_nmse, "%s: normalised MSE %.3g over the bound %.1g", what,
                    nmse, max_nmse);
    }
    free(host);
    return ok;
}
