"""Energy meters: one interface for 'measure this window' whether a monitor is attached or
the board profile's power model has to stand in for one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from hw_profiler.boards.profile import BoardProfile, PowerModel


class EnergyMeter(ABC):
    """``start()`` before the timed runs, ``stop(latency_s, runs)`` after them returns the
    energy of one run in joules. ``source`` goes into the table's energy_source column."""

    source: ClassVar[str]

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self, latency_s: float, runs: int) -> float: ...

    def close(self) -> None:  # noqa: B027 - most meters hold nothing
        """Release the instrument."""

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EstimatedEnergy(EnergyMeter):
    """Energy = supply volts x run current at the core clock x latency (no instrument)."""

    source = "estimated"

    def __init__(self, power: PowerModel, clock_hz: float) -> None:
        self.power_w = power.power_w(clock_hz)

    def start(self) -> None:
        """Nothing to arm."""

    def stop(self, latency_s: float, runs: int) -> float:
        return self.power_w * latency_s


def make_meter(board: BoardProfile, clock_hz: float | None = None) -> EnergyMeter:
    """The board's monitor when its profile names one, else the power-model estimate."""
    if board.monitor is not None:
        if board.monitor.kind == "lpm01a":
            from hw_profiler.energy.lpm01a import Lpm01a

            return Lpm01a.from_settings(board.monitor)
        if board.monitor.kind == "ppk2":
            from hw_profiler.energy.ppk2 import Ppk2

            return Ppk2.from_settings(board.monitor)
    return EstimatedEnergy(board.power, clock_hz or board.clock_hz)
