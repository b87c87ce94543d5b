"""The last stage: run an image in numpy with the board's arithmetic and compare.

:func:`run_model_reference` executes a model image bit-exactly for int8 (float32 in
numpy maths), so :func:`validate_model` can hold the board's outputs against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hw_profiler.board import Board
from hw_profiler.deploy.quantize import (
    add_int8,
    avgpool1d_int8,
    conv1d_int8,
    conv_columns,
    maxpool1d_int8,
)
from hw_profiler.deploy.run import DeployResult, batched, deploy_model
from hw_profiler.deploy.serialize import (
    Model,
    ModelFormatError,
    act_bounds,
    conv_padding,
    read_model,
)
from hw_profiler.protocol.messages import DType, Op


@dataclass
class ValidationResult:
    deploy: DeployResult
    reference_int8: np.ndarray
    max_diff_lsb: int
    mismatches: int
    tolerance_lsb: int
    float_max_abs_error: float  # dequantized board output vs the float torch model

    @property
    def ok(self) -> bool:
        return self.max_diff_lsb <= self.tolerance_lsb

    def report(self) -> str:
        verdict = "MATCH" if self.ok else "MISMATCH"
        return (
            f"{self.deploy.report()}\n"
            f"validation: {verdict}: board vs int8 reference max |diff| = {self.max_diff_lsb} "
            f"LSB ({self.mismatches} of {self.reference_int8.size} values differ, tolerance "
            f"{self.tolerance_lsb}); dequantized vs float model max |error| = "
            f"{self.float_max_abs_error:.4g}"
        )


def run_model_reference(model: Model, x: np.ndarray) -> np.ndarray:
    """Run ``model`` on ``x`` (``(T, C)``, board layout, model input dtype) in numpy.

    int8 layers are bit-exact with the firmware; float32 layers use float32 numpy maths
    (summation order differs from the board: compare with a tolerance).
    """
    vals: dict[int, np.ndarray] = {model.input: np.asarray(x)}
    for L in model.layers:
        a = vals[L.inputs[0]]
        tin, tout = model.tensors[L.inputs[0]], model.tensors[L.output]
        q = tin.dtype is DType.INT8
        lo, hi = act_bounds(L, tin.dtype)
        if L.op in (Op.CONV, Op.LINEAR):
            w = L.weights if L.op is Op.CONV else np.asarray(L.weights)[:, None, :]
            conv = L.op is Op.CONV
            d, s = (L.dilation, L.stride) if conv else (1, 1)
            pads = conv_padding(L)
            if q:
                y = conv1d_int8(a, w, L.bias, L.multiplier, L.shift, tin.zero_point,
                                tout.zero_point, d, int(lo), int(hi), s, pads)
            else:
                y = conv1d_float(a, w, L.bias, d, s, pads)
                y = np.clip(y, lo, hi).astype(np.float32)
        elif L.op is Op.AVGPOOL:
            if q:
                y = avgpool1d_int8(a, L.kernel, L.stride, int(lo), int(hi))
            else:
                y = _pool_float(a, L.kernel, L.stride, np.mean)
        elif L.op is Op.MAXPOOL:
            if q:
                y = maxpool1d_int8(a, L.kernel, L.stride, int(lo), int(hi))
            else:
                y = _pool_float(a, L.kernel, L.stride, np.max)
        elif L.op is Op.ADD:
            b = vals[L.inputs[1]]
            if q:
                assert L.add_params is not None
                y = add_int8(a, b, L.add_params, tin.zero_point,
                                 model.tensors[L.inputs[1]].zero_point, tout.zero_point,
                                 int(lo), int(hi))
            else:
                y = np.clip(a.astype(np.float32) + b, lo, hi).astype(np.float32)
        elif L.op is Op.FLATTEN:
            y = a.reshape(1, -1)
        else:
            raise ModelFormatError(f"unknown op {L.op}")
        vals[L.output] = y
    return vals[model.output]


def conv1d_float(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    dilation: int,
    stride: int = 1,
    padding: tuple[int, int] | None = None,
) -> np.ndarray:
    """Float Conv1d on ``(T, Cin)`` with board-layout weights ``(Cout, k, Cin)``; causal
    unless ``padding`` (left, right) is given."""
    x = np.asarray(x, dtype=np.float32)
    cout, k, cin = w.shape
    cols = conv_columns(x, k, dilation, stride, padding)
    T = cols.shape[0]
    y = cols.reshape(T, k * cin) @ np.asarray(w, dtype=np.float32).reshape(cout, k * cin).T
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float32)
    return y.astype(np.float32)


def _pool_float(x: np.ndarray, k: int, s: int, fn) -> np.ndarray:
    t_out = (x.shape[0] - k) // s + 1
    return np.stack([fn(x[t * s : t * s + k], axis=0) for t in range(t_out)]).astype(np.float32)


def reference_run(image: bytes, x_int8: np.ndarray) -> np.ndarray:
    """The bit-exact int8 reference output ([T][C]) of the exact image sent to the board."""
    return np.asarray(run_model_reference(read_model(image), x_int8), dtype=np.int8)


def validate_model(
    board: Board,
    model: nn.Module,
    calib: Tensor,
    inputs: Tensor | None = None,
    tolerance_lsb: int = 0,
) -> ValidationResult:
    result = deploy_model(board, model, calib, inputs)
    ref = np.stack(
        [
            reference_run(result.image, xq).reshape(result.outputs_int8.shape[1:])
            for xq in result.inputs_int8
        ]
    )
    diff = np.abs(ref.astype(np.int32) - result.outputs_int8.astype(np.int32))
    xs = batched(calib)[:1] if inputs is None else batched(inputs)
    with torch.no_grad():
        expected = model.eval()(xs).reshape(result.outputs.shape)
    return ValidationResult(
        deploy=result,
        reference_int8=ref,
        max_diff_lsb=int(diff.max(initial=0)),
        mismatches=int((diff > 0).sum()),
        tolerance_lsb=tolerance_lsb,
        float_max_abs_error=float((result.outputs - expected).abs().max()),
    )
