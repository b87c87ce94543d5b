"""Quantized model -> the firmware's model image; memory planning; the int8 reference run."""

from __future__ import annotations

import numpy as np

from hw_profiler.deploy.quantize import QTensor, QuantModel
from hw_profiler.model_format import (
    Activation,
    LayerSpec,
    Model,
    TensorSpec,
    read_model,
    run_model_reference,
    write_model,
)
from hw_profiler.protocol import DType, Op

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


def reference_run(image: bytes, x_int8: np.ndarray) -> np.ndarray:
    """The bit-exact int8 reference output ([T][C]) of the exact image sent to the board."""
    return np.asarray(run_model_reference(read_model(image), x_int8), dtype=np.int8)


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
