"""The board session against a scripted firmware stand-in on a pty: retries, resync and the
error messages a user sees."""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import pytest
from standins import FirmwareStandIn

from hw_profiler.boards import load_board
from hw_profiler.errors import (
    BoardCommandError,
    BoardConfigError,
    BoardTimeoutError,
    PortError,
    VersionMismatchError,
)
from hw_profiler.session import BoardSession, RetryPolicy
from hw_profiler.table import LayerGeometry

FAST = RetryPolicy(retries=3, drain_s=0.05)
G = LayerGeometry("conv1d", 4, 8, 3, 2, 16)


@pytest.fixture
def standin(request: pytest.FixtureRequest):
    params = getattr(request, "param", {})
    device = FirmwareStandIn(**params).start()
    yield device
    device.close()


def open_session(device: FirmwareStandIn, timeout_s: float = 0.5) -> BoardSession:
    return BoardSession.open(device.path, timeout_s=timeout_s, policy=FAST)


def test_handshake_and_bench(standin: FirmwareStandIn) -> None:
    with open_session(standin) as session:
        assert session.info is not None and session.info.board_name == "standin"
        assert session.firmware_version == "1.0"
        reply = session.bench_layer(G, warmup=1, repeats=4)
        assert reply.ticks == [G.macs + 10] * 4 and reply.macs == G.macs
        session.reset()
    assert session.retried == 0


@pytest.mark.parametrize(
    "standin",
    [
        {"faults": ["", "corrupt"]},
        {"faults": ["", "garbage"]},
        {"faults": ["", "stale"]},
        {"faults": ["", "silent"]},
        {"faults": ["garbage", "corrupt", "silent", "garbage"]},
    ],
    indirect=True,
)
def test_recovers_from_link_faults(standin: FirmwareStandIn) -> None:
    with open_session(standin, timeout_s=0.3) as session:
        reply = session.bench_layer(G, warmup=0, repeats=2)
    assert reply.ticks == [G.macs + 10] * 2


def test_corrupted_request_is_resent(standin: FirmwareStandIn) -> None:
    with open_session(standin) as session:
        session._write(b"\xa5\x5a\x00\x00\x02\x07\x00\x00")  # a frame with a bad CRC
        assert session.bench_layer(G, warmup=0, repeats=1).ticks == [G.macs + 10]


@pytest.mark.parametrize("standin", [{"faults": ["silent"] * 10}], indirect=True)
def test_silent_board_names_command_and_timeout(standin: FirmwareStandIn) -> None:
    with pytest.raises(BoardTimeoutError, match=r"no reply to INFO from .* within 0.2 s"):
        open_session(standin, timeout_s=0.2)


@pytest.mark.parametrize("standin", [{"faults": [""] + ["corrupt"] * 10}], indirect=True)
def test_always_corrupt_link(standin: FirmwareStandIn) -> None:
    with (
        open_session(standin, timeout_s=0.3) as session,
        pytest.raises(BoardTimeoutError, match=r"no valid reply to BENCH_LAYER .* damages frames"),
    ):
        session.bench_layer(G)


def test_board_error_reply(standin: FirmwareStandIn) -> None:
    big = LayerGeometry("conv1d", 128, 128, 17, 1, 32)
    with (
        open_session(standin) as session,
        pytest.raises(BoardCommandError, match=r"rejected BENCH_LAYER: NO_MEMORY") as info,
    ):
        session.bench_layer(big)
    assert info.value.name == "NO_MEMORY"


@pytest.mark.parametrize("standin", [{"protocol_version": 2}], indirect=True)
def test_version_mismatch(standin: FirmwareStandIn) -> None:
    with pytest.raises(
        VersionMismatchError,
        match=r"protocol version 2 .*firmware 1.0.*"
        r"host speaks protocol version 1",
    ):
        open_session(standin)


def test_unopenable_ports() -> None:
    with pytest.raises(PortError, match=r"cannot open board port '/dev/ttyDOESNOTEXIST'"):
        BoardSession.open("/dev/ttyDOESNOTEXIST")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PortError, match=rf"socket://127.0.0.1:{port}"):
        BoardSession.open(f"socket://127.0.0.1:{port}")
    with pytest.raises(PortError, match=r"'nonsense://x'"):
        BoardSession.open("nonsense://x")


def test_nobody_on_the_line() -> None:
    master, slave = os.openpty()
    sink = threading.Thread(target=lambda: _swallow(master), daemon=True)
    sink.start()  # reads everything, answers nothing
    try:
        with pytest.raises(
            BoardTimeoutError, match=r"no reply to INFO .* within 0.1 s \(4 attempts\)"
        ):
            BoardSession.open(os.ttyname(slave), timeout_s=0.1, policy=FAST)
    finally:
        os.close(master)
        os.close(slave)


def _swallow(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


def test_unknown_board_and_bad_profiles(tmp_path) -> None:
    with pytest.raises(
        BoardConfigError,
        match=r"unknown board 'nucleo_f999'; known boards: .*"
        r"qemu_stm32f4",
    ):
        load_board("nucleo_f999")
    with pytest.raises(BoardConfigError, match=r"board file not found: .*missing.yaml"):
        load_board(tmp_path / "missing.yaml")
    good = load_board("qemu_stm32f4").source.read_text()
    cases = {
        "clock_hz: 168000000": ("clock_hz: fast", r"field 'clock_hz': expected int, got 'fast'"),
        "  kind: qemu": ("  kind: jtag", r"field 'flasher.kind': 'jtag' is not one of"),
        "  ua_per_mhz: 238 ": (
            "  fixed_ma: 3\n  ua_per_mhz: 238 ",
            r"field 'power': give exactly one of",
        ),
        "ram_bytes: 131072": ("ram_bytes: -1", r"field 'ram_bytes': must be > 0"),
        "mcu: STM32F405RG\n": ("", r"field 'mcu': missing \(required\)"),
    }
    for old, (new, message) in cases.items():
        path = tmp_path / "bad.yaml"
        assert old in good, old
        path.write_text(good.replace(old, new, 1))
        with pytest.raises(BoardConfigError, match=message) as info:
            load_board(path)
        assert str(path) in str(info.value)
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(BoardConfigError, match=r"broken.yaml: cannot read board profile"):
        load_board(tmp_path / "broken.yaml")


def test_every_shipped_board_loads() -> None:
    for name in (
        "qemu_stm32f4",
        "nucleo_f401re",
        "stm32f4_uart_bootloader",
        "gap8_gapuino",
        "host",
    ):
        board = load_board(name)
        assert board.name == name and board.clock_hz > 0 and board.power.power_w(1e8) > 0


# The handshake's INFO request is bytes 0..7; the first BENCH_LAYER request starts at 8,
# so byte 12 is its TYPE: 0x02 arrives as 0x12 and the board answers BAD_CRC for 0x12.
@pytest.mark.parametrize("standin", [{"flip_at": (12,)}], indirect=True)
def test_damaged_type_byte_is_a_link_fault_not_a_verdict(standin: FirmwareStandIn) -> None:
    with open_session(standin) as session:
        reply = session.bench_layer(G, warmup=0, repeats=2)
    assert reply.ticks == [G.macs + 10] * 2
    assert session.retried == 1 and session.link_faults == {"corrupt": 1}
