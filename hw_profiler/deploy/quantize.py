"""int8 quantization, in one place: the board's arithmetic and post-training quantization.

The arithmetic (TFLite / CMSIS-NN, in numpy) is the golden model for the firmware
(docs/protocol.md section 4): the board's int8 kernels must reproduce it exactly.
Activations are channel-last ``(T, C)`` arrays, like the board's memory layout; integer
maths is done in int64 and narrowed exactly where the C code narrows to int32.

:func:`quantize_network` turns a lowered network (:mod:`hw_profiler.deploy.lower`) into a
:class:`QuantModel`, TFLite style. Weights: symmetric, one scale per output channel
(zero point 0, range -127..127). Activations: asymmetric, one scale and zero point per
tensor from the calibration range (always including 0). Pools and flatten keep their
input's parameters, as the board requires. Requantisation uses QuantizeMultiplier
(M in [2^30, 2^31), shift S).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from hw_profiler.deploy.lower import GraphIR, LayerIR, TensorInfo
from hw_profiler.errors import DeployError

# -- the board's int8 arithmetic ----------------------------------------------------

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: ``real ~= m * 2**(shift - 31)`` with m in [2^30, 2^31).

    Returns ``(0, 0)`` for 0. Shifts below -31 flush the multiplier to zero like TFLite.
    """
    if real == 0.0:
        return 0, 0
    if real < 0:
        raise ValueError("multiplier must be non-negative")
    q, shift = math.frexp(real)  # real = q * 2**shift, q in [0.5, 1)
    q_fixed = math.floor(q * (1 << 31) + 0.5)  # std::round: half away from zero
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError("multiplier too large")
    return int(q_fixed), int(shift)


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.int64)


