/* Knowledge-distillation losses (include/yolokd/kd_loss.h has the definitions; src/ops/loss_kd.c
 * launches these kernels). Built after cl/tensor.cl (tensor addressing), cl/shared.cl (the
 * sigmoid) and cl/loss_common.cl (GROUP, group_sum, log1p_unit).
 *
 *   kd_logit  a work-item per class logit: binary KL of the tempered sigmoids, its gradient.
 *   kd_ld     a work-item per (box side, anchor): KL of the tempered softmaxes over the side's
 *             bins, weighted per anchor; zero weight writes a zero gradient and nothing else.
 *   kd_cwd    a work-group per (channel, image) plane: KL of the tempered spatial softmaxes.
 *   kd_mse    a work-item per element: (optionally masked) squared difference, its gradient.
 * Element-wise kernels over planes take global (hw, channels, images), which spares them a
 * division by hw per element (PoCL runs integer division scalar: kd_mse took twice as long).
 *
 * Each work-group writes the sum of its terms, unscaled, to partial[its group index]; the host
 * sums them in a fixed order and applies the normalisation, so results do not depend on
 * scheduling. Gradients are written (or added, with accumulate) already scaled. Without a
 * gradient (has_grad 0) the launcher passes the student tensor as g, which is then never
 * written. */

/* The group's index among a 2-D or 3-D launch's groups: where its partial sum goes. */
#define GROUP_INDEX_2D() (get_group_id(1) * get_num_groups(0) + get_group_id(0))
#define GROUP_INDEX_3D()                                                                       \
    ((get_group_id(2) * get_num_groups(1) + get_group_id(1)) * get_num_groups(0) +             \
     get_group_id(0))

/* g[n][i] = v, or += v with accumulate. */
#define STORE_GRAD(g, n, i, v, accumulate)                                                     \
    do {                                                                                       \
        size_t at_ = (size_t)g##_off + (size_t)(n) * g##_bs + (i);                             \
        g[at_] = (accumulate) ? g[at_] + (v) : (v);                                            \
    } while (0)

/* BCE with logits of z against target p, given e = exp(-|z|): max(z, 0) - z p + log(1 + e). */
float bce_of(float z, float e, float p)
{
    return fmax(z, 0.0f) - z * p + log1p_unit(e);
}

/* Binary KL(sigmoid(zt) || sigmoid(zs)) per class logit, as BCE(zs, p) - BCE(zt, p) with
 * p = sigmoid(zt) (the second is p's entropy), z = logit / T. d/ds = (q - p) / T with
 * q = sigmoid(zs); grad_scale carries the rest (scale * T^2 / norm). */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void kd_logit(TENSOR_IN(s), TENSOR_IN(t), uint count, float inv_t, float grad_scale, int has_grad,
              int accumulate, TENSOR_OUT(g), __global float *partial)
{
    __local float scratch[GROUP];
    size_t i = get_global_id(0);
    uint n = get_global_id(1);
    float kl = 0.0f;
    if (i < count) {
        float zs = AT(s, n, i) * inv_t, zt = AT(t, n, i) * inv_t;
        float es = exp(-fabs(zs)), et = exp(-fabs(zt));
        float p = sigmoid_given_exp(zt, et);
        kl = bce_of(zs, es, p) - bce_of(zt, et, p);
        if (has_grad)
            STORE_GRAD(g, n, i, (sigmoid_given_exp(zs, es) - p) * grad_scale, accumulate);
    }
    float sum = group_sum(kl, scratch);
    if (get_local_id(0) == 0)
        partial[GROUP_INDEX_2D()] = sum;
}

/* The tempered KL(pt || ps) of two softmaxes written as sums, for a kernel's one pass over the
 * values: with d = (zt - zs) / T and u = exp(zs / T - top_s), v = exp(zt / T - top_t), their
 * sums U and V, c the ps-weighted mean of d (sum u d / U) and e = d - c,
 *     KL = sum v e / V - log(sum u exp(e) / U) = sum v e / V - log1p(sum u expm1(e) / U).
 * The plain sum of pt (log pt - log ps) cancels: its terms are ~1e-7 of the logits' size
 * apart, which left LD (T = 10, close distributions) only ~1e-4 relative accuracy; here both
 * terms are of KL's own size (the second's argument is >= 0, by Jensen).
 * Far-apart values must not overflow: u exp(e) = exp(g), g = zt / T - top_s - c <= G =
 * top_t - top_s - c. Where G > 60 the sum itself could overflow, so it is taken as
 * sum exp(g - G) ("scaled"; KL is then far from 0 and nothing cancels); otherwise a term with
 * e > 60 (a student value far below the teacher's, u tiny) is exp(g) - u, as expm1(e) alone
 * would overflow. */
