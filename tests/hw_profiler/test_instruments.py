"""Flashers and power monitors against stand-ins: AN3155 bootloader and LPM01A on a pty,
pyOCD/OpenOCD as fake executables on PATH."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest
from standins import BootloaderStandIn, Lpm01aStandIn

from hw_profiler.boards import load_board
from hw_profiler.energy.lpm01a import Lpm01a, parse_sample
from hw_profiler.errors import FlashError, PortError, PowerMonitorError
from hw_profiler.flashers import make_flasher
from hw_profiler.flashers.an3155 import sectors_for
from hw_profiler.flashers.elf import Segment, load_segments


def make_elf(path: Path, segments: list[tuple[int, bytes]]) -> Path:
    """A minimal ELF32 little-endian ARM image with the given PT_LOAD segments."""
    phoff, phentsize = 52, 32
    data_off = phoff + phentsize * len(segments)
    header = bytearray(b"\x7fELF\x01\x01\x01" + b"\x00" * 9)
    header += struct.pack(
        "<HHIIIIIHHHHHH",
        2,
        40,
        1,
        segments[0][0],
        phoff,
        0,
        0x05000000,
        52,
        phentsize,
        len(segments),
        40,
        0,
        0,
    )
    body, table = bytearray(), bytearray()
    for addr, data in segments:
        table += struct.pack(
            "<IIIIIIII", 1, data_off + len(body), addr, addr, len(data), len(data), 5, 4
        )
        body += data
    path.write_bytes(bytes(header + table + body))
    return path


@pytest.fixture
def firmware(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    code = bytes(range(256)) * 3 + b"\x11\x22"  # 770 bytes: three full blocks + a tail
    data = b"DATA" * 5
    elf = make_elf(tmp_path / "fw.elf", [(0x08000000, code), (0x08004000, data)])
    return elf, code, data


def board_file(tmp_path: Path, name: str, flasher: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"""
name: {name}
mcu: STM32F401RE
core: cortex-m4f
clock_hz: 84000000
timer: dwt_cyccnt
ram_bytes: 98304
flash_bytes: 524288
uart: {{port: "loop://", baud: 115200}}
flasher:
  kind: {flasher}
  firmware: {tmp_path / "fw.elf"}
