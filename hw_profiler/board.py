"""An open board: the serial session, the profile it was opened from and its energy meter.

:func:`open_board` powers (monitor), flashes, starts and handshakes a board and hands
back one :class:`Board`; everything it started is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hw_profiler.boards import DEFAULT_BOARD, BoardProfile, load_board
from hw_profiler.energy.model import EnergyMeter, EstimatedEnergy, make_meter
from hw_profiler.errors import BoardConfigError, FlashError, PortError
from hw_profiler.flashers import Flasher, make_flasher
from hw_profiler.protocol import InfoReply
from hw_profiler.session import BoardSession, RetryPolicy, format_version
from hw_profiler.table.store import TableMeta

BoardLike = str | os.PathLike[str] | BoardProfile


@dataclass
class Board:
    """What one measurement needs: who to talk to, what it is, how to read energy."""

    session: BoardSession
    profile: BoardProfile
    meter: EnergyMeter
    reopen: Callable[[], BoardSession] | None = field(default=None, repr=False)
    flasher: Flasher | None = field(default=None, repr=False)  # None: opened by URL

    def flash_model(self, image: bytes) -> None:
        """Flash the firmware with ``image`` in its model slot, restart and reconnect."""
        info = self.session.info
        assert info is not None
        if self.flasher is None:
            raise FlashError(f"board {self.name} was opened by URL: it cannot be flashed")
        self.session.close()
        url = self.flasher.flash_model(image, info.flash_slot_address)
        self.session = BoardSession.open(
            url, baud=self.profile.uart.baud, timeout_s=self.session.timeout_s,
            policy=self.session.policy,
        )

    def reconnect(self) -> BoardSession:
        """Close the link and open it again (restarting what :func:`open_board` started,
        e.g. the emulator), with a fresh handshake; returns the new session."""
        if self.reopen is None:
            raise PortError(f"board {self.name}: no way to reconnect was given")
        self.session.close()
        self.session = self.reopen()
        return self.session

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
        return self.session.info.seconds_per_tick(self.clock_hz)

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
    retries: int | None = None,
    byte_timeout_s: float | None = None,
    chunk_bytes: int | None = None,
) -> Iterator[Board]:
    """Power (monitor), flash, start and handshake a board; yields it ready.

    ``url`` skips flashing and talks to an already running board at that pyserial URL.
    The link settings left ``None`` come from the profile's ``uart`` section.
    Everything started is stopped on exit, also on errors.
    """
    profile = load_board(board)
    uart = profile.uart
    timeout = timeout_s if timeout_s is not None else uart.timeout_s
    policy = RetryPolicy(
        retries=uart.retries if retries is None else retries,
        byte_timeout_s=uart.byte_timeout_s if byte_timeout_s is None else byte_timeout_s,
        chunk_bytes=uart.chunk_bytes if chunk_bytes is None else chunk_bytes,
    )
    with contextlib.ExitStack() as stack:
        # a power monitor supplies the board, so it comes up before flashing
        meter = make_meter(profile) if profile.monitor is not None else None
        if meter is not None:
            stack.enter_context(meter)
        flasher = None
        if url is None:
            flasher = make_flasher(profile, firmware)
            url = stack.enter_context(flasher)
        link = url

        def connect() -> BoardSession:
            return BoardSession.open(link, baud=uart.baud, timeout_s=timeout, policy=policy)

        def reopen() -> BoardSession:
            # What we started (an emulator, a board's firmware) starts again; a board we
            # were only given a URL for is reached through the same URL.
            nonlocal link
            if flasher is not None:
                flasher.stop()
                link = flasher.start()
            return connect()

        session = connect()
        try:
            check_clock(profile, session.info)
        except BoardConfigError:
            session.close()
            raise
        clock = (session.info.core_clock_hz if session.info else 0) or profile.clock_hz
        opened = Board(session, profile, meter or EstimatedEnergy(profile.power, clock), reopen,
                       flasher)
        try:
            yield opened
        finally:
            opened.session.close()


def check_clock(profile: BoardProfile, info: InfoReply | None) -> None:
    """Refuse a profile whose core clock is not the one the firmware set: latency and
    energy are worked out at the profile's clock. A firmware that reports no clock (the
    host build) is not checked."""
    if info is None or not info.core_clock_hz or info.core_clock_hz == profile.clock_hz:
        return
    where = profile.source or profile.name
    raise BoardConfigError(
        f"{where}: clock_hz is {profile.clock_hz}, but the firmware on the board runs its "
        f"core at {info.core_clock_hz} Hz; correct the profile or flash the firmware built "
        "for this board"
    )
