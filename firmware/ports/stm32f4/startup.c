/* Minimal Cortex-M4F startup: vector table, .data/.bss init, FPU on, main(). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);

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

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0,
    Default_Handler, SysTick_Handler};

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
