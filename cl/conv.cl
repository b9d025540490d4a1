/* The data movement around a convolution's GEMMs: im2col (forward, weight gradient, and the input
 * gradient of stride-1 convolutions), flipped weights (for that input gradient), col2im (the
 * input gradient of strided convolutions, as a gather so no two work-items write one element),
 * the bias + activation epilogue for GEMMs that lack one, and the bias gradient.
 *
 * Geometry for every kernel: input [C, H, W] per image, square kernel K, stride S, padding P,
 * output [*, Ho, Wo]; column index j = (c * K + ky) * K + kx, CKK = C * K * K; output pixel
 * p = oy * Wo + ox, HWo = Ho * Wo. Images are addressed as offset + b * batch. Work-items own
 * whole rows (a loop over x), which suits CPUs: the loop vectorises and indices are computed
 * once per row. */

/* col[b][j][p] = x[b][c][oy * S - P + ky][ox * S - P + kx], zero outside. Work-item (oy, j, b)
 * fills one row of Wo: the zero margins and the inside run are separate loops so the inside
 * (a contiguous copy at stride 1) vectorises. */
__kernel void im2col(__global const float *x, uint x_offset, uint x_batch, int C, int H, int W,
                     int K, int S, int P, int Ho, int Wo, __global float *col, uint col_offset)
{
    int oy = get_global_id(0);
    int j = get_global_id(1);
    int b = get_global_id(2);
    if (oy >= Ho || j >= C * K * K)
        return;
    int kx = j % K, ky = (j / K) % K, c = j / (K * K);
    int iy = oy * S - P + ky;
    __global float *out =
        col + col_offset + ((size_t)b * C * K * K + j) * Ho * Wo + (size_t)oy * Wo;
    if (iy < 0 || iy >= H) {
        for (int ox = 0; ox < Wo; ox++)
            out[ox] = 0.0f;
        return;
    }
    const __global float *in = x + x_offset + (size_t)b * x_batch + ((size_t)c * H + iy) * W;
    /* ix = ox * S - P + kx lies in [0, W) for ox in [first, last) */
    int first = P - kx > 0 ? (P - kx + S - 1) / S : 0;
    int last = W - 1 + P - kx >= 0 ? (W - 1 + P - kx) / S + 1 : 0;
    first = min(first, Wo);
    last = clamp(last, first, Wo);
    for (int ox = 0; ox < first; ox++)
        out[ox] = 0.0f;
    const __global float *src = in + first * S - P + kx;
    if (S == 1)
        for (int ox = first; ox < last; ox++)
            out[ox] = src[ox - first];
    else
        for (int ox = first; ox < last; ox++)
            out[ox] = src[(ox - first) * S];
    for (int ox = last; ox < Wo; ox++)
        out[ox] = 0.0f;
}

/* table[table_offset + j], for column j = (c, ky, kx) of a convolution read as windows
 * (src/ops/conv_windows.c): where the window of tap (ky, kx) of channel c starts, in phase
 * plane (c, ky % S, kx % S) shifted by (ky / S, kx / S); planes of `plane` floats, rows of
 * Wp. */
__kernel void window_starts(__global int *table, uint table_offset, int CKK, int K, int S,
                            int plane, int Wp)
{
    int j = get_global_id(0);
    if (j >= CKK)
        return;
    int kx = j % K, ky = (j / K) % K, c = j / (K * K);
    int phase = (ky % S) * S + kx % S;
    table[table_offset + j] = (c * S * S + phase) * plane + (ky / S) * Wp + kx / S;
}

/* out[b][c][y][x] = x[b][c][y - top][x - left] inside, zero around: planes of H x W padded to
 * Hp x Wp, for the convolutions that read shifted windows of them instead of im2col columns.
 * Work-item (y, c, b) writes one padded row. */
__kernel void pad_planes(__global const float *x, uint x_offset, uint x_batch, int C, int H,
                         int W, int top, int left, int Hp, int Wp, __global float *out,
                         uint out_offset)
{
    int y = get_global_id(0);
    int c = get_global_id(1);
    int b = get_global_id(2);
    if (y >= Hp || c >= C)
        return;
    __global float *dst = out + out_offset + (((size_t)b * C + c) * Hp + y) * Wp;
    int iy = y - top;
    if (iy < 0 || iy >= H) {
        for (int i = 0; i < Wp; i++)
            dst[i] = 0.0f;
        return;
    }
    const __global float *src = x + x_offset + (size_t)b * x_batch + ((size_t)c * H + iy) * W;
    int right = min(left + W, Wp);
    for (int i = 0; i < left; i++)
        dst[i] = 0.0f;
    for (int i = left; i < right; i++)
        dst[i] = src[i - left];
    for (int i = right; i < Wp; i++)
        dst[i] = 0.0f;
}

