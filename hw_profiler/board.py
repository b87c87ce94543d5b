"""An open board: the serial session, the profile it was opened from and its energy meter.

:func:`open_board` powers (monitor), flashes, starts and handshakes a board and hands
back one :class:`Board`; everything it started is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from hw_profiler.boards import DEFAULT_BOARD, BoardProfile, load_board
from hw_profiler.energy.model import EnergyMeter, EstimatedEnergy, make_meter
from hw_profiler.errors import FlashError
from hw_profiler.flashers import Flasher, make_flasher
from hw_profiler.session import BoardSession, format_version, seconds_per_tick
from hw_profiler.table.store import TableMeta

BoardLike = str | os.PathLike[str] | BoardProfile


@dataclass
class Board:
    """What one measurement needs: who to talk to, what it is, how to read energy."""

    session: BoardSession
    profile: BoardProfile
    meter: EnergyMeter
    flasher: Flasher | None = None  # None when opened by URL: models cannot be flashed

    def flash_model(self, image: bytes) -> None:
        """Flash the firmware with ``image`` in its model slot, restart and reconnect."""
        info = self.session.info
        assert info is not None
        if self.flasher is None:
            raise FlashError(f"board {self.name} was opened by URL: it cannot be flashed")
        self.session.close()
        url = self.flasher.flash_model(image, info.flash_slot_address)
        self.session = BoardSession.open(
            url, baud=self.profile.uart.baud, timeout_s=self.session.timeout_s
        )

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def clock_hz(self) -> float:
        info = self.session.info
        return (info.core_clock_hz if info is not None else 0) or self.profile.clock_hz

    @property
    def seconds_per_tick(self) -> float:
        assert self.session.info is not None
        return seconds_per_tick(self.session.info, self.clock_hz)

    def table_meta(self) -> TableMeta:
        """The metadata a table measured on this board carries."""
        info = self.session.info
        assert info is not None
        return TableMeta(
            board=self.name,
            firmware_version=format_version(info.firmware_version),
            clock_hz=self.clock_hz,
            ticks_per_second=info.ticks_per_second,
            timer=info.timer_kind.name.lower(),
            seconds_per_tick=self.seconds_per_tick,
            protocol_version=info.protocol_version,
        )


@contextlib.contextmanager
def open_board(
    board: BoardLike = DEFAULT_BOARD,
    *,
    firmware: str | os.PathLike[str] | None = None,
    url: str | None = None,
    timeout_s: float | None = None,
) -> Iterator[Board]:
    """Power (monitor), flash, start and handshake a board; yields it ready.

    ``url`` skips flashing and talks to an already running board at that pyserial URL.
    Everything started is stopped on exit, also on errors.
    """
    profile = load_board(board)
    timeout = timeout_s if timeout_s is not None else profile.uart.timeout_s
    with contextlib.ExitStack() as stack:
        # a power monitor supplies the board, so it comes up before flashing
        meter = make_meter(profile) if profile.monitor is not None else None
        if meter is not None:
            stack.enter_context(meter)
        flasher = None
        if url is None:
            flasher = make_flasher(profile, firmware)
            url = stack.enter_context(flasher)
        session = BoardSession.open(url, baud=profile.uart.baud, timeout_s=timeout)
        assert session.info is not None
        clock = session.info.core_clock_hz or profile.clock_hz
        opened = Board(session, profile, meter or EstimatedEnergy(profile.power, clock), flasher)
        stack.callback(lambda: opened.session.close())  # the session flashing last opened
        yield opened
