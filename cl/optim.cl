/* Optimizer updates, one work-item per run of VECTOR_FLOATS parameters (cl/shared.cl's
 * run_at, load_run and store_run): global (count / VECTOR_FLOATS, rounded up). The tensors
 * are packed, so AT(t, 0, i) is their element i. Decoupled weight decay multiplies the
 * parameter by keep = 1 - lr * weight_decay before the gradient step, as PyTorch's AdamW
 * does. */

/* d = grad_scale * grad + coupled_decay * param (torch.optim.SGD's weight decay, after a clip
 * coefficient): the two host-side passes over the gradients folded in, with the same roundings
 * (one multiply, one fma). buf = momentum * buf + d; param = keep * param - lr * (nesterov ?
 * d + momentum * buf : buf). Without a buffer (momentum 0) the step is lr * d. */
__kernel void sgd_step(TENSOR_OUT(param), TENSOR_IN(grad), TENSOR_OUT(buf), uint has_buf,
                       float lr, float momentum, uint nesterov, float keep, float coupled_decay,
                       float grad_scale, uint count)
{
    size_t i;
    uint valid = run_at(count, &i);
    if (!valid)
        return;
    __global float *pp = &AT(param, 0, i);
    floatv p = load_run(pp, valid), g = grad_scale * load_run(&AT(grad, 0, i), valid);
    if (coupled_decay != 0.0f) /* skipped at 0: an infinite param would make 0 * p NaN */
        g = fma((floatv)(coupled_decay), p, g);
    floatv step = g;
    if (has_buf) {
        __global float *bp = &AT(buf, 0, i);
        floatv b = fma((floatv)(momentum), load_run(bp, valid), g);
        store_run(bp, b, valid);
        step = nesterov ? fma((floatv)(momentum), b, g) : b;
    }
    store_run(pp, fma((floatv)(-lr), step, keep * p), valid);
}

/* m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2 with g = grad_scale * grad;
 * param = keep * param - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps), with the bias
 * corrections folded in by the host: step_size = lr / (1 - beta1^t), inv_sqrt_bc2 =
 * 1 / sqrt(1 - beta2^t). */
__kernel void adamw_step(TENSOR_OUT(param), TENSOR_IN(grad), TENSOR_OUT(m), TENSOR_OUT(v),
                         float beta1, float beta2, float eps, float keep, float step_size,
                         float inv_sqrt_bc2, float grad_scale, uint count)
{
    size_t i;
    uint valid = run_at(count, &i);
    if (!valid)
        return;
    __global float *pp = &AT(param, 0, i), *mp = &AT(m, 0, i), *vp = &AT(v, 0, i);
    floatv g = grad_scale * load_run(&AT(grad, 0, i), valid);
    floatv m1 = fma((floatv)(beta1), load_run(mp, valid), (1.0f - beta1) * g);
    floatv v1 = fma((floatv)(beta2), load_run(vp, valid), (1.0f - beta2) * g * g);
    store_run(mp, m1, valid);
    store_run(vp, v1, valid);
    store_run(pp,
              keep * load_run(pp, valid) -
                  step_size * m1 / fma(sqrt(v1), (floatv)(inv_sqrt_bc2), (floatv)(eps)),
              valid);
}