power: {{supply_v: 3.3, ua_per_mhz: 146}}
"""
    )
    return path


def test_elf_segments(firmware: tuple[Path, bytes, bytes]) -> None:
    elf, code, data = firmware
    assert load_segments(elf) == [Segment(0x08000000, code), Segment(0x08004000, data)]
    assert sectors_for(load_segments(elf)) == [0, 1]


@pytest.mark.parametrize("erase", ["mass", "pages"])
def test_an3155_flashes_and_starts(tmp_path: Path, firmware, erase: str) -> None:
    _elf, code, data = firmware
    standin = BootloaderStandIn().start()
    board = load_board(board_file(tmp_path, "bl", "an3155"))
    flasher = make_flasher(board)
    flasher.options.update(parity="N")  # a pty cannot carry parity bits
    flasher.options.update(port=standin.path, erase=erase, go_address=0x08000000)
    try:
        with flasher as url:
            assert url == "loop://"
    finally:
        standin.close()
    assert standin.flash[: len(code)] == code
    assert standin.flash[0x4000 : 0x4000 + len(data)] == data
    assert standin.go_address == 0x08000000
    assert ("mass erase" if erase == "mass" else "erase [0, 1]") in standin.log
    writes = [e for e in standin.log if e.startswith("write")]
    assert writes[:4] == [
        "write 08000000 256",
        "write 08000100 256",
        "write 08000200 256",
        "write 08000300 4",
    ]  # the 2-byte tail is padded to a word


def test_an3155_nack_is_reported(tmp_path: Path, firmware) -> None:
    standin = BootloaderStandIn(nack_write_at=0x08000100).start()
    board = load_board(board_file(tmp_path, "bl", "an3155"))
    flasher = make_flasher(board)
    flasher.options.update(parity="N")  # a pty cannot carry parity bits
    flasher.options.update(port=standin.path)
    try:
        with pytest.raises(FlashError, match=r"WRITE_MEMORY data at 0x08000100: .*NACK"):
            flasher.flash()
    finally:
        standin.close()


def test_an3155_silent_port(tmp_path: Path, firmware) -> None:
    master, slave = os.openpty()  # nobody answers on the other side
    try:
        board = load_board(board_file(tmp_path, "bl", "an3155"))
        flasher = make_flasher(board)
        flasher.options.update(port=os.ttyname(slave), timeout_s=0.2, parity="N")
        with pytest.raises(FlashError, match=r"sync: no ACK to 0x7F on .* after 3 tries"):
            flasher.flash()
    finally:
        os.close(master)
        os.close(slave)


def test_an3155_bad_port(tmp_path: Path, firmware) -> None:
    board = load_board(board_file(tmp_path, "bl", "an3155"))
    flasher = make_flasher(board)
    flasher.options.update(port="/dev/ttyNOPE42")
    with pytest.raises(PortError, match=r"/dev/ttyNOPE42"):
        flasher.flash()


def fake_tool(bindir: Path, name: str) -> Path:
    """An executable that logs its argv and fails with a message when FAKE_FAIL is set."""
    bindir.mkdir(exist_ok=True)
    tool = bindir / name
    tool.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" >> "{bindir}/{name}.log"\n'
        'echo "---" >> "' + str(bindir) + f'/{name}.log"\n'
        'if [ -n "$FAKE_FAIL" ]; then echo "Error: $FAKE_FAIL" >&2; exit 3; fi\n'
        'if [ -n "$FAKE_HANG" ]; then sleep 10; fi\n'
    )
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return tool


def calls(bindir: Path, name: str) -> list[list[str]]:
    text = (bindir / f"{name}.log").read_text()
    return [c.strip("\n").split("\n") for c in text.split("---\n") if c.strip()]


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    for name in ("pyocd", "openocd"):
        fake_tool(bindir, name)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return bindir


def test_pyocd_command_lines(tmp_path: Path, firmware, fake_path: Path) -> None:
    elf = firmware[0]
    board = load_board(board_file(tmp_path, "nucleo", "pyocd"))
    flasher = make_flasher(board)
    flasher.options.update(target="stm32f401retx", probe="0669FF", pack="/packs/f4.pack")
    with flasher as url:
        assert url == "loop://"
    assert calls(fake_path, "pyocd") == [
        ["load", "-t", "stm32f401retx", "-u", "0669FF", "--pack", "/packs/f4.pack", str(elf)],
        ["reset", "-t", "stm32f401retx", "-u", "0669FF"],
    ]


def test_openocd_command_line(tmp_path: Path, firmware, fake_path: Path) -> None:
    elf = firmware[0]
    board = load_board(board_file(tmp_path, "nucleo", "openocd"))
    make_flasher(board).flash()
    assert calls(fake_path, "openocd") == [
        [
            "-f",
            "interface/stlink.cfg",
            "-f",
            "target/stm32f4x.cfg",
            "-c",
            f"program {elf} verify reset exit",
        ]
    ]


def test_gap8_command_line(tmp_path: Path, firmware, fake_path: Path) -> None:
    elf = firmware[0]
    board = load_board(board_file(tmp_path, "gap", "gap8"))
    flasher = make_flasher(board)
    flasher.options.update(scripts_dir="/sdk/tcl", boot_script="tcl/jtag_boot_entry.tcl")
    flasher.flash()
    assert calls(fake_path, "openocd") == [
        [
            "-s",
            "/sdk/tcl",
            "-c",
            "gdb_port disabled; telnet_port disabled; tcl_port disabled",
            "-f",
            "interface/ftdi/gapuino_ftdi.cfg",
            "-f",
            "target/gap8revb.cfg",
            "-f",
            "tcl/jtag_boot_entry.tcl",
            "-c",
            f"gap8_jtag_load_binary_and_start {elf} elf; exit",
        ]
    ]


def test_flasher_surfaces_stderr(
    tmp_path: Path, firmware, fake_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "No connected debug probes")
    board = load_board(board_file(tmp_path, "nucleo", "pyocd"))
    flasher = make_flasher(board)
    flasher.options.update(target="stm32f401retx")
    with pytest.raises(
        FlashError,
        match=r"exited with status 3: .*pyocd load.*\n"
        r"Error: No connected debug probes",
    ):
        flasher.flash()


def test_flasher_timeout_and_missing_tool(
    tmp_path: Path, firmware, fake_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    board = load_board(board_file(tmp_path, "nucleo", "openocd"))
    flasher = make_flasher(board)
    flasher.options.update(timeout_s=0.5)
    with pytest.raises(FlashError, match=r"timed out after 0.5 s: .*openocd"):
        flasher.flash()
    flasher.options.update(openocd="openocd-not-installed")
    with pytest.raises(FlashError, match=r"executable not found: 'openocd-not-installed'"):
        flasher.flash()


def test_missing_firmware_image(tmp_path: Path, fake_path: Path) -> None:
    board = load_board(board_file(tmp_path, "nucleo", "openocd"))
    with pytest.raises(FlashError, match=r"firmware image not found: .*fw.elf"):
        make_flasher(board).prepare()


# -- LPM01A --------------------------------------------------------------------------


def test_parse_sample() -> None:
    assert parse_sample("6409-07") == pytest.approx(6409e-7)
    assert parse_sample("0012+00") == 12
    assert parse_sample("TimeStamp: 001s 000ms, buff 00%") is None


def test_lpm01a_measures_window_energy() -> None:
    window = ["1000-09", "2000-09", "3000-09", "4000-09"]  # 10 uJ in the timed region
    standin = Lpm01aStandIn(before=["9999-06"] * 3, window=window, after=["9999-06"]).start()
    try:
        meter = Lpm01a(standin.path, supply_v=3.3)
        meter.start()
        energy = meter.stop(latency_s=1e-3, runs=4)
        meter.close()
    finally:
        standin.close()
    assert energy == pytest.approx(10e-6 / 4)
    assert standin.commands[:11] == [
        "htc",
        "pwr off",
        "acqtime inf",
        "trigdelay 0",
        "trigsrc sw",
        "eventsrc d7 fal",
        "output energy",
        "format ascii_dec",
        "freq 1k",
        "volt 3300m",
        "pwr on nostatus",
    ]
    assert standin.commands[11:] == ["start", "stop", "pwr off", "hrc"]


def test_lpm01a_without_timestamp_events() -> None:
    standin = Lpm01aStandIn(before=["1000-09"], window=[], after=[], events=1).start()
    try:
        meter = Lpm01a(standin.path)
        meter.start()
        with pytest.raises(PowerMonitorError, match=r"saw 1 timestamp event\(s\), need 2.*D7"):
            meter.stop(latency_s=1e-3, runs=1)
    finally:
        standin.close()


def test_lpm01a_errors() -> None:
    with pytest.raises(PortError, match="/dev/ttyNOPE7"):
        Lpm01a("/dev/ttyNOPE7")
    with pytest.raises(PowerMonitorError, match=r"outside 1.8..3.3 V"):
        Lpm01a("loop://", supply_v=5.0)
    master, slave = os.openpty()
    try:
        with pytest.raises(PowerMonitorError, match=r"no 'ack' to 'htc'"):
            Lpm01a(
                os.ttyname(slave),
            )
    finally:
        os.close(master)
        os.close(slave)
