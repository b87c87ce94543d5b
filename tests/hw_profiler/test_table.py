"""Geometries and the table store, with a scripted in-process board."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from hw_profiler.boards import load_board
from hw_profiler.energy import EstimatedEnergy
from hw_profiler.errors import BoardCommandError, PortError, TableError
from hw_profiler.table import (
    COLUMNS,
    ChannelGrid,
    LatencyTable,
    LayerGeometry,
    TableMeta,
    TableProfiler,
)
from hw_profiler.table.store import locked

META = TableMeta(
    board="fake",
    firmware_version="1.0",
    clock_hz=100_000_000,
    ticks_per_second=100_000_000,
    timer="cycles",
    seconds_per_tick=1e-8,
)


def test_channel_grid() -> None:
    assert ChannelGrid(8).values(32) == [1, 8, 16, 24, 32]
    assert ChannelGrid(8).values(20) == [1, 8, 16, 20]
    assert ChannelGrid(8).values(1) == [1]
    assert ChannelGrid(1).values(3) == [1, 2, 3]


def test_geometry_text_round_trip() -> None:
    g = LayerGeometry("conv1d", 4, 32, 5, 2, 256)
    assert LayerGeometry.parse(str(g)) == g
    assert g.macs == 256 * 32 * 4 * 5
    with pytest.raises(ValueError, match="unknown op"):
        LayerGeometry.parse("conv2d:c_in=1,c_out=1,kernel=1,dilation=1,length=1")


@dataclass
class FakeBench:
    macs: int
    output_crc32: int
    ticks: list[int]


class FakeBoard:
    """Ticks are a deterministic function of the geometry; can fail after N calls."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.calls: list[LayerGeometry] = []
        self.crash_after = crash_after

    def bench_layer(self, g: LayerGeometry, warmup: int, repeats: int, seed: int) -> FakeBench:
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise KeyboardInterrupt  # the run is killed midway
        self.calls.append(g)
        if g.c_in * g.c_out > 200:
            raise BoardCommandErrorWithName("NO_MEMORY")
        base = 100 + g.macs
        return FakeBench(g.macs, hash(g) & 0xFFFF, [base + i for i in range(repeats)])


class BoardCommandErrorWithName(BoardCommandError):
    def __init__(self, name: str) -> None:
        super().__init__(f"board error {name}")
        self.name = name


def run_profile(path: Path, geometries, board: FakeBoard) -> LatencyTable:
    table = LatencyTable.open(path, META)
    meter = EstimatedEnergy(load_board("qemu_stm32f4").power, META.clock_hz)
    TableProfiler(board, table, meter, warmup=1, repeats=3, progress=False).run(geometries)
    return table


def test_profile_resume_measures_nothing_twice(tmp_path: Path) -> None:
    geoms = [LayerGeometry("conv1d", ci, co, k, d, 32) for ci in (1, 8) for co in (1, 8, 16)
             for k, d in ((1, 1), (2, 1), (3, 1), (2, 2))]
    full = run_profile(tmp_path / "full.csv", geoms, FakeBoard())

    first = FakeBoard(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        run_profile(tmp_path / "t.csv", geoms, first)
    assert len(LatencyTable.load(tmp_path / "t.csv")) == 5
    second = FakeBoard()
    resumed = run_profile(tmp_path / "t.csv", geoms, second)
    assert not set(first.calls) & set(second.calls)
    assert len(first.calls) + len(second.calls) == len(geoms)
    pd.testing.assert_frame_equal(resumed.frame(), full.frame())
    pd.testing.assert_frame_equal(LatencyTable.load(tmp_path / "t.csv").frame(), full.frame())
    # nothing left to do: a third run measures nothing
    third = FakeBoard()
    run_profile(tmp_path / "t.csv", geoms, third)
    assert third.calls == []


@pytest.mark.parametrize("board_s, saves", [(0.0, 2), (1.0, 6)])
def test_saves_are_spaced_by_their_cost_and_the_last_rows_always_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, board_s: float, saves: int
) -> None:
    """A save rewrites the whole file: the profiler saves once the time since the last
    save is ten times what it took, and always saves the rows left at the end."""
    import hw_profiler.table.profiler as profiler

    now = [0.0]  # a fake clock: each save takes 0.5 s, each geometry ``board_s``
    monkeypatch.setattr(profiler, "_clock", lambda: now[0])
    table = LatencyTable.open(tmp_path / "t.csv", META)
    written = []
    real_save = LatencyTable.save

    def save(self: LatencyTable) -> None:
        written.append(len(self))
        now[0] += 0.5
        real_save(self)

    class TimedBoard(FakeBoard):
        def bench_layer(self, *args: object) -> FakeBench:
            now[0] += board_s
            return super().bench_layer(*args)

    monkeypatch.setattr(LatencyTable, "save", save)
    meter = EstimatedEnergy(load_board("qemu_stm32f4").power, META.clock_hz)
    TableProfiler(TimedBoard(), table, meter, progress=False, save_share=0.5).run(GEOMS)
    assert len(written) == saves and written[-1] == len(GEOMS)
    assert len(LatencyTable.load(tmp_path / "t.csv")) == len(GEOMS)
    with pytest.raises(ValueError, match="save_share"):
        TableProfiler(FakeBoard(), table, meter, save_share=0)


