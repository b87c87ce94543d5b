"""Bounded libFuzzer run of the C frame parser and the handlers of every request type
(needs clang with libFuzzer; `make test` installs it). `make -C hw_profiler/firmware fuzz`
fuzzes for longer."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from fw_board_client import BUILD, FIRMWARE

REQUEST_TYPES = (0x01, 0x02, 0x10, 0x11, 0x12, 0x20, 0x30)


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang (libFuzzer) not installed")
def test_libfuzzer_covers_every_request_type(tmp_path):
    subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"BUILD={BUILD}", "fuzz-build"],
                   capture_output=True, text=True, check=True)
    run = subprocess.run(
        [str(BUILD / "fuzz" / "fuzz_parser"), "-runs=300000", "-max_total_time=50",
         "-max_len=700", "-seed=1", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    runs = int(re.search(r"Done (\d+) runs", run.stderr).group(1))
    handled = dict(re.findall(r"0x([0-9a-f]{2})=(\d+)", run.stderr))
    print(f"\nlibFuzzer: {runs} executions, requests handled per type {handled}")
    assert runs >= 100_000
    assert all(int(handled[f"{t:02x}"]) > 0 for t in REQUEST_TYPES), handled
