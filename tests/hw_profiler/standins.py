"""Scripted stand-ins for instruments the tests cannot have: they speak the documented
byte protocols on the master side of a pseudo-terminal (os.openpty)."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import tty
from functools import reduce
from operator import xor
from pathlib import Path


class PtyDevice:
    """A thread serving ``handle`` on a pty master; clients open ``self.path``."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self._buf = bytearray()
        self._closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PtyDevice:
        self.thread.start()
        return self

    def _run(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.serve()

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = os.read(self.master, 4096)
            if not chunk:
                raise EOFError
            self._buf += chunk
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out

    def readline(self) -> str:
        while b"\n" not in self._buf:
            chunk = os.read(self.master, 4096)
            if not chunk:
                raise EOFError
            self._buf += chunk
        line, _, rest = bytes(self._buf).partition(b"\n")
        self._buf = bytearray(rest)
        return line.decode().strip()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def serve(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        # Hang up first and let the thread finish before the master fd is released:
        # a thread still reading or writing a closed fd number would reach whatever
        # pty the next test opens under that number.
        with contextlib.suppress(OSError):
            os.close(self.slave)
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self.master)


ACK, NACK = b"\x79", b"\x1f"


class BootloaderStandIn(PtyDevice):
    """AN3155 bootloader: sync, GET, GET_ID, READ, WRITE (checksummed), EXTENDED ERASE, GO."""

    COMMANDS = bytes([0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44, 0x63, 0x73, 0x82, 0x92])

    def __init__(
        self,
        flash_base: int = 0x08000000,
        flash_size: int = 1 << 20,
        nack_write_at: int | None = None,
    ) -> None:
        super().__init__()
        self.base, self.size = flash_base, flash_size
        self.flash = bytearray(b"\x00" * flash_size)  # not erased: writes must erase first
        self.log: list[str] = []
        self.go_address: int | None = None
        self.nack_write_at = nack_write_at

    def _address(self) -> int | None:
        raw = self.read(5)
        if reduce(xor, raw[:4], 0) != raw[4]:
            self.write(NACK)
            return None
        addr = int.from_bytes(raw[:4], "big")
        if not self.base <= addr < self.base + self.size:
            self.write(NACK)
            return None
        self.write(ACK)
        return addr

    def serve(self) -> None:
        while self.read(1) != b"\x7f":
            pass
        self.write(ACK)
        while True:
            cmd, comp = self.read(2)
            if cmd ^ comp != 0xFF or cmd not in self.COMMANDS:
                self.write(NACK)
                continue
            self.write(ACK)
            getattr(self, f"_cmd_{cmd:02x}", self._unsupported)()

    def _unsupported(self) -> None:
        self.log.append("unsupported")

    def _cmd_00(self) -> None:  # GET
        self.write(bytes([len(self.COMMANDS)]) + b"\x31" + self.COMMANDS + ACK)
        self.log.append("get")

    def _cmd_02(self) -> None:  # GET_ID
        self.write(b"\x01\x04\x13" + ACK)
        self.log.append("get_id")

    def _cmd_11(self) -> None:  # READ MEMORY
        addr = self._address()
        if addr is None:
            return
        n, comp = self.read(2)
        if n ^ comp != 0xFF:
            self.write(NACK)
            return
        self.write(ACK)
        off = addr - self.base
        self.write(bytes(self.flash[off : off + n + 1]))
        self.log.append(f"read {addr:08x} {n + 1}")

    def _cmd_31(self) -> None:  # WRITE MEMORY
        addr = self._address()
        if addr is None:
            return
        n = self.read(1)[0]
        data = self.read(n + 1)
        checksum = self.read(1)[0]
        if reduce(xor, data, n) != checksum or (n + 1) % 4 or addr == self.nack_write_at:
            self.write(NACK)
            return
        off = addr - self.base
        # flash can only clear bits: writing over unerased data corrupts it, like silicon
        for i, byte in enumerate(data):
            self.flash[off + i] &= byte
        self.write(ACK)
        self.log.append(f"write {addr:08x} {n + 1}")

    def _cmd_44(self) -> None:  # EXTENDED ERASE
        head = self.read(2)
        if head == b"\xff\xff":
            if self.read(1)[0] != 0x00:
                self.write(NACK)
                return
            self.flash[:] = b"\xff" * self.size
            self.log.append("mass erase")
        else:
            count = int.from_bytes(head, "big") + 1
            pages = self.read(2 * count)
            if reduce(xor, head + pages, 0) != self.read(1)[0]:
                self.write(NACK)
                return
            numbers = [int.from_bytes(pages[i : i + 2], "big") for i in range(0, len(pages), 2)]
            sizes = [16384] * 4 + [65536] + [131072] * 7
            for number in numbers:
                start = sum(sizes[:number])
                self.flash[start : start + sizes[number]] = b"\xff" * sizes[number]
            self.log.append(f"erase {numbers}")
        self.write(ACK)

    def _cmd_21(self) -> None:  # GO
        addr = self._address()
        if addr is not None:
            self.go_address = addr
            self.log.append(f"go {addr:08x}")


class Lpm01aStandIn(PtyDevice):
    """X-NUCLEO-LPM01A: 'ack <cmd>' replies; on 'start' a scripted acquisition (samples in
    ascii_dec, a TimeStamp line, two 'event' lines around the timed region)."""

    def __init__(
        self, before: list[str], window: list[str], after: list[str], events: int = 2
    ) -> None:
        super().__init__()
        self.script = ["TimeStamp: 000s 000ms, buff 00%", *before]
        self.script += ["event 1 fal"] if events >= 1 else []
        self.script += window
        self.script += ["event 2 fal"] if events >= 2 else []
        self.script += after
        self.commands: list[str] = []

    def acquisition(self, stopping: bool) -> list[str]:
        """The lines streamed after 'ack start' (stopping False) or before 'ack stop'."""
        return [] if stopping else self.script

    def serve(self) -> None:
        while True:
            cmd = self.readline()
            self.commands.append(cmd)
            if cmd == "start":
                self.write(b"ack start\r\n")
                self.write("".join(f"{line}\r\n" for line in self.acquisition(False)).encode())
            elif cmd == "stop":
                self.write("".join(f"{line}\r\n" for line in self.acquisition(True)).encode())
                self.write(b"ack stop\r\nAcquisition completed\r\n")
            elif cmd.split()[0] in {
                "htc",
                "hrc",
                "pwr",
                "acqtime",
                "trigdelay",
                "trigsrc",
                "eventsrc",
                "output",
                "format",
                "freq",
                "volt",
            }:
                self.write(f"ack {cmd}\r\n".encode())
            else:
                self.write(f"error unknown command {cmd}\r\n".encode())


def ascii_dec(value: float) -> str:
    """An LPM01A ascii_dec sample: four significant digits and a power of ten."""
    if value <= 0:
        return "0000+00"
    exp = math.floor(math.log10(value)) - 3
    mantissa = round(value / 10.0**exp)
    if mantissa == 10000:
        mantissa, exp = 1000, exp + 1
    return f"{mantissa:04d}{exp:+03d}"


class EdgeFedLpm01a(Lpm01aStandIn):
    """An LPM01A watching a board whose timestamp edges arrive as tick stamps in a file
    (the emulated STM32 writes each edge's tick to its second serial port). At 'stop' it
    streams the energy samples of the acquisition: the board draws ``run_w`` between the
    first two edges and ``idle_w`` outside them, sampled at ``freq_hz``, with the 'event'
    lines at the sample boundaries nearest the edges, as the monitor's D7 input sees them."""

    def __init__(
        self, edges: Path, seconds_per_tick: float, run_w: float, idle_w: float,
        freq_hz: int = 100_000, margin_samples: int = 50,
    ) -> None:  # fmt: skip
        super().__init__([], [], [])
        self.edges, self.spt = edges, seconds_per_tick
        self.run_w, self.idle_w, self.freq_hz = run_w, idle_w, freq_hz
        self.margin = margin_samples
        self.seen = 0  # edges already used by earlier acquisitions
        self.windows: list[tuple[int, int]] = []  # the edge ticks each acquisition cut at

    def new_edges(self) -> list[int]:
        data = self.edges.read_bytes() if self.edges.exists() else b""
        stamps = [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data) - 7, 8)]
        fresh, self.seen = stamps[self.seen :], len(stamps)
        return fresh

    def acquisition(self, stopping: bool) -> list[str]:
        if not stopping:
            return ["TimeStamp: 000s 000ms, buff 00%"]
        edges = self.new_edges()
        if len(edges) < 2:
            return [ascii_dec(self.idle_w / self.freq_hz)] * self.margin
        first, second = edges[0], edges[1]
        self.windows.append((first, second))
        period = 1.0 / self.freq_hz
        t0 = first * self.spt - self.margin * period  # acquisition start, in board seconds
        begin, end = first * self.spt - t0, second * self.spt - t0
        n = math.ceil(end / period) + self.margin
        at = {round(begin / period): "event 1 fal", round(end / period): "event 2 fal"}
        lines = []
        for k in range(n):
            if k in at:
                lines.append(at[k])
            a, b = k * period, (k + 1) * period
            busy = max(0.0, min(b, end) - max(a, begin))
            lines.append(ascii_dec(self.run_w * busy + self.idle_w * (period - busy)))
        return lines


