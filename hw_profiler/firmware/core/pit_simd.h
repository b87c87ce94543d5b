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
/* (acc * 2^32 + a * b + 2^31) >> 32: the rounded high word of a 64-bit product plus acc. */
static inline int32_t pit_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* Each of the four int8 lanes of v clamped to the same lane of lo4 / hi4 (SSUB8 sets the
 * GE flags SEL reads, so both pairs stay in one asm block). */
static inline uint32_t pit_clamp_s8x4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\t"
            "sel   %0, %0, %2\n\t"
            "ssub8 %1, %0, %3\n\t"
            "sel   %0, %3, %0"
            : "+r"(v), "=&r"(t) : "r"(lo4), "r"(hi4) : "cc");
    return v;
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
static inline int32_t pit_smmlar(int32_t a, int32_t b, int32_t acc)
{
    const uint64_t v = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) +
                       UINT64_C(0x80000000);
    return (int32_t)(uint32_t)(v >> 32);
}
static inline uint32_t pit_clamp_s8x4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(v >> i), lo = (int8_t)(lo4 >> i), hi = (int8_t)(hi4 >> i);
        r |= (uint32_t)(uint8_t)(x < lo ? lo : (x > hi ? hi : x)) << i;
    }
    return r;
}
static inline uint32_t pit_sadd16(uint32_t a, uint32_t b)
{
    uint32_t lo = (a + b) & 0xFFFFu;
    uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
}
#endif

#endif
