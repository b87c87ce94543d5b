"""Random single-layer and small multi-layer models plus their reference outputs."""

from __future__ import annotations

import numpy as np

import hw_profiler.deploy.quantize as ref
from hw_profiler.deploy.serialize import LayerSpec, Model, TensorSpec
from hw_profiler.protocol import DType, Op


def int8_conv_model(
    rng: np.random.Generator, T: int, cin: int, cout: int, k: int, d: int,
    *, bias: bool = True, relu6: bool = False, op: Op = Op.CONV,
) -> Model:
    in_scale, out_scale = 0.05, float(rng.uniform(0.05, 0.3))
    w_scales = rng.uniform(0.002, 0.02, cout)
    in_zp, out_zp = int(rng.integers(-20, 20)), int(rng.integers(-20, 20))
    kk = k if op is Op.CONV else 1
    w = rng.integers(-127, 128, (cout, kk, cin)).astype(np.int8)
    m, s = ref.conv_multipliers(in_scale, w_scales, out_scale)
    b = rng.integers(-3000, 3000, cout).astype(np.int32) if bias else None
    lo, hi = -128, 127
    if relu6:  # ReLU6 as a clamp in the output's quantised domain
        lo = max(-128, out_zp)
        hi = min(127, out_zp + round(6.0 / out_scale))
    weights = w if op is Op.CONV else w[:, 0, :]
    layer = LayerSpec(op, (0,), 1, kernel=kk, dilation=d if op is Op.CONV else 1,
                      weights=weights, bias=b, multiplier=m, shift=s, act_min=lo, act_max=hi)
    return Model([TensorSpec(DType.INT8, cin, T, in_scale, in_zp),
                  TensorSpec(DType.INT8, cout, T, out_scale, out_zp)], [layer], 0, 1)


def residual_int8_model(rng: np.random.Generator, T: int = 24, c: int = 8) -> Model:
    """conv(d=1) -> conv(d=2, relu) -> add(skip from input) -> avgpool(2,2) -> flatten ->
    linear: a TCN block with a residual DAG (the add reads tensor 0 again)."""
    scales = [0.04, 0.08, 0.06, 0.07, 0.07, 0.07, 0.2]
    zps = [3, -4, -128, 5, 5, 5, -2]
    t_pool = (T - 2) // 2 + 1
    tensors = [
        TensorSpec(DType.INT8, c, T, scales[0], zps[0]),
        TensorSpec(DType.INT8, c, T, scales[1], zps[1]),
        TensorSpec(DType.INT8, c, T, scales[2], zps[2]),
        TensorSpec(DType.INT8, c, T, scales[3], zps[3]),
        TensorSpec(DType.INT8, c, t_pool, scales[4], zps[4]),
        TensorSpec(DType.INT8, c * t_pool, 1, scales[5], zps[5]),
        TensorSpec(DType.INT8, 5, 1, scales[6], zps[6]),
    ]

    def conv(i: int, o: int, k: int, d: int, cout: int, relu: bool = False) -> LayerSpec:
        cin = tensors[i].channels
        kk = k
        w = rng.integers(-127, 128, (cout, kk, cin)).astype(np.int8)
        m, s = ref.conv_multipliers(scales[i], rng.uniform(0.002, 0.01, cout), scales[o])
        lo = zps[o] if relu else -128
        op = Op.CONV if k > 1 else Op.LINEAR
        weights = w if op is Op.CONV else w[:, 0, :]
        return LayerSpec(op, (i,), o, kernel=k, dilation=d, weights=weights,
                         bias=rng.integers(-2000, 2000, cout).astype(np.int32),
                         multiplier=m, shift=s, act_min=lo, act_max=127)

    layers = [
        conv(0, 1, 3, 1, c),
        conv(1, 2, 3, 2, c, relu=True),
        LayerSpec(Op.ADD, (2, 0), 3, add_params=ref.add_params(scales[2], scales[0], scales[3])),
        LayerSpec(Op.AVGPOOL, (3,), 4, kernel=2, stride=2),
        LayerSpec(Op.FLATTEN, (4,), 5),
        conv(5, 6, 1, 1, 5),
    ]
    return Model(tensors, layers, 0, 6)
