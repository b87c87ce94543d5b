"""The emulated boards the end-to-end tests run on: each needs its emulator and the
cross-compiler of its firmware, and is skipped with the reason when one is missing."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

TOOLS = {
    "qemu_stm32f4": ("qemu-system-arm", "arm-none-eabi-gcc"),
    "qemu_riscv32": ("qemu-system-riscv32", "riscv64-unknown-elf-gcc"),
}


def missing_tools(board: str) -> list[str]:
    return [tool for tool in TOOLS[board] if shutil.which(tool) is None]


def board_param(board: str) -> Any:
    """``board`` as a pytest parameter that skips when its tools are missing."""
    missing = missing_tools(board)
    reason = f"{board} needs {' and '.join(missing)}"
    return pytest.param(board, id=board, marks=pytest.mark.skipif(bool(missing), reason=reason))


EMULATED_BOARDS = [board_param(board) for board in TOOLS]