def srdhm(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int32 values (vectorised)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b  # |a*b| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    # C integer division truncates toward zero
    q = np.where(v >= 0, v >> 31, -((-v) >> 31))
    return np.where(overflow, INT32_MAX, q).astype(np.int64)


def rdbp(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPowerOfTwo: round half away from zero (exponent >= 0)."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier (int32 in, int32 out)."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = _wrap32(np.asarray(x, dtype=np.int64) << left)
    return rdbp(srdhm(shifted, multiplier), right)


def requantize(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    out_zp: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """int32 accumulators -> int8 with per-channel (last axis) multiplier/shift."""
    y = multiply_by_quantized_multiplier(acc, multiplier, shift) + out_zp
    return np.clip(y, act_min, act_max).astype(np.int8)


def conv_multipliers(
    in_scale: float, w_scales: np.ndarray, out_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (multiplier, shift) for ``in_scale * w_scale[o] / out_scale``."""
    pairs = [quantize_multiplier(in_scale * float(s) / out_scale) for s in np.ravel(w_scales)]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int32))


def conv1d_int8(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    multiplier: np.ndarray,
    shift: np.ndarray,
    in_zp: int,
    out_zp: int,
    dilation: int = 1,
    act_min: int = -128,
    act_max: int = 127,
    stride: int = 1,
    padding: tuple[int, int] | None = None,
) -> np.ndarray:
    """Dilated, strided int8 Conv1d with zero padding; causal (``((k-1)*d, 0)``) by default.

    x: ``(T, Cin)`` int8; w: ``(Cout, k, Cin)`` int8 (PyTorch ``(Cout, Cin, k)`` permuted);
    bias: ``(Cout,)`` int32 or None. Padding holds the input zero point (0 after the
    subtraction). Returns ``(T_out, Cout)`` int8, ``T_out = (T + pads - (k-1)*d - 1) // s + 1``.
    """
    x = np.asarray(x, dtype=np.int64) - in_zp
    cout, k, cin = w.shape
    cols = conv_columns(x, k, dilation, stride, padding)
    T = cols.shape[0]
    acc = cols.reshape(T, k * cin) @ w.reshape(cout, k * cin).astype(np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    acc = _wrap32(acc)  # the board accumulates in int32
    return requantize(acc, multiplier, shift, out_zp, act_min, act_max)


def conv_columns(
    x: np.ndarray, k: int, dilation: int, stride: int, padding: tuple[int, int] | None
) -> np.ndarray:
    """``cols[t, j] = x_padded[t * stride + j * dilation]``, shape ``(T_out, k, C)``."""
    left, right = ((k - 1) * dilation, 0) if padding is None else padding
    xp = np.concatenate(
        [np.zeros((left, x.shape[1]), x.dtype), x, np.zeros((right, x.shape[1]), x.dtype)]
    )
    t_out = (xp.shape[0] - (k - 1) * dilation - 1) // stride + 1
    if t_out < 1:
        raise ValueError(f"conv output would be empty: {x.shape[0]} steps, padding "
                         f"{(left, right)}, kernel {k}, dilation {dilation}")
    span = (t_out - 1) * stride + 1
    return np.stack([xp[j * dilation : j * dilation + span : stride] for j in range(k)], axis=1)


def linear_int8(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    multiplier: np.ndarray,
    shift: np.ndarray,
    in_zp: int,
    out_zp: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """int8 Linear on ``(T, Cin)`` (each time step); w: ``(Cout, Cin)``."""
    return conv1d_int8(x, w[:, None, :], bias, multiplier, shift, in_zp, out_zp, 1,
                       act_min, act_max)


def avgpool1d_int8(
    x: np.ndarray, kernel: int, stride: int, act_min: int = -128, act_max: int = 127
) -> np.ndarray:
    """int8 AvgPool1d (no padding) on ``(T, C)``, TFLite rounding (half away from zero)."""
    x = np.asarray(x, dtype=np.int64)
    t_out = (x.shape[0] - kernel) // stride + 1
    acc = np.stack([x[t * stride : t * stride + kernel].sum(axis=0) for t in range(t_out)])
    half = kernel // 2
    q = np.where(acc > 0, (acc + half) // kernel, -((-(acc - half)) // kernel))
    return np.clip(q, act_min, act_max).astype(np.int8)


def maxpool1d_int8(
    x: np.ndarray, kernel: int, stride: int, act_min: int = -128, act_max: int = 127
) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    t_out = (x.shape[0] - kernel) // stride + 1
    m = np.stack([x[t * stride : t * stride + kernel].max(axis=0) for t in range(t_out)])
    return np.clip(m, act_min, act_max).astype(np.int8)


LEFT_SHIFT_ADD = 20


def add_params(s1: float, s2: float, s_out: float) -> list[int]:
    """TFLite int8 add parameters ``[left_shift, M1, S1, M2, S2, M_out, S_out]``."""
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT_ADD) * s_out))
    return [LEFT_SHIFT_ADD, m1, sh1, m2, sh2, mo, sho]


def add_int8(
    a: np.ndarray,
    b: np.ndarray,
    params: list[int],
    zp1: int,
    zp2: int,
    out_zp: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """Residual add of two int8 tensors with rescaling (TFLite add)."""
    ls, m1, s1, m2, s2, mo, so = params
    x1 = _wrap32((np.asarray(a, dtype=np.int64) - zp1) << ls)
    x2 = _wrap32((np.asarray(b, dtype=np.int64) - zp2) << ls)
    s = _wrap32(multiply_by_quantized_multiplier(x1, m1, s1)
                + multiply_by_quantized_multiplier(x2, m2, s2))
    y = multiply_by_quantized_multiplier(s, mo, so) + out_zp
    return np.clip(y, act_min, act_max).astype(np.int8)


def quantize_values(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 (round half to even like numpy, then saturate)."""
    return np.clip(np.round(np.asarray(x) / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize_values(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.float32) - zero_point) * np.float32(scale)


def quantize_weights_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel (axis 0) int8 weights: returns (q, scales)."""
    w = np.asarray(w, dtype=np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.round(w / scales.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
    return q.astype(np.int8), scales.astype(np.float32)


# -- post-training quantization of a lowered network ------------------------------


@dataclass
class QTensor:
    id: int
    channels: int
    length: int
    scale: float
    zero_point: int
    flattened_from: tuple[int, int] | None = None

    @property
    def nbytes(self) -> int:
        return self.channels * self.length


@dataclass
class QLayer:
    """One int8 board layer with arrays already in the board's layouts."""

    name: str
    op: str
    inputs: list[int]
    output: int
    act: str = "none"
    kernel: int = 1
    dilation: int = 1
    stride: int = 1
    padding: tuple[int, int] = (0, 0)  # conv zero padding (left, right)
    weight: np.ndarray | None = None  # int8: conv [Cout][k][Cin], linear [Cout][Cin]
    bias: np.ndarray | None = None  # int32[Cout]
    multiplier: np.ndarray | None = None  # int32[Cout] (conv/linear) or int32[7] (add)
    shift: np.ndarray | None = None  # int32[Cout]
    act_min: int = -128
    act_max: int = 127


@dataclass
class QuantModel:
    tensors: list[QTensor]
    layers: list[QLayer]
    input: int
    output: int
    float_ranges: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def input_tensor(self) -> QTensor:
        return self.tensors[self.input]

    @property
    def output_tensor(self) -> QTensor:
        return self.tensors[self.output]

    def quantize_input(self, x: Tensor) -> np.ndarray:
        """(C, T) float -> int8 [T][C] (channel-last, the board's layout)."""
        t = self.input_tensor
        q = torch.round(x.double() / t.scale) + t.zero_point
        return q.clamp(-128, 127).to(torch.int8).numpy().T.copy()

    def dequantize_output(self, q: np.ndarray) -> Tensor:
        """int8 [T][C] -> float in torch layout: (C, T), or (F,) after a flatten/linear."""
        t = self.output_tensor
        q = q.reshape(t.length, t.channels)
        values = (q.astype(np.float64) - t.zero_point) * t.scale
        if t.length == 1:
            flat = values[0]
            if t.flattened_from is not None:  # board feature t*C+c is torch's c*T+t
                c, length = t.flattened_from
                flat = flat.reshape(length, c).T.reshape(-1)
            return torch.from_numpy(flat.copy()).float()
        return torch.from_numpy(values.T.copy()).float()


def _layer_multiplier(real: float, where: str) -> tuple[int, int]:
    try:
        return quantize_multiplier(float(real))
    except ValueError as exc:
        raise DeployError(
            f"layer {where}: requantisation scale {real:.3g} out of range "
            f"({exc}); check the calibration data"
        ) from exc


def activation_params(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 scale and zero point covering [lo, hi] and 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-12:
        return 1.0 / 255.0, -128
    scale = (hi - lo) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


def calibrate(ir: GraphIR, calib: Tensor) -> dict[int, tuple[float, float]]:
    """Min and max of every tensor over the calibration batch (N, C, T)."""
    if calib.dim() != 3 or calib.shape[1:] != (
        ir.tensors[ir.input].channels,
        ir.tensors[ir.input].length,
    ):
        want = (ir.tensors[ir.input].channels, ir.tensors[ir.input].length)
        raise DeployError(
            f"calibration data must be (N, C, T) = (N, {want[0]}, {want[1]}), "
            f"got {tuple(calib.shape)}"
        )
    record: dict[int, Tensor] = {}
    with torch.no_grad():
        ir.run_float(calib, record)
    return {tid: (float(v.min()), float(v.max())) for tid, v in record.items()}


def quantize_network(ir: GraphIR, calib: Tensor) -> QuantModel:
    ranges = calibrate(ir, calib)
    tensors: dict[int, QTensor] = {}

    def define(t: TensorInfo, scale: float, zp: int) -> None:
        tensors[t.id] = QTensor(t.id, t.channels, t.length, scale, zp, t.flattened_from)

    define(ir.tensors[ir.input], *activation_params(*ranges[ir.input]))
    layers = []
    for layer in ir.layers:
        out = ir.tensors[layer.output]
        if layer.op in ("avgpool", "maxpool", "flatten"):
            src = tensors[layer.inputs[0]]
            define(out, src.scale, src.zero_point)
        else:
            define(out, *activation_params(*ranges[layer.output]))
        layers.append(_quantize_layer(layer, tensors, ir))
    return QuantModel([tensors[t.id] for t in ir.tensors], layers, ir.input, ir.output, ranges)


def _clamp(act: str, out: QTensor) -> tuple[int, int]:
    if act == "none":
        return -128, 127
    lo = max(-128, out.zero_point)
    if act == "relu":
        return lo, 127
    return lo, min(127, out.zero_point + round(6.0 / out.scale))


def _quantize_layer(layer: LayerIR, tensors: dict[int, QTensor], ir: GraphIR) -> QLayer:
    out = tensors[layer.output]
    q = QLayer(
        layer.name,
        layer.op,
        list(layer.inputs),
        layer.output,
        layer.act,
        layer.kernel,
        layer.dilation,
        layer.stride,
        layer.padding,
    )
    q.act_min, q.act_max = _clamp(layer.act, out)
    if layer.op in ("conv", "linear"):
        src = tensors[layer.inputs[0]]
        w = layer.weight
        assert w is not None
        wq, w_scale = quantize_weights_per_channel(w)
        w_scale = w_scale.astype(np.float64)
        if layer.op == "conv":
            wq = np.ascontiguousarray(wq.transpose(0, 2, 1))  # (Cout, Cin, k) -> [Cout][k][Cin]
        elif src.flattened_from is not None:
            c, t = src.flattened_from  # board feature t*C+c reads torch column c*T+t
            wq = np.ascontiguousarray(
                wq.reshape(wq.shape[0], c, t).transpose(0, 2, 1).reshape(wq.shape[0], c * t)
            )
        bias = layer.bias if layer.bias is not None else np.zeros(w.shape[0])
        bq = np.rint(bias / (src.scale * w_scale))
        if np.abs(bq).max(initial=0) >= 2**31:
            raise DeployError(f"layer {layer.name}: bias does not fit int32 after quantization")
        q.weight, q.bias = wq, bq.astype(np.int32)
        pairs = [_layer_multiplier(src.scale * s / out.scale, layer.name) for s in w_scale]
        q.multiplier = np.array([m for m, _ in pairs], dtype=np.int32)
        q.shift = np.array([s for _, s in pairs], dtype=np.int32)
    elif layer.op == "add":
        s1, s2 = tensors[layer.inputs[0]].scale, tensors[layer.inputs[1]].scale
        try:
            params = add_params(s1, s2, out.scale)
        except ValueError as exc:
            raise DeployError(f"layer {layer.name}: add scales out of range: {exc}") from exc
        q.multiplier = np.array(params, dtype=np.int32)
    return q
