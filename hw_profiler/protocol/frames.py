"""Frame layer of the board protocol (docs/protocol.md section 1).

``A5 5A | len u16 | type u8 | seq u8 | payload | crc16 u16`` with CRC-16/CCITT-FALSE over
everything between the start marker and the CRC. :class:`FrameParser` mirrors the
firmware's parser: it hunts for the start marker, rejects oversized lengths, and
resynchronises after garbage or a bad CRC.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SOF = b"\xa5\x5a"
HEADER_SIZE = 6
TRAILER_SIZE = 2
MAX_PAYLOAD = 4096
"""Payload limit of firmware 1.0 on every port (the board reports its own in INFO)."""


def _make_crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC16_TABLE = _make_crc16_table()


def crc16(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); ``crc16(b"123456789") == 0x29B1``."""
    for b in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    type: int
    seq: int
    payload: bytes


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """Serialise one frame. Raises ``ValueError`` for out-of-range fields."""
    if not 0 <= msg_type <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError("type and seq must fit in one byte")
    if len(payload) > 0xFFFF:
        raise ValueError("payload longer than 65535 bytes")
    body = struct.pack("<HBB", len(payload), msg_type, seq) + bytes(payload)
    return SOF + body + struct.pack("<H", crc16(body))


class FrameError(Exception):
    """A frame the parser rejected; ``kind`` is ``"crc"`` or ``"too_long"``."""

    def __init__(self, kind: str, msg_type: int = 0, seq: int = 0) -> None:
        super().__init__(f"{kind} (type=0x{msg_type:02x}, seq={seq})")
        self.kind = kind
        self.type = msg_type
        self.seq = seq


class FrameParser:
    """Incremental frame decoder that resynchronises after garbage.

    Feed bytes as they arrive; :meth:`feed` returns the complete frames and
    :class:`FrameError` items (bad CRC, oversized length) in arrival order. Bytes outside
    frames are counted in :attr:`discarded`. After an error the parser restarts the hunt at
    the byte following the rejected start marker, like the firmware, so a false marker in
    garbage cannot hide a real frame that starts inside it.
    """

    def __init__(self, max_payload: int = 0xFFFF) -> None:
        self.max_payload = max_payload
        self.discarded = 0
        self._buf = bytearray()

    def reset(self) -> None:
        """Forget any partial frame (e.g. after a byte timeout)."""
        self.discarded += len(self._buf)
        self._buf.clear()

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | FrameError]:
        self._buf += bytes(data)
        out: list[Frame | FrameError] = []
        buf = self._buf
        while True:
            start = buf.find(SOF)
            if start < 0:
                # keep a trailing 0xA5: it may be the first half of a marker
                keep = 1 if buf[-1:] == b"\xa5" else 0
                self.discarded += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.discarded += start
                del buf[:start]
            if len(buf) < 4:
                break
            (length,) = struct.unpack_from("<H", buf, 2)
            if length > self.max_payload:
                out.append(FrameError("too_long"))
                self.discarded += 4
                del buf[:4]
                continue
            total = HEADER_SIZE + length + TRAILER_SIZE
            if len(buf) < total:
                break
            body = bytes(buf[2 : HEADER_SIZE + length])
            (crc_rx,) = struct.unpack_from("<H", buf, HEADER_SIZE + length)
            msg_type, seq = buf[4], buf[5]
            if crc16(body) == crc_rx:
                out.append(Frame(msg_type, seq, body[4:]))
                del buf[:total]
            else:
                out.append(FrameError("crc", msg_type, seq))
                # resume after the start marker: a real frame may begin inside this one
                self.discarded += 2
                del buf[:2]
        return out
