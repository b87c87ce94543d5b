"""Typed messages of the board protocol (docs/protocol.md section 2).

Every request has ``TYPE`` and ``pack() -> bytes``; every reply has ``TYPE`` and
``unpack(payload) -> Self``. :func:`decode_reply` turns a reply :class:`Frame` into its
dataclass (or raises :class:`BoardError` for an ERROR frame).
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field

from .frames import Frame

PROTOCOL_VERSION = 1
MODEL_FORMAT_VERSION = 2
REPLY_BIT = 0x80


class MsgType(enum.IntEnum):
    INFO = 0x01
    BENCH_LAYER = 0x02
    LOAD_BEGIN = 0x10
    LOAD_CHUNK = 0x11
    LOAD_END = 0x12
    LOAD_FLASH = 0x13
    RUN = 0x20
    INPUT_CHUNK = 0x21
    OUTPUT_CHUNK = 0x22
    RESET = 0x30
    ERROR = 0xFF


class ErrorCode(enum.IntEnum):
    BAD_CRC = 1
    TOO_LONG = 2
    UNKNOWN_TYPE = 3
    BAD_LENGTH = 4
    BAD_ARG = 5
    NO_MEMORY = 6
    NO_MODEL = 7
    LOAD_STATE = 8
    IMAGE_CRC = 9
    MODEL_MAGIC = 10
    MODEL_VERSION = 11
    MODEL_INVALID = 12
    UNSUPPORTED = 13


class Op(enum.IntEnum):
    """Layer op codes, shared by BENCH_LAYER and the model format."""

    CONV = 1
    AVGPOOL = 2
    MAXPOOL = 3
    LINEAR = 4
    ADD = 5
    FLATTEN = 6


class DType(enum.IntEnum):
    INT8 = 0
    FLOAT32 = 1

    @property
    def itemsize(self) -> int:
        return 1 if self is DType.INT8 else 4


class TimerKind(enum.IntEnum):
    CYCLES = 0
    INSTRUCTION_TIME = 1
    """QEMU -icount shift=0: one instruction = 1 ns of virtual time."""
    WALL_CLOCK = 2


class BoardError(Exception):
    """The board answered with an ERROR frame."""

    def __init__(self, code: int, request_type: int, detail: int, seq: int = 0) -> None:
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = f"code {code}"
        super().__init__(f"board error {name} for request 0x{request_type:02x} (detail {detail})")
        self.code = code
        self.request_type = request_type
        self.detail = detail
        self.seq = seq


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class InfoRequest:
    TYPE = MsgType.INFO

    def pack(self) -> bytes:
        return b""


@dataclass(frozen=True)
class BenchLayerRequest:
    """Benchmark one layer with board-generated data (PRNG seeded by ``seed``)."""

    TYPE = MsgType.BENCH_LAYER
    op: Op
    dtype: DType
    c_in: int
    c_out: int
    length: int
    kernel: int = 1
    dilation: int = 1
    stride: int = 1
    warmup: int = 1
    repeats: int = 5
    seed: int = 1

    def pack(self) -> bytes:
        return struct.pack(
            "<BBHHHHHHHHHI",
            int(self.op), int(self.dtype), self.c_in, self.c_out, self.kernel,
            self.dilation, self.stride, self.length, self.warmup, self.repeats, 0, self.seed,
        )


@dataclass(frozen=True)
class LoadBeginRequest:
    TYPE = MsgType.LOAD_BEGIN
    total_size: int
    crc32: int

    def pack(self) -> bytes:
        return struct.pack("<II", self.total_size, self.crc32)


@dataclass(frozen=True)
class LoadChunkRequest:
    TYPE = MsgType.LOAD_CHUNK
    offset: int
    data: bytes

    def pack(self) -> bytes:
        return struct.pack("<I", self.offset) + bytes(self.data)


@dataclass(frozen=True)
class LoadEndRequest:
    TYPE = MsgType.LOAD_END

    def pack(self) -> bytes:
        return b""


@dataclass(frozen=True)
class LoadFlashRequest:
    """Load the model image built into the board's flash slot."""

    TYPE = MsgType.LOAD_FLASH

    def pack(self) -> bytes:
        return b""


@dataclass(frozen=True)
class RunRequest:
    """``input`` is the raw input tensor, channel-last [T][C] in the model's dtype; empty
    with ``staged`` when INPUT_CHUNKs put it on the board. ``keep_output`` leaves the
    output on the board for OUTPUT_CHUNK."""

    TYPE = MsgType.RUN
    input: bytes
    per_layer: bool = False
    staged: bool = False
    keep_output: bool = False

    def pack(self) -> bytes:
        flags = int(self.per_layer) | 2 * int(self.staged) | 4 * int(self.keep_output)
        return struct.pack("<BB", flags, 0) + bytes(self.input)


