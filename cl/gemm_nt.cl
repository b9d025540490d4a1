/* C = act(alpha * A * B^T + beta * C + bias[row]) where the rows of both A (m x k) and B
 * (n x k) run along k: the product of a convolution's output gradient with its im2col columns
 * (the weight gradient), without transposing either. Shaped for CPUs: each work-item computes
 * a TM x TN block of C as TM * TN float16 partial sums along k (16 k at a time), reduced
 * across lanes at the end; every load is a contiguous run of a row.
 *
 * Build options: -DTM=<rows> -DTN=<columns>; -DB_ROWS=1: row n of B starts at b_rows[n]
 * instead of n * ldb (the shifted windows of a zero-padded input plane, see src/ops/conv.c). Work-item (i, j, b): rows i*TM.., columns j*TN..
 * of product b; the k loop runs k_batches times over K, moving A and B by *_kbatch. */

#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif
#ifndef B_ROWS
#define B_ROWS 0
#endif

/* Sixteen floats of a row from k, zero from K on. */
static float16 load16_tail(const __global float *row, int k, int K)
{
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = k + i < K ? row[k + i] : 0.0f;
    return vload16(0, v);
}

static float lane_sum(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

__kernel void gemm_nt(int M, int N, int K, int k_batches,
                      __global const float *A, uint a_offset, int lda, uint a_batch,
                      uint a_kbatch, __global const float *B, uint b_offset, int ldb,
                      uint b_batch, uint b_kbatch, __global float *C, uint c_offset, int ldc,
                      uint c_batch, float alpha, float beta, __global const float *bias,
                      uint bias_offset, int has_bias, int act, __global const int *b_rows,
                      uint b_rows_offset, int c_pitch, int c_width)
{
    int row = get_global_id(0) * TM;
    int col = get_global_id(1) * TN;
    int product = get_global_id(2);
    if (row >= M || col >= N)
        return;
    const __global float *a = A + a_offset + (size_t)product * a_batch;
    const __global float *b = B + b_offset + (size_t)product * b_batch;
    __global float *c = C + c_offset + (size_t)product * c_batch;

    float16 acc[TM][TN];
#pragma unroll
    for (int r = 0; r < TM; r++)
#pragma unroll
        for (int q = 0; q < TN; q++)
            acc[r][q] = (float16)(0.0f);
    /* rows and columns past the edge reuse the last one (in bounds) and are not stored */
    size_t a_rows[TM], b_starts[TN];
#pragma unroll
    for (int r = 0; r < TM; r++)
        a_rows[r] = (size_t)min(row + r, M - 1) * lda;
#pragma unroll
    for (int q = 0; q < TN; q++)
#if B_ROWS
        b_starts[q] = (size_t)b_rows[b_rows_offset + min(col + q, N - 1)];
#else
        b_starts[q] = (size_t)min(col + q, N - 1) * ldb;
#endif

    int k_full = K / 16 * 16;
    for (int kb = 0; kb < k_batches; kb++) {
        const __global float *ak = a + (size_t)kb * a_kbatch;
        const __global float *bk = b + (size_t)kb * b_kbatch;
        for (int k = 0; k < k_full; k += 16) {
            float16 av[TM];
#pragma unroll
            for (int r = 0; r < TM; r++)
                av[r] = vload16(0, ak + a_rows[r] + k);
#pragma unroll
            for (int q = 0; q < TN; q++) {
                float16 bv = vload16(0, bk + b_starts[q] + k);
#pragma unroll
                for (int r = 0; r < TM; r++)
                    acc[r][q] = fma(av[r], bv, acc[r][q]);
            }
        }
        if (k_full < K) {
            float16 av[TM];
#pragma unroll
            for (int r = 0; r < TM; r++)
                av[r] = load16_tail(ak + a_rows[r], k_full, K);
#pragma unroll
            for (int q = 0; q < TN; q++) {
                float16 bv = load16_tail(bk + b_starts[q], k_full, K);
#pragma unroll
                for (int r = 0; r < TM; r++)
                    acc[r][q] = fma(av[r], bv, acc[r][q]);
            }
        }
    }

    for (int r = 0; r < TM && row + r < M; r++) {
        float bias_r = has_bias ? bias[bias_offset + row + r] : 0.0f;
        __global float *crow = c + (size_t)(row + r) * ldc;
#pragma unroll
        for (int q = 0; q < TN; q++) {
            if (col + q >= N)
                break;
            float x = alpha * lane_sum(acc[r][q]) + bias_r;
            if (beta != 0.0f)
                x += beta * crow[col + q];
            crow[col + q] = activate(x, act);
        }
    }
}
