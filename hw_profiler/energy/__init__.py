"""Energy per run: measured by a power monitor (LPM01A, PPK2) or estimated from the board's
power model."""

from hw_profiler.energy.model import EnergyMeter, EstimatedEnergy, make_meter

__all__ = ["EnergyMeter", "EstimatedEnergy", "make_meter"]
