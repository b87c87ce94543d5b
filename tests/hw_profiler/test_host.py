"""The firmware's native host build as a board (fast, wall-clock ticks)."""

from __future__ import annotations

import shutil

import pytest

from hw_profiler import api
from hw_profiler.table import LayerGeometry

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


def test_host_board_benches_layers() -> None:
    g = LayerGeometry("conv1d", 4, 32, 5, 2, 64)
    with api.open_board("host") as board:
        session = board.session
        assert session.info.board_name == "host"
        assert session.info.timer_kind.name == "WALL_CLOCK"
        reply = session.bench_layer(g, warmup=1, repeats=3)
    assert reply.macs == g.macs and len(reply.ticks) == 3 and min(reply.ticks) > 0


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_same_output_crc_on_host_and_emulated_board() -> None:
    """Same seed and geometry give the same output on every port of the firmware."""
    geoms = [LayerGeometry("conv1d", 8, 16, 3, 4, 32), LayerGeometry("conv1d", 3, 5, 1, 1, 7)]
    crcs = {}
    for board in ("host", "qemu_stm32f4"):
        with api.open_board(board) as opened:
            bench = opened.session.bench_layer
            crcs[board] = [bench(g, 0, 1, seed=7).output_crc32 for g in geoms]
    assert crcs["host"] == crcs["qemu_stm32f4"]
