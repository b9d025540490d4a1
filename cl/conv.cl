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
 * Work-item (y, c, b) writes one padded row, sixteen floats at a time where it can (a float at
 * a time, the copy ran at ~3 GB/s on PoCL). */
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
    int right = iy < 0 || iy >= H ? 0 : min(left + W, Wp), start = right > 0 ? left : 0;
    int i = 0;
    for (; i + 16 <= start; i += 16)
        vstore16((float16)(0.0f), 0, dst + i);
    for (; i < start; i++)
        dst[i] = 0.0f;
    if (right > 0) {
        const __global float *src = x + x_offset + (size_t)b * x_batch + ((size_t)c * H + iy) * W;
        for (; i + 16 <= right; i += 16)
            vstore16(vload16(0, src + (i - left)), 0, dst + i);
        for (; i < right; i++)
            dst[i] = src[i - left];
    }
    for (; i + 16 <= Wp; i += 16)
        vstore16((float16)(0.0f), 0, dst + i);
    for (; i < Wp; i++)
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

/* The 16 x 16 block in rows[] transposed in place: four rounds that interleave row i with
 * row i + 8 into rows 2i and 2i + 1 (after the fourth, row j holds column j). */
static void transpose16(float16 rows[16])
{
    const uint16 low = (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const uint16 high = (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
#pragma unroll
    for (int round = 0; round < 4; round++) {
        float16 next[16];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            next[2 * i] = shuffle2(rows[i], rows[i + 8], low);
            next[2 * i + 1] = shuffle2(rows[i], rows[i + 8], high);
        }
#pragma unroll
        for (int i = 0; i < 16; i++)
            rows[i] = next[i];
    }
}

/* rows[j] = the sixteen floats src[i * stride + j], i < 16: a 16 x 16 block read as sixteen
 * vectors along its rows and transposed in registers. */
static void columns_of16(const __global float *src, size_t stride, float16 rows[16])
{
#pragma unroll
    for (int i = 0; i < 16; i++)
        rows[i] = vload16(0, src + (size_t)i * stride);
    transpose16(rows);
}

/* The 3x3 taps of sixteen consecutive channels of one filter (16 runs of nine floats from
 * run) as nine vectors over the channels: rows[t] lane i = run[9 i + t] for t < 9 (a transpose
 * in registers: gathering the lanes one at a time through private memory stalled on every
 * vector and ran at ~0.7 ns a float on PoCL). */
static void taps9_of16(const __global float *run, float16 rows[16])
{
#pragma unroll
    for (int i = 0; i < 16; i++)
        rows[i] = (float16)(vload8(0, run + 9 * i), run[9 * i + 8], (float4)(0.0f),
                            (float2)(0.0f), 0.0f);
    transpose16(rows);
}

/* Where pixel i of the zero border of a padded Hp x Wp plane lies, P rows and columns wide
 * around H x W: the top rows, the bottom rows, then the left and right columns row by row. */
static int2 border_pixel(int i, int H, int W, int P)
{
    int Wp = W + 2 * P, band = P * Wp;
    if (i < band)
        return (int2)(i % Wp, i / Wp);
    if (i < 2 * band)
        return (int2)((i - band) % Wp, P + H + (i - band) / Wp);
    int r = (i - 2 * band) / (2 * P), side = (i - 2 * band) % (2 * P);
    return (int2)(side < P ? side : W + side, P + r);
}

/* out[b][y][x][c] = x[b][c][y - P][x - P] inside, zero around: images of C x H x W as
 * zero-padded (H + 2P) x (W + 2P) planes with the channels innermost, so that the K * C values
 * a kernel row ky reads for one output pixel (kx, then c) are one contiguous run: the rows of
 * the pixel-row GEMMs' operands (src/ops/conv_rows.c). Work-item (i, j, b) moves the 16
 * channels 16 j.. of the 16 pixels 16 i.. of the plane (read as vectors along the pixels,
 * transposed in registers, written as vectors along the channels); the work-items past the
 * plane's blocks write the border's zeros, 16 pixels each. (A work-item per channel row,
 * writing floats C apart, took 5-8% of a training step on PoCL.) */
__kernel void pad_channels_last(__global const float *x, uint x_offset, uint x_batch, int C,
                                int H, int W, int P, __global float *out, uint out_offset)
{
    int block = get_global_id(0);
    int c0 = get_global_id(1) * 16;
    int b = get_global_id(2);
    int plane = H * W, Wp = W + 2 * P, Hp = H + 2 * P;
    int blocks = (plane + 15) / 16, border = Hp * Wp - plane;
    if (c0 >= C || block >= blocks + (border + 15) / 16)
        return;
    int nc = min(16, C - c0);
    __global float *image = out + out_offset + (size_t)b * Hp * Wp * C + c0;
    if (block >= blocks) {
        int first = (block - blocks) * 16;
        for (int i = first; i < min(first + 16, border); i++) {
            int2 at = border_pixel(i, H, W, P);
            __global float *dst = image + ((size_t)at.y * Wp + at.x) * C;
            if (nc == 16) {
                vstore16((float16)(0.0f), 0, dst);
                continue;
            }
            for (int k = 0; k < nc; k++)
                dst[k] = 0.0f;
        }
        return;
    }
    int p0 = block * 16, np = min(16, plane - p0);
    const __global float *src = x + x_offset + (size_t)b * x_batch + (size_t)c0 * plane + p0;
    if (np == 16 && nc == 16) {
        float16 rows[16];
        columns_of16(src, (size_t)plane, rows);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            int y = (p0 + j) / W, xx = p0 + j - y * W;
            vstore16(rows[j], 0, image + ((size_t)(y + P) * Wp + xx + P) * C);
        }
        return;
    }
    for (int j = 0; j < np; j++) {
        int y = (p0 + j) / W, xx = p0 + j - y * W;
        __global float *dst = image + ((size_t)(y + P) * Wp + xx + P) * C;
        for (int k = 0; k < nc; k++)
            dst[k] = src[(size_t)k * plane + j];
    }
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

/* table[p] = where output pixel p's patch row starts in a padded channels-last image Wp wide
 * (src/ops/conv_rows.c): ((p / Wo) * S * Wp + (p % Wo) * S) * C. */
__kernel void pixel_starts(__global int *table, uint offset, int count, int Wo, int S, int Wp,
                           int C)
{
    int p = get_global_id(0);
    if (p >= count)
        return;
    int oy = p / Wo, ox = p - oy * Wo;
    table[offset + p] = (oy * S * Wp + ox * S) * C;
}

/* wt[ky][kx][c][co] = w[co][c][ky][kx]: the weights as rows of taps and input channels, the
 * output channels innermost, for the forward pass by pixel rows (B of the GEMM). With w seen
 * as Cout rows of C * K * K floats, work-item (i, j) moves the 16 x 16 block of rows 16 j..
 * and columns 16 i..: sixteen vector loads along w's rows, a transpose in registers, and a
 * vector store per column into the row of wt its tap and channel name (a work-item per
 * filter and channel, moving single floats, ran at a few GB/s on PoCL). Blocks at the edges
 * move single floats. */
__kernel void weights_by_taps(__global const float *w, uint w_offset, int Cout, int C, int K,
                              __global float *wt, uint wt_offset)
{
    int q0 = get_global_id(0) * 16;
    int co0 = get_global_id(1) * 16;
    int kk = K * K, Q = C * kk;
    if (q0 >= Q || co0 >= Cout)
        return;
    int nq = min(16, Q - q0), nco = min(16, Cout - co0);
    const __global float *src = w + w_offset + (size_t)co0 * Q + q0;
    if (nq == 16 && nco == 16) {
        float16 rows[16];
        columns_of16(src, (size_t)Q, rows);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            int c = (q0 + j) / kk, tap = q0 + j - c * kk;
            vstore16(rows[j], 0, wt + wt_offset + ((size_t)tap * C + c) * Cout + co0);
        }
        return;
    }
    for (int j = 0; j < nq; j++) {
        int c = (q0 + j) / kk, tap = q0 + j - c * kk;
        __global float *dst = wt + wt_offset + ((size_t)tap * C + c) * Cout + co0;
        for (int i = 0; i < nco; i++)
            dst[i] = src[(size_t)i * Q + j];
    }
}

