"""The emulated board over a clean and over a noisy line (a fault-injecting relay): multi-
chunk models load without a retry when clean and bit-exactly when noisy, and profiling
never stores a link fault as a board verdict."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch
from faultproxy import FaultProxy
from torch import nn

from hw_profiler import api
from hw_profiler.boards import load_board
from hw_profiler.flashers import make_flasher
from hw_profiler.table import LatencyTable, LayerGeometry

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


def wide_tcn(channels: int, layers: int, length: int = 16) -> nn.Module:
    """Causal convs wide enough that the int8 image spans several LOAD_CHUNK frames."""
    torch.manual_seed(0)
    mods: list[nn.Module] = [nn.ConstantPad1d((2, 0), 0.0), nn.Conv1d(4, channels, 3), nn.ReLU()]
    for _ in range(layers):
        mods += [nn.ConstantPad1d((2, 0), 0.0), nn.Conv1d(channels, channels, 3), nn.ReLU()]
    mods += [nn.Flatten(), nn.Linear(channels * length, 2)]
    return nn.Sequential(*mods).eval()


CALIB = torch.randn(16, 4, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(("channels", "layers", "kib"), [(32, 2, 9), (64, 3, 42)])
def test_multi_chunk_model_validates_on_a_clean_link_without_retries(
    channels: int, layers: int, kib: int
) -> None:
    with api.open_board("qemu_stm32f4") as board:
        session = board.session
        before = session.retried  # the boot handshake may poll INFO more than once
        start = time.monotonic()
        result = api.validate(wide_tcn(channels, layers), CALIB, board, inputs=CALIB[:3])
        elapsed = time.monotonic() - start
    image = result.deploy.image_bytes
    print(f"\n{image} B image ({-(-image // 4092)} chunks) validated in {elapsed:.2f} s")
    assert round(image / 1024) == kib and image > 2 * 4092
    assert result.ok and result.max_diff_lsb == 0, result.report()
    assert session.retried == before
    assert elapsed < 10.0


@pytest.mark.parametrize("kind", ["flip", "drop", "garbage"])
def test_deploy_and_validate_survive_a_noisy_link(kind: str) -> None:
    profile = load_board("qemu_stm32f4")
    start = time.monotonic()
    with (
        make_flasher(profile) as url,
        FaultProxy(url, seed=7, **{kind: 1e-3}) as proxy,
        api.open_board(profile, url=proxy.url, timeout_s=2.0) as board,
    ):
        result = api.validate(wide_tcn(32, 2), CALIB, board, inputs=CALIB[:3])
        faults = dict(board.session.link_faults)
    print(f"\n1e-3 {kind}: {proxy.injected[kind]} injected in {proxy.relayed} B, "
          f"failed attempts {faults}, {time.monotonic() - start:.1f} s")
    assert proxy.injected[kind] > 0
    assert result.ok and result.max_diff_lsb == 0, result.report()


GEOMETRIES = [
    LayerGeometry("conv1d", c, 16, k, d, 64) for c in (4, 8, 16) for k, d in ((3, 1), (3, 4))
] + [LayerGeometry("maxpool", 16, 16, 2, 1, 64), LayerGeometry("add", 16, 16, 1, 1, 64)]


def test_profiling_at_1e_2_flips_stores_the_clean_tables_rows(tmp_path) -> None:
    profile = load_board("qemu_stm32f4")
    with api.open_board(profile) as board:
        clean = api.profile(GEOMETRIES, board, tmp_path / "clean.csv", progress=False)
    with (
        make_flasher(profile) as url,
        FaultProxy(url, flip=1e-2, seed=3) as proxy,
        api.open_board(profile, url=proxy.url, timeout_s=2.0, retries=12) as board,
    ):
        noisy = api.profile(GEOMETRIES, board, tmp_path / "noisy.csv", progress=False)
        resent = board.session.retried
    print(f"\n1e-2 flips: {proxy.injected['flip']} injected, {resent} requests resent")
    assert proxy.injected["flip"] > 0 and resent > 0
    frame = LatencyTable.load(tmp_path / "noisy.csv").frame()
    assert set(frame["status"]) == {"ok"}
    reference = clean.table.frame()
    assert list(frame["output_crc32"]) == list(reference["output_crc32"])
    # instruction time is exact: resent requests measure the same ticks
    assert list(frame["ticks_median"]) == list(reference["ticks_median"])
    assert noisy.summary.measured == len(GEOMETRIES)


def _qemu_children() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, NotADirectoryError):
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and comm.startswith("qemu"):
            found.append(int(entry.name))
    return found


def test_profiling_survives_a_killed_emulator(tmp_path) -> None:
    """The emulator dies mid-run: the profiler restarts it and completes the table."""
    with api.open_board("qemu_stm32f4", timeout_s=1.0, retries=1) as board:
        clean = api.profile(GEOMETRIES, board, tmp_path / "clean.csv", progress=False)
        starts = []
        real_start = board.meter.start

        def start() -> None:  # the meter starts before each measurement
            starts.append(1)
            if len(starts) == 4:
                for pid in _qemu_children():
                    os.kill(pid, signal.SIGKILL)
            real_start()

        board.meter.start = start
        result = api.profile(GEOMETRIES, board, tmp_path / "t.csv", progress=False)
    assert result.summary.reconnects == 1
    assert result.summary.measured == len(GEOMETRIES)
    frame = LatencyTable.load(tmp_path / "t.csv").frame()
    reference = clean.table.frame()
    assert list(frame["output_crc32"]) == list(reference["output_crc32"])
    assert list(frame["ticks_median"]) == list(reference["ticks_median"])
