"""Protocol behaviour of the host build: errors, model validation, resynchronisation, and a
bounded fuzzing run of the frame parser and the model loader."""

from __future__ import annotations

import random
import struct
import subprocess
import zlib

import numpy as np
import pytest
from fw_board_client import BUILD, HostBoard
from fw_models import int8_conv_model, residual_int8_model

from hw_profiler.deploy.serialize import write_model
from hw_profiler.protocol import (
    MAX_PAYLOAD,
    BenchLayerRequest,
    BoardError,
    DType,
    ErrorCode,
    Frame,
    InfoReply,
    InfoRequest,
    LoadBeginRequest,
    LoadChunkRequest,
    LoadEndRequest,
    MsgType,
    Op,
    ResetRequest,
    RunRequest,
    TimerKind,
    decode_reply,
    encode_frame,
)


def _error(board, req) -> BoardError:
    with pytest.raises(BoardError) as e:
        board.request(req)
    return e.value


def test_unit_tests_binary(firmware_build):
    if not (BUILD / "host" / "unit_tests").exists():
        pytest.skip("host build missing")
    out = subprocess.run([str(BUILD / "host" / "unit_tests")], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"


def test_info(host_board):
    info = host_board.info()
    assert info.protocol_version == 1
    assert info.board_name == "host"
    assert info.timer_kind is TimerKind.WALL_CLOCK
    assert info.ticks_per_second == 1_000_000_000
    assert info.max_payload == MAX_PAYLOAD
    assert info.ram_free_bytes <= info.ram_pool_bytes


def test_error_replies(host_board):
    b = host_board
    frame = b.exchange(type("X", (), {"TYPE": 0x55, "pack": lambda self: b""})())
    assert frame.type == MsgType.ERROR and frame.payload[0] == ErrorCode.UNKNOWN_TYPE
    b.request(ResetRequest())
    assert _error(b, RunRequest(b"")).code == ErrorCode.NO_MODEL
    assert _error(b, LoadEndRequest()).code == ErrorCode.LOAD_STATE
    assert _error(b, LoadChunkRequest(0, b"x")).code == ErrorCode.LOAD_STATE
    assert _error(b, LoadBeginRequest(10**6, 0)).code == ErrorCode.NO_MEMORY
    bad_bench = BenchLayerRequest(Op.CONV, DType.INT8, 0, 4, 8, 3)
    assert _error(b, bad_bench).code == ErrorCode.BAD_ARG
    huge = BenchLayerRequest(Op.CONV, DType.FLOAT32, 512, 512, 64, 9)
    assert _error(b, huge).code == ErrorCode.NO_MEMORY
    for giant in (BenchLayerRequest(Op.CONV, DType.FLOAT32, 65535, 65535, 65535, 65535),
                  BenchLayerRequest(Op.ADD, DType.FLOAT32, 65535, 65535, 65535)):
        assert _error(b, giant).code == ErrorCode.NO_MEMORY  # no 32-bit size wrap-around
    # wrong payload size for INFO
    b.seq += 1
    b.write_raw(encode_frame(MsgType.INFO, b.seq, b"\x00"))
    frames = [f for f in b.read_items(5.0) if isinstance(f, Frame)]
    assert frames[0].payload[0] == ErrorCode.BAD_LENGTH


def test_bad_crc_and_oversized_frames(host_board):
    b = host_board
    good = bytearray(encode_frame(MsgType.INFO, 77, b""))
    good[-1] ^= 0xFF
    b.write_raw(bytes(good))
    f = next(i for i in b.read_items(5.0) if isinstance(i, Frame))
    assert f.type == MsgType.ERROR and f.payload[0] == ErrorCode.BAD_CRC and f.seq == 77
    b.write_raw(b"\xa5\x5a" + struct.pack("<H", MAX_PAYLOAD + 1) + b"\x01\x02")
    f = next(i for i in b.read_items(5.0) if isinstance(i, Frame))
    assert f.type == MsgType.ERROR and f.payload[0] == ErrorCode.TOO_LONG
    # the board is back in sync: a valid request right after gets its reply
    assert isinstance(b.request(InfoRequest()), InfoReply)


def test_garbage_then_valid_frame(host_board):
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(3000)).replace(b"\xa5", b"\x00")
    host_board.write_raw(garbage + b"\xa5\xa5\xa5")  # dangling markers too
    assert isinstance(host_board.request(InfoRequest()), InfoReply)


def test_byte_timeout_drops_partial_frame(host_board):
    import time

    host_board.write_raw(b"\xa5\x5a\x10\x00\x02\x09abc")  # promises 16 bytes, sends 3
    # after the 200 ms byte timeout the board drops the frame and says so at once, so a
    # host resends without waiting out its reply timeout
    f = next(i for i in host_board.read_items(2.0) if isinstance(i, Frame))
    assert (f.type, f.seq, f.payload[0]) == (MsgType.ERROR, 9, ErrorCode.BAD_CRC)
    time.sleep(0.1)
    assert isinstance(host_board.request(InfoRequest()), InfoReply)