/* The same for the input gradient's convolution (stride 1: the forward's weights flipped and
 * transposed): wt[ky][kx][c][co] = w[c][co][K-1-ky][K-1-kx], where w is the forward's [C][Cout]
 * [K][K] (C its outputs, Cout its inputs). Work-item (i, c) reads the 16 * K * K contiguous
 * floats of w[c][16 i..] and writes each tap's sixteen outputs as one vector. */
__kernel void flipped_weights_by_taps(__global const float *w, uint w_offset, int Cout, int C,
                                      int K, __global float *wt, uint wt_offset)
{
    int co0 = get_global_id(0) * 16;
    int c = get_global_id(1);
    if (co0 >= Cout || c >= C)
        return;
    int kk = K * K, n = min(16, Cout - co0);
    const __global float *src = w + w_offset + ((size_t)c * Cout + co0) * kk;
    if (n == 16 && kk == 9) {
        float16 taps[16];
        taps9_of16(src, taps);
        for (int tap = 0; tap < 9; tap++)
            vstore16(taps[8 - tap], 0, wt + wt_offset + ((size_t)tap * C + c) * Cout + co0);
        return;
    }
    for (int tap = 0; tap < kk; tap++) {
        float v[16];
        for (int i = 0; i < 16; i++)
            v[i] = i < n ? src[i * kk + kk - 1 - tap] : 0.0f;
        __global float *dst = wt + wt_offset + ((size_t)tap * C + c) * Cout + co0;
        if (n == 16) {
            vstore16(vload16(0, v), 0, dst);
            continue;
        }
        for (int i = 0; i < n; i++)
            dst[i] = v[i];
    }
}

