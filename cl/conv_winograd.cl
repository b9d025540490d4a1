/* Winograd F(4x4, 3x3) and F(5x5, 3x3) for stride-1 3x3 convolutions
 * (src/ops/conv_winograd.c): each TILE x TILE block of outputs is A^T [(G g G^T) . (B^T d B)] A
 * for the SPAN x SPAN input tile d around it (SPAN = TILE + 2), so the SPAN^2 products per
 * channel pair and tile become SPAN^2 GEMMs (one per tile point xi) over the channels: 4
 * (TILE 4) or 4.6 (TILE 5) times fewer multiplications than the direct sum. F(4x4, 3x3) with
 * the points 0, 1, -1, 2, -2 and infinity (Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2016):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * F(5x5, 3x3), the tile that divides the planes of YOLO at every image size a multiple of 160
 * (5, 10, 20, 40, 80 ...: F(4x4) computes 8x8 for a 5x5 plane, 12x12 for 10x10), with the
 * points 0, 1, -1, 1/2, -1/2, -3 and infinity, the set of 0, +-1, +-2, +-1/2, +-3, +-1/4,
 * +-3/2 with the least float32 error on random convolutions (NMSE twice F(4x4)'s); B^T from
 * the Toom-Cook construction, exact in binary:
 *   B^T = [3/4 1/4 -15/4 -5/4 3 1 0; 0 -3/4 -1 11/4 4 1 0; 0 3/4 -1/2 -13/4 2 1 0;
 *          0 -3/2 -7/2 1/2 7/2 1 0; 0 3/2 -5/2 -5/2 5/2 1 0; 0 1/4 0 -5/4 0 1 0;
 *          0 3/4 1/4 -15/4 -5/4 3 1]
 *   G   = [4/3 0 0; 1/6 1/6 1/6; 1/3 -1/3 1/3; -16/21 -8/21 -4/21; -16/15 8/15 -4/15;
 *          -1/210 1/70 -3/70; 0 0 1]
 *   A^T = [1 1 1 1 1 1 0; 0 1 -1 1/2 -1/2 -3 0; 0 1 1 1/4 1/4 9 0; 0 1 -1 1/8 -1/8 -27 0;
 *          0 1 1 1/16 1/16 81 1]
 * Layouts: U[xi][co][ci] (transformed weights; U[xi][ci][co] where the products take the
 * tiles as rows), V[xi][ci][t] (transformed input tiles), M[xi][co][t] (their products),
 * t = (image * TH + ty) * TW + tx over the tiles of a pass of images, TH x TW tiles of
 * TILE x TILE per output plane.
 *
 * Every transform works on LANES neighbours at once, one per lane of a vector (PoCL does not
 * vectorise these kernels across work-items, so the vectors are written out): the input and
 * output transforms a strip of LANES tiles of a tile row (or, where a tile row is shorter
 * than a strip, LANES consecutive tiles of the pass, across rows and images: the _linear
 * kernels), the weight transform LANES input channels (the host builds it with 16). The input
 * transform reads the images in place: a strip's rows load as whole vectors whose swizzles
 * are the lanes' columns, and the columns outside the image (the padding, and the lanes past
 * a tile row's last tile, which are not stored) are masked to zero; each tile point is one
 * vector store (or load) of LANES consecutive t; an output row of four tiles stores as one
 * float16. The weight gradient's transforms (F(4x4, 3x3) alone) are at the end of the file.
 * Build options: -DLANES=4, 8 or 16; -DTILE=4 or 5. */

#ifndef TILE
#define TILE 4
#endif
#if TILE != 4 && TILE != 5
#error TILE must be 4 or 5
#endif
#define SPAN (TILE + 2) /* a tile's input rows and columns */

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

