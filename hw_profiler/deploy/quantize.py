"""Post-training int8 quantization of a lowered network, TFLite style.

Weights: symmetric, one scale per output channel (zero point 0, range -127..127).
Activations: asymmetric, one scale and zero point per tensor from the calibration
range (always including 0). Pools and flatten keep their input's parameters, as the
board requires. Requantisation uses QuantizeMultiplier (M in [2^30, 2^31), shift S).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from hw_profiler.deploy.graph import GraphIR, LayerIR, TensorInfo
from hw_profiler.errors import DeployError
from hw_profiler.quant import reference as ref


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


def quantize_multiplier(real: float, where: str = "") -> tuple[int, int]:
    try:
        return ref.quantize_multiplier(float(real))
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


def quantize(ir: GraphIR, calib: Tensor) -> QuantModel:
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
    )
    q.act_min, q.act_max = _clamp(layer.act, out)
    if layer.op in ("conv", "linear"):
        src = tensors[layer.inputs[0]]
        w = layer.weight
        assert w is not None
        wq, w_scale = ref.quantize_weights_per_channel(w)
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
        pairs = [quantize_multiplier(src.scale * s / out.scale, layer.name) for s in w_scale]
        q.multiplier = np.array([m for m, _ in pairs], dtype=np.int32)
        q.shift = np.array([s for _, s in pairs], dtype=np.int32)
    elif layer.op == "add":
        s1, s2 = tensors[layer.inputs[0]].scale, tensors[layer.inputs[1]].scale
        try:
            params = ref.add_params(s1, s2, out.scale)
        except ValueError as exc:
            raise DeployError(f"layer {layer.name}: add scales out of range: {exc}") from exc
        q.multiplier = np.array(params, dtype=np.int32)
    return q
