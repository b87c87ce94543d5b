"""Bit-exact int8 reference kernels (TFLite / CMSIS-NN arithmetic) in numpy.

This is the golden model for the firmware (docs/protocol.md section 4): the board's int8
kernels must reproduce these results exactly. Activations are channel-last ``(T, C)``
arrays, like the board's memory layout. Integer maths is done in int64 and narrowed
exactly where the C code narrows to int32.
"""

from __future__ import annotations

import math

import numpy as np

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
) -> np.ndarray:
    """Causal dilated int8 Conv1d, stride 1.

    x: ``(T, Cin)`` int8; w: ``(Cout, k, Cin)`` int8 (PyTorch ``(Cout, Cin, k)`` permuted);
    bias: ``(Cout,)`` int32 or None. Input at negative time is the input zero point.
    Returns ``(T, Cout)`` int8.
    """
    x = np.asarray(x, dtype=np.int64) - in_zp
    cout, k, cin = w.shape
    T = x.shape[0]
    pad = (k - 1) * dilation
    xp = np.concatenate([np.zeros((pad, cin), dtype=np.int64), x], axis=0)
    # cols[t, j, c] = x[t - (k-1-j)*d, c]
    cols = np.stack([xp[j * dilation : j * dilation + T] for j in range(k)], axis=1)
    acc = cols.reshape(T, k * cin) @ w.reshape(cout, k * cin).astype(np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    acc = _wrap32(acc)  # the board accumulates in int32
    return requantize(acc, multiplier, shift, out_zp, act_min, act_max)


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


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 (round half to even like numpy, then saturate)."""
    return np.clip(np.round(np.asarray(x) / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.float32) - zero_point) * np.float32(scale)


def quantize_weights_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel (axis 0) int8 weights: returns (q, scales)."""
    w = np.asarray(w, dtype=np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.round(w / scales.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
    return q.astype(np.int8), scales.astype(np.float32)