/* The 1-D input transform B^T d of SPAN values, lane by lane. */
static void input_1d(const floatL d[SPAN], floatL r[SPAN])
{
#if TILE == 4
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    r[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
    r[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
    r[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
    r[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
#else
    r[0] = 0.75f * d[0] + 0.25f * d[1] - 3.75f * d[2] - 1.25f * d[3] + 3.0f * d[4] + d[5];
    r[1] = -0.75f * d[1] - d[2] + 2.75f * d[3] + 4.0f * d[4] + d[5];
    r[2] = 0.75f * d[1] - 0.5f * d[2] - 3.25f * d[3] + 2.0f * d[4] + d[5];
    r[3] = -1.5f * d[1] - 3.5f * d[2] + 0.5f * d[3] + 3.5f * d[4] + d[5];
    r[4] = 1.5f * d[1] - 2.5f * d[2] - 2.5f * d[3] + 2.5f * d[4] + d[5];
    r[5] = 0.25f * d[1] - 1.25f * d[3] + d[5];
    r[6] = 0.75f * d[1] + 0.25f * d[2] - 3.75f * d[3] - 1.25f * d[4] + 3.0f * d[5] + d[6];
#endif
}

/* The 1-D output transform A^T m of SPAN values into TILE. */
static void output_1d(const floatL m[SPAN], floatL o[TILE])
{
    floatL sum12 = m[1] + m[2], diff12 = m[1] - m[2];
    floatL sum34 = m[3] + m[4], diff34 = m[3] - m[4];
#if TILE == 4
    o[0] = m[0] + sum12 + sum34;
    o[1] = diff12 + 2.0f * diff34;
    o[2] = sum12 + 4.0f * sum34;
    o[3] = diff12 + 8.0f * diff34 + m[5];
#else
    o[0] = m[0] + sum12 + sum34 + m[5];
    o[1] = diff12 + 0.5f * diff34 - 3.0f * m[5];
    o[2] = sum12 + 0.25f * sum34 + 9.0f * m[5];
    o[3] = diff12 + 0.125f * diff34 - 27.0f * m[5];
    o[4] = sum12 + 0.0625f * sum34 + 81.0f * m[5] + m[6];
#endif
}

/* The 1-D weight transform G g of the three taps g0, g1, g2 into SPAN values. */
static void weights_1d(floatL g0, floatL g1, floatL g2, floatL r[SPAN])
{
#if TILE == 4
    const float sixth = 1.0f / 6.0f, twelfth = 1.0f / 12.0f, twentyfourth = 1.0f / 24.0f;
    r[0] = 0.25f * g0;
    r[1] = -sixth * (g0 + g1 + g2);
    r[2] = -sixth * (g0 - g1 + g2);
    r[3] = twentyfourth * g0 + twelfth * g1 + sixth * g2;
    r[4] = twentyfourth * g0 - twelfth * g1 + sixth * g2;
    r[5] = g2;
#else
    floatL outer = g0 + g2;
    r[0] = (4.0f / 3.0f) * g0;
    r[1] = (1.0f / 6.0f) * (outer + g1);
    r[2] = (1.0f / 3.0f) * (outer - g1);
    r[3] = (-16.0f / 21.0f) * g0 - (8.0f / 21.0f) * g1 - (4.0f / 21.0f) * g2;
    r[4] = (-16.0f / 15.0f) * g0 + (8.0f / 15.0f) * g1 - (4.0f / 15.0f) * g2;
    r[5] = (-1.0f / 210.0f) * g0 + (1.0f / 70.0f) * g1 - (3.0f / 70.0f) * g2;
    r[6] = g2;
#endif
}

/* d[j] = the floats TILE k + j from row, k the lane, j < SPAN. */
static void strip_row(const __global float *row, floatL d[SPAN])
{
#if TILE == 5
    /* the TILE LANES + 2 floats as whole vectors, each lane's seven picked out of them (the
     * indices are constants, so the array lives in registers) */
    float a[TILE * LANES + 2];
#pragma unroll
    for (int k = 0; k < TILE * LANES / 4; k++)
        vstore4(vload4(k, row), k, a);
    vstore2(vload2(0, row + TILE * LANES), 0, a + TILE * LANES);
#pragma unroll
    for (int j = 0; j < SPAN; j++) {
        float lane[LANES];
#pragma unroll
        for (int k = 0; k < LANES; k++)
            lane[k] = a[TILE * k + j];
        d[j] = vloadL(0, lane);
    }
#elif LANES == 4
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

#if TILE == 4
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
#endif

/* Stores the first `count` (< 16) of the floats at `lane` at dst as at most four stores, by
 * the bits of count (a loop of single stores cost more than the transforms themselves where
 * tile rows and output rows end mid-vector). */
static void store_first(__global float *dst, const float lane[16], int count)
{
    int k = 0;
    if (count & 8) {
        vstore8(vload8(0, lane), 0, dst);
        k = 8;
    }
    if (count & 4) {
        vstore4(vload4(0, lane + k), 0, dst + k);
        k += 4;
    }
    if (count & 2) {
        vstore2(vload2(0, lane + k), 0, dst + k);
        k += 2;
    }
    if (count & 1)
        dst[k] = lane[k];
}

/* Stores the first `lanes` lanes of v at out (all of them as one vector store when whole). */
static void store_lanes(__global float *out, floatL v, int lanes)
{
    if (lanes == LANES) {
        vstoreL(v, 0, out);
        return;
    }
    float lane[16];
    vstoreL(v, 0, lane);
    store_first(out, lane, lanes);
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
static void input_columns(floatL d[SPAN][SPAN], floatL t[SPAN][SPAN])
{
#pragma unroll
    for (int j = 0; j < SPAN; j++) {
        floatL col[SPAN], r[SPAN];
#pragma unroll
        for (int i = 0; i < SPAN; i++)
            col[i] = d[i][j];
        input_1d(col, r);
#pragma unroll
        for (int i = 0; i < SPAN; i++)
            t[i][j] = r[i];
    }
}

/* The transform along the rows of t (B^T d B), point xi = SPAN i + j stored as the first
 * `lanes` lanes at out + xi * plane. */
static void store_input_points(floatL t[SPAN][SPAN], __global float *out, size_t plane,
                               int lanes)
{
#pragma unroll
    for (int i = 0; i < SPAN; i++) {
        floatL r[SPAN];
        input_1d(t[i], r);
#pragma unroll
        for (int j = 0; j < SPAN; j++)
            store_lanes(out + (size_t)(SPAN * i + j) * plane, r[j], lanes);
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

/* d[j] = columns c0 + TILE k + j (lane k) of the image row of W floats at index `row` of x:
 * loaded as whole vectors where every float they reach lies in the buffer (indices row + c0
 * .. row + c0 + TILE LANES + 1 within [0, size)), the columns outside the row left for the caller
 * to mask; else lane by lane, only the row's own columns read (what keeps these loads in the
 * buffer; the caller's mask, which such strips always get, zeros the rest again). */
static void image_strip_row(const __global float *x, long row, int c0, int W, uint size,
                            floatL d[SPAN])
{
    long first = row + c0;
    if (first >= 0 && first + TILE * LANES + 2 <= (long)size) {
        strip_row(x + first, d);
        return;
    }
#pragma unroll
    for (int j = 0; j < SPAN; j++) {
        float lane[LANES];
        for (int k = 0; k < LANES; k++) {
            int column = c0 + TILE * k + j;
            lane[k] = column >= 0 && column < W ? x[row + column] : 0.0f;
        }
        d[j] = vloadL(0, lane);
    }
}

/* Zeros the lanes of t's columns j that lie outside the image row (columns c0 + TILE k + j, k
 * the lane): the column transform mixes rows only, so it may come before the mask. */
static void mask_columns(floatL t[SPAN][SPAN], int c0, int W)
{
#pragma unroll
    for (int j = 0; j < SPAN; j++) {
        intL column = (intL)(c0 + j) + TILE * LANE_INDEX;
        intL inside = column >= 0 && column < W;
#pragma unroll
        for (int i = 0; i < SPAN; i++)
            t[i][j] = select((floatL)(0.0f), t[i][j], inside);
    }
}

/* V[xi][c][t] = (B^T d B)[xi] for the tiles of strip (ty, sx) of channel c: tile tx reads
 * image rows TILE ty - P .., columns TILE tx - P .. of x's planes (H x W, zero outside), so no
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
    int c0 = TILE * tx - P;
    floatL d[SPAN][SPAN], t[SPAN][SPAN];
#pragma unroll
    for (int i = 0; i < SPAN; i++) {
        int r = TILE * ty + i - P;
        if (r < 0 || r >= H) {
#pragma unroll
            for (int j = 0; j < SPAN; j++)
                d[i][j] = (floatL)(0.0f);
            continue;
        }
        image_strip_row(x, plane + (long)r * W, c0, W, size, d[i]);
    }
    input_columns(d, t);
    if (c0 < 0 || c0 + TILE * LANES + 2 > W)
        mask_columns(t, c0, W);
    __global float *out = v + v_offset + (size_t)c * tiles + ((size_t)b * TH + ty) * TW + tx;
    store_input_points(t, out, (size_t)C * tiles, min(LANES, TW - tx));
}

/* Row r of a tile at columns c0.. of a plane (H x W floats from `plane`, zero outside it)
 * into lane l of patch: loaded from the nearest pixel inside, then zeroed where that was not
 * the one asked for (no branches, so the loops unroll into straight code). */
static void tile_row_lane(const __global float *plane, int H, int W, int r, int c0, int l,
                          float patch[SPAN][LANES])
{
    int inside = clamp(r, 0, H - 1);
    const __global float *row = plane + (size_t)inside * W;
#pragma unroll
    for (int j = 0; j < SPAN; j++) {
        int column = clamp(c0 + j, 0, W - 1);
        float value = row[column];
        patch[j][l] = inside == r && column == c0 + j ? value : 0.0f;
    }
}

/* Tile t of a pass of TH x TW tiles an image: (image, tile row, tile column). */
static int3 pass_tile(int t, int TH, int TW)
{
    int b = t / (TH * TW), q = t - b * TH * TW, ty = q / TW;
    return (int3)(b, ty, q - ty * TW);
}

/* The input transform for planes at most half a strip wide (2 TW <= LANES, where strips of a
 * tile row would leave most lanes idle): lane k takes tile t0 + k of the pass, whatever image
 * and tile row it lies in, gathered pixel by pixel (zero outside the image); its points store
 * as whole vectors of LANES consecutive t, as winograd_input's. Work-item (t0 / LANES, c). */
__kernel void winograd_input_linear(__global const float *x, uint x_offset, uint x_batch, int C,
                                    int H, int W, int P, int TH, int TW, __global float *v,
                                    uint v_offset, uint tiles)
{
    int t0 = LANES * get_global_id(0);
    int c = get_global_id(1);
    if (t0 >= (int)tiles || c >= C)
        return;
    int lanes = min(LANES, (int)tiles - t0);
    const __global float *planes[LANES];
    int r0[LANES], c0[LANES];
#pragma unroll
    for (int l = 0; l < LANES; l++) {
        /* lanes past the pass repeat its last tile */
        int3 at = pass_tile(t0 + min(l, lanes - 1), TH, TW);
        planes[l] = x + x_offset + (size_t)at.x * x_batch + (size_t)c * H * W;
        r0[l] = TILE * at.y - P;
        c0[l] = TILE * at.z - P;
    }
    floatL d[SPAN][SPAN], t[SPAN][SPAN];
#pragma unroll
    for (int i = 0; i < SPAN; i++) {
        float patch[SPAN][LANES];
#pragma unroll
        for (int l = 0; l < LANES; l++)
            tile_row_lane(planes[l], H, W, r0[l] + i, c0[l], l, patch);
#pragma unroll
        for (int j = 0; j < SPAN; j++)
            d[i][j] = vloadL(0, patch[j]);
    }
    input_columns(d, t);
    store_input_points(t, v + v_offset + (size_t)c * tiles + t0, (size_t)C * tiles, lanes);
}

#if TILE == 4 /* the weight gradient's input transform, F(4x4, 3x3) alone */

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
        float patch[6][LANES];
#pragma unroll
        for (int l = 0; l < LANES; l++)
            tile_row_lane(image + (l < lanes ? l : 0) * plane, H, W, r0 + i, c0, l, patch);
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
#endif

/* U[xi][co][ci] = (G g G^T)[xi] for the 3x3 kernels g = w[co][ci], or with `transposed`
 * U[xi][ci][co] (the products' B where they take the tiles as rows); with `flip` each g
 * rotated by 180 degrees (an input gradient's weights: its convolution's U is the transposed
 * one of the flipped w, so no flipped copy is made). A work-item takes LANES kernels
 * neighbouring along U's rows, one per lane: LANES ci (their taps contiguous in w), or LANES
 * co (9 C floats apart). Work-item (a / LANES, b) for U's row b, columns a.. */
__kernel void winograd_weights(__global const float *w, uint w_offset, int Cout, int C,
                               __global float *u, uint u_offset, int transposed, int flip)
{
    int along = transposed ? Cout : C, across = transposed ? C : Cout;
    int a = LANES * get_global_id(0);
    int b = get_global_id(1);
    if (a >= along || b >= across)
        return;
    int lanes = min(LANES, along - a);
    int co = transposed ? a : b, ci = transposed ? b : a;
    const __global float *g = w + w_offset + ((size_t)co * C + ci) * 9;
    size_t apart = transposed ? (size_t)C * 9 : 9; /* floats between the lanes' kernels */
    /* the lanes' 9 LANES taps (picked out below at constant indices, so in registers): as
     * whole vectors where they are contiguous, all channels, else each lane's nine as a
     * float8 and one (lanes past the last channel read the first one's; not stored) */
    float all[9 * LANES];
    if (!transposed && lanes == LANES) {
#pragma unroll
        for (int k = 0; k < 9 * LANES / 4; k++)
            vstore4(vload4(k, g), k, all);
    } else {
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            const __global float *taps = g + (l < lanes ? l : 0) * apart;
            vstore8(vload8(0, taps), 0, all + 9 * l);
            all[9 * l + 8] = taps[8];
        }
    }
    floatL tap[9]; /* tap[k], lane l: tap k of kernel l */
#pragma unroll
    for (int k = 0; k < 9; k++) {
        float lane[LANES];
#pragma unroll
        for (int l = 0; l < LANES; l++)
            lane[l] = all[9 * l + k];
        tap[k] = vloadL(0, lane);
    }
    /* a kernel rotated by 180 degrees: tap k is tap 8 - k (swapped as whole vectors) */
    if (flip) {
#pragma unroll
        for (int k = 0; k < 4; k++) {
            floatL t = tap[k];
            tap[k] = tap[8 - k];
            tap[8 - k] = t;
        }
    }
    floatL r[3][SPAN]; /* r[j][i]: (G g)[i][j] */
#pragma unroll
    for (int j = 0; j < 3; j++)
        weights_1d(tap[j], tap[3 + j], tap[6 + j], r[j]);
    size_t plane = (size_t)Cout * C;
    __global float *out = u + u_offset + (size_t)b * along + a;
#pragma unroll
    for (int i = 0; i < SPAN; i++) {
        floatL row[SPAN];
        weights_1d(r[0][i], r[1][i], r[2][i], row);
#pragma unroll
        for (int j = 0; j < SPAN; j++)
            store_lanes(out + (size_t)(SPAN * i + j) * plane, row[j], lanes);
    }
}

#if TILE == 4
/* The sixteen columns of an output row held by four tiles: p_s holds column s of each. */
static float16 interleave4(float4 p0, float4 p1, float4 p2, float4 p3)
{
    return (float16)(p0.x, p1.x, p2.x, p3.x, p0.y, p1.y, p2.y, p3.y, p0.z, p1.z, p2.z, p3.z,
                     p0.w, p1.w, p2.w, p3.w);
}
#endif

/* The first `count` (< 16) floats at src, zero after them (beta's reads, where a row ends
 * mid-vector: rare enough for single loads). */
static float16 load_first16(const __global float *src, int count)
{
    float lane[16];
    for (int k = 0; k < 16; k++)
        lane[k] = k < count ? src[k] : 0.0f;
    return vload16(0, lane);
}

/* dst[0..16) (those of them before column `width - x0`) = act(row + beta * dst). */
static void store_row16(__global float *dst, float16 row, int room, float beta, int act)
{
    bool whole = room >= 16;
    if (beta != 0.0f)
        row += beta * (whole ? vload16(0, dst) : load_first16(dst, room));
    if (act == ACT_SILU)
        row = row / (1.0f + exp(-row));
    if (whole) {
        vstore16(row, 0, dst);
        return;
    }
    float lane[16];
    vstore16(row, 0, lane);
    store_first(dst, lane, room);
}

/* t[r][j] = (A^T M)[r][j] for the LANES tiles from `in` (points `plane` floats apart), each
 * point one whole vector. */
static void output_columns(const __global float *in, size_t plane, floatL t[TILE][SPAN])
{
#pragma unroll
    for (int j = 0; j < SPAN; j++) {
        floatL col[SPAN], o[TILE];
#pragma unroll
        for (int i = 0; i < SPAN; i++)
            col[i] = vloadL(0, in + (size_t)(SPAN * i + j) * plane);
        output_1d(col, o);
#pragma unroll
        for (int r = 0; r < TILE; r++)
            t[r][j] = o[r];
    }
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
    floatL t[TILE][SPAN];
    output_columns(in, plane, t);
    float bias_c = has_bias ? bias[bias_offset + co] : 0.0f;
    int x0 = TILE * tx;
    __global float *out = y + y_offset + (size_t)b * y_batch + (size_t)co * Ho * Wo + x0;
    for (int r = 0; r < TILE && TILE * ty + r < Ho; r++) {
        floatL o[TILE];
        output_1d(t[r], o);
        __global float *dst = out + (size_t)(TILE * ty + r) * Wo;
#if TILE == 4
        for (int q = 0; q < LANES / 4 && x0 + 16 * q < Wo; q++) {
            float16 row = interleave4(quarter(o[0], q), quarter(o[1], q), quarter(o[2], q),
                                      quarter(o[3], q)) +
                          bias_c;
            store_row16(dst + 16 * q, row, Wo - x0 - 16 * q, beta, act);
        }
#else
        /* the row's TILE LANES outputs in order (constant indices: registers), stored sixteen
         * at a time */
        float row[(TILE * LANES + 15) / 16 * 16];
#pragma unroll
        for (int s = 0; s < TILE; s++) {
            float lane[LANES];
            vstoreL(o[s], 0, lane);
#pragma unroll
            for (int k = 0; k < LANES; k++)
                row[TILE * k + s] = lane[k];
        }
#pragma unroll
        for (int k = TILE * LANES; k < (TILE * LANES + 15) / 16 * 16; k++)
            row[k] = 0.0f;
        int room = min(Wo - x0, TILE * LANES);
        for (int q = 0; 16 * q < room; q++)
            store_row16(dst + 16 * q, vload16(q, row) + bias_c, room - 16 * q, beta, act);
#endif
    }
}

/* The output transform for the passes winograd_input_linear made: lane k holds tile t0 + k of
 * the pass, whatever image and tile row it lies in; the epilogue runs on whole vectors, then
 * each lane's outputs inside Ho x Wo are stored one by one. Work-item (t0 / LANES, co). */
__kernel void winograd_output_linear(__global const float *m, uint m_offset, uint tiles,
                                     int Cout, int Ho, int Wo, int TH, int TW,
                                     __global float *y, uint y_offset, uint y_batch, float beta,
                                     __global const float *bias, uint bias_offset, int has_bias,
                                     int act)
{
    int t0 = LANES * get_global_id(0);
    int co = get_global_id(1);
    if (t0 >= (int)tiles || co >= Cout)
        return;
    int lanes = min(LANES, (int)tiles - t0);
    floatL t[TILE][SPAN];
    output_columns(m + m_offset + (size_t)co * tiles + t0, (size_t)Cout * tiles, t);
    __global float *corner[LANES]; /* each lane's tile's first output */
    int rows[LANES], columns[LANES]; /* how many of its rows and columns lie inside */
#pragma unroll
    for (int l = 0; l < LANES; l++) {
        int3 at = pass_tile(t0 + min(l, lanes - 1), TH, TW);
        corner[l] = y + y_offset + (size_t)at.x * y_batch + (size_t)co * Ho * Wo +
                    (size_t)(TILE * at.y) * Wo + TILE * at.z;
        rows[l] = l < lanes ? min(TILE, Ho - TILE * at.y) : 0;
        columns[l] = min(TILE, Wo - TILE * at.z);
    }
    float bias_c = has_bias ? bias[bias_offset + co] : 0.0f;
    for (int r = 0; r < TILE; r++) {
        floatL o[TILE];
        output_1d(t[r], o);
        float out[TILE][LANES];
#pragma unroll
        for (int s = 0; s < TILE; s++) {
            floatL v = o[s] + bias_c;
            if (beta != 0.0f) {
                float old[LANES];
#pragma unroll
                for (int l = 0; l < LANES; l++)
                    old[l] = r < rows[l] && s < columns[l] ? corner[l][r * Wo + s] : 0.0f;
                v += beta * vloadL(0, old);
            }
            if (act == ACT_SILU)
                v = v / (1.0f + exp(-v));
            vstoreL(v, 0, out[s]);
        }
        /* unrolled, so that out stays in registers: a lane's row of outputs as one vector
         * store where the whole row lies inside (a loop of scalar stores through the stack
         * had been a fifth of this kernel's time), else column by column */
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            if (r >= rows[l])
                continue;
            __global float *dst = corner[l] + r * Wo;
            if (columns[l] == TILE) {
                vstore4((float4)(out[0][l], out[1][l], out[2][l], out[3][l]), 0, dst);
#if TILE == 5
                dst[4] = out[4][l];
#endif
                continue;
            }
#pragma unroll
            for (int s = 0; s < TILE; s++)
                if (s < columns[l])
                    dst[s] = out[s][l];
        }
    }
}

/* ---- the weight gradient, F(4x4, 3x3) alone --------------------------------------------------
 * With Y = A^T [U . V] A per tile, dL/dU[xi][co][ci] = sum over tiles of dM[xi][co][t]
 * V[xi][ci][t], dM = A dY A^T for the tile's 4x4 output gradient dY; then dL/dg = G^T dU G. */
#if TILE == 4

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
    /* the lanes' 9 LANES taps, contiguous in dw: as whole vectors where all lanes are
     * channels, else one by one */
    float all[9 * LANES];
#pragma unroll
    for (int l = 0; l < LANES; l++)
#pragma unroll
        for (int k = 0; k < 9; k++)
            all[9 * l + k] = taps[k][l];
    __global float *out = dw + dw_offset + ((size_t)co * C + ci) * 9;
    if (lanes == LANES) {
#pragma unroll
        for (int k = 0; k < 9 * LANES / 4; k++)
            vstore4(vload4(k, all) + (accumulate ? vload4(k, out) : (float4)(0.0f)), k, out);
        return;
    }
    for (int k = 0; k < 9 * lanes; k++)
        out[k] = all[k] + (accumulate ? out[k] : 0.0f);
}
#endif