/* out[b][c][py][px][i][j] = x[b][c][S * i + py - P][S * j + px - P], zero outside: the S x S
 * phase planes (Hq x Wq each) of every channel, which a strided convolution reads as shifted
 * windows (src/ops/conv_windows.c). Work-item (i, c * S * S + phase, b) writes one row. */
__kernel void pad_phases(__global const float *x, uint x_offset, uint x_batch, int C, int H,
                         int W, int S, int P, int Hq, int Wq, __global float *out,
                         uint out_offset)
{
    int i = get_global_id(0);
    int cp = get_global_id(1);
    int b = get_global_id(2);
    if (i >= Hq || cp >= C * S * S)
        return;
    int c = cp / (S * S), phase = cp - c * S * S, py = phase / S, px = phase - py * S;
    __global float *dst = out + out_offset + (((size_t)b * C * S * S + cp) * Hq + i) * Wq;
    int iy = S * i + py - P;
    if (iy < 0 || iy >= H) {
        for (int j = 0; j < Wq; j++)
            dst[j] = 0.0f;
        return;
    }
    const __global float *src = x + x_offset + (size_t)b * x_batch + ((size_t)c * H + iy) * W;
    for (int j = 0; j < Wq; j++) {
        int ix = S * j + px - P;
        dst[j] = ix >= 0 && ix < W ? src[ix] : 0.0f;
    }
}

/* out[ci][co][K-1-ky][K-1-kx] = w[co][ci][ky][kx]: the weights of the convolution whose forward
 * pass is the input gradient of a stride-1 convolution. */
__kernel void flip_weights(__global const float *w, uint w_offset, int Cout, int Cin, int K,
                           __global float *out)
{
    /* Work-item (co, ci) moves the K * K taps of one filter, reversed: each reads and writes
     * one contiguous run, neighbouring work-items write neighbouring runs (no per-element
     * divisions, no writes scattered a row apart). */
    int co = get_global_id(0);
    int ci = get_global_id(1);
    if (co >= Cout || ci >= Cin)
        return;
    int kk = K * K;
    const __global float *src = w + w_offset + ((size_t)co * Cin + ci) * kk;
    __global float *dst = out + ((size_t)ci * Cout + co) * kk;
    for (int tap = 0; tap < kk; tap++)
        dst[kk - 1 - tap] = src[tap];
}

/* dx[b][c][iy][ix] (+)= the sum of the column entries that read it. Work-item (iy, c, b) owns
 * one row of dx: for each kernel row ky that reads it and each kx, the column row's entries
 * are read contiguously and added at stride S, so no per-pixel divisibility tests remain. */
__kernel void col2im(__global const float *col, int C, int H, int W, int K, int S, int P,
                     int Ho, int Wo, __global float *dx, uint dx_offset, uint dx_batch,
                     int accumulate)
{
    int iy = get_global_id(0);
    int c = get_global_id(1);
    int b = get_global_id(2);
    if (iy >= H || c >= C)
        return;
    size_t hwo = (size_t)Ho * Wo;
    const __global float *cb = col + ((size_t)b * C * K * K + (size_t)c * K * K) * hwo;
    __global float *out = dx + dx_offset + (size_t)b * dx_batch + ((size_t)c * H + iy) * W;
    if (!accumulate)
        for (int ix = 0; ix < W; ix++)
            out[ix] = 0.0f;
    for (int ky = 0; ky < K; ky++) {
        int ty = iy + P - ky; /* = oy * S for the output row that read this input row */
        if (ty < 0 || ty % S != 0 || ty / S >= Ho)
            continue;
        int oy = ty / S;
        for (int kx = 0; kx < K; kx++) {
            /* ix = ox * S - P + kx in [0, W) for ox in [first, last) */
            int first = P - kx > 0 ? (P - kx + S - 1) / S : 0;
            int last = W - 1 + P - kx >= 0 ? (W - 1 + P - kx) / S + 1 : 0;
            first = min(first, Wo);
            last = clamp(last, first, Wo);
            const __global float *src = cb + (size_t)(ky * K + kx) * hwo + (size_t)oy * Wo;
            __global float *dst = out + first * S - P + kx;
            for (int ox = first; ox < last; ox++)
                dst[(ox - first) * S] += src[ox];
        }
    }
}

