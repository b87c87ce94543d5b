#ifndef PIT_CRC_H
#define PIT_CRC_H
#include <stddef.h>
#include <stdint.h>

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): frames. */
uint16_t pit_crc16_update(uint16_t crc, uint8_t byte);
uint16_t pit_crc16(const uint8_t *data, size_t len);
/* CRC-32 (IEEE, as zlib): model images and bench outputs. Start with 0. */
uint32_t pit_crc32(uint32_t crc, const uint8_t *data, size_t len);

#endif
