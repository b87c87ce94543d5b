/* libFuzzer harness: feeds arbitrary bytes through the frame parser and the command
 * handlers of every request type (INFO, BENCH_LAYER, LOAD_*, RUN, RESET, unknown types,
 * model validation). BENCH_LAYER requests are kept cheap (few repeats, at most
 * FUZZ_MAX_MACS per run) so that a valid geometry cannot stall the run; its argument
 * checks, allocations and every op still execute. At exit the harness prints how many
 * requests of each type reached a handler, so a test can see that all were covered.
 * Build: make -C firmware fuzz-build; run longer: make -C firmware fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pit_board.h"
#include "pit_proto.h"

#define FUZZ_MAX_MACS (1u << 16)

static const pit_board_info_t k_info = {"fuzz", 0u, 1000000000u, PIT_TIMER_WALLCLOCK, 0u,
                                        NULL, 0u};
static uint64_t g_ticks;
static size_t g_written;
static unsigned long g_handled[256];

void board_init(void) {}
int board_getc(uint32_t timeout_ms) { return -1; }
void board_write(const uint8_t *data, size_t len) { g_written += len + (data ? 0u : 1u); }
uint64_t board_ticks(void) { return ++g_ticks; }
const pit_board_info_t *board_info(void) { return &k_info; }
void board_timestamp(void) {}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void report(void)
{
    static const uint8_t types[] = {PIT_MSG_INFO,     PIT_MSG_BENCH,    PIT_MSG_LOAD_BEGIN,
                                    PIT_MSG_LOAD_CHUNK, PIT_MSG_LOAD_END, PIT_MSG_RUN,
                                    PIT_MSG_RESET};
    unsigned long other = 0;
    for (int t = 0; t < 256; t++)
        other += g_handled[t];
    fprintf(stderr, "handled requests:");
    for (size_t i = 0; i < sizeof types; i++) {
        fprintf(stderr, " 0x%02x=%lu", types[i], g_handled[types[i]]);
        other -= g_handled[types[i]];
    }
    fprintf(stderr, " other=%lu\n", other);
}

/* Bound the work of a BENCH_LAYER request: 0 when it must be skipped. */
static int cheap_bench(uint8_t *p, uint16_t len)
{
    if (len != 24)
        return 1; /* the handler refuses the length */
    const uint64_t cin = rd16(p + 2), cout = rd16(p + 4), k = rd16(p + 6), T = rd16(p + 12);
    wr16(p + 14, rd16(p + 14) & 1u);         /* warmup 0..1 */
    wr16(p + 16, (uint16_t)(rd16(p + 16) & 3u)); /* repeats 0..3 (0: refused) */
    const uint64_t macs = T * (cout ? cout : 1u) * cin * (k ? k : 1u);
    return macs <= FUZZ_MAX_MACS;
}

static void handle(uint8_t type, uint8_t seq, uint8_t *payload, uint16_t len)
{
    if (type == PIT_MSG_BENCH && !cheap_bench(payload, len))
        return;
    g_handled[type]++;
    pit_handle_frame(type, seq, payload, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t payload[PIT_MAX_PAYLOAD];
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(report);
    }
    if (size >= 2 && (data[0] & 1u)) {
        /* direct mode: data[1] = type, rest = payload, so the handlers are reached without
         * having to guess a CRC */
        size_t n = size - 2 > PIT_MAX_PAYLOAD ? PIT_MAX_PAYLOAD : size - 2;
        memcpy(payload, data + 2, n);
        handle(data[1], 0, payload, (uint16_t)n);
        return 0;
    }
    pit_parser_t p;
    pit_parser_init(&p, payload);
    for (size_t i = 0; i < size; i++) {
        if (pit_parser_feed(&p, data[i]) == PIT_EV_FRAME)
            handle(p.type, p.seq, p.payload, p.len);
    }
    return 0;
}
