/* QEMU virt (rv32) start-up: the ELF is loaded straight into RAM, so there is no .data
 * to copy; clear .bss, set the stack and the trap vector, call main(). */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, _estack
    la t0, trap_entry
    csrw mtvec, t0
    la t0, _sbss
    la t1, _ebss
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call main
3:  j 3b

/* Interrupts stay globally masked (they only wake WFI), so any trap is a fault: reset the
 * machine through the virt test device, as the STM32 port resets on a fault; the host
 * sees a silent board and re-sends after its timeout. */
    .align 4
trap_entry:
    li t0, 0x100000
    li t1, 0x7777
    sw t1, 0(t0)
4:  j 4b
