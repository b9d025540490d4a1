/* C = act(alpha * op(A) * B + beta * C + bias[row]) for row-major A, B and C, shaped for CPU
 * devices: each work-item computes a TM x (16 * TV) tile of C with float16 vectors along the
 * rows of B and C, so the compiler emits wide vector FMAs whatever the work-group size (PoCL
 * maps float16 onto AVX-512 or pairs of AVX2 registers). TM * TV accumulators plus TV loads of
 * B stay in registers; A is read one scalar per row and k, broadcast.
 *
 * Build options: -DTM=<rows> -DTV=<1|2|...> -DTRANS_A=<0|1>, and for convolutions without
 * im2col (see src/ops/conv.c): -DB_ROWS=1, row k of B starts at b_rows[k] instead of k * ldb
 * (each row a shifted window of a zero-padded input plane); -DC_REMAP=1, column p of C is the
 * pixel (p / c_pitch, p % c_pitch) of an output of width c_width, stored packed, and columns
 * with p % c_pitch >= c_width (past the output's right edge) are dropped.
 * For convolutions with the channels innermost (src/ops/conv_rows.c): -DA_PIXELS=1, row m of
 * A is output pixel m % a_plane (row-major, a_wo wide) of image m / a_plane, and starts where
 * that pixel's patch row starts in a zero-padded channels-last copy a_wp pixels wide:
 * (m / a_plane) * a_image + ((oy * a_stride) * a_wp + ox * a_stride) * a_channels; -DC_PLANES=1,
 * row m of C is pixel q = m % c_plane (row-major, c_wo wide) of image m / c_plane and column j
 * its channel, stored in planes: element (m, j) at (m / c_plane) * c_image + j * c_channel +
 * (q / c_wo) * c_row + (q % c_wo) * c_col (a forward pass's output: c_row = c_wo, c_col = 1;
 * one phase of a strided input gradient: every S-th pixel of every S-th row); the bias is per
 * column.
 * Work-item (i, j, b) computes rows i*TM.., columns j*16*TV.. of product b (A, B and C offset by
 * b * *_batch); the last tile of a row is moved left to end at N where N >= 16*TV, so that
 * every tile but those of narrow products loads whole vectors of B (its columns already
 * stored by the tile before are computed again, not stored). The epilogue (bias, beta,
 * SiLU) runs on whole vectors where it can: PoCL vectorises a float16 exp, not a scalar one
 * in a loop, and a remapped column run that stays in one output row is one vector store.
 * The k loop runs k_batches times over K, moving A and B by *_kbatch each time: a sum of
 * products in one launch (a convolution's weight gradient over the images).
 * Dimension 0 walks down the rows so that neighbouring work-groups share a panel of B. */

#ifndef TM
#define TM 6
#endif
#ifndef TV
#define TV 2
#endif
#ifndef TRANS_A
#define TRANS_A 0
#endif
#ifndef B_ROWS
#define B_ROWS 0
#endif
#ifndef C_REMAP
#define C_REMAP 0
#endif
#ifndef A_PIXELS
#define A_PIXELS 0
#endif
#ifndef C_PLANES
#define C_PLANES 0
#endif
#define TN (16 * TV)

#if A_PIXELS
#define A_AT(a, m, k, lda) (a)[a_starts[m] + (k)]
#elif TRANS_A
#define A_AT(a, m, k, lda) (a)[(size_t)(k) * (lda) + (m)]
#else
#define A_AT(a, m, k, lda) (a)[(size_t)(m) * (lda) + (k)]
#endif

/* Sixteen floats of a row of B from column col, zero from column n on. */
static float16 load16_masked(const __global float *row, int col, int n)
{
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = col + i < n ? row[col + i] : 0.0f;
    return vload16(0, v);
}

/* Writes the results of one accumulator for columns col + i in [first, n) with the full
 * epilogue, one by one. */
