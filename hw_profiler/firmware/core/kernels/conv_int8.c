/* int8 Conv1d / Linear: the column path (gathered int16 columns, 2x2 blocks), the small
 * path (k * C_in <= 32: per-call channel records, a padded input window, one channel x
 * 2 steps per SMLAD run), the direct path (input rows read in place), and the split of
 * output channels over cores. */
#include "pit_kernels.h"

#include <string.h>

#include "pit_quant.h"
#include "pit_simd.h"

/* Column buffer layout (int16), K = k * cin, K4 = K / 4 groups, Kt = K % 4:
 *   groups: for g < K4, 4 words: [a02 b02 a13 b13] where a is step t and b is step t+1, and
 *           a02 / a13 are elements (4g, 4g+2) / (4g+1, 4g+3) packed as int16 pairs -- the
 *           order SXTB16 / SXTB16 ROR 8 produce from 4 packed int8 weights, so the MAC loop
 *           needs no shuffling, and one pointer walks both time steps with two LDRDs;
 *   tail:   Kt words [a b]: element 4 K4 + i of both steps as one int16 pair, so one load
 *           feeds both steps (SMLABB / SMLABT). */
size_t pit_conv_int8_scratch_bytes(uint16_t cin, uint16_t k)
{
    return 4u * (size_t)cin * k; /* 16 bytes per group of 4 + 4 bytes per tail element */
}

/* Whether a layer takes the direct path rather than the column one, as measured on the
 * Cortex-M4 (docs/firmware.md): with fewer than 4 output channels a gathered column is
 * shared by too few dot products to pay for itself. */
#define PIT_CONV_DIRECT(p) ((p)->cout < 4)

/* Taps j0 <= j < j1 of the output step whose tap 0 reads input row `first` fall inside
 * [0, T); they always form one run. 64-bit: no overflow for huge d. */
static inline void tap_range(const pit_conv_q_t *p, int64_t first, int *j0, int *j1)
{
    const int64_t d = p->d, T = p->T, k = p->k;
    if (first >= 0 && first + (k - 1) * d < T) { /* interior: no division */
        *j0 = 0;
        *j1 = (int)k;
        return;
    }
    int64_t a, e;
    if (first > -(INT64_C(1) << 31) && first < T) {
        /* 32-bit divisions (one UDIV each on Cortex-M4, no library call) */
        const uint32_t ud = (uint32_t)d;
        a = first >= 0 ? 0 : ((uint32_t)-first + ud - 1u) / ud;
        e = (uint32_t)(T - 1 - first) / ud + 1u;
    } else {
        a = first >= 0 ? 0 : (-first + d - 1) / d;
        e = first > T - 1 ? 0 : (T - 1 - first) / d + 1;
    }
    e = e > k ? k : e;
    a = a > e ? e : a;
    *j0 = (int)a;
    *j1 = (int)e;
}

/* Byte stream into the column's groups: r bytes (r < 4) wait in pend. */
typedef struct {
    uint32_t *out;
    uint32_t pend;
    unsigned r;
    uint32_t off; /* -in_zp in both int16 lanes */
    uint32_t pad; /* the padding byte, in_zp */
} col_stream_t;

static inline __attribute__((always_inline)) void
col_word(col_stream_t *st, uint32_t w)
{
    st->out[0] = pit_sadd16(pit_sxtb16(w), st->off);
    st->out[2] = pit_sadd16(pit_sxtb16_ror8(w), st->off);
    st->out += 4;
}

static inline __attribute__((always_inline)) void
col_byte(col_stream_t *st, uint32_t v)
{
    st->pend |= v << (8u * st->r);
    if (++st->r == 4) {
        col_word(st, st->pend);
        st->pend = 0;
        st->r = 0;
    }
}

static inline __attribute__((always_inline)) void
col_row(col_stream_t *st, const int8_t *src, int n)
{
    if (st->r == 0) {
        for (; n >= 4; n -= 4, src += 4)
            col_word(st, pit_read32(src));
    } else {
        const unsigned sl = 8u * st->r, sr = 32u - sl;
        for (; n >= 4; n -= 4, src += 4) {
            const uint32_t v = pit_read32(src);
            col_word(st, st->pend | (v << sl));
            st->pend = v >> sr;
        }
    }
    for (; n; n--)
        col_byte(st, (uint8_t)*src++);
}

/* n padding bytes: they convert to 0, so whole groups are plain zero stores. */
static inline __attribute__((always_inline)) void
col_pad(col_stream_t *st, uint32_t n)
{
    for (; n && st->r; n--)
        col_byte(st, st->pad);
    for (; n >= 4; n -= 4) {
        st->out[0] = 0;
        st->out[2] = 0;
        st->out += 4;
    }
    for (; n; n--)
        col_byte(st, st->pad);
}

/* Gather the dilated input column of output step t as int16 (x - in_zp, so the zero
 * padding on either side is 0) into slot `b` (0 = a, 1 = b) of the column buffer, for the
 * columns the pair gathers below do not take (C_in % 4 != 0 and wider than the offsets
 * table, or offsets beyond 16 bits). Done once per time step and shared by all output
 * channels: dilation and stride only change the source rows. */
static void gather_q7(const pit_conv_q_t *p, int t, int16_t *col, int b)
{
    const int cin = p->cin, k = p->k, d = p->d, T = p->T;
    const int K = cin * k, K4 = K >> 2;
    const int64_t first = (int64_t)t * p->stride - p->pad_left; /* input row of tap 0 */
    const uint32_t off = (uint32_t)(uint16_t)(int16_t)(-p->in_zp) * 0x00010001u;
    int j0, j1;
    tap_range(p, first, &j0, &j1);
    if (p->in_zp < -128 || p->in_zp > 127) {
        /* padding bytes equal to in_zp cannot be int8: element by element */
        static const uint8_t pos[4] = {0, 4, 1, 5}; /* element r of a group -> int16 slot */
        int16_t *tail = col + 8 * K4 + b;
        int i = 0;
        for (int j = 0; j < k; j++) {
            const int64_t ts = first + (int64_t)j * d;
            const int8_t *src = ts >= 0 && ts < T ? p->x + (size_t)ts * cin : NULL;
            for (int c = 0; c < cin; c++, i++) {
                const int16_t v = src ? (int16_t)(src[c] - p->in_zp) : 0;
                if (i < 4 * K4)
                    col[8 * (i >> 2) + 2 * b + pos[i & 3]] = v;
                else
                    tail[2 * (i - 4 * K4)] = v;
            }
        }
        return;
    }
    /* the k rows (padding rows as cin bytes equal to in_zp, which become 0) are streamed
     * as one byte sequence; whole words are read from each row and spliced onto the r
     * bytes left over from the previous rows, and every complete word becomes one group.
     * Only the last cin % 4 bytes of a row are read one by one, so no read goes past the
     * row. Padding taps (before j0, from j1 on) are appended in bulk. */
    col_stream_t st = {(uint32_t *)(void *)col + b, 0, 0, off, (uint32_t)(uint8_t)p->in_zp};
    col_pad(&st, (uint32_t)j0 * cin);
    if (j0 < j1) {
        const int8_t *src = p->x + (size_t)(first + (int64_t)j0 * d) * cin;
        const size_t step = (size_t)d * cin;
        for (int j = j0; j < j1; j++, src += step)
            col_row(&st, src, cin);
    }
    col_pad(&st, (uint32_t)(k - j1) * cin);
    int16_t *tail = col + 8 * K4 + b; /* st.r == Kt bytes left */
    for (unsigned i = 0; i < st.r; i++)
        tail[2 * i] = (int16_t)((int8_t)(st.pend >> (8u * i)) - p->in_zp);
}

/* Steps t and t + 1, every tap in range, whole-word rows (C_in % 4 == 0): rows of both
 * steps converted in one pass, the group's four words stored as two pairs (per 4
 * elements of both steps: 2 loads, 4 SXTB16, 4 SADD16, 2 STRD on ARMv7E-M). */
