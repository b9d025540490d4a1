/* Activations forward and backward, one work-item per element: global (image size, n).
 * Forward may run in place (y the same view as x), backward too (dx the same as dy). The
 * sigmoid and SiLU themselves are cl/shared.cl's, as the fused epilogues use them. */

/* SiLU runs on VECTOR_FLOATS consecutive floats per work-item, as one floatv: PoCL vectorises
 * the exp of a float16 fully, where its vectoriser across work-items gave 12 GB/s; GPUs take
 * one float a work-item. */
#define SILU_RUN VECTOR_FLOATS

__kernel void silu_forward(TENSOR_IN(x), TENSOR_OUT(y), uint image)
{
    size_t i = get_global_id(0) * SILU_RUN, n = get_global_id(1);
    const __global float *in = IMAGE(x, n) + i;
    __global float *out = IMAGE(y, n) + i;
    if (i + SILU_RUN <= image) {
        floatv v = VLOADV(in);
        VSTOREV(v / (1.0f + exp(-v)), out);
        return;
    }
    for (size_t k = 0; i + k < image; k++)
        out[k] = silu_of(in[k]);
}

/* d/dv v s(v) = s (1 + v (1 - s)) */
__kernel void silu_backward(TENSOR_IN(x), TENSOR_IN(dy), TENSOR_OUT(dx), uint image)
{
    size_t i = get_global_id(0) * SILU_RUN, n = get_global_id(1);
    const __global float *in = IMAGE(x, n) + i, *grad = IMAGE(dy, n) + i;
    __global float *out = IMAGE(dx, n) + i;
    if (i + SILU_RUN <= image) {
        floatv v = VLOADV(in), s = 1.0f / (1.0f + exp(-v));
        VSTOREV(VLOADV(grad) * s * fma(v, 1.0f - s, 1.0f), out);
        return;
    }
    for (size_t k = 0; i + k < image; k++) {
        float v = in[k], s = sigmoid_of(v);
        out[k] = grad[k] * s * fma(v, 1.0f - s, 1.0f);
    }
}

__kernel void sigmoid_forward(TENSOR_IN(x), TENSOR_OUT(y), uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image)
        AT(y, n, i) = sigmoid_of(AT(x, n, i));
}

__kernel void sigmoid_backward(TENSOR_IN(y), TENSOR_IN(dy), TENSOR_OUT(dx), uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image) {
        float s = AT(y, n, i);
        AT(dx, n, i) = AT(dy, n, i) * s * (1.0f - s);
    }
}

__kernel void leaky_relu_forward(TENSOR_IN(x), TENSOR_OUT(y), float slope, uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image) {
        float v = AT(x, n, i);
        AT(y, n, i) = v > 0.0f ? v : slope * v;
    }
}

__kernel void leaky_relu_backward(TENSOR_IN(x), TENSOR_IN(dy), TENSOR_OUT(dx), float slope,
                                  uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image) {
        float g = AT(dy, n, i);
        AT(dx, n, i) = AT(x, n, i) > 0.0f ? g : slope * g;
    }
}
