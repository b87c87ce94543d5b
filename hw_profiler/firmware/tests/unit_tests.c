/* Host unit tests of core logic that has no protocol path: the multi-core output-channel
 * split (used by the GAP8 port) and CRC check values. Prints "OK" and exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>

#include "pit_crc.h"
#include "pit_kernels.h"

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

int main(void)
{
    test_split();
    test_crc();
    if (g_fail)
        return 1;
    printf("OK\n");
    return 0;
}