static void gather_rows2(const int8_t *xa, const int8_t *xb, uint32_t *out, int k, int n4,
                         size_t skip, uint32_t off)
{
#if PIT_SIMD_NATIVE
    uint32_t n, va, vb, t0, t1;
    __asm__ volatile(
        "1:\n\t"
        "mov    %[n], %[n4]\n\t"
        "2:\n\t"
        "ldr    %[va], [%[xa]], #4\n\t"
        "ldr    %[vb], [%[xb]], #4\n\t"
        "sxtb16 %[t0], %[va]\n\t"
        "sxtb16 %[t1], %[vb]\n\t"
        "sadd16 %[t0], %[t0], %[off]\n\t"
        "sadd16 %[t1], %[t1], %[off]\n\t"
        "strd   %[t0], %[t1], [%[out]], #8\n\t"
        "sxtb16 %[va], %[va], ror #8\n\t"
        "sxtb16 %[vb], %[vb], ror #8\n\t"
        "sadd16 %[va], %[va], %[off]\n\t"
        "sadd16 %[vb], %[vb], %[off]\n\t"
        "strd   %[va], %[vb], [%[out]], #8\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    2b\n\t"
        "add    %[xa], %[xa], %[skip]\n\t"
        "add    %[xb], %[xb], %[skip]\n\t"
        "subs   %[k], %[k], #1\n\t"
        "bne    1b\n\t"
        : [xa] "+r"(xa), [xb] "+r"(xb), [out] "+r"(out), [k] "+r"(k), [n] "=&r"(n),
          [va] "=&r"(va), [vb] "=&r"(vb), [t0] "=&r"(t0), [t1] "=&r"(t1)
        : [n4] "r"(n4), [skip] "r"(skip), [off] "r"(off)
        : "cc", "memory");
#else
    for (; k; k--, xa += skip, xb += skip) {
        for (int n = n4; n; n--, out += 4) {
            const uint32_t va = pit_read32(xa), vb = pit_read32(xb);
            xa += 4;
            xb += 4;
            out[0] = pit_sadd16(pit_sxtb16(va), off);
            out[1] = pit_sadd16(pit_sxtb16(vb), off);
            out[2] = pit_sadd16(pit_sxtb16_ror8(va), off);
            out[3] = pit_sadd16(pit_sxtb16_ror8(vb), off);
        }
    }
#endif
}

/* Steps t and t + 1, every tap in range, any C_in: element e of a step's column is the
 * input byte at offs[e] from the step's first row (offsets made once per call), read for
 * both steps in one pass (per 4 elements of both steps: 4 LDRH, 8 LDRSB, 4 PKHBT,
 * 4 SADD16, 2 STRD on ARMv7E-M); the K % 4 tail elements become [a b] pairs. */
#define PIT_OFFS 128

static void gather_offs2(const int8_t *xa, const int8_t *xb, const uint16_t *offs, int16_t *col,
                         int K4, int Kt, uint32_t off)
{
    uint32_t *out = (uint32_t *)(void *)col;
#if PIT_SIMD_NATIVE
    if (K4) {
        uint32_t o, v0, v1, v2, v3;
        int n = K4;
        __asm__ volatile(
            "1:\n\t"
            "ldrh   %[o], [%[offs]]\n\t"
            "ldrsb  %[v0], [%[xa], %[o]]\n\t"
            "ldrsb  %[v1], [%[xb], %[o]]\n\t"
            "ldrh   %[o], [%[offs], #4]\n\t"
            "ldrsb  %[v2], [%[xa], %[o]]\n\t"
            "ldrsb  %[v3], [%[xb], %[o]]\n\t"
            "pkhbt  %[v0], %[v0], %[v2], lsl #16\n\t"
            "pkhbt  %[v1], %[v1], %[v3], lsl #16\n\t"
            "sadd16 %[v0], %[v0], %[off]\n\t"
            "sadd16 %[v1], %[v1], %[off]\n\t"
            "strd   %[v0], %[v1], [%[out]], #8\n\t"
            "ldrh   %[o], [%[offs], #2]\n\t"
            "ldrsb  %[v0], [%[xa], %[o]]\n\t"
            "ldrsb  %[v1], [%[xb], %[o]]\n\t"
            "ldrh   %[o], [%[offs], #6]\n\t"
            "ldrsb  %[v2], [%[xa], %[o]]\n\t"
            "ldrsb  %[v3], [%[xb], %[o]]\n\t"
            "add    %[offs], %[offs], #8\n\t"
            "pkhbt  %[v0], %[v0], %[v2], lsl #16\n\t"
            "pkhbt  %[v1], %[v1], %[v3], lsl #16\n\t"
            "sadd16 %[v0], %[v0], %[off]\n\t"
            "sadd16 %[v1], %[v1], %[off]\n\t"
            "strd   %[v0], %[v1], [%[out]], #8\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [offs] "+r"(offs), [out] "+r"(out), [n] "+r"(n), [o] "=&r"(o), [v0] "=&r"(v0),
              [v1] "=&r"(v1), [v2] "=&r"(v2), [v3] "=&r"(v3)
            : [xa] "r"(xa), [xb] "r"(xb), [off] "r"(off)
            : "cc", "memory");
    }
#else
    for (int n = K4; n; n--, offs += 4, out += 4) {
        const uint32_t a0 = (uint16_t)xa[offs[0]], a1 = (uint16_t)xa[offs[1]];
        const uint32_t a2 = (uint16_t)xa[offs[2]], a3 = (uint16_t)xa[offs[3]];
        const uint32_t b0 = (uint16_t)xb[offs[0]], b1 = (uint16_t)xb[offs[1]];
        const uint32_t b2 = (uint16_t)xb[offs[2]], b3 = (uint16_t)xb[offs[3]];
        out[0] = pit_sadd16(a0 | a2 << 16, off);
        out[1] = pit_sadd16(b0 | b2 << 16, off);
        out[2] = pit_sadd16(a1 | a3 << 16, off);
        out[3] = pit_sadd16(b1 | b3 << 16, off);
    }
#endif
    for (int i = 0; i < Kt; i++)
        out[i] = pit_sadd16((uint16_t)xa[offs[i]] | (uint32_t)(uint16_t)xb[offs[i]] << 16, off);
}

/* gather_rows2() for a pair with taps in the padding (the second step is t again when
 * there is none): taps in range for both steps go through the pair loop, taps in range
 * for one step are converted for that step alone, padding taps are zero groups. */
static void gather_rows2_edge(const pit_conv_q_t *p, int t, int two, int16_t *col, uint32_t off)
{
    const int cin = p->cin, n4 = cin >> 2, k = p->k;
    const int64_t fa = (int64_t)t * p->stride - p->pad_left, fb = two ? fa + p->stride : fa;
    const size_t step = (size_t)p->d * cin;
    int ja0, ja1, jb0, jb1;
    tap_range(p, fa, &ja0, &ja1);
    tap_range(p, fb, &jb0, &jb1);
    const int lo = ja0 > jb0 ? ja0 : jb0, hi = ja1 < jb1 ? ja1 : jb1;
    uint32_t *out = (uint32_t *)(void *)col;
    for (int j = 0; j < k; j++) {
        const int ina = j >= ja0 && j < ja1, inb = j >= jb0 && j < jb1;
        if (ina && inb && j == lo && hi > lo) {
            /* the taps both steps have: one pass */
            const int8_t *xa = p->x + (size_t)(fa + (int64_t)j * p->d) * cin;
            const int8_t *xb = p->x + (size_t)(fb + (int64_t)j * p->d) * cin;
            gather_rows2(xa, xb, out, hi - lo, n4, step - (size_t)cin, off);
            out += 4 * n4 * (hi - lo);
            j = hi - 1;
            continue;
        }
        const int8_t *xa = ina ? p->x + (size_t)(fa + (int64_t)j * p->d) * cin : NULL;
        const int8_t *xb = inb ? p->x + (size_t)(fb + (int64_t)j * p->d) * cin : NULL;
        for (int n = n4; n; n--, out += 4) {
            const uint32_t va = xa ? pit_read32(xa) : 0, vb = xb ? pit_read32(xb) : 0;
            out[0] = xa ? pit_sadd16(pit_sxtb16(va), off) : 0;
            out[1] = xb ? pit_sadd16(pit_sxtb16(vb), off) : 0;
            out[2] = xa ? pit_sadd16(pit_sxtb16_ror8(va), off) : 0;
            out[3] = xb ? pit_sadd16(pit_sxtb16_ror8(vb), off) : 0;
            xa = xa ? xa + 4 : NULL;
            xb = xb ? xb + 4 : NULL;
        }
    }
}

/* Element e of slot b (0 = step t, 1 = step t + 1) in the column layout. */
static inline int16_t *col_elem(int16_t *col, int K4, int e, int b)
{
    static const uint8_t pos[4] = {0, 4, 1, 5}; /* element r of a group -> int16 slot */
    return e < 4 * K4 ? col + 8 * (e >> 2) + 2 * b + pos[e & 3]
                      : col + 8 * K4 + 2 * (e - 4 * K4) + b;
}

