/* Host unit tests of core logic that has no protocol path: the multi-core output-channel
 * split (used by the GAP8 port) and int8 convs run by parts of their output channels, CRC
 * check values, the one-multiply requantisation against the TFLite-style reference and the
 * tabulated int8 add over every pair of int8 inputs.
 * Prints "OK" and exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pit_crc.h"
#include "pit_kernels.h"
#include "pit_quant.h"

static int g_fail;
#define CHECK(c)                                                         \
    do {                                                                 \
        if (!(c)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
            g_fail = 1;                                                  \
        }                                                                \
    } while (0)

static void test_split(void)
{
    for (int cout = 1; cout <= 70; cout++) {
        for (int cores = 1; cores <= 9; cores++) {
            int expect = 0, lo = cout, hi = 0;
            for (int c = 0; c < cores; c++) {
                int s, e;
                pit_split_channels(cout, cores, c, &s, &e);
                CHECK(s == expect);     /* contiguous, in core order, no overlap */
                CHECK(e >= s && e <= cout);
                CHECK(s % 2 == 0 || s == cout); /* 2-channel blocks stay whole */
                int n = e - s;
                if (n < lo) lo = n;
                if (n > hi) hi = n;
                expect = e;
            }
            CHECK(expect == cout); /* everything covered */
            CHECK((hi + 1) / 2 - (lo + 1) / 2 <= 1); /* balanced to one 2-channel block */
        }
    }
    int s, e;
    pit_split_channels(16, 8, 8, &s, &e);
    CHECK(s == 0 && e == 0);
    pit_split_channels(64, 8, 3, &s, &e);
    CHECK(s == 24 && e == 32);
}

static void test_crc(void)
{
    const unsigned char msg[] = "123456789";
    CHECK(pit_crc16(msg, 9) == 0x29B1u);
    CHECK(pit_crc32(0, msg, 9) == 0xCBF43926u);
    CHECK(pit_crc32(pit_crc32(0, msg, 4), msg + 4, 5) == 0xCBF43926u);
}

static uint32_t g_rng = 0x2545F491u;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

/* pit_rq_mul() equals pit_mbqm() for every multiplier and shift pit_rq_ok() accepts:
 * random accumulators of every magnitude, the int32 extremes, every rounding tie near
 * zero, and the converter's zero multiplier. */
static void test_rq(void)
{
    static const int32_t edge[] = {0, 1, -1, INT32_MAX, INT32_MIN, INT32_MIN + 1,
                                   INT32_MAX - 1, 1 << 30, -(1 << 30), (1 << 30) - 1};
    int bad = 0;
    for (long i = 0; i < 2000000; i++) {
        const uint32_t r = rnd();
        int32_t x = (int32_t)(rnd() >> (r % 32));
        if (r & 0x20)
            x = -x;
        if ((r & 0x1C0) == 0)
            x = edge[rnd() % 10];
        int32_t m = (int32_t)((rnd() >> 2) | 0x40000000u); /* the converter's range */
        if ((r & 0x600) == 0)
            m = (int32_t)(rnd() >> 1);
        if ((r & 0xF800) == 0)
            m = (r & 0x10000) ? INT32_MAX : (r & 0x20000 ? 1 : 0);
        const int32_t sh = -2 - (int32_t)(rnd() % 30);
        CHECK(pit_rq_ok(m, sh));
        bad += pit_rq_mul(pit_rq_make(m, sh), x) != pit_mbqm(x, m, sh);
    }
    for (int32_t sh = -31; sh <= -2; sh++)
        for (int32_t x = -5000; x <= 5000; x++)
            bad += pit_rq_mul(pit_rq_make(0x40000001, sh), (int32_t)((uint32_t)x << 16)) !=
                   pit_mbqm((int32_t)((uint32_t)x << 16), 0x40000001, sh);
    for (int i = 0; i < 1000; i++)
        bad += pit_rq_mul(pit_rq_make(0, 0), (int32_t)rnd()) != 0;
    CHECK(bad == 0);
    CHECK(pit_rq_ok(0, 0) && !pit_rq_ok(1 << 30, 0) && !pit_rq_ok(1 << 30, -1) &&
          !pit_rq_ok(-5, -7) && !pit_rq_ok(1 << 30, -32));
}

