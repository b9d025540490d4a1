/* Reductions (sum, mean, max) and softmax along one axis of a tensor.
 *
 * Along any axis, a tensor is rows of R elements, `step` floats apart: image n holds `outer`
 * blocks of R * inner floats, and row (n, o, i) starts at element o * R * inner + i of image n
 * (along the batch axis, one "image" whose rows step by each tensor's own batch stride: STEP).
 * Two kernel shapes:
 *   - strided: a work-item per row, global (inner, outer, images): neighbouring work-items
 *     read neighbouring floats, which suits rows across channels or heights, and short rows
 *     along the width (a work-group then spans several rows);
 *   - rows: a work-group per long row, global (L, outer, images) with inner = 1 (contiguous
 *     floats, as along the width of a large plane), reduced as a tree in local memory.
 * Both visit a row in a fixed order, so results are the same run to run. */

#define REDUCE_SUM 0
#define REDUCE_MEAN 1
#define REDUCE_MAX 2

/* The first element of this work-item's row, and where its result goes. */
#define ROW_START(t, inner, rows)                                                              \
    (IMAGE(t, get_global_id(2)) + (size_t)get_global_id(1) * (rows) * (inner))

/* The distance between a row's elements in tensor t. */
#define STEP(t) (batch_axis ? t##_bs : step)

static float combine(float a, float b, uint op)
{
    return op == REDUCE_MAX ? fmax(a, b) : a + b;
}

/* Reduces one value per work-item over the group (a power of two in size); every work-item
 * gets the result. */