def test_lookup_missing_and_rejections(tmp_path: Path) -> None:
    geoms = [LayerGeometry("conv1d", 4, 8, 3, 1, 16), LayerGeometry("conv1d", 16, 16, 3, 1, 16)]
    table = run_profile(tmp_path / "t.csv", geoms, FakeBoard())
    row = table.lookup(geoms[0])
    assert row["status"] == "ok" and row["ticks_median"] == 100 + geoms[0].macs + 1
    assert row["latency_s"] == pytest.approx(row["ticks_median"] / 1e8)
    assert row["energy_source"] == "estimated"
    assert row["energy_j"] == pytest.approx(3.3 * 238e-6 * 100 * row["latency_s"])
    assert table.lookup(geoms[1])["status"] == "NO_MEMORY"
    extra = LayerGeometry("conv1d", 4, 8, 3, 2, 16)
    assert table.missing([*geoms, extra, extra]) == [extra]
    with pytest.raises(KeyError, match="not in"):
        table.lookup(extra)


def test_two_writers_keep_each_others_rows(tmp_path: Path) -> None:
    """Two processes that opened the table before either saved (parallel trainings
    measuring on demand, or a profile beside them) both end up in the file."""
    path = tmp_path / "t.csv"
    first, second = LatencyTable.open(path, META), LatencyTable.open(path, META)
    a, b = LayerGeometry("conv1d", 4, 8, 3, 1, 16), LayerGeometry("add", 8, 8, 1, 1, 16)
    first.add(a, {"status": "ok", "latency_s": 1e-3})
    second.add(b, {"status": "NO_MEMORY"})
    assert b in second and a in second  # adopted while saving
    table = LatencyTable.load(path)
    assert table.latency_s(a) == pytest.approx(1e-3) and table.row(b)["status"] == "NO_MEMORY"


