/* Batch normalisation per channel over N, H, W.
 *
 * Statistics are reduced in two steps, both deterministic: a work-group per (channel, image)
 * plane reduces it to a partial (mean and sum of squared deviations, or sums for the
 * backward), then a work-item per channel merges its channel's partials in image order.
 * Variances are merged from means and squared deviations (Welford within a work-item, Chan
 * across), never as E[x^2] - E[x]^2, which cancels catastrophically in float. Per-channel
 * tensors ([1, C, 1, 1]) are addressed as AT(t, 0, c). */

/* A work-item's share of the runs of 8 floats of a plane: runs l, l + L, ... (interleaved,
 * which coalesces loads on GPUs; on CPUs a work-group is one work-item, which walks them all). */
typedef struct walk {
    uint first, step, count;
} walk;

static walk plane_walk(uint runs)
{
    uint l = get_local_id(0), size = get_local_size(0);
    walk w = {l, size, l < runs ? (runs - l + size - 1) / size : 0};
    return w;
}

static float sum8(float8 v)
{
    float4 s = v.lo + v.hi;
    return (s.x + s.y) + (s.z + s.w);
}

/* Count, mean and sum of squared deviations of some values. */
typedef struct moments {
    float count, mean, m2;
} moments;

/* Chan's merge of b into a. */
static moments moments_merge(moments a, moments b)
{
    float count = a.count + b.count;
    if (b.count > 0.0f) {
        float delta = b.mean - a.mean;
        a.mean += delta * (b.count / count);
        a.m2 += b.m2 + delta * delta * (a.count * (b.count / count));
        a.count = count;
    }
    return a;
}

/* Merges every work-item's moments over the group (a power of two in size); all of the
 * group's work-items must call it. The result is complete in work-item 0. */
