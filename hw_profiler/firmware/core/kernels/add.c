/* Residual add, int8 (TFLite rescaling) and float32. */
#include "pit_kernels.h"

#include <string.h>

#include "pit_quant.h"

/* Below this many elements tabulating the two input terms costs more than it saves. */
#define PIT_ADD_LUT_MIN 256u
static int32_t g_add_lut[2][256];

/* Out of line so the loop gets the whole register file: the output requantisation
 * (pit_rq_mul, one SMLAL and one shift) of the summed table terms. */
static void __attribute__((noinline))
add_lut(const int8_t *a, const int8_t *b, int8_t *y, size_t n, pit_rq_t ro, int32_t zp,
        int32_t lo, int32_t hi)
{
    const int32_t *t1 = g_add_lut[0] + 128, *t2 = g_add_lut[1] + 128;
    for (size_t i = 0; i < n; i++) {
        const int32_t s = (int32_t)((uint32_t)t1[a[i]] + (uint32_t)t2[b[i]]);
        y[i] = pit_clamp_i8(pit_rq_mul(ro, s) + zp, lo, hi);
    }
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
    const pit_qm_t q1 = pit_qm_make(q->m1, q->s1), q2 = pit_qm_make(q->m2, q->s2);
    const pit_qm_t qo = pit_qm_make(q->mo, q->so);
    const int32_t zp = q->out_zp, lo = q->act_min, hi = q->act_max;
    if (n >= PIT_ADD_LUT_MIN && pit_rq_ok(q->mo, q->so)) {
        /* Each input's rescaled term depends on its int8 value alone: tabulate both
         * (512 multiplications) and leave one multiplication per element (the
         * converter's output shift is a right shift, which pit_rq_mul takes). */
        for (int v = -128; v < 128; v++) {
            g_add_lut[0][v + 128] =
                pit_qm_mul(&q1, (int32_t)((uint32_t)(v - q->in1_zp) << ls));
            g_add_lut[1][v + 128] =
                pit_qm_mul(&q2, (int32_t)((uint32_t)(v - q->in2_zp) << ls));
        }
        add_lut(a, b, y, n, pit_rq_make(q->mo, q->so), zp, lo, hi);
        return;
    }
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
