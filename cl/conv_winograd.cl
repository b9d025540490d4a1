/* Winograd F(4x4, 3x3) for stride-1 3x3 convolutions (src/ops/conv_winograd.c): each 4x4
 * block of outputs is A^T [(G g G^T) . (B^T d B)] A for the 6x6 input tile d around it, so the
 * 36 products per channel pair and tile become 36 GEMMs (one per tile point xi) over the
 * channels: 4 times fewer multiplications than the direct sum. With the points 0, 1, -1, 2, -2
 * and infinity (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Layouts: U[xi][co][ci] (transformed weights), V[xi][ci][t] (transformed input tiles),
 * M[xi][co][t] (their products), t = (image * TH + ty) * TW + tx over the tiles of a pass of
 * images, TH x TW tiles of 4x4 per output plane.
 *
 * Every transform works on LANES neighbours at once, one per lane of a vector (PoCL does not
 * vectorise these kernels across work-items, so the vectors are written out): the input and
 * output transforms a strip of LANES tiles of a tile row, the weight transform LANES input
 * channels. The input transform reads the images in place: a strip's rows load as whole
 * vectors whose swizzles are the lanes' columns, and the columns outside the image (the
 * padding, and the lanes past a tile row's last tile, which are not stored) are masked to
 * zero; each tile point is one vector store (or load) of LANES consecutive t; an output row
 * of four tiles stores as one float16. The weight gradient's transforms are at the end of the
 * file.
 * Build option: -DLANES=4, 8 or 16. */

#ifndef LANES
#define LANES 8
#endif
#if LANES == 4
#define floatL float4
#define vloadL vload4
#define vstoreL vstore4
#elif LANES == 8
#define floatL float8
#define vloadL vload8
#define vstoreL vstore8
#elif LANES == 16
#define floatL float16
#define vloadL vload16
#define vstoreL vstore16
#else
#error LANES must be 4, 8 or 16
#endif

