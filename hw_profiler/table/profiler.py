"""Fill a latency table: measure every missing geometry once, persisting as it goes."""

from __future__ import annotations

import contextlib
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hw_profiler.energy.model import EnergyMeter
from hw_profiler.errors import BoardCommandError, BoardTimeoutError, FlashError, PortError
from hw_profiler.geometry import LayerGeometry
from hw_profiler.table.store import VERDICTS, LatencyTable


class BenchResult(Protocol):
    macs: int
    output_crc32: int
    ticks: Sequence[int]


class BenchSession(Protocol):
    def bench_layer(
        self, geometry: LayerGeometry, warmup: int, repeats: int, seed: int
    ) -> BenchResult: ...


@dataclass
class ProfileSummary:
    requested: int
    already_stored: int
    measured: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # board error name -> count
    elapsed_s: float = 0.0
    reconnects: int = 0  # times the link was lost and opened again
    boards: int = 1  # boards measuring at once

    @property
    def entries_per_s(self) -> float:
        return self.measured / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        failed = ", ".join(f"{n} {name}" for name, n in sorted(self.failed.items())) or "none"
        return (
            f"{self.requested} geometries: {self.already_stored} already stored, "
            f"{self.measured} measured in {self.elapsed_s:.1f} s "
            + (f"on {self.boards} boards " if self.boards > 1 else "")
            + f"({self.entries_per_s:.2f} entries/s), rejected by the board: {failed}"
            + (f", reconnected {self.reconnects} times" if self.reconnects else "")
        )


SAVE_SHARE = 0.1
"""Largest share of a profile's time spent saving the table. A save rewrites the whole
file (atomic rename), so saving after every row makes a long profile quadratic: a
3,210-entry table spent three quarters of its time writing CSV. Rows are saved as soon
as the time since the last save is ten times what that save took: a small table after
every row, a large one every second or so. An error or Ctrl-C still saves every
completed row; a process killed outright loses at most that interval of work."""

_clock = time.monotonic


class _Saver:
    """Saves a table when rows are waiting and the time since the last save is at least
    that save's duration divided by ``share``; :meth:`flush` saves what is left."""

    def __init__(self, table: LatencyTable, share: float) -> None:
        self.table, self.share = table, share
        self.dirty, self.last, self.cost = False, _clock(), 0.0

    def added(self) -> None:
        self.dirty = True
        if _clock() - self.last >= self.cost / self.share:
            self.flush()

    def flush(self) -> None:
        if self.dirty:
            begin = _clock()
            self.table.save()
            self.last = _clock()
            self.dirty, self.cost = False, self.last - begin


class TableProfiler:
    """Runs BENCH_LAYER for each missing geometry and stores median/min/max ticks, seconds
    at the board's tick rate and energy per run. The table is saved as rows complete, at
    most ``save_share`` of the time (:data:`SAVE_SHARE`), and when the run ends, also by
    an error.

    When the link is lost (the port fails, or the board stays silent through every
    retry), ``reconnect`` opens it again and the geometry is measured anew, up to
    ``reconnects`` times in a run; then the error propagates, with every completed row
    already saved.
    """

    def __init__(
        self,
        session: BenchSession,
        table: LatencyTable,
        meter: EnergyMeter,
        warmup: int = 1,
        repeats: int = 3,
        seed: int = 1,
        progress: bool = True,
        reconnect: Callable[[], BenchSession] | None = None,
        reconnects: int = 2,
        save_share: float = SAVE_SHARE,
    ) -> None:
        if repeats < 1 or warmup < 0:
            raise ValueError("repeats must be >= 1 and warmup >= 0")
        if not 0 < save_share <= 1:
            raise ValueError(f"save_share must be in (0, 1], got {save_share}")
        self.save_share = save_share
        self.session, self.table, self.meter = session, table, meter
        self.warmup, self.repeats, self.seed = warmup, repeats, seed
        self.progress = progress
        self.reconnect, self.reconnects = reconnect, reconnects

    def measure(self, geometry: LayerGeometry) -> dict[str, Any]:
        spt = self.table.meta.seconds_per_tick
        self.meter.start()
        try:
            result = self.session.bench_layer(geometry, self.warmup, self.repeats, self.seed)
        except BaseException:
            with contextlib.suppress(Exception):  # keep the board's error, not the meter's
                self.meter.stop(0.0, 1)
            raise
        ticks = list(result.ticks)
        median = float(statistics.median(ticks))
        latency_s = median * spt
        energy = self.meter.stop(latency_s, len(ticks))
        return {
            "status": "ok",
            "macs": result.macs,
            "warmup": self.warmup,
            "repeats": len(ticks),
            "ticks_median": median,
            "ticks_min": min(ticks),
            "ticks_max": max(ticks),
            "latency_s": latency_s,
            "latency_min_s": min(ticks) * spt,
            "latency_max_s": max(ticks) * spt,
            "energy_j": energy,
            "energy_source": self.meter.source,
            "output_crc32": result.output_crc32,
        }

    def run(self, geometries: Sequence[LayerGeometry]) -> ProfileSummary:
        todo = self.table.missing(geometries)
        summary = ProfileSummary(len(set(geometries)), len(set(geometries)) - len(todo))
        # A handful of geometries takes well under a second: no bar for them.
        bar = _progress_bar(len(todo), self.progress and len(todo) > QUIET_BATCH)
        start = time.monotonic()
        saver = _Saver(self.table, self.save_share)
        try:
            for geometry in todo:
                values = self._outcome(geometry, summary)
                self.table.add(geometry, values, save=False)
                saver.added()
                summary.measured += 1
                summary.elapsed_s = time.monotonic() - start
                bar.update(1)
        finally:
            saver.flush()
            summary.elapsed_s = time.monotonic() - start
            bar.close()
        return summary

    def _outcome(self, geometry: LayerGeometry, summary: ProfileSummary) -> dict[str, Any]:
        """The row for ``geometry``: its measurement, or the board's verdict on it."""
        try:
            return self._measure_reconnecting(geometry, summary)
        except BoardCommandError as exc:
            # the board cannot run this geometry (memory, unsupported op): store the
            # verdict so a resumed run does not ask again. Any other error says
            # nothing about the geometry and is never stored.
            name = getattr(exc, "name", None) or "ERROR"
            if name not in VERDICTS:
                raise
            summary.failed[name] = summary.failed.get(name, 0) + 1
            return {"status": name, "macs": geometry.macs, "warmup": self.warmup, "repeats": 0}

    def _measure_reconnecting(self, geometry: LayerGeometry, summary: ProfileSummary) -> dict:
        while True:
            try:
                return self.measure(geometry)
            except (PortError, BoardTimeoutError) as exc:
                lost = exc
            while True:  # reconnect, within the budget (a failed reconnect counts too)
                if self.reconnect is None or summary.reconnects >= self.reconnects:
                    raise lost
                summary.reconnects += 1
                print(
                    f"hw-profiler: lost the board ({lost}); reconnecting "
                    f"({summary.reconnects}/{self.reconnects})",
                    file=sys.stderr,
                )
                try:
                    self.session = self.reconnect()
                    break
                except (PortError, BoardTimeoutError, FlashError) as exc:
                    lost = exc