static void store16(__global float *row, float16 acc, int col, int first, int n, float alpha,
                    float beta, float bias, int act, int pitch, int width)
{
    float v[16];
    vstore16(acc, 0, v);
    for (int i = max(first - col, 0); i < 16 && col + i < n; i++) {
        int at = col + i;
#if C_REMAP
        int y = at / pitch, x_at = at - y * pitch;
        if (x_at >= width)
            continue;
        at = y * width + x_at;
#endif
        float x = alpha * v[i] + bias;
        if (beta != 0.0f)
            x += beta * row[at];
        row[at] = activate(x, act);
    }
}

/* Writes one accumulator's results to the columns col + i in [first, n) of a row of C: where
 * the sixteen all go and lie in one row of the output, the epilogue on the whole vector and
 * one vector store (PoCL vectorises exp on a float16, not in store16's loop); else, when C is
 * not read back, the activation on the vector and the stores one by one; else store16. */
static void store16_vector(__global float *row, float16 acc, int col, int first, int n,
                           float alpha, float beta, float bias, int act, int pitch, int width)
{
#if C_REMAP
    int y = col / pitch, x_at = col - y * pitch;
    __global float *out = row + (size_t)y * width;
    bool whole = col >= first && col + 16 <= n && x_at + 16 <= width;
#else
    int x_at = col;
    __global float *out = row;
    bool whole = col >= first && col + 16 <= n;
#endif
    if (!whole && beta != 0.0f) {
        store16(row, acc, col, first, n, alpha, beta, bias, act, pitch, width);
        return;
    }
    float16 x = alpha * acc + bias;
    if (beta != 0.0f)
        x += beta * vload16(0, out + x_at);
    if (act == ACT_SILU)
        x = x / (1.0f + exp(-x));
    if (whole) {
        vstore16(x, 0, out + x_at);
        return;
    }
    float v[16];
    vstore16(x, 0, v);
    for (int i = 0; i < 16 && col + i < n; i++) {
#if C_REMAP
        if (x_at < width && col + i >= first)
            out[x_at] = v[i];
        if (++x_at == pitch) {
            x_at = 0;
            out += width;
        }
#else
        if (col + i >= first)
            out[x_at + i] = v[i];
#endif
    }
}

/* Writes one accumulator's results to columns col + i in [first, n) of row m of C laid out as
 * planes (-DC_PLANES): out points at the row's pixel in its image's first plane, column j at
 * out[j * plane] (plane: the floats between channels), bias (or NULL) at the bias of column 0.
 * The epilogue runs on the vector. */
static void store16_planes(__global float *out, float16 acc, int col, int first, int n,
                           float alpha, float beta, const __global float *bias, int act,
                           int plane)
{
    float v[16];
    int begin = max(first - col, 0), end = min(16, n - col);
    float16 x = alpha * acc;
    if (bias) {
        for (int i = 0; i < 16; i++)
            v[i] = i < end ? bias[col + i] : 0.0f;
        x += vload16(0, v);
    }
    if (beta != 0.0f) {
        for (int i = 0; i < 16; i++)
            v[i] = i >= begin && i < end ? out[(size_t)(col + i) * plane] : 0.0f;
        x += beta * vload16(0, v);
    }
    if (act == ACT_SILU)
        x = x / (1.0f + exp(-x));
    vstore16(x, 0, v);
    for (int i = begin; i < end; i++)
        out[(size_t)(col + i) * plane] = v[i];
}

/* Where row k of B begins. */
#if B_ROWS
#define B_ROW(bk, k) ((bk) + b_rows[b_rows_offset + (k)])
#else
#define B_ROW(bk, k) ((bk) + (size_t)(k) * ldb)
#endif

