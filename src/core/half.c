#include <math.h>
#include <string.h>

#include "core/half.h"

float ykd_f16_to_f32(uint16_t h)
{
    int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float sign = h & 0x8000 ? -1.0f : 1.0f;
    if (exponent == 0) /* zero and subnormals: mantissa x 2^-24 */
        return sign * ldexpf((float)mantissa, -24);
    if (exponent == 31)
        return mantissa ? NAN : sign * INFINITY;
    return sign * ldexpf((float)(mantissa | 0x400), exponent - 25);
}

float ykd_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t ykd_f32_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u)
        return sign | 0x7e00; /* NaN */
    if (magnitude >= 0x38800000u) { /* 2^-14 and up: a normal half, or beyond */
        /* round the 13 dropped mantissa bits to nearest even (a carry may bump the exponent),
         * then move the exponent's bias from 127 to 15 */
        uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
        if (rounded >= 0x47800000u) /* 2^16 and up after rounding */
            return sign | 0x7c00;
        return sign | (uint16_t)((rounded - (112u << 23)) >> 13);
    }
    /* a subnormal half: m x 2^-24; scaling by 2^24 is exact, lrintf rounds ties to even */
    float scaled;
    memcpy(&scaled, &magnitude, sizeof scaled);
    return sign | (uint16_t)lrintf(scaled * 16777216.0f);
}
