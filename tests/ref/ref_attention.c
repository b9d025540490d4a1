/* Float64 references of the batched matrix product and YOLO11's multi-head attention, as the
 * plain loops of their definitions. */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

void ref_matmul(int n, int m, int cols, int k, bool trans_a, bool trans_b, double alpha,
                const double *a, const double *b, double beta, double *c)
{
    size_t a_size = (size_t)m * k, b_size = (size_t)k * cols, c_size = (size_t)m * cols;
    for (int img = 0; img < n; img++) {
        const double *ai = a + img * a_size, *bi = b + img * b_size;
        double *ci = c + img * c_size;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < cols; j++) {
                double sum = 0.0;
                for (int q = 0; q < k; q++)
                    sum += (trans_a ? ai[(size_t)q * m + i] : ai[(size_t)i * k + q]) *
                           (trans_b ? bi[(size_t)j * k + q] : bi[(size_t)q * cols + j]);
                double *out = &ci[(size_t)i * cols + j];
                *out = alpha * sum + (beta != 0.0 ? beta * *out : 0.0);
            }
    }
}

void ref_attention_forward(int n, int p, int heads, int kd, int hd, double scale,
                           const double *qkv, double *y)
{
    int per = 2 * kd + hd;
    double *row = malloc((size_t)p * sizeof *row);
    for (int img = 0; img < n; img++)
        for (int h = 0; h < heads; h++) {
            const double *q = qkv + ((size_t)img * heads * per + (size_t)h * per) * p;
            const double *k = q + (size_t)kd * p, *v = k + (size_t)kd * p;
            double *out = y + ((size_t)img * heads * hd + (size_t)h * hd) * p;
            for (int d = 0; d < hd * p; d++)
                out[d] = 0.0;
            for (int i = 0; i < p; i++) {
                double max = -INFINITY, sum = 0.0;
                for (int j = 0; j < p; j++) {
                    double s = 0.0;
                    for (int c = 0; c < kd; c++)
                        s += q[(size_t)c * p + i] * k[(size_t)c * p + j];
                    row[j] = s * scale;
                    max = row[j] > max ? row[j] : max;
                }
                for (int j = 0; j < p; j++)
                    sum += row[j] = exp(row[j] - max);
                for (int d = 0; d < hd; d++)
                    for (int j = 0; j < p; j++)
                        out[(size_t)d * p + i] += v[(size_t)d * p + j] * row[j] / sum;
            }
        }
    free(row);
}
