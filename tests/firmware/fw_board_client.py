"""Minimal test-side client for the profiling firmware: the host build over pipes, or an
emulated board (QEMU netduinoplus2 or virt rv32) over a TCP serial port. Not a session
layer (no retries beyond the boot handshake): tests want to see every reply exactly."""

from __future__ import annotations

import os
import select
import subprocess
import time
import zlib

import serial

from hw_profiler.boards import load_board
from hw_profiler.flashers import make_flasher
from hw_profiler.flashers.firmware import SOURCES, build_dir
from hw_profiler.flashers.firmware import build_firmware as profiler_build
from hw_profiler.protocol import (
    MAX_PAYLOAD,
    BenchLayerReply,
    BenchLayerRequest,
    Frame,
    FrameError,
    FrameParser,
    InfoReply,
    InfoRequest,
    LoadBeginRequest,
    LoadChunkRequest,
    LoadEndReply,
    LoadEndRequest,
    Reply,
    Request,
    RunReply,
    RunRequest,
    decode_reply,
    encode_frame,
)

FIRMWARE = SOURCES
BUILD = build_dir()
HOST_BIN = BUILD / "host" / "firmware"
QEMU_ELF = BUILD / "stm32f4" / "firmware.elf"


def build_firmware() -> None:
    """`make` of both default targets; raises with the build output on failure."""
    profiler_build(QEMU_ELF)


class Board:
    """Request/reply over a byte transport given as read/write callables."""

    def __init__(self) -> None:
        self.parser = FrameParser()
        self.seq = 0
        self.max_payload = MAX_PAYLOAD

    # transport hooks
    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _read_some(self, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def write_raw(self, data: bytes) -> None:
        self._write(data)

    def read_items(self, timeout: float, count: int = 1) -> list[Frame | FrameError]:
        """Parsed frames (and parse errors) until `count` frames arrived or timeout."""
        items: list[Frame | FrameError] = []
        deadline = time.monotonic() + timeout
        while sum(isinstance(i, Frame) for i in items) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            data = self._read_some(left)
            if data:
                items += self.parser.feed(data)
        return items

    def exchange(self, req: Request, timeout: float = 20.0) -> Frame:
        self.seq = (self.seq + 1) & 0xFF
        self._write(encode_frame(req.TYPE, self.seq, req.pack()))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            items = self.read_items(max(left, 0.0))
            for it in items:
                if isinstance(it, Frame) and it.seq == self.seq:
                    return it
            if left <= 0:
                raise TimeoutError(f"no reply to {type(req).__name__}")

    def request(self, req: Request, timeout: float = 20.0) -> Reply:
        return decode_reply(self.exchange(req, timeout))

    def info(self) -> InfoReply:
        r = self.request(InfoRequest())
        assert isinstance(r, InfoReply)
        return r

    def bench(self, req: BenchLayerRequest) -> BenchLayerReply:
        r = self.request(req, timeout=120.0)
        assert isinstance(r, BenchLayerReply)
        return r

    def load(self, image: bytes) -> LoadEndReply:
        self.request(LoadBeginRequest(len(image), zlib.crc32(image)))
        step = self.max_payload - 4
        for off in range(0, len(image), step):
            self.request(LoadChunkRequest(off, image[off : off + step]))
        r = self.request(LoadEndRequest())
        assert isinstance(r, LoadEndReply)
        return r

    def run(self, data: bytes, per_layer: bool = False) -> RunReply:
        r = self.request(RunRequest(data, per_layer), timeout=120.0)
        assert isinstance(r, RunReply)
        return r


class HostBoard(Board):
    """The host build speaking on its stdin/stdout."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.proc = subprocess.Popen(
            [str(HOST_BIN)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
            env=None if env is None else {**os.environ, **env},
        )

    def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def _read_some(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 65536) if ready else b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class QemuBoard(Board):
    """An emulated board started by the profiler's QEMU flasher (orphan-safe launch)."""

    def __init__(self, profile: str = "qemu_stm32f4") -> None:
        super().__init__()
        self.flasher = make_flasher(load_board(profile))
        self.flasher.prepare()
        self.ser = serial.serial_for_url(self.flasher.start(), timeout=0)
        # The emulated USART drops bytes that arrive before the firmware enabled it, so
        # poll INFO until the board answers.
        for _ in range(50):
            try:
                self.info_reply = decode_reply(self.exchange(InfoRequest(), timeout=0.2))
                break
            except TimeoutError:
                continue
        else:
            self.close()
            raise TimeoutError("QEMU board did not answer INFO")

    def _write(self, data: bytes) -> None:
        self.ser.write(data)

    def _read_some(self, timeout: float) -> bytes:
        sock = self.ser._socket
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return b""
        return sock.recv(65536)

    def close(self) -> None:
        self.ser.close()
        self.flasher.stop()
