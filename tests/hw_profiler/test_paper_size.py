"""Model format 2 (strided and padded convs), weights in flash and chunked RUN transfers."""

from __future__ import annotations

import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from hw_profiler import api
from hw_profiler.deploy.compare import reference_run
from hw_profiler.deploy.run import FLASH, RAM, choose_placement
from hw_profiler.errors import BoardCommandError, DeployError
from hw_profiler.protocol import InfoReply, RunRequest, TimerKind

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


class Chomp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :-1]


def strided_padded(c: int = 8) -> nn.Module:
    """Every new CONV form: stride 2 and 3, symmetric, right-only and asymmetric padding,
    a conv padded on both sides then chomped, and global average pooling."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv1d(4, c, 5, stride=2, padding=2), nn.ReLU(),
        nn.ConstantPad1d((0, 3), 0.0), nn.Conv1d(c, c, 3, dilation=2),
        nn.ConstantPad1d((1, 2), 0.0), nn.Conv1d(c, c, 4, stride=3), nn.ReLU(),
        nn.Conv1d(c, c, 3, padding=2), Chomp(), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(c, 3),
    ).eval()


@pytest.mark.parametrize("board", ["host", pytest.param("qemu_stm32f4", marks=needs_qemu)])
def test_strided_and_padded_convs_are_bit_exact(board: str) -> None:
    model = strided_padded()
    calib = torch.randn(16, 4, 50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model(calib).shape == (16, 3)
    result = api.validate(model, calib, board, inputs=calib[:4])
    assert result.ok and result.max_diff_lsb == 0, result.report()
    assert result.deploy.placement == RAM


def test_format_1_images_load_and_other_versions_are_refused() -> None:
    causal = nn.Sequential(nn.ConstantPad1d((2, 0), 0.0), nn.Conv1d(4, 4, 3), nn.ReLU()).eval()
    calib = torch.randn(8, 4, 16, generator=torch.Generator().manual_seed(0))
    with api.open_board("host") as board:
        result = api.deploy(causal, calib, board)
        v2 = result.image
        x = result.inputs_int8[0]

        def with_version(version: int) -> bytes:
            body = bytearray(v2[:-4])
            body[4:6] = struct.pack("<H", version)
            if version == 1:  # format 1 has no padding fields: reserved zeros
                for i in range(len(result.model.layers)):
                    at = 32 + 16 * len(result.model.tensors) + 48 * i + 40
                    body[at : at + 8] = bytes(8)
            return bytes(body) + struct.pack("<I", zlib.crc32(body))

        v1 = with_version(1)
        assert np.array_equal(reference_run(v1, x), reference_run(v2, x))
        board.session.load_model(v1)
        out = board.session.run(x.tobytes(), per_layer=False).output
        assert np.frombuffer(out, np.int8).tolist() == reference_run(v2, x).ravel().tolist()
        with pytest.raises(BoardCommandError, match="MODEL_VERSION"):
            board.session.load_model(with_version(3))


def test_inputs_and_outputs_larger_than_a_frame_travel_in_chunks() -> None:
    model = nn.Sequential(nn.ConstantPad1d((2, 0), 0.0), nn.Conv1d(88, 96, 3)).eval()
    calib = torch.randn(8, 88, 64, generator=torch.Generator().manual_seed(0))
    with api.open_board("host") as board:
        sent: list[object] = []
        real = board.session.request
        board.session.request = lambda req, *a, **k: (sent.append(req), real(req, *a, **k))[1]
        result = api.validate(model, calib, board, inputs=calib[:2])
        assert result.ok and result.max_diff_lsb == 0, result.report()
        names = {type(r).__name__ for r in sent}
        assert {"InputChunkRequest", "OutputChunkRequest"} <= names
        # a repeated RUN (a retry after a lost reply) reads the same staged input
        first = real(RunRequest(b"", staged=True, keep_output=True))
        again = real(RunRequest(b"", staged=True, keep_output=True))
        assert first.output == again.output == b""
        assert first.total_ticks > 0


class FaultyLink:
    """A board port that damages the first INPUT_CHUNK request, swallows the first
    OUTPUT_CHUNK request and corrupts the reply to the first RUN: each must be retried."""

    def __init__(self, port) -> None:
        self.port = port
        self.done: set[str] = set()
        self.run_reply_at: int | None = None  # bytes of the first RUN reply read so far

    def write(self, data: bytes) -> int:
        kind = {0x21: "input", 0x22: "output", 0x20: "run"}.get(data[4]) if len(data) > 6 else None
        if kind and kind not in self.done:
            self.done.add(kind)
            if kind == "input":
                data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
            elif kind == "output":
                return len(data)
            else:
                self.run_reply_at = 0
        return self.port.write(data)

    def read(self, n: int) -> bytes:
        data = self.port.read(n)
        at = self.run_reply_at
        if at is not None and data:
            hit = 10 - at  # a payload byte of the reply (its total_ticks)
            if 0 <= hit < len(data):
                data = data[:hit] + bytes([data[hit] ^ 0xFF]) + data[hit + 1 :]
                self.run_reply_at = None
            else:
                self.run_reply_at = at + len(data)
        return data

    def __getattr__(self, name: str):
        return getattr(self.port, name)


def test_chunked_transfers_survive_link_faults() -> None:
    # two layers: without the input kept through RUN, the output would reuse its space
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(88, 96, 1), nn.ReLU(), nn.Conv1d(96, 88, 1)).eval()
    calib = torch.randn(8, 88, 64, generator=torch.Generator().manual_seed(0))
    with api.open_board("host") as board:
        clean = api.deploy(model, calib, board)
        board.session.port = FaultyLink(board.session.port)
        board.session.timeout_s = 1.0
        before = board.session.retried
        faulty = api.deploy(model, calib, board)
        assert board.session.port.done == {"input", "output", "run"}
        assert board.session.retried - before >= 3
    assert np.array_equal(faulty.outputs_int8, clean.outputs_int8)


def _info(pool: int = 131072, slot: int = 1015808, flash: bool = True) -> InfoReply:
    return InfoReply(1, 0x0200, 168_000_000, 168_000_000, TimerKind.INSTRUCTION_TIME, False,
                     flash, 4096, pool, pool, slot, "b", 2, 0x08008000, slot, 0, 0)


def test_placement_is_chosen_by_size() -> None:
    assert choose_placement(_info(), "b", 60_000, 40_000) == RAM
    assert choose_placement(_info(), "b", 948_544, 42_496) == FLASH
    with pytest.raises(DeployError, match=r"model image 1100000 B \+ activation arena 42496 B = "
                       r"1142496 B > model RAM pool 131072 B, and the image > flash model slot "
                       r"1015808 B; nothing was sent"):
        choose_placement(_info(), "b", 1_100_000, 42_496)
    with pytest.raises(DeployError, match="keeps no models in flash"):
        choose_placement(_info(flash=False), "b", 948_544, 42_496)
    with pytest.raises(DeployError, match="reads model format 1"):
        choose_placement(InfoReply(1, 0x0100, 1, 1, TimerKind.CYCLES, False, False, 4096,
                                   98304, 98304, 0, "old"), "old", 100, 100)


@needs_qemu
def test_large_models_are_flashed_once() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConstantPad1d((8, 0), 0.0), nn.Conv1d(128, 128, 9), nn.ReLU(),
                          nn.ConstantPad1d((8, 0), 0.0), nn.Conv1d(128, 64, 9)).eval()
    calib = torch.randn(8, 128, 24, generator=torch.Generator().manual_seed(0))
    with api.open_board("qemu_stm32f4") as board:
        first = api.validate(model, calib, board)
        assert first.ok and first.max_diff_lsb == 0, first.report()
        assert (first.deploy.placement, first.deploy.flashed) == (FLASH, True)
        info = board.session.info
        assert info is not None
        assert (info.flash_image_bytes, info.flash_image_crc32) == (
            len(first.deploy.image), zlib.crc32(first.deploy.image[:-4]))
        again = api.deploy(model, calib, board)
        assert (again.placement, again.flashed) == (FLASH, False)
        assert np.array_equal(again.outputs_int8, first.deploy.outputs_int8)
        # Other weights, the same image size: the slot's checksum differs, so it is flashed.
        with torch.no_grad():
            model[1].weight.mul_(-1.0)
        other = api.validate(model, calib, board)
        assert len(other.deploy.image) == len(first.deploy.image)
        assert other.deploy.flashed and other.ok and other.max_diff_lsb == 0, other.report()


def test_strided_convs_are_table_keys() -> None:
    """A strided conv is keyed with its stride and the length a (k-1)*d-padded bench needs
    for the same output length, so the table costs it from a measurement."""
    from hw_profiler.deploy.lower import network_geometries
    from hw_profiler.geometry import LayerGeometry

    keyed = dict(network_geometries(strided_padded(), torch.zeros(1, 4, 50)))
    first = keyed["_0"]
    assert first == LayerGeometry("conv1d", 4, 8, 5, 1, 50, "int8", 2)
    assert first.out_length == 25 and first.macs == 25 * 8 * 4 * 5
    third = keyed["_5"]  # pads (1, 2), k = 4, stride 3 on 24 steps: 8 outputs
    assert (third.stride, third.length, third.out_length) == (3, 24, 8)
