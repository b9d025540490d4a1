/* Plain-C float64 references of the ops, used by the tests only. */
#ifndef YKD_TEST_REF_H
#define YKD_TEST_REF_H

#include <stddef.h>

/* out[i] = alpha * x[i] + y[i], in double. */
void ref_axpy(size_t n, double alpha, const float *x, const float *y, double *out);

#endif
