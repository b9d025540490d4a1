/* Grouped convolution (groups > 1; a depthwise one has one group per input channel),
 * computed directly: output channel co of group g = co / (cout / groups) reads input channels
 * [g * cin_g, (g + 1) * cin_g) through weights [cout, cin_g, k, k]. Such layers have few
 * multiply-adds per output (k * k * cin_g), so a GEMM would mostly move data.
 *
 * forward and input_grad run over planes (ykd_op_run_spatial): global (width, height, N*C)
 * of the tensor written. The input gradient gathers over the outputs each input element
 * feeds, in a fixed order, so it needs no atomics. The weight gradient gives each filter (an
 * output channel's k x k taps of one input channel) a work-group that sums over every image
 * and output position and reduces as a tree in local memory (the group's size is a power of
 * two). */

typedef struct conv_geometry {
    int cin, height, width, cout, k, stride, pad, groups, out_h, out_w;
    int cin_g, cout_g; /* channels per group */
} conv_geometry;

#define GEOMETRY_ARGS                                                                          \
    int cin, int height, int width, int cout, int k, int stride, int pad, int groups,          \
        int out_h, int out_w
#define GEOMETRY                                                                               \
    (conv_geometry) {                                                                          \
        cin, height, width, cout, k, stride, pad, groups, out_h, out_w, cin / groups,          \
            cout / groups                                                                      \
    }

/* A planar launch's work-item: position (x, y) of plane nc = n * channels + c of a
 * width x height tensor; false for the items past the plane's edge. */
bool plane_item(int width, int height, int channels, int *x, int *y, int *n, int *c)
{
    *x = get_global_id(0);
    *y = get_global_id(1);
    uint nc = get_global_id(2);
    *c = nc % channels;
    *n = nc / channels;
    return *x < width && *y < height;
}

/* y = act(conv(x, w) + bias), act an ACT_* code (cl/shared.cl). */
__kernel void grouped_conv_forward(TENSOR_IN(x), TENSOR_IN(w), TENSOR_IN(bias), int has_bias,
                                   int act, TENSOR_OUT(y), GEOMETRY_ARGS)
{
    conv_geometry g = GEOMETRY;
    int ox, oy, n, co;
    if (!plane_item(g.out_w, g.out_h, g.cout, &ox, &oy, &n, &co))
        return;
    int cin_g = g.cin_g, first = co / g.cout_g * cin_g;
    __global const float *taps = w + w_off + (size_t)co * cin_g * g.k * g.k;
    size_t plane = (size_t)g.height * g.width;
    float sum = 0.0f;
    for (int ci = 0; ci < cin_g; ci++) {
        __global const float *in = IMAGE(x, n) + (size_t)(first + ci) * plane;
        for (int ky = 0; ky < g.k; ky++) {
            int iy = oy * g.stride - g.pad + ky;
            if (iy < 0 || iy >= g.height)
                continue;
            for (int kx = 0; kx < g.k; kx++) {
                int ix = ox * g.stride - g.pad + kx;
                if (ix >= 0 && ix < g.width)
                    sum += in[(size_t)iy * g.width + ix] * taps[(ci * g.k + ky) * g.k + kx];
            }
        }
    }
    if (has_bias)
        sum += bias[bias_off + co];
    IMAGE(y, n)[((size_t)co * g.out_h + oy) * g.out_w + ox] = activate(sum, act);
}

/* dx (+)= sum over the outputs (co, oy, ox) that read input (ci, iy, ix) of dy * weight. */
__kernel void grouped_conv_input_grad(TENSOR_IN(dy), TENSOR_IN(w), uint accumulate,
                                      TENSOR_OUT(dx), GEOMETRY_ARGS)
{
    conv_geometry g = GEOMETRY;
    int ix, iy, n, ci;
    if (!plane_item(g.width, g.height, g.cin, &ix, &iy, &n, &ci))
        return;
    int cin_g = g.cin_g, cout_g = g.cout_g;
    int group = ci / cin_g, local_ci = ci % cin_g;
    size_t out_plane = (size_t)g.out_h * g.out_w;
    float sum = 0.0f;
    for (int j = 0; j < cout_g; j++) {
        int co = group * cout_g + j;
        __global const float *grad = IMAGE(dy, n) + (size_t)co * out_plane;
        __global const float *taps = w + w_off + ((size_t)co * cin_g + local_ci) * g.k * g.k;
        for (int ky = 0; ky < g.k; ky++) {
            int ty = iy + g.pad - ky, oy = ty / g.stride;
            if (ty < 0 || oy * g.stride != ty || oy >= g.out_h)
                continue;
            for (int kx = 0; kx < g.k; kx++) {
                int tx = ix + g.pad - kx, ox = tx / g.stride;
                if (tx >= 0 && ox * g.stride == tx && ox < g.out_w)
                    sum += grad[(size_t)oy * g.out_w + ox] * taps[ky * g.k + kx];
            }
        }
    }
    __global float *out = IMAGE(dx, n) + ((size_t)ci * g.height + iy) * g.width + ix;
    *out = accumulate ? *out + sum : sum;
}

/* dw[co, ci, ky, kx] (+)= sum over images and output positions of dy * the input it read:
 * work-group e computes the k * k weights of output channel co = e / cin_g and input channel
 * e % cin_g of its group, TAP_CHUNK taps at a time, so each dy value is read once per chunk
 * rather than once per tap. partial holds TAP_CHUNK floats per work-item. */
#define TAP_CHUNK 9

__kernel void grouped_conv_weight_grad(TENSOR_IN(x), TENSOR_IN(dy), uint accumulate,
                                       TENSOR_OUT(dw), int images, GEOMETRY_ARGS,
                                       __local float *partial)
{
    conv_geometry g = GEOMETRY;
    uint e = get_group_id(0), l = get_local_id(0), size = get_local_size(0);
    int cin_g = g.cin_g, cout_g = g.cout_g, taps = g.k * g.k;
    int local_ci = e % cin_g, co = e / cin_g;
    int ci = co / cout_g * cin_g + local_ci;
    size_t out_plane = (size_t)g.out_h * g.out_w, plane = (size_t)g.height * g.width;
    size_t total = (size_t)images * out_plane;
    for (int first = 0; first < taps; first += TAP_CHUNK) {
        int count = min(TAP_CHUNK, taps - first);
        float sum[TAP_CHUNK];
        for (int t = 0; t < TAP_CHUNK; t++)
            sum[t] = 0.0f;
        for (size_t p = l; p < total; p += size) {
            int n = p / out_plane;
            size_t q = p % out_plane;
            int oy = q / g.out_w, ox = q % g.out_w;
            float grad = IMAGE(dy, n)[(size_t)co * out_plane + q];
            __global const float *in = IMAGE(x, n) + (size_t)ci * plane;
            for (int t = 0; t < count; t++) {
                int ky = (first + t) / g.k, kx = (first + t) % g.k;
                int iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
                if (iy >= 0 && iy < g.height && ix >= 0 && ix < g.width)
                    sum[t] += grad * in[(size_t)iy * g.width + ix];
            }
        }
        for (int t = 0; t < count; t++)
            partial[t * size + l] = sum[t];
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint span = size / 2; span > 0; span /= 2) {
            if (l < span)
                for (int t = 0; t < count; t++)
                    partial[t * size + l] += partial[t * size + l + span];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        for (uint t = l; t < (uint)count; t += size) {
            __global float *out = dw + dw_off + (size_t)e * taps + first + t;
            *out = accumulate ? *out + partial[t * size] : partial[t * size];
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* partial is reused by the next chunk */
    }
}