static moments group_merge(moments m, __local float *scratch)
{
    uint l = get_local_id(0), size = get_local_size(0);
    scratch[l] = m.count;
    scratch[size + l] = m.mean;
    scratch[2 * size + l] = m.m2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint width = size / 2; width > 0; width /= 2) {
        if (l < width) {
            moments a = {scratch[l], scratch[size + l], scratch[2 * size + l]};
            moments b = {scratch[l + width], scratch[size + l + width],
                         scratch[2 * size + l + width]};
            a = moments_merge(a, b);
            scratch[l] = a.count;
            scratch[size + l] = a.mean;
            scratch[2 * size + l] = a.m2;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    moments all = {scratch[0], scratch[size], scratch[2 * size]};
    return all;
}

/* Sums two values per work-item over the group, as group_merge does. */
static float2 group_sum2(float2 v, __local float *scratch)
{
    uint l = get_local_id(0), size = get_local_size(0);
    scratch[l] = v.x;
    scratch[size + l] = v.y;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint width = size / 2; width > 0; width /= 2) {
        if (l < width) {
            scratch[l] += scratch[l + width];
            scratch[size + l] += scratch[size + l + width];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return (float2)(scratch[0], scratch[size]);
}

/* Global (L, C, N), local (L, 1, 1): partial[(c * N + n) * 2 + {0, 1}] = the mean and the
 * sum of squared deviations of plane (n, c). Scratch holds 3 L floats. */
__kernel void batchnorm_plane_moments(TENSOR_IN(x), uint plane,
                                      __global float *partial, __local float *scratch)
{
    uint c = get_global_id(1), n = get_global_id(2);
    __global const float *p = IMAGE(x, n) + (size_t)c * plane;
    walk w = plane_walk(plane / 8);
    /* Welford per lane: the 8 lanes see equal counts, so one reciprocal serves them */
    float k = 0.0f;
    float8 mean = 0.0f, m2 = 0.0f;
    for (uint j = 0; j < w.count; j++) {
        float8 v = vload8(w.first + j * w.step, p);
        k += 1.0f;
        float8 d = v - mean;
        mean += d * (1.0f / k);
        m2 += d * (v - mean);
    }
    float lanes_mean = sum8(mean) * 0.125f;
    float8 spread = mean - lanes_mean;
    moments m = {8.0f * k, lanes_mean, sum8(m2) + k * sum8(spread * spread)};
    /* the last plane % 8 floats, one to each of the first work-items */
    for (uint tail = plane / 8 * 8 + get_local_id(0); tail < plane; tail += get_local_size(0)) {
        moments one = {1.0f, p[tail], 0.0f};
        m = moments_merge(m, one);
    }
    if (get_local_size(0) > 1) /* one work-item a plane (CPUs): nothing to merge */
        m = group_merge(m, scratch);
    if (get_local_id(0) == 0) {
        uint at = (c * get_global_size(2) + n) * 2;
        partial[at] = m.mean;
        partial[at + 1] = m.m2;
    }
}

/* Per channel, the affine map y = (x - a.x) * a.y + a.z that normalising applies, as one
 * float4: a kernel over planes then loads its channel's parameters with one vector load, which
 * PoCL hoists out of its work-item loop (several scalar loads it re-reads per element). */
static void store_affine(__global float *affine, uint c, float mean, float invstd, float gamma,
                         float beta)
{
    vstore4((float4)(mean, invstd * gamma, beta, 0.0f), c, affine);
}

/* One work-item per channel: merges the N plane partials (each of `plane` values) into the
 * batch statistics, stores mean and 1/sqrt(var + eps) and the affine map, and updates the
 * running statistics with the unbiased variance. */
__kernel void batchnorm_train_stats(__global const float *partial, uint images, uint plane,
                                    float eps, float momentum, TENSOR_IN(gamma),
                                    TENSOR_IN(beta), TENSOR_OUT(save_mean),
                                    TENSOR_OUT(save_invstd), TENSOR_OUT(running_mean),
                                    TENSOR_OUT(running_var), __global float *affine,
                                    uint channels)
{
    uint c = get_global_id(0);
    if (c >= channels)
        return;
    __global const float *pc = partial + c * images * 2;
    float mean = 0.0f;
    for (uint n = 0; n < images; n++)
        mean += pc[2 * n];
    mean /= (float)images;
    float m2 = 0.0f;
    for (uint n = 0; n < images; n++) {
        float d = pc[2 * n] - mean;
        m2 += pc[2 * n + 1] + (float)plane * d * d;
    }
    float count = (float)images * (float)plane, invstd = rsqrt(m2 / count + eps);
    AT(save_mean, 0, c) = mean;
    AT(save_invstd, 0, c) = invstd;
    store_affine(affine, c, mean, invstd, AT(gamma, 0, c), AT(beta, 0, c));
    /* (1 - momentum) r + momentum batch, written as r + momentum (batch - r) */
    float rm = AT(running_mean, 0, c), rv = AT(running_var, 0, c);
    AT(running_mean, 0, c) = fma(momentum, mean - rm, rm);
    AT(running_var, 0, c) = fma(momentum, m2 / (count - 1.0f) - rv, rv);
}

/* One work-item per channel: the affine map of inference from the running statistics. */
__kernel void batchnorm_infer_affine(TENSOR_IN(mean), TENSOR_IN(var), float eps,
                                     TENSOR_IN(gamma), TENSOR_IN(beta), __global float *affine,
                                     uint channels)
{
    uint c = get_global_id(0);
    if (c < channels)
        store_affine(affine, c, AT(mean, 0, c), rsqrt(AT(var, 0, c) + eps), AT(gamma, 0, c),
                     AT(beta, 0, c));
}

/* Elements of a plane per work-item in the element-wise kernels below, as one floatv where
 * the run lies inside the plane: PoCL's vectoriser across work-items did about half as well
 * as float16s; GPUs take one float a work-item. */
#define PLANE_RUN VECTOR_FLOATS

/* y = act((x - mean) * invstd * gamma + beta) through the affine map, over planes: global
 * (H*W / PLANE_RUN rounded up, C, N). Work-items past the last channel load a real channel's
 * map, write nothing. */
__kernel void batchnorm_apply(TENSOR_IN(x), __global const float *affine, TENSOR_OUT(y),
                              uint plane, uint channels, int act)
{
    size_t p = get_global_id(0) * PLANE_RUN, n = get_global_id(2);
    uint c = get_global_id(1);
    float4 a = vload4(min(c, channels - 1), affine);
    if (p >= plane || c >= channels)
        return;
    const __global float *in = IMAGE(x, n) + (size_t)c * plane + p;
    __global float *out = IMAGE(y, n) + (size_t)c * plane + p;
    if (p + PLANE_RUN <= plane) {
        floatv v = (VLOADV(in) - a.x) * a.y + a.z;
        VSTOREV(act == ACT_SILU ? v / (1.0f + exp(-v)) : v, out);
        return;
    }
    for (size_t k = 0; p + k < plane; k++)
        out[k] = activate((in[k] - a.x) * a.y + a.z, act);
}

/* SiLU's slope at v, s (1 + v (1 - s)) with s = sigmoid(v), for a float and the plane
 * reduction's float8 (a fused BN + SiLU recomputes SiLU's input from x and the statistics
 * instead of keeping it). */
static float silu_slope(float v)
{
    float s = sigmoid_of(v);
    return s * fma(v, 1.0f - s, 1.0f);
}

static float8 silu_slope8(float8 v)
{
    float8 s = 1.0f / (1.0f + exp(-v));
    return s * fma(v, 1.0f - s, 1.0f);
}



/* Global (L, C, N) as batchnorm_plane_moments: partial[(c * N + n) * 2 + {0, 1}] = the sums
 * over plane (n, c) of g and of g * (x - mean), g = dy, or with act SiLU (a fused BN + SiLU,
 * dy the gradient of SiLU's output) g = dy * SiLU'(b), b = (x - mean) * invstd * gamma + beta,
 * also written to g_out for the input gradient (one exp per element, not two). Scratch holds
 * 2 L floats. */
__kernel void batchnorm_plane_grad_sums(TENSOR_IN(x), TENSOR_IN(dy), TENSOR_IN(mean),
                                        TENSOR_IN(invstd), TENSOR_IN(gamma), TENSOR_IN(beta),
                                        int act, TENSOR_OUT(g_out), uint plane,
                                        __global float *partial, __local float *scratch)
{
    uint c = get_global_id(1), n = get_global_id(2);
    __global const float *px = IMAGE(x, n) + (size_t)c * plane;
    __global const float *pdy = IMAGE(dy, n) + (size_t)c * plane;
    __global float *pg = IMAGE(g_out, n) + (size_t)c * plane;
    float mu = AT(mean, 0, c);
    float scale = AT(invstd, 0, c) * AT(gamma, 0, c), shift = AT(beta, 0, c);
    walk w = plane_walk(plane / 8);
    float8 s = 0.0f, sx = 0.0f;
    for (uint j = 0; j < w.count; j++) {
        uint r = w.first + j * w.step;
        float8 g = vload8(r, pdy), centred = vload8(r, px) - mu;
        if (act == ACT_SILU) {
            g *= silu_slope8(centred * scale + shift);
            vstore8(g, r, pg);
        }
        s += g;
        sx += g * centred;
    }
    float2 sums = (float2)(sum8(s), sum8(sx));
    for (uint tail = plane / 8 * 8 + get_local_id(0); tail < plane; tail += get_local_size(0)) {
        float g = pdy[tail], centred = px[tail] - mu;
        if (act == ACT_SILU) {
            g *= silu_slope(centred * scale + shift);
            pg[tail] = g;
        }
        sums += (float2)(g, g * centred);
    }
    if (get_local_size(0) > 1)
        sums = group_sum2(sums, scratch);
    if (get_local_id(0) == 0) {
        uint at = (c * get_global_size(2) + n) * 2;
        partial[at] = sums.x;
        partial[at + 1] = sums.y;
    }
}

/* One work-item per channel: with S = sum dy and Sx = sum dy (x - mean) over the batch,
 * dgamma (+)= Sx invstd, dbeta (+)= S, and as one float4 per channel the coefficients of
 * dx = k dy + b (x - mean) + d, k = gamma invstd, b = -k invstd^2 Sx / M, d = -k S / M, with
 * the mean: (k, b, d, mean). */
__kernel void batchnorm_backward_params(__global const float *partial, uint images, uint plane,
                                        TENSOR_IN(mean), TENSOR_IN(invstd), TENSOR_IN(gamma),
                                        uint accumulate, TENSOR_OUT(dgamma), TENSOR_OUT(dbeta),
                                        __global float *coef, uint channels)
{
    uint c = get_global_id(0);
    if (c >= channels)
        return;
    __global const float *pc = partial + c * images * 2;
    float s = 0.0f, sx = 0.0f;
    for (uint n = 0; n < images; n++) {
        s += pc[2 * n];
        sx += pc[2 * n + 1];
    }
    float inv = AT(invstd, 0, c), k = AT(gamma, 0, c) * inv;
    float count = (float)images * (float)plane;
    AT(dgamma, 0, c) = (accumulate ? AT(dgamma, 0, c) : 0.0f) + sx * inv;
    AT(dbeta, 0, c) = (accumulate ? AT(dbeta, 0, c) : 0.0f) + s;
    vstore4((float4)(k, -k * inv * inv * sx / count, -k * s / count, AT(mean, 0, c)), c, coef);
}

/* dx from the coefficients, over planes: global (H*W / PLANE_RUN rounded up, C, N). dx may be
 * dy (a fused BN + SiLU passes the g its plane sums wrote there). */
__kernel void batchnorm_backward_input(TENSOR_IN(x), TENSOR_IN(dy), __global const float *coef,
                                       TENSOR_OUT(dx), uint plane, uint channels)
{
    size_t p = get_global_id(0) * PLANE_RUN, n = get_global_id(2);
    uint c = get_global_id(1);
    float4 k = vload4(min(c, channels - 1), coef);
    if (p >= plane || c >= channels)
        return;
    size_t at = (size_t)c * plane + p;
    const __global float *px = IMAGE(x, n) + at, *pdy = IMAGE(dy, n) + at;
    __global float *out = IMAGE(dx, n) + at;
    if (p + PLANE_RUN <= plane) {
        VSTOREV(fma(k.x, VLOADV(pdy), fma(k.y, VLOADV(px) - k.w, k.z)), out);
        return;
    }
    for (size_t j = 0; p + j < plane; j++)
        out[j] = fma(k.x, pdy[j], fma(k.y, px[j] - k.w, k.z));
}

/* Folds inference BN into the convolution before it, one work-item per weight: global
 * (Cin/groups * K * K, Cout); work-item 0 of each output channel writes its bias. */
__kernel void batchnorm_fold(TENSOR_IN(w), TENSOR_IN(bias), uint has_bias, TENSOR_IN(gamma),
                             TENSOR_IN(beta), TENSOR_IN(mean), TENSOR_IN(var), float eps,
                             TENSOR_OUT(w_out), TENSOR_OUT(bias_out), uint image)
{
    size_t i = get_global_id(0), o = get_global_id(1);
    if (i >= image)
        return;
    float scale = AT(gamma, 0, o) * rsqrt(AT(var, 0, o) + eps);
    if (i == 0) {
        float b = has_bias ? AT(bias, 0, o) : 0.0f;
        AT(bias_out, 0, o) = fma(b - AT(mean, 0, o), scale, AT(beta, 0, o));
    }
    AT(w_out, o, i) = AT(w, o, i) * scale;
}
