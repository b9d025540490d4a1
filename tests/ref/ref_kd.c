/* Float64 references of the distillation losses, written from their definitions (and, for the
 * gradients, from the derivatives worked out by hand; tests check them by differences). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

/* log(1 + exp(x)) without overflow. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

double ref_kd_logit(ref_shape sh, const double *s, const double *t, double temperature,
                    double norm, double *ds)
{
    double sum = 0.0, T = temperature;
    for (size_t i = 0; i < ref_numel(sh); i++) {
        double zs = s[i] / T, zt = t[i] / T;
        double p = 1.0 / (1.0 + exp(-zt)), q = 1.0 / (1.0 + exp(-zs));
        /* log sigmoid(z) = -softplus(-z), log(1 - sigmoid(z)) = -softplus(z) */
        double kl = p * (softplus(-zs) - softplus(-zt)) + (1 - p) * (softplus(zs) - softplus(zt));
        sum += kl;
        if (ds)
            ds[i] = T * (q - p) / norm;
    }
    return T * T * sum / norm;
}

/* log-softmax of n values x[k * step] / T into out (packed). */
static void log_softmax(const double *x, size_t step, int n, double T, double *out)
{
    double top = -INFINITY, sum = 0.0;
    for (int k = 0; k < n; k++)
        top = fmax(top, x[k * step] / T);
    for (int k = 0; k < n; k++)
        sum += exp(x[k * step] / T - top);
    for (int k = 0; k < n; k++)
        out[k] = x[k * step] / T - top - log(sum);
}

/* KL(softmax(t/T) || softmax(s/T)) of n values `step` apart; ds[k * step] = scale * d/ds_k
 * when ds is not NULL. */
static double tempered_kl(const double *s, const double *t, size_t step, int n, double T,
                          double scale, double *ds)
{
    double *ls = malloc((size_t)n * sizeof *ls), *lt = malloc((size_t)n * sizeof *lt);
    log_softmax(s, step, n, T, ls);
    log_softmax(t, step, n, T, lt);
    double kl = 0.0;
    for (int k = 0; k < n; k++) {
        kl += exp(lt[k]) * (lt[k] - ls[k]);
        if (ds)
            ds[k * step] = scale * (exp(ls[k]) - exp(lt[k])) / T;
    }
    free(ls);
    free(lt);
    return kl;
}

double ref_kd_ld(ref_shape sh, const double *s, const double *t, const double *w,
                 double temperature, double norm, double *ds)
{
    int bins = sh.c / 4;
    size_t hw = (size_t)sh.h * sh.w;
    double sum = 0.0, T = temperature;
    for (int n = 0; n < sh.n; n++)
        for (size_t p = 0; p < hw; p++)
            for (int side = 0; side < 4; side++) {
                size_t first = ((size_t)n * sh.c + (size_t)side * bins) * hw + p;
                double weight = w[(size_t)n * hw + p];
                double scale = weight * T * T / (4 * norm);
                sum += scale * tempered_kl(s + first, t + first, hw, bins, T, scale,
                                           ds ? ds + first : NULL);
            }
    return sum;
}

double ref_kd_cwd(ref_shape sh, const double *s, const double *t, double temperature,
                  double *ds)
{
    size_t hw = (size_t)sh.h * sh.w, planes = (size_t)sh.n * sh.c;
    double T = temperature, scale = T * T / (double)planes, sum = 0.0;
    for (size_t k = 0; k < planes; k++)
        sum += scale * tempered_kl(s + k * hw, t + k * hw, 1, (int)hw, T, scale,
                                   ds ? ds + k * hw : NULL);
    return sum;
}

