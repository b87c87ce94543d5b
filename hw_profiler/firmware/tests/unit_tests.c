/* Host unit tests of core logic that has no protocol path: the multi-core output-channel
 * split (used by the GAP8 port), CRC check values and the one-multiply requantisation
 * against the TFLite-style reference. Prints "OK" and exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>

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
            bad += pit_rq_mul(pit_rq_make(0x40000001, sh), x << 16) !=
                   pit_mbqm(x << 16, 0x40000001, sh);
    for (int i = 0; i < 1000; i++)
        bad += pit_rq_mul(pit_rq_make(0, 0), (int32_t)rnd()) != 0;
    CHECK(bad == 0);
    CHECK(pit_rq_ok(0, 0) && !pit_rq_ok(1 << 30, 0) && !pit_rq_ok(1 << 30, -1) &&
          !pit_rq_ok(-5, -7) && !pit_rq_ok(1 << 30, -32));
}

int main(void)
{
    test_split();
    test_crc();
    test_rq();
    if (g_fail)
        return 1;
    printf("OK\n");
    return 0;
}
