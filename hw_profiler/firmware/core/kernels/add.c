/* Residual add, int8 (TFLite rescaling) and float32. */
#include "pit_kernels.h"

#include "pit_quant.h"
#include "pit_simd.h"

/* Below this many elements tabulating the two input terms costs more than it saves (the
 * break-even is about 60 elements on the Cortex-M4, 125 on rv32imc). */
#define PIT_ADD_LUT_MIN 128u
static int32_t g_add_lut[2][256];

/* The tabulated path's output constants (add_one). */
typedef struct {
    int32_t m, c0;
    uint32_t r;
} add_out_t;

/* Twice pit_qm_mul(q, (v - zp) << ls) for every int8 v, into tab[v + 128]. With
 * k = v - zp, x = k 2^ls, M = m 2^ls and e the right shift, that is
 * floor((k M + 2^30 + 2^(30+e) - [k < 0] 2^31) / 2^(31+e)) (no 2^(30+e) and no sign term
 * for e = 0; see pit_rq_mul for the fold), so one 64-bit sum stepped by M per value gives
 * every entry. Needs m >= 0, no left shift and no wrap in (v - zp) << ls (checked by the
 * caller). */
static void add_table(int32_t *tab, int32_t zp, uint32_t ls, int32_t m, uint32_t e)
{
    /* twice the numerator, so that an entry is its high word shifted by e, doubled;
     * unsigned so that the step after the last entry may wrap */
    const uint64_t step = (uint64_t)m << (ls + 1);
    const uint64_t c_pos = (UINT64_C(1) << 31) + (e ? UINT64_C(1) << (31 + e) : 0);
    const uint64_t c_neg = c_pos - (e ? UINT64_C(1) << 32 : 0);
    const int32_t *const end = tab + 256;
    int32_t *const mid = tab + (zp < -128 ? 0 : (zp > 127 ? 256 : zp + 128)); /* v = zp */
    uint64_t acc = (uint64_t)(-128 - (int64_t)zp) * step + c_neg;
#pragma GCC unroll 4
    for (; tab < mid; tab++, acc += step)
        *tab = (int32_t)((uint32_t)((int32_t)(uint32_t)(acc >> 32) >> e) << 1);
    acc = (uint64_t)(int64_t)(mid - end + 128 - zp) * step + c_pos;
#pragma GCC unroll 4
    for (; tab < end; tab++, acc += step)
        *tab = (int32_t)((uint32_t)((int32_t)(uint32_t)(acc >> 32) >> e) << 1);
}

/* pit_qm_mul(q, (v - zp) << ls) for the extreme v (the terms are monotone in v). */
static int64_t add_term_max(const pit_qm_t *q, int32_t zp, uint32_t ls)
{
    int64_t lo = pit_qm_mul(q, (int32_t)((uint32_t)(-128 - zp) << ls));
    int64_t hi = pit_qm_mul(q, (int32_t)((uint32_t)(127 - zp) << ls));
    lo = lo < 0 ? -lo : lo;
    hi = hi < 0 ? -hi : hi;
    return lo > hi ? lo : hi;
}

/* Whether (v - zp) << ls stays in int32 for every int8 v. */
static int add_no_wrap(int32_t zp, uint32_t ls)
{
    const int64_t lo = (-128 - (int64_t)zp) * ((int64_t)1 << ls);
    const int64_t hi = (127 - (int64_t)zp) * ((int64_t)1 << ls);
    return lo >= INT32_MIN && hi <= INT32_MAX;
}

/* The tabulated path's output: with s the sum of the two terms, pit_rq_mul(ro, s) + zp is
 * floor((s m + 2^30 + 2^(30+r) - [s < 0] 2^31 + zp 2^(31+r)) / 2^(31+r)) (pit_quant.h;
 * r = -shift, the zero point folded in as a multiple of the divisor). Doubling numerator
 * and denominator, with s2 = 2s from the doubled tables, it is
 * floor((s2 m + 2^31 + 2^32 (c0 - [s < 0])) / 2^(32+r)), c0 = 2^(r-1) + zp 2^r: the
 * rounded high word of s2 m plus c0 + (s2 >> 31) (one SMMLAR), shifted right by r. The
 * converter's zero multiplier (shift 0) gives zp for any r; it takes r = 2. This is one
 * element; the Cortex-M4 loop below runs the same instructions. */