/* The tabulated add (pit_add_int8_lut) equals the TFLite-style reference (pit_mbqm) and the
 * element-wise path (pit_add_int8 below 128 elements) on all 65536 int8 pairs, for random
 * parameter sets: the converter's (left shift 20, multipliers in [2^30, 2^31), input shifts
 * 0 .. -3, output shifts where most outputs saturate and where few do), small left shifts
 * (each input term's rounding, ties included, reaches the output), any multiplier and left
 * shift, zero multipliers, extreme zero points and narrow activation ranges. */
static void test_add_lut(void)
{
    static int8_t a[65536], b[65536], y_lut[65536], y_elem[65536];
    for (int i = 0; i < 65536; i++) {
        a[i] = (int8_t)(i & 0xFF);
        b[i] = (int8_t)(i >> 8);
    }
    int bad = 0, taken = 0, sets = 0;
    for (int set = 0; set < 48; set++) {
        const uint32_t r = rnd();
        pit_add_q_t q = {(int32_t)(int8_t)rnd(), (int32_t)(int8_t)rnd(), (int32_t)(int8_t)rnd(),
                         20, (int32_t)((rnd() >> 2) | 0x40000000u), -(int32_t)(rnd() % 4),
                         (int32_t)((rnd() >> 2) | 0x40000000u), -(int32_t)(rnd() % 4),
                         (int32_t)((rnd() >> 2) | 0x40000000u), -12 - (int32_t)(rnd() % 12),
                         -128, 127};
        if (set % 4 == 1) { /* any multiplier, left shift and output shift */
            q.left_shift = (int32_t)(rnd() % 24);
            q.m1 = (int32_t)(rnd() >> 1);
            q.m2 = (int32_t)(rnd() >> 1);
            q.mo = (int32_t)(rnd() >> 1);
            q.s1 = -(int32_t)(rnd() % 32);
            q.s2 = -(int32_t)(rnd() % 32);
            q.so = -2 - (int32_t)(rnd() % 30);
        }
        if (set % 8 == 6) { /* small terms, so that a term's rounding shows in the output */
            q.left_shift = (int32_t)(rnd() % 5);
            q.s1 = -1 - (int32_t)(rnd() % 4);
            q.s2 = -1 - (int32_t)(rnd() % 4);
            q.so = -2 - (int32_t)(rnd() % 2);
        }
        if (set % 8 == 2) { /* extreme zero points */
            q.in1_zp = (r & 1) ? -128 : 127;
            q.in2_zp = (r & 2) ? -128 : 127;
            q.out_zp = (r & 4) ? -128 : 127;
        }
        if (set % 6 == 3) { /* ReLU-like and narrow ranges */
            q.act_min = q.out_zp > -100 ? q.out_zp - 20 : -100;
            q.act_max = set % 12 == 3 ? 127 : q.act_min + (int32_t)(rnd() % 60);
        }
        if (set == 5) /* the converter's zero output multiplier */
            q.mo = 0, q.so = 0;
        if (set == 7) /* a zero input multiplier */
            q.m2 = 0;
        if (set == 0) { /* y = 2 (a + b): saturates both ways */
            const pit_add_q_t sat = {0, 0, 0, 20, 0x40000000, 0, 0x40000000, 0, 0x40000000, -17,
                                     -128, 127};
            q = sat;
        }
        const int lut = pit_add_int8_lut(a, b, y_lut, 65536, &q);
        for (int i = 0; i < 65536; i += 127) /* below PIT_ADD_LUT_MIN: element-wise */
            pit_add_int8(a + i, b + i, y_elem + i, (size_t)(65536 - i < 127 ? 65536 - i : 127), &q);
        for (int i = 0; i < 65536; i++) {
            const int32_t x1 = (int32_t)((uint32_t)(a[i] - q.in1_zp) << q.left_shift);
            const int32_t x2 = (int32_t)((uint32_t)(b[i] - q.in2_zp) << q.left_shift);
            const int32_t sum = (int32_t)((uint32_t)pit_mbqm(x1, q.m1, q.s1) +
                                          (uint32_t)pit_mbqm(x2, q.m2, q.s2));
            const int8_t ref =
                pit_clamp_i8(pit_mbqm(sum, q.mo, q.so) + q.out_zp, q.act_min, q.act_max);
            bad += y_elem[i] != ref;
            if (lut)
                bad += y_lut[i] != ref;
        }
        if (set == 0) {
            int lo = 0, hi = 0;
            for (int i = 0; i < 65536; i++) {
                lo += y_lut[i] == -128;
                hi += y_lut[i] == 127;
            }
            CHECK(lut && lo > 10000 && hi > 10000);
        }
        taken += lut;
        sets++;
        if (set % 4 != 1) /* the converter's parameters always take the tabulated path */
            CHECK(lut);
    }
    CHECK(bad == 0);
    CHECK(taken >= sets * 3 / 4);
    pit_add_q_t q = {0, 0, 0, 20, 0x40000000, 0, 0x40000000, 0, 0x40000000, -17, -128, 127};
    /* parameters it must leave to the element-wise path */
    q.act_min = 5, q.act_max = 4;
    CHECK(!pit_add_int8_lut(a, b, y_lut, 65536, &q));
    q.act_min = -128, q.act_max = 127, q.s1 = 1;
    CHECK(!pit_add_int8_lut(a, b, y_lut, 65536, &q));
    q.s1 = 0, q.mo = INT32_MIN;
    CHECK(!pit_add_int8_lut(a, b, y_lut, 65536, &q));
    q.mo = 0x40000000, q.so = -31, q.out_zp = 100; /* zero point times 2^31: no int32 room */
    CHECK(!pit_add_int8_lut(a, b, y_lut, 65536, &q));
}

