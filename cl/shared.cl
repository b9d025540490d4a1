/* Device helpers the kernels of every op share (built before each op's own file): the
 * logistic sigmoid, SiLU and the activation codes, and the softmax of a box side's DFL bins. */

/* floatv: a vector of VECTOR_FLOATS floats (the device's preferred width, a build option: 16
 * on PoCL with AVX-512, 1 on GPUs), and its loads and stores from an array of floats. Kernels
 * that give a work-item a run of consecutive floats take runs of that many. */
#ifndef VECTOR_FLOATS
#define VECTOR_FLOATS 1
#endif
#if VECTOR_FLOATS == 16
typedef float16 floatv;
#define VLOADV(p) vload16(0, p)
#define VSTOREV(v, p) vstore16(v, 0, p)
#elif VECTOR_FLOATS == 8
typedef float8 floatv;
#define VLOADV(p) vload8(0, p)
#define VSTOREV(v, p) vstore8(v, 0, p)
#elif VECTOR_FLOATS == 4
typedef float4 floatv;
#define VLOADV(p) vload4(0, p)
#define VSTOREV(v, p) vstore4(v, 0, p)
#elif VECTOR_FLOATS == 2
typedef float2 floatv;
#define VLOADV(p) vload2(0, p)
#define VSTOREV(v, p) vstore2(v, 0, p)
#else
typedef float floatv;
#define VLOADV(p) (*(p))
#define VSTOREV(v, p) (*(p) = (v))
#endif

/* Element-wise kernels over a flat range of n floats give work-item g the run of
 * VECTOR_FLOATS floats from *first = g * VECTOR_FLOATS; run_at returns how many of them lie
 * before n (0 for work-items past the end, which return). load_run reads a run, the first
 * `valid` floats and zeros after them, and store_run writes its first `valid`: one vector load
 * and store where the run is whole. */
uint run_at(size_t n, size_t *first)
{
    *first = get_global_id(0) * VECTOR_FLOATS;
    return *first < n ? (uint)min((size_t)VECTOR_FLOATS, n - *first) : 0;
}

floatv load_run(const __global float *src, uint valid)
{
    if (valid >= VECTOR_FLOATS)
        return VLOADV(src);
    float v[VECTOR_FLOATS];
    for (uint k = 0; k < VECTOR_FLOATS; k++)
        v[k] = k < valid ? src[k] : 0.0f;
    return VLOADV(v);
}

void store_run(__global float *dst, floatv x, uint valid)
{
    if (valid >= VECTOR_FLOATS) {
        VSTOREV(x, dst);
        return;
    }
    float v[VECTOR_FLOATS];
    VSTOREV(x, v);
    for (uint k = 0; k < valid; k++)
        dst[k] = v[k];
}

/* The activation a fused epilogue applies (ykd_activation's values). */
#define ACT_NONE 0
#define ACT_SILU 1

/* 1 / (1 + exp(-x)): exp(-x) overflows to infinity for x < -88, giving 0 as it should. */
float sigmoid_of(float x)
{
    return 1.0f / (1.0f + exp(-x));
}

/* sigmoid(x) given e = exp(-|x|), which a binary cross-entropy computes anyway; no overflow for
 * either sign. */
float sigmoid_given_exp(float x, float e)
{
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* x sigmoid(x) */
float silu_of(float x)
{
    return x / (1.0f + exp(-x));
}

float activate(float x, int act)
{
    return act == ACT_SILU ? silu_of(x) : x;
}

/* The bins of one side of a box: DFL_BINS logits, a plane (hw floats) apart. */
#define DFL_BINS 16

/* The softmax of a side's bins into prob and its expectation, the side's distance from the
 * anchor in grid units; *norm receives the softmax's (top, sum): top the largest logit, sum the
 * sum of exp(logit - top), so log-sum-exp is top + log(sum). */
float dfl_side(__global const float *z, uint hw, float prob[DFL_BINS], float2 *norm)
{
    float top = z[0];
    for (int i = 1; i < DFL_BINS; i++)
        top = fmax(top, z[i * hw]);
    float sum = 0.0f;
    for (int i = 0; i < DFL_BINS; i++)
        sum += prob[i] = exp(z[i * hw] - top);
    float inv = 1.0f / sum, d = 0.0f;
    for (int i = 0; i < DFL_BINS; i++) {
        prob[i] *= inv;
        d += prob[i] * (float)i;
    }
    *norm = (float2)(top, sum);
    return d;
}
