"""ST X-NUCLEO-LPM01A (PowerShield) driver: ASCII commands over serial at 3686400 baud.

The monitor powers the board and integrates its current. The firmware marks the timed
region with falling edges on its timestamp pin (``board_timestamp()``: PA8, Arduino D7,
on the STM32 ports) wired to the monitor's D7 input ("eventsrc d7 fal"): one edge before
the timed BENCH_LAYER repeats or RUN, one after. The energy of one run is the sum of the
energy samples between the first two events divided by the number of runs in the region.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import serial

from hw_profiler.boards.profile import MonitorSettings
from hw_profiler.energy.model import EnergyMeter
from hw_profiler.errors import PortError, PowerMonitorError

BAUD = 3686400
_SAMPLE = re.compile(r"^(\d+)([+-]\d+)$")
_EVENT = re.compile(r"^event\s+(\d+)\s+(ris|fal)", re.IGNORECASE)


def parse_sample(text: str) -> float | None:
    """'6409-07' -> 6409e-7; None for anything that is not a sample."""
    m = _SAMPLE.match(text.strip())
    return None if m is None else int(m.group(1)) * 10.0 ** int(m.group(2))


class Lpm01a(EnergyMeter):
    source = "measured"

    def __init__(
        self,
        port: str,
        supply_v: float = 3.3,
        freq_hz: int = 1000,
        output: str = "energy",
        timeout_s: float = 2.0,
    ) -> None:
        if not 1.8 <= supply_v <= 3.3:
            raise PowerMonitorError(f"LPM01A supply {supply_v} V is outside 1.8..3.3 V")
        self.supply_v, self.freq_hz, self.output = supply_v, freq_hz, output
        self.timeout_s = timeout_s
        try:
            self.port = serial.serial_for_url(port, baudrate=BAUD, timeout=0.05)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise PortError(f"cannot open LPM01A power monitor port {port!r}: {exc}") from exc
        self.port_name = port
        self._buf = bytearray()
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None
        self._acquiring = threading.Event()
        self._stopped = threading.Event()
        self.setup()

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> Lpm01a:
        if not settings.port:
            raise PowerMonitorError("monitor.port is required for an LPM01A")
        opts: dict[str, Any] = settings.options
        return cls(
            settings.port,
            supply_v=settings.supply_v,
            freq_hz=int(opts.get("freq_hz", 1000)),
            output=str(opts.get("output", "energy")),
        )

    # -- line I/O --------------------------------------------------------------
    def _readline(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                return None
            self._buf += self.port.read(max(1, self.port.in_waiting))
        line, _, rest = self._buf.partition(b"\n")
        self._buf = bytearray(rest)
        return line.decode(errors="replace").strip()

    def command(self, cmd: str) -> str:
        """Send one command and return the value after 'ack <cmd>'."""
        self.port.write(f"{cmd}\n".encode())
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            line = self._readline(deadline - time.monotonic())
            if line is None:
                break
            if line.lower().startswith("error"):
                raise PowerMonitorError(f"LPM01A on {self.port_name}: {cmd!r} -> {line!r}")
            if line.startswith("ack"):
                return line[3:].strip().removeprefix(cmd).strip()
        raise PowerMonitorError(
            f"LPM01A on {self.port_name}: no 'ack' to {cmd!r} within {self.timeout_s:g} s"
        )

    def setup(self) -> None:
        """MLPerf Tiny's sequence, then power the board on (it stays on between windows)."""
        self.command("htc")
        for cmd in (
            "pwr off",
            "acqtime inf",
            "trigdelay 0",
            "trigsrc sw",
            "eventsrc d7 fal",
            f"output {self.output}",
            "format ascii_dec",
            f"freq {_freq(self.freq_hz)}",
            f"volt {round(self.supply_v * 1000)}m",
            "pwr on nostatus",
        ):
            self.command(cmd)

    # -- acquisition ---------------------------------------------------------------
    def start(self) -> None:
        self._lines = []
        self._stopped.clear()
        self.command("start")
        self._acquiring.set()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        while self._acquiring.is_set():
            line = self._readline(0.1)
            if line is None:
                continue
            if line.startswith("ack stop") or line.lower().startswith("error"):
                self._lines.append(line)
                self._stopped.set()
                return
            self._lines.append(line)

    def stop(self, latency_s: float, runs: int) -> float:
        self.port.write(b"stop\n")
        stopped = self._stopped.wait(self.timeout_s + 2.0)
        self._acquiring.clear()
        if self._reader is not None:
            self._reader.join(1.0)
        if not stopped:
            raise PowerMonitorError(f"LPM01A on {self.port_name}: no 'ack stop'")
        if self._lines and self._lines[-1].lower().startswith("error"):
            raise PowerMonitorError(f"LPM01A on {self.port_name}: {self._lines[-1]!r}")
        return self.window_energy(self._lines) / max(runs, 1)

    def window_energy(self, lines: list[str]) -> float:
        """Joules between the first two timestamp events."""
        events, window, total = 0, 0.0, 0.0
        for line in lines:
            if _EVENT.match(line):
                events += 1
                if events == 2:
                    break
                continue
            value = parse_sample(line)
            if value is None:
                continue
            joules = value if self.output == "energy" else value * self.supply_v / self.freq_hz
            total += joules
            if events == 1:
                window += joules
        if events < 2:
            raise PowerMonitorError(
                f"LPM01A on {self.port_name}: saw {events} timestamp event(s), need 2 "
                "(is the board's timestamp pin, PA8 = Arduino D7 on STM32, wired to the "
                "monitor's D7?)"
            )
        return window

    def close(self) -> None:
        try:
            if self.port.is_open:
                self.command("pwr off")
                self.command("hrc")
        except (PowerMonitorError, serial.SerialException, OSError):
            pass
        finally:
            self.port.close()


def _freq(hz: int) -> str:
    if not 1 <= hz <= 100_000:
        raise PowerMonitorError(f"LPM01A sampling frequency {hz} Hz is outside 1 Hz..100 kHz")
    return f"{hz // 1000}k" if hz >= 1000 and hz % 1000 == 0 else str(hz)