/* The 1-D input transform B^T d of six values, lane by lane. */
static void input_1d(const floatL d[6], floatL r[6])
{
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    r[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
    r[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
    r[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
    r[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* The 1-D output transform A^T m of six values. */
static void output_1d(const floatL m[6], floatL o[4])
{
    floatL sum12 = m[1] + m[2], diff12 = m[1] - m[2];
    floatL sum34 = m[3] + m[4], diff34 = m[3] - m[4];
    o[0] = m[0] + sum12 + sum34;
    o[1] = diff12 + 2.0f * diff34;
    o[2] = sum12 + 4.0f * sum34;
    o[3] = diff12 + 8.0f * diff34 + m[5];
}

/* d[j] = the floats 4k + j from row, k the lane. */
static void strip_row(const __global float *row, floatL d[6])
{
#if LANES == 4
    float16 a0 = vload16(0, row);
    float2 e = vload2(0, row + 16);
    d[0] = a0.s048c;
    d[1] = a0.s159d;
    d[2] = a0.s26ae;
    d[3] = a0.s37bf;
    d[4] = (float4)(a0.s48c, e.s0);
    d[5] = (float4)(a0.s59d, e.s1);
#elif LANES == 8
    float16 a0 = vload16(0, row), a1 = vload16(1, row);
    float2 e = vload2(0, row + 32);
    d[0] = (float8)(a0.s048c, a1.s048c);
    d[1] = (float8)(a0.s159d, a1.s159d);
    d[2] = (float8)(a0.s26ae, a1.s26ae);
    d[3] = (float8)(a0.s37bf, a1.s37bf);
    d[4] = (float8)(a0.s48c, a1.s048c, e.s0);
    d[5] = (float8)(a0.s59d, a1.s159d, e.s1);
#else
    float16 a0 = vload16(0, row), a1 = vload16(1, row), a2 = vload16(2, row),
            a3 = vload16(3, row);
    float2 e = vload2(0, row + 64);
    d[0] = (float16)(a0.s048c, a1.s048c, a2.s048c, a3.s048c);
    d[1] = (float16)(a0.s159d, a1.s159d, a2.s159d, a3.s159d);
    d[2] = (float16)(a0.s26ae, a1.s26ae, a2.s26ae, a3.s26ae);
    d[3] = (float16)(a0.s37bf, a1.s37bf, a2.s37bf, a3.s37bf);
    d[4] = (float16)(a0.s48c, a1.s048c, a2.s048c, a3.s048c, e.s0);
    d[5] = (float16)(a0.s59d, a1.s159d, a2.s159d, a3.s159d, e.s1);
#endif
}

/* Lanes 4q .. 4q + 3 of v. */
static float4 quarter(floatL v, int q)
{
#if LANES == 4
    return v;
#elif LANES == 8
    return q == 0 ? v.lo : v.hi;
#else
    return q == 0 ? v.lo.lo : q == 1 ? v.lo.hi : q == 2 ? v.hi.lo : v.hi.hi;
#endif
}

/* Stores the first `lanes` lanes of v at out (all of them as one vector store when whole). */
static void store_lanes(__global float *out, floatL v, int lanes)
{
    if (lanes == LANES) {
        vstoreL(v, 0, out);
        return;
    }
    float lane[LANES];
    vstoreL(v, 0, lane);
    for (int k = 0; k < lanes; k++)
        out[k] = lane[k];
}

/* The first `lanes` floats at in, zero after them. */
static floatL load_lanes(const __global float *in, int lanes)
{
    if (lanes == LANES)
        return vloadL(0, in);
    float lane[LANES];
    for (int k = 0; k < LANES; k++)
        lane[k] = k < lanes ? in[k] : 0.0f;
    return vloadL(0, lane);
}

/* t[i][j] = (B^T d)[i][j]: the transform down the columns of the tile. */
static void input_columns(floatL d[6][6], floatL t[6][6])
{
#pragma unroll
    for (int j = 0; j < 6; j++) {
        floatL col[6], r[6];
#pragma unroll
        for (int i = 0; i < 6; i++)
            col[i] = d[i][j];
        input_1d(col, r);
#pragma unroll
        for (int i = 0; i < 6; i++)
            t[i][j] = r[i];
    }
}

/* The transform along the rows of t (B^T d B), point xi = 6 i + j stored as the first
 * `lanes` lanes at out + xi * plane. */
static void store_input_points(floatL t[6][6], __global float *out, size_t plane, int lanes)
{
#pragma unroll
    for (int i = 0; i < 6; i++) {
        floatL r[6];
        input_1d(t[i], r);
#pragma unroll
        for (int j = 0; j < 6; j++)
            store_lanes(out + (size_t)(6 * i + j) * plane, r[j], lanes);
    }
}

#if LANES == 4
#define intL int4
#define LANE_INDEX ((int4)(0, 1, 2, 3))
#elif LANES == 8
#define intL int8
#define LANE_INDEX ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#else
#define intL int16
#define LANE_INDEX ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#endif

/* d[j] = columns c0 + 4k + j (lane k) of the image row of W floats at index `row` of x:
 * loaded as whole vectors where every float they reach lies in the buffer (indices row + c0
 * .. row + c0 + 4 LANES + 1 within [0, size)), the columns outside the row left for the caller
 * to mask; else lane by lane, only the row's own columns read (what keeps these loads in the
 * buffer; the caller's mask, which such strips always get, zeros the rest again). */
static void image_strip_row(const __global float *x, long row, int c0, int W, uint size,
                            floatL d[6])
{
    long first = row + c0;
    if (first >= 0 && first + 4 * LANES + 2 <= (long)size) {
        strip_row(x + first, d);
        return;
    }
#pragma unroll
    for (int j = 0; j < 6; j++) {
        float lane[LANES];
        for (int k = 0; k < LANES; k++) {
            int column = c0 + 4 * k + j;
            lane[k] = column >= 0 && column < W ? x[row + column] : 0.0f;
        }
        d[j] = vloadL(0, lane);
    }
}

/* Zeros the lanes of t's columns j that lie outside the image row (columns c0 + 4k + j, k the
 * lane): the column transform mixes rows only, so it may come before the mask. */
static void mask_columns(floatL t[6][6], int c0, int W)
{
#pragma unroll
    for (int j = 0; j < 6; j++) {
        intL column = (intL)(c0 + j) + 4 * LANE_INDEX;
        intL inside = column >= 0 && column < W;
#pragma unroll
        for (int i = 0; i < 6; i++)
            t[i][j] = select((floatL)(0.0f), t[i][j], inside);
    }
}

/* V[xi][c][t] = (B^T d B)[xi] for the tiles of strip (ty, sx) of channel c: tile tx reads
 * image rows 4 ty - P .., columns 4 tx - P .. of x's planes (H x W, zero outside), so no
 * padded copy is made. size: the floats in x's buffer (the loads never leave it). Work-item
 * (ty * SW + sx, c, image), SW strips per tile row. */
__kernel void winograd_input(__global const float *x, uint x_offset, uint x_batch, uint size,
                             int C, int H, int W, int P, int TH, int TW, __global float *v,
                             uint v_offset, uint tiles)
{
    int sw = (TW + LANES - 1) / LANES;
    int id = get_global_id(0);
    int c = get_global_id(1);
    int b = get_global_id(2);
    if (id >= TH * sw || c >= C)
        return;
    int ty = id / sw, tx = LANES * (id - ty * sw);
    long plane = (long)x_offset + (long)b * x_batch + (long)c * H * W;
    int c0 = 4 * tx - P;
    floatL d[6][6], t[6][6];
#pragma unroll
    for (int i = 0; i < 6; i++) {
        int r = 4 * ty + i - P;
        if (r < 0 || r >= H) {
#pragma unroll
            for (int j = 0; j < 6; j++)
                d[i][j] = (floatL)(0.0f);
            continue;
        }
        image_strip_row(x, plane + (long)r * W, c0, W, size, d[i]);
    }
    input_columns(d, t);
    if (c0 < 0 || c0 + 4 * LANES + 2 > W)
        mask_columns(t, c0, W);
    __global float *out = v + v_offset + (size_t)c * tiles + ((size_t)b * TH + ty) * TW + tx;
    store_input_points(t, out, (size_t)C * tiles, min(LANES, TW - tx));
}

/* d[i][j], lane l: row i, column j of a 6x6 tile of plane l (planes `plane` floats apart;
 * lanes past `lanes` repeat plane 0) starting at `at`, wholly inside the image. */
static void tile_inside(const __global float *at, size_t plane, int W, int lanes, floatL d[6][6])
{
#pragma unroll
    for (int i = 0; i < 6; i++) {
        float patch[6][LANES];
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            const __global float *row = at + (l < lanes ? l : 0) * plane + (size_t)i * W;
            float4 head = vload4(0, row);
            float2 tail = vload2(0, row + 4);
            patch[0][l] = head.x;
            patch[1][l] = head.y;
            patch[2][l] = head.z;
            patch[3][l] = head.w;
            patch[4][l] = tail.x;
            patch[5][l] = tail.y;
        }
#pragma unroll
        for (int j = 0; j < 6; j++)
            d[i][j] = vloadL(0, patch[j]);
    }
}

/* The same for a tile at rows r0.., columns c0.. that crosses the image's edge: zero
 * outside it. */
static void tile_at_edge(const __global float *image, size_t plane, int H, int W, int r0, int c0,
                         int lanes, floatL d[6][6])
{
#pragma unroll
    for (int i = 0; i < 6; i++) {
        /* loads from the nearest pixel inside, then zero where it was not the one asked for:
         * no branches, so the loops unroll into straight code */
        int r = clamp(r0 + i, 0, H - 1);
        float patch[6][LANES];
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            const __global float *row = image + (l < lanes ? l : 0) * plane + (size_t)r * W;
#pragma unroll
            for (int j = 0; j < 6; j++) {
                int column = clamp(c0 + j, 0, W - 1);
                float value = row[column];
                patch[j][l] = r == r0 + i && column == c0 + j ? value : 0.0f;
            }
        }
#pragma unroll
        for (int j = 0; j < 6; j++)
            d[i][j] = vloadL(0, patch[j]);
    }
}

/* The same transform stored transposed, V[xi][t][c] (the weight gradient's layout): a
 * work-item takes one tile of LANES neighbouring channels, one per lane, so that each tile
 * point is one vector store of LANES consecutive c. The tile reads image rows 4 ty - P ..,
 * columns 4 tx - P .. of x's planes in place (H x W, zero outside). Work-item (c / LANES,
 * ty * TW + tx, image). */
__kernel void winograd_input_transposed(__global const float *x, uint x_offset, uint x_batch,
                                        int C, int H, int W, int P, int TH, int TW,
                                        __global float *v, uint v_offset, uint tiles)
{
    int c = LANES * get_global_id(0);
    int tile = get_global_id(1);
    int b = get_global_id(2);
    if (c >= C || tile >= TH * TW)
        return;
    int ty = tile / TW, tx = tile - ty * TW;
    int lanes = min(LANES, C - c);
    size_t plane = (size_t)H * W;
    const __global float *image = x + x_offset + (size_t)b * x_batch + (size_t)c * plane;
    int r0 = 4 * ty - P, c0 = 4 * tx - P;
    floatL d[6][6], t[6][6];
    if (r0 >= 0 && r0 + 6 <= H && c0 >= 0 && c0 + 6 <= W)
        tile_inside(image + (size_t)r0 * W + c0, plane, W, lanes, d);
    else
        tile_at_edge(image, plane, H, W, r0, c0, lanes, d);
    input_columns(d, t);
    __global float *out = v + v_offset + ((size_t)b * TH * TW + tile) * C + c;
    store_input_points(t, out, (size_t)C * tiles, lanes);
}

/* U[xi][co][ci] = (G g G^T)[xi] for the 3x3 kernels g = w[co][ci] of LANES neighbouring ci.
 * Work-item (ci / LANES, co). */
__kernel void winograd_weights(__global const float *w, uint w_offset, int Cout, int C,
                               __global float *u, uint u_offset)
{
    int ci = LANES * get_global_id(0);
    int co = get_global_id(1);
    if (ci >= C || co >= Cout)
        return;
    int lanes = min(LANES, C - ci);
    const __global float *g = w + w_offset + ((size_t)co * C + ci) * 9;
    floatL tap[9]; /* tap[k], lane l: tap k of channel ci + l */
    for (int k = 0; k < 9; k++) {
        float lane[LANES];
        for (int l = 0; l < LANES; l++)
            lane[l] = l < lanes ? g[9 * l + k] : 0.0f;
        tap[k] = vloadL(0, lane);
    }
    const float sixth = 1.0f / 6.0f, twelfth = 1.0f / 12.0f, twentyfourth = 1.0f / 24.0f;
    floatL r[6][3]; /* G g */
#pragma unroll
    for (int j = 0; j < 3; j++) {
        floatL g0 = tap[j], g1 = tap[3 + j], g2 = tap[6 + j];
        r[0][j] = 0.25f * g0;
        r[1][j] = -sixth * (g0 + g1 + g2);
        r[2][j] = -sixth * (g0 - g1 + g2);
        r[3][j] = twentyfourth * g0 + twelfth * g1 + sixth * g2;
        r[4][j] = twentyfourth * g0 - twelfth * g1 + sixth * g2;
        r[5][j] = g2;
    }
    size_t plane = (size_t)Cout * C;
    __global float *out = u + u_offset + (size_t)co * C + ci;
#pragma unroll
    for (int i = 0; i < 6; i++) {
        floatL g0 = r[i][0], g1 = r[i][1], g2 = r[i][2];
        floatL row[6] = {0.25f * g0,
                         -sixth * (g0 + g1 + g2),
                         -sixth * (g0 - g1 + g2),
                         twentyfourth * g0 + twelfth * g1 + sixth * g2,
                         twentyfourth * g0 - twelfth * g1 + sixth * g2,
                         g2};
#pragma unroll
        for (int j = 0; j < 6; j++)
            store_lanes(out + (size_t)(6 * i + j) * plane, row[j], lanes);
    }
}

/* The sixteen columns of an output row held by four tiles: p_s holds column s of each. */
static float16 interleave4(float4 p0, float4 p1, float4 p2, float4 p3)
{
    return (float16)(p0.x, p1.x, p2.x, p3.x, p0.y, p1.y, p2.y, p3.y, p0.z, p1.z, p2.z, p3.z,
                     p0.w, p1.w, p2.w, p3.w);
}

/* dst[0..16) (those of them before column `width - x0`) = act(row + beta * dst). */
static void store_row16(__global float *dst, float16 row, int room, float beta, int act)
{
    bool whole = room >= 16;
    if (beta != 0.0f) {
        if (whole) {
            row += beta * vload16(0, dst);
        } else {
            float old[16];
            for (int s = 0; s < 16; s++)
                old[s] = s < room ? dst[s] : 0.0f;
            row += beta * vload16(0, old);
        }
    }
    if (act == ACT_SILU)
        row = row / (1.0f + exp(-row));
    if (whole) {
        vstore16(row, 0, dst);
        return;
    }
    float v[16];
    vstore16(row, 0, v);
    for (int s = 0; s < room; s++)
        dst[s] = v[s];
}

/* y[b][co][4 ty + r][4 tx + s] = act((A^T M A)[r][s] + bias[co] + beta * y) for the outputs
 * inside Ho x Wo of strip (ty, sx). Each point loads as one whole vector: the lanes past a tile
 * row's last tile read on into the next row (or the LANES floats of slack after M), and their
 * outputs, past Wo, are not stored. Work-item (ty * SW + sx, co, image). */
__kernel void winograd_output(__global const float *m, uint m_offset, uint tiles, int Cout,
                              int Ho, int Wo, int TH, int TW, __global float *y, uint y_offset,
                              uint y_batch, float beta, __global const float *bias,
                              uint bias_offset, int has_bias, int act)
{
    int sw = (TW + LANES - 1) / LANES;
    int id = get_global_id(0);
    int co = get_global_id(1);
    int b = get_global_id(2);
    if (id >= TH * sw || co >= Cout)
        return;
    int ty = id / sw, tx = LANES * (id - ty * sw);
    int lanes = min(LANES, TW - tx);
    size_t plane = (size_t)Cout * tiles;
    const __global float *in =
        m + m_offset + (size_t)co * tiles + ((size_t)b * TH + ty) * TW + tx;
    floatL t[4][6]; /* t[r][j]: (A^T M)[r] at column j */
#pragma unroll
    for (int j = 0; j < 6; j++) {
        floatL col[6], o[4];
#pragma unroll
        for (int i = 0; i < 6; i++)
            col[i] = vloadL(0, in + (size_t)(6 * i + j) * plane);
        output_1d(col, o);
#pragma unroll
        for (int r = 0; r < 4; r++)
            t[r][j] = o[r];
    }
    float bias_c = has_bias ? bias[bias_offset + co] : 0.0f;
    int x0 = 4 * tx;
    __global float *out = y + y_offset + (size_t)b * y_batch + (size_t)co * Ho * Wo + x0;
    for (int r = 0; r < 4 && 4 * ty + r < Ho; r++) {
        floatL o[4];
        output_1d(t[r], o);
        __global float *dst = out + (size_t)(4 * ty + r) * Wo;
        for (int q = 0; q < LANES / 4 && x0 + 16 * q < Wo; q++) {
            float16 row = interleave4(quarter(o[0], q), quarter(o[1], q), quarter(o[2], q),
                                      quarter(o[3], q)) +
                          bias_c;
            store_row16(dst + 16 * q, row, Wo - x0 - 16 * q, beta, act);
        }
    }
}

/* ---- the weight gradient -------------------------------------------------------------------
 * With Y = A^T [U . V] A per tile, dL/dU[xi][co][ci] = sum over tiles of dM[xi][co][t]
 * V[xi][ci][t], dM = A dY A^T for the tile's 4x4 output gradient dY; then dL/dg = G^T dU G. */

/* The 1-D transform A y of four values into six. */
static void output_grad_1d(const floatL y[4], floatL m[6])
{
    floatL even = y[0] + y[2], odd = y[1] + y[3];
    floatL even4 = y[0] + 4.0f * y[2], odd4 = 2.0f * y[1] + 8.0f * y[3];
    m[0] = y[0];
    m[1] = even + odd;
    m[2] = even - odd;
    m[3] = even4 + odd4;
    m[4] = even4 - odd4;
    m[5] = y[3];
}

/* dM[xi][co][t] = (A dY A^T)[xi] for the tiles of strip (ty, sx) of output channel co, dY
 * read from a copy of the output gradient zero-padded at the bottom and right to Hq x Wq
 * (Hq = 4 TH, Wq >= 4 TW). Work-item (ty * SW + sx, co, image). */
__kernel void winograd_output_grad(__global const float *dy, uint dy_offset, int Cout, int Hq,
                                   int Wq, int TH, int TW, __global float *m, uint m_offset,
                                   uint tiles)
{
    int sw = (TW + LANES - 1) / LANES;
    int id = get_global_id(0);
    int co = get_global_id(1);
    int b = get_global_id(2);
    if (id >= TH * sw || co >= Cout)
        return;
    int ty = id / sw, tx = LANES * (id - ty * sw);
    const __global float *in =
        dy + dy_offset + (((size_t)b * Cout + co) * Hq + 4 * ty) * Wq + 4 * tx;
    floatL t[6][4]; /* t[i][c]: (A dY)[i] at column c */
    {
        floatL rows[4][6];
#pragma unroll
        for (int r = 0; r < 4; r++)
            strip_row(in + (size_t)r * Wq, rows[r]); /* columns 4k + c for c < 4 used */
#pragma unroll
        for (int c = 0; c < 4; c++) {
            floatL col[4], o[6];
#pragma unroll
            for (int r = 0; r < 4; r++)
                col[r] = rows[r][c];
            output_grad_1d(col, o);
#pragma unroll
            for (int i = 0; i < 6; i++)
                t[i][c] = o[i];
        }
    }
    int lanes = min(LANES, TW - tx);
    size_t plane = (size_t)Cout * tiles;
    __global float *out = m + m_offset + (size_t)co * tiles + ((size_t)b * TH + ty) * TW + tx;
#pragma unroll
    for (int i = 0; i < 6; i++) {
        floatL o[6];
        output_grad_1d(t[i], o);
#pragma unroll
        for (int j = 0; j < 6; j++)
            store_lanes(out + (size_t)(6 * i + j) * plane, o[j], lanes);
    }
}

/* The 1-D transform G^T u of six values into three. */
static void weights_grad_1d(const floatL u[6], floatL g[3])
{
    const float sixth = 1.0f / 6.0f, twelfth = 1.0f / 12.0f, twentyfourth = 1.0f / 24.0f;
    floatL sum12 = u[1] + u[2], sum34 = u[3] + u[4];
    g[0] = 0.25f * u[0] - sixth * sum12 + twentyfourth * sum34;
    g[1] = sixth * (u[2] - u[1]) + twelfth * (u[3] - u[4]);
    g[2] = sixth * (sum34 - sum12) + u[5];
}

/* dw[co][ci] (+)= G^T dU[co][ci] G for LANES neighbouring ci, dU[xi][co][ci] the GEMM's sums.
 * Work-item (ci / LANES, co). */
__kernel void winograd_weights_grad(__global const float *du, uint du_offset, int Cout, int C,
                                    __global float *dw, uint dw_offset, int accumulate)
{
    int ci = LANES * get_global_id(0);
    int co = get_global_id(1);
    if (ci >= C || co >= Cout)
        return;
    int lanes = min(LANES, C - ci);
    size_t plane = (size_t)Cout * C;
    const __global float *in = du + du_offset + (size_t)co * C + ci;
    floatL r[6][3]; /* r[i][b]: (dU G)[i][b] */
#pragma unroll
    for (int i = 0; i < 6; i++) {
        floatL u[6];
#pragma unroll
        for (int j = 0; j < 6; j++)
            u[j] = load_lanes(in + (size_t)(6 * i + j) * plane, lanes);
        weights_grad_1d(u, r[i]);
    }
    float taps[9][LANES];
#pragma unroll
    for (int b = 0; b < 3; b++) {
        floatL col[6], g[3];
#pragma unroll
        for (int i = 0; i < 6; i++)
            col[i] = r[i][b];
        weights_grad_1d(col, g);
#pragma unroll
        for (int a = 0; a < 3; a++)
            vstoreL(g[a], 0, taps[3 * a + b]);
    }
    __global float *out = dw + dw_offset + ((size_t)co * C + ci) * 9;
    for (int l = 0; l < lanes; l++)
        for (int k = 0; k < 9; k++)
            out[9 * l + k] = taps[k][l] + (accumulate ? out[9 * l + k] : 0.0f);
}