@dataclass(frozen=True)
class InputChunkRequest:
    TYPE = MsgType.INPUT_CHUNK
    offset: int
    data: bytes

    def pack(self) -> bytes:
        return struct.pack("<I", self.offset) + bytes(self.data)


@dataclass(frozen=True)
class OutputChunkRequest:
    TYPE = MsgType.OUTPUT_CHUNK
    offset: int
    length: int

    def pack(self) -> bytes:
        return struct.pack("<IH", self.offset, self.length)


@dataclass(frozen=True)
class ResetRequest:
    TYPE = MsgType.RESET

    def pack(self) -> bytes:
        return b""


Request = (
    InfoRequest | BenchLayerRequest | LoadBeginRequest | LoadChunkRequest | LoadEndRequest
    | LoadFlashRequest | RunRequest | InputChunkRequest | OutputChunkRequest | ResetRequest
)


def load_requests(image: bytes, max_payload: int) -> list[Request]:
    """LOAD_BEGIN, the LOAD_CHUNKs that fit ``max_payload`` and LOAD_END for ``image``."""
    step = max_payload - 4
    reqs: list[Request] = [LoadBeginRequest(len(image), zlib.crc32(image))]
    reqs += [LoadChunkRequest(o, image[o : o + step]) for o in range(0, len(image), step)]
    reqs.append(LoadEndRequest())
    return reqs


# ---------------------------------------------------------------- replies


@dataclass(frozen=True)
class InfoReply:
    TYPE = MsgType.INFO | REPLY_BIT
    protocol_version: int
    firmware_version: int
    core_clock_hz: int
    ticks_per_second: int
    timer_kind: TimerKind
    model_loaded: bool
    flash_models: bool
    max_payload: int
    ram_pool_bytes: int
    ram_free_bytes: int
    flash_free_bytes: int
    board_name: str
    model_format: int = 1
    """Highest model format version the firmware reads (protocol 2 on)."""
    flash_slot_address: int = 0
    flash_slot_bytes: int = 0
    flash_image_bytes: int = 0
    """Size of the valid model image in the flash slot, 0 when there is none."""
    flash_image_crc32: int = 0

    _TAIL = "<HIIII"

    @classmethod
    def unpack(cls, p: bytes) -> InfoReply:
        if len(p) < 29:
            raise ValueError("bad INFO reply length")
        n = p[28]
        tail = len(p) - 29 - n
        if tail not in (0, struct.calcsize(cls._TAIL)):
            raise ValueError("bad INFO reply length")
        pv, fv, clk, tps, kind, flags, mp, pool, free, flash = struct.unpack_from(
            "<HHIIBBHIII", p
        )
        extra = struct.unpack_from(cls._TAIL, p, 29 + n) if tail else ()
        return cls(pv, fv, clk, tps, TimerKind(kind), bool(flags & 1), bool(flags & 2), mp,
                   pool, free, flash, p[29 : 29 + n].decode("utf-8", "replace"), *extra)

    def seconds_per_tick(self, clock_hz: float | None = None) -> float:
        """Seconds one tick stands for at the core clock (default: the one INFO reports).

        The only conversion from ticks to time. Cycle and wall-clock timers:
        1 / ticks_per_second. Instruction-time (QEMU -icount shift=0, one instruction =
        1 ns of virtual time): ticks -> instructions, at one instruction per cycle of the
        core clock, so the figure compares with a real board's cycle count (it ignores
        wait states and pipeline stalls).
        """
        if self.timer_kind is TimerKind.INSTRUCTION_TIME:
            return self.ticks_to_instructions(1) / (clock_hz or self.core_clock_hz)
        return 1.0 / self.ticks_per_second

    def ticks_to_instructions(self, ticks: int) -> float:
        """Instructions for instruction-time boards (QEMU -icount shift=0: 1 instr = 1 ns)."""
        if self.timer_kind is not TimerKind.INSTRUCTION_TIME:
            raise ValueError("board does not count instruction-time")
        return ticks * 1e9 / self.ticks_per_second


@dataclass(frozen=True)
class BenchLayerReply:
    TYPE = MsgType.BENCH_LAYER | REPLY_BIT
    macs: int
    output_crc32: int
    ticks: list[int] = field(default_factory=list)

    @classmethod
    def unpack(cls, p: bytes) -> BenchLayerReply:
        if len(p) < 16:
            raise ValueError("bad BENCH_LAYER reply length")
        macs, crc, n, _ = struct.unpack_from("<QIHH", p)
        if len(p) != 16 + 4 * n:
            raise ValueError("bad BENCH_LAYER reply length")
        return cls(macs, crc, list(struct.unpack_from(f"<{n}I", p, 16)))