/* y[b][c][p] = act(y + bias[c]) in place, rows of `cols` floats `ld` apart. Work-item
 * (p, c, b). */
__kernel void bias_activation(__global float *y, uint y_offset, uint y_batch, int cols, int ld,
                              __global const float *bias, uint bias_offset, int has_bias,
                              int act)
{
    int p = get_global_id(0);
    int c = get_global_id(1);
    int b = get_global_id(2);
    if (p >= cols)
        return;
    __global float *v = y + y_offset + (size_t)b * y_batch + (size_t)c * ld + p;
    float x = *v + (has_bias ? bias[bias_offset + c] : 0.0f);
    *v = activate(x, act);
}

/* dbias[c] (+)= sum over images and pixels of dy[b][c][p]. One work-group per channel, a tree
 * reduction in local memory (deterministic, no atomics). Local size: a power of two. */
__kernel void channel_sum(__global const float *dy, uint dy_offset, uint dy_batch, int N,
                          int HW, __global float *dbias, uint dbias_offset, int accumulate,
                          __local float *partial)
{
    int c = get_group_id(0);
    int lid = get_local_id(0);
    int size = get_local_size(0);
    float sum = 0.0f;
    for (int b = 0; b < N; b++) {
        const __global float *plane = dy + dy_offset + (size_t)b * dy_batch + (size_t)c * HW;
        for (int p = lid; p < HW; p += size)
            sum += plane[p];
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width)
            partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        __global float *out = dbias + dbias_offset + c;
        *out = accumulate ? *out + partial[0] : partial[0];
    }
}

/* out[i] (+)= sum over g < count of parts[g * size + i]: the partial weight gradients of
 * several images added up in a fixed order. */
__kernel void sum_parts(__global const float *parts, uint parts_offset, int count, uint size,
                        __global float *out, uint out_offset, int accumulate)
{
    uint i = get_global_id(0);
    if (i >= size)
        return;
    float sum = 0.0f;
    for (int g = 0; g < count; g++)
        sum += parts[parts_offset + (size_t)g * size + i];
    __global float *o = out + out_offset + i;
    *o = accumulate ? *o + sum : sum;
}

/* out[b][y][x][c] = x[b][c][y - P][x - P] inside, zero around: images of C x H x W as
 * zero-padded Hp x Wp planes with the channels innermost, so that the K * C values a kernel row
 * ky reads for one output pixel (kx, then c) are one contiguous run: the rows of the weight
 * gradient's B operand (src/ops/conv_rows.c). Work-item (c, y, b) reads one input row and
 * writes it C floats apart; neighbouring work-items write neighbouring floats. */
__kernel void pad_channels_last(__global const float *x, uint x_offset, uint x_batch, int C,
                                int H, int W, int P, int Hp, int Wp, __global float *out,
                                uint out_offset)
{
    int c = get_global_id(0);
    int y = get_global_id(1);
    int b = get_global_id(2);
    if (c >= C || y >= Hp)
        return;
    __global float *dst = out + out_offset + (((size_t)b * Hp + y) * Wp) * C + c;
    int iy = y - P;
    if (iy < 0 || iy >= H) {
        for (int i = 0; i < Wp; i++)
            dst[(size_t)i * C] = 0.0f;
        return;
    }
    const __global float *src = x + x_offset + (size_t)b * x_batch + ((size_t)c * H + iy) * W;
    int right = min(P + W, Wp);
    for (int i = 0; i < P; i++)
        dst[(size_t)i * C] = 0.0f;
    for (int i = P; i < right; i++)
        dst[(size_t)i * C] = src[i - P];
    for (int i = right; i < Wp; i++)
        dst[(size_t)i * C] = 0.0f;
}

/* dw[co][c][ky][kx] (+)= g[co][ky][kx][c]: the weight gradient computed with the channels
 * innermost, back in the weights' layout. Work-item (c, co) moves the K * K taps of one
 * channel: neighbouring work-items read neighbouring floats, each writes one contiguous run. */
__kernel void weights_from_channels_last(__global const float *g, uint g_offset, int Cout,
                                         int C, int K, __global float *dw, uint dw_offset,
                                         int accumulate)
{
    int c = get_global_id(0);
    int co = get_global_id(1);
    if (c >= C || co >= Cout)
        return;
    int kk = K * K;
    const __global float *src = g + g_offset + (size_t)co * kk * C + c;
    __global float *dst = dw + dw_offset + ((size_t)co * C + c) * kk;
    for (int tap = 0; tap < kk; tap++) {
        float v = src[(size_t)tap * C];
        dst[tap] = accumulate ? dst[tap] + v : v;
    }
}