static float group_reduce(float v, uint op, __local float *scratch)
{
    uint l = get_local_id(0), size = get_local_size(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint width = size / 2; width > 0; width /= 2) {
        if (l < width)
            scratch[l] = combine(scratch[l], scratch[l + width], op);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float all = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch is reused by the caller's next reduction */
    return all;
}

/* This work-item's share of a row of `rows` floats `step` apart: from `first` by `stride`. */
static float row_reduce(__global const float *row, uint rows, uint step, uint first,
                        uint stride, uint op)
{
    float acc = op == REDUCE_MAX ? -INFINITY : 0.0f;
    for (uint r = first; r < rows; r += stride)
        acc = combine(acc, row[(size_t)r * step], op);
    return acc;
}

/* Sum of exp(row - max) from `first` by `stride`. */
static float row_exp_sum(__global const float *row, uint rows, uint step, uint first,
                         uint stride, float max)
{
    float sum = 0.0f;
    for (uint r = first; r < rows; r += stride)
        sum += exp(row[(size_t)r * step] - max);
    return sum;
}

/* Sum of dy * y over the row from `first` by `stride`. */
static float row_dot(__global const float *y, uint y_step, __global const float *dy,
                     uint dy_step, uint rows, uint first, uint stride)
{
    float sum = 0.0f;
    for (uint r = first; r < rows; r += stride)
        sum += y[(size_t)r * y_step] * dy[(size_t)r * dy_step];
    return sum;
}

/* Work-items past the rows (global sizes are rounded up to whole work-groups) stop here. */
#define PAST_ROWS(inner, outer) (get_global_id(0) >= (inner) || get_global_id(1) >= (outer))

__kernel void reduce_strided(TENSOR_IN(x), TENSOR_OUT(y), uint rows, uint inner, uint outer,
                             uint step, uint batch_axis, uint op)
{
    size_t i = get_global_id(0);
    if (PAST_ROWS(inner, outer))
        return;
    float acc = row_reduce(ROW_START(x, inner, rows) + i, rows, STEP(x), 0, 1, op);
    ROW_START(y, inner, 1)[i] = op == REDUCE_MEAN ? acc / (float)rows : acc;
}

__kernel void reduce_rows(TENSOR_IN(x), TENSOR_OUT(y), uint rows, uint inner, uint outer,
                          uint step, uint batch_axis, uint op, __local float *scratch)
{
    uint l = get_local_id(0), size = get_local_size(0);
    float acc = row_reduce(ROW_START(x, 1, rows), rows, STEP(x), l, size, op);
    acc = group_reduce(acc, op, scratch);
    if (l == 0)
        ROW_START(y, 1, 1)[0] = op == REDUCE_MEAN ? acc / (float)rows : acc;
}

__kernel void softmax_strided(TENSOR_IN(x), TENSOR_OUT(y), uint rows, uint inner, uint outer,
                              uint step, uint batch_axis)
{
    size_t i = get_global_id(0);
    if (PAST_ROWS(inner, outer))
        return;
    __global const float *in = ROW_START(x, inner, rows) + i;
    __global float *out = ROW_START(y, inner, rows) + i;
    float max = row_reduce(in, rows, STEP(x), 0, 1, REDUCE_MAX);
    float scale = 1.0f / row_exp_sum(in, rows, STEP(x), 0, 1, max);
    for (uint r = 0; r < rows; r++)
        out[(size_t)r * STEP(y)] = exp(in[(size_t)r * STEP(x)] - max) * scale;
}

__kernel void softmax_rows(TENSOR_IN(x), TENSOR_OUT(y), uint rows, uint inner, uint outer,
                           uint step, uint batch_axis, __local float *scratch)
{
    uint l = get_local_id(0), size = get_local_size(0);
    __global const float *in = ROW_START(x, 1, rows);
    __global float *out = ROW_START(y, 1, rows);
    float max = group_reduce(row_reduce(in, rows, STEP(x), l, size, REDUCE_MAX), REDUCE_MAX,
                             scratch);
    float sum = group_reduce(row_exp_sum(in, rows, STEP(x), l, size, max), REDUCE_SUM, scratch);
    float scale = 1.0f / sum;
    for (uint r = l; r < rows; r += size)
        out[(size_t)r * STEP(y)] = exp(in[(size_t)r * STEP(x)] - max) * scale;
}

/* dx = y * (dy - sum(dy * y)) along the row. */
__kernel void softmax_backward_strided(TENSOR_IN(y), TENSOR_IN(dy), TENSOR_OUT(dx), uint rows,
                                       uint inner, uint outer, uint step, uint batch_axis)
{
    size_t i = get_global_id(0);
    if (PAST_ROWS(inner, outer))
        return;
    __global const float *yr = ROW_START(y, inner, rows) + i;
    __global const float *g = ROW_START(dy, inner, rows) + i;
    __global float *out = ROW_START(dx, inner, rows) + i;
    float dot = row_dot(yr, STEP(y), g, STEP(dy), rows, 0, 1);
    for (uint r = 0; r < rows; r++)
        out[(size_t)r * STEP(dx)] = yr[(size_t)r * STEP(y)] * (g[(size_t)r * STEP(dy)] - dot);
}

__kernel void softmax_backward_rows(TENSOR_IN(y), TENSOR_IN(dy), TENSOR_OUT(dx), uint rows,
                                    uint inner, uint outer, uint step, uint batch_axis,
                                    __local float *scratch)
{
    uint l = get_local_id(0), size = get_local_size(0);
    __global const float *yr = ROW_START(y, 1, rows);
    __global const float *g = ROW_START(dy, 1, rows);
    __global float *out = ROW_START(dx, 1, rows);
    float dot = group_reduce(row_dot(yr, STEP(y), g, STEP(dy), rows, l, size), REDUCE_SUM,
                             scratch);
    for (uint r = l; r < rows; r += size)
        out[(size_t)r * STEP(dx)] = yr[(size_t)r * STEP(y)] * (g[(size_t)r * STEP(dy)] - dot);
}

/* The sum of squares of x's first `count` floats (AT(x, 0, i)), in partials: global (L, G),
 * local (L, 1); work-group g sums group share runs of 8 floats from run g * share, each of its
 * work-items a contiguous range of them (chunked, for CPUs) or every L-th (for GPUs), and
 * writes partial[g]. Group 0 also takes the last count % 8 floats. A fixed partition, so the
 * same input gives the same partials every run. */
__kernel void sum_squares_partial(TENSOR_IN(x), uint count, uint share, uint chunked,
                                  __global float *partial, __local float *scratch)
{
    uint g = get_global_id(1), l = get_local_id(0), size = get_local_size(0);
    uint runs = count / 8, first = min(g * share, runs), mine = min(share, runs - first);
    __global const float *p = IMAGE(x, 0) + (size_t)first * 8;
    uint per = (mine + size - 1) / size;
    uint start = chunked ? min(l * per, mine) : l, step = chunked ? 1 : size;
    uint end = chunked ? min(start + per, mine) : mine;
    float8 acc = 0.0f;
    for (uint r = start; r < end; r += step) {
        float8 v = vload8(r, p);
        acc = fma(v, v, acc);
    }
    float4 folded = acc.lo + acc.hi;
    float sum = (folded.x + folded.y) + (folded.z + folded.w);
    for (uint i = runs * 8 + l; g == 0 && i < count; i += size)
        sum = fma(AT(x, 0, i), AT(x, 0, i), sum);
    sum = group_reduce(sum, REDUCE_SUM, scratch);
    if (l == 0)
        partial[g] = sum;
}