float excess_term(float u, float e, float g, float big_g, int scaled)
{
    if (scaled)
        return exp(g - big_g);
    return e > 60.0f ? exp(g) - u : u * expm1(e);
}

float kl_of_sums(float4 sums_u_v_ud, float2 sums_excess_ve, float big_g, int scaled)
{
    float log_mean = scaled ? big_g + log(sums_excess_ve.x) - log(sums_u_v_ud.x)
                            : log1p(sums_excess_ve.x / sums_u_v_ud.x);
    return sums_excess_ve.y / sums_u_v_ud.y - log_mean;
}

/* Work-item (side, position) of image n: the side's bins are channels side * bins + b, a
 * plane (hw floats) apart. The anchor's weight w[n][position] multiplies the side's
 * KL(softmax(t / T) || softmax(s / T)) (kl_of_sums); d/ds_b = w (ps_b - pt_b) / T, and
 * grad_scale carries scale * T^2 / (4 norm). */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void kd_ld(TENSOR_IN(s), TENSOR_IN(t), TENSOR_IN(w), uint hw, uint bins, float inv_t,
           float grad_scale, int has_grad, int accumulate, TENSOR_OUT(g), __global float *partial)
{
    __local float scratch[GROUP];
    size_t i = get_global_id(0);
    uint n = get_global_id(1);
    float term = 0.0f;
    if (i < 4 * (size_t)hw) {
        size_t side = i / hw, pos = i - side * hw, first = side * bins * hw + pos;
        float weight = AT(w, n, pos);
        __global const float *zs = IMAGE(s, n) + first, *zt = IMAGE(t, n) + first;
        if (weight != 0.0f) {
            float2 top = (float2)(-INFINITY, -INFINITY);
            for (uint b = 0; b < bins; b++)
                top = fmax(top, (float2)(zs[b * (size_t)hw], zt[b * (size_t)hw]) * inv_t);
            float4 sums = (float4)(0.0f);
            for (uint b = 0; b < bins; b++) {
                float ys = zs[b * (size_t)hw] * inv_t, yt = zt[b * (size_t)hw] * inv_t;
                float u = exp(ys - top.x);
                sums += (float4)(u, exp(yt - top.y), u * (yt - ys), 0.0f);
            }
            float c = sums.z / sums.x, big_g = top.y - top.x - c;
            int scaled = big_g > 60.0f;
            float2 sums_e = (float2)(0.0f, 0.0f);
            for (uint b = 0; b < bins; b++) {
                float ys = zs[b * (size_t)hw] * inv_t, yt = zt[b * (size_t)hw] * inv_t;
                float u = exp(ys - top.x), v = exp(yt - top.y), e = (yt - ys) - c;
                sums_e += (float2)(excess_term(u, e, yt - top.x - c, big_g, scaled), v * e);
                if (has_grad)
                    STORE_GRAD(g, n, first + b * (size_t)hw,
                               weight * grad_scale * (u / sums.x - v / sums.y), accumulate);
            }
            term = weight * kl_of_sums(sums, sums_e, big_g, scaled);
        } else if (has_grad && !accumulate) {
            for (uint b = 0; b < bins; b++)
                STORE_GRAD(g, n, first + b * (size_t)hw, 0.0f, 0);
        }
    }
    float sum = group_sum(term, scratch);
    if (get_local_id(0) == 0)
        partial[GROUP_INDEX_2D()] = sum;
}

/* Combines four values per work-item over the group, with max or +, in a fixed order; every
 * work-item of the group must call it and gets the result. */
