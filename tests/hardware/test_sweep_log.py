"""A short latency-aware sweep on the emulated STM32, read as a user reads its log."""

from __future__ import annotations

import re
import shutil
import warnings

import pytest
from training.helpers import smoke_args

from pit_lightning.sweep import main as sweep_main

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                                reason="needs qemu-system-arm")
PACKAGES = ("pit_lightning", "hw_profiler")


def test_sweep_log_has_one_bar_per_profiling_batch_and_no_own_warnings(
        tmp_path, chorale_cache, capfd):
    table = tmp_path / "table.csv"
    hardware = [
        "--trainer.callbacks+=pit_lightning.hardware.HardwareInTheLoop",
        f"--trainer.callbacks.table={table}", "--trainer.callbacks.repeats=1",
        "--model.input_shape=[88,16]",
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sweep_main(["--config", smoke_args(tmp_path, chorale_cache)[1],
                    "--strengths", "2", "--out", str(tmp_path / "sweep"), "--",
                    *smoke_args(tmp_path, chorale_cache)[2:], *hardware])
    out, err = capfd.readouterr()
    own = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
           if any(f"/{package}/" in w.filename for package in PACKAGES)
           or "args parameter" in str(w.message)]
    assert not own
    # Profiling runs in a few batches (the search space, then what a deployed network
    # adds), each with one bar; never one bar per geometry.
    bars = re.findall(r"profiling:\s+0%", err)
    assert 1 <= len(bars) <= 3, err[-2000:]
    assert "latency ms" in out and "report:" in out
    # The sweep's report: the four parts, with both networks measured layer by layer.
    report = (tmp_path / "sweep" / "report.md").read_text()
    for part in ("## Summary", "## Pareto plot", "## Architecture", "## Latency on the board"):
        assert part in report
    assert "### undilated seed" in report and "### PIT λ=2" in report
    assert "(ms)" in report or "latency ms" in report
