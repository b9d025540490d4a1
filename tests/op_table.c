/* The op table: every device op with its shape cases, tolerances, device functions and
 * float64 reference (tests/ops/<family>.c); test-ops runs each entry on every device present.
 * A new op is one entry here (and its functions in tests/ops/); a new device runs every entry.
 * Tolerances bound the normalised MSE against float64 (sum (got - want)^2 / sum want^2) of the
 * forward's and the backward's outputs; a loss is bounded relatively. An entry's case list
 * says in its setup what the case's p, f and flags mean. */
#include "ops/ops.h"

/* SPPF's window, YOLO's classic 2/2, and odd ones: stride above 1 with padding, a kernel
 * larger than the stride, 1x1; the largest shape only for SPPF's window and one general one
 * (and no 2/2 window on a 1x1 plane: it does not fit, the refusals cover that). */
static const op_case maxpool_cases[] = {
    {.shape = {1, 1, 1, 1}, .p = {5, 1, 2}, .flags = OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {5, 1, 2}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {1, 17, 20, 20}, .p = {5, 1, 2}, .flags = OP_ACCUMULATE},
    {.shape = {2, 3, 80, 80}, .p = {5, 1, 2}, .flags = OP_STRIDED | OP_ACCUMULATE},
    /* SPPF's kernels per plane (up to 16x16): a deepest level's 10x10, the largest plane */
    {.shape = {2, 9, 10, 10}, .p = {5, 1, 2}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {1, 5, 16, 13}, .p = {5, 1, 2}},
    {.shape = {2, 3, 3, 5}, .p = {2, 2, 0}},
    {.shape = {1, 17, 20, 20}, .p = {2, 2, 0}, .flags = OP_STRIDED},
    {.shape = {2, 3, 80, 80}, .p = {2, 2, 0}},
    {.shape = {1, 1, 1, 1}, .p = {3, 2, 1}, .flags = OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {3, 2, 1}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {1, 17, 20, 20}, .p = {3, 2, 1}, .flags = OP_ACCUMULATE},
    {.shape = {1, 1, 1, 1}, .p = {3, 1, 1}, .flags = OP_STRIDED},
    {.shape = {2, 3, 3, 5}, .p = {3, 1, 1}},
    {.shape = {1, 17, 20, 20}, .p = {3, 1, 1}, .flags = OP_STRIDED},
    {.shape = {1, 1, 1, 1}, .p = {1, 1, 0}, .flags = OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {1, 1, 0}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {1, 17, 20, 20}, .p = {1, 1, 0}, .flags = OP_ACCUMULATE},
    {.shape = {1, 1, 1, 1}, .p = {4, 3, 2}, .flags = OP_STRIDED},
    {.shape = {2, 3, 3, 5}, .p = {4, 3, 2}},
    {.shape = {1, 17, 20, 20}, .p = {4, 3, 2}, .flags = OP_STRIDED},
};

/* maxpool p = {kernel, stride, padding}, every window with ties (inputs on a coarse grid). */
static const op_case maxpool_tie_cases[] = {
    {.shape = {2, 3, 3, 5}, .p = {5, 1, 2}, .flags = OP_TIES},
    {.shape = {1, 17, 20, 20}, .p = {5, 1, 2}, .flags = OP_STRIDED | OP_TIES | OP_ACCUMULATE},
    {.shape = {2, 9, 10, 10}, .p = {5, 1, 2}, .flags = OP_TIES | OP_ACCUMULATE},
    {.shape = {1, 4, 5, 5}, .p = {5, 1, 2}, .flags = OP_STRIDED | OP_TIES},
    {.shape = {2, 3, 3, 5}, .p = {2, 2, 0}, .flags = OP_TIES},
    {.shape = {1, 17, 20, 20}, .p = {2, 2, 0}, .flags = OP_STRIDED | OP_TIES | OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {3, 2, 1}, .flags = OP_TIES},
    {.shape = {1, 17, 20, 20}, .p = {3, 2, 1}, .flags = OP_STRIDED | OP_TIES | OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {3, 1, 1}, .flags = OP_TIES},
    {.shape = {1, 17, 20, 20}, .p = {3, 1, 1}, .flags = OP_STRIDED | OP_TIES | OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {1, 1, 0}, .flags = OP_TIES},
    {.shape = {1, 17, 20, 20}, .p = {1, 1, 0}, .flags = OP_STRIDED | OP_TIES | OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .p = {4, 3, 2}, .flags = OP_TIES},
    {.shape = {1, 17, 20, 20}, .p = {4, 3, 2}, .flags = OP_STRIDED | OP_TIES | OP_ACCUMULATE},
};

/* Odd sizes, batch 1 and >1, channels not a multiple of any work-group, 1x1 to 80x80, packed
 * and strided (for two operands: a strided and b packed or the reverse). */
#define ELEMENT_SHAPES                                                                          \
    {.shape = {1, 1, 1, 1}}, {.shape = {1, 1, 1, 1}, .flags = OP_STRIDED},                    \
        {.shape = {2, 3, 3, 5}}, {.shape = {2, 3, 3, 5}, .flags = OP_STRIDED},                \
        {.shape = {1, 17, 20, 20}}, {.shape = {1, 17, 20, 20}, .flags = OP_STRIDED},          \
        {.shape = {3, 5, 80, 80}}, {.shape = {3, 5, 80, 80}, .flags = OP_STRIDED}

/* ...and in place. */
static const op_case elementwise_cases[] = {
    ELEMENT_SHAPES,
    {.shape = {3, 7, 5, 9}, .flags = OP_STRIDED | OP_IN_PLACE},
    {.shape = {3, 7, 5, 9}, .flags = OP_IN_PLACE},
};

static const op_case activation_cases[] = {
    ELEMENT_SHAPES,
    {.shape = {2, 3, 7, 9}, .flags = OP_IN_PLACE},
    {.shape = {2, 3, 7, 9}, .flags = OP_STRIDED | OP_IN_PLACE},
};

/* Batch statistics over N*H*W from 16 to 8184 values, odd planes, 1x1 planes, one image;
 * f = {the mean of x}: 100 (90 standard deviations) tests the variance. */
static const op_case batchnorm_train_cases[] = {
    {.shape = {2, 3, 5, 7}, .f = {0.0}},
    {.shape = {16, 3, 1, 1}, .f = {0.0}, .flags = OP_STRIDED},
    {.shape = {4, 19, 20, 20}, .f = {0.0}},
    {.shape = {8, 5, 31, 33}, .f = {0.0}, .flags = OP_STRIDED},
    {.shape = {1, 2, 80, 80}, .f = {0.0}},
    {.shape = {8, 5, 31, 33}, .f = {100.0}},
    {.shape = {4, 19, 20, 20}, .f = {-30.0}, .flags = OP_STRIDED | OP_IN_PLACE},
    {.shape = {2, 3, 5, 7}, .f = {3.0}, .flags = OP_IN_PLACE},
};

