"""Fixtures for the firmware tests: one `make -C firmware` per session, the host build as a
process, the emulated boards (QEMU netduinoplus2 and virt rv32, each skipped when its
emulator or toolchain is missing)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulated_boards import TOOLS, missing_tools
from fw_board_client import QEMU_ELF, HostBoard, QemuBoard, build_firmware


@pytest.fixture(scope="session")
def firmware_build() -> None:
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("no native C toolchain")
    build_firmware()


@pytest.fixture(scope="module")
def host_board(firmware_build: None) -> Iterator[HostBoard]:
    board = HostBoard()
    yield board
    board.close()


@pytest.fixture(scope="session", params=sorted(TOOLS))
def qemu_board(request: pytest.FixtureRequest, firmware_build: None) -> Iterator[QemuBoard]:
    """Each emulated board in turn."""
    missing = missing_tools(request.param)
    if missing:
        pytest.skip(f"{request.param} needs {' and '.join(missing)}")
    if request.param == "qemu_stm32f4" and not QEMU_ELF.exists():
        pytest.skip("the stm32f4 build is missing")
    board = QemuBoard(request.param)
    yield board
    board.close()