float4 group_all4(float4 v, int use_max, __local float4 *scratch)
{
    uint l = get_local_id(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l == 0) {
        float4 r = scratch[0];
        for (int k = 1; k < GROUP; k++)
            r = use_max ? fmax(r, scratch[k]) : r + scratch[k];
        scratch[GROUP] = r;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float4 all = scratch[GROUP];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch is written again by the next call */
    return all;
}

/* A work-group per plane: global (GROUP, channels, images). The softmaxes over the plane's hw
 * positions of s / T and of t / T (maxima, then the sums, then the terms: kl_of_sums); the
 * plane's KL(pt || ps) and d/ds = (ps - pt) / T, grad_scale carrying scale * T^2 / (N C).
 * Work-items take positions l, l + GROUP, ... (neighbours read neighbouring floats), every
 * work-item the same number of steps: with the trip count uniform over the group, PoCL ran
 * this kernel 25% faster than with per-work-item trip counts. (Two kernels, per-plane
 * normalisers then an element-wise pass, measured no faster.) partial[n * channels + c] =
 * plane (n, c)'s KL. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void kd_cwd(TENSOR_IN(s), TENSOR_IN(t), uint hw, float inv_t, float grad_scale, int has_grad,
            int accumulate, TENSOR_OUT(g), __global float *partial)
{
    __local float4 scratch[GROUP + 1];
    uint l = get_local_id(0), c = get_global_id(1), n = get_global_id(2);
    uint steps = (hw + GROUP - 1) / GROUP;
    size_t first = (size_t)c * hw;
    __global const float *zs = IMAGE(s, n) + first, *zt = IMAGE(t, n) + first;
    float4 top = (float4)(-INFINITY);
    for (uint k = 0; k < steps; k++) {
        uint i = k * GROUP + l;
        if (i < hw)
            top = fmax(top, (float4)(zs[i], zt[i], 0.0f, 0.0f) * inv_t);
    }
    top = group_all4(top, 1, scratch);
    float4 sums = (float4)(0.0f);
    for (uint k = 0; k < steps; k++) {
        uint i = k * GROUP + l;
        if (i < hw) {
            float ys = zs[i] * inv_t, yt = zt[i] * inv_t, u = exp(ys - top.x);
            sums += (float4)(u, exp(yt - top.y), u * (yt - ys), 0.0f);
        }
    }
    sums = group_all4(sums, 0, scratch);
    float shift = sums.z / sums.x, big_g = top.y - top.x - shift;
    int scaled = big_g > 60.0f;
    float4 sums_e = (float4)(0.0f);
    for (uint k = 0; k < steps; k++) {
        uint i = k * GROUP + l;
        if (i >= hw)
            continue;
        float ys = zs[i] * inv_t, yt = zt[i] * inv_t;
        float u = exp(ys - top.x), v = exp(yt - top.y), e = (yt - ys) - shift;
        sums_e += (float4)(excess_term(u, e, yt - top.x - shift, big_g, scaled), v * e, 0.0f,
                           0.0f);
        if (has_grad)
            STORE_GRAD(g, n, first + i, grad_scale * (u / sums.x - v / sums.y), accumulate);
    }
    sums_e = group_all4(sums_e, 0, scratch);
    if (l == 0)
        partial[(size_t)n * get_global_size(1) + c] =
            kl_of_sums(sums, sums_e.xy, big_g, scaled);
}

/* (p - t)^2 per element, times the mask of its position (m [N, 1, H, W], when has_mask);
 * d/dp = 2 m (p - t), grad_scale carrying scale / norm. A work-item per position of a plane:
 * global (hw, channels, images). */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void kd_mse(TENSOR_IN(p), TENSOR_IN(t), TENSOR_IN(m), uint hw, int has_mask, float grad_scale,
            int has_grad, int accumulate, TENSOR_OUT(g), __global float *partial)
{
    __local float scratch[GROUP];
    uint pos = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    float term = 0.0f;
    if (pos < hw) {
        size_t i = (size_t)c * hw + pos;
        float d = AT(p, n, i) - AT(t, n, i);
        float mask = has_mask ? AT(m, n, pos) : 1.0f;
        term = mask * d * d;
        if (has_grad)
            STORE_GRAD(g, n, i, 2.0f * grad_scale * mask * d, accumulate);
    }
    float sum = group_sum(term, scratch);
    if (get_local_id(0) == 0)
        partial[GROUP_INDEX_3D()] = sum;
}
