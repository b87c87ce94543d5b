/* STM32F4 port. BOARD_NETDUINOPLUS2 (QEMU): USART1, SysTick ticks under -icount shift=0
 * (instruction-time). BOARD_NUCLEO_F401RE / F446RE: USART2 on the ST-Link VCP (PA2/PA3),
 * DWT CYCCNT cycles, HSI 16 MHz (no PLL set-up). */
#include <stdint.h>

#include "pit_board.h"
#include "pit_proto.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define RCC_APB2ENR REG(0x40023844u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

#define NVIC_ISER1 REG(0xE000E104u)
#define NVIC_ICER1 REG(0xE000E184u)

#if defined(BOARD_NETDUINOPLUS2)
#define USART_BASE 0x40011000u /* USART1, APB2 */
#define UART_IRQ 37
#define CORE_HZ 168000000u
static const pit_board_info_t k_info_base = {"netduinoplus2", CORE_HZ, CORE_HZ,
                                             PIT_TIMER_INSTR_TIME, 0u, NULL, 0u};
#elif defined(BOARD_NUCLEO_F401RE) || defined(BOARD_NUCLEO_F446RE)
#define USART_BASE 0x40004400u /* USART2, APB1 */
#define UART_IRQ 38
#define CORE_HZ 16000000u      /* HSI after reset */
#define USE_DWT 1
#if defined(BOARD_NUCLEO_F401RE)
static const pit_board_info_t k_info_base = {"nucleo_f401re", CORE_HZ, CORE_HZ,
                                             PIT_TIMER_CYCLES, 0u, NULL, 0u};
#else
static const pit_board_info_t k_info_base = {"nucleo_f446re", CORE_HZ, CORE_HZ,
                                             PIT_TIMER_CYCLES, 0u, NULL, 0u};
#endif
#else
#error "define BOARD_NETDUINOPLUS2, BOARD_NUCLEO_F401RE or BOARD_NUCLEO_F446RE"
#endif

#define USART_SR REG(USART_BASE + 0x00u)
#define USART_DR REG(USART_BASE + 0x04u)
#define USART_BRR REG(USART_BASE + 0x08u)
#define USART_CR1 REG(USART_BASE + 0x0Cu)
#define CR1_RXNEIE (1u << 5)
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define SR_ORE (1u << 3)

extern uint8_t _flash_used_end, _flash_end, _model_slot, _model_slot_end;
static pit_board_info_t g_info;

const pit_board_info_t *board_info(void) { return &g_info; }

#ifdef USE_DWT
/* 64-bit extension of the 32-bit CYCCNT; SysTick calls board_ticks() every 2^24 cycles so
 * no wrap is missed between two reads. */
static uint32_t g_hi, g_last;
uint64_t board_ticks(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask));
    uint32_t c = DWT_CYCCNT;
    if (c < g_last)
        g_hi++;
    g_last = c;
    uint64_t v = ((uint64_t)g_hi << 32) | c;
    __asm__ volatile("msr primask, %0" ::"r"(primask));
    return v;
}
void SysTick_Handler(void) { (void)board_ticks(); }
#else
/* SysTick is 24-bit and counts down from RVR; the interrupt counts wraps. The loop
 * re-reads when a wrap interrupt slipped in between the two reads. */
static volatile uint32_t g_wraps;
void SysTick_Handler(void) { g_wraps++; }
uint64_t board_ticks(void)
{
    uint32_t hi, v;
    do {
        hi = g_wraps;
        v = SYST_CVR;
    } while (hi != g_wraps);
    return ((uint64_t)hi << 24) + (0xFFFFFFu - v);
}
#endif

