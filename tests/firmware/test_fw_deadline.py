"""The byte timeout while the core sleeps: the port helpers' deadline logic against a
simulated clock (C, host compiler), and a stalled frame on each emulated board answered
BAD_CRC within the 200 ms byte timeout."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hw_profiler.flashers.firmware import SOURCES
from hw_profiler.protocol import ErrorCode, Frame, InfoReply, InfoRequest, MsgType

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("cc") is None, reason="no native C compiler")
def test_port_helpers_with_a_simulated_clock(tmp_path: Path) -> None:
    exe = tmp_path / "board_helpers_test"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{SOURCES / 'core'}",
                    str(HERE / "board_helpers_test.c"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout


def test_stalled_frame_answered_within_the_byte_timeout(qemu_board) -> None:
    """A frame that goes silent halfway: the board, asleep in its wait for the next byte,
    wakes at the 200 ms deadline and answers BAD_CRC (the bound is generous for a loaded
    host; a wait that only wakes on the timer's longest period would take ~1 s on a NUCLEO
    at 16 MHz)."""
    qemu_board.info()
    for seq in (21, 22, 23):
        sent = time.monotonic()
        qemu_board.write_raw(b"\xa5\x5a\x10\x00\x02" + bytes([seq]) + b"abc")  # 16 promised
        frames = [i for i in qemu_board.read_items(3.0) if isinstance(i, Frame)]
        took = time.monotonic() - sent
        assert frames, "no reply to a stalled frame"
        f = frames[0]
        assert (f.type, f.seq, f.payload[0]) == (MsgType.ERROR, seq, ErrorCode.BAD_CRC)
        assert 0.15 < took < 0.8, f"BAD_CRC after {took:.3f} s"
    assert isinstance(qemu_board.request(InfoRequest()), InfoReply)