@dataclass(frozen=True)
class LoadBeginReply:
    TYPE = MsgType.LOAD_BEGIN | REPLY_BIT

    @classmethod
    def unpack(cls, p: bytes) -> LoadBeginReply:
        if p:
            raise ValueError("bad LOAD_BEGIN reply length")
        return cls()


@dataclass(frozen=True)
class _OffsetReply:
    """A chunk's acknowledgement: the offset the board has received up to."""

    end_offset: int

    @classmethod
    def unpack(cls, p: bytes) -> _OffsetReply:
        if len(p) != 4:
            raise ValueError(f"bad {MsgType(cls.TYPE & ~REPLY_BIT).name} reply length")
        return cls(struct.unpack("<I", p)[0])


@dataclass(frozen=True)
class LoadChunkReply(_OffsetReply):
    TYPE = MsgType.LOAD_CHUNK | REPLY_BIT


@dataclass(frozen=True)
class TensorDesc:
    dtype: DType
    channels: int
    length: int

    @property
    def nbytes(self) -> int:
        return self.channels * self.length * self.dtype.itemsize


@dataclass(frozen=True)
class LoadEndReply:
    TYPE = MsgType.LOAD_END | REPLY_BIT
    n_layers: int
    n_tensors: int
    arena_bytes: int
    ram_free_bytes: int
    input: TensorDesc
    output: TensorDesc

    @classmethod
    def unpack(cls, p: bytes) -> LoadEndReply:
        if len(p) != 22:
            raise ValueError("bad LOAD_END reply length")
        nl, nt, arena, free, idt, ic, it, odt, oc, ot = struct.unpack("<HHIIBHHBHH", p)
        return cls(nl, nt, arena, free, TensorDesc(DType(idt), ic, it),
                   TensorDesc(DType(odt), oc, ot))


@dataclass(frozen=True)
class RunReply:
    """``output`` is the raw output tensor ([T][C], model dtype)."""

    TYPE = MsgType.RUN | REPLY_BIT
    total_ticks: int
    layer_ticks: list[int]
    output: bytes

    @classmethod
    def unpack(cls, p: bytes) -> RunReply:
        if len(p) < 12:
            raise ValueError("bad RUN reply length")
        total, n, _ = struct.unpack_from("<QHH", p)
        if len(p) < 12 + 4 * n:
            raise ValueError("bad RUN reply length")
        return cls(total, list(struct.unpack_from(f"<{n}I", p, 12)), bytes(p[12 + 4 * n :]))


@dataclass(frozen=True)
class LoadFlashReply(LoadEndReply):
    TYPE = MsgType.LOAD_FLASH | REPLY_BIT


@dataclass(frozen=True)
class InputChunkReply(_OffsetReply):
    TYPE = MsgType.INPUT_CHUNK | REPLY_BIT


@dataclass(frozen=True)
class OutputChunkReply:
    TYPE = MsgType.OUTPUT_CHUNK | REPLY_BIT
    data: bytes

    @classmethod
    def unpack(cls, p: bytes) -> OutputChunkReply:
        return cls(bytes(p))


@dataclass(frozen=True)
class ResetReply:
    TYPE = MsgType.RESET | REPLY_BIT

    @classmethod
    def unpack(cls, p: bytes) -> ResetReply:
        if p:
            raise ValueError("bad RESET reply length")
        return cls()


@dataclass(frozen=True)
class ErrorReply:
    TYPE = MsgType.ERROR
    code: int
    request_type: int
    detail: int

    @classmethod
    def unpack(cls, p: bytes) -> ErrorReply:
        if len(p) != 4:
            raise ValueError("bad ERROR reply length")
        return cls(*struct.unpack("<BBH", p))


Reply = (
    InfoReply | BenchLayerReply | LoadBeginReply | LoadChunkReply | LoadEndReply
    | LoadFlashReply | RunReply | InputChunkReply | OutputChunkReply | ResetReply | ErrorReply
)

_REPLIES: dict[int, type] = {
    cls.TYPE: cls
    for cls in (InfoReply, BenchLayerReply, LoadBeginReply, LoadChunkReply, LoadEndReply,
                LoadFlashReply, RunReply, InputChunkReply, OutputChunkReply, ResetReply,
                ErrorReply)
}


def decode_reply(frame: Frame) -> Reply:
    """Decode a reply frame. ERROR frames raise :class:`BoardError`; unknown types or
    malformed payloads raise ``ValueError``."""
    cls = _REPLIES.get(frame.type)
    if cls is None:
        raise ValueError(f"unknown reply type 0x{frame.type:02x}")
    reply = cls.unpack(frame.payload)
    if isinstance(reply, ErrorReply):
        raise BoardError(reply.code, reply.request_type, reply.detail, frame.seq)
    return reply
