"""A conversation with the profiling firmware over any pyserial URL.

The session owns the request/reply discipline of docs/protocol.md: sequence numbers,
per-command timeouts, retries after a corrupted or missing reply, and resynchronisation
(drain, then zero padding that realigns the board's parser). It does not know whether
the bytes travel over a UART, a TCP socket to QEMU or a pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import time
import zlib
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
    LoadBeginRequest,
    LoadChunkReply,
    LoadChunkRequest,
    LoadEndReply,
    LoadEndRequest,
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
    decode_reply,
    encode_frame,
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
MIN_CHUNK_BYTES = 64
"""Smallest LOAD_CHUNK the adaptive chunking shrinks to."""
_GROW_AFTER = 4  # clean chunks in a row before the chunk size doubles again
_GRACE_S = 0.05  # after a damaged frame: how long a valid reply may still take to follow
# Generous worst case for the reply deadline of BENCH_LAYER: 1 us per MAC per run covers a
# Cortex-M0 at 16 MHz; QEMU and faster cores answer far sooner.
_SECONDS_PER_MAC = 1e-6


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the session works at a noisy link (board profile ``uart`` section or CLI).

    A corrupted, cut or missing reply is a link fault: the request is resent, never taken
    as the board's answer. ``retries`` is the number of resends one request may use.
    ``byte_timeout_s`` gives up on a reply frame that started and then went silent, instead
    of waiting out the whole reply timeout. ``chunk_bytes`` caps the image bytes per
    LOAD_CHUNK (default: as many as the board's max_payload allows); the chunk size halves
    when a chunk is damaged repeatedly, so a noisy link still loads a model.
    """

    retries: int = 5
    byte_timeout_s: float = 0.5
    chunk_bytes: int | None = None
    drain_s: float = 0.3  # silence to wait for after a missing reply (the board drops
    # partial frames after 200 ms)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.byte_timeout_s <= 0:
            raise ValueError(f"byte timeout must be > 0 s, got {self.byte_timeout_s}")
        if self.chunk_bytes is not None and self.chunk_bytes < MIN_CHUNK_BYTES:
            raise ValueError(
                f"chunk size must be >= {MIN_CHUNK_BYTES} bytes, got {self.chunk_bytes}"
            )


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
        self._last_fault = ""
        self.retried = 0  # requests resent (visible for tests and diagnostics)
        self.link_faults: dict[str, int] = {}  # failed attempts by kind: silence, cut, corrupt

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

    def _await(self, seq: int, deadline: float) -> Frame | str:
        """The reply frame with ``seq``, or why there is none: ``"silence"`` (nothing by
        the deadline), ``"cut"`` (a frame started and went quiet for the byte timeout) or
        ``"corrupt"`` (a damaged frame, or the board reporting that it got one, and no
        valid reply right after it)."""
        last_byte = time.monotonic()
        damaged = False
        while True:
            now = time.monotonic()
            if self.parser.pending and now - last_byte > self.policy.byte_timeout_s:
                return "cut"
            if damaged and not self.parser.pending and now - last_byte > _GRACE_S:
                return "corrupt"
            overdue = now >= deadline + self.timeout_s  # a reply that never ends: noise
            if now >= deadline and (not self.parser.pending or overdue):
                return "corrupt" if damaged else "silence"
            data = self._read_some()
            if not data:
                continue
            last_byte = time.monotonic()
            for item in self.parser.feed(data):
                if isinstance(item, FrameError):
                    damaged = True  # a damaged frame, likely our reply: resend soon
                elif item.type == MsgType.ERROR and _is_link_fault(item):
                    # The board received a damaged frame (ours, whatever TYPE or SEQ it
                    # echoes after the damage): a link fault, never the board's verdict.
                    damaged = True
                elif item.seq == seq:
                    return item
                # else: a stale reply to an earlier attempt

    def _attempt(self, req: Request, payload: bytes, timeout_s: float) -> Frame | str:
        """Send ``req`` once (after cleaning up what the last failed attempt left)."""
        if self._last_fault == "silence":
            self.drain()
            self._write(_RESYNC_ZEROS)  # realign a parser stuck inside a frame
            self.drain()
        elif self._last_fault:
            self.parser.reset()
        seq = self._next_seq()
        self._write(encode_frame(int(req.TYPE), seq, payload))
        outcome = self._await(seq, time.monotonic() + timeout_s)
        self._last_fault = outcome if isinstance(outcome, str) else ""
        if isinstance(outcome, str):
            self.link_faults[outcome] = self.link_faults.get(outcome, 0) + 1
        return outcome

    def _payload(self, req: Request) -> bytes:
        payload = req.pack()
        limit = self.info.max_payload if self.info else MAX_PAYLOAD
        if len(payload) > limit:
            raise ProtocolError(
                f"{MsgType(req.TYPE).name} payload of {len(payload)} bytes exceeds the "
                f"board's max_payload {limit}"
            )
        return payload

    def request(self, req: Request, timeout_s: float | None = None) -> Reply:
        """Send ``req`` and return its decoded reply, resending (up to the policy's
        retries) after a missing, cut or corrupted reply."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        payload = self._payload(req)
        command = MsgType(req.TYPE).name
        problems: list[str] = []
        for attempt in range(self.policy.retries + 1):
            if attempt:
                self.retried += 1
            outcome = self._attempt(req, payload, timeout_s)
            if isinstance(outcome, Frame):
                return self._decode(outcome, req, command)
            problems.append(outcome)
        raise self._link_error(command, problems, timeout_s)

    def _link_error(
        self, command: str, problems: list[str], timeout_s: float
    ) -> BoardTimeoutError:
        if all(p == "silence" for p in problems):
            return BoardTimeoutError(
                f"no reply to {command} from {self.name} within {timeout_s:g} s "
                f"({len(problems)} attempts); is the board running the profiling firmware?"
            )
        return BoardTimeoutError(
            f"no valid reply to {command} from {self.name} after {len(problems)} attempts "
            f"({', '.join(problems)}): the link damages frames; raise --retries or lower "
            "--chunk-bytes"
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
        """LOAD_BEGIN, LOAD_CHUNKs, LOAD_END, with a chunk size that adapts to the link.

        A chunk that fails twice in a row halves the chunk size, and so does each
        further failure (down to ``MIN_CHUNK_BYTES``); after 4 clean chunks in a row it
        doubles again, up to the policy's ``chunk_bytes`` or the board's max_payload.
        A chunk may use the policy's retries; a LOAD_END whose reply was lost and so
        meets a finished load restarts the upload once.
        """
        self.loaded = None
        top = self._info().max_payload - 4
        if self.policy.chunk_bytes is not None:
            top = min(top, self.policy.chunk_bytes)
        size = top
        for upload in range(2):
            self.request(LoadBeginRequest(len(image), zlib.crc32(image)))
            offset = clean = 0
            problems: list[str] = []
            while offset < len(image):
                n = min(size, len(image) - offset)
                req = LoadChunkRequest(offset, image[offset : offset + n])
                outcome = self._attempt(req, self._payload(req), self.timeout_s)
                if isinstance(outcome, str):
                    problems.append(outcome)
                    self.retried += 1
                    if len(problems) > self.policy.retries:
                        raise self._link_error("LOAD_CHUNK", problems, self.timeout_s)
                    if len(problems) >= 2:  # repeated damage: a smaller frame fares better
                        size = max(MIN_CHUNK_BYTES, size // 2)
                    clean = 0
                    continue
                reply = self._decode(outcome, req, "LOAD_CHUNK")
                assert isinstance(reply, LoadChunkReply)
                offset, clean = offset + n, clean + 1
                problems.clear()
                if clean >= _GROW_AFTER and size < top:
                    size, clean = min(top, size * 2), 0
            resent = self.retried
            try:
                reply = self.request(LoadEndRequest())
            except BoardCommandError as exc:
                if exc.code == ErrorCode.LOAD_STATE and self.retried > resent and not upload:
                    continue  # the first LOAD_END went through, its reply did not
                raise
            assert isinstance(reply, LoadEndReply)
            self.loaded = reply
            return reply
        raise AssertionError("unreachable")

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



def _is_link_fault(frame: Frame) -> bool:
    """An ERROR reply saying the board received a damaged frame: BAD_CRC, or TOO_LONG
    from the parser (SEQ 0; a TOO_LONG with the request's SEQ is RUN's verdict)."""
    if len(frame.payload) != 4:
        return False
    code = frame.payload[0]
    return code == ErrorCode.BAD_CRC or (code == ErrorCode.TOO_LONG and frame.seq == 0)


def format_version(value: int) -> str:
    """0x0100 -> '1.0'."""
    return f"{value >> 8}.{value & 0xFF}"