static const op_case batchnorm_backward_cases[] = {
    {.shape = {2, 3, 5, 7}, .flags = OP_STRIDED},
    {.shape = {16, 3, 1, 1}, .flags = OP_ACCUMULATE},
    {.shape = {4, 19, 20, 20}, .flags = OP_STRIDED},
    {.shape = {8, 5, 31, 33}, .flags = OP_ACCUMULATE},
    {.shape = {1, 2, 80, 80}, .flags = OP_STRIDED},
    {.shape = {8, 5, 31, 33}, .flags = OP_STRIDED | OP_ACCUMULATE},
};

/* BN and SiLU as one op: x around 0 and far from it, strided, in place, accumulating. */
static const op_case batchnorm_silu_train_cases[] = {
    {.shape = {2, 3, 5, 7}, .f = {0.0}, .flags = OP_SILU},
    {.shape = {4, 19, 20, 20}, .f = {-30.0}, .flags = OP_SILU | OP_STRIDED | OP_IN_PLACE},
    {.shape = {8, 5, 31, 33}, .f = {100.0}, .flags = OP_SILU | OP_STRIDED},
    {.shape = {1, 2, 80, 80}, .f = {0.0}, .flags = OP_SILU},
};

static const op_case batchnorm_silu_backward_cases[] = {
    {.shape = {2, 3, 5, 7}, .flags = OP_SILU | OP_STRIDED},
    {.shape = {16, 3, 1, 1}, .flags = OP_SILU | OP_ACCUMULATE},
    {.shape = {4, 19, 20, 20}, .flags = OP_SILU},
    {.shape = {8, 5, 31, 33}, .flags = OP_SILU | OP_STRIDED | OP_ACCUMULATE},
};

static const op_case batchnorm_train_gpu_cases[] = {
    {.shape = {8, 5, 31, 33}, .f = {100.0}, .flags = OP_STRIDED},
    {.shape = {2, 3, 5, 7}, .f = {0.0}},
};

static const op_case batchnorm_backward_gpu_cases[] = {
    {.shape = {8, 5, 31, 33}, .flags = OP_STRIDED},
    {.shape = {16, 3, 1, 1}, .flags = OP_ACCUMULATE},
};

static const op_case batchnorm_infer_cases[] = {
    {.shape = {2, 3, 5, 7}, .f = {0.25}, .flags = OP_STRIDED},
    {.shape = {16, 3, 1, 1}, .f = {0.25}, .flags = OP_IN_PLACE},
    {.shape = {4, 19, 20, 20}, .f = {0.25}, .flags = OP_STRIDED},
    {.shape = {8, 5, 31, 33}, .f = {0.25}},
    {.shape = {1, 2, 80, 80}, .f = {0.25}, .flags = OP_STRIDED},
};

/* w [cout, cin, k, k], with and without a bias. */
static const op_case batchnorm_fold_cases[] = {
    {.shape = {5, 3, 3, 3}},
    {.shape = {5, 3, 3, 3}, .flags = OP_BIAS},
};

/* Packed and strided, written and accumulating. */
static const op_case upsample2x_cases[] = {
    {.shape = {1, 1, 1, 1}},
    {.shape = {1, 1, 1, 1}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .flags = OP_ACCUMULATE},
    {.shape = {2, 3, 3, 5}, .flags = OP_STRIDED},
    {.shape = {1, 17, 20, 20}},
    {.shape = {1, 17, 20, 20}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {2, 5, 80, 80}, .flags = OP_ACCUMULATE},
    {.shape = {2, 5, 80, 80}, .flags = OP_STRIDED},
};

/* p = {parts, channels of each}: one part, C2f-like pairs, SPPF's four equal parts, nine
 * parts of different sizes (more than one launch takes); images and planes from the shape. */
#define CONCAT_PLANES(s0, more_flags, ...)                                                       \
    {.shape = {1, 0, 1, 1}, .p = {__VA_ARGS__}, .flags = ((s0) ? OP_STRIDED : 0) | more_flags}, \
    {.shape = {2, 0, 3, 5}, .p = {__VA_ARGS__}, .flags = ((s0) ? 0 : OP_STRIDED) | more_flags}, \
    {.shape = {2, 0, 20, 20}, .p = {__VA_ARGS__},                                            \
     .flags = ((s0) ? OP_STRIDED : 0) | more_flags},                                         \
    {.shape = {1, 0, 80, 80}, .p = {__VA_ARGS__}, .flags = ((s0) ? 0 : OP_STRIDED) | more_flags}
static const op_case concat_cases[] = {
    CONCAT_PLANES(true, 0, 1, 3),
    CONCAT_PLANES(false, 0, 2, 2, 5),
    CONCAT_PLANES(true, 0, 4, 4, 4, 4, 4),
    CONCAT_PLANES(false, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9),
};

static const op_case concat_accumulate_cases[] = {
    CONCAT_PLANES(false, OP_ACCUMULATE, 1, 3),
    CONCAT_PLANES(true, OP_ACCUMULATE, 2, 2, 5),
    CONCAT_PLANES(false, OP_ACCUMULATE, 4, 4, 4, 4, 4),
    CONCAT_PLANES(true, OP_ACCUMULATE, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9),
};
#undef CONCAT_PLANES

