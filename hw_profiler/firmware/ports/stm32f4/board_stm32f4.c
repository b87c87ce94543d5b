/* STM32F4 port. BOARD_NETDUINOPLUS2: USART1 (QEMU's netduinoplus2, or a real F405/F407
 * through the ROM bootloader). BOARD_NUCLEO_F401RE / F446RE: USART2 on the ST-Link VCP
 * (PA2/PA3).
 *
 * Silicon or emulator is decided at run time: QEMU's DWT cycle counter reads zero. On
 * silicon the PLL runs the core at CORE_HZ from the HSI (84 MHz F401, 168 MHz F405/F407/
 * F446), ticks are DWT CYCCNT cycles, and the timestamp pin is live. Under QEMU nothing
 * touches the clock tree and ticks come from TIM2, which -icount shift=0 drives by
 * instruction time.
 *
 * Timestamp pin: PA8 (Arduino D7 on the NUCLEO-64 boards), idle high, pulsed low at the
 * start and at the end of each timed window; wire it to the LPM01A's D7 or the PPK2's D0.
 * Under QEMU the edges go out as tick stamps on USART2 (board_timestamp). */
#include <stdint.h>

#include "pit_board.h"
#include "pit_proto.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_CR REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR REG(0x40023808u)
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define RCC_APB2ENR REG(0x40023844u)
#define FLASH_ACR REG(0x40023C00u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define GPIOA_BSRR REG(0x40020018u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

#define TIM2_CR1 REG(0x40000000u)
#define TIM2_EGR REG(0x40000014u)
#define TIM2_CNT REG(0x40000024u)
#define TIM2_PSC REG(0x40000028u)
#define TIM2_ARR REG(0x4000002Cu)

#define NVIC_ISER1 REG(0xE000E104u)
#define NVIC_ICER1 REG(0xE000E184u)

/* PLL from the 16 MHz HSI: VCO = 16 MHz / M * N = 336 MHz, SYSCLK = VCO / P, 48 MHz
 * domain = VCO / Q = 48 MHz. APB1 stays at 42 MHz, its maximum on every part here. */
#define PLL_M 16u
#define PLL_N 336u
#define PLL_Q 7u
#if defined(BOARD_NETDUINOPLUS2) || defined(BOARD_NUCLEO_F446RE)
#define CORE_HZ 168000000u
#define PLL_P_BITS 0u      /* P = 2 */
#define FLASH_WS 5u        /* 150-180 MHz at 2.7-3.6 V */
#define CFGR_PPRE 0x9400u  /* APB1 = HCLK / 4, APB2 = HCLK / 2 */
#define APB2_HZ (CORE_HZ / 2u)
#else
#define CORE_HZ 84000000u
#define PLL_P_BITS 1u      /* P = 4 */
#define FLASH_WS 2u        /* 64-84 MHz at 2.7-3.6 V */
#define CFGR_PPRE 0x1000u  /* APB1 = HCLK / 2, APB2 = HCLK */
#define APB2_HZ CORE_HZ
#endif
#define APB1_HZ 42000000u

#if defined(BOARD_NETDUINOPLUS2)
#define USART_BASE 0x40011000u /* USART1, APB2 */
#define UART_IRQ 37
#define EDGE_USART_BASE 0x40004400u /* USART2: timestamp edges under QEMU */
#define UART_CLOCK_HZ APB2_HZ
#define BOARD_NAME "netduinoplus2"
#elif defined(BOARD_NUCLEO_F401RE) || defined(BOARD_NUCLEO_F446RE)
#define USART_BASE 0x40004400u /* USART2, APB1 */
#define UART_IRQ 38
#define UART_CLOCK_HZ APB1_HZ
#if defined(BOARD_NUCLEO_F401RE)
#define BOARD_NAME "nucleo_f401re"
#else
#define BOARD_NAME "nucleo_f446re"
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
static int g_silicon; /* the DWT cycle counter counts: real hardware, not QEMU */

const pit_board_info_t *board_info(void) { return &g_info; }

/* Ticks: a free-running 32-bit up-counter extended to 64 bits (pit_extend_ticks), DWT
 * CYCCNT on silicon, TIM2 under QEMU. QEMU's STM32F405 model clocks its timers at 1 GHz of
 * virtual time, which -icount shift=0 advances by 1 ns per instruction, so TIM2 counts
 * instructions exactly (SysTick, at 168 MHz, counts one per 5.95 instructions, and each
 * window's start phase moved the result by a tick). The extension needs one read per
 * 2^32 counts: every wait for input reads the clock at least once a second, and a timed
 * region must be shorter than 2^32 ticks (4.3 s of instructions, 25 s at 168 MHz). */
static pit_tick_ext_t g_ticks;

uint64_t board_ticks(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask));
    const uint64_t v = pit_extend_ticks(&g_ticks, g_silicon ? DWT_CYCCNT : TIM2_CNT);
    __asm__ volatile("msr primask, %0" ::"r"(primask));
    return v;
}

/* SysTick is only the alarm that ends a wait for input at its deadline: it runs inside
 * board_getc() and is stopped outside it, so no timer interrupt lands in a timed window. */
void SysTick_Handler(void) {}

static int dwt_counts(void)
{
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    for (volatile int i = 0; i < 16; i++) {
    }
    return DWT_CYCCNT != 0;
}

