/* Board hooks: everything a port provides to the portable core (MLPerf-Tiny style split).
 * The protocol, interpreter and kernels in core/ are portable C99; a port is the hooks
 * below plus its start-up code, linker script and main() (board_init() then
 * pit_serve_forever()).
 *
 * Required: board_init, board_getc, board_write, board_ticks, board_info and
 * board_timestamp (which may do nothing).
 * Optional: board_conv_int8, used only when the port's build defines PIT_PARALLEL_CONV.
 * Build settings a port may define: PIT_POOL_SIZE (bytes of the static pool for the model
 * image, arena and conv scratch; pit_proto.h has the default) and PIT_POOL_SECTION (a
 * linker section name for that pool). */
#ifndef PIT_BOARD_H
#define PIT_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "pit_kernels.h"

/* What the tick counter counts; sent in INFO. */
enum {
    PIT_TIMER_CYCLES = 0,      /* core clock cycles (DWT CYCCNT, pi_perf) */
    PIT_TIMER_INSTR_TIME = 1,  /* QEMU -icount shift=0: virtual time, 1 ns per instruction */
    PIT_TIMER_WALLCLOCK = 2    /* host clock_gettime */
};

typedef struct {
    const char *name;
    uint32_t core_clock_hz;
    uint32_t ticks_per_second;
    uint8_t timer_kind;
    uint32_t flash_free_bytes;
    /* Flash slot for a model image built into the firmware image (NULL, 0: none). */
    const uint8_t *model_flash;
    uint32_t model_flash_bytes;
} pit_board_info_t;

/* ---- required hooks ---- */

void board_init(void);
/* Next received byte, or -1 when nothing arrived within timeout_ms (board time). A port
 * that sleeps while it waits must wake by the deadline (pit_alarm_counts below), or a
 * stalled frame outlives the protocol's byte timeout. */
int board_getc(uint32_t timeout_ms);
void board_write(const uint8_t *data, size_t len);
/* Monotonic 64-bit tick counter at info->ticks_per_second. Timed windows read it and
 * nothing else of the board, so no timer interrupt should be due inside one. */
uint64_t board_ticks(void);
const pit_board_info_t *board_info(void);
/* Timestamp pin (as in MLPerf Tiny's energy mode): one falling edge just before and one
 * just after each timed window (the timed BENCH_LAYER repeats, after the warm-up; a RUN),
 * so a power monitor can cut its trace to the window. Outside the ticks it reports. A
 * board without a pin may make it a no-op or report the edge another way (the emulated
 * STM32 sends the edge's tick on a second UART). */
void board_timestamp(void);

/* ---- optional hooks ---- */

#ifdef PIT_PARALLEL_CONV
/* int8 conv/linear over all output channels on several cores (GAP8: the cluster), for the
 * interpreter and BENCH_LAYER. It must compute exactly pit_conv_int8(p, 0, p->cout,
 * scratch), e.g. by splitting the channels with pit_split_channels(). Without
 * PIT_PARALLEL_CONV the core runs that call on the one core. */
void board_conv_int8(const pit_conv_q_t *p, int16_t *scratch);
#endif

/* ---- helpers for ports (pure functions, unit-tested on the host) ---- */

/* A 64-bit tick count from a free-running 32-bit up-counter: a reading below the previous
 * one has wrapped once. Correct when read at least once per 2^32 counts. */
typedef struct {
    uint32_t hi, last;
} pit_tick_ext_t;

static inline uint64_t pit_extend_ticks(pit_tick_ext_t *e, uint32_t raw)
{
    if (raw < e->last)
        e->hi++;
    e->last = raw;
    return ((uint64_t)e->hi << 32) | raw;
}

/* Counts of an alarm timer running at alarm_hz until `deadline` (in ticks at
 * ticks_per_second), rounded up so the alarm never fires early, between 1 and alarm_max
 * (a wait longer than the alarm's range wakes at alarm_max, looks at the clock and sleeps
 * again). */
static inline uint32_t pit_alarm_counts(uint64_t now, uint64_t deadline,
                                        uint32_t ticks_per_second, uint32_t alarm_hz,
                                        uint32_t alarm_max)
{
    if (deadline <= now)
        return 1u;
    uint64_t left = deadline - now;
    if (left > ticks_per_second) /* keeps the product in 64 bits: wake within a second */
        left = ticks_per_second;
    const uint64_t counts = (left * alarm_hz + ticks_per_second - 1u) / ticks_per_second;
    return counts > alarm_max ? alarm_max : (uint32_t)counts;
}

#endif
