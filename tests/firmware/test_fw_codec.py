"""Pure-Python checks of the protocol codec, the model format and the quantisation
reference (no firmware needed)."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

import hw_profiler.deploy.quantize as ref
from hw_profiler.deploy.serialize import (
    ModelFormatError,
    permute_linear_after_flatten,
    read_model,
    write_model,
)
from hw_profiler.protocol import (
    BenchLayerRequest,
    BoardError,
    DType,
    ErrorCode,
    Frame,
    FrameError,
    FrameParser,
    InfoReply,
    LoadEndReply,
    MsgType,
    Op,
    RunReply,
    RunRequest,
    crc16,
    decode_reply,
    encode_frame,
    load_requests,
)


def test_crc16_check_value():
    assert crc16(b"123456789") == 0x29B1


def test_encode_decode_roundtrip_byte_by_byte():
    data = encode_frame(0x20, 9, b"\x01\x00abc") + encode_frame(0x01, 10)
    p = FrameParser()
    out = []
    for b in data:
        out += p.feed(bytes([b]))
    assert out == [Frame(0x20, 9, b"\x01\x00abc"), Frame(0x01, 10, b"")]
    assert p.discarded == 0


def test_parser_resynchronises():
    rng = random.Random(0)
    good = encode_frame(0x81, 4, b"hello")
    bad = bytearray(encode_frame(0x81, 5, b"world"))
    bad[-1] ^= 1
    noise = bytes(rng.randrange(256) for _ in range(200)).replace(b"\xa5", b"")
    p = FrameParser(max_payload=4096)
    items = p.feed(noise + b"\xa5" + bytes(bad) + b"\xa5\x5a\xff\xff" + good)
    frames = [i for i in items if isinstance(i, Frame)]
    errors = [i for i in items if isinstance(i, FrameError)]
    assert frames == [Frame(0x81, 4, b"hello")]
    assert sorted(e.kind for e in errors) == ["crc", "too_long"]
    # a real frame hidden inside a corrupt one is still found
    inner = encode_frame(0x82, 1, b"x")
    outer = encode_frame(0x11, 2, b"\x00" * 4 + inner)
    items = FrameParser().feed(outer[:-2] + b"\x00\x00")
    assert Frame(0x82, 1, b"x") in items


def test_messages_pack_unpack():
    req = BenchLayerRequest(Op.CONV, DType.INT8, 32, 16, 64, kernel=3, dilation=4, repeats=7,
                            seed=99)
    p = req.pack()
    assert len(p) == 24 and p[0] == 1 and struct.unpack_from("<I", p, 20)[0] == 99
    assert RunRequest(b"ab", per_layer=True).pack() == b"\x01\x00ab"
    info = encode_frame(0x81, 1, struct.pack("<HHIIBBHIII", 1, 0x100, 168_000_000,
                                              168_000_000, 1, 1, 4096, 98304, 1000, 5)
                        + b"\x04qemu")
    r = decode_reply(FrameParser().feed(info)[0])
    assert isinstance(r, InfoReply) and r.board_name == "qemu" and r.model_loaded
    assert r.ticks_to_instructions(168) == pytest.approx(1000)
    run = struct.pack("<QHH", 1234, 2, 0) + struct.pack("<II", 5, 6) + b"\x07\x08"
    rr = decode_reply(Frame(MsgType.RUN | 0x80, 1, run))
    assert isinstance(rr, RunReply) and rr.layer_ticks == [5, 6] and rr.output == b"\x07\x08"
    le = decode_reply(Frame(0x92, 1, struct.pack("<HHIIBHHBHH", 3, 4, 100, 200, 0, 8, 24,
                                                     0, 5, 1)))
    assert isinstance(le, LoadEndReply) and le.input.nbytes == 192 and le.output.nbytes == 5
    with pytest.raises(BoardError) as e:
        decode_reply(Frame(0xFF, 3, bytes([ErrorCode.MODEL_INVALID, 0x12, 2, 0])))
    assert e.value.code == ErrorCode.MODEL_INVALID and e.value.detail == 2
    with pytest.raises(ValueError):
        decode_reply(Frame(0x81, 1, b"\x00"))


def test_load_requests_chunking():
    img = bytes(range(256)) * 40
    reqs = load_requests(img, 1000)
    chunks = reqs[1:-1]
    assert all(len(c.pack()) <= 1000 for c in chunks)
    assert b"".join(c.data for c in chunks) == img


def test_model_roundtrip_and_crc():
    from fw_models import residual_int8_model

    model = residual_int8_model(np.random.default_rng(0))
    img = write_model(model)
    back = read_model(img)
    assert len(back.layers) == len(model.layers)
    for a, b in zip(model.layers, back.layers, strict=True):
        assert a.op == b.op and a.inputs == b.inputs and a.output == b.output
        if a.weights is not None:
            np.testing.assert_array_equal(np.asarray(a.weights), b.weights)
    assert write_model(back) == img
    bad = bytearray(img)
    bad[40] ^= 1
    with pytest.raises(ModelFormatError):
        read_model(bytes(bad))


def test_flatten_permutation_matches_torch_order():
    C, T, n_out = 3, 4, 2
    x_ct = np.arange(C * T, dtype=np.float64).reshape(C, T)  # PyTorch (C, T)
    w = np.random.default_rng(0).standard_normal((n_out, C * T))
    board_flat = x_ct.T.reshape(-1)  # [T][C] memory order
    np.testing.assert_allclose(permute_linear_after_flatten(w, C, T) @ board_flat,
                               w @ x_ct.reshape(-1))


def test_quantize_multiplier_and_mbqm():
    for real in [0.5, 0.75, 1e-3, 0.999999, 1.5, 3.0e-7, 0.0]:
        m, s = ref.quantize_multiplier(real)
        if real:
            assert 2**30 <= m < 2**31
            assert m * 2.0 ** (s - 31) == pytest.approx(real, rel=1e-9)
    assert int(ref.srdhm(-(2**31), -(2**31))) == 2**31 - 1
    # gemmlowp's SRDHM rounds halves upward (1.5 -> 2, -1.5 -> -1); RDBP rounds halves
    # away from zero (-2.5 -> -3)
    m, s = ref.quantize_multiplier(0.5)
    assert int(ref.multiply_by_quantized_multiplier(3, m, s)) == 2
    assert int(ref.multiply_by_quantized_multiplier(-3, m, s)) == -1
    m, s = ref.quantize_multiplier(0.25)
    assert (m, s) == (2**30, -1)
    assert int(ref.multiply_by_quantized_multiplier(-10, m, s)) == -3
    assert int(ref.rdbp(-5, 1)) == -3 and int(ref.rdbp(5, 1)) == 3 and int(ref.rdbp(4, 1)) == 2
    acc = np.arange(-100000, 100000, 997)
    y = ref.multiply_by_quantized_multiplier(acc, *ref.quantize_multiplier(0.01))
    np.testing.assert_allclose(y, acc * 0.01, atol=0.5 + 1e-9)


def test_int8_conv_reference_close_to_float():
    """The integer pipeline approximates the float conv it quantises."""
    import torch

    rng = np.random.default_rng(2)
    T, cin, cout, k, d = 20, 6, 4, 3, 2
    xf = rng.standard_normal((T, cin)).astype(np.float32)
    wf = rng.standard_normal((cout, cin, k)).astype(np.float32) * 0.3
    s_in, s_out = 0.03, 0.05
    wq, w_scales = ref.quantize_weights_per_channel(wf)
    m, s = ref.conv_multipliers(s_in, w_scales, s_out)
    xq = ref.quantize_values(xf, s_in, 0)
    yq = ref.conv1d_int8(xq, wq.transpose(0, 2, 1), None, m, s, 0, 0, d)
    xt = torch.nn.functional.pad(torch.from_numpy(xf.T.copy())[None], ((k - 1) * d, 0))
    yf = torch.nn.functional.conv1d(xt, torch.from_numpy(wf), dilation=d)[0].T.numpy()
    np.testing.assert_allclose(ref.dequantize_values(yq, s_out, 0), np.clip(yf, -6.4, 6.35),
                               atol=0.15)
