/* Host test of the port helpers in pit_board.h, against a simulated board: a free-running
 * 32-bit counter and an alarm timer that the test advances by hand. Prints "ok" and exits
 * 0 when every check holds; names the failing check otherwise. */
#include <stdio.h>
#include <stdlib.h>

#include "pit_board.h"

static int g_failed;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("FAIL line %d: ", __LINE__);                                            \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            g_failed = 1;                                                                  \
        }                                                                                  \
    } while (0)

static void test_extend(void)
{
    pit_tick_ext_t e = {0, 0};
    uint64_t truth = 0xFFFFF000u; /* start just below a wrap */
    uint64_t prev = pit_extend_ticks(&e, (uint32_t)truth);
    /* steps up to just below 2^32 counts, across several wraps */
    const uint64_t steps[] = {1, 0xFFF, 0x1000, 5, 0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu, 3};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        truth += steps[i];
        const uint64_t v = pit_extend_ticks(&e, (uint32_t)truth);
        CHECK(v == truth, "extend step %zu: %llu != %llu", i, (unsigned long long)v,
              (unsigned long long)truth);
        CHECK(v > prev, "extend step %zu did not advance", i);
        prev = v;
    }
}

/* A wait for input as the STM32 port does it: arm the alarm for the time left, sleep until
 * it fires (no byte arrives), look at the clock, and stop at the deadline. Returns the
 * ticks the wait took; *wakes counts the alarms. */
static uint64_t simulated_wait(uint64_t start, uint32_t timeout_ms, uint32_t tps,
                               uint32_t alarm_hz, uint32_t alarm_max, int *wakes)
{
    const uint64_t deadline = start + (uint64_t)timeout_ms * (tps / 1000u);
    uint64_t now = start;
    *wakes = 0;
    while (now < deadline) {
        const uint32_t counts = pit_alarm_counts(now, deadline, tps, alarm_hz, alarm_max);
        /* the alarm fires after `counts` of its periods: the clock moves on by that time */
        now += ((uint64_t)counts * tps + alarm_hz - 1u) / alarm_hz;
        ++*wakes;
        if (*wakes > 1000)
            break;
    }
    return now - start;
}

static void test_deadline(void)
{
    struct {
        const char *what;
        uint32_t tps, alarm_hz;
    } cases[] = {
        {"emulator: 1 GHz ticks, SysTick at 168 MHz", 1000000000u, 168000000u},
        {"NUCLEO-F401RE: cycles at 84 MHz", 84000000u, 84000000u},
        {"F405/F446: cycles at 168 MHz", 168000000u, 168000000u},
        {"core left on the 16 MHz HSI", 16000000u, 16000000u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint32_t tps = cases[i].tps, hz = cases[i].alarm_hz;
        const uint32_t ms_list[] = {1, 200, 1000};
        for (size_t j = 0; j < 3; j++) {
            int wakes;
            const uint64_t took =
                simulated_wait(12345u, ms_list[j], tps, hz, 0xFFFFFFu, &wakes);
            const uint64_t want = (uint64_t)ms_list[j] * (tps / 1000u);
            /* never early, late by less than one alarm period (plus rounding) */
            const uint64_t late = (uint64_t)tps / hz + 1u;
            CHECK(took >= want && took <= want + late, "%s, %u ms: took %llu ticks, want %llu",
                  cases[i].what, ms_list[j], (unsigned long long)took,
                  (unsigned long long)want);
            /* the longest sleep is the alarm's range: at most ceil(timeout / range) wakes */
            const uint64_t range = (uint64_t)0xFFFFFFu * tps / hz;
            CHECK((uint64_t)wakes <= (want + range - 1u) / range + 1u,
                  "%s, %u ms: %d wakes", cases[i].what, ms_list[j], wakes);
        }
    }
    /* edge cases: past or present deadline fires at once; a far one is clamped */
    CHECK(pit_alarm_counts(10, 10, 1000000000u, 168000000u, 0xFFFFFFu) == 1u, "now == deadline");
    CHECK(pit_alarm_counts(11, 10, 1000000000u, 168000000u, 0xFFFFFFu) == 1u, "deadline past");
    CHECK(pit_alarm_counts(0, 1, 1000000000u, 168000000u, 0xFFFFFFu) == 1u, "rounded up to 1");
    CHECK(pit_alarm_counts(0, 100000000000ull, 1000000000u, 168000000u, 0xFFFFFFu) == 0xFFFFFFu,
          "100 s clamps to the alarm's range");
    CHECK(pit_alarm_counts(0, 1000000u, 1000000000u, 168000000u, 0xFFFFFFu) == 168000u,
          "1 ms at 168 MHz");
}

int main(void)
{
    test_extend();
    test_deadline();
    if (g_failed)
        return 1;
    printf("ok\n");
    return 0;
}