def test_table_from_other_board_or_firmware(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    run_profile(path, [LayerGeometry("conv1d", 4, 8, 3, 1, 16)], FakeBoard())
    with pytest.raises(TableError, match=r"measured on board 'fake', not on 'nucleo'"):
        LatencyTable.load(path, board="nucleo")
    other_fw = TableMeta(**{**META.__dict__, "firmware_version": "1.1"})
    with pytest.raises(TableError, match=r"firmware 1.0, the board runs firmware 1.1"):
        LatencyTable.open(path, other_fw)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("garbage\n", "not a latency table"),
        ("# hw-profiler-table {not json\n", "corrupted table metadata"),
        ('# hw-profiler-table {"board": "x"}\n', "corrupted table metadata"),
        (None, "missing columns"),
        (None, "bad key row"),
        (None, "duplicated geometries"),
        (b"\xff\xfe\x00\x01", "corrupted or unreadable"),
    ],
)
def test_corrupted_table_file(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "t.csv"
    run_profile(path, [LayerGeometry("conv1d", 4, 8, 3, 1, 16)], FakeBoard())
    lines = path.read_text().splitlines(keepends=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    elif message == "missing columns":
        path.write_text(lines[0] + "op,c_in\nconv1d,4\n")
    elif message == "bad key row":
        path.write_text("".join(lines[:2]) + lines[2].replace("conv1d,4,", "conv1d,x,"))
    else:
        path.write_text("".join(lines) + lines[2])
    with pytest.raises(TableError, match=message) as info:
        LatencyTable.load(path)
    assert str(path) in str(info.value)


G1, G2 = LayerGeometry("conv1d", 4, 8, 3, 1, 16), LayerGeometry("conv1d", 8, 8, 3, 1, 16)


def test_link_fault_rows_and_cut_rows_are_measured_again(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    run_profile(path, [G1, G2], FakeBoard())
    head, header, row1, row2 = path.read_text().splitlines(keepends=True)
    # a link fault stored as a verdict by an older run, and a row cut short by a crash
    bad_status = row1.replace(",ok,", ",BAD_CRC,")
    cut = row2[: row2.index(",ok,") + 4] + "\n"
    path.write_text(head + header + bad_status + cut)
    table = LatencyTable.open(path, META)
    assert table.missing([G1, G2]) == [G1, G2]
    board = FakeBoard()
    run_profile(path, [G1, G2], board)
    assert board.calls == [G1, G2]
    frame = LatencyTable.load(path).frame()
    assert list(frame["status"]) == ["ok", "ok"] and frame["latency_s"].notna().all()


class FlakyBoard(FakeBoard):
    """Answers the first request with a link fault the session could not repair."""

    def bench_layer(self, g: LayerGeometry, warmup: int, repeats: int, seed: int) -> FakeBench:
        if not self.calls:
            self.calls.append(g)
            raise BoardCommandErrorWithName("BAD_CRC")
        return super().bench_layer(g, warmup, repeats, seed)


def test_a_link_fault_is_never_stored(tmp_path: Path) -> None:
    with pytest.raises(BoardCommandError):
        run_profile(tmp_path / "t.csv", [G1, G2], FlakyBoard())
    assert not (tmp_path / "t.csv").exists() or len(LatencyTable.load(tmp_path / "t.csv")) == 0


def test_non_numeric_value_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    run_profile(path, [G1, G2], FakeBoard())
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[3].split(",")
    fields[COLUMNS.index("ticks_median")] = "fast"
    path.write_text("".join(lines[:3]) + ",".join(fields))
    with pytest.raises(TableError, match=rf"{path}:4: .*'ticks_median' holds 'fast'"):
        LatencyTable.open(path, META)


def files(folder: Path) -> list[str]:
    """What a table leaves beside it, but for its lock file."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith("-lock"))


def test_temp_files_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.csv"
    run_profile(path, [G1], FakeBoard())
    (tmp_path / ".t.csv.k1ll3d").write_text("half a table")  # left by kill -9 mid-save
    run_profile(path, [G1, G2], FakeBoard())
    assert files(tmp_path) == ["t.csv"]

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        LatencyTable.load(path).save()
    assert files(tmp_path) == ["t.csv"]


def test_open_leaves_a_save_in_flight_alone(tmp_path: Path) -> None:
    """Several processes may share a table: one that opens it while another is saving
    must wait, not delete the other's temporary file."""
    path = tmp_path / "t.csv"
    run_profile(path, [G1], FakeBoard())
    in_flight = tmp_path / ".t.csv.s4ving"
    opened = threading.Event()
    with locked(path):  # another process's save holds the lock
        in_flight.write_text("half a table")
        thread = threading.Thread(target=lambda: (LatencyTable.open(path, META), opened.set()))
        thread.start()
        assert not opened.wait(0.3)
        assert in_flight.exists()
        in_flight.unlink()  # the save ends: its file was renamed over the table
    assert opened.wait(5)
    thread.join()


class DroppingBoard(FakeBoard):
    """Loses the link (the port fails) on its call number ``lose_at``."""

    def __init__(self, lose_at: int) -> None:
        super().__init__()
        self.lose_at = lose_at

    def bench_layer(self, g: LayerGeometry, warmup: int, repeats: int, seed: int) -> FakeBench:
        if len(self.calls) == self.lose_at:
            raise PortError("reading from board port 'fake' failed: disconnected")
        return super().bench_layer(g, warmup, repeats, seed)


GEOMS = [LayerGeometry("conv1d", 4, c, 3, d, 16) for c in (1, 4, 8) for d in (1, 2)]


def test_lost_link_reconnects_and_resumes(tmp_path: Path) -> None:
    table = LatencyTable.open(tmp_path / "t.csv", META)
    boards = [DroppingBoard(lose_at=2), DroppingBoard(lose_at=3), FakeBoard()]
    opened = iter(boards[1:])
    meter = EstimatedEnergy(load_board("qemu_stm32f4").power, META.clock_hz)
    profiler = TableProfiler(boards[0], table, meter, progress=False,
                             reconnect=lambda: next(opened), reconnects=2)
    summary = profiler.run(GEOMS)
    assert summary.reconnects == 2 and summary.measured == len(GEOMS)
    assert [len(b.calls) for b in boards] == [2, 3, 1]
    reference = run_profile(tmp_path / "ref.csv", GEOMS, FakeBoard())
    pd.testing.assert_frame_equal(LatencyTable.load(tmp_path / "t.csv").frame(),
                                  reference.frame())


def test_reconnects_are_bounded_and_the_table_kept(tmp_path: Path) -> None:
    table = LatencyTable.open(tmp_path / "t.csv", META)
    meter = EstimatedEnergy(load_board("qemu_stm32f4").power, META.clock_hz)
    attempts = []

    def reconnect() -> FakeBoard:
        attempts.append(1)
        raise PortError("cannot open board port 'fake': gone")

    profiler = TableProfiler(DroppingBoard(lose_at=2), table, meter, progress=False,
                             reconnect=reconnect, reconnects=3)
    with pytest.raises(PortError, match="gone"):
        profiler.run(GEOMS)
    assert len(attempts) == 3
    assert len(LatencyTable.load(tmp_path / "t.csv")) == 2


def test_a_lone_writer_does_not_read_the_file_back(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging costs a read only when another process saved in between."""
    from hw_profiler.table import store

    path = tmp_path / "t.csv"
    table = LatencyTable.open(path, META)
    reads = []
    real = store._read
    monkeypatch.setattr(store, "_read", lambda p: (reads.append(p), real(p))[1])
    for c in (1, 2, 3):
        table.add(LayerGeometry("add", c, c, 1, 1, 16), {"status": "ok", "latency_s": 1e-4})
    assert reads == []
    other = LatencyTable.load(path)
    other.add(LayerGeometry("add", 4, 4, 1, 1, 16), {"status": "ok", "latency_s": 1e-4})
    table.add(LayerGeometry("add", 5, 5, 1, 1, 16), {"status": "ok", "latency_s": 1e-4})
    assert len(reads) == 2 and len(LatencyTable.load(path)) == 5  # other's load, one merge
