#include "pit_kernels.h"

#include <string.h>

#include "pit_quant.h"
#include "pit_simd.h"

/* Column buffer layout (int16), K = k * cin, K4 = K / 4 groups, Kt = K % 4:
 *   groups: for g < K4, 4 words: [a02 b02 a13 b13] where a is step t and b is step t+1, and
 *           a02 / a13 are elements (4g, 4g+2) / (4g+1, 4g+3) packed as int16 pairs -- the
 *           order SXTB16 / SXTB16 ROR 8 produce from 4 packed int8 weights, so the MAC loop
 *           needs no shuffling, and one pointer walks both time steps with two LDRDs;
 *   tail:   Kt int16 of a, then Kt int16 of b (natural order, scalar loop). */
size_t pit_conv_int8_scratch_bytes(uint16_t cin, uint16_t k)
{
    return 4u * (size_t)cin * k; /* 16 bytes per group of 4 + 2 x int16 per tail element */
}

size_t pit_conv_f32_scratch_bytes(uint16_t cin, uint16_t k)
{
    return 2u * (size_t)cin * k * sizeof(float);
}

/* Gather the dilated input column of output step t as int16 (x - in_zp, so the zero
 * padding on either side is 0) into slot `b` (0 = a, 1 = b) of the column buffer. Done
 * once per time step and shared by all output channels: dilation and stride only change
 * the source rows. */
static void gather_q7(const pit_conv_q_t *p, int t, int16_t *col, int b)
{
    const int cin = p->cin, k = p->k, d = p->d, T = p->T;
    const int K = cin * k, K4 = K >> 2, Kt = K & 3;
    const int64_t first = (int64_t)t * p->stride - p->pad_left; /* input row of tap 0 */
    if ((cin & 3) == 0) {
        const uint32_t off = (uint32_t)(uint16_t)(int16_t)(-p->in_zp) * 0x00010001u;
        uint32_t *out = (uint32_t *)(void *)col + b;
        for (int j = 0; j < k; j++) {
            const int64_t ts = first + (int64_t)j * d; /* 64-bit: no overflow for huge d */
            if (ts < 0 || ts >= T) {
                for (int n = cin >> 2; n; n--) {
                    out[0] = 0;
                    out[2] = 0;
                    out += 4;
                }
                continue;
            }
            const int8_t *src = p->x + (size_t)ts * cin;
            for (int n = cin >> 2; n; n--) {
                uint32_t v = pit_read32(src);
                src += 4;
                out[0] = pit_sadd16(pit_sxtb16(v), off);
                out[2] = pit_sadd16(pit_sxtb16_ror8(v), off);
                out += 4;
            }
        }
        return;
    }
    static const uint8_t pos[4] = {0, 4, 1, 5}; /* element r of a group -> int16 slot */
    int16_t *tail = col + 8 * K4 + b * Kt;
    int i = 0;
    for (int j = 0; j < k; j++) {
        const int64_t ts = first + (int64_t)j * d;
        const int8_t *src = ts >= 0 && ts < T ? p->x + (size_t)ts * cin : NULL;
        for (int c = 0; c < cin; c++, i++) {
            int16_t v = src ? (int16_t)(src[c] - p->in_zp) : 0;
            if (i < 4 * K4)
                col[8 * (i >> 2) + 2 * b + pos[i & 3]] = v;
            else
                tail[i - 4 * K4] = v;
        }
    }
}

/* Requantisation constants copied out of the parameter struct: int8 stores may alias
 * anything, so reading them through `p` would reload every field after every store. */
typedef struct {
    const int32_t *mult, *shift;
    int32_t out_zp, act_min, act_max;
} rq_t;

static inline int8_t rq(const rq_t *q, int32_t acc, int o)
{
    return pit_clamp_i8(pit_mbqm(acc, q->mult[o], q->shift[o]) + q->out_zp, q->act_min,
                        q->act_max);
}

/* Out of line: after the MAC loop every register is taken; a call gives the requantisation
 * a clean register file and loads each channel's multiplier/shift once for both steps. */
