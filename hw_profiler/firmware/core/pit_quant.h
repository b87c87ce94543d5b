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

/* One quantised multiplier with its shift split into a left and a right part once per
 * call; pit_qm_mul() below is pit_mbqm() without the per-element branches. */
typedef struct {
    int32_t m;
    uint32_t left, right, mask, half;
} pit_qm_t;

static inline int pit_shift_ok(int32_t s) { return s >= -31 && s <= 31; }

static inline pit_qm_t pit_qm_make(int32_t m, int32_t shift)
{
    pit_qm_t q = {m, shift > 0 ? (uint32_t)shift : 0u, shift > 0 ? 0u : (uint32_t)-shift, 0u, 0u};
    q.mask = (uint32_t)((UINT64_C(1) << q.right) - 1u);
    q.half = q.mask >> 1;
    return q;
}

/* pit_mbqm(x, m, shift) for m != INT32_MIN: SaturatingRoundingDoublingHighMul saturates
 * only for INT32_MIN * INT32_MIN, so with m != INT32_MIN that branch can never be taken
 * whatever x is. The rounding shift is pit_rdbp() with the mask hoisted (exponent 0 gives
 * mask 0 and returns x unchanged, as pit_rdbp does). */
static inline int32_t pit_qm_mul(const pit_qm_t *q, int32_t x)
{
    x = (int32_t)((uint32_t)x << q->left);
    x = (int32_t)(((int64_t)x * q->m + (INT64_C(1) << 30)) >> 31);
    const int32_t rem = (int32_t)((uint32_t)x & q->mask);
    const int32_t thr = (int32_t)q->half + (x < 0);
    return (x >> q->right) + (rem > thr);
}

/* pit_mbqm(x, m, shift) as one 64-bit multiply-accumulate and one shift, for m >= 0 and
 * shift in [-31, -2] (no left shift; the converter's multipliers are in [2^30, 2^31) and a
 * layer scale below 1/4 gives shift <= -2). With q = floor(S / 2^31), S = x*m + 2^30 (the
 * doubling high multiply) and r = -shift, the rounding shift is
 * floor((q + 2^(r-1) - [q < 0]) / 2^r), which folds into
 * floor((S + 2^(30+r) - [S < 0] 2^31) / 2^(31+r)). With m > 0, [S < 0] may be replaced by
 * [x < 0]: they differ only for S in [0, 2^30), where both give 0. The constant
 * 2^30 - [x < 0] 2^31 + 2^(30+r) is one 64-bit word: low half 2^30 | (x & 2^31), high half
 * (x >> 31) + 2^(r-2); the result is the high half of the sum shifted right by r - 1.
 * On Cortex-M4: AND, ORR, ADD, SMLAL, ASR (tested against pit_mbqm in unit_tests.c). */
typedef struct {
    int32_t m, ahi, rm1;
} pit_rq_t;

static inline int pit_rq_ok(int32_t m, int32_t shift)
{
    return (m >= 0 && shift >= -31 && shift <= -2) || (m == 0 && shift == 0);
}

/* The converter's zero multiplier comes with shift 0: the mask turns it into shift -32,
 * whose constants also give 0 for m = 0. */
static inline pit_rq_t pit_rq_make(int32_t m, int32_t shift)
{
    const int32_t rm1 = (int32_t)((uint32_t)(-shift - 1) & 31u);
    const pit_rq_t c = {m, (int32_t)(UINT32_C(1) << (rm1 - 1)), rm1};
    return c;
}

static inline int32_t pit_rq_mul(pit_rq_t c, int32_t x)
{
    const uint32_t lo = UINT32_C(0x40000000) | ((uint32_t)x & UINT32_C(0x80000000));
    const uint32_t hi = (uint32_t)c.ahi + (uint32_t)(x >> 31);
    const int64_t n = (int64_t)(((uint64_t)hi << 32) | lo);
    return (int32_t)((x * (int64_t)c.m + n) >> 32) >> c.rm1;
}

#endif
