/* Host unit tests of core logic that has no protocol path: the multi-core output-channel
 * split (used by the GAP8 port) and int8 convs run by parts of their output channels, CRC
 * check values and the one-multiply requantisation against the TFLite-style reference.
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
    test_conv_split();
    if (g_fail)
        return 1;
    printf("OK\n");
    return 0;
}