void board_init(void)
{
    g_info = k_info_base;
    g_info.flash_free_bytes = (uint32_t)(&_flash_end - &_flash_used_end);
    g_info.model_flash = &_model_slot;
    g_info.model_flash_bytes = (uint32_t)(&_model_slot_end - &_model_slot);
#if defined(BOARD_NETDUINOPLUS2)
    RCC_APB2ENR |= 1u << 4; /* USART1EN */
    USART_BRR = CORE_HZ / 2u / 115200u;
#else
    RCC_AHB1ENR |= 1u << 0;  /* GPIOAEN */
    RCC_APB1ENR |= 1u << 17; /* USART2EN */
    REG(0x40020000u) = (REG(0x40020000u) & ~(0xFu << 4)) | (0xAu << 4); /* PA2/PA3 AF */
    REG(0x40020020u) = (REG(0x40020020u) & ~(0xFFu << 8)) | (0x77u << 8); /* AF7 */
    USART_BRR = (CORE_HZ + 57600u) / 115200u;
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
#endif
    USART_CR1 = (1u << 13) | CR1_RXNEIE | (1u << 3) | (1u << 2); /* UE | RXNEIE | TE | RE */
    NVIC_ISER1 = 1u << (UART_IRQ - 32);
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
}

/* Received bytes, filled by the UART interrupt. Waiting for input sleeps (WFI) instead
 * of polling, so an idle board (and an idle emulator) costs no CPU.
 *
 * Flow control: when the ring is full the interrupt leaves the byte in the data register
 * and masks itself until board_getc() has made room. QEMU's USART then holds the rest of
 * the stream back (it offers a byte only while RXNE is clear), so no byte of a frame is
 * lost however far the core falls behind the emulator's delivery; before, the interrupt
 * drained the register into a 256-byte ring regardless and dropped what did not fit. On
 * silicon a byte that arrives while the register is still full overruns, so the ring
 * covers the bursts a busy core must absorb. */
#define RX_SIZE 1024u
static volatile uint8_t g_rx[RX_SIZE];
static volatile uint32_t g_rx_head, g_rx_tail;
static volatile uint32_t g_rx_paused;

void Uart_IRQHandler(void)
{
    for (;;) {
        uint32_t sr = USART_SR;
        if (!(sr & (SR_RXNE | SR_ORE)))
            return;
        if ((sr & SR_RXNE) && g_rx_head - g_rx_tail >= RX_SIZE) {
            NVIC_ICER1 = 1u << (UART_IRQ - 32); /* ring full: pause, keep the byte in DR */
            g_rx_paused = 1;
            return;
        }
        uint8_t byte = (uint8_t)(USART_DR & 0xFFu); /* also clears an overrun */
        if (!(sr & SR_RXNE))
            continue;
        g_rx[g_rx_head % RX_SIZE] = byte;
        g_rx_head++;
    }
}

int board_getc(uint32_t timeout_ms)
{
    const uint64_t start = board_ticks();
    const uint64_t limit = (uint64_t)timeout_ms * (g_info.ticks_per_second / 1000u);
    for (;;) {
        /* Check and sleep with interrupts masked: a byte arriving in between still
         * wakes the WFI (pending interrupt), and is handled once unmasked. */
        __asm__ volatile("cpsid i" ::: "memory");
        if (g_rx_tail != g_rx_head) {
            uint8_t byte = g_rx[g_rx_tail % RX_SIZE];
            g_rx_tail++;
            if (g_rx_paused) { /* room again: take the byte waiting in DR */
                g_rx_paused = 0;
                NVIC_ISER1 = 1u << (UART_IRQ - 32);
            }
            __asm__ volatile("cpsie i" ::: "memory");
            return byte;
        }
        if (board_ticks() - start >= limit) {
            __asm__ volatile("cpsie i" ::: "memory");
            return -1;
        }
        __asm__ volatile("wfi\n cpsie i" ::: "memory"); /* SysTick wakes it to check time */
    }
}

void board_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (!(USART_SR & SR_TXE)) {
        }
        USART_DR = data[i];
    }
}

int main(void)
{
    board_init();
    pit_serve_forever();
    return 0;
}