def run_parallel(
    profilers: Sequence[TableProfiler], geometries: Sequence[LayerGeometry]
) -> ProfileSummary:
    """Fill one table with several boards of the same profile at once.

    Each profiler (one board, its own session, meter and reconnect budget) runs in its
    own thread and takes missing geometries from a shared queue; only the calling thread
    adds rows to the table and saves it (as :class:`TableProfiler` does), so the
    file keeps a single, atomic writer and
    an interrupted run resumes like a single-board one. The first error stops the other
    boards after their current geometry; every row completed by then is saved.
    """
    if not profilers:
        raise ValueError("run_parallel needs at least one profiler")
    lead = profilers[0]
    if any(p.table is not lead.table for p in profilers):
        raise ValueError("the profilers of a parallel run must share one table")
    todo = lead.table.missing(geometries)
    summary = ProfileSummary(
        len(set(geometries)), len(set(geometries)) - len(todo), boards=len(profilers)
    )
    work: queue.SimpleQueue[LayerGeometry] = queue.SimpleQueue()
    for geometry in todo:
        work.put(geometry)
    results: queue.SimpleQueue[tuple[LayerGeometry | None, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    own = [ProfileSummary(0, 0) for _ in profilers]  # per board: reconnects, verdicts
    saver = _Saver(lead.table, lead.save_share)

    def worker(profiler: TableProfiler, counts: ProfileSummary) -> None:
        try:
            while not stop.is_set():
                try:
                    geometry = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    results.put((geometry, profiler._outcome(geometry, counts)))
                except BaseException as exc:  # handed to the calling thread, raised there
                    results.put((None, exc))
                    return
        finally:
            results.put((None, None))  # this board is done

    threads = [
        threading.Thread(target=worker, args=(p, c), name=f"profile-board-{i}", daemon=True)
        for i, (p, c) in enumerate(zip(profilers, own, strict=True))
    ]
    bar = _progress_bar(len(todo), lead.progress and len(todo) > QUIET_BATCH)
    start = time.monotonic()
    error: BaseException | None = None
    running = len(threads)
    try:
        for thread in threads:
            thread.start()
        while running:
            batch = [results.get()]  # every result that has arrived
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(results.get_nowait())
            added = 0
            for geometry, item in batch:
                if geometry is None:
                    if item is None:
                        running -= 1
                    elif error is None:
                        error = item
                        stop.set()
                    continue
                lead.table.add(geometry, item, save=False)
                added += 1
            if added:
                saver.added()
                summary.measured += added
                summary.elapsed_s = time.monotonic() - start
                bar.update(added)
    finally:
        stop.set()
        saver.flush()
        summary.elapsed_s = time.monotonic() - start
        bar.close()
        for counts in own:
            summary.reconnects += counts.reconnects
            for name, n in counts.failed.items():
                summary.failed[name] = summary.failed.get(name, 0) + n
    if error is not None:
        raise error
    return summary


QUIET_BATCH = 8


def _progress_bar(total: int, enabled: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with lightning
        return _NullBar()
    return tqdm(
        total=total,
        unit="geometry",
        desc="profiling",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )


class _NullBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
