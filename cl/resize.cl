/* Nearest-neighbour upsampling by 2, over the planes of the smaller tensor: global
 * (width, height, N*C) (ykd_op_run_spatial), one work-item per input element and its 2x2
 * block of the output. */

__kernel void upsample2x_forward(TENSOR_IN(x), TENSOR_OUT(y), uint channels, int height,
                                 int width)
{
    int ix = get_global_id(0), iy = get_global_id(1);
    uint nc = get_global_id(2);
    if (ix >= width || iy >= height)
        return;
    float v = PLANE(x, nc, channels, (size_t)height * width)[iy * width + ix];
    __global float *out = PLANE(y, nc, channels, (size_t)4 * height * width) +
                          (size_t)(2 * iy) * (2 * width) + 2 * ix;
    /* float2 stores: PoCL then leaves the work-items scalar, but the four scalar stores it
     * vectorises as interleaved ones ran at less than half the speed */
    vstore2((float2)(v, v), 0, out);
    vstore2((float2)(v, v), 0, out + 2 * width);
}

/* dx (+)= the sum of its 2x2 block of dy. */
__kernel void upsample2x_backward(TENSOR_IN(dy), uint accumulate, TENSOR_OUT(dx),
                                  uint channels, int height, int width)
{
    int ix = get_global_id(0), iy = get_global_id(1);
    uint nc = get_global_id(2);
    if (ix >= width || iy >= height)
        return;
    __global const float *g = PLANE(dy, nc, channels, (size_t)4 * height * width) +
                              (size_t)(2 * iy) * (2 * width) + 2 * ix;
    __global float *out = PLANE(dx, nc, channels, (size_t)height * width) + iy * width + ix;
    float2 top = vload2(0, g), bottom = vload2(0, g + 2 * width);
    *out = (accumulate ? *out : 0.0f) + ((top.x + top.y) + (bottom.x + bottom.y));
}
