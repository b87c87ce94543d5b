"""Profiling with several emulated boards at once: the same table as one board, resumable,
and from the CLI."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
from test_qemu import GEOMETRIES, assert_same_table

from hw_profiler import api
from hw_profiler.geometry import LayerGeometry
from hw_profiler.table import LatencyTable

FEW = GEOMETRIES[::2]


def _same_entries(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Instruction time under icount does not depend on which emulator ran the layer or
    when: identical entries, ticks included."""
    assert (a["status"] == "ok").all()
    assert_same_table(a, b)


def test_two_boards_fill_the_same_table_as_one(tmp_path: Path) -> None:
    one = api.profile(FEW, "qemu_stm32f4", tmp_path / "one.csv", progress=False)
    with api.open_boards("qemu_stm32f4", 2) as boards:
        assert boards[0].session.name != boards[1].session.name
        two = api.profile(FEW, boards, tmp_path / "two.csv", progress=False)
    assert two.summary.measured == len(FEW) and one.summary.measured == len(FEW)
    _same_entries(one.table.frame(), two.table.frame())
    # what was saved is what was measured
    _same_entries(two.table.frame(), LatencyTable.load(tmp_path / "two.csv").frame())


def test_interrupted_parallel_run_resumes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with api.open_boards("qemu_stm32f4", 2) as boards:
        real, other = boards[1].session.bench_layer, boards[0].session.bench_layer
        calls: list[LayerGeometry] = []
        died = threading.Event()

        def dying(g: LayerGeometry, *a: object, **k: object) -> object:
            if len(calls) == 3:
                died.set()
                raise KeyboardInterrupt
            calls.append(g)
            return real(g, *a, **k)

        def held(g: LayerGeometry, *a: object, **k: object) -> object:
            died.wait(10)  # leave work for the dying board
            return other(g, *a, **k)

        boards[1].session.bench_layer = dying  # type: ignore[method-assign]
        boards[0].session.bench_layer = held  # type: ignore[method-assign]
        try:
            api.profile(FEW, boards, path, progress=False)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the interruption did not reach the caller")
        saved = LatencyTable.load(path)
        assert 3 <= len(saved) < len(FEW)  # the dying board's rows are all kept
        assert set(calls) <= {g for g in FEW if g in saved}
        boards[1].session.bench_layer = real  # type: ignore[method-assign]
        boards[0].session.bench_layer = other  # type: ignore[method-assign]
        done = api.profile(FEW, boards, path, progress=False)
    assert done.summary.already_stored == len(saved)
    assert done.summary.measured == len(FEW) - len(saved)
    full = LatencyTable.load(path).frame()
    assert len(full) == len(FEW) and not full.duplicated(["c_in", "c_out", "kernel",
                                                          "dilation", "length"]).any()
    reference = api.profile(FEW, "qemu_stm32f4", tmp_path / "ref.csv", progress=False)
    _same_entries(reference.table.frame(), full)


def test_cli_boards_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from hw_profiler.cli import main

    table = tmp_path / "t.csv"
    args = ["profile", "--table", str(table), "--boards", "2", "--no-progress"]
    for g in FEW[:4]:
        args += ["--geometry", str(g)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 measured" in out and "2 boards" in out
    assert len(LatencyTable.load(table)) == 4


def test_cli_urls_of_running_boards(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """--urls: boards someone else started (here two emulators), one table."""
    import contextlib

    from hw_profiler.boards import load_board
    from hw_profiler.cli import main
    from hw_profiler.flashers import make_flasher

    table = tmp_path / "t.csv"
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(make_flasher(load_board("qemu_stm32f4"))) for _ in "ab"]
        args = ["profile", "--table", str(table), "--urls", *urls, "--no-progress"]
        for g in FEW[:4]:
            args += ["--geometry", str(g)]
        assert main(args) == 0
    assert "4 measured" in capsys.readouterr().out
    assert len(LatencyTable.load(table)) == 4
    assert main(["profile", "--table", str(table), "--boards", "2", "--url", urls[0],
                 "--geometry", str(FEW[0])]) == 2
    assert "give the boards' URLs with --urls" in capsys.readouterr().err
