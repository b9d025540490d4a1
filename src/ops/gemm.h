/* Matrix products for the convolutions: one description, several implementations (our tiled
 * kernel in several tile shapes, CLBlast), and a tuner that measures them per shape on each
 * device and remembers the fastest in the cache folder. */
#ifndef YKD_GEMM_H
#define YKD_GEMM_H

#include "ops/ops_internal.h"

/* A row-major matrix in a buffer: element (r, c) of product b and k-run kb lives at
 * offset + b * batch_stride + kb * kbatch_stride + r * ld + c (floats). */
typedef struct ykd_gemm_operand {
    const ykd_buffer *buffer;
    size_t offset;
    int ld;
    size_t batch_stride;
    size_t kbatch_stride;
} ykd_gemm_operand;

/* Output pixels as rows of A: pixel p of an output wo wide, computed with the given stride,
 * starts at image * (r / plane) + ((p / wo) * stride * wp + (p % wo) * stride) * channels
 * floats after A's base (before the k-run's offset). */
typedef struct ykd_gemm_pixels {
    int plane, wo, stride, wp, channels;
    size_t image;
} ykd_gemm_pixels;

/* Rows of C as pixels of planes: pixel q = r % pixels (row-major, wo wide) of image
 * r / pixels; element (r, j) at c.offset + (r / pixels) * image + j * channel +
 * (q / wo) * row + (q % wo) * col floats. */
typedef struct ykd_gemm_planes {
    int pixels, wo;
    int row, col;
    size_t channel, image;
} ykd_gemm_planes;

/* C_b = act(alpha * sum_kb op(A_b,kb) op(B_b,kb) + beta * C_b + bias[row]) for b < batch,
 * kb < k_batches; op(A) is A (m x k) or, with trans_a, the transpose of the stored k x m
 * matrix; op(B) is B (k x n) or, with trans_b, the transpose of the stored n x k matrix (not
 * both transposed). batch and k_batches cannot both exceed 1. */
typedef struct ykd_gemm {
    int m, n, k;
    int batch;
    int k_batches;
    bool trans_a, trans_b;
    ykd_gemm_operand a, b, c;
    float alpha, beta;
    const ykd_buffer *bias; /* one float per row of C from bias_offset, or NULL */
    size_t bias_offset;
    ykd_activation act;
    /* Convolutions without im2col (our kernels only): when b_rows is not NULL, stored row r of
     * B starts b_rows[b_rows_offset + r] floats after B's base (instead of r * ld), every
     * start at most b_row_span; when c_pitch is not 0, column p of C is pixel
     * (p / c_pitch, p % c_pitch) of a packed output c_width wide, and columns past that width
     * are dropped. */
    const ykd_buffer *b_rows;
    size_t b_rows_offset;
    size_t b_row_span;
    int c_pitch, c_width;
    /* Convolutions with the channels innermost (our kernels only): when a_pixels.plane is
     * not 0 (no trans_a, trans_b or batch), row r of A is output pixel r % plane of image
     * r / plane and starts at its patch row in a padded channels-last copy (see
     * ykd_gemm_pixels); when c_planes.pixels is not 0 (no trans_b), row r of C is a pixel and
     * column j its channel, stored in planes (see ykd_gemm_planes), with the bias per column
     * (c.ld unused, products c.batch_stride apart). */
    ykd_gemm_pixels a_pixels;
    ykd_gemm_planes c_planes;
} ykd_gemm;

typedef enum ykd_gemm_backend {
    YKD_GEMM_TILED = 0,
    YKD_GEMM_CLBLAST = 1
} ykd_gemm_backend;

/* One implementation: CLBlast, or our kernel with tiles of tm rows by tv columns' worth: 16 *
 * tv columns for cl/gemm.cl, tv columns for cl/gemm_nt.cl (trans_b). */
typedef struct ykd_gemm_config {
    ykd_gemm_backend backend;
    int tm, tv;
} ykd_gemm_config;

/* "tiled-6x2", "clblast". */
void ykd_gemm_config_name(const ykd_gemm_config *config, char *buf, size_t size);
bool ykd_gemm_config_parse(const char *name, ykd_gemm_config *config);

/* The floats from C's offset to the farthest one that batch products write, plus one. */
size_t ykd_gemm_c_extent(const ykd_gemm *g, int batch);

/* Checks the description (sizes, leading dimensions, every operand inside its buffer). */
ykd_status ykd_gemm_check(const ykd_gemm *g, const char *op, ykd_error *err);

/* Runs the product with the implementation the tuner picks for its shape on this device
 * (measuring the candidates the first time a shape is seen). */
ykd_status ykd_gemm_run(ykd_device *device, const ykd_gemm *g, ykd_error *err);

/* Runs the product with one implementation. */
ykd_status ykd_gemm_run_config(ykd_device *device, const ykd_gemm *g,
                               const ykd_gemm_config *config, ykd_error *err);

/* Our kernel's tile shapes worth measuring on a device whose float vectors are vector_floats
 * wide, for products with B transposed (cl/gemm_nt.cl) or not (cl/gemm.cl); points shapes
 * at them and returns their count. */
size_t ykd_gemm_tile_shapes(unsigned vector_floats, bool trans_b,
                            const ykd_gemm_config **shapes);

/* The implementations worth measuring for g on this device, in order of preference on a tie. */
size_t ykd_gemm_candidates(const ykd_device *device, const ykd_gemm *g, ykd_gemm_config *configs,
                           size_t max);

/* Backends. */
ykd_status ykd_gemm_run_tiled(ykd_device *device, const ykd_gemm *g, int tm, int tv,
                              ykd_error *err);
ykd_status ykd_gemm_run_clblast(ykd_device *device, const ykd_gemm *g, ykd_error *err);

/* act(y + bias[c]) over the rows of each product: the epilogue for backends without one. */
ykd_status ykd_gemm_epilogue(ykd_device *device, const ykd_gemm *g, ykd_error *err);

/* The tuner's choice for g's shape (see gemm_tune.c). */
ykd_status ykd_gemm_choose(ykd_device *device, const ykd_gemm *g, ykd_gemm_config *config,
                           ykd_error *err);

#endif