static const op_case concat_backward_cases[] = {
    {.shape = {2, 0, 3, 5}, .p = {9, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
};

/* A shape reduced along each axis in turn, p = {axis, op}, f = {logit range}: strided first
 * (s0) or packed first, alternating. */
#define EVERY_AXIS(n_, c_, h_, w_, op, range, s0)                                              \
    {.shape = {n_, c_, h_, w_}, .p = {0, op}, .f = {range}, .flags = (s0) ? OP_STRIDED : 0},  \
    {.shape = {n_, c_, h_, w_}, .p = {1, op}, .f = {range}, .flags = (s0) ? 0 : OP_STRIDED},  \
    {.shape = {n_, c_, h_, w_}, .p = {2, op}, .f = {range}, .flags = (s0) ? OP_STRIDED : 0},  \
    {.shape = {n_, c_, h_, w_}, .p = {3, op}, .f = {range}, .flags = (s0) ? 0 : OP_STRIDED}

/* p = {axis, op}: 1x1, odd sizes, channels and heights over a work-group, rows of 80
 * contiguous floats and of 1500 (the work-group form), several images; every axis. */
#define REDUCE_SHAPES(op, s0)                                                                   \
    EVERY_AXIS(1, 1, 1, 1, op, 0.0, !(s0)), EVERY_AXIS(2, 3, 5, 7, op, 0.0, s0),               \
        EVERY_AXIS(3, 17, 20, 20, op, 0.0, !(s0)), EVERY_AXIS(2, 3, 1, 1500, op, 0.0, s0),     \
        EVERY_AXIS(1, 2, 80, 80, op, 0.0, !(s0)), EVERY_AXIS(5, 3, 4, 6, op, 0.0, s0)
static const op_case reduce_sum_cases[] = {REDUCE_SHAPES(0, true)};
static const op_case reduce_mean_cases[] = {REDUCE_SHAPES(1, false)};
static const op_case reduce_max_cases[] = {REDUCE_SHAPES(2, true)};

/* p = {axis}, f = {logit range}: logits to 3, or to 60 (the maximum must be subtracted). */
static const op_case softmax_cases[] = {
    EVERY_AXIS(1, 1, 1, 1, 0, 3.0, true),
    EVERY_AXIS(3, 17, 20, 20, 0, 3.0, true),
    EVERY_AXIS(1, 2, 80, 80, 0, 3.0, true),
};

static const op_case softmax_wide_cases[] = {
    EVERY_AXIS(2, 3, 5, 7, 0, 60.0, false),
    EVERY_AXIS(2, 3, 1, 1500, 0, 60.0, false),
    EVERY_AXIS(5, 3, 4, 6, 0, 60.0, false),
};

/* f = {lr, momentum, decoupled weight decay, coupled decay, gradient scale (0: 1)},
 * p = {Nesterov}: plain, heavy ball with decay, Nesterov, decay alone; then torch.optim.SGD's
 * coupled decay and a clip coefficient, alone and together, plain, heavy ball and Nesterov. */
#define SGD_FUSED_CASES(n_, c_, h_, w_)                                                         \
    {.shape = {n_, c_, h_, w_}, .p = {0}, .f = {0.1, 0.0, 0.0, 0.0005, 0.0}},                  \
        {.shape = {n_, c_, h_, w_}, .p = {0}, .f = {0.05, 0.9, 0.0, 0.0005, 0.0}},             \
        {.shape = {n_, c_, h_, w_}, .p = {1}, .f = {0.01, 0.937, 0.0, 0.0005, 0.0}},           \
        {.shape = {n_, c_, h_, w_}, .p = {0}, .f = {0.1, 0.0, 0.0, 0.0, 0.25}},                \
        {.shape = {n_, c_, h_, w_}, .p = {0}, .f = {0.05, 0.9, 0.0005, 0.0, 0.6}},             \
        {.shape = {n_, c_, h_, w_}, .p = {1}, .f = {0.01, 0.937, 0.0, 0.0, 0.3}},              \
        {.shape = {n_, c_, h_, w_}, .p = {0}, .f = {0.2, 0.0, 0.1, 0.05, 0.5}},                \
        {.shape = {n_, c_, h_, w_}, .p = {0}, .f = {0.05, 0.9, 0.0, 0.0005, 0.37}},            \
        {.shape = {n_, c_, h_, w_}, .p = {1}, .f = {0.01, 0.937, 0.0005, 0.0005, 0.37}}
static const op_case sgd_cases[] = {
    {.shape = {1, 1, 1, 1}, .p = {0}, .f = {0.1, 0.0, 0.0}},
    {.shape = {1, 1, 1, 1}, .p = {0}, .f = {0.05, 0.9, 0.0005}},
    {.shape = {1, 1, 1, 1}, .p = {1}, .f = {0.01, 0.937, 0.0005}},
    {.shape = {1, 1, 1, 1}, .p = {0}, .f = {0.2, 0.0, 0.1}},
    {.shape = {3, 5, 7, 2}, .p = {0}, .f = {0.1, 0.0, 0.0}},
    {.shape = {3, 5, 7, 2}, .p = {0}, .f = {0.05, 0.9, 0.0005}},
    {.shape = {3, 5, 7, 2}, .p = {1}, .f = {0.01, 0.937, 0.0005}},
    {.shape = {3, 5, 7, 2}, .p = {0}, .f = {0.2, 0.0, 0.1}},
    {.shape = {64, 17, 3, 3}, .p = {0}, .f = {0.1, 0.0, 0.0}},
    {.shape = {64, 17, 3, 3}, .p = {0}, .f = {0.05, 0.9, 0.0005}},
    {.shape = {64, 17, 3, 3}, .p = {1}, .f = {0.01, 0.937, 0.0005}},
    {.shape = {64, 17, 3, 3}, .p = {0}, .f = {0.2, 0.0, 0.1}},
    SGD_FUSED_CASES(1, 1, 1, 1),
    SGD_FUSED_CASES(3, 5, 7, 2),
    SGD_FUSED_CASES(64, 17, 3, 3),
};

/* f = {lr, beta1, beta2, eps, weight decay, gradient scale (0: 1)}. */
static const op_case adamw_cases[] = {
    {.shape = {1, 1, 1, 1}, .f = {0.001, 0.9, 0.999, 1e-08, 0.0}},
    {.shape = {1, 1, 1, 1}, .f = {0.01, 0.937, 0.999, 1e-08, 0.0005}},
    {.shape = {1, 1, 1, 1}, .f = {0.1, 0.0, 0.5, 0.001, 0.05}},
    {.shape = {1, 1, 1, 1}, .f = {0.01, 0.937, 0.999, 1e-08, 0.0005, 0.3}},
    {.shape = {3, 5, 7, 2}, .f = {0.001, 0.9, 0.999, 1e-08, 0.0}},
    {.shape = {3, 5, 7, 2}, .f = {0.01, 0.937, 0.999, 1e-08, 0.0005}},
    {.shape = {3, 5, 7, 2}, .f = {0.1, 0.0, 0.5, 0.001, 0.05}},
    {.shape = {3, 5, 7, 2}, .f = {0.01, 0.937, 0.999, 1e-08, 0.0005, 0.3}},
    {.shape = {64, 17, 3, 3}, .f = {0.001, 0.9, 0.999, 1e-08, 0.0}},
    {.shape = {64, 17, 3, 3}, .f = {0.01, 0.937, 0.999, 1e-08, 0.0005}},
    {.shape = {64, 17, 3, 3}, .f = {0.1, 0.0, 0.5, 0.001, 0.05}},
    {.shape = {64, 17, 3, 3}, .f = {0.01, 0.937, 0.999, 1e-08, 0.0005, 0.3}},
};

/* [1, 1, 1, n]: ranges around work-group and vector boundaries, and one large odd size. */
static const op_case range_cases[] = {
    {.shape = {1, 1, 1, 1}},
    {.shape = {1, 1, 1, 2}},
    {.shape = {1, 1, 1, 7}},
    {.shape = {1, 1, 1, 63}},
    {.shape = {1, 1, 1, 64}},
    {.shape = {1, 1, 1, 65}},
    {.shape = {1, 1, 1, 255}},
    {.shape = {1, 1, 1, 256}},
    {.shape = {1, 1, 1, 257}},
    {.shape = {1, 1, 1, 1000}},
    {.shape = {1, 1, 1, 100003}},
};

/* p = {m, n, k, batch, k-runs, A^T, B^T, padding, bias, SiLU}, f = {beta}: partial tiles in
 * both directions; transposed A with full-width tiles; a batch with padded rows, beta, bias
 * and SiLU; k-runs summed into C; several tiles each way; then transposed B (k shorter than
 * a vector, k not a multiple of 16, several blocks each way). */
static const op_case gemm_cases[] = {
    {.shape = {1, 1, 1, 1}, .p = {13, 37, 19, 1, 1, 0, 0, 0, 0, 0}, .f = {0.0}},
    {.shape = {1, 1, 1, 1}, .p = {33, 64, 7, 1, 1, 1, 0, 0, 0, 0}, .f = {0.0}},
    {.shape = {1, 1, 1, 1}, .p = {7, 45, 30, 3, 1, 0, 0, 3, 1, 1}, .f = {0.5}},
    {.shape = {1, 1, 1, 1}, .p = {12, 20, 9, 1, 4, 0, 0, 0, 0, 0}, .f = {1.0}},
    {.shape = {1, 1, 1, 1}, .p = {70, 100, 150, 2, 1, 1, 0, 1, 1, 0}, .f = {0.0}},
    {.shape = {1, 1, 1, 1}, .p = {13, 37, 19, 1, 1, 0, 1, 0, 0, 0}, .f = {0.0}},
    {.shape = {1, 1, 1, 1}, .p = {7, 45, 70, 3, 1, 0, 1, 3, 1, 1}, .f = {0.5}},
    {.shape = {1, 1, 1, 1}, .p = {12, 21, 33, 1, 4, 0, 1, 0, 0, 0}, .f = {1.0}},
    {.shape = {1, 1, 1, 1}, .p = {70, 100, 150, 2, 1, 0, 1, 1, 1, 0}, .f = {0.0}},
};

/* x [n, cin, h, w], p = {cout, k, stride, padding}, each with a bias, and with SiLU and
 * accumulated gradients: 3x3 same padding with odd sizes; stride 2; 1x1 (the direct
 * product); 1x1 with stride (through im2col); 5x5; several GEMM tiles with the weight
 * gradient over k-runs; stride 2 again; a kernel larger than the input; many channels on a
 * tiny plane; 3x3 without padding on a plane wide enough that Winograd's strips of four 4x4
 * tiles load whole rows inside it, beside strips cut by the edges (and a padding of 2 in its
 * input gradient); stride 2 on wide rows; stride 2 over 20 channels (a whole block of 16 and
 * a part in the layouts built 16 channels at a time). */
#define CONV_SHAPE(n_, c_, h_, w_, cout, k, stride, pad)                                         \
    {.shape = {n_, c_, h_, w_}, .p = {cout, k, stride, pad}, .flags = OP_BIAS},               \
    {.shape = {n_, c_, h_, w_}, .p = {cout, k, stride, pad}, .flags = OP_SILU | OP_ACCUMULATE}
static const op_case conv_cases[] = {
    CONV_SHAPE(2, 3, 7, 9, 5, 3, 1, 1),     CONV_SHAPE(1, 4, 8, 8, 6, 3, 2, 1),
    CONV_SHAPE(3, 5, 5, 6, 7, 1, 1, 0),     CONV_SHAPE(2, 3, 9, 7, 4, 1, 2, 0),
    CONV_SHAPE(2, 6, 6, 5, 9, 5, 1, 2),     CONV_SHAPE(2, 17, 20, 20, 33, 3, 1, 1),
    CONV_SHAPE(4, 8, 12, 10, 16, 3, 2, 1),  CONV_SHAPE(1, 2, 2, 3, 3, 3, 1, 1),
    CONV_SHAPE(2, 37, 3, 5, 21, 3, 1, 1), /* many channels on a tiny plane: K * C = 111 */
    CONV_SHAPE(1, 3, 11, 38, 4, 3, 1, 0), CONV_SHAPE(1, 3, 9, 40, 4, 3, 2, 1),
    CONV_SHAPE(2, 20, 9, 11, 24, 3, 2, 1),
};
#undef CONV_SHAPE

/* Grouped convolutions, p = {cout, k, stride, padding, groups}, with a bias and SiLU, each
 * shape written and accumulated, strided in one of the two: depthwise 3x3 (YOLO11's DWConv
 * and pe); depthwise with stride 2; two groups; depthwise with two outputs per channel, 5x5;
 * 1x1 in groups; a kernel larger than the input; a weight gradient over many positions. */
#define GROUPED(n_, c_, h_, w_, cout, k, stride, pad, groups, first_strided)                     \
    {.shape = {n_, c_, h_, w_}, .p = {cout, k, stride, pad, groups},                          \
     .flags = OP_BIAS | OP_SILU | ((first_strided) ? OP_STRIDED : 0)},                        \
    {.shape = {n_, c_, h_, w_}, .p = {cout, k, stride, pad, groups},                          \
     .flags = OP_BIAS | OP_SILU | OP_ACCUMULATE | ((first_strided) ? 0 : OP_STRIDED)}
static const op_case conv_grouped_cases[] = {
    GROUPED(2, 6, 7, 9, 6, 3, 1, 1, 6, false),
    GROUPED(1, 8, 9, 8, 8, 3, 2, 1, 8, true),
    GROUPED(2, 6, 6, 5, 4, 3, 1, 1, 2, false),
    GROUPED(1, 3, 5, 6, 6, 5, 1, 2, 3, true),
    GROUPED(2, 4, 4, 4, 8, 1, 1, 0, 4, false),
    GROUPED(1, 2, 2, 3, 2, 3, 1, 1, 2, true),
    GROUPED(3, 16, 20, 20, 16, 3, 1, 1, 16, false),
};
#undef GROUPED

/* Batched products, p = {m, cols, k, A^T, B^T}, f = {beta}: each shape written (beta 0) and
 * accumulated (beta 1), A and C as views in one, B in the other; odd sizes, A transposed, B
 * transposed, several tiles, 1x1x1. */
#define PRODUCT(n_, m, cols, k, ta, tb, first_strided)                                          \
    {.shape = {n_, 0, 0, 0}, .p = {m, cols, k, ta, tb}, .f = {0.0},                           \
     .flags = (first_strided) ? OP_STRIDED : 0},                                              \
    {.shape = {n_, 0, 0, 0}, .p = {m, cols, k, ta, tb}, .f = {1.0},                           \
     .flags = (first_strided) ? 0 : OP_STRIDED}
static const op_case matmul_cases[] = {
    PRODUCT(2, 5, 7, 3, 0, 0, true),   PRODUCT(3, 6, 4, 9, 1, 0, false),
    PRODUCT(2, 8, 5, 6, 0, 1, true),   PRODUCT(1, 33, 40, 17, 1, 0, false),
    PRODUCT(2, 20, 36, 24, 0, 1, true), PRODUCT(1, 1, 1, 1, 0, 0, false),
};
#undef PRODUCT

/* Attention, shape {n, -, h, w}, p = {heads, key_dim, head_dim}: YOLO11's ratio key_dim =
 * head_dim / 2; one head; three heads; each written and accumulated. */
static const op_case attention_cases[] = {
    {.shape = {2, 0, 3, 5}, .p = {2, 4, 8}},
    {.shape = {2, 0, 3, 5}, .p = {2, 4, 8}, .flags = OP_ACCUMULATE},
    {.shape = {1, 0, 4, 4}, .p = {1, 3, 3}},
    {.shape = {1, 0, 4, 4}, .p = {1, 3, 3}, .flags = OP_ACCUMULATE},
    {.shape = {1, 0, 2, 3}, .p = {3, 2, 4}},
    {.shape = {1, 0, 2, 3}, .p = {3, 2, 4}, .flags = OP_ACCUMULATE},
};

/* The forward alone on large planes: YOLO11n's P5 positions at 640; rows of 1024 (a
 * work-group per softmax row). */
static const op_case attention_large_cases[] = {
    {.shape = {1, 0, 20, 20}, .p = {2, 8, 16}},
    {.shape = {1, 0, 32, 32}, .p = {1, 2, 2}},
};

/* p = {teacher channels through an adapter}, f = {temperature, norm}: odd sizes, planes under
 * and over a work-group (64), YOLOv8's 16 bins; each written, then strided or not and
 * accumulated. */
static const op_case kd_logit_cases[] = {
    {.shape = {1, 1, 1, 1}, .f = {1.0, 1.0}},
    {.shape = {1, 1, 1, 1}, .f = {1.0, 1.0}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {3, 5, 7, 9}, .f = {1.0, 4.5}, .flags = OP_STRIDED},
    {.shape = {3, 5, 7, 9}, .f = {1.0, 4.5}, .flags = OP_ACCUMULATE},
    {.shape = {2, 80, 10, 10}, .f = {3.0, 17.0}},
    {.shape = {2, 80, 10, 10}, .f = {3.0, 17.0}, .flags = OP_STRIDED | OP_ACCUMULATE},
};

static const op_case kd_ld_cases[] = {
    {.shape = {2, 64, 5, 7}, .f = {10.0, 6.0}, .flags = OP_STRIDED},
    {.shape = {2, 64, 5, 7}, .f = {10.0, 6.0}, .flags = OP_ACCUMULATE},
    {.shape = {3, 8, 9, 9}, .f = {1.0, 1.0}},
    {.shape = {3, 8, 9, 9}, .f = {1.0, 1.0}, .flags = OP_STRIDED | OP_ACCUMULATE},
};

static const op_case kd_cwd_cases[] = {
    {.shape = {2, 3, 5, 7}, .f = {4.0, 0.0}, .flags = OP_STRIDED},
    {.shape = {2, 3, 5, 7}, .f = {4.0, 0.0}, .flags = OP_ACCUMULATE},
    {.shape = {2, 16, 20, 20}, .f = {1.0, 0.0}},
    {.shape = {2, 16, 20, 20}, .f = {1.0, 0.0}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {1, 5, 1, 1}, .f = {4.0, 0.0}, .flags = OP_STRIDED},
    {.shape = {1, 5, 1, 1}, .f = {4.0, 0.0}, .flags = OP_ACCUMULATE},
};

static const op_case kd_pkd_cases[] = {
    {.shape = {2, 6, 5, 7}, .f = {0.0, 0.0}},
    {.shape = {2, 6, 5, 7}, .f = {0.0, 0.0}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {3, 16, 10, 10}, .f = {0.0, 0.0}, .flags = OP_STRIDED},
    {.shape = {3, 16, 10, 10}, .f = {0.0, 0.0}, .flags = OP_ACCUMULATE},
};

static const op_case kd_mse_cases[] = {
    {.shape = {2, 7, 5, 3}, .f = {0.0, 210.0}},
    {.shape = {2, 7, 5, 3}, .f = {0.0, 210.0}, .flags = OP_STRIDED | OP_ACCUMULATE},
    {.shape = {2, 7, 5, 3}, .f = {0.0, 33.0}, .flags = OP_MASKED | OP_STRIDED},
    {.shape = {2, 7, 5, 3}, .f = {0.0, 33.0}, .flags = OP_MASKED | OP_ACCUMULATE},
};

static const op_case kd_imitation_cases[] = {
    {.shape = {2, 8, 6, 5}, .p = {12}, .f = {0.0, 50.0}, .flags = OP_MASKED},
    {.shape = {2, 8, 6, 5}, .p = {12}, .f = {0.0, 50.0},
     .flags = OP_MASKED | OP_STRIDED | OP_ACCUMULATE},
    {.shape = {2, 16, 10, 10}, .p = {32}, .f = {0.0, 6400.0}, .flags = OP_STRIDED},
    {.shape = {2, 16, 10, 10}, .p = {32}, .f = {0.0, 6400.0}, .flags = OP_ACCUMULATE},
    {.shape = {2, 5, 4, 3}, .f = {0.0, 11.0}, .flags = OP_MASKED},
    {.shape = {2, 5, 4, 3}, .f = {0.0, 11.0}, .flags = OP_MASKED | OP_STRIDED | OP_ACCUMULATE},
};


/* One cell; YOLOv8's three strides over a 96x64 input; 80 classes at 160x160; a single level
 * of odd size, strided; two levels, the second of odd size. */
static const op_case decode_cases[] = {
    {.shape = {1, 1, 0, 0}, .p = {1, 1, 1, 8}},
    {.shape = {2, 3, 0, 0}, .p = {3, 8, 12, 8, 4, 6, 16, 2, 3, 32}, .flags = OP_STRIDED},
    {.shape = {1, 80, 0, 0}, .p = {3, 20, 20, 8, 10, 10, 16, 5, 5, 32}},
    {.shape = {3, 5, 0, 0}, .p = {1, 7, 9, 16}, .flags = OP_STRIDED},
    {.shape = {2, 2, 0, 0}, .p = {2, 14, 10, 8, 7, 5, 16}},
};

/* ---- the entries ---------------------------------------------------------------------- */

#define CASES(a) .cases = a, .case_count = sizeof a / sizeof a[0]
#define TOL(forward_, backward_, loss_) .tol = {(forward_), (backward_), (loss_)}
#define RUN(setup_, reference_, forward_)                                                       \
    .setup = (setup_), .reference = (reference_), .forward = (forward_)
#define OP(name) RUN(op_##name##_setup, op_##name##_reference, op_##name##_forward)
#define BACKWARD(name) .backward = op_##name##_backward
#define FD(name) .reference_gradient = op_##name##_reference_gradient

/* Buffer ranges around work-group and vector boundaries, and one large odd size. fill is
 * exact; axpy rounds once per element, axpby twice. */
static const op_entry fill = {.name = "fill_f32", CASES(range_cases), TOL(0, 0, 0), OP(fill),
                              .vector_widths = true};
static const op_entry axpy_f32 = {.name = "axpy_f32", CASES(range_cases), TOL(1e-12, 0, 0),
                                  OP(axpy_f32), .vector_widths = true};
static const op_entry axpby_f32 = {.name = "axpby_f32", CASES(range_cases), TOL(1e-12, 0, 0),
                                   OP(axpby_f32), .vector_widths = true};

/* One float32 rounding per element (axpy's fma, add, multiply): NMSE ~ 1e-15. */
#define ELEMENTWISE(name_)                                                                      \
    {.name = #name_, CASES(elementwise_cases), TOL(1e-13, 0, 0),                               \
     RUN(op_elementwise_setup, op_##name_##_reference, op_##name_##_forward)}
static const op_entry add = ELEMENTWISE(add);
static const op_entry axpy = ELEMENTWISE(axpy);
static const op_entry scale = ELEMENTWISE(scale);

/* exp() rounds within a few ulp, so exp-based results differ from float64 by ~1e-7
 * relative: an NMSE near 1e-14; LeakyReLU is exact up to one rounding. */
#define ACTIVATION_FIELDS(name_)                                                                \
    .name = #name_, CASES(activation_cases), TOL(1e-11, 1e-11, 0),                             \
    RUN(op_activation_setup, op_##name_##_reference, op_##name_##_forward), BACKWARD(name_),   \
    FD(name_)
/* SiLU's work-items take a floatv each */
static const op_entry silu = {ACTIVATION_FIELDS(silu), .vector_widths = true};
static const op_entry sigmoid = {ACTIVATION_FIELDS(sigmoid)};
static const op_entry leaky_relu = {ACTIVATION_FIELDS(leaky_relu)};

/* Measured up to 6e-14, but 5e-11 where the mean is 100 (90 standard deviations): float
 * rounds each value's deviation from the mean at ulp(100) = 8e-6, some 7e-6 of the variance.
 * (E[x^2] - E[x]^2 in float would be ~1e-7 there.) 1e-9 leaves room for other devices.
 * Inference and folding: a subtraction, a reciprocal square root and an fma per element.
 * The backward alone (no forward): it takes the float64 forward's mean and invstd. The GPU
 * work split: the launchers split planes into a contiguous range per work-item on CPUs and
 * interleave them on GPUs; those entries present the device as a GPU. The element-wise kernels
 * take a floatv per work-item: the entries run with every vector width too. */
#define BATCHNORM_BACKWARD                                                                      \
    .setup = op_batchnorm_backward_setup, .reference = op_batchnorm_backward_reference,        \
    BACKWARD(batchnorm_backward)
static const op_entry batchnorm_train = {.name = "batchnorm, training forward",
                                         CASES(batchnorm_train_cases), TOL(1e-9, 0, 0),
                                         OP(batchnorm_train), .vector_widths = true};
static const op_entry batchnorm_backward = {.name = "batchnorm, backward",
                                            CASES(batchnorm_backward_cases), TOL(0, 1e-9, 0),
                                            BATCHNORM_BACKWARD, FD(batchnorm),
                                            .vector_widths = true};
static const op_entry batchnorm_train_gpu = {
    .name = "batchnorm, training forward, the GPU work split", CASES(batchnorm_train_gpu_cases),
    TOL(1e-9, 0, 0), OP(batchnorm_train), .as_gpu = true};
static const op_entry batchnorm_backward_gpu = {
    .name = "batchnorm, backward, the GPU work split", CASES(batchnorm_backward_gpu_cases),
    TOL(0, 1e-9, 0), BATCHNORM_BACKWARD, .as_gpu = true};
static const op_entry batchnorm_silu_train = {
    .name = "batchnorm + SiLU, training forward", CASES(batchnorm_silu_train_cases),
    TOL(1e-9, 0, 0), OP(batchnorm_train), .vector_widths = true};
static const op_entry batchnorm_silu_backward = {
    .name = "batchnorm + SiLU, backward", CASES(batchnorm_silu_backward_cases),
    TOL(0, 1e-9, 0), BATCHNORM_BACKWARD, .vector_widths = true};
static const op_entry batchnorm_silu_backward_gpu = {
    .name = "batchnorm + SiLU, backward, the GPU work split",
    CASES(batchnorm_silu_backward_cases), TOL(0, 1e-9, 0), BATCHNORM_BACKWARD, .as_gpu = true};
static const op_entry batchnorm_infer = {.name = "batchnorm, inference forward",
                                         CASES(batchnorm_infer_cases), TOL(1e-12, 0, 0),
                                         OP(batchnorm_infer), .vector_widths = true};
static const op_entry batchnorm_fold = {.name = "batchnorm, folding into a convolution",
                                        CASES(batchnorm_fold_cases), TOL(1e-12, 0, 0),
                                        OP(batchnorm_fold)};

/* The forward selects input values, so it is exact; the backward adds at most k*k values of
 * dy per element: one rounding each, NMSE ~1e-15. Ties route the gradient to the first
 * maximum of each window, as the reference does. */
static const op_entry maxpool = {.name = "maxpool", CASES(maxpool_cases), TOL(0, 1e-13, 0),
                                 OP(maxpool), BACKWARD(maxpool), FD(maxpool)};
static const op_entry maxpool_ties = {.name = "maxpool, ties", CASES(maxpool_tie_cases),
                                      TOL(0, 1e-13, 0), OP(maxpool), BACKWARD(maxpool)};
/* A GPU keeps a work-item per output on SPPF's small planes (CPUs take one per plane) */
static const op_entry maxpool_gpu = {.name = "maxpool, as a GPU runs it",
                                     CASES(maxpool_cases), TOL(0, 1e-13, 0), OP(maxpool),
                                     BACKWARD(maxpool), .as_gpu = true};
static const op_entry maxpool_ties_gpu = {.name = "maxpool, ties, as a GPU runs it",
                                          CASES(maxpool_tie_cases), TOL(0, 1e-13, 0),
                                          OP(maxpool), BACKWARD(maxpool), .as_gpu = true};

/* The forward copies; the backward adds 4 values: NMSE ~1e-15. */
static const op_entry upsample2x = {.name = "upsample2x", CASES(upsample2x_cases),
                                    TOL(0, 1e-13, 0), OP(upsample2x), BACKWARD(upsample2x),
                                    FD(upsample2x)};

/* A copy is exact; adding rounds once. */
static const op_entry concat = {.name = "concat, split", CASES(concat_cases), TOL(0, 0, 0),
                                OP(concat), BACKWARD(concat), FD(concat)};
static const op_entry concat_accumulate = {.name = "concat, backward accumulating",
                                           CASES(concat_accumulate_cases), TOL(0, 1e-14, 0),
                                           OP(concat), BACKWARD(concat)};
static const op_entry concat_backward = {
    .name = "concat, backward overwriting", CASES(concat_backward_cases), TOL(0, 0, 0),
    .setup = op_concat_setup, .reference = op_concat_reference, BACKWARD(concat)};

/* Float sums of up to 1500 terms of either sign round to ~1e-7 of the terms' size each: an
 * NMSE ~1e-13 measured; the maximum is exact; softmax adds exp's few ulp. Wide logits make
 * rows nearly one-hot: softmax's dx = y (dy - dot) cancels to about (1 - y) dy, tiny, while
 * float leaves an absolute error ~6e-8 |dy| in dot (NMSE up to 6e-10 measured over 3
 * channels). */
static const op_entry reduce_sum = {.name = "reduce sum", CASES(reduce_sum_cases),
                                    TOL(1e-11, 0, 0), OP(reduce)};
static const op_entry reduce_mean = {.name = "reduce mean", CASES(reduce_mean_cases),
                                     TOL(1e-11, 0, 0), OP(reduce)};
static const op_entry reduce_max = {.name = "reduce max", CASES(reduce_max_cases),
                                    TOL(0, 0, 0), OP(reduce)};
static const op_entry softmax = {.name = "softmax", CASES(softmax_cases), TOL(1e-11, 1e-11, 0),
                                 OP(softmax), BACKWARD(softmax), FD(softmax)};
static const op_entry softmax_wide = {.name = "softmax, wide logits", CASES(softmax_wide_cases),
                                      TOL(1e-11, 1e-8, 0), OP(softmax), BACKWARD(softmax)};

/* Each step rounds a few times per parameter in float; over 5 steps the state drifts from the
 * float64 one by ~1e-7 relative: NMSE ~1e-14. */
static const op_entry sgd = {.name = "sgd", CASES(sgd_cases), TOL(1e-11, 0, 0),
                             RUN(op_optim_setup, op_optim_reference, op_sgd_forward),
                             .vector_widths = true};
static const op_entry adamw = {.name = "adamw", CASES(adamw_cases), TOL(1e-11, 0, 0),
                               RUN(op_optim_setup, op_optim_reference, op_adamw_forward),
                               .vector_widths = true};

/* Float32 sums of up to 300 products of numbers below 1. */
static const op_entry gemm_tiles = {.name = "gemm, every tile shape", CASES(gemm_cases),
                                    TOL(1e-11, 0, 0), OP(gemm),
                                    .variant = &op_gemm_every_tile};
static const op_entry gemm_clblast = {.name = "gemm, CLBlast", CASES(gemm_cases),
                                      TOL(1e-11, 0, 0), OP(gemm), .variant = &op_gemm_clblast};

/* Float32 sums of up to a few hundred products of numbers below 1 (relative error ~1e-7, so
 * NMSE ~1e-13; 1e-10 leaves room). Every GEMM path: the direct 1x1 product, im2col, col2im,
 * k-runs and per-image partial sums, several passes through the scratch, tiles and CLBlast. */
#define CONV(name_, ...)                                                                        \
    .name = name_, CASES(conv_cases), TOL(1e-10, 1e-10, 0), OP(conv), BACKWARD(conv),          \
    .variant = &(const op_conv_variant){__VA_ARGS__}
static const op_entry conv_windows = {
    CONV("conv2d, windows of padded copies, tiles 6x2", "tiled-6x2", false, false,
         YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_WINDOWS, YKD_CONV_SGRAD_COLUMNS),
    FD(conv)};
static const op_entry conv_windows_one_image = {
    CONV("conv2d, windows, tiles 4x1, one image per scratch pass", "tiled-4x1", true, false,
         YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_WINDOWS, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_columns = {CONV("conv2d, im2col columns, tiles 12x1", "tiled-12x1",
                                           false, true, YKD_CONV_FWD_COLUMNS,
                                           YKD_CONV_WGRAD_COLUMNS, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_columns_one_image = {
    CONV("conv2d, im2col columns, tiles 4x2, one image per scratch pass", "tiled-4x2", true, true,
         YKD_CONV_FWD_COLUMNS, YKD_CONV_WGRAD_COLUMNS, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_clblast = {CONV("conv2d, CLBlast", "clblast", false, false,
                                           YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_WINDOWS,
                                           YKD_CONV_SGRAD_COLUMNS)};
/* The weight gradient by pixel rows of a padded channels-last copy */
static const op_entry conv_rows = {CONV("conv2d, weight gradient by pixel rows, tiles 6x2",
                                        "tiled-6x2", false, false, YKD_CONV_FWD_WINDOWS,
                                        YKD_CONV_WGRAD_ROWS, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_rows_one_image = {
    CONV("conv2d, pixel rows, tiles 4x2, one image per scratch pass", "tiled-4x2", true, false,
         YKD_CONV_FWD_WINDOWS, YKD_CONV_WGRAD_ROWS, YKD_CONV_SGRAD_COLUMNS)};
/* The forward pass (and so the stride-1 input gradients) by pixel rows, transposed: the
 * vectors along the output channels; the strided input gradients by a product per phase */
static const op_entry conv_rows_forward = {
    CONV("conv2d, forward by pixel rows, strided input gradients by phases, tiles 6x2",
         "tiled-6x2", false, false, YKD_CONV_FWD_ROWS, YKD_CONV_WGRAD_ROWS,
         YKD_CONV_SGRAD_PHASES),
    FD(conv)};
static const op_entry conv_rows_forward_one_image = {
    CONV("conv2d, forward by pixel rows, phases, tiles 5x1, one image per scratch pass",
         "tiled-5x1", true, false, YKD_CONV_FWD_ROWS, YKD_CONV_WGRAD_COLUMNS,
         YKD_CONV_SGRAD_PHASES)};
/* Winograd F(4x4, 3x3) for stride-1 3x3 forwards (and so their input gradients) and weight
 * gradients; other shapes take the windows or the columns */
static const op_entry conv_winograd = {
    CONV("conv2d, Winograd, tiles 6x2", "tiled-6x2", false, false, YKD_CONV_FWD_WINOGRAD,
         YKD_CONV_WGRAD_WINOGRAD, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_winograd_one_image = {
    CONV("conv2d, Winograd, tiles 8x1, one image per scratch pass", "tiled-8x1", true, false,
         YKD_CONV_FWD_WINOGRAD, YKD_CONV_WGRAD_WINOGRAD, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_winograd_clblast = {
    CONV("conv2d, Winograd through CLBlast", "clblast", false, false, YKD_CONV_FWD_WINOGRAD,
         YKD_CONV_WGRAD_WINOGRAD, YKD_CONV_SGRAD_COLUMNS)};
/* Winograd F(5x5, 3x3) for the same forwards (its float32 error about twice F(4x4)'s, NMSE
 * ~1e-11 at 512 channels); the weight gradients by pixel rows or F(4x4) */
static const op_entry conv_winograd5 = {
    CONV("conv2d, Winograd F(5x5, 3x3), tiles 6x2", "tiled-6x2", false, false,
         YKD_CONV_FWD_WINOGRAD5, YKD_CONV_WGRAD_ROWS, YKD_CONV_SGRAD_COLUMNS)};
static const op_entry conv_winograd5_one_image = {
    CONV("conv2d, Winograd F(5x5, 3x3), tiles 2x2, one image per scratch pass", "tiled-2x2",
         true, false, YKD_CONV_FWD_WINOGRAD5, YKD_CONV_WGRAD_WINOGRAD, YKD_CONV_SGRAD_COLUMNS)};

/* Grouped and depthwise convolutions have their own kernels (no GEMM): sums of at most a few
 * hundred float32 products. */
static const op_entry conv_grouped = {.name = "conv2d, grouped and depthwise",
                                      CASES(conv_grouped_cases), TOL(1e-11, 1e-11, 0), OP(conv),
                                      BACKWARD(conv), FD(conv)};

/* Float32 sums of up to 24 products of numbers below 1. */
static const op_entry matmul = {.name = "matmul, batched", CASES(matmul_cases),
                                TOL(1e-11, 0, 0), OP(matmul)};

/* The forward: scores, a softmax (exp within a few ulp) and a weighted sum, NMSE ~1e-13;
 * the backward against central differences of the float64 forward, which err by ~1e-10
 * relative themselves. */
static const op_entry attention = {.name = "attention", CASES(attention_cases),
                                   TOL(1e-10, 1e-9, 0), OP(attention), BACKWARD(attention)};
static const op_entry attention_large = {.name = "attention, large planes",
                                         CASES(attention_large_cases), TOL(1e-10, 0, 0),
                                         OP(attention)};

/* Losses are sums of up to ~10^5 float terms, each off by a few ulp: relative 1e-5 covers
 * them with room; a gradient element is one float expression of the inputs. Their kernels
 * sum in work-groups of the size the device allows: each runs again under small limits. */
#define KD(name_, cases_, kind)                                                                 \
    {.name = name_, CASES(cases_), TOL(1e-11, 0, 1e-5), OP(kd), FD(kd),                        \
     .variant = &op_kd_kind[kind], .small_groups = true}
static const op_entry kd_logit = KD("kd logit loss", kd_logit_cases, OP_KD_LOGIT);
static const op_entry kd_ld = KD("kd ld loss", kd_ld_cases, OP_KD_LD);
static const op_entry kd_cwd = KD("kd cwd loss", kd_cwd_cases, OP_KD_CWD);
static const op_entry kd_pkd = KD("kd pkd loss", kd_pkd_cases, OP_KD_PKD);
static const op_entry kd_mse = KD("kd mse loss", kd_mse_cases, OP_KD_MSE);
static const op_entry kd_imitation = KD("kd imitation loss", kd_imitation_cases, OP_KD_IMITATION);

/* The box: a softmax expectation (exp within a few ulp) per side, then ax +- d times the
 * stride; the scores: one sigmoid each. */
static const op_entry decode = {.name = "yolo decode", CASES(decode_cases), TOL(1e-11, 0, 0),
                                OP(decode)};

const op_entry *const op_table[] = {
    &fill, &axpy_f32, &axpby_f32,
    &add, &axpy, &scale,
    &silu, &sigmoid, &leaky_relu,
    &batchnorm_train, &batchnorm_backward, &batchnorm_train_gpu, &batchnorm_backward_gpu,
    &batchnorm_silu_train, &batchnorm_silu_backward, &batchnorm_silu_backward_gpu,
    &batchnorm_infer, &batchnorm_fold,
    &maxpool, &maxpool_ties, &maxpool_gpu, &maxpool_ties_gpu,
    &upsample2x,
    &concat, &concat_accumulate, &concat_backward,
    &reduce_sum, &reduce_mean, &reduce_max, &softmax, &softmax_wide,
    &sgd, &adamw,
    &gemm_tiles, &gemm_clblast,
    &conv_windows, &conv_windows_one_image, &conv_columns, &conv_columns_one_image, &conv_clblast,
    &conv_rows, &conv_rows_one_image, &conv_rows_forward, &conv_rows_forward_one_image,
    &conv_winograd, &conv_winograd_one_image,
    &conv_winograd_clblast, &conv_winograd5, &conv_winograd5_one_image, &conv_grouped,
    &matmul, &attention, &attention_large,
    &kd_logit, &kd_ld, &kd_cwd, &kd_pkd, &kd_mse, &kd_imitation,
    &decode,
};
const size_t op_table_size = sizeof op_table / sizeof op_table[0];