def test_model_validation_errors(host_board):
    b = host_board
    rng = np.random.default_rng(1)
    img = bytearray(write_model(residual_int8_model(rng)))
    # image CRC mismatch between LOAD_BEGIN and the data
    b.request(LoadBeginRequest(len(img), zlib.crc32(img) ^ 1))
    b.request(LoadChunkRequest(0, bytes(img)))
    assert _error(b, LoadEndRequest()).code == ErrorCode.IMAGE_CRC

    def with_crc(data: bytearray) -> bytes:
        data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
        return bytes(data)

    def load_err(data: bytes) -> BoardError:
        with pytest.raises(BoardError) as e:
            b.load(data)
        return e.value

    bad = bytearray(img)
    bad[0:4] = b"XXXX"
    assert load_err(with_crc(bad)).code == ErrorCode.MODEL_MAGIC
    bad = bytearray(img)
    bad[4] = 9
    assert load_err(with_crc(bad)).code == ErrorCode.MODEL_VERSION
    bad = bytearray(img)
    bad[-5] ^= 0x40  # inner CRC-32 no longer matches
    assert load_err(bytes(bad)).code == ErrorCode.MODEL_INVALID
    # layer 2 (the add) reads a tensor nobody produced yet
    bad = bytearray(img)
    n_t = struct.unpack_from("<H", img, 12)[0]
    rec = 32 + 16 * n_t + 48 * 2
    struct.pack_into("<H", bad, rec + 4, 5)
    e = load_err(with_crc(bad))
    assert e.code == ErrorCode.MODEL_INVALID and e.detail == 2
    # a model whose arena does not fit the RAM pool
    big = int8_conv_model(rng, 4000, 16, 16, 3, 1)
    assert load_err(write_model(big)).code == ErrorCode.NO_MEMORY
    # a good load still works afterwards
    r = b.load(bytes(img))
    assert r.n_layers == 6 and r.input.channels == 8 and r.output.channels == 5


def _alive_and_synced(board: HostBoard) -> None:
    # zeros complete any pending frame (at worst one BAD_CRC), then a fresh request
    board.write_raw(bytes(MAX_PAYLOAD + 8))
    board.read_items(0.3, count=10**6)  # that BAD_CRC may carry the SEQ INFO is about to use
    reply = decode_reply(board.exchange(InfoRequest(), timeout=10.0))
    assert isinstance(reply, InfoReply)
    assert board.alive()


@pytest.mark.usefixtures("host_board")  # skip logic; the fuzzer uses its own process
def test_fuzz_frames():
    """Random bytes, truncated/mutated frames and structurally valid frames with random
    payloads: the board must never die and must answer a valid request afterwards."""
    rng = random.Random(1234)
    nprng = np.random.default_rng(1234)
    model = write_model(residual_int8_model(nprng))
    types = [t.value for t in MsgType if t not in (MsgType.BENCH_LAYER, MsgType.ERROR)]
    board = HostBoard()
    try:
        for round_ in range(60):
            burst = bytearray()
            for _ in range(25):
                kind = rng.randrange(6)
                if kind == 0:
                    burst += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
                elif kind == 1:  # valid CRC, random type and payload
                    t = rng.choice([*types, rng.randrange(256)])
                    if t == MsgType.BENCH_LAYER:
                        t = MsgType.INFO
                    body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
                    burst += encode_frame(t, rng.randrange(256), body)
                elif kind == 2:  # a valid frame with one flipped byte
                    f = bytearray(encode_frame(MsgType.INFO, 1, b""))
                    f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
                    burst += f
                elif kind == 3:  # truncated frame
                    f = encode_frame(MsgType.LOAD_CHUNK, 2, bytes(20))
                    burst += f[: rng.randrange(1, len(f))]
                elif kind == 4:  # random BENCH geometry, small repeat counts
                    req = BenchLayerRequest(
                        Op(rng.randrange(1, 6)), DType(rng.randrange(2)), rng.randrange(0, 40),
                        rng.randrange(0, 40), rng.randrange(0, 70), rng.randrange(0, 10),
                        rng.randrange(0, 70), rng.randrange(0, 4), 0, rng.randrange(0, 3),
                        rng.randrange(2**32))
                    burst += encode_frame(MsgType.BENCH_LAYER, 3, req.pack())
                else:  # a mutated model image, loaded with consistent CRCs, then RUN
                    img = bytearray(model)
                    for _ in range(rng.randrange(1, 6)):
                        img[rng.randrange(len(img) - 4)] = rng.randrange(256)
                    img[-4:] = struct.pack("<I", zlib.crc32(bytes(img[:-4])))
                    burst += encode_frame(MsgType.LOAD_BEGIN, 4,
                                          struct.pack("<II", len(img), zlib.crc32(bytes(img))))
                    burst += encode_frame(MsgType.LOAD_CHUNK, 5, struct.pack("<I", 0) + img)
                    burst += encode_frame(MsgType.LOAD_END, 6, b"")
                    burst += encode_frame(MsgType.RUN, 7, b"\x01\x00" + bytes(24 * 8))
            board.write_raw(bytes(burst))
            board.read_items(0.05, count=10**6)  # drain what came back so far
            if round_ % 10 == 9:
                _alive_and_synced(board)
        _alive_and_synced(board)
    finally:
        board.close()
