/* Optimizer updates, one work-item per parameter: global (count). The tensors are packed, so
 * AT(t, 0, i) is their element i. Decoupled weight decay multiplies the parameter by
 * keep = 1 - lr * weight_decay before the gradient step, as PyTorch's AdamW does. */

/* d = grad_scale * grad + coupled_decay * param (torch.optim.SGD's weight decay, after a clip
 * coefficient): the two host-side passes over the gradients folded in, with the same roundings
 * (one multiply, one fma). buf = momentum * buf + d; param = keep * param - lr * (nesterov ?
 * d + momentum * buf : buf). Without a buffer (momentum 0) the step is lr * d. */
__kernel void sgd_step(TENSOR_OUT(param), TENSOR_IN(grad), TENSOR_OUT(buf), uint has_buf,
                       float lr, float momentum, uint nesterov, float keep, float coupled_decay,
                       float grad_scale, uint count)
{
    size_t i = get_global_id(0);
    if (i >= count)
        return;
    float p = AT(param, 0, i), g = grad_scale * AT(grad, 0, i);
    if (coupled_decay != 0.0f) /* skipped at 0: an infinite param would make 0 * p NaN */
        g = fma(coupled_decay, p, g);
    float step = g;
    if (has_buf) {
        float b = fma(momentum, AT(buf, 0, i), g);
        AT(buf, 0, i) = b;
        step = nesterov ? fma(momentum, b, g) : b;
    }
    AT(param, 0, i) = fma(-lr, step, keep * p);
}

/* m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2 with g = grad_scale * grad;
 * param = keep * param - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps), with the bias
 * corrections folded in by the host: step_size = lr / (1 - beta1^t), inv_sqrt_bc2 =
 * 1 / sqrt(1 - beta2^t). */
__kernel void adamw_step(TENSOR_OUT(param), TENSOR_IN(grad), TENSOR_OUT(m), TENSOR_OUT(v),
                         float beta1, float beta2, float eps, float keep, float step_size,
                         float inv_sqrt_bc2, float grad_scale, uint count)
{
    size_t i = get_global_id(0);
    if (i >= count)
        return;
    float g = grad_scale * AT(grad, 0, i);
    float m1 = fma(beta1, AT(m, 0, i), (1.0f - beta1) * g);
    float v1 = fma(beta2, AT(v, 0, i), (1.0f - beta2) * g * g);
    AT(m, 0, i) = m1;
    AT(v, 0, i) = v1;
    AT(param, 0, i) = keep * AT(param, 0, i) - step_size * m1 / fma(sqrt(v1), inv_sqrt_bc2, eps);
}
