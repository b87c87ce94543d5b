/* QEMU virt (rv32) port: ns16550 UART at 0x10000000 (PLIC source 10), CLINT timer,
 * ticks from the cycle counter.
 *
 * Ticks: under -icount shift=0 QEMU's rdcycle returns the virtual clock in ns, which
 * advances one ns per retired instruction and jumps over WFI sleeps; so a tick is one
 * instruction of a busy core (PIT_TIMER_INSTR_TIME at 1e9 ticks/s).
 *
 * Interrupts stay globally masked (mstatus.MIE = 0): the UART's PLIC line and the CLINT
 * timer are enabled in mie only so that WFI wakes on them, which it does whatever
 * mstatus.MIE says. Waiting for input therefore sleeps instead of spinning the emulator.
 *
 * Flow control: bytes are read from the UART only in board_getc(). QEMU's 16550 offers
 * the next byte only while its receive FIFO has room, so a busy core holds the rest of
 * the stream back in the emulator and no byte is lost. */
#include <stdint.h>

#include "pit_board.h"
#include "pit_proto.h"

#define REG8(a) (*(volatile uint8_t *)(a))
#define REG32(a) (*(volatile uint32_t *)(a))

#define UART_BASE 0x10000000u
#define UART_RBR REG8(UART_BASE + 0u)
#define UART_THR REG8(UART_BASE + 0u)
#define UART_IER REG8(UART_BASE + 1u)
#define UART_FCR REG8(UART_BASE + 2u)
#define UART_LSR REG8(UART_BASE + 5u)
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define UART_IRQ 10u

#define PLIC_BASE 0x0C000000u
#define PLIC_PRIORITY(src) REG32(PLIC_BASE + 4u * (src))
#define PLIC_ENABLE0 REG32(PLIC_BASE + 0x2000u)    /* hart 0, M-mode context */
#define PLIC_THRESHOLD0 REG32(PLIC_BASE + 0x200000u)
#define PLIC_CLAIM0 REG32(PLIC_BASE + 0x200004u)

#define CLINT_MTIMECMP_LO REG32(0x02004000u)
#define CLINT_MTIMECMP_HI REG32(0x02004004u)
#define CLINT_MTIME_LO REG32(0x0200BFF8u)
#define CLINT_MTIME_HI REG32(0x0200BFFCu)
#define MTIME_HZ 10000000u /* virt's timebase-frequency */

#define MIE_MTIE (1u << 7)
#define MIE_MEIE (1u << 11)

#define CORE_HZ 100000000u /* notional: one instruction per cycle at 100 MHz */

static const pit_board_info_t k_info = {"qemu_riscv32", CORE_HZ, 1000000000u,
                                        PIT_TIMER_INSTR_TIME, 0u, NULL, 0u};

const pit_board_info_t *board_info(void) { return &k_info; }

uint64_t board_ticks(void)
{
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("rdcycleh %0" : "=r"(hi));
        __asm__ volatile("rdcycle %0" : "=r"(lo));
        __asm__ volatile("rdcycleh %0" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t mtime(void)
{
    uint32_t hi, lo;
    do {
        hi = CLINT_MTIME_HI;
        lo = CLINT_MTIME_LO;
    } while (hi != CLINT_MTIME_HI);
    return ((uint64_t)hi << 32) | lo;
}

static void set_mtimecmp(uint64_t t)
{
    CLINT_MTIMECMP_HI = 0xFFFFFFFFu; /* no spurious match while the halves change */
    CLINT_MTIMECMP_LO = (uint32_t)t;
    CLINT_MTIMECMP_HI = (uint32_t)(t >> 32);
}

/* No timestamp pin on the emulated machine. */
void board_timestamp(void) {}

void board_init(void)
{
    UART_FCR = 0x07u; /* FIFO on and cleared; the receive interrupt fires at one byte */
    UART_IER = 0x01u; /* received-data interrupt: a PLIC line to wake WFI */
    PLIC_PRIORITY(UART_IRQ) = 1u;
    PLIC_ENABLE0 = 1u << UART_IRQ;
    PLIC_THRESHOLD0 = 0u;
    set_mtimecmp(UINT64_MAX);
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MTIE | MIE_MEIE));
}

int board_getc(uint32_t timeout_ms)
{
    const uint64_t deadline = mtime() + (uint64_t)timeout_ms * (MTIME_HZ / 1000u);
    for (;;) {
        /* Acknowledge the UART's PLIC interrupt first: its pending bit stays set until
         * claimed, and a set bit would keep WFI from sleeping. A byte arriving after the
         * claim raises it again, so WFI cannot miss it. */
        const uint32_t claimed = PLIC_CLAIM0;
        if (claimed)
            PLIC_CLAIM0 = claimed;
        if (UART_LSR & LSR_DR)
            return UART_RBR;
        if (mtime() >= deadline)
            return -1;
        set_mtimecmp(deadline);
        __asm__ volatile("wfi" ::: "memory");
    }
}

void board_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (!(UART_LSR & LSR_THRE)) {
        }
        UART_THR = data[i];
    }
}

int main(void)
{
    board_init();
    pit_serve_forever();
    return 0;
}
