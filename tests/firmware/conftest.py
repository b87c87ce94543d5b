"""Fixtures for the firmware tests: one `make -C firmware` per session, the host build as a
process, the QEMU netduinoplus2 build (skipped when qemu-system-arm or the ARM toolchain
is missing)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

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


@pytest.fixture(scope="session")
def qemu_board(firmware_build: None) -> Iterator[QemuBoard]:
    if shutil.which("qemu-system-arm") is None or not QEMU_ELF.exists():
        pytest.skip("qemu-system-arm or the stm32f4 build is missing")
    board = QemuBoard()
    yield board
    board.close()