/* gather_offs2() for a pair with taps in the padding (the second step is t again when
 * there is none): whole groups inside both steps' in-range elements go through the
 * offsets loop, whole groups in the padding of both are zero stores, and the few groups
 * in between are written element by element. */
static void gather_offs2_edge(const pit_conv_q_t *p, int t, int two, const uint16_t *offs,
                              int16_t *col, uint32_t off)
{
    const int cin = p->cin, K = cin * p->k, K4 = K >> 2;
    const int64_t fa = (int64_t)t * p->stride - p->pad_left, fb = two ? fa + p->stride : fa;
    int ja0, ja1, jb0, jb1;
    tap_range(p, fa, &ja0, &ja1);
    tap_range(p, fb, &jb0, &jb1);
    const int ea0 = ja0 * cin, ea1 = ja1 * cin, eb0 = jb0 * cin, eb1 = jb1 * cin;
    const int lo = ea0 > eb0 ? ea0 : eb0, hi = ea1 < eb1 ? ea1 : eb1;    /* both in range */
    const int zlo = ea0 < eb0 ? ea0 : eb0, zhi = ea1 > eb1 ? ea1 : eb1;  /* either */
    int g0 = (lo + 3) >> 2, g1 = hi >> 2;
    if (g1 < g0)
        g1 = g0;
    /* groups [0, z0) and [z1, K4) are padding in both steps */
    int z0 = zlo >> 2, z1 = (zhi + 3) >> 2;
    z0 = z0 < g0 ? z0 : g0;
    z1 = z1 > g1 ? z1 : g1;
    z1 = z1 < K4 ? z1 : K4;
    uint32_t *out = (uint32_t *)(void *)col;
    for (int g = 0; g < z0; g++)
        out[4 * g] = out[4 * g + 1] = out[4 * g + 2] = out[4 * g + 3] = 0;
    for (int g = z1; g < K4; g++)
        out[4 * g] = out[4 * g + 1] = out[4 * g + 2] = out[4 * g + 3] = 0;
    if (g1 > g0) {
        /* the pointers may lie outside x; only in-range bytes are read through them */
        const int8_t *xa = (const int8_t *)((uintptr_t)p->x + (uintptr_t)(fa * cin));
        const int8_t *xb = (const int8_t *)((uintptr_t)p->x + (uintptr_t)(fb * cin));
        gather_offs2(xa, xb, offs + 4 * g0, col + 8 * g0, g1 - g0, 0, off);
    }
    const int32_t zp = p->in_zp;
    for (int e = 4 * z0; e < K; e++) {
        if (e == 4 * g0)
            e = 4 * g1;
        if (e == 4 * z1 && z1 < K4)
            e = 4 * K4;
        if (e >= K)
            break;
        *col_elem(col, K4, e, 0) =
            (int16_t)(e >= ea0 && e < ea1 ? p->x[fa * cin + offs[e]] - zp : 0);
        *col_elem(col, K4, e, 1) =
            (int16_t)(e >= eb0 && e < eb1 ? p->x[fb * cin + offs[e]] - zp : 0);
    }
}

/* ---- column path ----
 * Per-channel constants (bias, and the requantisation's multiplier and shift terms) are
 * made once per call into a table on the stack, for up to PIT_CHUNK channels at a time;
 * with more channels the steps are gathered once per chunk. */
#define PIT_CHUNK 64

typedef struct {
    int32_t bias, m, ahi, rm1; /* pit_rq_t terms; for a `fast` = 0 call, ahi is the shift */
} chan_t;

typedef struct {
    int32_t zp;
    uint32_t lo4, hi4; /* activation bounds in all 4 byte lanes */
    int32_t lo, hi;
    int fast;          /* every channel takes pit_rq_mul() */
    const int16_t *col;
    int K, K4, Kt;
} col_t;

static inline int8_t rq1(const col_t *c, const chan_t *e, int32_t acc)
{
    const pit_rq_t r = {e->m, e->ahi, e->rm1};
    const int32_t v = c->fast ? pit_rq_mul(r, acc) : pit_mbqm(acc, e->m, e->ahi);
    return pit_clamp_i8(v + c->zp, c->lo, c->hi);
}

/* n pairs of output channels (weights from w, constants from e) at both gathered steps:
 * every weight word and column word loaded feeds two SMLADs (16 MACs per 2 weight loads,
 * 2 LDRD, 4 SXTB16, 8 SMLAD; hand-scheduled on ARMv7E-M, 18 instructions, no spills), the
 * tail pairs feed both steps per load. The portable path, and on ARMv7E-M the layers
 * whose multipliers pit_rq_mul() does not take (col_pairs_asm takes the others). */
static void __attribute__((noinline))
col_pairs(const col_t *c, const chan_t *e, const int8_t *w, int n, int8_t *y0, int8_t *y1)
{
    const int K = c->K, Kt = c->Kt;
    for (; n; n--, e += 2, w += 2 * K, y0 += 2, y1 += 2) {
        const int8_t *wa = w;
        const uint32_t *pc = (const uint32_t *)(const void *)c->col;
        int32_t a00 = e[0].bias, a10 = e[1].bias, a01 = a00, a11 = a10;
#if PIT_SIMD_NATIVE
        if (c->K4) {
            uint32_t w0, w1, t0, t1, x0, x1;
            int k4 = c->K4;
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
                  [wa] "+r"(wa), [pc] "+r"(pc), [n] "+r"(k4), [w0] "=&r"(w0),
                  [w1] "=&r"(w1), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(x0),
                  [x1] "=&r"(x1)
                : [K] "r"(K)
                : "cc", "memory");
        }
#else
        for (int k4 = c->K4; k4; k4--, pc += 4) {
            const uint32_t wva = pit_read32(wa), wvb = pit_read32(wa + K);
            wa += 4;
            const uint32_t wa02 = pit_sxtb16(wva), wb02 = pit_sxtb16(wvb);
            a00 = pit_smlad(wa02, pc[0], a00);
            a01 = pit_smlad(wa02, pc[1], a01);
            a10 = pit_smlad(wb02, pc[0], a10);
            a11 = pit_smlad(wb02, pc[1], a11);
            const uint32_t wa13 = pit_sxtb16_ror8(wva), wb13 = pit_sxtb16_ror8(wvb);
            a00 = pit_smlad(wa13, pc[2], a00);
            a01 = pit_smlad(wa13, pc[3], a01);
            a10 = pit_smlad(wb13, pc[2], a10);
            a11 = pit_smlad(wb13, pc[3], a11);
        }
#endif
        const int16_t *tl = (const int16_t *)(const void *)pc;
        for (int r = 0; r < Kt; r++) {
            const int32_t xa = tl[2 * r], xb = tl[2 * r + 1], wra = wa[r], wrb = wa[K + r];
            a00 += wra * xa;
            a01 += wra * xb;
            a10 += wrb * xa;
            a11 += wrb * xb;
        }
        y0[0] = rq1(c, e, a00);
        y1[0] = rq1(c, e, a01);
        y0[1] = rq1(c, e + 1, a10);
        y1[1] = rq1(c, e + 1, a11);
    }
}

#if PIT_SIMD_NATIVE
/* col_pairs() for a `fast` call on ARMv7E-M as one assembly loop: the MAC loop needs 13
 * registers, so the loop state lives in `s` and is reloaded per block. Per block:
 * 18 instructions per 4 column elements (as col_pairs), 9 per tail element (SMLABB /
 * SMLABT on the [a b] pairs), about 66 for set-up and the four outputs: per output AND,
 * ORR, ADD, SMLAL, ASR (pit_rq_mul), ADD, SSAT; the four results packed into one word
 * (BFI, BFI, PKHBT), clamped to the activation range in all lanes at once (SSUB8 / SEL)
 * and stored as two halfwords. The layout of pairs_t is fixed by the offsets below. */
typedef struct {
    const chan_t *e;  /* 0: constants of the block's first channel */
    const int8_t *w;  /* 4: its weights */
    int8_t *y0, *y1;  /* 8, 12: its outputs at both steps */
    int n;            /* 16: blocks left */
    int K, K4, Kt;    /* 20, 24, 28 */
    const int16_t *col; /* 32 */
    int32_t zp;       /* 36 */
    uint32_t lo4, hi4; /* 40, 44 */
} pairs_t;
/* the offsets the assembly uses (a negative array size stops the build otherwise) */
typedef char pit_pairs_layout[offsetof(pairs_t, K) == 20 && offsetof(pairs_t, col) == 32 &&
                                      offsetof(pairs_t, lo4) == 40 && sizeof(chan_t) == 16 &&
                                      offsetof(chan_t, rm1) == 12
                                  ? 1
                                  : -1];