static void __attribute__((noinline))
rq_2x2(const rq_t *q, int o, int32_t a00, int32_t a01, int32_t a10, int32_t a11, int8_t *y0,
       int8_t *y1)
{
    const int32_t m0 = q->mult[o], s0 = q->shift[o], m1 = q->mult[o + 1], s1 = q->shift[o + 1];
    const int32_t zp = q->out_zp, lo = q->act_min, hi = q->act_max;
    y0[o] = pit_clamp_i8(pit_mbqm(a00, m0, s0) + zp, lo, hi);
    y1[o] = pit_clamp_i8(pit_mbqm(a01, m0, s0) + zp, lo, hi);
    y0[o + 1] = pit_clamp_i8(pit_mbqm(a10, m1, s1) + zp, lo, hi);
    y1[o + 1] = pit_clamp_i8(pit_mbqm(a11, m1, s1) + zp, lo, hi);
}

void pit_conv_int8(const pit_conv_q_t *p, int co0, int co1, int16_t *col)
{
    const int T = p->T_out, cout = p->cout;
    const int K = p->cin * p->k, K4 = K >> 2, Kt = K & 3;
    const int16_t *ta = col + 8 * K4, *tb = ta + Kt;
    const rq_t q = {p->mult, p->shift, p->out_zp, p->act_min, p->act_max};
    const int8_t *const w = p->w;
    const int32_t *const bias = p->bias;
    const uint32_t *cend = (const uint32_t *)(const void *)col + 4 * K4;
    for (int t = 0; t < T; t += 2) {
        const int two = t + 1 < T;
        gather_q7(p, t, col, 0);
        if (two)
            gather_q7(p, t + 1, col, 1);
        int8_t *y0 = p->y + (size_t)t * cout, *y1 = y0 + cout;
        int o = co0;
        if (two) {
            /* 2 output channels x 2 time steps: every weight word and column word loaded
             * feeds two SMLADs (16 MACs per 6 loads, 4 SXTB16, 8 SMLAD). */
            for (; o + 1 < co1; o += 2) {
                const int8_t *wa = w + (size_t)o * K;
                const uint32_t *pc = (const uint32_t *)(const void *)col;
                int32_t b0 = bias ? bias[o] : 0, b1 = bias ? bias[o + 1] : 0;
                int32_t a00 = b0, a01 = b0, a10 = b1, a11 = b1;
#if PIT_SIMD_NATIVE
                if (K4) {
                    /* Hand-scheduled: 18 instructions per 16 MACs, no spills. */
                    uint32_t w0, w1, t0, t1, x0, x1;
                    int n = K4;
                    __asm__ volatile(
                        "1:\n\t"
                        "ldr    %[w1], [%[wa], %[K]]\n\t"
                        "ldr    %[w0], [%[wa]], #4\n\t"
                        "ldrd   %[x0], %[x1], [%[pc]], #8\n\t"
                        "sxtb16 %[t0], %[w0]\n\t"
                        "sxtb16 %[t1], %[w1]\n\t"
                        "smlad  %[a00], %[t0], %[x0], %[a00]\n\t"
                        "smlad  %[a01], %[t0], %[x1], %[a01]\n\t"
                        "smlad  %[a10], %[t1], %[x0], %[a10]\n\t"
                        "smlad  %[a11], %[t1], %[x1], %[a11]\n\t"
                        "ldrd   %[x0], %[x1], [%[pc]], #8\n\t"
                        "sxtb16 %[w0], %[w0], ror #8\n\t"
                        "sxtb16 %[w1], %[w1], ror #8\n\t"
                        "smlad  %[a00], %[w0], %[x0], %[a00]\n\t"
                        "smlad  %[a01], %[w0], %[x1], %[a01]\n\t"
                        "smlad  %[a10], %[w1], %[x0], %[a10]\n\t"
                        "smlad  %[a11], %[w1], %[x1], %[a11]\n\t"
                        "subs   %[n], %[n], #1\n\t"
                        "bne    1b\n\t"
                        : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                          [wa] "+r"(wa), [pc] "+r"(pc), [n] "+r"(n), [w0] "=&r"(w0),
                          [w1] "=&r"(w1), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(x0),
                          [x1] "=&r"(x1)
                        : [K] "r"(K)
                        : "cc", "memory");
                }
#else
                while (pc != cend) {
                    uint32_t wva = pit_read32(wa), wvb = pit_read32(wa + K);
                    wa += 4;
                    uint32_t wa02 = pit_sxtb16(wva), wb02 = pit_sxtb16(wvb);
                    a00 = pit_smlad(wa02, pc[0], a00);
                    a01 = pit_smlad(wa02, pc[1], a01);
                    a10 = pit_smlad(wb02, pc[0], a10);
                    a11 = pit_smlad(wb02, pc[1], a11);
                    uint32_t wa13 = pit_sxtb16_ror8(wva), wb13 = pit_sxtb16_ror8(wvb);
                    a00 = pit_smlad(wa13, pc[2], a00);
                    a01 = pit_smlad(wa13, pc[3], a01);
                    a10 = pit_smlad(wb13, pc[2], a10);
                    a11 = pit_smlad(wb13, pc[3], a11);
                    pc += 4;
                }
#endif
                for (int r = 0; r < Kt; r++) {
                    int32_t xa = ta[r], xb = tb[r], wra = wa[r], wrb = wa[K + r];
                    a00 += wra * xa;
                    a01 += wra * xb;
                    a10 += wrb * xa;
                    a11 += wrb * xb;
                }
                rq_2x2(&q, o, a00, a01, a10, a11, y0, y1);
            }
            for (; o < co1; o++) {
                const int8_t *wa = w + (size_t)o * K;
                const uint32_t *pc = (const uint32_t *)(const void *)col;
                int32_t a0 = bias ? bias[o] : 0, a1 = a0;
                while (pc != cend) {
                    uint32_t wv = pit_read32(wa);
                    wa += 4;
                    uint32_t w02 = pit_sxtb16(wv), w13 = pit_sxtb16_ror8(wv);
                    a0 = pit_smlad(w02, pc[0], a0);
                    a0 = pit_smlad(w13, pc[2], a0);
                    a1 = pit_smlad(w02, pc[1], a1);
                    a1 = pit_smlad(w13, pc[3], a1);
                    pc += 4;
                }
                for (int r = 0; r < Kt; r++) {
                    a0 += wa[r] * ta[r];
                    a1 += wa[r] * tb[r];
                }
                y0[o] = rq(&q, a0, o);
                y1[o] = rq(&q, a1, o);
            }
        } else {
            for (; o < co1; o++) {
                const int8_t *wa = w + (size_t)o * K;
                const uint32_t *pc = (const uint32_t *)(const void *)col;
                int32_t a0 = bias ? bias[o] : 0;
                while (pc != cend) {
                    uint32_t wv = pit_read32(wa);
                    wa += 4;
                    a0 = pit_smlad(pit_sxtb16(wv), pc[0], a0);
                    a0 = pit_smlad(pit_sxtb16_ror8(wv), pc[2], a0);
                    pc += 4;
                }
                for (int r = 0; r < Kt; r++)
                    a0 += wa[r] * ta[r];
                y0[o] = rq(&q, a0, o);
            }
        }
    }
}

