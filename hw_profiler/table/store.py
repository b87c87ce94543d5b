"""The latency lookup table on disk: one CSV whose first line carries the metadata.

File layout::

    # hw-profiler-table {"format": 1, "board": ..., "firmware_version": ..., ...}
    op,c_in,c_out,kernel,dilation,length,dtype,stride,status,macs,...
    conv1d,4,32,5,1,256,int8,1,ok,163840,...

A save rewrites the file through a temporary file and an atomic rename, so a killed run
leaves the last good table and resumes from it (the profiler saves as rows complete, less
often for a large table, and when it stops); opening the table for
writing removes temporary files a killed run left behind (one writer per table file).

A row is complete when its status is ``ok`` with its latency present, or when
it is one of the board's verdicts on the geometry (:data:`VERDICTS`). Anything else (a
link fault's name, a row cut short) is not a measurement: it is measured again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from hw_profiler.boards.profile import BoardProfile
from hw_profiler.errors import TableError
from hw_profiler.geometry import LayerGeometry

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

MAGIC = "# hw-profiler-table "
FORMAT = 1
KEY = LayerGeometry.key_names()
VALUES = [
    "status",  # ok, or the board's error name (NO_MEMORY, UNSUPPORTED, ...)
    "macs",
    "warmup",
    "repeats",
    "ticks_median",
    "ticks_min",
    "ticks_max",
    "latency_s",
    "latency_min_s",
    "latency_max_s",
    "energy_j",
    "energy_source",  # measured | estimated
    "output_crc32",
]
COLUMNS = KEY + VALUES
VERDICTS = ("NO_MEMORY", "BAD_ARG", "UNSUPPORTED")
"""Board errors that describe the geometry itself, so a resumed run does not ask again."""
_MEASURED = ["latency_s"]  # what every cost of an ok row starts from
_NUMERIC = [c for c in VALUES if c not in ("status", "energy_source")]
_DTYPES = {
    **{k: "int64" for k in KEY if k not in ("op", "dtype")},
    **{k: "Int64" for k in ("macs", "warmup", "repeats", "ticks_min", "ticks_max", "output_crc32")},
    **{
        k: "float64"
        for k in ("ticks_median", "latency_s", "latency_min_s", "latency_max_s", "energy_j")
    },
    **{k: "object" for k in ("op", "dtype", "status", "energy_source")},
}
_INT_KEYS = [k for k in KEY if k not in ("op", "dtype")]


@dataclass(frozen=True)
class TableMeta:
    """Which board and firmware measured the table, and how to read its ticks."""

    board: str
    firmware_version: str
    clock_hz: int
    ticks_per_second: int
    timer: str
    seconds_per_tick: float
    protocol_version: int = 1
    format: int = FORMAT

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableMeta:
        names = {f.name for f in fields(cls)}
        required = {
            "board",
            "firmware_version",
            "clock_hz",
            "ticks_per_second",
            "timer",
            "seconds_per_tick",
        }
        missing = required - set(data)
        if missing:
            raise ValueError(f"metadata lacks {sorted(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the table's lock file: several processes (parallel searches, a sweep and a
    profile) may save one table, and one must not take another's temporary file for the
    leftover of a killed save. A no-op where ``fcntl`` is missing."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LatencyTable:
    """Measured latency (and energy) of layer geometries on one board + firmware."""

    def __init__(
        self, path: str | os.PathLike[str], meta: TableMeta, frame: pd.DataFrame | None = None
    ) -> None:
        self.path = Path(path)
        self.meta = meta
        self._rows: dict[tuple, dict[str, Any]] = {}
        self._seen: tuple[int, int, int] | None = None  # the file version the rows include
        if frame is not None:
            for record in frame.to_dict("records"):
                self._rows[_key_of(record)] = record

    # -- reading -------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        board: str | BoardProfile | None = None,
        firmware_version: str | None = None,
    ) -> LatencyTable:
        """Read a table; refuse it if it was measured on another board or firmware."""
        path = Path(path)
        if isinstance(board, BoardProfile):
            board = board.name
        seen = _version(path)  # before reading: a save in between is merged later
        meta, frame = _read(path)
        table = cls(path, meta, frame)
        table._seen = seen
        table.check(board, firmware_version)
        return table

    @classmethod
    def open(cls, path: str | os.PathLike[str], meta: TableMeta) -> LatencyTable:
        """Resume the table at ``path`` if it exists (same board/firmware), else start one."""
        path = Path(path)
        with locked(path):  # a save of another process in flight is not a leftover
            for leftover in path.parent.glob(f".{path.name}.*"):
                with contextlib.suppress(OSError):
                    leftover.unlink()  # the temporary file of a killed save
        if not path.exists():
            return cls(path, meta)
        table = cls.load(path)
        reason = table.refusal(meta)
        if reason is not None:
            raise TableError(reason)
        return table

    @classmethod
    def set_aside_if_stale(cls, path: str | os.PathLike[str], meta: TableMeta) -> Path | None:
        """Rename the table at ``path`` out of the way when a board reporting ``meta``
        cannot extend it (see :meth:`refusal`), so that a new table starts there; return
        where the old one went (None when it stays)."""
        path = Path(path)
        if not path.exists():
            return None
        old = cls.load(path).meta
        if cls(path, old).refusal(meta) is None:
            return None
        stem = f"{path.stem}.{old.board}-firmware-{old.firmware_version}"
        kept, n = path.with_name(stem + path.suffix), 1
        while kept.exists():
            kept, n = path.with_name(f"{stem}-{n}{path.suffix}"), n + 1
        path.rename(kept)
        return kept

    def refusal(self, meta: TableMeta) -> str | None:
        """Why a board reporting ``meta`` must not add to this table (another board,
        firmware or clock measured it), or None."""
        try:
            self.check(meta.board, meta.firmware_version)
        except TableError as exc:
            return str(exc)
        if (self.meta.ticks_per_second, self.meta.clock_hz) != (
            meta.ticks_per_second,
            meta.clock_hz,
        ):
            return (
                f"{self.path}: measured at {self.meta.ticks_per_second} ticks/s and a "
                f"{self.meta.clock_hz} Hz clock, the board now reports "
                f"{meta.ticks_per_second} ticks/s and {meta.clock_hz} Hz; use another table file"
            )
        return None

    def check(self, board: str | None, firmware_version: str | None) -> None:
        if board is not None and board != self.meta.board:
            raise TableError(
                f"{self.path}: table was measured on board {self.meta.board!r}, not on "
                f"{board!r}; use another table file or --board {self.meta.board}"
            )
        if firmware_version is not None and firmware_version != self.meta.firmware_version:
            raise TableError(
                f"{self.path}: table was measured with firmware {self.meta.firmware_version}, "
                f"the board runs firmware {firmware_version}; re-profile into a new file"
            )

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, geometry: LayerGeometry) -> bool:
        return geometry.as_key() in self._rows

    def lookup(self, geometry: LayerGeometry) -> pd.Series:
        """The stored row of ``geometry``; KeyError when it was never measured."""
        return pd.Series(dict(self.row(geometry)))

    def row(self, geometry: LayerGeometry) -> Mapping[str, Any]:
        """The stored row of ``geometry``, read-only and without building a pandas object
        (a search reads thousands per cost evaluation); KeyError when never measured."""
        try:
            return MappingProxyType(self._rows[geometry.as_key()])
        except KeyError:
            raise KeyError(f"{geometry} is not in {self.path}") from None

    def latency_s(self, geometry: LayerGeometry) -> float:
        return float(self.row(geometry)["latency_s"])

    def missing(self, geometries: Iterable[LayerGeometry]) -> list[LayerGeometry]:
        """The geometries still to be measured (absent or incomplete rows), in the given
        order, without duplicates."""
        seen: set[tuple] = set()
        out = []
        for g in geometries:
            key = g.as_key()
            if not (key in self._rows and _complete(self._rows[key])) and key not in seen:
                seen.add(key)
                out.append(g)
        return out

    def frame(self) -> pd.DataFrame:
        """All rows, sorted by key, with the documented column order."""
        df = pd.DataFrame(list(self._rows.values()), columns=COLUMNS).astype(_DTYPES)
        return df.sort_values(KEY, kind="stable").reset_index(drop=True)

    # -- writing -------------------------------------------------------------------
    def add(self, geometry: LayerGeometry, values: Mapping[str, Any], save: bool = True) -> None:
        unknown = set(values) - set(VALUES)
        if unknown:
            raise ValueError(f"unknown table columns {sorted(unknown)}")
        record = {**asdict(geometry), **{k: values.get(k) for k in VALUES}}
        self._rows[geometry.as_key()] = record
        if save:
            self.save()

    def save(self) -> None:
        """Atomic: write a temporary file next to the table, fsync, rename over it.

        Rows another process saved since this table was read are kept (merged in under
        the lock): parallel trainings that measure on demand, or a profile running
        beside them, do not drop each other's rows.
        """
        with locked(self.path):
            self._merge_saved()
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", newline="") as fh:
                    fh.write(MAGIC + json.dumps(asdict(self.meta), sort_keys=True) + "\n")
                    self.frame().to_csv(fh, index=False, float_format="%.9g")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
                self._seen = _version(self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


    def _merge_saved(self) -> None:
        """Adopt the rows of the file on disk that this table lacks (or has incomplete),
        when another process saved it since this table last read or wrote it."""
        version = _version(self.path)
        if version is None or version == self._seen:
            return
        meta, frame = _read(self.path)
        if self.refusal(meta) is not None:
            return  # another board's table: it is replaced, as before
        for record in frame.to_dict("records"):
            key = _key_of(record)
            mine = self._rows.get(key)
            if mine is None or (not _complete(mine) and _complete(record)):
                self._rows[key] = record


def _version(path: Path) -> tuple[int, int, int] | None:
    """Which save of the file is on disk (a save renames a new file over it), or None."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _complete(record: Mapping[str, Any]) -> bool:
    """Whether a row is a measurement or a verdict, rather than a gap to fill."""
    status = record.get("status")
    if status in VERDICTS:
        return True
    return status == "ok" and all(pd.notna(record.get(k)) for k in _MEASURED)


