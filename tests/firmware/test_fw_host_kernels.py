"""Kernels of the host build against the numpy golden model (bit-exact for int8) and torch
(float), each as a one-layer model through LOAD_MODEL + RUN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fw_models import int8_conv_model, residual_int8_model

from hw_profiler.deploy.compare import run_model_reference
from hw_profiler.deploy.serialize import (
    LayerSpec,
    Model,
    TensorSpec,
    conv_weight_from_torch,
    permute_linear_after_flatten,
    write_model,
)
from hw_profiler.protocol import DType, Op

CONV_SHAPES = [
    # T, cin, cout, k, d
    (13, 5, 7, 3, 4),
    (1, 3, 3, 3, 1),
    (2, 4, 4, 2, 1),
    (17, 1, 1, 1, 1),
    (9, 6, 3, 1, 1),
    (31, 16, 16, 5, 8),
    (20, 8, 9, 4, 16),   # receptive field beyond T
    (33, 3, 5, 9, 2),
    (64, 32, 32, 3, 2),
    (7, 12, 2, 17, 1),
    (10, 7, 11, 2, 3),
    (5, 4, 4, 3, 60000),  # dilation far beyond T (and beyond 32-bit tap offsets * k)
]


def _run(board, model: Model, x: np.ndarray) -> np.ndarray:
    board.load(write_model(model))
    r = board.run(np.ascontiguousarray(x).tobytes(), per_layer=True)
    out_t = model.tensors[model.output]
    dt = np.int8 if out_t.dtype is DType.INT8 else np.float32
    assert len(r.layer_ticks) == len(model.layers)
    return np.frombuffer(r.output, dtype=dt).reshape(out_t.length, out_t.channels)


@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"), CONV_SHAPES)
def test_int8_conv_bit_exact(host_board, T, cin, cout, k, d):
    rng = np.random.default_rng(T * 1000 + cin * 100 + k * 10 + d)
    model = int8_conv_model(rng, T, cin, cout, k, d, bias=(T % 2 == 1), relu6=(d % 2 == 0))
    x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
    np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))


@pytest.mark.parametrize(("T", "cin", "cout"), [(1, 37, 10), (5, 8, 3), (3, 1, 1)])
def test_int8_linear_bit_exact(host_board, T, cin, cout):
    rng = np.random.default_rng(cin)
    model = int8_conv_model(rng, T, cin, cout, 1, 1, op=Op.LINEAR)
    x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
    np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))


@pytest.mark.parametrize("op", [Op.AVGPOOL, Op.MAXPOOL])
@pytest.mark.parametrize(("T", "C", "k", "s"), [(10, 3, 2, 2), (11, 5, 3, 1), (7, 1, 7, 3),
                                                (9, 4, 4, 3)])
def test_pools(host_board, op, T, C, k, s):
    rng = np.random.default_rng(T + C + k + s)
    t_out = (T - k) // s + 1
    for dtype in (DType.INT8, DType.FLOAT32):
        model = Model(
            [TensorSpec(dtype, C, T, 0.1, 7), TensorSpec(dtype, C, t_out, 0.1, 7)],
            [LayerSpec(op, (0,), 1, kernel=k, stride=s,
                       act_min=-100 if dtype is DType.INT8 else None)], 0, 1)
        if dtype is DType.INT8:
            x = rng.integers(-128, 128, (T, C)).astype(np.int8)
            np.testing.assert_array_equal(_run(host_board, model, x),
                                          run_model_reference(model, x))
        else:
            x = rng.standard_normal((T, C)).astype(np.float32)
            xt = torch.from_numpy(x.T.copy())[None]
            fn = torch.nn.functional
            pool = fn.avg_pool1d if op is Op.AVGPOOL else fn.max_pool1d
            expect = pool(xt, k, s)[0].T.numpy()
            np.testing.assert_allclose(_run(host_board, model, x), expect, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("scales", "zps"), [((0.1, 0.05, 0.12), (3, -7, 0)),
                                             ((0.02, 0.02, 0.01), (-128, 127, -5)),
                                             ((1.0, 0.001, 0.5), (0, 0, 10))])
def test_int8_add(host_board, scales, zps):
    from hw_profiler.deploy.quantize import add_params

    rng = np.random.default_rng(int(zps[0]) + 300)
    T, C = 9, 5
    model = Model(
        [TensorSpec(DType.INT8, C, T, scales[0], zps[0]),
         TensorSpec(DType.INT8, C, T, scales[0], zps[0]),  # conv output, 2nd add input
         TensorSpec(DType.INT8, C, T, scales[2], zps[2])],
        [LayerSpec(Op.MAXPOOL, (0,), 1, kernel=1, stride=1),
         LayerSpec(Op.ADD, (1, 0), 2, add_params=add_params(scales[0], scales[0], scales[2]),
                   act_min=zps[2])], 0, 2)
    x = rng.integers(-128, 128, (T, C)).astype(np.int8)
    np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))
    # and with different input scales: second input comes straight from the model input
    model.tensors[1] = TensorSpec(DType.INT8, C, T, scales[1], zps[1])
    model.layers[0] = LayerSpec(Op.MAXPOOL, (0,), 1, kernel=1, stride=1)
    model.tensors[0] = TensorSpec(DType.INT8, C, T, scales[1], zps[1])
    model.layers[1].add_params = add_params(scales[1], scales[1], scales[2])
    np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))


@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"), CONV_SHAPES[:8])
def test_float_conv_vs_torch(host_board, T, cin, cout, k, d):
    rng = np.random.default_rng(k * d + cin)
    conv = torch.nn.Conv1d(cin, cout, k, dilation=d)
    x = rng.standard_normal((T, cin)).astype(np.float32)
    with torch.no_grad():
        xt = torch.nn.functional.pad(torch.from_numpy(x.T.copy())[None], ((k - 1) * d, 0))
        expect = torch.relu(conv(xt))[0].T.numpy()
    model = Model(
        [TensorSpec(DType.FLOAT32, cin, T), TensorSpec(DType.FLOAT32, cout, T)],
        [LayerSpec(Op.CONV, (0,), 1, kernel=k, dilation=d,
                   weights=conv_weight_from_torch(conv.weight.detach().numpy()),
                   bias=conv.bias.detach().numpy(), act_min=0.0)], 0, 1)
    np.testing.assert_allclose(_run(host_board, model, x), expect, rtol=1e-4, atol=1e-5)


def test_float_add_flatten_linear_vs_torch(host_board):
    """Float residual add, flatten with the documented weight permutation, linear."""
    rng = np.random.default_rng(5)
    T, C, n_out = 6, 3, 4
    conv = torch.nn.Conv1d(C, C, 2, dilation=2)
    lin = torch.nn.Linear(C * T, n_out)
    x = rng.standard_normal((T, C)).astype(np.float32)
    with torch.no_grad():
        xt = torch.from_numpy(x.T.copy())[None]
        h = conv(torch.nn.functional.pad(xt, (2, 0))) + xt
        expect = lin(h.flatten(1)).numpy()
    model = Model(
        [TensorSpec(DType.FLOAT32, C, T), TensorSpec(DType.FLOAT32, C, T),
         TensorSpec(DType.FLOAT32, C, T), TensorSpec(DType.FLOAT32, C * T, 1),
         TensorSpec(DType.FLOAT32, n_out, 1)],
        [LayerSpec(Op.CONV, (0,), 1, kernel=2, dilation=2,
                   weights=conv_weight_from_torch(conv.weight.detach().numpy()),
                   bias=conv.bias.detach().numpy()),
         LayerSpec(Op.ADD, (1, 0), 2),
         LayerSpec(Op.FLATTEN, (2,), 3),
         LayerSpec(Op.LINEAR, (3,), 4,
                   weights=permute_linear_after_flatten(lin.weight.detach().numpy(), C, T),
                   bias=lin.bias.detach().numpy())], 0, 4)
    np.testing.assert_allclose(_run(host_board, model, x), expect, rtol=1e-4, atol=1e-5)


def test_residual_int8_model(host_board):
    rng = np.random.default_rng(11)
    model = residual_int8_model(rng)
    for _ in range(3):
        x = rng.integers(-128, 128, (24, 8)).astype(np.int8)
        np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))


def _conv_out_len(T: int, k: int, d: int, s: int, pad: tuple[int, int]) -> int:
    return (T + pad[0] + pad[1] - (k - 1) * d - 1) // s + 1


@pytest.mark.parametrize("cin", [1, 2, 3, 5, 6, 7, 9, 13])
def test_int8_conv_odd_widths_bit_exact(host_board, cin):
    """Every path of the int8 conv (direct for C_in % 4 != 0 or few outputs, column
    otherwise; interior and edge steps; 1 or 2 channels per block) against the reference,
    causal and with stride / symmetric or one-sided padding."""
    rng = np.random.default_rng(cin)
    T = 23
    variants = [(1, None), (2, None), (1, (1, 1)), (3, (2, 5)), (2, (0, 0))]
    for cout in (1, 2, 3, 7, 9):
        for k in (1, 2, 3, 65):
            for d in (1, 2, 16):
                for s, pad in variants:
                    p = pad if pad is not None else ((k - 1) * d, 0)
                    t_out = _conv_out_len(T, k, d, s, p)
                    if t_out < 1:
                        continue
                    model = int8_conv_model(rng, T, cin, cout, k, d, bias=bool(k % 2),
                                            relu6=d == 2)
                    model.layers[0].stride, model.layers[0].padding = s, pad
                    out = model.tensors[1]
                    model.tensors[1] = TensorSpec(DType.INT8, cout, t_out, out.scale,
                                                  out.zero_point)
                    x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
                    np.testing.assert_array_equal(
                        _run(host_board, model, x), run_model_reference(model, x),
                        err_msg=f"cin={cin} cout={cout} k={k} d={d} stride={s} pad={p}")


@pytest.mark.parametrize("n", [1, 3, 5, 6, 7, 37, 127, 128, 257, 1003])
@pytest.mark.parametrize(("scales", "zps"), [((0.1, 0.12), (127, 127)),
                                             ((0.5, 0.0005), (-128, -128)),
                                             ((0.003, 20.0), (-1, 3)),
                                             ((1.0, 1.0), (-128, 127))])
def test_int8_add_odd_lengths_extremes(host_board, n, scales, zps):
    """Residual add (the input and its max-pool k=1 copy, same quantisation) over
    n % 4 != 0 elements (the word loop's tail), below and above the size where the kernel
    tabulates the input terms, with extreme zero points and input/output scale ratios
    (output multiplier shifting left and right) against the reference."""
    from hw_profiler.deploy.quantize import add_params

    rng = np.random.default_rng(n)
    T, C = n, 1
    model = Model(
        [TensorSpec(DType.INT8, C, T, scales[0], zps[0]),
         TensorSpec(DType.INT8, C, T, scales[0], zps[0]),
         TensorSpec(DType.INT8, C, T, scales[1], zps[1])],
        [LayerSpec(Op.MAXPOOL, (0,), 1, kernel=1, stride=1),
         LayerSpec(Op.ADD, (1, 0), 2, add_params=add_params(scales[0], scales[0], scales[1]))],
        0, 2)
    x = np.concatenate([np.array([-128, 127, 0], np.int8),
                        rng.integers(-128, 128, T).astype(np.int8)])[:T, None]
    np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))


@pytest.mark.parametrize(("cin", "cout", "d"), [(9, 1, 1), (1, 9, 1), (5, 3, 1), (13, 2, 1),
                                                (9, 1, 2), (1, 9, 2), (9, 10, 1), (23, 5, 1)])
def test_int8_conv_long_kernel_interior_bit_exact(host_board, cin, cout, d):
    """k = 65 over enough steps that both the edge steps and the interior steps (every tap
    in range, the 2-step blocks) of each path run, causal and with symmetric padding."""
    rng = np.random.default_rng(cin * 10 + cout + d)
    T, k = 150, 65  # T * cin within one RUN frame
    for s, pad in [(1, None), (2, (32 * d, 32 * d))]:
        p = pad if pad is not None else ((k - 1) * d, 0)
        model = int8_conv_model(rng, T, cin, cout, k, d)
        model.layers[0].stride, model.layers[0].padding = s, pad
        out = model.tensors[1]
        model.tensors[1] = TensorSpec(DType.INT8, cout, _conv_out_len(T, k, d, s, p), out.scale,
                                      out.zero_point)
        x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
        np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x))


@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"),
                         [(19, 3, 37, 2, 3), (21, 8, 66, 3, 1), (25, 1, 9, 65, 2), (33, 5, 7, 3, 8),
                          (18, 9, 10, 3, 4), (9, 4, 5, 33, 1), (40, 31, 4, 5, 2)])
def test_int8_conv_chunks_and_offsets_bit_exact(host_board, T, cin, cout, k, d):
    """More output channels than one table chunk (32), odd counts, and the column widths
    gathered through the offsets table (k * C_in <= 128, C_in % 4 != 0) or the byte stream
    (wider), with every step an edge step at large k * d, causal and symmetric."""
    rng = np.random.default_rng(T + cin + cout + k + d)
    for pad in (None, ((k - 1) * d // 2, (k - 1) * d - (k - 1) * d // 2)):
        model = int8_conv_model(rng, T, cin, cout, k, d, relu6=True)
        model.layers[0].padding = pad
        x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
        np.testing.assert_array_equal(_run(host_board, model, x), run_model_reference(model, x),
                                      err_msg=f"padding {pad}")
