/* Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (src/ops/conv_winograd.c): each 2x2
 * block of outputs is A^T [(G g G^T) . (B^T d B)] A for the 4x4 input tile d around it, so the
 * 16 products per channel pair and tile become 16 GEMMs (one per tile point xi) over the
 * channels, 2.25 times fewer multiplications than the direct sum. With
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
 * Layouts: U[xi][co][ci] (transformed weights), V[xi][ci][t] (transformed input tiles),
 * M[xi][co][t] (their products), t = (image * TH + ty) * TW + tx over the tiles of a pass of
 * images, TH x TW tiles of 2x2 per output plane. A work-item transforms one tile; neighbouring
 * work-items (axis 0) take neighbouring tiles of a plane, so each of the 16 planes is written
 * or read contiguously across them (PoCL vectorises along axis 0). */

/* V[xi][c][t] = (B^T d B)[xi] for the input tile at rows 2 * ty - P.., columns 2 * tx - P..
 * of channel c (zero outside). Work-item (ty * TW + tx, c, image). */
__kernel void winograd_input(__global const float *x, uint x_offset, uint x_batch, int C,
                             int H, int W, int P, int TH, int TW, __global float *v,
                             uint v_offset, uint tiles)
{
    int tile = get_global_id(0);
    int c = get_global_id(1);
    int b = get_global_id(2);
    if (tile >= TH * TW || c >= C)
        return;
    int ty = tile / TW, tx = tile - ty * TW;
    const __global float *in = x + x_offset + (size_t)b * x_batch + (size_t)c * H * W;
    size_t plane = (size_t)C * tiles;
    __global float *out = v + v_offset + (size_t)c * tiles + (size_t)b * TH * TW + tile;
    int y0 = 2 * ty - P;
    {
        int x0 = 2 * tx - P;
        float d[4][4];
        for (int i = 0; i < 4; i++) {
            int iy = y0 + i;
            bool row_in = iy >= 0 && iy < H;
            for (int j = 0; j < 4; j++) {
                int ix = x0 + j;
                d[i][j] = row_in && ix >= 0 && ix < W ? in[(size_t)iy * W + ix] : 0.0f;
            }
        }
        float t[4][4];
        for (int j = 0; j < 4; j++) {
            t[0][j] = d[0][j] - d[2][j];
            t[1][j] = d[1][j] + d[2][j];
            t[2][j] = d[2][j] - d[1][j];
            t[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; i++) {
            out[(size_t)(4 * i + 0) * plane] = t[i][0] - t[i][2];
            out[(size_t)(4 * i + 1) * plane] = t[i][1] + t[i][2];
            out[(size_t)(4 * i + 2) * plane] = t[i][2] - t[i][1];
            out[(size_t)(4 * i + 3) * plane] = t[i][1] - t[i][3];
        }
    }
}

/* U[xi][co][ci] = (G g G^T)[xi] for the 3x3 kernel g = w[co][ci]. Work-item (ci, co). */
__kernel void winograd_weights(__global const float *w, uint w_offset, int Cout, int C,
                               __global float *u, uint u_offset)
{
    int ci = get_global_id(0);
    int co = get_global_id(1);
    if (ci >= C || co >= Cout)
        return;
    const __global float *g = w + w_offset + ((size_t)co * C + ci) * 9;
    float r[4][3];
    for (int j = 0; j < 3; j++) {
        float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        r[0][j] = g0;
        r[1][j] = 0.5f * (g0 + g1 + g2);
        r[2][j] = 0.5f * (g0 - g1 + g2);
        r[3][j] = g2;
    }
    size_t plane = (size_t)Cout * C;
    __global float *out = u + u_offset + (size_t)co * C + ci;
    for (int i = 0; i < 4; i++) {
        out[(size_t)(4 * i + 0) * plane] = r[i][0];
        out[(size_t)(4 * i + 1) * plane] = 0.5f * (r[i][0] + r[i][1] + r[i][2]);
        out[(size_t)(4 * i + 2) * plane] = 0.5f * (r[i][0] - r[i][1] + r[i][2]);
        out[(size_t)(4 * i + 3) * plane] = r[i][2];
    }
}

/* y[b][co][2 ty + r][2 tx + s] = act((A^T M A)[r][s] + bias[co] + beta * y) for the outputs
 * inside Ho x Wo. Work-item (ty * TW + tx, co, image). */
__kernel void winograd_output(__global const float *m, uint m_offset, uint tiles, int Cout,
                              int Ho, int Wo, int TH, int TW, __global float *y, uint y_offset,
                              uint y_batch, float beta, __global const float *bias,
                              uint bias_offset, int has_bias, int act)
{
    int tile = get_global_id(0);
    int co = get_global_id(1);
    int b = get_global_id(2);
    if (tile >= TH * TW || co >= Cout)
        return;
    int ty = tile / TW, tx = tile - ty * TW;
    size_t plane = (size_t)Cout * tiles;
    const __global float *in = m + m_offset + (size_t)co * tiles + (size_t)b * TH * TW + tile;
    __global float *out = y + y_offset + (size_t)b * y_batch + (size_t)co * Ho * Wo;
    float bias_c = has_bias ? bias[bias_offset + co] : 0.0f;
    {
        float v[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                v[i][j] = in[(size_t)(4 * i + j) * plane];
        float t[2][4];
        for (int j = 0; j < 4; j++) {
            t[0][j] = v[0][j] + v[1][j] + v[2][j];
            t[1][j] = v[1][j] - v[2][j] - v[3][j];
        }
        for (int r = 0; r < 2; r++) {
            int oy = 2 * ty + r;
            if (oy >= Ho)
                break;
            float pair[2] = {t[r][0] + t[r][1] + t[r][2], t[r][1] - t[r][2] - t[r][3]};
            for (int s = 0; s < 2; s++) {
                int ox = 2 * tx + s;
                if (ox >= Wo)
                    break;
                __global float *o = out + (size_t)oy * Wo + ox;
                float value = pair[s] + bias_c;
                if (beta != 0.0f)
                    value += beta * *o;
                *o = activate(value, act);
            }
        }
    }
}