static void gather_f32(const pit_conv_f32_t *p, int t, float *col)
{
    const int cin = p->cin, k = p->k, d = p->d;
    const int64_t first = (int64_t)t * p->stride - p->pad_left;
    for (int j = 0; j < k; j++, col += cin) {
        const int64_t ts = first + (int64_t)j * d; /* 64-bit: no overflow for huge d */
        if (ts < 0 || ts >= p->T) {
            for (int c = 0; c < cin; c++)
                col[c] = 0.0f;
        } else {
            const float *src = p->x + (size_t)ts * cin;
            for (int c = 0; c < cin; c++)
                col[c] = src[c];
        }
    }
}

static inline float clampf(float v, float lo, float hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* Same structure as the int8 kernel: two gathered columns (steps t, t+1) and a 2 output
 * channels x 2 time steps block, so each loaded weight and input feeds two MACs. */
void pit_conv_f32(const pit_conv_f32_t *p, int co0, int co1, float *scratch)
{
    const int K = p->cin * p->k, cout = p->cout;
    float *c0 = scratch, *c1 = scratch + K;
    for (int t = 0; t < p->T_out; t += 2) {
        const int two = t + 1 < p->T_out;
        gather_f32(p, t, c0);
        if (two)
            gather_f32(p, t + 1, c1);
        else
            for (int i = 0; i < K; i++)
                c1[i] = 0.0f;
        float *y0 = p->y + (size_t)t * cout, *y1 = y0 + cout;
        int o = co0;
        for (; o + 1 < co1; o += 2) {
            const float *wa = p->w + (size_t)o * K, *wb = wa + K;
            float a00 = 0.0f, a01 = 0.0f, a10 = 0.0f, a11 = 0.0f;
            for (int i = 0; i < K; i++) {
                const float x0 = c0[i], x1 = c1[i], u = wa[i], v = wb[i];
                a00 += u * x0;
                a01 += u * x1;
                a10 += v * x0;
                a11 += v * x1;
            }
            const float b0 = p->bias ? p->bias[o] : 0.0f, b1 = p->bias ? p->bias[o + 1] : 0.0f;
            y0[o] = clampf(b0 + a00, p->act_min, p->act_max);
            y0[o + 1] = clampf(b1 + a10, p->act_min, p->act_max);
            if (two) {
                y1[o] = clampf(b0 + a01, p->act_min, p->act_max);
                y1[o + 1] = clampf(b1 + a11, p->act_min, p->act_max);
            }
        }
        for (; o < co1; o++) {
            const float *wa = p->w + (size_t)o * K;
            float a0 = 0.0f, a1 = 0.0f;
            for (int i = 0; i < K; i++) {
                a0 += wa[i] * c0[i];
                a1 += wa[i] * c1[i];
            }
            const float b0 = p->bias ? p->bias[o] : 0.0f;
            y0[o] = clampf(b0 + a0, p->act_min, p->act_max);
            if (two)
                y1[o] = clampf(b0 + a1, p->act_min, p->act_max);
        }
    }
}

void pit_avgpool_int8(const int8_t *x, int8_t *y, int T, int C, int k, int s, int32_t act_min,
                      int32_t act_max)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const int8_t *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            int32_t acc = 0;
            for (int j = 0; j < k; j++)
                acc += src[(size_t)j * C + c];
            /* TFLite: round half away from zero */
            acc = acc > 0 ? (acc + k / 2) / k : (acc - k / 2) / k;
            y[(size_t)t * C + c] = pit_clamp_i8(acc, act_min, act_max);
        }
    }
}

