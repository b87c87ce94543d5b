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

from fw_board_client import EMULATED, QEMU_ELF, HostBoard, QemuBoard, build_firmware


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


@pytest.fixture(scope="session", params=sorted(EMULATED))
def qemu_board(request: pytest.FixtureRequest, firmware_build: None) -> Iterator[QemuBoard]:
    """Each emulated board in turn."""
    emulator, compiler = EMULATED[request.param]
    if shutil.which(emulator) is None or shutil.which(compiler) is None:
        pytest.skip(f"{request.param} needs {emulator} and {compiler}")
    if request.param == "qemu_stm32f4" and not QEMU_ELF.exists():
        pytest.skip("the stm32f4 build is missing")
    board = QemuBoard(request.param)
    yield board
    board.close()