static void __attribute__((noinline)) col_pairs_asm(pairs_t *s)
{
    uint32_t a00, a01, a10, a11, wa, wb, pc, n, w0, w1, t0, x0, x1;
    __asm__ volatile(
        "0:\n\t"
        "ldr    %[wa], [%[s], #4]\n\t"
        "ldr    %[t0], [%[s], #20]\n\t"
        "add    %[wb], %[wa], %[t0]\n\t"
        "ldr    %[pc], [%[s], #32]\n\t"
        "ldr    %[x0], [%[s], #0]\n\t"
        "ldr    %[a00], [%[x0]]\n\t"
        "ldr    %[a10], [%[x0], #16]\n\t"
        "mov    %[a01], %[a00]\n\t"
        "mov    %[a11], %[a10]\n\t"
        "ldr    %[n], [%[s], #24]\n\t"
        "cmp    %[n], #0\n\t"
        "beq    2f\n\t"
        "1:\n\t"
        "ldr    %[w0], [%[wa]], #4\n\t"
        "ldr    %[w1], [%[wb]], #4\n\t"
        "ldrd   %[x0], %[x1], [%[pc]], #8\n\t"
        "sxtb16 %[t0], %[w0]\n\t"
        "smlad  %[a00], %[t0], %[x0], %[a00]\n\t"
        "smlad  %[a01], %[t0], %[x1], %[a01]\n\t"
        "sxtb16 %[t0], %[w1]\n\t"
        "smlad  %[a10], %[t0], %[x0], %[a10]\n\t"
        "smlad  %[a11], %[t0], %[x1], %[a11]\n\t"
        "ldrd   %[x0], %[x1], [%[pc]], #8\n\t"
        "sxtb16 %[w0], %[w0], ror #8\n\t"
        "smlad  %[a00], %[w0], %[x0], %[a00]\n\t"
        "smlad  %[a01], %[w0], %[x1], %[a01]\n\t"
        "sxtb16 %[w1], %[w1], ror #8\n\t"
        "smlad  %[a10], %[w1], %[x0], %[a10]\n\t"
        "smlad  %[a11], %[w1], %[x1], %[a11]\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    1b\n\t"
        "2:\n\t"
        "ldr    %[n], [%[s], #28]\n\t"
        "cmp    %[n], #0\n\t"
        "beq    4f\n\t"
        "3:\n\t"
        "ldr    %[x0], [%[pc]], #4\n\t"
        "ldrsb  %[w0], [%[wa]], #1\n\t"
        "ldrsb  %[w1], [%[wb]], #1\n\t"
        "smlabb %[a00], %[w0], %[x0], %[a00]\n\t"
        "smlabt %[a01], %[w0], %[x0], %[a01]\n\t"
        "smlabb %[a10], %[w1], %[x0], %[a10]\n\t"
        "smlabt %[a11], %[w1], %[x0], %[a11]\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    3b\n\t"
        "4:\n\t"
        "str    %[wb], [%[s], #4]\n\t"
        "ldr    %[x1], [%[s], #0]\n\t"
        "ldrd   %[w0], %[w1], [%[x1], #4]\n\t"
        "ldr    %[t0], [%[x1], #12]\n\t"
        "and    %[wa], %[a00], #0x80000000\n\t"
        "orr    %[wa], %[wa], #0x40000000\n\t"
        "add    %[wb], %[w1], %[a00], asr #31\n\t"
        "smlal  %[wa], %[wb], %[a00], %[w0]\n\t"
        "asr    %[a00], %[wb], %[t0]\n\t"
        "and    %[wa], %[a01], #0x80000000\n\t"
        "orr    %[wa], %[wa], #0x40000000\n\t"
        "add    %[wb], %[w1], %[a01], asr #31\n\t"
        "smlal  %[wa], %[wb], %[a01], %[w0]\n\t"
        "asr    %[a01], %[wb], %[t0]\n\t"
        "ldrd   %[w0], %[w1], [%[x1], #20]\n\t"
        "ldr    %[t0], [%[x1], #28]\n\t"
        "and    %[wa], %[a10], #0x80000000\n\t"
        "orr    %[wa], %[wa], #0x40000000\n\t"
        "add    %[wb], %[w1], %[a10], asr #31\n\t"
        "smlal  %[wa], %[wb], %[a10], %[w0]\n\t"
        "asr    %[a10], %[wb], %[t0]\n\t"
        "and    %[wa], %[a11], #0x80000000\n\t"
        "orr    %[wa], %[wa], #0x40000000\n\t"
        "add    %[wb], %[w1], %[a11], asr #31\n\t"
        "smlal  %[wa], %[wb], %[a11], %[w0]\n\t"
        "asr    %[a11], %[wb], %[t0]\n\t"
        "add    %[x1], %[x1], #32\n\t"
        "str    %[x1], [%[s], #0]\n\t"
        "ldr    %[w0], [%[s], #36]\n\t"
        "add    %[a00], %[a00], %[w0]\n\t"
        "add    %[a01], %[a01], %[w0]\n\t"
        "add    %[a10], %[a10], %[w0]\n\t"
        "add    %[a11], %[a11], %[w0]\n\t"
        "ssat   %[a00], #8, %[a00]\n\t"
        "ssat   %[a01], #8, %[a01]\n\t"
        "ssat   %[a10], #8, %[a10]\n\t"
        "ssat   %[a11], #8, %[a11]\n\t"
        "bfi    %[a00], %[a10], #8, #8\n\t"
        "bfi    %[a01], %[a11], #8, #8\n\t"
        "pkhbt  %[a00], %[a00], %[a01], lsl #16\n\t"
        "ldrd   %[w0], %[w1], [%[s], #40]\n\t"
        "ssub8  %[t0], %[a00], %[w0]\n\t"
        "sel    %[a00], %[a00], %[w0]\n\t"
        "ssub8  %[t0], %[a00], %[w1]\n\t"
        "sel    %[a00], %[w1], %[a00]\n\t"
        "ldrd   %[w0], %[w1], [%[s], #8]\n\t"
        "strh   %[a00], [%[w0]], #2\n\t"
        "lsr    %[a00], %[a00], #16\n\t"
        "strh   %[a00], [%[w1]], #2\n\t"
        "strd   %[w0], %[w1], [%[s], #8]\n\t"
        "ldr    %[n], [%[s], #16]\n\t"
        "subs   %[n], %[n], #1\n\t"
        "str    %[n], [%[s], #16]\n\t"
        "bne    0b\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11),
          [wa] "=&r"(wa), [wb] "=&r"(wb), [pc] "=&r"(pc), [n] "=&r"(n), [w0] "=&r"(w0),
          [w1] "=&r"(w1), [t0] "=&r"(t0), [x0] "=&r"(x0), [x1] "=&r"(x1)
        : [s] "r"(s)
        : "cc", "memory");
}
#endif

/* The last channel of an odd count at both gathered steps. */
static void col_one(const col_t *c, const chan_t *e, const int8_t *wa, int8_t *y0, int8_t *y1)
{
    const uint32_t *pc = (const uint32_t *)(const void *)c->col;
    int32_t a0 = e->bias, a1 = a0;
    for (int k4 = c->K4; k4; k4--, pc += 4) {
        const uint32_t wv = pit_read32(wa);
        wa += 4;
        const uint32_t w02 = pit_sxtb16(wv), w13 = pit_sxtb16_ror8(wv);
        a0 = pit_smlad(w02, pc[0], a0);
        a1 = pit_smlad(w02, pc[1], a1);
        a0 = pit_smlad(w13, pc[2], a0);
        a1 = pit_smlad(w13, pc[3], a1);
    }
    const int16_t *tl = (const int16_t *)(const void *)pc;
    for (int r = 0; r < c->Kt; r++) {
        a0 += wa[r] * tl[2 * r];
        a1 += wa[r] * tl[2 * r + 1];
    }
    *y0 = rq1(c, e, a0);
    *y1 = rq1(c, e, a1);
}

