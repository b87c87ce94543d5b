/* libFuzzer harness: feeds arbitrary bytes through the frame parser and the command
 * handlers (INFO, LOAD_*, RUN, RESET, model validation). BENCH_LAYER is skipped because
 * a valid request may legitimately run for a long time. Build: make -C firmware fuzz. */
#include <stddef.h>
#include <stdint.h>

#include "pit_board.h"
#include "pit_proto.h"

static const pit_board_info_t k_info = {"fuzz", 0u, 1000000000u, PIT_TIMER_WALLCLOCK, 0u, NULL, 0u};
static uint64_t g_ticks;
static size_t g_written;

void board_init(void) {}
int board_getc(uint32_t timeout_ms) { return -1; }
void board_write(const uint8_t *data, size_t len) { g_written += len + (data ? 0u : 1u); }
uint64_t board_ticks(void) { return ++g_ticks; }
const pit_board_info_t *board_info(void) { return &k_info; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t payload[PIT_MAX_PAYLOAD];
    if (size >= 2 && (data[0] & 1u)) {
        /* direct mode: data[1] = type, rest = payload, so the handlers are reached without
         * having to guess a CRC */
        size_t n = size - 2 > PIT_MAX_PAYLOAD ? PIT_MAX_PAYLOAD : size - 2;
        if (data[1] != PIT_MSG_BENCH)
            pit_handle_frame(data[1], 0, data + 2, (uint16_t)n);
        return 0;
    }
    pit_parser_t p;
    pit_parser_init(&p, payload);
    for (size_t i = 0; i < size; i++) {
        if (pit_parser_feed(&p, data[i]) == PIT_EV_FRAME && p.type != PIT_MSG_BENCH)
            pit_handle_frame(p.type, p.seq, p.payload, p.len);
    }
    return 0;
}
