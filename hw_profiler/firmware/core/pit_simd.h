/* The few DSP instructions the int8 kernels use. On Cortex-M4/M7 (ARMv7E-M with DSP) they
 * are single instructions; elsewhere they are emulated in C with identical results, so
 * the host build runs exactly the same blocked kernel code as the board. */
#ifndef PIT_SIMD_H
#define PIT_SIMD_H
#include <stdint.h>
#include <string.h>

static inline uint32_t pit_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR on Cortex-M4 (unaligned access allowed) */
    return v;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define PIT_SIMD_NATIVE 1
/* Lanes 0 and 2 sign-extended to two int16. */
static inline uint32_t pit_sxtb16(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
/* Lanes 1 and 3 sign-extended to two int16. */
static inline uint32_t pit_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t pit_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* Two int16 additions (wrapping). */
static inline uint32_t pit_sadd16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
#define PIT_SIMD_NATIVE 0
static inline uint32_t pit_sxtb16(uint32_t x)
{
    uint32_t lo = (uint32_t)(uint16_t)(int16_t)(int8_t)(x & 0xFFu);
    uint32_t hi = (uint32_t)(uint16_t)(int16_t)(int8_t)((x >> 16) & 0xFFu);
    return lo | (hi << 16);
}
static inline uint32_t pit_sxtb16_ror8(uint32_t x)
{
    return pit_sxtb16((x >> 8) | (x << 24));
}
static inline int32_t pit_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t p0 = (int32_t)(int16_t)(a & 0xFFFFu) * (int32_t)(int16_t)(b & 0xFFFFu);
    int32_t p1 = (int32_t)(int16_t)(a >> 16) * (int32_t)(int16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}
static inline uint32_t pit_sadd16(uint32_t a, uint32_t b)
{
    uint32_t lo = (a + b) & 0xFFFFu;
    uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
}
#endif

#endif
