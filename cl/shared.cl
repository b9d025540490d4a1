/* Device helpers the kernels of every op share (built before each op's own file): the
 * logistic sigmoid, SiLU and the activation codes, and the softmax of a box side's DFL bins. */

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
