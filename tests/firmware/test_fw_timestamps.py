"""The timestamp-pin hook: one edge just before and one just after each timed window,
checked on the host build, whose pin is a log of the tick at each edge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fw_board_client import HostBoard
from fw_models import residual_int8_model

from hw_profiler.deploy.serialize import write_model
from hw_profiler.protocol import BenchLayerRequest, DType, Op


@pytest.fixture
def logged(firmware_build: None, tmp_path: Path):
    log = tmp_path / "timestamps.log"
    board = HostBoard(env={"PIT_TIMESTAMP_LOG": str(log)})
    yield board, log
    board.close()


def edges(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def test_bench_window_spans_the_timed_repeats_only(logged) -> None:
    board, log = logged
    board.info()
    assert edges(log) == []  # no window outside BENCH and RUN
    req = BenchLayerRequest(Op.CONV, DType.INT8, 32, 32, 256, 5, 1, 1, warmup=20, repeats=3)
    reply = board.bench(req)
    start, end = edges(log)
    # the window holds the three timed repeats (and their tick reads), not the 20 warm-up
    # runs; the slack is for a busy host preempting the process
    assert sum(reply.ticks) <= end - start < sum(reply.ticks) + 5 * min(reply.ticks)


def test_run_window_spans_the_inference(logged) -> None:
    board, log = logged
    rng = np.random.default_rng(3)
    board.load(write_model(residual_int8_model(rng)))
    assert edges(log) == []
    reply = board.run(rng.integers(-128, 128, (24, 8)).astype(np.int8).tobytes())
    start, end = edges(log)
    assert reply.total_ticks <= end - start < reply.total_ticks + 1_000_000  # < 1 ms more
