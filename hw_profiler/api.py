"""Python entry points: profile geometries into a latency table, deploy a network and read
back latency and energy. Each takes an open :class:`~hw_profiler.board.Board` or a board
name/profile, which it then opens and closes itself."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hw_profiler.board import Board, BoardLike, open_board
from hw_profiler.boards import DEFAULT_BOARD
from hw_profiler.geometry import LayerGeometry
from hw_profiler.table import LatencyTable, ProfileSummary, TableProfiler

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


def profile(
    geometries: Iterable[LayerGeometry],
    board: Board | BoardLike = DEFAULT_BOARD,
    table_path: str | os.PathLike[str] = "latency_table.csv",
    *,
    warmup: int = 1,
    repeats: int = 3,
    seed: int = 1,
    progress: bool = True,
    reconnects: int = 2,
) -> ProfileResult:
    """Measure every geometry not yet in ``table_path`` (resumable); a lost link is opened
    again up to ``reconnects`` times (see :class:`~hw_profiler.table.TableProfiler`)."""
    geoms = sorted(set(geometries))
    with _opened(board) as opened:
        table = LatencyTable.open(Path(table_path), opened.table_meta())
        profiler = TableProfiler(
            opened.session, table, opened.meter, warmup, repeats, seed, progress,
            reconnect=opened.reconnect, reconnects=reconnects,
        )  # fmt: skip
        summary = profiler.run(geoms)
    return ProfileResult(table, summary)


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


__all__ = ["Board", "ProfileResult", "deploy", "open_board", "profile", "validate"]
