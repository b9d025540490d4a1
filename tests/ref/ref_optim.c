#include <math.h>

#include "ref.h"

void ref_sgd_step(size_t n, double lr, double momentum, bool nesterov, double weight_decay,
                  double coupled_decay, double grad_scale, double *param, const double *grad,
                  double *buf)
{
    for (size_t i = 0; i < n; i++) {
        double d = grad_scale * grad[i] + coupled_decay * param[i], step = d;
        if (buf) {
            buf[i] = momentum * buf[i] + d;
            step = nesterov ? d + momentum * buf[i] : buf[i];
        }
        param[i] = param[i] - lr * weight_decay * param[i] - lr * step;
    }
}

void ref_adamw_step(size_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int step, double grad_scale, double *param,
                    const double *grad, double *m, double *v)
{
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    for (size_t i = 0; i < n; i++) {
        double g = grad_scale * grad[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        double m_hat = m[i] / bc1, v_hat = v[i] / bc2;
        param[i] = param[i] * (1.0 - lr * weight_decay) - lr * m_hat / (sqrt(v_hat) + eps);
    }
}
