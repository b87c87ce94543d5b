"""The same host-side flows on each emulated board: INFO, a small profile, and the
profile's numbers against the board's own tick length."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulated_boards import EMULATED_BOARDS, missing_tools
from test_qemu import GEOMETRIES, assert_same_table

from hw_profiler import api


@pytest.mark.skipif(bool(missing_tools("qemu_riscv32")), reason="needs the riscv32 tools")
def test_info_riscv32(capsys: pytest.CaptureFixture[str]) -> None:
    from hw_profiler.cli import main

    assert main(["info", "--board", "qemu_riscv32"]) == 0
    out = capsys.readouterr().out
    assert "firmware   2.3 (protocol 1) on 'qemu_riscv32'" in out
    assert "instruction_time, 1000000000 ticks/s, core clock 100000000 Hz; " in out
    assert "1 tick = 1.000e-08 s (1 instructions, one per cycle)" in out
    assert "flash free 0 B" in out


@pytest.mark.parametrize("board_name", EMULATED_BOARDS)
def test_profile_is_repeatable_on_each_board(tmp_path: Path, board_name: str) -> None:
    """The same few geometries twice: identical entries, ticks included."""
    few = GEOMETRIES[::6]
    with api.open_board(board_name) as board:
        a = api.profile(few, board, tmp_path / "a.csv", progress=False).table.frame()
        b = api.profile(few, board, tmp_path / "b.csv", progress=False).table.frame()
    assert (a["status"] == "ok").all() and len(a) == len(few)
    assert_same_table(a, b)


@pytest.mark.skipif(bool(missing_tools("qemu_riscv32")), reason="needs the riscv32 tools")
def test_a_profile_with_another_clock_is_refused(tmp_path: Path) -> None:
    """Latency is worked out at the profile's clock, so it must be the firmware's."""
    import yaml

    from hw_profiler.boards import load_board
    from hw_profiler.errors import BoardConfigError

    source = load_board("qemu_riscv32").source
    assert source is not None
    data = yaml.safe_load(source.read_text())
    data["clock_hz"] = 50_000_000
    wrong = tmp_path / "wrong_clock.yaml"
    wrong.write_text(yaml.safe_dump(data))
    expected = (r"wrong_clock.yaml: clock_hz is 50000000, "
                r"but the firmware on the board runs its core at 100000000 Hz")
    with pytest.raises(BoardConfigError, match=expected), api.open_board(str(wrong)):
        pass
