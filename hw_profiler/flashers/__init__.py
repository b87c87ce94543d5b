"""Flashers: one per way of getting firmware onto a board; ``make_flasher`` picks by kind."""

from __future__ import annotations

from pathlib import Path

from hw_profiler.boards.profile import BoardProfile
from hw_profiler.errors import BoardConfigError
from hw_profiler.flashers.an3155 import An3155Flasher
from hw_profiler.flashers.base import Flasher
from hw_profiler.flashers.gap8 import Gap8Flasher
from hw_profiler.flashers.host import HostFlasher
from hw_profiler.flashers.qemu import QemuFlasher
from hw_profiler.flashers.swd import OpenOcdFlasher, PyOcdFlasher

FLASHERS: dict[str, type[Flasher]] = {
    "qemu": QemuFlasher,
    "host": HostFlasher,
    "an3155": An3155Flasher,
    "pyocd": PyOcdFlasher,
    "openocd": OpenOcdFlasher,
    "gap8": Gap8Flasher,
}


def make_flasher(board: BoardProfile, firmware: str | Path | None = None) -> Flasher:
    try:
        cls = FLASHERS[board.flasher.kind]
    except KeyError:
        raise BoardConfigError(
            f"{board.source}: field 'flasher.kind': unknown flasher {board.flasher.kind!r}"
        ) from None
    return cls(board, firmware)


__all__ = [
    "FLASHERS",
    "An3155Flasher",
    "Flasher",
    "Gap8Flasher",
    "HostFlasher",
    "OpenOcdFlasher",
    "PyOcdFlasher",
    "QemuFlasher",
    "make_flasher",
]
