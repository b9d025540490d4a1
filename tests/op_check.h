/* Helpers for op tests: random inputs, outputs in poisoned buffers with guard bands, and
 * comparisons against float64 references. */
#ifndef YKD_TEST_OP_CHECK_H
#define YKD_TEST_OP_CHECK_H

#include "harness.h"
#include "yolokd/tensor.h"

/* Written around and into every output before an op runs: an unwritten element or a write
 * past the end shows up as this value (or as a changed guard). */
#define YKD_TEST_POISON (-7.77e7f)

enum { YKD_TEST_GUARD = 37 }; /* floats of guard band on each side of a guarded tensor */

/* A tensor in the middle of a buffer whose every float starts as YKD_TEST_POISON. */
typedef struct ykd_guarded {
    ykd_tensor tensor;
    ykd_buffer *buffer;
} ykd_guarded;

bool ykd_test_guarded_alloc(ykd_test *t, int n, int c, int h, int w, ykd_guarded *g);

/* Checks that the guard bands still hold the poison; names what in the failure. */
bool ykd_test_guards_intact(ykd_test *t, const ykd_guarded *g, const char *what);

void ykd_test_guarded_free(ykd_guarded *g);

/* A tensor holding host (packed NCHW) values; false (a failed check) on error. */
bool ykd_test_upload(ykd_test *t, const float *host, int n, int c, int h, int w,
                     ykd_tensor *tensor);

/* malloc'd floats uniform in [lo, hi). */
float *ykd_test_random_floats(size_t count, uint64_t seed, float lo, float hi);

/* Reads the tensor and compares it with expected by normalised MSE (at most max_nmse); also
 * fails on any poisoned or non-finite element. */
bool ykd_test_expect_tensor(ykd_test *t, const ykd_tensor *got, const double *expected,
                            double max_nmse, const char *what);

#endif
