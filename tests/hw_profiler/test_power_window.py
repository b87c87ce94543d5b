"""The LPM01A driver's energy window, aligned to the timestamp edges the firmware makes.

On the emulated STM32 the firmware's board_timestamp() writes the tick of each edge to its
second serial port (a file here); a stand-in LPM01A turns those edges into what the real
monitor would stream (energy samples, 'event' lines where D7 falls) for a board drawing a
known power inside the window and less outside. The profiler then measures a table through
the driver, and the energy it reports must be that power times the latency the board's
ticks give: the edges bracket exactly the timed repeats, and the driver cuts there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from standins import EdgeFedLpm01a

from hw_profiler import api
from hw_profiler.boards import load_board
from hw_profiler.geometry import LayerGeometry

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)
RUN_W, IDLE_W = 0.132, 0.012  # STM32F405 at 168 MHz running, and a sleeping board


def monitored_profile(tmp_path: Path, monitor_port: str, edges: Path) -> Path:
    source = load_board("qemu_stm32f4").source
    assert source is not None
    data = yaml.safe_load(source.read_text())
    data["name"] = "qemu_stm32f4_lpm01a"
    data["flasher"]["options"]["extra_args"] = ["-serial", f"file:{edges}"]
    data["monitor"] = {"kind": "lpm01a", "port": monitor_port, "supply_v": 3.3,
                       "options": {"freq_hz": 100_000}}
    path = tmp_path / "qemu_stm32f4_lpm01a.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_lpm01a_window_follows_the_firmware_edges(tmp_path: Path) -> None:
    edges = tmp_path / "edges.bin"
    # one tick = one instruction at one per cycle of 168 MHz
    monitor = EdgeFedLpm01a(edges, 1 / 168e6, RUN_W, IDLE_W).start()
    try:
        profile = monitored_profile(tmp_path, monitor.path, edges)
        geoms = [LayerGeometry("conv1d", 32, 32, 5, 1, 128),
                 LayerGeometry("conv1d", 16, 64, 9, 4, 256),
                 LayerGeometry("conv1d", 64, 64, 3, 2, 64)]
        with api.open_board(str(profile)) as board:
            assert board.meter.source == "measured"
            assert board.seconds_per_tick == pytest.approx(1 / 168e6)
            result = api.profile(geoms, board, tmp_path / "t.csv", warmup=2, repeats=3,
                                 progress=False)
    finally:
        monitor.close()
    frame = result.table.frame()
    assert (frame["status"] == "ok").all() and (frame["energy_source"] == "measured").all()
    assert len(monitor.windows) == len(geoms)
    # the geometries are measured in the table's key order
    for (first, second), row in zip(monitor.windows, frame.itertuples(), strict=True):
        # the edges hold the three timed repeats (and their tick reads and the edge's own
        # stamp: a few hundred instructions), not the two warm-ups
        timed = 3 * row.ticks_median
        assert timed <= second - first < timed + 1000
        # energy per run: the power in the window times the latency from the ticks, up to
        # the rounding of each edge to a 10 us sample (1,680 ticks) and those extra ticks
        assert row.energy_j == pytest.approx(RUN_W * row.latency_s, rel=2e-3)