/* ---- direct path (fewer than 4 output channels): no column ----
 * sum_j w (x - in_zp) = sum_j w x - in_zp sum_j w over the taps inside [0, T): the input
 * rows are read in place, and the zero point comes off through prefix sums of the
 * per-tap weight sums (made once per channel, in the scratch). Four steps share one pass
 * over the taps all four have in range (weights loaded once for the four); the taps only
 * some of them have are added step by step. The taps of a step in range form one run
 * j0 <= j < j1; with d = 1 a run of taps is contiguous in both x and w. int32
 * arithmetic wraps mod 2^32 like the column path, so both give the same bits. */

/* acc[s] += w . (run of step s) for s < 4 over nrun runs of n bytes: weights contiguous,
 * step s's first run at xa + s sx, each next run xskip bytes after the previous one's
 * end (r->nrun counts down). Per 4 bytes: 5 loads, 10 SXTB16, 8 SMLAD for 16 MACs on
 * ARMv7E-M. */
typedef struct {
    int n, nrun;   /* 0, 4 */
    size_t xskip;  /* 8 */
} runs_t;
#if PIT_SIMD_NATIVE
typedef char pit_runs_layout[offsetof(runs_t, xskip) == 8 ? 1 : -1];
#endif

static void __attribute__((noinline))
runs4(const int8_t *w, const int8_t *xa, size_t sx, runs_t *r, int32_t *acc)
{
#if PIT_SIMD_NATIVE
    const int8_t *xb = xa + 2 * sx;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t i, w02, w13, t, u;
    __asm__ volatile(
        "0:\n\t"
        "ldr    %[i], [%[r]]\n\t"
        "lsrs   %[i], %[i], #2\n\t"
        "beq    2f\n\t"
        "1:\n\t"
        "ldr    %[t], [%[w]], #4\n\t"
        "sxtb16 %[w02], %[t]\n\t"
        "sxtb16 %[w13], %[t], ror #8\n\t"
        "ldr    %[t], [%[xa], %[sx]]\n\t"
        "sxtb16 %[u], %[t]\n\t"
        "smlad  %[a1], %[w02], %[u], %[a1]\n\t"
        "sxtb16 %[t], %[t], ror #8\n\t"
        "smlad  %[a1], %[w13], %[t], %[a1]\n\t"
        "ldr    %[t], [%[xa]], #4\n\t"
        "sxtb16 %[u], %[t]\n\t"
        "smlad  %[a0], %[w02], %[u], %[a0]\n\t"
        "sxtb16 %[t], %[t], ror #8\n\t"
        "smlad  %[a0], %[w13], %[t], %[a0]\n\t"
        "ldr    %[t], [%[xb], %[sx]]\n\t"
        "sxtb16 %[u], %[t]\n\t"
        "smlad  %[a3], %[w02], %[u], %[a3]\n\t"
        "sxtb16 %[t], %[t], ror #8\n\t"
        "smlad  %[a3], %[w13], %[t], %[a3]\n\t"
        "ldr    %[t], [%[xb]], #4\n\t"
        "sxtb16 %[u], %[t]\n\t"
        "smlad  %[a2], %[w02], %[u], %[a2]\n\t"
        "sxtb16 %[t], %[t], ror #8\n\t"
        "smlad  %[a2], %[w13], %[t], %[a2]\n\t"
        "subs   %[i], %[i], #1\n\t"
        "bne    1b\n\t"
        "2:\n\t"
        "ldr    %[i], [%[r]]\n\t"
        "ands   %[i], %[i], #3\n\t"
        "beq    4f\n\t"
        "3:\n\t"
        "ldrsb  %[w02], [%[w]], #1\n\t"
        "ldrsb  %[t], [%[xa], %[sx]]\n\t"
        "smlabb %[a1], %[w02], %[t], %[a1]\n\t"
        "ldrsb  %[t], [%[xa]], #1\n\t"
        "smlabb %[a0], %[w02], %[t], %[a0]\n\t"
        "ldrsb  %[t], [%[xb], %[sx]]\n\t"
        "smlabb %[a3], %[w02], %[t], %[a3]\n\t"
        "ldrsb  %[t], [%[xb]], #1\n\t"
        "smlabb %[a2], %[w02], %[t], %[a2]\n\t"
        "subs   %[i], %[i], #1\n\t"
        "bne    3b\n\t"
        "4:\n\t"
        "ldr    %[t], [%[r], #8]\n\t"
        "add    %[xa], %[xa], %[t]\n\t"
        "add    %[xb], %[xb], %[t]\n\t"
        "ldr    %[i], [%[r], #4]\n\t"
        "subs   %[i], %[i], #1\n\t"
        "str    %[i], [%[r], #4]\n\t"
        "bne    0b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w),
          [xa] "+r"(xa), [xb] "+r"(xb), [i] "=&r"(i), [w02] "=&r"(w02), [w13] "=&r"(w13),
          [t] "=&r"(t), [u] "=&r"(u)
        : [sx] "r"(sx), [r] "r"(r)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    for (int nr = r->nrun; nr; nr--, xa += r->xskip) {
        int n = r->n;
        for (; n >= 4; n -= 4, w += 4, xa += 4) {
            const uint32_t wv = pit_read32(w);
            const uint32_t w02 = pit_sxtb16(wv), w13 = pit_sxtb16_ror8(wv);
            for (int s = 0; s < 4; s++) {
                const uint32_t v = pit_read32(xa + s * sx);
                acc[s] = pit_smlad(w02, pit_sxtb16(v), acc[s]);
                acc[s] = pit_smlad(w13, pit_sxtb16_ror8(v), acc[s]);
            }
        }
        for (; n; n--, w++, xa++)
            for (int s = 0; s < 4; s++)
                acc[s] = (int32_t)((uint32_t)acc[s] + (uint32_t)(*w * xa[s * sx]));
    }
#endif
}

/* w . x over n bytes (one step). */
static int32_t dot1(const int8_t *w, const int8_t *x, int n)
{
    int32_t s = 0;
    for (; n >= 4; n -= 4, w += 4, x += 4) {
        const uint32_t wv = pit_read32(w), u = pit_read32(x);
        s = pit_smlad(pit_sxtb16(wv), pit_sxtb16(u), s);
        s = pit_smlad(pit_sxtb16_ror8(wv), pit_sxtb16_ror8(u), s);
    }
    for (; n; n--)
        s = (int32_t)((uint32_t)s + (uint32_t)(*w++ * *x++));
    return s;
}

/* Sum of the weights of taps [a, b) from the prefix sums P (P[j]: taps 0..j). */
static inline uint32_t tap_wsum(const int32_t *P, int a, int b)
{
    return b > a ? (uint32_t)P[b - 1] - (a > 0 ? (uint32_t)P[a - 1] : 0u) : 0u;
}

/* Taps [a, b) of one step whose tap 0 reads input row `first`, all in range. */
static int32_t dot_taps(const pit_conv_q_t *p, const int8_t *w, int64_t first, int a, int b)
{
    const int cin = p->cin;
    if (b <= a)
        return 0;
    const int8_t *x = p->x + (size_t)(first + (int64_t)a * p->d) * cin;
    w += (size_t)a * cin;
    if (p->d == 1)
        return dot1(w, x, (b - a) * cin);
    uint32_t s = 0;
    for (int j = a; j < b; j++, w += cin, x += (size_t)p->d * cin)
        s += (uint32_t)dot1(w, x, cin);
    return (int32_t)s;
}

static void conv_int8_direct(const pit_conv_q_t *p, const col_t *c, int co0, int co1,
                             int32_t *P)
{
    const int cin = p->cin, k = p->k, d = p->d, To = p->T_out, cout = p->cout;
    const int K = cin * k, stride = p->stride;
    const uint32_t zp = (uint32_t)p->in_zp;
    const size_t sx = (size_t)stride * cin;
    /* steps [i0, i1) have every tap in range */
    const int64_t span = (int64_t)(k - 1) * d;
    const int64_t lo0 = ((int64_t)p->pad_left + stride - 1) / stride;
    const int64_t hi0 = ((int64_t)p->T - 1 - span + p->pad_left) / stride + 1;
    const int i0 = (int)(lo0 < To ? lo0 : To), i1 = (int)(hi0 < i0 ? i0 : (hi0 < To ? hi0 : To));
    for (int o = co0; o < co1; o++) {
        const int8_t *w = p->w + (size_t)o * K;
        uint32_t sum = 0;
        for (int j = 0; j < k; j++) {
            for (int i = 0; i < cin; i++)
                sum += (uint32_t)w[j * cin + i];
            P[j] = (int32_t)sum;
        }
        const pit_rq_t r = pit_rq_make(p->mult[o], p->shift[o]);
        const chan_t e = {p->bias ? p->bias[o] : 0, p->mult[o], c->fast ? r.ahi : p->shift[o],
                          r.rm1};
        const int32_t b_all = (int32_t)((uint32_t)e.bias - zp * tap_wsum(P, 0, k));
        runs_t all = {d == 1 ? K : cin, d == 1 ? 1 : k, (size_t)(d - 1) * cin};
        int8_t *y = p->y + o;
        for (int t = 0; t < To; t += 4) {
            const int ns = To - t < 4 ? To - t : 4;
            const int64_t first = (int64_t)t * stride - p->pad_left;
            if (ns == 4 && t >= i0 && t + 3 < i1) {
                /* all four steps have every tap in range */
                int32_t acc[4] = {b_all, b_all, b_all, b_all};
                runs_t rr = all;
                runs4(w, p->x + (size_t)first * cin, sx, &rr, acc);
                for (int s = 0; s < 4; s++)
                    y[(size_t)(t + s) * cout] = rq1(c, &e, acc[s]);
                continue;
            }
            int j0[4], j1[4], lo = 0, hi = k;
            for (int s = 0; s < ns; s++) {
                tap_range(p, first + (int64_t)s * stride, &j0[s], &j1[s]);
                lo = j0[s] > lo ? j0[s] : lo;
                hi = j1[s] < hi ? j1[s] : hi;
            }
            int32_t acc[4] = {0, 0, 0, 0};
            if (ns == 4 && hi > lo) {
                runs_t rr = {d == 1 ? (hi - lo) * cin : cin, d == 1 ? 1 : hi - lo,
                             (size_t)(d - 1) * cin};
                runs4(w + (size_t)lo * cin, p->x + (size_t)(first + (int64_t)lo * d) * cin, sx,
                      &rr, acc);
            } else {
                lo = hi = 0; /* every tap step by step */
            }
            for (int s = 0; s < ns; s++) {
                const int64_t fs = first + (int64_t)s * stride;
                uint32_t a = (uint32_t)acc[s];
                if (hi > lo) {
                    a += (uint32_t)dot_taps(p, w, fs, j0[s], lo);
                    a += (uint32_t)dot_taps(p, w, fs, hi, j1[s]);
                } else {
                    a += (uint32_t)dot_taps(p, w, fs, j0[s], j1[s]);
                }
                a += (uint32_t)e.bias - zp * tap_wsum(P, j0[s], j1[s]);
                y[(size_t)(t + s) * cout] = rq1(c, &e, (int32_t)a);
            }
        }
    }
}

/* ---- small path (K = C_in * k <= PIT_SMALL_K, every channel on pit_rq_mul) ----
 * Tiny layers spend most of their time outside the MACs, so all per-channel work is done
 * once per call into a record per channel: the bias with the input zero point folded in
 * (bias - in_zp * sum w, twice: one LDRD starts both accumulators), the weights as int16
 * pairs (SMALL_SLOT order, zero beyond K, in whole units of two pairs) and the
 * requantisation constants with the output zero point folded into the rounding term
 * (out_zp * 2^rm1 added before the final shift adds out_zp after it; no overflow for
 * rm1 <= 22, checked per call). The input is copied into a window whose padding rows
 * hold in_zp bytes, so every step, padded or not, is gathered the same way: the two steps
 * of a pair into int16 pairs [a_i b_i] through an offsets table, after which each channel
 * is one straight run of SMLADs for both steps and two requantisations. */
#define PIT_SMALL_K 32
#define PIT_SMALL_U (PIT_SMALL_K / 4)     /* most units of two pairs */
#define PIT_SMALL_CH 16                   /* channels per record chunk */
#define PIT_SMALL_V 512                   /* window bytes */

/* Element e of a column or weight row goes to int16 slot SMALL_SLOT(e) of the pairs:
 * groups of 4 elements as (4g, 4g + 2), (4g + 1, 4g + 3), the order SXTB16 and
 * SXTB16 ROR 8 give from one weight word; slots without an element weigh 0. */
#define SMALL_SLOT(e) (4 * ((e) >> 2) + 2 * ((e) & 1) + (((e) >> 1) & 1))

typedef struct {
    const uint32_t *rec;  /* 0: the first channel's record */
    uint32_t *col;        /* 4: the gathered pairs of both steps */
    uint32_t entry;       /* 8: ARMv7E-M: where the SMLAD run starts (Thumb address) */
    int8_t *y0, *y1;      /* 12, 16: the first channel's outputs at both steps */
    int n;                /* 20: channels */
    uint32_t lo4, hi4;    /* 24, 28: activation bounds in all 4 byte lanes */
    const int8_t *xa;     /* 32: the first row of step a in the window */
    uint32_t sx;          /* 36: bytes from step a to step b */
    const uint32_t *offs; /* 40: byte offset of each slot from a step's first row */
    int u;                /* 44: units of two pairs */
    int pairs;            /* 48: pairs of steps */
    uint32_t ystep, xstep; /* 52, 56: to the next pair of steps in y and the window */
    int32_t lo, hi;
} small_t;

/* Whether the layer takes the small path (`fast`: every channel on pit_rq_mul). */
static int small_ok(const pit_conv_q_t *p, int fast, int co0, int co1)
{
    const int64_t rows = (int64_t)(p->k - 1) * p->d + 1 + p->stride; /* one pair of steps */
    if (!fast || co1 <= co0 || p->cin * p->k > PIT_SMALL_K || p->in_zp < -128 || p->in_zp > 127 ||
        rows * p->cin > PIT_SMALL_V)
        return 0;
    for (int o = co0; o < co1; o++)
        if (p->mult[o] != 0 && -p->shift[o] - 1 > 22)
            return 0;
    return 1;
}

#if PIT_SIMD_NATIVE
/* s->pairs pairs of steps: gather (per two pairs of both steps: LDM of 4 offsets,
 * 8 LDRSB, 4 PKHBT, 2 STRD), then per channel (r0/r1 accumulators, r2 record, r3 column,
 * r4-r9 operands, r10/r11 outputs, r12 state, lr channels left) the SMLAD run, entered
 * PIT_SMALL_U - u units before its end (a unit: six 32-bit encodings, 24 bytes), and the
 * requantisation of both steps (AND, ORR, ADD, SMLAL, ASR each, SSAT), then the clamp to
 * the activation range in both byte lanes at once (SSUB8 / SEL) unless it is the whole
 * int8 range, which SSAT already gives. */
#define PIT_SMALL_RUN(name, clamp)                                                         \
    ".pushsection .text." name ",\"ax\",%progbits\n\t"                                    \
    ".syntax unified\n\t"                                                                  \
    ".thumb\n\t"                                                                           \
    ".p2align 2\n\t"                                                                       \
    ".global " name "\n\t"                                                                 \
    ".global " name "_units_end\n\t"                                                       \
    ".thumb_func\n\t"                                                                      \
    ".type " name ", %function\n"                                                          \
    name ":\n\t"                                                                           \
    "push   {r4-r11, lr}\n\t"                                                              \
    "mov    r12, r0\n"                                                                     \
    "2:\n\t"                                                                               \
    "ldrd   r0, r1, [r12, #32]\n\t"                                                        \
    "add    r1, r0, r1\n\t"                                                                \
    "ldrd   r2, r3, [r12, #40]\n\t"                                                        \
    "ldr    lr, [r12, #4]\n"                                                               \
    "3:\n\t"                                                                               \
    "ldmia.w r2!, {r4, r5, r6, r7}\n\t"                                                    \
    "ldrsb  r8, [r0, r4]\n\t"                                                              \
    "ldrsb  r9, [r0, r5]\n\t"                                                              \
    "ldrsb  r10, [r1, r4]\n\t"                                                             \
    "ldrsb  r11, [r1, r5]\n\t"                                                             \
    "pkhbt  r8, r8, r9, lsl #16\n\t"                                                       \
    "pkhbt  r10, r10, r11, lsl #16\n\t"                                                    \
    "strd   r8, r10, [lr], #8\n\t"                                                         \
    "ldrsb  r8, [r0, r6]\n\t"                                                              \
    "ldrsb  r9, [r0, r7]\n\t"                                                              \
    "ldrsb  r10, [r1, r6]\n\t"                                                             \
    "ldrsb  r11, [r1, r7]\n\t"                                                             \
    "pkhbt  r8, r8, r9, lsl #16\n\t"                                                       \
    "pkhbt  r10, r10, r11, lsl #16\n\t"                                                    \
    "strd   r8, r10, [lr], #8\n\t"                                                         \
    "subs   r3, r3, #1\n\t"                                                                \
    "bne    3b\n\t"                                                                        \
    "ldr    r2, [r12, #0]\n\t"                                                             \
    "ldrd   r10, r11, [r12, #12]\n\t"                                                      \
    "ldr    lr, [r12, #20]\n"                                                              \
    "1:\n\t"                                                                               \
    "ldrd   r0, r1, [r2], #8\n\t"                                                          \
    "ldr    r3, [r12, #4]\n\t"                                                             \
    "ldr    pc, [r12, #8]\n\t"                                                             \
    ".rept 8\n\t"                                                                          \
    "ldmia.w r2!, {r4, r5}\n\t"                                                            \
    "ldmia.w r3!, {r6, r7, r8, r9}\n\t"                                                    \
    "smlad  r0, r4, r6, r0\n\t"                                                            \
    "smlad  r1, r4, r7, r1\n\t"                                                            \
    "smlad  r0, r5, r8, r0\n\t"                                                            \
    "smlad  r1, r5, r9, r1\n\t"                                                            \
    ".endr\n"                                                                              \
    name "_units_end:\n\t"                                                                 \
    "ldmia.w r2!, {r4, r5, r6}\n\t"                                                        \
    "and    r7, r0, #0x80000000\n\t"                                                       \
    "orr    r7, r7, #0x40000000\n\t"                                                       \
    "add    r8, r5, r0, asr #31\n\t"                                                       \
    "smlal  r7, r8, r0, r4\n\t"                                                            \
    "asr    r0, r8, r6\n\t"                                                                \
    "and    r7, r1, #0x80000000\n\t"                                                       \
    "orr    r7, r7, #0x40000000\n\t"                                                       \
    "add    r8, r5, r1, asr #31\n\t"                                                       \
    "smlal  r7, r8, r1, r4\n\t"                                                            \
    "asr    r1, r8, r6\n\t"                                                                \
    "ssat   r0, #8, r0\n\t"                                                                \
    "ssat   r1, #8, r1\n\t"                                                                \
    clamp                                                                                  \
    "subs   lr, lr, #1\n\t"                                                                \
    "bne    1b\n\t"                                                                        \
    "ldrd   r0, r1, [r12, #12]\n\t"                                                        \
    "ldr    r2, [r12, #52]\n\t"                                                            \
    "add    r0, r0, r2\n\t"                                                                \
    "add    r1, r1, r2\n\t"                                                                \
    "strd   r0, r1, [r12, #12]\n\t"                                                        \
    "ldr    r0, [r12, #32]\n\t"                                                            \
    "ldr    r1, [r12, #56]\n\t"                                                            \
    "add    r0, r0, r1\n\t"                                                                \
    "str    r0, [r12, #32]\n\t"                                                            \
    "ldr    r0, [r12, #48]\n\t"                                                            \
    "subs   r0, r0, #1\n\t"                                                                \
    "str    r0, [r12, #48]\n\t"                                                            \
    "bne    2b\n\t"                                                                        \
    "pop    {r4-r11, pc}\n\t"                                                              \
    ".size " name ", .-" name "\n\t"                                                       \
    ".popsection\n"

void pit_small_run(small_t *s);
void pit_small_run_full(small_t *s);
extern const char pit_small_run_units_end[], pit_small_run_full_units_end[];
__asm__(PIT_SMALL_RUN("pit_small_run",
                      "bfi    r0, r1, #8, #8\n\t"
                      "ldrd   r4, r5, [r12, #24]\n\t"
                      "ssub8  r6, r0, r4\n\t"
                      "sel    r0, r0, r4\n\t"
                      "ssub8  r6, r0, r5\n\t"
                      "sel    r0, r5, r0\n\t"
                      "strb   r0, [r10], #1\n\t"
                      "lsr    r0, r0, #8\n\t"
                      "strb   r0, [r11], #1\n\t"));
__asm__(PIT_SMALL_RUN("pit_small_run_full",
                      "strb   r0, [r10], #1\n\t"
                      "strb   r1, [r11], #1\n\t"));
typedef char pit_small_layout[offsetof(small_t, entry) == 8 && offsetof(small_t, n) == 20 &&
                                      offsetof(small_t, lo4) == 24 &&
                                      offsetof(small_t, xa) == 32 &&
                                      offsetof(small_t, offs) == 40 &&
                                      offsetof(small_t, ystep) == 52 && PIT_SMALL_U == 8
                                  ? 1
                                  : -1];
#else
static void pit_small_run(small_t *s)
{
    for (; s->pairs; s->pairs--, s->xa += s->xstep, s->y0 += s->ystep, s->y1 += s->ystep) {
        const int8_t *xa = s->xa, *xb = xa + s->sx;
        const uint32_t *offs = s->offs;
        uint32_t *out = s->col;
        for (int i = 2 * s->u; i; i--, offs += 2, out += 2) {
            out[0] = (uint16_t)xa[offs[0]] | (uint32_t)(uint16_t)xa[offs[1]] << 16;
            out[1] = (uint16_t)xb[offs[0]] | (uint32_t)(uint16_t)xb[offs[1]] << 16;
        }
        const uint32_t *rec = s->rec;
        for (int c = 0; c < s->n; c++) {
            int32_t a0 = (int32_t)rec[0], a1 = a0;
            const uint32_t *pc = s->col;
            rec += 2;
            for (int i = 2 * s->u; i; i--, pc += 2) {
                const uint32_t w = *rec++;
                a0 = pit_smlad(w, pc[0], a0);
                a1 = pit_smlad(w, pc[1], a1);
            }
            const pit_rq_t r = {(int32_t)rec[0], (int32_t)rec[1], (int32_t)rec[2]};
            rec += 3;
            s->y0[c] = pit_clamp_i8(pit_rq_mul(r, a0), s->lo, s->hi);
            s->y1[c] = pit_clamp_i8(pit_rq_mul(r, a1), s->lo, s->hi);
        }
    }
}
#endif

/* Channel records (see above) of channels [c0, c0 + n). */
static void small_records(const pit_conv_q_t *p, int c0, int n, int u, uint32_t *rec)
{
    const int K = p->cin * p->k, K4 = K >> 2, Kt = K & 3;
    for (int i = 0; i < n; i++, rec += 2 * u + 5) {
        const int o = c0 + i;
        const int8_t *w = p->w + (size_t)o * K;
        int32_t sum = 0;
        uint32_t *wp = rec + 2;
        for (int g = 0; g < K4; g++, wp += 2) {
            const uint32_t v = pit_read32(w + 4 * g);
            wp[0] = pit_sxtb16(v);
            wp[1] = pit_sxtb16_ror8(v);
            sum = pit_smlad(wp[0], 0x00010001u, sum);
            sum = pit_smlad(wp[1], 0x00010001u, sum);
        }
        if (Kt) { /* the last group's elements, zero beyond K */
            const int8_t *wt = w + 4 * K4;
            const uint32_t v = (uint8_t)wt[0] | (Kt > 1 ? (uint32_t)(uint8_t)wt[1] << 8 : 0u) |
                               (Kt > 2 ? (uint32_t)(uint8_t)wt[2] << 16 : 0u);
            wp[0] = pit_sxtb16(v);
            wp[1] = pit_sxtb16_ror8(v);
            sum = pit_smlad(wp[0], 0x00010001u, sum);
            sum = pit_smlad(wp[1], 0x00010001u, sum);
            wp += 2;
        }
        if (2 * u > 2 * K4 + (Kt ? 2 : 0)) /* the second pair of the last unit */
            wp[0] = wp[1] = 0;
        rec[0] = rec[1] = (uint32_t)(p->bias ? p->bias[o] : 0) - (uint32_t)p->in_zp * (uint32_t)sum;
        /* a zero multiplier gives out_zp whatever the shift: rm1 = 1 keeps the fold in range */
        const int32_t m = p->mult[o], rm1 = m ? -p->shift[o] - 1 : 1;
        rec[2 * u + 2] = (uint32_t)m;
        rec[2 * u + 3] = (UINT32_C(1) << (rm1 - 1)) + ((uint32_t)p->out_zp << rm1);
        rec[2 * u + 4] = (uint32_t)rm1;
    }
}

static void __attribute__((noinline))
conv_int8_small(const pit_conv_q_t *p, const col_t *c, int co0, int co1)
{
    const int cin = p->cin, K = cin * p->k, To = p->T_out, cout = p->cout, s = p->stride;
    const int u = (K + 3) >> 2;
    const int span = (p->k - 1) * p->d + 1; /* rows of one step (small_ok bounds it) */
    uint32_t col[4 * PIT_SMALL_U];
    uint32_t offs[4 * PIT_SMALL_U];
    /* records sized by the call's channels and K: a multi-core port's share needs less */
    const int n_rec = co1 - co0 < PIT_SMALL_CH ? co1 - co0 : PIT_SMALL_CH;
    uint32_t rec[n_rec * (2 * u + 5)];
    int8_t win[PIT_SMALL_V];
    int8_t sink[n_rec];
    /* the slots beyond K read the step's first byte (their weights are 0) */
    for (int e = K; e < 4 * u; e++)
        offs[SMALL_SLOT(e)] = 0;
    for (int j = 0, e = 0; j < p->k; j++)
        for (int i = 0; i < cin; i++, e++)
            offs[SMALL_SLOT(e)] = (uint32_t)(j * p->d * cin + i);
    /* steps per window: even, their rows within the window */
    const int W = (((PIT_SMALL_V / cin - span) / s + 1) & ~1);
    const uint32_t sx = (uint32_t)s * (uint32_t)cin;
    void (*run)(small_t *) = pit_small_run;
    small_t st = {rec, col, 0u, NULL, NULL, 0, c->lo4, c->hi4, NULL, sx, offs, u, 0,
                  2u * (uint32_t)cout, 2u * sx, c->lo, c->hi};
#if PIT_SIMD_NATIVE
    if (c->lo == -128 && c->hi == 127) {
        run = pit_small_run_full;
        st.entry = ((uint32_t)(uintptr_t)pit_small_run_full_units_end - 24u * (uint32_t)u) | 1u;
    } else {
        st.entry = ((uint32_t)(uintptr_t)pit_small_run_units_end - 24u * (uint32_t)u) | 1u;
    }
#endif
    for (int c0 = co0; c0 < co1; c0 += n_rec) {
        const int n = co1 - c0 < n_rec ? co1 - c0 : n_rec;
        small_records(p, c0, n, u, rec);
        st.n = n;
        for (int tw = 0; tw < To; tw += W) {
            const int ns = To - tw < W ? To - tw : W;
            /* rows [r0, r0 + rows) of the window: padding rows before 0 and from T on */
            const int64_t r0 = (int64_t)tw * s - p->pad_left;
            const int64_t rows = (int64_t)(ns - 1) * s + span;
            const int64_t a = r0 < 0 ? (-r0 < rows ? -r0 : rows) : 0;
            int64_t b = p->T - r0 < rows ? p->T - r0 : rows;
            b = b < a ? a : b;
            memset(win, (uint8_t)p->in_zp, (size_t)a * cin);
            if (b > a)
                memcpy(win + a * cin, p->x + (size_t)(r0 + a) * cin, (size_t)(b - a) * cin);
            memset(win + b * cin, (uint8_t)p->in_zp, (size_t)(rows - b) * cin);
            st.xa = win;
            st.y0 = p->y + (size_t)tw * cout + c0;
            st.y1 = st.y0 + cout;
            st.sx = sx;
            st.pairs = ns >> 1;
            if (st.pairs)
                run(&st);
            if (ns & 1) { /* the last step alone: its pair is itself, into the sink */
                st.sx = 0;
                st.y1 = sink;
                st.pairs = 1;
                run(&st);
            }
        }
    }
}

void pit_conv_int8(const pit_conv_q_t *p, int co0, int co1, int16_t *col)
{
    const int T = p->T_out, cout = p->cout, K = p->cin * p->k;
    col_t c = {p->out_zp, (uint32_t)(uint8_t)p->act_min * 0x01010101u,
               (uint32_t)(uint8_t)p->act_max * 0x01010101u, p->act_min, p->act_max, 1, col,
               K, K >> 2, K & 3};
    for (int o = co0; o < co1; o++)
        if (!pit_rq_ok(p->mult[o], p->shift[o]))
            c.fast = 0;
    if (PIT_CONV_DIRECT(p)) {
        conv_int8_direct(p, &c, co0, co1, (int32_t *)(void *)col);
        return;
    }
    if (small_ok(p, c.fast, co0, co1)) {
        conv_int8_small(p, &c, co0, co1);
        return;
    }
    /* sized by the call's channels: a multi-core port's share needs a small table */
    const int n_tab = co1 - co0 < PIT_CHUNK ? (co1 - co0 > 0 ? co1 - co0 : 1) : PIT_CHUNK;
    chan_t tab[n_tab];
    int8_t sink[n_tab]; /* the second step's outputs when T_out is odd */
    /* Steps [i0, i1) have every tap in range (one interval: the first row of a step
     * grows with t); pairs of them take gather_rows2() or gather_offs2(), pairs with
     * padding taps the _edge variants, wide odd columns gather_q7(). */
    const int64_t span = (int64_t)(p->k - 1) * p->d, stride = p->stride;
    const int64_t lo = ((int64_t)p->pad_left + stride - 1) / stride;
    const int64_t hi = ((int64_t)p->T - 1 - span + p->pad_left) / stride + 1;
    const int i0 = (int)(lo < T ? lo : T), i1 = (int)(hi < i0 ? i0 : (hi < T ? hi : T));
    const int rows2 = (p->cin & 3) == 0;
    const size_t sx = (size_t)stride * p->cin, skip = (size_t)(p->d - 1) * p->cin;
    const int8_t *x_i0 =
        i0 < i1 ? p->x + (size_t)((int64_t)i0 * stride - p->pad_left) * p->cin : p->x;
    const uint32_t off = (uint32_t)(uint16_t)(int16_t)(-p->in_zp) * 0x00010001u;
    /* Narrow columns of other widths: offsets of the column's elements from the first
     * row, when they fit in 16 bits. */
    uint16_t offs[PIT_OFFS];
    int n_offs = 0;
    if (!rows2 && K <= PIT_OFFS && (int64_t)(p->k - 1) * p->d * p->cin + p->cin <= 65535) {
        for (int j = 0; j < p->k; j++)
            for (int ci = 0; ci < p->cin; ci++)
                offs[n_offs++] = (uint16_t)((size_t)j * p->d * p->cin + (size_t)ci);
    }
    for (int c0 = co0; c0 < co1; c0 += n_tab) {
        const int n = co1 - c0 < n_tab ? co1 - c0 : n_tab;
        const int8_t *w = p->w + (size_t)c0 * K;
        for (int i = 0; i < n; i++) {
            const int o = c0 + i;
            const pit_rq_t r = pit_rq_make(p->mult[o], p->shift[o]);
            const chan_t e = {p->bias ? p->bias[o] : 0, p->mult[o], c.fast ? r.ahi : p->shift[o],
                              r.rm1};
            tab[i] = e;
        }
        for (int t = 0; t < T; t += 2) {
            const int two = t + 1 < T;
            if (two && t >= i0 && t + 1 < i1 && (rows2 || n_offs)) {
                const int8_t *xa = x_i0 + (size_t)(t - i0) * sx, *xb = xa + sx;
                if (rows2)
                    gather_rows2(xa, xb, (uint32_t *)(void *)col, p->k, p->cin >> 2, skip, off);
                else
                    gather_offs2(xa, xb, offs, col, K >> 2, K & 3, off);
            } else if (rows2) {
                gather_rows2_edge(p, t, two, col, off);
            } else if (n_offs) {
                gather_offs2_edge(p, t, two, offs, col, off);
            } else {
                gather_q7(p, t, col, 0);
                gather_q7(p, two ? t + 1 : t, col, 1);
            }
            int8_t *y0 = p->y + (size_t)t * cout + c0, *y1 = two ? y0 + cout : sink;
#if PIT_SIMD_NATIVE
            if (c.fast && n >= 2) {
                pairs_t st = {tab, w, y0, y1, n >> 1, K, K >> 2, K & 3, col, c.zp, c.lo4, c.hi4};
                col_pairs_asm(&st);
            } else
#endif
                col_pairs(&c, tab, w, n >> 1, y0, y1);
            if (n & 1)
                col_one(&c, tab + n - 1, w + (size_t)(n - 1) * K, y0 + n - 1, y1 + n - 1);
        }
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
