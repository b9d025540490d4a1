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

/* The same, and when strided the tensor is the view of channels [1, c + 1) of [n, c + 2, h, w]
 * (a batch stride larger than an image, as a part of a concatenation has), so the channels
 * around it are guards too. */
bool ykd_test_guarded_alloc_view(ykd_test *t, int n, int c, int h, int w, bool strided,
                                 ykd_guarded *g);

/* A guarded (maybe strided) tensor holding host values (packed NCHW). */
bool ykd_test_guarded_upload(ykd_test *t, const float *host, int n, int c, int h, int w,
                             bool strided, ykd_guarded *g);

/* Checks that every float of the buffer outside the tensor still holds the poison; names
 * what in the failure. */
bool ykd_test_guards_intact(ykd_test *t, const ykd_guarded *g, const char *what);

void ykd_test_guarded_free(ykd_guarded *g);

/* A tensor holding host (packed NCHW) values; false (a failed check) on error. */
bool ykd_test_upload(ykd_test *t, const float *host, int n, int c, int h, int w,
                     ykd_tensor *tensor);

/* malloc'd floats uniform in [lo, hi). */
float *ykd_test_random_floats(size_t count, uint64_t seed, float lo, float hi);

/* What one check allocates, freed together by ykd_test_mem_free: host arrays and guarded
 * tensors. Start from {0}. */
enum { YKD_TEST_MEM_BLOCKS = 96, YKD_TEST_MEM_TENSORS = 24 };

typedef struct ykd_test_mem {
    void *blocks[YKD_TEST_MEM_BLOCKS];
    int block_count;
    ykd_guarded tensors[YKD_TEST_MEM_TENSORS];
    int tensor_count;
} ykd_test_mem;

/* Keeps block (from malloc) until ykd_test_mem_free; returns it. */
void *ykd_test_keep(ykd_test_mem *m, void *block);

/* count zeroed doubles, kept by m. */
double *ykd_test_doubles(ykd_test_mem *m, size_t count);

/* Random floats uniform in [lo, hi), and their float64 copy in *as_double when not NULL; kept
 * by m. */
float *ykd_test_inputs(ykd_test_mem *m, size_t count, uint64_t seed, float lo, float hi,
                       double **as_double);

/* A guarded, poisoned tensor (ykd_test_guarded_alloc_view) kept by m; NULL after a failed
 * check. */
const ykd_tensor *ykd_test_out(ykd_test *t, ykd_test_mem *m, int n, int c, int h, int w,
                               bool strided);

/* The same holding host values (packed NCHW). */
const ykd_tensor *ykd_test_in(ykd_test *t, ykd_test_mem *m, const float *host, int n, int c,
                              int h, int w, bool strided);

/* ykd_test_guards_intact for every tensor m keeps. */
bool ykd_test_mem_guards_intact(ykd_test *t, const ykd_test_mem *m, const char *what);

void ykd_test_mem_free(ykd_test_mem *m);

/* The tensor's elements (packed NCHW) in a malloc'd array; NULL (a failed check) on error. */
float *ykd_test_download(ykd_test *t, const ykd_tensor *tensor);

/* Expects every element of the tensor still to hold the poison (an op refused with nothing
 * queued). */
bool ykd_test_expect_all_poison(ykd_test *t, const ykd_tensor *tensor, const char *what);

/* malloc'd float64 copies of floats. */
double *ykd_test_to_double(const float *x, size_t count);

/* Normalised MSE of float64 values, as ykd_test_nmse for floats. */
double ykd_test_nmse_d(const double *got, const double *expected, size_t n);

/* Compares float64 values by normalised MSE (at most max_nmse); fails on a non-finite one. */
bool ykd_test_expect_close(ykd_test *t, const double *got, const double *expected, size_t n,
                           double max_nmse, const char *what);

/* Compares floats with float64 values by normalised MSE (at most max_nmse); fails on a
 * non-finite or poisoned one, or when got is NULL. */
bool ykd_test_expect_floats(ykd_test *t, const float *got, const double *expected, size_t n,
                            double max_nmse, const char *what);

/* A float64 function of nx inputs with ny outputs, for gradient checks. */
typedef void (*ykd_test_fn)(void *ctx, const double *x, double *y);

/* grad[i] = d/dx[i] of sum_j dy[j] * f(x)[j], by central differences with step h (x is
 * restored). */
void ykd_test_numeric_gradient(ykd_test_fn f, void *ctx, double *x, size_t nx, const double *dy,
                               size_t ny, double h, double *grad);

/* Reads the tensor and compares it with expected by normalised MSE (at most max_nmse); also
 * fails on any poisoned or non-finite element. YOLOKD_TEST_SHOW_NMSE=1 in the environment
 * prints every comparison's NMSE (here and in ykd_test_expect_close), to choose bounds by. */
bool ykd_test_expect_tensor(ykd_test *t, const ykd_tensor *got, const double *expected,
                            double max_nmse, const char *what);

#endif
