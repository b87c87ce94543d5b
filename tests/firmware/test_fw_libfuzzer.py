"""Bounded libFuzzer run of the C frame parser and handlers (needs clang; skipped where it
is not installed, e.g. in CI, which has only the ARM toolchain and QEMU)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from fw_board_client import BUILD, FIRMWARE


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang (libFuzzer) not installed")
def test_libfuzzer_parser(tmp_path):
    build = subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"BUILD={BUILD}", "fuzz"],
                           capture_output=True, text=True, check=False)
    if build.returncode != 0:
        pytest.skip(f"libFuzzer build failed: {build.stderr[-300:]}")
    run = subprocess.run(
        [str(BUILD / "fuzz" / "fuzz_parser"), "-runs=150000", "-max_len=700",
         "-seed=1", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
