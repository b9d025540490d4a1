/* IEEE 754 binary16 (half) and bfloat16 conversions: safetensors' F16/BF16 tensors and the
 * teacher cache's fp16 storage. */
#ifndef YKD_HALF_H
#define YKD_HALF_H

#include <stdint.h>

/* Exact: every half and bfloat16 is a float. */
float ykd_f16_to_f32(uint16_t h);
float ykd_bf16_to_f32(uint16_t b);

/* Rounded to the nearest half, ties to even; beyond the largest half (65504, and what rounds
 * above it) gives an infinity, NaN a NaN. */
uint16_t ykd_f32_to_f16(float f);

/* Whether f converts to a finite half (what ykd_f32_to_f16 would not turn into an infinity). */
static inline int ykd_f16_fits(float f)
{
    return f > -65520.0f && f < 65520.0f;
}

#endif
