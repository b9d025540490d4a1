/* Element-wise float32 operations on flat buffers (BLAS level 1). Offsets are in elements. */

/* Each work-item takes a run of the device's vector width (run_at in cl/shared.cl): PoCL ran
 * a scalar work-item per element at half a host loop's speed or less (44 MB filled at 4 GB/s
 * on 2 Zen 3 cores, a host memset 10). */

__kernel void fill_f32(__global float *x, uint offset, uint n, float value)
{
    size_t i;
    uint valid = run_at(n, &i);
    if (!valid)
        return;
    store_run(x + offset + i, (floatv)(value), valid);
}

/* y = alpha * x + y */
__kernel void axpy_f32(uint n, float alpha, __global const float *x, uint x_offset,
                       __global float *y, uint y_offset)
{
    size_t i;
    uint valid = run_at(n, &i);
    if (!valid)
        return;
    __global float *out = y + y_offset + i;
    store_run(out, fma((floatv)(alpha), load_run(x + x_offset + i, valid), load_run(out, valid)),
              valid);
}

/* y = alpha * x + beta * y: one pass where a scale then an axpy took two (the EMA), with the
 * same roundings (beta * y, then one fma). */
__kernel void axpby_f32(uint n, float alpha, __global const float *x, uint x_offset, float beta,
                        __global float *y, uint y_offset)
{
    size_t i;
    uint valid = run_at(n, &i);
    if (!valid)
        return;
    __global float *out = y + y_offset + i;
    store_run(out, fma((floatv)(alpha), load_run(x + x_offset + i, valid),
                       beta * load_run(out, valid)),
              valid);
}