__kernel void gemm(int M, int N, int K, int k_batches,
                   __global const float *A, uint a_offset, int lda, uint a_batch, uint a_kbatch,
                   __global const float *B, uint b_offset, int ldb, uint b_batch, uint b_kbatch,
                   __global float *C, uint c_offset, int ldc, uint c_batch,
                   float alpha, float beta, __global const float *bias, uint bias_offset,
                   int has_bias, int act, __global const int *b_rows, uint b_rows_offset,
                   int c_pitch, int c_width, int a_plane, int a_wo, int a_stride, int a_wp,
                   int a_channels, uint a_image, int c_plane, int c_wo, int c_row, int c_col,
                   uint c_channel, uint c_image)
{
    int row = get_global_id(0) * TM;
    /* the columns this work-item stores: first.. up to TN of them; the last tile of a row
     * ends at N instead where N allows, so that all its loads are whole vectors (it computes
     * some of its neighbour's columns again and does not store them) */
    int first = get_global_id(1) * TN;
    int product = get_global_id(2);
    if (row >= M || first >= N)
        return;
    int col = first + TN > N && N >= TN ? N - TN : first;
    const __global float *a = A + a_offset + (size_t)product * a_batch;
    const __global float *b = B + b_offset + (size_t)product * b_batch;
    __global float *c = C + c_offset + (size_t)product * c_batch;

    float16 acc[TM][TV];
#pragma unroll
    for (int r = 0; r < TM; r++)
#pragma unroll
        for (int v = 0; v < TV; v++)
            acc[r][v] = (float16)(0.0f);
    /* rows past M read row M - 1 (in bounds) and are not stored */
    int rows[TM];
#pragma unroll
    for (int r = 0; r < TM; r++)
        rows[r] = min(row + r, M - 1);
#if A_PIXELS
    size_t a_starts[TM];
#pragma unroll
    for (int r = 0; r < TM; r++) {
        int image = rows[r] / a_plane, p = rows[r] - image * a_plane;
        int oy = p / a_wo, ox = p - oy * a_wo;
        a_starts[r] = (size_t)image * a_image +
                      ((size_t)oy * a_stride * a_wp + (size_t)ox * a_stride) * a_channels;
        rows[r] = r; /* A_AT reads a_starts[r] */
    }
#endif
    bool full_width = col + TN <= N;

    for (int kb = 0; kb < k_batches; kb++) {
        const __global float *ak = a + (size_t)kb * a_kbatch;
        const __global float *bk = b + (size_t)kb * b_kbatch;
        if (full_width) {
            for (int k = 0; k < K; k++) {
                const __global float *brow = B_ROW(bk, k) + col;
                float16 bv[TV];
#pragma unroll
                for (int v = 0; v < TV; v++)
                    bv[v] = vload16(v, brow);
#pragma unroll
                for (int r = 0; r < TM; r++) {
                    float16 av = (float16)(A_AT(ak, rows[r], k, lda));
#pragma unroll
                    for (int v = 0; v < TV; v++)
                        acc[r][v] = fma(av, bv[v], acc[r][v]);
                }
            }
        } else {
            for (int k = 0; k < K; k++) {
                const __global float *brow = B_ROW(bk, k);
                float16 bv[TV];
#pragma unroll
                for (int v = 0; v < TV; v++)
                    bv[v] = load16_masked(brow, col + 16 * v, N);
#pragma unroll
                for (int r = 0; r < TM; r++) {
                    float16 av = (float16)(A_AT(ak, rows[r], k, lda));
#pragma unroll
                    for (int v = 0; v < TV; v++)
                        acc[r][v] = fma(av, bv[v], acc[r][v]);
                }
            }
        }
    }

#if C_PLANES
    for (int r = 0; r < TM && row + r < M; r++) {
        int image = (row + r) / c_plane, q = row + r - image * c_plane;
        int qy = q / c_wo, qx = q - qy * c_wo;
        __global float *out =
            c + (size_t)image * c_image + (size_t)qy * c_row + (size_t)qx * c_col;
#pragma unroll
        for (int v = 0; v < TV; v++) {
            int cv = col + 16 * v;
            if (cv < N && cv + 16 > first)
                store16_planes(out, acc[r][v], cv, first, N, alpha, beta,
                               has_bias ? bias + bias_offset : 0, act, c_channel);
        }
    }
#else
    for (int r = 0; r < TM && row + r < M; r++) {
        float bias_r = has_bias ? bias[bias_offset + row + r] : 0.0f;
        __global float *crow = c + (size_t)(row + r) * ldc;
#pragma unroll
        for (int v = 0; v < TV; v++) {
            int cv = col + 16 * v;
            if (cv < N && cv + 16 > first)
                store16_vector(crow, acc[r][v], cv, first, N, alpha, beta, bias_r, act, c_pitch,
                               c_width);
        }
    }
#endif
}