/* The weights of a strided convolution's input gradient by phases (src/ops/conv_phases.c):
 * phase p along an axis takes the taps t0 = (p + P) mod S, t0 + S, ... below K, in window
 * order from the last down; phase (py, px) gets a block [ry][rx][co][c] = w[co][c][ky][kx], the
 * blocks one after another in (py, px) order. Work-item (i, co) reads the K * K taps of the 16
 * input channels 16 i.. of filter co (one run) and writes each tap's sixteen as one vector;
 * it walks the phases and their taps in order, so no tap's place is divided out. */
__kernel void phase_weights(__global const float *w, uint w_offset, int Cout, int C, int K,
                            int S, int P, __global float *wt, uint wt_offset)
{
    int c0 = get_global_id(0) * 16;
    int co = get_global_id(1);
    if (c0 >= C || co >= Cout)
        return;
    int kk = K * K, n = min(16, C - c0);
    const __global float *src = w + w_offset + ((size_t)co * C + c0) * kk;
    __global float *block = wt + wt_offset + (size_t)co * C + c0;
    float16 taps[16];
    bool nine = n == 16 && kk == 9;
    if (nine)
        taps9_of16(src, taps);
    for (int py = 0; py < S; py++) {
        int y0 = (py + P) % S, ty = (K - y0 + S - 1) / S;
        for (int px = 0; px < S; px++) {
            int x0 = (px + P) % S, tx = (K - x0 + S - 1) / S;
            for (int ry = 0; ry < ty; ry++)
                for (int rx = 0; rx < tx; rx++) {
                    int tap = (y0 + S * (ty - 1 - ry)) * K + x0 + S * (tx - 1 - rx);
                    __global float *dst = block + (size_t)(ry * tx + rx) * Cout * C;
                    if (nine) {
                        vstore16(taps[tap], 0, dst);
                        continue;
                    }
                    float v[16];
                    for (int i = 0; i < 16; i++)
                        v[i] = i < n ? src[i * kk + tap] : 0.0f;
                    if (n == 16) {
                        vstore16(vload16(0, v), 0, dst);
                        continue;
                    }
                    for (int i = 0; i < n; i++)
                        dst[i] = v[i];
                }
            block += (size_t)ty * tx * Cout * C;
        }
    }
}
