/* Minimal Cortex-M4F startup: vector table, .data/.bss init, FPU on, main(). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void Uart_IRQHandler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

/* Any fault: request a system reset rather than hang; the host sees a silent board and
 * re-sends after its timeout. */
static void Fault_Handler(void)
{
    SCB_AIRCR = (0x5FAu << 16) | (1u << 2);
    for (;;) {
    }
}

static void Default_Handler(void) {}

/* 16 system exceptions + the STM32F4's 82 interrupts; only the command UART's is used:
 * USART1 is IRQ 37, USART2 is IRQ 38. */
#if defined(BOARD_NETDUINOPLUS2)
#define UART_IRQ 37
#else
#define UART_IRQ 38
#endif
__attribute__((section(".isr_vector"), used)) static void (*const vectors[16 + 82])(void) = {
    [0] = (void (*)(void))(&_estack),
    [1] = Reset_Handler,
    [2] = Fault_Handler,
    [3] = Fault_Handler,
    [4] = Fault_Handler,
    [5] = Fault_Handler,
    [6] = Fault_Handler,
    [11] = Default_Handler,
    [12] = Default_Handler,
    [14] = Default_Handler,
    [15] = SysTick_Handler,
    [16 + UART_IRQ] = Uart_IRQHandler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    SCB_CPACR |= 0xFu << 20; /* CP10/CP11 full access: hard-float ABI needs the FPU */
    __asm__ volatile("dsb\n isb");
    main();
    for (;;) {
    }
}
