"""A conversation with the profiling firmware over any pyserial URL.

The session owns the request/reply discipline of docs/protocol.md: sequence numbers,
per-command timeouts, retries after a corrupted or missing reply, and resynchronisation
(drain, then zero padding that realigns the board's parser). It does not know whether
the bytes travel over a UART, a TCP socket to QEMU or a pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from types import TracebackType

import serial

from hw_profiler.errors import (
    BoardCommandError,
    BoardTimeoutError,
    PortError,
    ProtocolError,
    VersionMismatchError,
)
from hw_profiler.geometry import LayerGeometry
from hw_profiler.protocol import (
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    BenchLayerReply,
    BenchLayerRequest,
    BoardError,
    DType,
    ErrorCode,
    Frame,
    FrameError,
    FrameParser,
    InfoReply,
    InfoRequest,
    InputChunkReply,
    InputChunkRequest,
    LoadEndReply,
    LoadFlashRequest,
    MsgType,
    Op,
    OutputChunkReply,
    OutputChunkRequest,
    Reply,
    Request,
    ResetRequest,
    RunReply,
    RunRequest,
    TimerKind,
    decode_reply,
    encode_frame,
    load_requests,
)

_OPS = {
    "conv1d": Op.CONV,
    "linear": Op.LINEAR,
    "avgpool": Op.AVGPOOL,
    "maxpool": Op.MAXPOOL,
    "add": Op.ADD,
}
_DTYPES = {"int8": DType.INT8, "float32": DType.FLOAT32}
_RESYNC_ZEROS = bytes(6 + MAX_PAYLOAD)
# Generous worst case for the reply deadline of BENCH_LAYER: 1 us per MAC per run covers a
# Cortex-M0 at 16 MHz; QEMU and faster cores answer far sooner.
_SECONDS_PER_MAC = 1e-6


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # extra attempts after the first
    drain_s: float = 0.3  # silence to wait for before resending (the board drops partial
    # frames after 200 ms)


def open_port(url: str, baud: int = 115200) -> serial.SerialBase:
    """Open a device path or pyserial URL; a failure names the port."""
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.05, write_timeout=10)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise PortError(f"cannot open board port {url!r}: {exc}") from exc


class BoardSession:
    """Request/reply with the firmware. Use :meth:`open` (or the constructor on an already
    open pyserial port), then :meth:`handshake` before anything else."""

    def __init__(
        self,
        port: serial.SerialBase,
        timeout_s: float = 5.0,
        policy: RetryPolicy | None = None,
        name: str | None = None,
    ) -> None:
        self.port = port
        self.name = name or str(getattr(port, "portstr", None) or port.port)
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.parser = FrameParser(max_payload=MAX_PAYLOAD)
        self.info: InfoReply | None = None
        self.loaded: LoadEndReply | None = None  # the model the board holds, as it planned it
        self._seq = 0
        self.retried = 0  # requests resent (visible for tests and diagnostics)

    @classmethod
    def open(
        cls,
        url: str,
        baud: int = 115200,
        timeout_s: float = 5.0,
        policy: RetryPolicy | None = None,
        handshake: bool = True,
    ) -> BoardSession:
        session = cls(open_port(url, baud), timeout_s, policy, name=url)
        if handshake:
            try:
                session.handshake()
            except BaseException:
                session.close()
                raise
        return session

    # -- plumbing ------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255: SEQ 0 marks the board's TOO_LONG replies
        return self._seq

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"writing to board port {self.name!r} failed: {exc}") from exc

    def _read_some(self) -> bytes:
        try:
            return self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"reading from board port {self.name!r} failed: {exc}") from exc

    def drain(self, quiet_s: float | None = None) -> None:
        """Discard input until the link has been quiet for ``quiet_s``."""
        quiet_s = self.policy.drain_s if quiet_s is None else quiet_s
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            if self._read_some():
                last = time.monotonic()
        self.parser.reset()

    def _await(self, req_type: int, seq: int, deadline: float) -> Frame | str:
        """The matching reply frame, or why there is none: 'silence' or 'corrupt'."""
        while time.monotonic() < deadline:
            data = self._read_some()
            if not data:
                continue
            for item in self.parser.feed(data):
                if isinstance(item, FrameError):
                    if item.kind == "crc" and item.seq == seq and item.type == req_type | 0x80:
                        return "corrupt"  # our reply, damaged: resend rather than wait
                    continue  # noise; the reply may still follow
                if item.seq != seq:
                    continue  # a stale reply to an earlier attempt
                if item.type == MsgType.ERROR and len(item.payload) == 4:
                    code, err_type = item.payload[0], item.payload[1]
                    if code == ErrorCode.BAD_CRC and err_type == req_type:
                        return "corrupt"  # our request was damaged on the way
                return item
        return "silence"

    def request(self, req: Request, timeout_s: float | None = None) -> Reply:
        """Send ``req`` and return its decoded reply, retrying on silence or corruption."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        payload = req.pack()
        limit = self.info.max_payload if self.info else MAX_PAYLOAD
        command = MsgType(req.TYPE).name
        if len(payload) > limit:
            raise ProtocolError(
                f"{command} payload of {len(payload)} bytes exceeds the board's max_payload {limit}"
            )
        problems = []
        for attempt in range(self.policy.retries + 1):
            if attempt:
                self.retried += 1
                self.drain()
                if problems[-1] == "silence":
                    self._write(_RESYNC_ZEROS)  # realign a parser stuck inside a frame
                    self.drain()
            seq = self._next_seq()
            self._write(encode_frame(int(req.TYPE), seq, payload))
            outcome = self._await(int(req.TYPE), seq, time.monotonic() + timeout_s)
            if isinstance(outcome, str):
                problems.append(outcome)
                continue
            return self._decode(outcome, req, command)
        if all(p == "silence" for p in problems):
            raise BoardTimeoutError(
                f"no reply to {command} from {self.name} within {timeout_s:g} s "
                f"({len(problems)} attempts); is the board running the profiling firmware?"
            )
        raise BoardTimeoutError(
            f"no valid reply to {command} from {self.name} after {len(problems)} attempts "
            f"({', '.join(problems)}): the link corrupts frames"
        )

    def _decode(self, frame: Frame, req: Request, command: str) -> Reply:
        try:
            reply = decode_reply(frame)
        except BoardError as exc:
            try:
                name = ErrorCode(exc.code).name
            except ValueError:
                name = f"CODE_{exc.code}"
            raise BoardCommandError(
                f"board {self.name} rejected {command}: {name} (detail {exc.detail})",
                code=exc.code,
                name=name,
                detail=exc.detail,
            ) from exc
        except ValueError as exc:
            raise ProtocolError(f"malformed reply to {command} from {self.name}: {exc}") from exc
        if (int(req.TYPE) | 0x80) != reply.TYPE:
            raise ProtocolError(
                f"reply type 0x{int(reply.TYPE):02x} does not answer {command} from {self.name}"
            )
        return reply

    # -- commands ------------------------------------------------------------------
    def handshake(self) -> InfoReply:
        """INFO with the protocol-version check; resynchronises a link in any state."""
        self.drain(0.05)
        info = self.request(InfoRequest())
        assert isinstance(info, InfoReply)
        if info.protocol_version != PROTOCOL_VERSION:
            raise VersionMismatchError(
                f"board {self.name} speaks protocol version {info.protocol_version} "
                f"(firmware {format_version(info.firmware_version)}), this host speaks "
                f"protocol version {PROTOCOL_VERSION}; flash a matching firmware or update "
                "hw_profiler"
            )
        self.info = info
        self.parser.max_payload = info.max_payload
        return info

    @property
    def firmware_version(self) -> str:
        return format_version(self._info().firmware_version)

    def _info(self) -> InfoReply:
        if self.info is None:
            raise ProtocolError("handshake() first: the board's INFO is not known yet")
        return self.info

    def refresh_info(self) -> InfoReply:
        info = self.request(InfoRequest())
        assert isinstance(info, InfoReply)
        self.info = info
        return info

    def bench_layer(
        self, geometry: LayerGeometry, warmup: int = 1, repeats: int = 3, seed: int = 1
    ) -> BenchLayerReply:
        max_repeats = (self._info().max_payload - 16) // 4
        if not 1 <= repeats <= max_repeats:
            raise ValueError(f"repeats must be 1..{max_repeats} for this board")
        req = BenchLayerRequest(
            op=_OPS[geometry.op], dtype=_DTYPES[geometry.dtype], c_in=geometry.c_in,
            c_out=geometry.c_out, length=geometry.length, kernel=geometry.kernel,
            dilation=geometry.dilation, stride=geometry.stride, warmup=warmup,
            repeats=repeats, seed=seed,
        )  # fmt: skip
        timeout = self.timeout_s + geometry.macs * (warmup + repeats) * _SECONDS_PER_MAC
        reply = self.request(req, timeout)
        assert isinstance(reply, BenchLayerReply)
        return reply

    def load_model(self, image: bytes) -> LoadEndReply:
        """LOAD_BEGIN, chunks sized to the board's max_payload, LOAD_END."""
        reply: Reply | None = None
        self.loaded = None
        for req in load_requests(image, self._info().max_payload):
            reply = self.request(req)
        assert isinstance(reply, LoadEndReply)
        self.loaded = reply
        return reply

    def load_flash(self) -> LoadEndReply:
        """LOAD_FLASH: plan and load the model image built into the board's flash."""
        self.loaded = None
        reply = self.request(LoadFlashRequest())
        assert isinstance(reply, LoadEndReply)
        self.loaded = reply
        return reply

    def run(
        self, input_bytes: bytes, per_layer: bool = True, timeout_s: float | None = None
    ) -> RunReply:
        """RUN; an input or output larger than one frame travels in INPUT_CHUNK /
        OUTPUT_CHUNK frames, each retried like any request (the board keeps the input
        intact through RUN, so a repeated RUN gives the same output)."""
        limit = self._info().max_payload
        out_bytes = self.loaded.output.nbytes if self.loaded is not None else 0
        n_ticks = self.loaded.n_layers if (per_layer and self.loaded is not None) else 0
        staged = 2 + len(input_bytes) > limit
        keep = 12 + 4 * n_ticks + out_bytes > limit
        if staged:
            step = limit - 4
            for off in range(0, len(input_bytes), step):
                ack = self.request(InputChunkRequest(off, input_bytes[off : off + step]))
                assert isinstance(ack, InputChunkReply)
        reply = self.request(
            RunRequest(b"" if staged else input_bytes, per_layer, staged, keep), timeout_s
        )
        assert isinstance(reply, RunReply)
        if keep:
            parts = []
            for off in range(0, out_bytes, limit):
                chunk = self.request(OutputChunkRequest(off, min(limit, out_bytes - off)))
                assert isinstance(chunk, OutputChunkReply)
                parts.append(chunk.data)
            reply = RunReply(reply.total_ticks, reply.layer_ticks, b"".join(parts))
        return reply

    def reset(self) -> None:
        self.request(ResetRequest())
        self.loaded = None

    @property
    def seconds_per_tick(self) -> float:
        return seconds_per_tick(self._info())

    def ticks_to_seconds(self, ticks: float) -> float:
        return ticks * self.seconds_per_tick

    # -- lifetime --------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def seconds_per_tick(info: InfoReply, clock_hz: float | None = None) -> float:
    """Seconds one tick stands for at the board's core clock.

    Cycle and wall-clock timers: 1 / ticks_per_second. Instruction-time (QEMU -icount
    shift=0, one instruction = 1 ns of virtual time): ticks -> instructions, and one
    instruction per cycle at the core clock, so the figure is comparable with a real
    board's cycle count (it ignores wait states and pipeline stalls).
    """
    if info.timer_kind == TimerKind.INSTRUCTION_TIME:
        clock = clock_hz or info.core_clock_hz
        return 1e9 / info.ticks_per_second / clock
    return 1.0 / info.ticks_per_second


def format_version(value: int) -> str:
    """0x0100 -> '1.0'."""
    return f"{value >> 8}.{value & 0xFF}"