void pit_maxpool_int8(const int8_t *x, int8_t *y, int T, int C, int k, int s, int32_t act_min,
                      int32_t act_max)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const int8_t *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            int32_t m = -128;
            for (int j = 0; j < k; j++) {
                int32_t v = src[(size_t)j * C + c];
                m = v > m ? v : m;
            }
            y[(size_t)t * C + c] = pit_clamp_i8(m, act_min, act_max);
        }
    }
}

void pit_avgpool_f32(const float *x, float *y, int T, int C, int k, int s)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const float *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            float acc = 0.0f;
            for (int j = 0; j < k; j++)
                acc += src[(size_t)j * C + c];
            y[(size_t)t * C + c] = acc / (float)k;
        }
    }
}

void pit_maxpool_f32(const float *x, float *y, int T, int C, int k, int s)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const float *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            float m = src[c];
            for (int j = 1; j < k; j++) {
                float v = src[(size_t)j * C + c];
                m = v > m ? v : m;
            }
            y[(size_t)t * C + c] = m;
        }
    }
}

void pit_add_int8(const int8_t *a, const int8_t *b, int8_t *y, size_t n, const pit_add_q_t *q)
{
    for (size_t i = 0; i < n; i++) {
        int32_t x1 = (int32_t)((uint32_t)(a[i] - q->in1_zp) << q->left_shift);
        int32_t x2 = (int32_t)((uint32_t)(b[i] - q->in2_zp) << q->left_shift);
        int32_t s = pit_mbqm(x1, q->m1, q->s1) + pit_mbqm(x2, q->m2, q->s2);
        y[i] = pit_clamp_i8(pit_mbqm(s, q->mo, q->so) + q->out_zp, q->act_min, q->act_max);
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

void pit_split_channels(int cout, int n_cores, int core, int *start, int *end)
{
    if (n_cores < 1 || core < 0 || core >= n_cores || cout <= 0) {
        *start = *end = 0;
        return;
    }
    const int pairs = (cout + 1) / 2, base = pairs / n_cores, rem = pairs % n_cores;
    const int count = base + (core < rem ? 1 : 0);
    const int first = core * base + (core < rem ? core : rem);
    int s = 2 * first, e = 2 * (first + count);
    *start = s < cout ? s : cout;
    *end = e < cout ? e : cout;
}
