"""Python entry points: profile geometries into a latency table, deploy a network and read
back latency and energy. Each takes an open :class:`~hw_profiler.board.Board` or a board
name/profile, which it then opens and closes itself."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hw_profiler.board import Board, BoardLike, open_board
from hw_profiler.boards import DEFAULT_BOARD
from hw_profiler.errors import BoardConfigError
from hw_profiler.geometry import LayerGeometry
from hw_profiler.table import LatencyTable, ProfileSummary, TableProfiler, run_parallel

if TYPE_CHECKING:
    from torch import Tensor, nn

    from hw_profiler.deploy.compare import ValidationResult
    from hw_profiler.deploy.run import DeployResult


@contextlib.contextmanager
def _opened(board: Board | BoardLike) -> Iterator[Board]:
    if isinstance(board, Board):
        yield board
    else:
        with open_board(board) as opened:
            yield opened


@dataclass
class ProfileResult:
    table: LatencyTable
    summary: ProfileSummary


@contextlib.contextmanager
def open_boards(
    board: BoardLike = DEFAULT_BOARD,
    count: int = 1,
    *,
    urls: Sequence[str] = (),
    firmware: str | os.PathLike[str] | None = None,
    **link: float | int | None,
) -> Iterator[list[Board]]:
    """Open several boards of one profile for a parallel :func:`profile`: ``count``
    started by the profile's flasher (N emulators), or one per URL in ``urls`` (boards
    already running, e.g. N real boards on N ports). ``link`` takes
    :func:`~hw_profiler.board.open_board`'s link settings. All are stopped on exit."""
    if urls and count != 1:
        raise BoardConfigError("give either a board count or a list of URLs, not both")
    if count < 1:
        raise BoardConfigError(f"board count must be >= 1, got {count}")
    with contextlib.ExitStack() as stack:
        # one after another: each emulator start checks the same firmware build
        opened = [
            stack.enter_context(open_board(board, firmware=firmware, url=url, **link))  # type: ignore[arg-type]
            for url in (list(urls) or [None] * count)
        ]
        yield opened


def profile(
    geometries: Iterable[LayerGeometry],
    board: Board | BoardLike | Sequence[Board] = DEFAULT_BOARD,
    table_path: str | os.PathLike[str] = "latency_table.csv",
    *,
    warmup: int = 1,
    repeats: int = 3,
    seed: int = 1,
    progress: bool = True,
    reconnects: int = 2,
) -> ProfileResult:
    """Measure every geometry not yet in ``table_path`` (resumable); a lost link is opened
    again up to ``reconnects`` times per board (see
    :class:`~hw_profiler.table.TableProfiler`). A list of open boards (from
    :func:`open_boards`) measures in parallel, one thread per board, into one table."""
    geoms = sorted(set(geometries))
    if isinstance(board, Sequence) and not isinstance(board, str):
        return _profile_parallel(geoms, list(board), table_path, warmup, repeats, seed,
                                 progress, reconnects)
    with _opened(board) as opened:
        table = LatencyTable.open(Path(table_path), opened.table_meta())
        profiler = TableProfiler(
            opened.session, table, opened.meter, warmup, repeats, seed, progress,
            reconnect=opened.reconnect, reconnects=reconnects,
        )  # fmt: skip
        summary = profiler.run(geoms)
    return ProfileResult(table, summary)


def _profile_parallel(
    geoms: list[LayerGeometry], boards: list[Board], table_path: str | os.PathLike[str],
    warmup: int, repeats: int, seed: int, progress: bool, reconnects: int,
) -> ProfileResult:
    if not boards:
        raise BoardConfigError("profile was given an empty list of boards")
    meta = boards[0].table_meta()
    for other in boards[1:]:
        # one table holds one board's numbers: the same profile, firmware and tick
        if other.table_meta() != meta:
            raise BoardConfigError(
                f"board {other.name} at {other.session.name} differs from the first board "
                f"({other.table_meta()} vs {meta}); a parallel run needs identical boards"
            )
    table = LatencyTable.open(Path(table_path), meta)
    profilers = [
        TableProfiler(b.session, table, b.meter, warmup, repeats, seed, progress,
                      reconnect=b.reconnect, reconnects=reconnects)
        for b in boards
    ]  # fmt: skip
    return ProfileResult(table, run_parallel(profilers, geoms))


def deploy(
    model: nn.Module,
    calib: Tensor,
    board: Board | BoardLike = DEFAULT_BOARD,
    *,
    inputs: Tensor | None = None,
    repeats: int = 1,
) -> DeployResult:
    """Quantize ``model`` with ``calib``, load it and RUN ``inputs`` (default: calib[:1])."""
    from hw_profiler.deploy.run import deploy_model

    with _opened(board) as opened:
        return deploy_model(opened, model, calib, inputs=inputs, repeats=repeats)


def validate(
    model: nn.Module,
    calib: Tensor,
    board: Board | BoardLike = DEFAULT_BOARD,
    *,
    inputs: Tensor | None = None,
    tolerance_lsb: int = 0,
) -> ValidationResult:
    """Deploy, then compare the board's int8 outputs with the Python reference."""
    from hw_profiler.deploy.compare import validate_model

    with _opened(board) as opened:
        return validate_model(opened, model, calib, inputs=inputs, tolerance_lsb=tolerance_lsb)


__all__ = [
    "Board", "ProfileResult", "deploy", "open_board", "open_boards", "profile", "validate",
]