def _key_of(record: Mapping[str, Any]) -> tuple:
    return LayerGeometry(**{k: record[k] for k in KEY}).as_key()


def _read(path: Path) -> tuple[TableMeta, pd.DataFrame]:
    try:
        with path.open(newline="") as fh:
            first = fh.readline()
            if not first.startswith(MAGIC):
                raise TableError(
                    f"{path}: not a latency table (first line must start with {MAGIC.strip()!r})"
                )
            try:
                meta = TableMeta.from_dict(json.loads(first[len(MAGIC) :]))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                raise TableError(f"{path}: corrupted table metadata: {exc}") from exc
            if meta.format != FORMAT:
                raise TableError(f"{path}: table format {meta.format}, expected {FORMAT}")
            frame = pd.read_csv(
                fh, dtype={"op": str, "dtype": str, "status": str, "energy_source": str}
            )
    except TableError:
        raise
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TableError(f"{path}: corrupted or unreadable latency table: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TableError(f"{path}: corrupted latency table: missing columns {missing}")
    try:
        if frame[_INT_KEYS].isna().any().any():
            raise ValueError("empty key cells")
        frame[_INT_KEYS] = frame[_INT_KEYS].astype("int64")
        for record in frame[KEY].to_dict("records"):
            LayerGeometry(**record)
    except (ValueError, TypeError) as exc:
        raise TableError(f"{path}: corrupted latency table: bad key row: {exc}") from exc
    if frame.duplicated(KEY).any():
        raise TableError(f"{path}: corrupted latency table: duplicated geometries")
    for column in _NUMERIC:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise TableError(
                f"{path}:{row + 3}: corrupted latency table: column {column!r} holds "
                f"{frame[column].iloc[row]!r}, not a number; fix or delete that line"
            )
        if _DTYPES[column] == "Int64" and (numbers.dropna() % 1 != 0).any():
            row = int(((numbers % 1 != 0) & numbers.notna()).to_numpy().nonzero()[0][0])
            raise TableError(
                f"{path}:{row + 3}: corrupted latency table: column {column!r} holds "
                f"{frame[column].iloc[row]!r}, not a whole number; fix or delete that line"
            )
        frame[column] = numbers
    return meta, frame[COLUMNS]
