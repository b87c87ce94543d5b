"""STM32 ROM serial bootloader (ST application note AN3155) over pyserial.

Byte protocol: the host sends 0x7F so the bootloader measures the baud rate (8 data bits,
even parity); every command is the code followed by its complement; the bootloader
answers ACK 0x79 or NACK 0x1F. Addresses are 4 bytes MSB first plus their XOR; data
blocks are (N-1, N bytes, XOR of all of them), at most 256 bytes, a multiple of 4.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from operator import xor
from typing import Any

import serial

from hw_profiler.errors import FlashError, PortError
from hw_profiler.flashers.base import Flasher
from hw_profiler.flashers.elf import Segment, load_segments

ACK, NACK, SYNC = 0x79, 0x1F, 0x7F
CMD_GET, CMD_GET_VERSION, CMD_GET_ID = 0x00, 0x01, 0x02
CMD_READ, CMD_GO, CMD_WRITE, CMD_EXT_ERASE = 0x11, 0x21, 0x31, 0x44
BLOCK = 256
# STM32F4 flash sectors (bank 1 of the 1 MB parts): 4x16K, 64K, 7x128K.
F4_SECTORS = [16 * 1024] * 4 + [64 * 1024] + [128 * 1024] * 7


def _xor(data: Iterable[int]) -> int:
    return reduce(xor, data, 0)


class An3155Client:
    """Speaks the bootloader commands on an open pyserial port."""

    def __init__(self, port: serial.SerialBase, timeout_s: float = 1.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.commands: bytes = b""
        self.version = 0

    # -- primitives ------------------------------------------------------------
    def _read(self, n: int, timeout_s: float, what: str) -> bytes:
        deadline = time.monotonic() + timeout_s
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FlashError(
                    f"AN3155 {what}: no reply from the bootloader within {timeout_s:g} s"
                )
            self.port.timeout = min(remaining, 0.1)
            buf += self.port.read(n - len(buf))
        return bytes(buf)

    def _ack(self, what: str, timeout_s: float | None = None) -> None:
        byte = self._read(1, timeout_s or self.timeout_s, what)[0]
        if byte == NACK:
            raise FlashError(f"AN3155 {what}: bootloader answered NACK")
        if byte != ACK:
            raise FlashError(f"AN3155 {what}: expected ACK 0x79, got 0x{byte:02X}")

    def _command(self, code: int, what: str) -> None:
        self.port.write(bytes([code, code ^ 0xFF]))
        self._ack(what)

    def _address(self, address: int, what: str) -> None:
        raw = address.to_bytes(4, "big")
        self.port.write(raw + bytes([_xor(raw)]))
        self._ack(f"{what} address 0x{address:08X}")

    # -- commands --------------------------------------------------------------
    def sync(self, attempts: int = 3) -> None:
        """Send 0x7F until the bootloader ACKs (a NACK means it was already synced)."""
        for _ in range(attempts):
            self.port.reset_input_buffer()
            self.port.write(bytes([SYNC]))
            try:
                byte = self._read(1, self.timeout_s, "sync")[0]
            except FlashError:
                continue
            if byte in (ACK, NACK):
                return
        raise FlashError(
            f"AN3155 sync: no ACK to 0x7F on {self.port.port} after {attempts} tries "
            "(is BOOT0 high and the board reset? 8E1 framing?)"
        )

    def get(self) -> tuple[int, bytes]:
        self._command(CMD_GET, "GET")
        n = self._read(1, self.timeout_s, "GET")[0]
        body = self._read(n + 1, self.timeout_s, "GET")
        self._ack("GET")
        self.version, self.commands = body[0], body[1:]
        return self.version, self.commands

    def get_id(self) -> int:
        self._command(CMD_GET_ID, "GET_ID")
        n = self._read(1, self.timeout_s, "GET_ID")[0]
        pid = self._read(n + 1, self.timeout_s, "GET_ID")
        self._ack("GET_ID")
        return int.from_bytes(pid, "big")

    def read_memory(self, address: int, length: int) -> bytes:
        if not 1 <= length <= BLOCK:
            raise ValueError("read length must be 1..256")
        self._command(CMD_READ, "READ_MEMORY")
        self._address(address, "READ_MEMORY")
        self.port.write(bytes([length - 1, (length - 1) ^ 0xFF]))
        self._ack("READ_MEMORY length")
        return self._read(length, self.timeout_s, "READ_MEMORY data")

    def write_memory(self, address: int, data: bytes) -> None:
        if not 1 <= len(data) <= BLOCK:
            raise ValueError("write block must be 1..256 bytes")
        padded = data + b"\xff" * (-len(data) % 4)
        self._command(CMD_WRITE, "WRITE_MEMORY")
        self._address(address, "WRITE_MEMORY")
        frame = bytes([len(padded) - 1]) + padded
        self.port.write(frame + bytes([_xor(frame)]))
        self._ack(f"WRITE_MEMORY data at 0x{address:08X}", timeout_s=max(self.timeout_s, 2.0))

    def extended_erase(self, sectors: Sequence[int] | None, timeout_s: float = 40.0) -> None:
        """Erase the given sector numbers, or everything (mass erase) when None."""
        if CMD_EXT_ERASE not in self.commands and self.commands:
            raise FlashError("AN3155: this bootloader has no extended erase (0x44)")
        self._command(CMD_EXT_ERASE, "EXTENDED_ERASE")
        if sectors is None:
            payload = b"\xff\xff"
        else:
            payload = (len(sectors) - 1).to_bytes(2, "big") + b"".join(
                s.to_bytes(2, "big") for s in sectors
            )
        self.port.write(payload + bytes([_xor(payload)]))
        self._ack("EXTENDED_ERASE", timeout_s=timeout_s)

    def go(self, address: int) -> None:
        self._command(CMD_GO, "GO")
        self._address(address, "GO")

    def write_image(
        self, segments: Sequence[Segment], progress: Callable[[int, int], None] | None = None
    ) -> None:
        total = sum(len(s.data) for s in segments)
        done = 0
        for seg in segments:
            for off in range(0, len(seg.data), BLOCK):
                block = seg.data[off : off + BLOCK]
                self.write_memory(seg.address + off, block)
                done += len(block)
                if progress:
                    progress(done, total)

    def verify_image(self, segments: Sequence[Segment]) -> None:
        for seg in segments:
            for off in range(0, len(seg.data), BLOCK):
                want = seg.data[off : off + BLOCK]
                got = self.read_memory(seg.address + off, len(want))
                if got != want:
                    where = seg.address + off
                    raise FlashError(f"AN3155 verify: mismatch in block at 0x{where:08X}")


def sectors_for(
    segments: Sequence[Segment], base: int = 0x08000000, layout: Sequence[int] = F4_SECTORS
) -> list[int]:
    """Flash sector numbers touched by ``segments``."""
    touched = []
    start = base
    for number, size in enumerate(layout):
        end = start + size
        if any(s.address < end and s.address + len(s.data) > start for s in segments):
            touched.append(number)
        start = end
    return touched


class An3155Flasher(Flasher):
    """Writes the firmware through the ROM bootloader, jumps to it, then hands back the
    application's UART (normally the same port, now 8N1 at the application baud)."""

    def open_bootloader_port(self) -> serial.SerialBase:
        url = self.options.get("port") or self.uart_port()
        try:
            return serial.serial_for_url(
                url,
                baudrate=int(self.options.get("baud", 115200)),
                # the bootloader frames 8E1; "N" only for links that cannot carry parity
                # (pseudo-terminals, some TCP bridges)
                parity=str(self.options.get("parity", serial.PARITY_EVEN)),
                bytesize=serial.EIGHTBITS,
                stopbits=serial.STOPBITS_ONE,
                timeout=0.1,
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise PortError(f"cannot open bootloader port {url!r}: {exc}") from exc

    def _enter_bootloader(self, port: Any) -> None:
        if not self.options.get("reset_with_dtr_rts", False):
            return
        port.rts = True  # BOOT0 high
        port.dtr = True  # NRST low
        time.sleep(0.05)
        port.dtr = False
        time.sleep(0.1)

    def flash(self) -> None:
        assert self.firmware is not None
        segments = load_segments(self.firmware)
        port = self.open_bootloader_port()
        try:
            self._enter_bootloader(port)
            client = An3155Client(port, float(self.options.get("timeout_s", 1.0)))
            client.sync()
            client.get()
            mode = self.options.get("erase", "mass")
            client.extended_erase(None if mode == "mass" else sectors_for(segments))
            client.write_image(segments)
            if self.options.get("verify", True):
                client.verify_image(segments)
            client.go(int(self.options.get("go_address", segments[0].address)))
            if self.options.get("reset_with_dtr_rts", False):
                port.rts = False  # BOOT0 back low for the next reset
        finally:
            with contextlib.suppress(Exception):
                port.close()

    def start(self) -> str:
        return self.uart_port()
