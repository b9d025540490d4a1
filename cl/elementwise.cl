/* Element-wise arithmetic on tensors of one shape, one work-item per element: global
 * (image size, n). Outputs may be the very same view as an input: each work-item reads its
 * element before writing it. */

__kernel void add_forward(TENSOR_IN(a), TENSOR_IN(b), TENSOR_OUT(y), uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image)
        AT(y, n, i) = AT(a, n, i) + AT(b, n, i);
}

/* y += alpha * x */
__kernel void tensor_axpy(TENSOR_IN(x), TENSOR_OUT(y), float alpha, uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image)
        AT(y, n, i) = fma(alpha, AT(x, n, i), AT(y, n, i));
}

__kernel void tensor_scale(TENSOR_IN(x), TENSOR_OUT(y), float scale, uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image)
        AT(y, n, i) = AT(x, n, i) * scale;
}