static inline int32_t add_one(const int32_t *u, const int32_t *w, int8_t a, int8_t b,
                              add_out_t c)
{
    const int32_t s2 = u[a] + w[b];
    return pit_smmlar(s2, c.m, c.c0 + (s2 >> 31)) >> c.r;
}

/* Four elements per step into one word store: per element two LDRSB, two table LDRs, ADD,
 * ADD (the sign term), SMMLAR, ASR, SSAT, and BFI to pack; the activation range, when it is
 * narrower than int8, clamps all four lanes at once (SSUB8 / SEL). Out of line so that the
 * loop gets the whole register file. */
static void __attribute__((noinline))
add_run(const int8_t *a, const int8_t *b, int8_t *y, size_t n, add_out_t c, int32_t lo, int32_t hi)
{
    const int32_t *u = g_add_lut[0] + 128, *w = g_add_lut[1] + 128;
    size_t i = 0;
#if PIT_SIMD_NATIVE
    const int narrow = lo > -128 || hi < 127;
    const uint32_t lohi[2] = {(uint8_t)lo * 0x01010101u, (uint8_t)hi * 0x01010101u};
    uint32_t groups = (uint32_t)(n / 4), t0, t1, acc;
    i = n & ~(size_t)3;
#define PIT_ADD_ELEM(ACC_INSN)                                    \
    "ldrsb  %[t0], [%[a]], #1\n\t"                                \
    "ldrsb  %[t1], [%[b]], #1\n\t"                                \
    "ldr    %[t0], [%[u], %[t0], lsl #2]\n\t"                     \
    "ldr    %[t1], [%[w], %[t1], lsl #2]\n\t"                     \
    "add    %[t0], %[t0], %[t1]\n\t"                              \
    "add    %[t1], %[c0], %[t0], asr #31\n\t"                     \
    "smmlar %[t0], %[t0], %[m], %[t1]\n\t"                        \
    "asr    %[t0], %[t0], %[r]\n\t"                               \
    ACC_INSN "\n\t"
/* Four elements saturated and packed into acc, byte i from element i. */
#define PIT_ADD_GROUP                                                         \
    PIT_ADD_ELEM("ssat   %[acc], #8, %[t0]")                                  \
    PIT_ADD_ELEM("ssat   %[t0], #8, %[t0]\n\tbfi    %[acc], %[t0], #8, #8")   \
    PIT_ADD_ELEM("ssat   %[t0], #8, %[t0]\n\tbfi    %[acc], %[t0], #16, #8")  \
    PIT_ADD_ELEM("ssat   %[t0], #8, %[t0]\n\tbfi    %[acc], %[t0], #24, #8")
    if (groups) {
        if (!narrow)
            __asm__ volatile(
                "1:\n\t"
                PIT_ADD_GROUP
                "str    %[acc], [%[y]], #4\n\t"
                "subs   %[n], %[n], #1\n\t"
                "bne    1b"
                : [a] "+r"(a), [b] "+r"(b), [y] "+r"(y), [n] "+r"(groups), [t0] "=&r"(t0),
                  [t1] "=&r"(t1), [acc] "=&r"(acc)
                : [u] "r"(u), [w] "r"(w), [m] "r"(c.m), [c0] "r"(c.c0), [r] "r"(c.r)
                : "cc", "memory");
        else
            __asm__ volatile(
                "1:\n\t"
                PIT_ADD_GROUP
                "ldr    %[t0], %[lo4]\n\t"
                "ssub8  %[t1], %[acc], %[t0]\n\t"
                "sel    %[acc], %[acc], %[t0]\n\t"
                "ldr    %[t0], %[hi4]\n\t"
                "ssub8  %[t1], %[acc], %[t0]\n\t"
                "sel    %[acc], %[t0], %[acc]\n\t"
                "str    %[acc], [%[y]], #4\n\t"
                "subs   %[n], %[n], #1\n\t"
                "bne    1b"
                : [a] "+r"(a), [b] "+r"(b), [y] "+r"(y), [n] "+r"(groups), [t0] "=&r"(t0),
                  [t1] "=&r"(t1), [acc] "=&r"(acc)
                : [u] "r"(u), [w] "r"(w), [m] "r"(c.m), [c0] "r"(c.c0), [r] "r"(c.r),
                  [lo4] "m"(lohi[0]), [hi4] "m"(lohi[1])
                : "cc", "memory");
    }
#undef PIT_ADD_ELEM
#undef PIT_ADD_GROUP
    a -= i;
    b -= i;
    y -= i;
#endif
    for (; i < n; i++) /* lo and hi are within int8, so this is also the int8 saturation */
        y[i] = pit_clamp_i8(add_one(u, w, a[i], b[i], c), lo, hi);
}