/* A multi-core port runs pit_conv_int8 on each core's channel range with its own scratch:
 * the parts must give the whole layer's bytes, on every path (direct below 4 channels,
 * small for k * C_in <= 32: 5x7 k3 and 8x33 k2, the latter over more channels than one
 * record chunk; column) and with more channels than one constants table holds. */
static void test_conv_split(void)
{
    static int8_t x[40 * 9], w[70 * 5 * 9], y_all[40 * 70], y_part[40 * 70];
    static int32_t bias[70], mult[70], shift[70];
    static int16_t scratch[4 * 9 * 5];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (int8_t)rnd();
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (int8_t)rnd();
    for (int o = 0; o < 70; o++) {
        bias[o] = (int32_t)(rnd() % 20000) - 10000;
        mult[o] = (int32_t)((rnd() >> 2) | 0x40000000u);
        shift[o] = -6 - (int32_t)(rnd() % 8);
    }
    static const uint16_t shapes[][4] = {{9, 70, 5, 3}, {5, 7, 3, 2}, {9, 3, 5, 4}, {8, 33, 2, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const uint16_t cin = shapes[s][0], cout = shapes[s][1], k = shapes[s][2], d = shapes[s][3];
        pit_conv_q_t p = {x, y_all, w, bias, mult, shift, 40, cin, cout, k, d, -3, 5, -128, 127,
                          1, 40, (uint32_t)(k - 1) * d};
        pit_conv_int8(&p, 0, cout, scratch);
        p.y = y_part;
        for (int cores = 2; cores <= 5; cores++) {
            memset(y_part, 0, sizeof y_part);
            for (int c = 0; c < cores; c++) {
                int s0, s1;
                pit_split_channels(cout, cores, c, &s0, &s1);
                pit_conv_int8(&p, s0, s1, scratch);
            }
            CHECK(memcmp(y_all, y_part, (size_t)40 * cout) == 0);
        }
    }
}

int main(void)
{
    test_split();
    test_crc();
    test_rq();
    test_add_lut();
    test_conv_split();
    if (g_fail)
        return 1;
    printf("OK\n");
    return 0;
}