/* x standardised per channel over (n, h, w) into out; invstd[c] kept for the backward. */
static void standardise(ref_shape sh, const double *x, double eps, double *out, double *invstd)
{
    size_t hw = (size_t)sh.h * sh.w, m = (size_t)sh.n * hw;
    for (int c = 0; c < sh.c; c++) {
        double mean = 0.0, var = 0.0;
        for (int n = 0; n < sh.n; n++)
            for (size_t p = 0; p < hw; p++)
                mean += x[((size_t)n * sh.c + c) * hw + p] / (double)m;
        for (int n = 0; n < sh.n; n++)
            for (size_t p = 0; p < hw; p++) {
                double d = x[((size_t)n * sh.c + c) * hw + p] - mean;
                var += d * d / (double)m;
            }
        invstd[c] = 1.0 / sqrt(var + eps);
        for (int n = 0; n < sh.n; n++)
            for (size_t p = 0; p < hw; p++) {
                size_t i = ((size_t)n * sh.c + c) * hw + p;
                out[i] = (x[i] - mean) * invstd[c];
            }
    }
}

double ref_kd_pkd(ref_shape sh, const double *s, const double *t, double eps, double *ds)
{
    size_t total = ref_numel(sh), hw = (size_t)sh.h * sh.w, m = (size_t)sh.n * hw;
    double *sh_s = malloc(total * sizeof *sh_s), *sh_t = malloc(total * sizeof *sh_t);
    double *inv_s = malloc((size_t)sh.c * sizeof *inv_s);
    double *inv_t = malloc((size_t)sh.c * sizeof *inv_t);
    standardise(sh, s, eps, sh_s, inv_s);
    standardise(sh, t, eps, sh_t, inv_t);
    double sum = 0.0;
    for (size_t i = 0; i < total; i++)
        sum += (sh_s[i] - sh_t[i]) * (sh_s[i] - sh_t[i]);
    /* g = dL/ds^ = (s^ - t^) / (N C H W); through the standardisation, per channel:
     * ds = invstd (g - mean(g) - s^ mean(g s^)) */
    for (int c = 0; ds && c < sh.c; c++) {
        double mean_g = 0.0, mean_gx = 0.0;
        for (int n = 0; n < sh.n; n++)
            for (size_t p = 0; p < hw; p++) {
                size_t i = ((size_t)n * sh.c + c) * hw + p;
                double g = (sh_s[i] - sh_t[i]) / (double)total;
                mean_g += g / (double)m;
                mean_gx += g * sh_s[i] / (double)m;
            }
        for (int n = 0; n < sh.n; n++)
            for (size_t p = 0; p < hw; p++) {
                size_t i = ((size_t)n * sh.c + c) * hw + p;
                double g = (sh_s[i] - sh_t[i]) / (double)total;
                ds[i] = inv_s[c] * (g - mean_g - sh_s[i] * mean_gx);
            }
    }
    free(sh_s), free(sh_t), free(inv_s), free(inv_t);
    return sum / (2.0 * (double)total);
}

double ref_kd_mse(ref_shape sh, const double *p, const double *t, const double *mask,
                  double norm, double *dp)
{
    size_t hw = (size_t)sh.h * sh.w, chw = (size_t)sh.c * hw;
    double sum = 0.0;
    for (size_t i = 0; i < ref_numel(sh); i++) {
        double m = mask ? mask[i / chw * hw + i % hw] : 1.0, d = p[i] - t[i];
        sum += m * d * d;
        if (dp)
            dp[i] = 2.0 * m * d / norm;
    }
    return sum / norm;
}

double ref_kd_imitation(ref_shape sh, int ct, const double *s, const double *t,
                        const double *mask, const double *w, const double *b, double norm,
                        double *ds, double *dw, double *db)
{
    if (!w)
        return ref_kd_mse(sh, s, t, mask, norm, ds);
    ref_conv conv = {sh.n, sh.c, sh.h, sh.w, ct, 1, 1, 0, 1};
    ref_shape ysh = {sh.n, ct, sh.h, sh.w};
    double *y = malloc(ref_numel(ysh) * sizeof *y), *dy = malloc(ref_numel(ysh) * sizeof *dy);
    ref_conv2d_forward(&conv, s, w, b, 0, y);
    double loss = ref_kd_mse(ysh, y, t, mask, norm, dy);
    if (dw)
        ref_conv2d_backward_weights(&conv, s, dy, dw, db);
    if (ds)
        ref_conv2d_backward_input(&conv, dy, w, ds);
    free(y), free(dy);
    return loss;
}