class FirmwareStandIn(PtyDevice):
    """The profiling firmware's request/reply behaviour (INFO, BENCH_LAYER, RESET) with
    scripted faults per request: 'silent', 'corrupt' (bad reply CRC), 'garbage' (noise
    before the reply), 'stale' (an extra reply with an old SEQ first). ``flip_at`` damages
    the received byte stream: bit 4 of each byte at those positions (counted from 0) is
    flipped on the way in, as a noisy line would."""

    def __init__(
        self,
        faults: list[str] | None = None,
        protocol_version: int = 1,
        flip_at: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        from hw_profiler.protocol import FrameParser

        self.parser = FrameParser(max_payload=4096)
        self.faults = list(faults or [])
        self.protocol_version = protocol_version
        self.requests: list[int] = []
        self.flip_at = set(flip_at)
        self.received = 0

    def serve(self) -> None:
        from hw_profiler.protocol import Frame, FrameError

        while True:
            chunk = bytearray(os.read(self.master, 8192))
            if not chunk:
                return
            for i in range(len(chunk)):
                if self.received + i in self.flip_at:
                    chunk[i] ^= 0x10
            self.received += len(chunk)
            for item in self.parser.feed(chunk):
                if isinstance(item, FrameError):
                    self.reply(0xFF, item.seq, bytes([1, item.type, 0, 0]))
                elif isinstance(item, Frame):
                    self.handle(item)

    def reply(self, msg_type: int, seq: int, payload: bytes, fault: str = "") -> None:
        from hw_profiler.protocol import encode_frame

        frame = bytearray(encode_frame(msg_type, seq, payload))
        if fault == "silent":
            return
        if fault == "corrupt":
            frame[-1] ^= 0xFF
        if fault == "garbage":
            frame[:0] = b"\x00\xa5\x13garbage\xa5\x5a\xff\xff" + bytes(range(40))
        if fault == "stale":
            self.write(encode_frame(msg_type, (seq - 1) % 256, payload))
        self.write(bytes(frame))

    def handle(self, frame) -> None:
        import struct

        self.requests.append(frame.type)
        fault = self.faults.pop(0) if self.faults else ""
        if frame.type == 0x01:
            name = b"standin"
            payload = struct.pack(
                "<HHIIBBHIII",
                self.protocol_version,
                0x0100,
                100_000_000,
                100_000_000,
                0,
                0,
                4096,
                65536,
                65536,
                0,
            )
            self.reply(0x81, frame.seq, payload + bytes([len(name)]) + name, fault)
        elif frame.type == 0x02:
            _op, _dt, c_in, c_out, k, _d, _s, t, _w, n, _r, _seed = struct.unpack(
                "<BBHHHHHHHHHI", frame.payload
            )
            if c_in * c_out * k > 65536:
                self.reply(0xFF, frame.seq, bytes([6, 0x02, 0, 0]), fault)
                return
            macs = t * c_out * c_in * k
            payload = struct.pack("<QIHH", macs, 1234, n, 0)
            payload += struct.pack(f"<{n}I", *[macs + 10] * n)
            self.reply(0x82, frame.seq, payload, fault)
        elif frame.type == 0x30:
            self.reply(0xB0, frame.seq, b"", fault)
        else:
            self.reply(0xFF, frame.seq, bytes([3, frame.type, 0, 0]), fault)
