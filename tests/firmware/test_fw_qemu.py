"""End to end on the emulated boards (QEMU netduinoplus2 and virt rv32, -icount shift=0):
boot, INFO, deterministic BENCH_LAYER ticks, and models (the STM32's SIMD kernels, the
portable C kernels on RISC-V) against the golden model."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from fw_models import int8_conv_model, residual_int8_model

from hw_profiler.deploy.compare import run_model_reference
from hw_profiler.deploy.serialize import LayerSpec, Model, TensorSpec, write_model
from hw_profiler.protocol import BenchLayerRequest, DType, Op, TimerKind


def test_info(qemu_board):
    info = qemu_board.info()
    assert info.timer_kind is TimerKind.INSTRUCTION_TIME
    assert info.ram_pool_bytes >= 64 * 1024
    # a tick is one instruction on both (TIM2 at QEMU's 1 GHz timer clock; rdcycle)
    assert info.ticks_per_second == 1_000_000_000
    assert info.ticks_to_instructions(1) == 1.0
    if info.board_name == "netduinoplus2":
        assert info.core_clock_hz == 168_000_000
        assert 0 < info.flash_free_bytes < 1024 * 1024
        assert info.flash_models
    else:  # virt: a tick is an instruction; no flash, so no model slot
        assert info.board_name == "qemu_riscv32"
        assert info.flash_free_bytes == 0 and info.flash_slot_bytes == 0
        assert not info.flash_models


def test_bench_deterministic_and_grows_with_macs(qemu_board):
    req = BenchLayerRequest(Op.CONV, DType.INT8, 16, 16, 32, kernel=3, dilation=2, warmup=1,
                            repeats=4, seed=5)
    a = qemu_board.bench(req)
    b = qemu_board.bench(req)
    assert a.macs == 16 * 16 * 3 * 32
    assert a.output_crc32 == b.output_crc32
    # instruction-time is exact: every repeat of every run counts the same instructions
    assert set(a.ticks + b.ticks) == {a.ticks[0]}
    bigger = qemu_board.bench(BenchLayerRequest(Op.CONV, DType.INT8, 16, 16, 64, 3, 2, 1, 1, 2, 5))
    wider = qemu_board.bench(BenchLayerRequest(Op.CONV, DType.INT8, 32, 32, 32, 3, 2, 1, 1, 2, 5))
    assert bigger.ticks[0] > 1.8 * a.ticks[0]
    assert wider.ticks[0] > 2.5 * a.ticks[0]  # 4x the MACs, per-output overhead amortised
    flt = qemu_board.bench(BenchLayerRequest(Op.CONV, DType.FLOAT32, 16, 16, 32, 3, 2, 1, 1, 2, 5))
    assert flt.ticks[0] > a.ticks[0]


def test_bench_long_run_scales(qemu_board):
    """A bench of ~10^8 instructions must scale like a short one: the 64-bit tick count
    (a 32-bit counter extended in software; the rdcycleh/rdcycle pair on virt) holds over
    long windows. Wrap handling itself: tests/firmware/board_helpers_test.c."""
    def bench(T: int) -> int:
        req = BenchLayerRequest(Op.CONV, DType.INT8, 4, 4, T, 2000, 1, 1, 0, 1, 1)
        return qemu_board.bench(req).ticks[0]

    # steps t >= k - 1 all cost the same (no causal padding), so the last 500 steps of
    # two runs must add the same ticks
    t3000, t3500, t4000 = bench(3000), bench(3500), bench(4000)
    assert t4000 > 10**8
    step_a, step_b = t4000 - t3500, t3500 - t3000
    assert abs(step_a - step_b) < 0.01 * step_a


def test_ticks_exact_across_counter_wraps(qemu_board):
    """The emulated STM32 counts with the 32-bit TIM2, extended to 64 bits in software.
    Benches timing more than 2^32 instructions in all must cross a wrap of the counter
    (virtual time runs at least as fast as the timed instructions), almost surely inside
    a timed repeat since the board is kept busy; every repeat must still read the same
    ticks (a missed wrap reads ~2^32 off, saturated to 0xFFFFFFFF by the reply)."""
    if qemu_board.info_reply.board_name != "netduinoplus2":
        pytest.skip("virt reads a 64-bit cycle counter")
    req = BenchLayerRequest(Op.CONV, DType.INT8, 32, 32, 512, 9, 1, 1, 0, 20, 1)
    seen, total = set(), 0
    while total <= 2**32:
        ticks = qemu_board.bench(req).ticks
        seen |= set(ticks)
        total += sum(ticks)
    assert len(seen) == 1


def test_residual_model_exact(qemu_board):
    rng = np.random.default_rng(11)
    model = residual_int8_model(rng)
    load = qemu_board.load(write_model(model))
    assert load.n_layers == len(model.layers)
    for _ in range(2):
        x = rng.integers(-128, 128, (24, 8)).astype(np.int8)
        r = qemu_board.run(x.tobytes(), per_layer=True)
        out = np.frombuffer(r.output, dtype=np.int8).reshape(1, 5)
        np.testing.assert_array_equal(out, run_model_reference(model, x))
        assert len(r.layer_ticks) == 6 and all(t > 0 for t in r.layer_ticks)
        assert sum(r.layer_ticks) <= r.total_ticks


@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"),
                         [(13, 5, 7, 3, 4), (9, 12, 3, 5, 2), (16, 8, 8, 3, 8), (1, 3, 2, 1, 1),
                          (21, 16, 10, 9, 1), (6, 6, 5, 17, 1)])
def test_simd_conv_exact(qemu_board, T, cin, cout, k, d):
    rng = np.random.default_rng(cin * k + d)
    model = int8_conv_model(rng, T, cin, cout, k, d, relu6=bool(d % 2))
    qemu_board.load(write_model(model))
    x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
    out = np.frombuffer(qemu_board.run(x.tobytes()).output, dtype=np.int8).reshape(T, cout)
    np.testing.assert_array_equal(out, run_model_reference(model, x))


def test_garbage_then_valid_frame(qemu_board):
    import random

    from hw_profiler.protocol import MAX_PAYLOAD, Frame, InfoReply, InfoRequest, encode_frame

    rng = random.Random(9)
    garbage = bytes(rng.randrange(256) for _ in range(2000))
    bad = bytearray(encode_frame(0x01, 200, b""))
    bad[-2] ^= 0x10
    qemu_board.write_raw(garbage + bytes(bad) + bytes(MAX_PAYLOAD + 8))
    qemu_board.read_items(0.5, count=10**6)  # error replies for whatever the garbage began
    assert isinstance(qemu_board.request(InfoRequest()), InfoReply)
    qemu_board.write_raw(bytes(bad))
    f = next(i for i in qemu_board.read_items(5.0) if isinstance(i, Frame))
    assert f.type == 0xFF and f.payload[0] == 1 and f.seq == 200  # BAD_CRC


def test_giant_geometry_refused_on_32_bit_core(qemu_board):
    """Sizes like 65535^3 wrap around in 32-bit arithmetic; the board must refuse them."""
    from hw_profiler.protocol import BoardError, ErrorCode, InfoReply, InfoRequest

    for req in (BenchLayerRequest(Op.CONV, DType.FLOAT32, 65535, 65535, 65535, 65535),
                BenchLayerRequest(Op.CONV, DType.INT8, 65535, 65535, 65535, 65535, 65535),
                BenchLayerRequest(Op.ADD, DType.FLOAT32, 65535, 65535, 65535)):
        with pytest.raises(BoardError) as e:
            qemu_board.bench(req)
        assert e.value.code == ErrorCode.NO_MEMORY
    assert isinstance(qemu_board.request(InfoRequest()), InfoReply)


@pytest.mark.parametrize("op", [Op.CONV, Op.LINEAR, Op.AVGPOOL, Op.MAXPOOL, Op.ADD])
def test_int8_bench_output_matches_host_build(qemu_board, host_board, op):
    """Same PRNG data on both builds: the Cortex-M4 SIMD kernels and the portable C build
    must produce byte-identical int8 outputs (compared through the output CRC-32)."""
    for cin, cout, T, k, d, s in [(13, 6, 21, 3, 5, 2), (16, 32, 40, 5, 2, 3), (3, 1, 7, 1, 1, 1)]:
        req = BenchLayerRequest(op, DType.INT8, cin, cout, T, k, d, s, 0, 1, seed=cin * T)
        assert qemu_board.bench(req).output_crc32 == host_board.bench(req).output_crc32


def test_idle_board_sleeps(qemu_board):
    """Waiting for input sleeps in WFI: an idle emulated board burns no host CPU."""
    qemu_board.info()
    pid = qemu_board.flasher.proc.pid

    def cpu_seconds() -> float:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu_seconds()
    time.sleep(2.0)
    assert cpu_seconds() - before < 0.5
    assert qemu_board.info().board_name == qemu_board.info_reply.board_name  # still answers


def test_frame_sent_while_the_core_is_busy_is_received_whole(qemu_board):
    """A max-size frame that arrives while a long BENCH_LAYER runs must not lose a byte:
    the STM32's receive ring fills, then its UART interrupt pauses; virt's UART is read
    only when the core asks for a byte. Either way QEMU holds the rest back."""
    import struct
    import zlib

    from hw_profiler.protocol import (
        MAX_PAYLOAD,
        Frame,
        LoadBeginRequest,
        LoadChunkRequest,
        MsgType,
        encode_frame,
    )

    b = qemu_board
    data = bytes(range(256)) * ((MAX_PAYLOAD - 4) // 256)
    b.request(LoadBeginRequest(len(data), zlib.crc32(data)))
    bench = BenchLayerRequest(Op.CONV, DType.INT8, 64, 64, 512, 3, 1, 1, 0, 200, 1)
    chunk = LoadChunkRequest(0, data)
    start = time.monotonic()
    b.write_raw(encode_frame(MsgType.BENCH_LAYER, 201, bench.pack())
                + encode_frame(MsgType.LOAD_CHUNK, 202, chunk.pack()))
    frames = [i for i in b.read_items(60.0, count=2) if isinstance(i, Frame)]
    assert [(f.type, f.seq) for f in frames] == [(0x82, 201), (0x91, 202)], frames
    assert struct.unpack("<I", frames[1].payload)[0] == len(data)
    assert time.monotonic() - start > 1.0  # the bench did keep the core busy a while


# (multipliers, shifts) per output channel, cycled: the one-multiply requantisation
# (converter multipliers, right shifts 2..31, the converter's zero (0, 0), multipliers 1
# and INT32_MAX) and layers that fall back to the reference arithmetic (a shift of -1, a
# left shift, an INT32_MIN multiplier).
_REQUANT = {
    "fast": ([1 << 30, 2**31 - 1, 1_500_000_000, 0, 1, 1_234_567_890],
             [-2, -31, -9, 0, -3, -17]),
    "shift_-1": ([1_100_000_000, 1 << 30], [-1, -8]),
    "left_shift": ([1_900_000_000, 1 << 30], [3, -6]),
    "int32_min": ([-(2**31), 1 << 30], [-22, -12]),
}


@pytest.mark.parametrize("case", sorted(_REQUANT))
@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"),
                         [(9, 1, 9, 5, 2), (11, 5, 7, 3, 4), (8, 9, 1, 4, 8), (7, 3, 5, 1, 1),
                          (13, 12, 6, 2, 1), (10, 8, 4, 3, 8)])
def test_int8_conv_requant_extremes_exact(qemu_board, host_board, case, T, cin, cout, k, d):
    """Every requantisation path of the int8 conv, unclamped (large biases and shift -2
    saturate int8) and with a narrow activation range, on the board and the host build against the
    reference: odd and single input / output channels, k = 1, odd T, dilations 1 to 8."""
    rng = np.random.default_rng(T * cin + cout + k * d)
    model = int8_conv_model(rng, T, cin, cout, k, d, bias=True)
    layer = model.layers[0]
    mults, shifts = _REQUANT[case]
    layer.multiplier = np.array([mults[o % len(mults)] for o in range(cout)], np.int32)
    layer.shift = np.array([shifts[o % len(shifts)] for o in range(cout)], np.int32)
    layer.bias = rng.integers(-40000, 40000, cout).astype(np.int32)
    for lo, hi in [(-128, 127), (-5, 9)]:
        layer.act_min, layer.act_max = lo, hi
        x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
        expect = run_model_reference(model, x)
        if hi < 127:  # the narrow clamp acts
            assert (expect == lo).any() or (expect == hi).any()
        for board in (qemu_board, host_board):
            board.load(write_model(model))
            out = np.frombuffer(board.run(x.tobytes()).output, dtype=np.int8).reshape(T, cout)
            np.testing.assert_array_equal(out, expect, err_msg=f"{case} lo={lo} hi={hi}")


# (C_in, C_out, T, k, d, stride): every gather of the int8 column path (whole-word rows,
# the offsets table for other widths including C_in = 1, the byte stream for wide odd
# columns or offsets beyond 16 bits), its edge steps at each dilation, odd C_out and odd
# T, more channels than one table chunk, the direct path below 4 output channels, and
# dilations far beyond T.
_CONV_PATHS = [(cin, cout, T, k, d, 1) for cin, cout, T, k in
               [(8, 8, 17, 3), (5, 7, 33, 3), (1, 9, 40, 65), (9, 10, 21, 3), (23, 5, 9, 3),
                (9, 6, 12, 65), (3, 33, 11, 2), (12, 20, 7, 1), (1, 4, 30, 1), (9, 1, 70, 65),
                (1, 3, 50, 65), (6, 2, 13, 5)]
               for d in (1, 2, 4, 8)] + [(5, 7, 33, 3, 2, 2), (8, 9, 20, 4, 3, 3),
                                         (1, 9, 40, 65, 2, 2), (4, 4, 5, 3, 60000, 1),
                                         (5, 6, 7, 3, 30000, 1), (1, 8, 30, 200, 1, 1),
                                         (7, 5, 1, 1, 1, 1), (3, 2, 9, 4, 40000, 2)]


@pytest.mark.parametrize(("cin", "cout", "T", "k", "d", "s"), _CONV_PATHS)
def test_int8_conv_paths_match_host_build(qemu_board, host_board, cin, cout, T, k, d, s):
    """The Cortex-M4 assembly paths and the portable C (itself checked against the
    reference in test_fw_host_kernels.py) give byte-identical outputs."""
    req = BenchLayerRequest(Op.CONV, DType.INT8, cin, cout, T, k, d, s, 0, 1, seed=cin * T + k)
    assert qemu_board.bench(req).output_crc32 == host_board.bench(req).output_crc32


@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"),
                         [(19, 3, 37, 2, 3), (25, 1, 9, 65, 2), (33, 5, 7, 3, 8), (18, 9, 10, 3, 4),
                          (21, 8, 6, 3, 2)])
def test_int8_conv_padded_exact(qemu_board, T, cin, cout, k, d):
    """Symmetric padding (edge steps at both ends) and stride 2 on the board against the
    reference, through the gathers of the column path."""
    rng = np.random.default_rng(T * k + cin)
    half = (k - 1) * d // 2
    for s, pad in [(1, (half, (k - 1) * d - half)), (2, (half, half))]:
        model = int8_conv_model(rng, T, cin, cout, k, d, relu6=True)
        model.layers[0].stride, model.layers[0].padding = s, pad
        t_out = (T + pad[0] + pad[1] - (k - 1) * d - 1) // s + 1
        out_t = model.tensors[1]
        model.tensors[1] = type(out_t)(out_t.dtype, cout, t_out, out_t.scale, out_t.zero_point)
        qemu_board.load(write_model(model))
        x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
        out = np.frombuffer(qemu_board.run(x.tobytes()).output, dtype=np.int8)
        np.testing.assert_array_equal(out.reshape(t_out, cout), run_model_reference(model, x))


def _small_model(rng, T, cin, cout, k, d, *, s=1, pad=None, relu6=False, in_zp=None):
    model = int8_conv_model(rng, T, cin, cout, k, d, bias=True, relu6=relu6)
    layer = model.layers[0]
    layer.stride, layer.padding = s, pad
    p = pad if pad is not None else ((k - 1) * d, 0)
    t_out = (T + p[0] + p[1] - (k - 1) * d - 1) // s + 1
    x_t, y_t = model.tensors
    if in_zp is not None:
        model.tensors[0] = type(x_t)(x_t.dtype, cin, T, x_t.scale, in_zp)
    model.tensors[1] = type(y_t)(y_t.dtype, cout, t_out, y_t.scale, y_t.zero_point)
    return model, t_out


def _check_on_boards(boards, model, x, msg):
    expect = run_model_reference(model, x)
    for board in boards:
        board.load(write_model(model))
        out = np.frombuffer(board.run(x.tobytes()).output, dtype=np.int8)
        np.testing.assert_array_equal(out.reshape(expect.shape), expect, err_msg=msg)


@pytest.mark.parametrize(("T", "cin", "k"), [(11, 3, 1), (11, 3, 2), (11, 3, 3), (11, 3, 4),
                                             (33, 5, 3), (9, 8, 4), (7, 1, 4)])
def test_int8_conv_small_path_exact(qemu_board, host_board, T, cin, k):
    """The small-layer path (K = C_in * k <= 32) on the board and the host build against the
    reference: C_out = 1..8 (odd counts, the last step of odd T alone), k = 1..4,
    dilations 1..8 and beyond T, causal and symmetric padding with stride 1 and 2, the
    whole int8 range and a ReLU6 clamp."""
    rng = np.random.default_rng(T * 100 + cin * 10 + k)
    for cout in range(1, 9):
        for d in (1, 2, 3, 8, T + 2):
            half = (k - 1) * d // 2
            for s, pad, relu6 in [(1, None, cout % 2 == 0), (2, (half, half), cout % 2 == 1)]:
                model, t_out = _small_model(rng, T, cin, cout, k, d, s=s, pad=pad, relu6=relu6)
                if t_out < 1:
                    continue
                x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
                _check_on_boards((qemu_board, host_board), model, x,
                                 f"cout={cout} d={d} stride={s} pad={pad} relu6={relu6}")


@pytest.mark.parametrize(("T", "cin", "cout", "k", "d"),
                         [(100, 8, 37, 4, 8), (70, 16, 9, 2, 5), (5, 2, 6, 3, 40),
                          (6, 5, 7, 3, 60), (40, 32, 5, 1, 1), (21, 31, 4, 1, 1)])
def test_int8_conv_small_path_windows_and_limits(qemu_board, host_board, T, cin, cout, k, d):
    """The small path over several input windows and record chunks (more than 16
    channels), receptive fields beyond T inside and beyond the window (the latter takes
    the column path), K = 31 and 32, input zero points -128 and 127, saturated outputs,
    zero multipliers and the largest right shift the folded output zero point allows
    (shift -23, and -24, which falls back)."""
    rng = np.random.default_rng(T + cin + cout + k + d)
    for in_zp in (-128, 127):
        for relu6 in (False, True):
            model, _ = _small_model(rng, T, cin, cout, k, d, relu6=relu6, in_zp=in_zp)
            x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
            _check_on_boards((qemu_board, host_board), model, x, f"in_zp={in_zp} relu6={relu6}")
    model, _ = _small_model(rng, T, cin, cout, k, d, in_zp=-128)
    layer = model.layers[0]
    for shifts in ([-23, -2, 0], [-24, -5, -3]):
        layer.multiplier = np.array([[1 << 30, 2**31 - 1, 0][o % 3] for o in range(cout)],
                                    np.int32)
        layer.shift = np.array([shifts[o % 3] for o in range(cout)], np.int32)
        layer.bias = rng.integers(-(2**22), 2**22, cout).astype(np.int32)
        x = rng.integers(-128, 128, (T, cin)).astype(np.int8)
        expect = run_model_reference(model, x)
        assert (np.abs(expect.astype(int)) >= 127).any()  # saturation happens
        _check_on_boards((qemu_board, host_board), model, x, f"shifts {shifts}")


# (add scales, output zero point, activation range): the converter's parameters, clamped to
# int8, to a ReLU range and to a narrow range on both sides.
_ADD_CASES = [((0.05, 0.11, 0.09), 3, (-128, 127)), ((0.2, 0.03, 0.12), -20, (-20, 127)),
              ((0.07, 0.07, 0.04), 0, (-30, 50))]


@pytest.mark.parametrize(("scales", "out_zp", "act"), _ADD_CASES)
def test_int8_add_pairs_exact(qemu_board, scales, out_zp, act):
    """The long int8 add (tabulated on the board) against the reference on 30,720 int8
    pairs per case (every a with 64 values of b, and swapped; the host's unit tests cover
    all 65,536 pairs with the same arithmetic): the model's input holds (a, b) per step, a
    channel-swapping k = 1 conv (exact identity requantisation) gives (b, a), and the add
    sums the two."""
    from hw_profiler.deploy.quantize import add_params

    T, zp = 1920, -5  # one RUN frame in, one out
    model = Model(
        [TensorSpec(DType.INT8, 2, T, 0.05, zp), TensorSpec(DType.INT8, 2, T, 0.05, zp),
         TensorSpec(DType.INT8, 2, T, scales[2], out_zp)],
        [LayerSpec(Op.CONV, (0,), 1, kernel=1, weights=np.array([[[0, 1]], [[1, 0]]], np.int8),
                   bias=np.zeros(2, np.int32), multiplier=np.full(2, 1 << 30, np.int32),
                   shift=np.ones(2, np.int32)),
         LayerSpec(Op.ADD, (0, 1), 2, add_params=add_params(*scales), act_min=act[0],
                   act_max=act[1])], 0, 2)
    qemu_board.load(write_model(model))
    t = np.arange(T)
    saturated = set()
    for part in range(8):  # b = part + 32 j
        x = np.stack([t & 0xFF, (t >> 8) * 32 + part], axis=1).astype(np.uint8).view(np.int8)
        out = np.frombuffer(qemu_board.run(x.tobytes()).output, dtype=np.int8).reshape(T, 2)
        expect = run_model_reference(model, x)
        np.testing.assert_array_equal(out, expect, err_msg=f"b = {part} + 32 j")
        saturated |= set(np.intersect1d(expect, act))
    assert saturated == set(act)  # both ends of the range reached
