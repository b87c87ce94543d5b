"""Readable axes: latency in milliseconds, energy in microjoules, log only for wide spans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Columns stored in SI units, and how a person reads them.
UNITS = {
    "params": (1.0, "parameters"),
    "macs": (1.0, "MACs per inference"),
    "latency_s": (1e3, "latency on the board (ms)"),
    "predicted_latency_s": (1e3, "predicted latency (ms)"),
    "energy_j": (1e6, "energy per inference (µJ)"),
}
# Wider than this ratio between largest and smallest value, an axis goes logarithmic.
LOG_SPAN = 20.0


def axis_values(values: pd.Series, column: str) -> tuple[pd.Series, str]:
    """``values`` in the unit people read, and the axis label."""
    scale, label = UNITS.get(column, (1.0, column))
    return values.astype(float) * scale, label


def set_scale(ax: object, values: np.ndarray) -> None:
    """Logarithmic only when the values span more than :data:`LOG_SPAN`."""
    positive = values[values > 0]
    if len(positive) and positive.max() / positive.min() > LOG_SPAN:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        # Plain numbers at 1, 2, 5 x 10^n: matplotlib's own labels of a short log span
        # ("2 x 10^0", "3 x 10^0", ...) overlap.
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (reports run on headless machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG and free it."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
