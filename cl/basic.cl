/* Element-wise float32 operations on flat buffers (BLAS level 1). Offsets are in elements. */

__kernel void fill_f32(__global float *x, uint offset, uint n, float value)
{
    uint i = get_global_id(0);
    if (i < n)
        x[offset + i] = value;
}

/* y = alpha * x + y */
__kernel void axpy_f32(uint n, float alpha, __global const float *x, uint x_offset,
                       __global float *y, uint y_offset)
{
    uint i = get_global_id(0);
    if (i < n)
        y[y_offset + i] = fma(alpha, x[x_offset + i], y[y_offset + i]);
}

/* y = alpha * x + beta * y: one pass where a scale then an axpy took two (the EMA), with the
 * same roundings (beta * y, then one fma). */
__kernel void axpby_f32(uint n, float alpha, __global const float *x, uint x_offset, float beta,
                        __global float *y, uint y_offset)
{
    uint i = get_global_id(0);
    if (i < n)
        y[y_offset + i] = fma(alpha, x[x_offset + i], beta * y[y_offset + i]);
}
