/* TFLite / CMSIS-NN int8 requantisation arithmetic (bit-exact with
 * hw_profiler.quant.reference). */
#ifndef PIT_QUANT_H
#define PIT_QUANT_H
#include <stdint.h>

static inline int32_t pit_srdhm(int32_t a, int32_t b)
{
    /* SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^31 truncated toward zero, with
     * nudge = 2^30 for a*b >= 0 and 1 - 2^30 otherwise. Both cases equal
     * floor((a*b + 2^30) / 2^31) (for negative u, trunc(u / n) = floor((u + n - 1) / n)),
     * i.e. one SMLAL and a shift on Cortex-M. The only overflow is MIN*MIN. */
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    return (int32_t)(((int64_t)a * (int64_t)b + (INT64_C(1) << 30)) >> 31);
}

static inline int32_t pit_rdbp(int32_t x, int exponent)
{
    /* RoundingDivideByPowerOfTwo: round half away from zero. */
    if (exponent <= 0)
        return x;
    int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t pit_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return pit_rdbp(pit_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int8_t pit_clamp_i8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

#endif
