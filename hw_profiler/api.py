"""Python entry points for the CLI and the Lightning callbacks: open a board, profile a
search space into a latency table, deploy a network and read back latency and energy."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hw_profiler.boards import DEFAULT_BOARD, BoardProfile, load_board
from hw_profiler.energy.model import EstimatedEnergy, make_meter
from hw_profiler.flashers import make_flasher
from hw_profiler.session import BoardSession, format_version, seconds_per_tick
from hw_profiler.table import (
    SEARCH_OPTIONS,
    ChannelGrid,
    LatencyTable,
    LayerGeometry,
    ProfileSummary,
    TableMeta,
    TableProfiler,
    enumerate_geometries,
)

if TYPE_CHECKING:
    from torch import Tensor, nn

    from hw_profiler.deploy.runner import DeployResult, ValidationResult
    from pit_lightning.cost.geometry import LayerSpace

BoardLike = str | os.PathLike[str] | BoardProfile


@contextlib.contextmanager
def open_board(
    board: BoardLike = DEFAULT_BOARD,
    *,
    firmware: str | os.PathLike[str] | None = None,
    url: str | None = None,
    timeout_s: float | None = None,
) -> Iterator[BoardSession]:
    """Power (monitor), flash, start and handshake a board; yields a ready session.

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
        if url is None:
            url = stack.enter_context(make_flasher(profile, firmware))
        session = stack.enter_context(
            BoardSession.open(url, baud=profile.uart.baud, timeout_s=timeout)
        )
        session.profile = profile
        assert session.info is not None
        session.meter = meter or EstimatedEnergy(
            profile.power, session.info.core_clock_hz or profile.clock_hz
        )
        yield session


def table_meta(session: BoardSession) -> TableMeta:
    """The metadata a table measured through ``session`` carries."""
    info = session.info
    assert info is not None and session.profile is not None
    clock = info.core_clock_hz or session.profile.clock_hz
    return TableMeta(
        board=session.profile.name,
        firmware_version=format_version(info.firmware_version),
        clock_hz=clock,
        ticks_per_second=info.ticks_per_second,
        timer=info.timer_kind.name.lower(),
        seconds_per_tick=seconds_per_tick(info, clock),
        protocol_version=info.protocol_version,
    )


def geometries_for(
    spaces: Sequence[LayerSpace] | Sequence[LayerGeometry],
    search: Iterable[str] = SEARCH_OPTIONS,
    channel_step: int = 8,
) -> list[LayerGeometry]:
    """LayerGeometry items pass through; LayerSpace records are enumerated."""
    items = list(spaces)
    geoms = [g for g in items if isinstance(g, LayerGeometry)]
    rest = [s for s in items if not isinstance(s, LayerGeometry)]
    return sorted(set(geoms) | set(enumerate_geometries(rest, search, ChannelGrid(channel_step))))


@dataclass
class ProfileResult:
    table: LatencyTable
    summary: ProfileSummary


def profile(
    spaces: Sequence[LayerSpace] | Sequence[LayerGeometry],
    board: BoardLike = DEFAULT_BOARD,
    table_path: str | os.PathLike[str] = "latency_table.csv",
    *,
    search: Iterable[str] = SEARCH_OPTIONS,
    channel_step: int = 8,
    warmup: int = 1,
    repeats: int = 3,
    seed: int = 1,
    progress: bool = True,
    session: BoardSession | None = None,
) -> ProfileResult:
    """Measure every reachable geometry not yet in ``table_path`` (resumable)."""
    geoms = geometries_for(spaces, search, channel_step)
    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(open_board(board))
        table = LatencyTable.open(Path(table_path), table_meta(session))
        assert session.meter is not None
        profiler = TableProfiler(session, table, session.meter, warmup, repeats, seed, progress)
        summary = profiler.run(geoms)
    return ProfileResult(table, summary)


def deploy(
    model: nn.Module,
    calib: Tensor,
    board: BoardLike = DEFAULT_BOARD,
    *,
    inputs: Tensor | None = None,
    session: BoardSession | None = None,
    repeats: int = 1,
) -> DeployResult:
    """Quantize ``model`` with ``calib``, load it and RUN ``inputs`` (default: calib[:1])."""
    from hw_profiler.deploy.runner import deploy_model

    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(open_board(board))
        return deploy_model(session, model, calib, inputs=inputs, repeats=repeats)


def validate(
    model: nn.Module,
    calib: Tensor,
    board: BoardLike = DEFAULT_BOARD,
    *,
    inputs: Tensor | None = None,
    session: BoardSession | None = None,
    tolerance_lsb: int = 0,
) -> ValidationResult:
    """Deploy, then compare the board's int8 outputs with the Python reference."""
    from hw_profiler.deploy.runner import validate_model

    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(open_board(board))
        return validate_model(session, model, calib, inputs=inputs, tolerance_lsb=tolerance_lsb)


__all__ = [
    "ProfileResult",
    "deploy",
    "geometries_for",
    "open_board",
    "profile",
    "table_meta",
    "validate",
]