int pit_add_int8_lut(const int8_t *a, const int8_t *b, int8_t *y, size_t n, const pit_add_q_t *q)
{
    const uint32_t ls = (uint32_t)q->left_shift;
    const int32_t lo = q->act_min, hi = q->act_max;
    if (q->m1 < 0 || q->m2 < 0 || q->s1 > 0 || q->s2 > 0 || q->s1 < -31 || q->s2 < -31 ||
        ls > 31u || !pit_rq_ok(q->mo, q->so) || !add_no_wrap(q->in1_zp, ls) ||
        !add_no_wrap(q->in2_zp, ls) || lo < -128 || hi > 127 || lo > hi)
        return 0;
    const pit_qm_t q1 = pit_qm_make(q->m1, q->s1), q2 = pit_qm_make(q->m2, q->s2);
    const int64_t smax = 2 * (add_term_max(&q1, q->in1_zp, ls) + add_term_max(&q2, q->in2_zp, ls));
    if (smax > INT32_MAX) /* the doubled sum would wrap */
        return 0;
    const uint32_t r = q->so ? (uint32_t)-q->so : 2u;
    const int64_t c0 = ((int64_t)1 << (r - 1)) + (int64_t)q->out_zp * ((int64_t)1 << r);
    const int64_t prod = ((smax * q->mo) >> 32) + 1; /* bounds |high word of s2 m + 2^31| */
    if (c0 - 1 - prod < INT32_MIN || c0 + prod > INT32_MAX)
        return 0;
    add_table(g_add_lut[0], q->in1_zp, ls, q->m1, (uint32_t)-q->s1);
    add_table(g_add_lut[1], q->in2_zp, ls, q->m2, (uint32_t)-q->s2);
    const add_out_t c = {q->mo, (int32_t)c0, r};
    add_run(a, b, y, n, c, lo, hi);
    return 1;
}

void pit_add_int8(const int8_t *a, const int8_t *b, int8_t *y, size_t n, const pit_add_q_t *q)
{
    const uint32_t ls = (uint32_t)q->left_shift;
    if (q->m1 == INT32_MIN || q->m2 == INT32_MIN || q->mo == INT32_MIN || ls > 31u ||
        !pit_shift_ok(q->s1) || !pit_shift_ok(q->s2) || !pit_shift_ok(q->so)) {
        /* Only a hand-made model gets here: the converter's multipliers are in
         * [2^30, 2^31) and its left shift is 20. */
        for (size_t i = 0; i < n; i++) {
            int32_t x1 = (int32_t)((uint32_t)(a[i] - q->in1_zp) << q->left_shift);
            int32_t x2 = (int32_t)((uint32_t)(b[i] - q->in2_zp) << q->left_shift);
            int32_t s = pit_mbqm(x1, q->m1, q->s1) + pit_mbqm(x2, q->m2, q->s2);
            y[i] = pit_clamp_i8(pit_mbqm(s, q->mo, q->so) + q->out_zp, q->act_min, q->act_max);
        }
        return;
    }
    if (n >= PIT_ADD_LUT_MIN && pit_add_int8_lut(a, b, y, n, q))
        return;
    const pit_qm_t q1 = pit_qm_make(q->m1, q->s1), q2 = pit_qm_make(q->m2, q->s2);
    const pit_qm_t qo = pit_qm_make(q->mo, q->so);
    const int32_t zp = q->out_zp, lo = q->act_min, hi = q->act_max;
    for (size_t i = 0; i < n; i++) {
        const int32_t x1 = (int32_t)((uint32_t)(a[i] - q->in1_zp) << ls);
        const int32_t x2 = (int32_t)((uint32_t)(b[i] - q->in2_zp) << ls);
        const int32_t s = (int32_t)((uint32_t)pit_qm_mul(&q1, x1) + (uint32_t)pit_qm_mul(&q2, x2));
        y[i] = pit_clamp_i8(pit_qm_mul(&qo, s) + zp, lo, hi);
    }
}

void pit_add_f32(const float *a, const float *b, float *y, size_t n, float act_min, float act_max)
{
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        v = v < act_min ? act_min : v;
        y[i] = v > act_max ? act_max : v;
    }
}
