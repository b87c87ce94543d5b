"""Nordic Power Profiler Kit II through the ``ppk2-api`` package (imported lazily).

The PPK2 sources the board in source-meter mode and samples current at 100 kS/s; logic
input D0 carries the firmware's timestamp pin (``board_timestamp()``: PA8, Arduino D7, on
the STM32 ports), and the window is the span between its first two falling edges: the
firmware pulses it before and after the timed BENCH_LAYER repeats or RUN.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from hw_profiler.boards.profile import MonitorSettings
from hw_profiler.energy.model import EnergyMeter
from hw_profiler.errors import PowerMonitorError

SAMPLE_HZ = 100_000


def _api() -> Any:
    try:
        from ppk2_api.ppk2_api import PPK2_API
    except ImportError as exc:
        raise PowerMonitorError(
            "the PPK2 monitor needs the 'ppk2-api' package: pip install ppk2-api"
        ) from exc
    return PPK2_API


class Ppk2(EnergyMeter):
    source = "measured"

    def __init__(self, port: str, supply_v: float = 3.3, channel: int = 0) -> None:
        api = _api()
        self.supply_v, self.channel = supply_v, channel
        try:
            self.ppk = api(port, timeout=1, write_timeout=1, exclusive=True)
        except Exception as exc:
            raise PowerMonitorError(f"cannot open PPK2 on {port!r}: {exc}") from exc
        self.ppk.get_modifiers()
        self.ppk.use_source_meter()
        self.ppk.set_source_voltage(round(supply_v * 1000))
        self.ppk.toggle_DUT_power("ON")
        self._current: list[float] = []
        self._logic: list[int] = []

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> Ppk2:
        if not settings.port:
            raise PowerMonitorError("monitor.port is required for a PPK2")
        return cls(settings.port, settings.supply_v, int(settings.options.get("channel", 0)))

    def start(self) -> None:
        self._current, self._logic = [], []
        self.ppk.start_measuring()
        self._running = threading.Event()
        self._running.set()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:  # the API's buffer must be drained while measuring
        while self._running.is_set():
            self._drain()
            time.sleep(0.005)

    def _drain(self) -> None:
        data = self.ppk.get_data()
        if data:
            current_ua, logic = self.ppk.get_samples(data)
            self._current += current_ua
            self._logic += logic

    def stop(self, latency_s: float, runs: int) -> float:
        time.sleep(0.01)
        self._running.clear()
        self._thread.join(1.0)
        self._drain()
        self.ppk.stop_measuring()
        bit = 1 << self.channel
        edges = [
            i
            for i in range(1, len(self._logic))
            if self._logic[i - 1] & bit and not self._logic[i] & bit
        ]
        if len(edges) < 2:
            raise PowerMonitorError(
                f"PPK2: saw {len(edges)} falling edge(s) on D{self.channel}, need 2"
            )
        window = self._current[edges[0] : edges[1]]
        joules = sum(window) * 1e-6 * self.supply_v / SAMPLE_HZ
        return joules / max(runs, 1)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort on the way out
            self.ppk.toggle_DUT_power("OFF")
