"""The firmware's model image, format version 2: a quantized network in, bytes out.

Layout and semantics are specified in docs/protocol.md section 4. :func:`to_image` turns
a :class:`~hw_profiler.deploy.quantize.QuantModel` into an image; :class:`Model` with
:class:`TensorSpec` / :class:`LayerSpec` records is the format itself (int8 weights with
quantisation parameters, or float32 weights), which :func:`write_model` and
:func:`read_model` convert. :func:`memory_needed` plans the board's activation arena.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from hw_profiler.deploy.quantize import QTensor, QuantModel
from hw_profiler.protocol.messages import DType, Op

MAGIC = b"PITM"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # format 1: CONV is always causal, stride 1
HEADER_SIZE = 32
TENSOR_RECORD = 16
LAYER_RECORD = 48
ABSENT = 0xFFFFFFFF
NO_TENSOR = 0xFFFF


class Activation(enum.IntEnum):
    """Informative tag; the clamp bounds (act_min/act_max) are what the board applies."""

    NONE = 0
    RELU = 1
    RELU6 = 2


class ModelFormatError(ValueError):
    """Malformed image or inconsistent model description."""


@dataclass
class TensorSpec:
    """A ``[T][C]`` activation tensor (channel-last on the board)."""

    dtype: DType
    channels: int
    length: int
    scale: float = 1.0
    zero_point: int = 0

    @property
    def nbytes(self) -> int:
        return self.channels * self.length * self.dtype.itemsize


@dataclass
class LayerSpec:
    """One layer. ``inputs`` holds one tensor id (two for ADD).

    CONV (any stride, zero ``padding`` on either side) weights are ``(Cout, k, Cin)``
    (PyTorch's ``(Cout, Cin, k)`` permuted, see :func:`conv_weight_from_torch`), LINEAR
    weights ``(Cout, Cin)``; int8 weights come with int32 ``bias``, per-channel
    ``multiplier``/``shift``. An int8 ADD needs ``add_params``
    (:func:`hw_profiler.deploy.quantize.add_params`). ``act_min``/``act_max`` default to
    the dtype's full range.
    """

    op: Op
    inputs: tuple[int, ...]
    output: int
    kernel: int = 1
    dilation: int = 1
    stride: int = 1
    padding: tuple[int, int] | None = None  # CONV zero padding (left, right); None: causal
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    shift: np.ndarray | None = None
    add_params: list[int] | None = None
    act_min: float | None = None
    act_max: float | None = None
    activation: Activation = Activation.NONE


@dataclass
class Model:
    tensors: list[TensorSpec]
    layers: list[LayerSpec]
    input: int
    output: int
    meta: dict[str, object] = field(default_factory=dict)


def conv_weight_from_torch(w: np.ndarray) -> np.ndarray:
    """PyTorch Conv1d weight ``(Cout, Cin, k)`` -> board layout ``(Cout, k, Cin)``."""
    return np.ascontiguousarray(np.asarray(w).transpose(0, 2, 1))


def permute_linear_after_flatten(w: np.ndarray, channels: int, length: int) -> np.ndarray:
    """Linear weight ``(O, C*T)`` for PyTorch's ``(C, T)`` flatten -> the board's ``[T][C]``
    flatten: ``W_board[o, t*C + c] = W_torch[o, c*T + t]``."""
    w = np.asarray(w)
    out = w.shape[0]
    return np.ascontiguousarray(w.reshape(out, channels, length).transpose(0, 2, 1)).reshape(
        out, channels * length
    )


def conv_padding(layer: LayerSpec) -> tuple[int, int]:
    """A CONV's (left, right) zero padding; the causal ``((k-1)*d, 0)`` unless given."""
    if layer.op is not Op.CONV:
        return 0, 0
    if layer.padding is None:
        return (layer.kernel - 1) * layer.dilation, 0
    return layer.padding


def act_bounds(layer: LayerSpec, dtype: DType) -> tuple[float, float]:
    if dtype is DType.INT8:
        lo = -128 if layer.act_min is None else int(layer.act_min)
        hi = 127 if layer.act_max is None else int(layer.act_max)
        return lo, hi
    lo = -np.inf if layer.act_min is None else float(layer.act_min)
    hi = np.inf if layer.act_max is None else float(layer.act_max)
    return lo, hi


def write_model(model: Model) -> bytes:
    """Serialise ``model`` to a version-2 image (little-endian, trailing CRC-32)."""
    nt, nl = len(model.tensors), len(model.layers)
    if not (1 <= nt <= 0xFFFF and 1 <= nl <= 0xFFFF):
        raise ModelFormatError("need at least one tensor and one layer")
    blob = bytearray()

    def put(arr: np.ndarray | None, dtype: str) -> int:
        if arr is None:
            return ABSENT
        off = len(blob)
        blob.extend(np.ascontiguousarray(arr, dtype=dtype).tobytes())
        blob.extend(b"\0" * (-len(blob) % 4))
        return off

    tensor_recs = b"".join(
        struct.pack("<BBHHHfi", int(t.dtype), 0, t.channels, t.length, 0, t.scale,
                    t.zero_point)
        for t in model.tensors
    )
    layer_recs = bytearray()
    for i, L in enumerate(model.layers):
        if not 1 <= len(L.inputs) <= 2:
            raise ModelFormatError(f"layer {i}: one or two inputs")
        dtype = model.tensors[L.inputs[0]].dtype
        q = dtype is DType.INT8
        w_off = b_off = m_off = s_off = ABSENT
        if L.op in (Op.CONV, Op.LINEAR):
            if L.weights is None:
                raise ModelFormatError(f"layer {i}: weights missing")
            w_off = put(L.weights, "<i1" if q else "<f4")
            b_off = put(L.bias, "<i4" if q else "<f4")
            if q:
                if L.multiplier is None or L.shift is None:
                    raise ModelFormatError(f"layer {i}: multiplier/shift missing")
                m_off = put(L.multiplier, "<i4")
                s_off = put(L.shift, "<i4")
        elif L.op is Op.ADD and q:
            if L.add_params is None or len(L.add_params) != 7:
                raise ModelFormatError(f"layer {i}: add_params (7 ints) missing")
            m_off = put(np.array(L.add_params), "<i4")
        lo, hi = act_bounds(L, dtype)
        act = struct.pack("<ii", int(lo), int(hi)) if q else struct.pack("<ff", lo, hi)
        in1 = L.inputs[1] if len(L.inputs) > 1 else NO_TENSOR
        pad_left, pad_right = conv_padding(L)
        if not (0 <= pad_left < 2**32 and 0 <= pad_right < 2**32):
            raise ModelFormatError(f"layer {i}: padding {(pad_left, pad_right)} out of range")
        layer_recs += struct.pack(
            "<BBHHHHHHHIIII", int(L.op), int(L.activation), L.inputs[0], in1, L.output,
            L.kernel, L.dilation, L.stride, 0, w_off, b_off, m_off, s_off,
        ) + act + struct.pack("<II", pad_left, pad_right)
    blob_off = HEADER_SIZE + len(tensor_recs) + len(layer_recs)
    blob_off += -blob_off % 4
    total = blob_off + len(blob) + 4
    header = MAGIC + struct.pack(
        "<HHIHHHHIII", VERSION, HEADER_SIZE, total, nt, nl, model.input, model.output,
        blob_off, len(blob), 0,
    )
    body = bytearray(header + tensor_recs + layer_recs)
    body += b"\0" * (blob_off - len(body))
    body += blob
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def read_model(data: bytes) -> Model:
    """Parse an image written by :func:`write_model` (checks magic, version, sizes, CRC)."""
    if len(data) < HEADER_SIZE + 4 or data[:4] != MAGIC:
        raise ModelFormatError("not a model image")
    version, hsize, total, nt, nl, inp, outp, blob_off, blob_size, _ = struct.unpack_from(
        "<HHIHHHHIII", data, 4
    )
    if version not in READABLE_VERSIONS:
        raise ModelFormatError(
            f"model format version {version}; this reader knows versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    if hsize != HEADER_SIZE or total != len(data):
        raise ModelFormatError(f"bad header: header size {hsize}, total size {total}, "
                               f"image of {len(data)} bytes")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ModelFormatError("CRC mismatch")
    blob = data[blob_off : blob_off + blob_size]
    tensors = []
    for i in range(nt):
        dt, _, c, t, _, scale, zp = struct.unpack_from(
            "<BBHHHfi", data, HEADER_SIZE + i * TENSOR_RECORD
        )
        tensors.append(TensorSpec(DType(dt), c, t, scale, zp))
    layers = []
    base = HEADER_SIZE + nt * TENSOR_RECORD
    for i in range(nl):
        rec = data[base + i * LAYER_RECORD : base + (i + 1) * LAYER_RECORD]
        op, act, in0, in1, out, k, d, s, _, w_off, b_off, m_off, s_off = struct.unpack_from(
            "<BBHHHHHHHIIII", rec
        )
        dtype = tensors[in0].dtype
        q = dtype is DType.INT8
        lo, hi = struct.unpack_from("<ii" if q else "<ff", rec, 32)
        cin, cout = tensors[in0].channels, tensors[out].channels
        kk = k if Op(op) is Op.CONV else 1

        def arr(off: int, n: int, dt: str) -> np.ndarray | None:
            if off == ABSENT:
                return None
            return np.frombuffer(blob, dtype=dt, count=n, offset=off).copy()

        pads = struct.unpack_from("<II", rec, 40)
        if version == 1 and Op(op) is Op.CONV:
            s, pads = 1, ((k - 1) * d, 0)
        L = LayerSpec(Op(op), (in0,) if in1 == NO_TENSOR else (in0, in1), out, k, d, s,
                      pads if Op(op) is Op.CONV else None, act_min=lo, act_max=hi,
                      activation=Activation(act))
        if L.op in (Op.CONV, Op.LINEAR):
            w = arr(w_off, cout * kk * cin, "<i1" if q else "<f4")
            assert w is not None
            L.weights = w.reshape(cout, kk, cin) if L.op is Op.CONV else w.reshape(cout, cin)
            L.bias = arr(b_off, cout, "<i4" if q else "<f4")
            if q:
                L.multiplier = arr(m_off, cout, "<i4")
                L.shift = arr(s_off, cout, "<i4")
        elif L.op is Op.ADD and q:
            p = arr(m_off, 7, "<i4")
            L.add_params = None if p is None else [int(v) for v in p]
        layers.append(L)
    return Model(tensors, layers, inp, outp)


# -- from a quantized network --------------------------------------------------------

_OPS = {
    "conv": Op.CONV,
    "linear": Op.LINEAR,
    "avgpool": Op.AVGPOOL,
    "maxpool": Op.MAXPOOL,
    "add": Op.ADD,
    "flatten": Op.FLATTEN,
}
_ACTS = {"none": Activation.NONE, "relu": Activation.RELU, "relu6": Activation.RELU6}


def _tensor(t: QTensor) -> TensorSpec:
    return TensorSpec(DType.INT8, t.channels, t.length, float(t.scale), int(t.zero_point))


def to_model(qm: QuantModel) -> Model:
    """The firmware's model description of a quantized network."""
    layers = []
    for layer in qm.layers:
        spec = LayerSpec(
            op=_OPS[layer.op],
            inputs=tuple(layer.inputs),
            output=layer.output,
            kernel=layer.kernel,
            dilation=layer.dilation,
            stride=layer.stride,
            padding=layer.padding if layer.op == "conv" else None,
            act_min=layer.act_min,
            act_max=layer.act_max,
            activation=_ACTS[layer.act],
        )
        if layer.op in ("conv", "linear"):
            spec.weights, spec.bias = layer.weight, layer.bias
            spec.multiplier, spec.shift = layer.multiplier, layer.shift
        elif layer.op == "add":
            assert layer.multiplier is not None
            spec.add_params = [int(v) for v in layer.multiplier]
        layers.append(spec)
    return Model([_tensor(t) for t in qm.tensors], layers, qm.input, qm.output)


def to_image(qm: QuantModel) -> bytes:
    return write_model(to_model(qm))


def _align4(n: int) -> int:
    return (n + 3) & ~3


def memory_needed(qm: QuantModel) -> int:
    """Activation arena + conv scratch, planned like the firmware (docs/protocol.md, memory
    planning): lifetimes from producer to last reader, first-fit at 4-aligned offsets."""
    n = len(qm.layers)
    birth = {qm.input: -1}
    death = {qm.input: -1}
    for i, layer in enumerate(qm.layers):
        birth[layer.output] = i
        death.setdefault(layer.output, i)
        for t in layer.inputs:
            death[t] = max(death.get(t, -1), i)
    death[qm.output] = n
    death[qm.input] = n  # kept intact through RUN: a repeated RUN reads it again
    placed: list[tuple[int, int, int, int]] = []  # offset, size, birth, death
    arena = 0
    for tid in sorted(birth, key=lambda t: (birth[t], t)):
        size = _align4(qm.tensors[tid].nbytes)
        busy = sorted(
            (off, sz) for off, sz, b, d in placed if not (d < birth[tid] or death[tid] < b)
        )
        offset = 0
        for off, sz in busy:
            if offset + size <= off:
                break
            offset = max(offset, _align4(off + sz))
        placed.append((offset, size, birth[tid], death[tid]))
        arena = max(arena, offset + size)
    # Two gathered int8 input columns widened to int16 for the largest CONV or LINEAR
    # (a LINEAR reads one column: after a flatten, all C*T features).
    scratch = max(
        (
            4 * (layer.kernel if layer.op == "conv" else 1) * qm.tensors[layer.inputs[0]].channels
            for layer in qm.layers
            if layer.op in ("conv", "linear")
        ),
        default=0,
    )
    return arena + scratch
