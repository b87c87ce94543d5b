"""Board profiles: what the host must know about a board to flash, talk to and cost it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class UartSettings:
    """How to reach the firmware's command port once the board runs."""

    port: str | None  # device path or pyserial URL; None = the flasher provides it (QEMU)
    baud: int = 115200
    timeout_s: float = 5.0  # default reply timeout per command
    retries: int = 5  # resends of one request after a missing, cut or damaged reply
    byte_timeout_s: float = 0.5  # a reply that started and went quiet this long is cut
    chunk_bytes: int | None = None  # largest LOAD_CHUNK; None = the board's max_payload


@dataclass(frozen=True)
class FlasherSettings:
    """Which flasher loads the firmware and its kind-specific options."""

    kind: str  # qemu | host | an3155 | pyocd | openocd | gap8
    firmware: str | None = None  # path to the image (relative to the repository root)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PowerModel:
    """Power draw used to estimate energy when no monitor is attached.

    Either ``ua_per_mhz`` (run-mode current that scales with the core clock, the way
    datasheets quote it) or ``fixed_ma`` (a measured or worst-case constant).
    """

    supply_v: float
    ua_per_mhz: float | None = None
    fixed_ma: float | None = None

    def current_a(self, clock_hz: float) -> float:
        if self.fixed_ma is not None:
            return self.fixed_ma * 1e-3
        assert self.ua_per_mhz is not None
        return self.ua_per_mhz * 1e-6 * clock_hz / 1e6

    def power_w(self, clock_hz: float) -> float:
        return self.supply_v * self.current_a(clock_hz)


@dataclass(frozen=True)
class MonitorSettings:
    """An attached power monitor (optional)."""

    kind: str  # lpm01a | ppk2
    port: str | None = None
    supply_v: float = 3.3
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BoardProfile:
    """A board: MCU, clock, memories, serial link, flasher and power figures."""

    name: str
    mcu: str
    core: str
    clock_hz: int
    timer: str  # what a tick counts: tim2_icount | rdcycle_icount | dwt_cyccnt | gap8_perf ...
    ram_bytes: int
    flash_bytes: int
    uart: UartSettings
    flasher: FlasherSettings
    power: PowerModel
    monitor: MonitorSettings | None = None
    description: str = ""
    source: Path | None = None  # the file it was loaded from
