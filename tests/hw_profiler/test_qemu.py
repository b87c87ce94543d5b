"""End-to-end on the emulated STM32 (QEMU netduinoplus2 running the real firmware)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from hw_profiler import api
from hw_profiler.errors import TableError
from hw_profiler.table import LatencyTable, LayerGeometry

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)
REPO = Path(__file__).resolve().parents[2]
GEOMETRIES = [
    LayerGeometry("conv1d", c_in, c_out, k, d, 32)
    for c_in in (4, 16)
    for c_out in (1, 8, 16)
    for k, d in ((5, 1), (3, 2), (2, 4), (1, 1))
]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    from hw_profiler.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "firmware   2.3 (protocol 1) on 'netduinoplus2'" in out
    # TIM2 at QEMU's 1 GHz timer clock, 1 ns of virtual time per instruction: a tick is an
    # instruction, one per cycle at 168 MHz
    assert "instruction_time, 1000000000 ticks/s, core clock 168000000 Hz" in out
    assert "1 tick = 5.952e-09 s (1 instructions, one per cycle)" in out


def test_profile_is_deterministic_and_resumes(tmp_path: Path) -> None:
    with api.open_board("qemu_stm32f4") as board:
        session = board.session
        full = api.profile(GEOMETRIES, board, tmp_path / "full.csv", progress=False)
        n = len(full.table)
        assert full.summary.measured == n > 20
        frame = full.table.frame()
        assert (frame["status"] == "ok").all()
        assert (frame["ticks_max"] == frame["ticks_min"]).all()
        assert (frame["energy_source"] == "estimated").all()

        # a run killed after 7 entries (an exception out of the board call) ...
        calls: list[LayerGeometry] = []
        real = session.bench_layer
        kill_at = [7]

        def dying(g, *a, **k):
            if len(calls) == kill_at[0]:
                raise KeyboardInterrupt
            calls.append(g)
            return real(g, *a, **k)

        session.bench_layer = dying
        with pytest.raises(KeyboardInterrupt):
            api.profile(GEOMETRIES, board, tmp_path / "t.csv", progress=False)
        assert len(LatencyTable.load(tmp_path / "t.csv")) == 7
        # ... resumes without measuring anything twice
        first = list(calls)
        calls.clear()
        kill_at[0] = -1
        resumed = api.profile(GEOMETRIES, board, tmp_path / "t.csv", progress=False)
        second = list(calls)
        assert not set(first) & set(second)
        assert len(first) + len(second) == n
        assert resumed.summary.already_stored == 7 and resumed.summary.measured == n - 7
    assert_same_table(LatencyTable.load(tmp_path / "t.csv").frame(), frame)


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Identical entries, ticks included: an emulated board counts instructions exactly,
    whichever emulator ran the layer, and whenever."""
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_killed_cli_run_resumes_and_leaves_no_qemu(tmp_path: Path) -> None:
    """SIGKILL the profiling process midway: QEMU dies with it, the table is intact and a
    second run completes it to the same content as an uninterrupted run."""
    table = tmp_path / "t.csv"
    geoms = tmp_path / "geoms.txt"
    # enough geometries that the profiler saves the table several times before it ends
    lines = [
        str(LayerGeometry("conv1d", ci, co, k, d, n))
        for ci in (1, 8, 16)
        for co in (4, 16)
        for k in (1, 3, 5, 9)
        for d in (1, 2)
        for n in (64, 256, 1024)
    ]
    geoms.write_text("\n".join(lines) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "hw_profiler.cli",
        "profile",
        "--geometries",
        str(geoms),
        "--table",
        str(table),
        "--no-progress",
        "--repeats",
        "2",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if table.exists() and 3 <= len(LatencyTable.load(table)) < len(lines):
            break
        time.sleep(0.01)
    qemu = _children_named(proc.pid, "qemu-system-arm")
    proc.kill()
    proc.wait()
    assert qemu, "QEMU was not running under the profiler"
    assert all(wait_dead(pid) for pid in qemu), "QEMU outlived its parent"
    stored = len(LatencyTable.load(table))
    assert 3 <= stored < len(lines)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{stored} already stored, {len(lines) - stored} measured" in done.stdout
    ref = tmp_path / "ref.csv"
    cmd_ref = [*cmd[:6], "--table", str(ref), "--no-progress", "--repeats", "2"]
    subprocess.run(cmd_ref, cwd=REPO, check=True, capture_output=True, timeout=120)
    assert_same_table(LatencyTable.load(table).frame(), LatencyTable.load(ref).frame())
    # the same table offered to another board is refused, naming both
    with pytest.raises(TableError, match=r"measured on board 'qemu_stm32f4', not on 'host'"):
        LatencyTable.load(table, board="host")


def _children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and comm.startswith(name[:15]):
            found.append(int(entry.name))
    return found


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from hw_profiler.boards import load_board
    from hw_profiler.flashers.qemu import QemuFlasher
    flasher = QemuFlasher(load_board("qemu_stm32f4"))
    url = flasher.__enter__()
    print(flasher.proc.pid, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_orphan_qemu_when_parent_dies(sig: int) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        line = parent.stdout.readline()
        qemu_pid = int(line)
        assert alive(qemu_pid)
        os.kill(parent.pid, sig)
        parent.wait(10)
        assert wait_dead(qemu_pid), f"QEMU {qemu_pid} survived its parent ({sig!r})"
    finally:
        if parent.poll() is None:
            parent.kill()
