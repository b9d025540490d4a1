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

/* ---- a work-item per input row, in explicit vectors (devices with wide vectors) ----------
 * On a CPU the kernels above leave each work-item scalar (PoCL vectorises neither the float2
 * stores nor the interleaving of four scalar ones well); a row's 8 inputs at a time become
 * 16 outputs per output row by one shuffle, and the backward sums 16 + 16 outputs into 8 by
 * even and odd lanes, in the same order as upsample2x_backward. Global: N*C*H rows. */

/* This work-item's plane and input row, or false past them. */
static bool plane_row(uint planes, int height, uint *nc, int *iy)
{
    size_t id = get_global_id(0);
    *nc = (uint)(id / (size_t)height);
    *iy = (int)(id - (size_t)*nc * height);
    return *nc < planes;
}

__kernel void upsample2x_forward_rows(TENSOR_IN(x), TENSOR_OUT(y), uint channels, int height,
                                      int width, uint planes)
{
    uint nc;
    int iy;
    if (!plane_row(planes, height, &nc, &iy))
        return;
    const __global float *in = PLANE(x, nc, channels, (size_t)height * width) + iy * width;
    __global float *top = PLANE(y, nc, channels, (size_t)4 * height * width) +
                          (size_t)(2 * iy) * (2 * width);
    __global float *bottom = top + 2 * width;
    const uint16 twice = (uint16)(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    int ix = 0;
    for (; ix + 8 <= width; ix += 8) {
        float16 v = shuffle(vload8(0, in + ix), twice);
        vstore16(v, 0, top + 2 * ix);
        vstore16(v, 0, bottom + 2 * ix);
    }
    for (; ix < width; ix++) {
        float v = in[ix];
        top[2 * ix] = top[2 * ix + 1] = bottom[2 * ix] = bottom[2 * ix + 1] = v;
    }
}

__kernel void upsample2x_backward_rows(TENSOR_IN(dy), uint accumulate, TENSOR_OUT(dx),
                                       uint channels, int height, int width, uint planes)
{
    uint nc;
    int iy;
    if (!plane_row(planes, height, &nc, &iy))
        return;
    const __global float *top = PLANE(dy, nc, channels, (size_t)4 * height * width) +
                                (size_t)(2 * iy) * (2 * width);
    const __global float *bottom = top + 2 * width;
    __global float *out = PLANE(dx, nc, channels, (size_t)height * width) + iy * width;
    int ix = 0;
    for (; ix + 8 <= width; ix += 8) {
        float16 t = vload16(0, top + 2 * ix), b = vload16(0, bottom + 2 * ix);
        float8 sum = (t.even + t.odd) + (b.even + b.odd);
        vstore8((accumulate ? vload8(0, out + ix) : (float8)(0.0f)) + sum, 0, out + ix);
    }
    for (; ix < width; ix++) {
        float sum = (top[2 * ix] + top[2 * ix + 1]) + (bottom[2 * ix] + bottom[2 * ix + 1]);
        out[ix] = (accumulate ? out[ix] : 0.0f) + sum;
    }
}
