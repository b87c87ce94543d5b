/* Framed serial protocol (docs/protocol.md): parser, command handlers, main loop. */
#ifndef PIT_PROTO_H
#define PIT_PROTO_H
#include <stddef.h>
#include <stdint.h>

#define PIT_PROTOCOL_VERSION 1
#define PIT_FIRMWARE_VERSION 0x0203
#define PIT_MAX_PAYLOAD 4096
#define PIT_BYTE_TIMEOUT_MS 200

#ifndef PIT_POOL_SIZE
#define PIT_POOL_SIZE (96u * 1024u)
#endif

enum {
    PIT_MSG_INFO = 0x01,
    PIT_MSG_BENCH = 0x02,
    PIT_MSG_LOAD_BEGIN = 0x10,
    PIT_MSG_LOAD_CHUNK = 0x11,
    PIT_MSG_LOAD_END = 0x12,
    PIT_MSG_LOAD_FLASH = 0x13,
    PIT_MSG_RUN = 0x20,
    PIT_MSG_INPUT_CHUNK = 0x21,
    PIT_MSG_OUTPUT_CHUNK = 0x22,
    PIT_MSG_RESET = 0x30,
    PIT_MSG_ERROR = 0xFF
};

/* Parser events */
enum { PIT_EV_NONE = 0, PIT_EV_FRAME, PIT_EV_BAD_CRC, PIT_EV_TOO_LONG };

typedef struct {
    uint8_t state;
    uint8_t type, seq;
    uint16_t len, pos, crc, crc_rx;
    uint8_t *payload; /* PIT_MAX_PAYLOAD bytes */
} pit_parser_t;

void pit_parser_init(pit_parser_t *p, uint8_t *payload_buf);
void pit_parser_reset(pit_parser_t *p);
int pit_parser_busy(const pit_parser_t *p); /* inside a frame (byte timeout applies) */
int pit_parser_feed(pit_parser_t *p, uint8_t byte);

/* Handle one complete request; sends exactly one reply frame. */
void pit_handle_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len);
void pit_send_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len);
/* Never returns: read bytes, parse, dispatch. */
void pit_serve_forever(void);

#endif