/* HSI -> PLL -> SYSCLK = CORE_HZ, with the flash wait states raised first. */
static void clock_init(void)
{
    FLASH_ACR = FLASH_WS | (1u << 8) | (1u << 9) | (1u << 10); /* + prefetch, I/D caches */
    while ((FLASH_ACR & 0xFu) != FLASH_WS) {
    }
    RCC_CFGR = (RCC_CFGR & ~0xFCF0u) | CFGR_PPRE; /* AHB = SYSCLK */
    RCC_PLLCFGR = (RCC_PLLCFGR & 0xF0000000u) | PLL_M | (PLL_N << 6) | (PLL_P_BITS << 16) |
                  (PLL_Q << 24); /* source HSI */
    RCC_CR |= 1u << 24;          /* PLLON */
    while (!(RCC_CR & (1u << 25))) {
    }
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u; /* SW = PLL */
    while ((RCC_CFGR & 0xCu) != 0x8u) {
    }
}

/* On silicon: PA8 pulsed low. The emulator has no pin a monitor could watch, so each edge
 * goes out as the tick it happened at (8 bytes, little-endian) on the edge UART, QEMU's
 * second -serial (bytes to nowhere when it has none): a stand-in power monitor cuts its
 * window there, in the same time base as the reported ticks. */
void board_timestamp(void)
{
    if (g_silicon) {
        GPIOA_BSRR = 1u << (8 + 16); /* PA8 low: the falling edge the monitor counts */
        for (volatile int i = 0; i < 8; i++) {
        }
        GPIOA_BSRR = 1u << 8;
        return;
    }
#if defined(EDGE_USART_BASE)
    const uint64_t t = board_ticks();
    for (unsigned i = 0; i < 8u; i++) {
        while (!(REG(EDGE_USART_BASE) & SR_TXE)) {
        }
        REG(EDGE_USART_BASE + 0x04u) = (uint8_t)(t >> (8u * i));
    }
#endif
}

void board_init(void)
{
    g_silicon = dwt_counts();
    g_info = (pit_board_info_t){BOARD_NAME, CORE_HZ, g_silicon ? CORE_HZ : 1000000000u,
                                g_silicon ? PIT_TIMER_CYCLES : PIT_TIMER_INSTR_TIME, 0u, NULL, 0u};
    g_info.flash_free_bytes = (uint32_t)(&_flash_end - &_flash_used_end);
    g_info.model_flash = &_model_slot;
    g_info.model_flash_bytes = (uint32_t)(&_model_slot_end - &_model_slot);
    if (!g_silicon) { /* TIM2 as a 32-bit counter of QEMU's 1 GHz timer clock */
        RCC_APB1ENR |= 1u << 0; /* TIM2EN */
#if defined(EDGE_USART_BASE)
        RCC_APB1ENR |= 1u << 17;                            /* USART2EN */
        REG(EDGE_USART_BASE + 0x0Cu) = (1u << 13) | (1u << 3); /* UE | TE */
#endif
        TIM2_PSC = 0;
        TIM2_ARR = 0xFFFFFFFFu;
        TIM2_EGR = 1u; /* UG: load the prescaler */
        TIM2_CNT = 0;
        TIM2_CR1 = 1u; /* CEN */
    } else {
        clock_init();
        RCC_AHB1ENR |= 1u << 0;                   /* GPIOAEN */
        GPIOA_BSRR = 1u << 8;                     /* timestamp pin idles high */
        GPIOA_MODER = (GPIOA_MODER & ~(3u << 16)) | (1u << 16); /* PA8 output */
    }
#if defined(BOARD_NETDUINOPLUS2)
    RCC_APB2ENR |= 1u << 4; /* USART1EN; PA9/PA10 are left as the ROM bootloader set them */
#else
    RCC_AHB1ENR |= 1u << 0;  /* GPIOAEN */
    RCC_APB1ENR |= 1u << 17; /* USART2EN */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4); /* PA2/PA3 AF */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8); /* AF7 */
#endif
    USART_BRR = (UART_CLOCK_HZ + 57600u) / 115200u;
    USART_CR1 = (1u << 13) | CR1_RXNEIE | (1u << 3) | (1u << 2); /* UE | RXNEIE | TE | RE */
    NVIC_ISER1 = 1u << (UART_IRQ - 32);
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

/* Wake at the deadline: SysTick (processor clock, 24 bits) is armed for the time left, or
 * for its longest period when more is left, so a silent line is noticed on time even while
 * the core sleeps. */
static void arm_alarm(uint64_t now, uint64_t deadline)
{
    SYST_CSR = 0;
    SYST_RVR = pit_alarm_counts(now, deadline, g_info.ticks_per_second, CORE_HZ, 0xFFFFFFu);
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
}

int board_getc(uint32_t timeout_ms)
{
    const uint64_t deadline =
        board_ticks() + (uint64_t)timeout_ms * (g_info.ticks_per_second / 1000u);
    int c = -1;
    for (;;) {
        /* Check and sleep with interrupts masked: a byte or the alarm arriving in between
         * still wakes the WFI (pending interrupt), and is handled once unmasked. */
        __asm__ volatile("cpsid i" ::: "memory");
        if (g_rx_tail != g_rx_head) {
            c = g_rx[g_rx_tail % RX_SIZE];
            g_rx_tail++;
            if (g_rx_paused) { /* room again: take the byte waiting in DR */
                g_rx_paused = 0;
                NVIC_ISER1 = 1u << (UART_IRQ - 32);
            }
            break;
        }
        const uint64_t now = board_ticks();
        if (now >= deadline)
            break;
        arm_alarm(now, deadline);
        __asm__ volatile("wfi\n cpsie i" ::: "memory");
    }
    SYST_CSR = 0; /* no alarm outside a wait */
    __asm__ volatile("cpsie i" ::: "memory");
    return c;
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
