"""`make gap8`: a clear failure without the GAP SDK, and with one, the image lands where
the gap8_gapuino profile looks for it (the SDK's PMSIS rules stood in by a stub)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hw_profiler.boards import load_board
from hw_profiler.flashers.firmware import SOURCES

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make_gap8(build: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "GAP_SDK_HOME"}
    return subprocess.run(["make", "-C", str(SOURCES), f"BUILD={build}", "gap8"],
                          capture_output=True, text=True, env={**clean, **env})


def test_without_the_sdk_the_build_says_why(tmp_path: Path) -> None:
    done = make_gap8(tmp_path)
    assert done.returncode != 0
    assert "GAP_SDK_HOME is not set" in done.stderr


def test_the_image_lands_where_the_profile_looks(tmp_path: Path) -> None:
    rules = tmp_path / "sdk" / "rules"
    rules.mkdir(parents=True)
    (rules / "pmsis_rules.mk").write_text(
        "all:\n\t@mkdir -p $(BUILDDIR) && echo $(APP) > $(BUILDDIR)/$(APP)\n")
    build = tmp_path / "build"
    done = make_gap8(build, GAP_SDK_HOME=str(tmp_path / "sdk"), RULES_DIR=str(rules))
    assert done.returncode == 0, done.stderr
    image = build / load_board("gap8_gapuino").flasher.firmware
    assert image.read_text() == "pit_firmware\n"
