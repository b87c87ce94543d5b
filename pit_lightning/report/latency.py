"""Per-layer latency on the board: measured beside the table's prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .axes import pyplot, save


def plot_latency_breakdown(layers: Sequence[Mapping[str, Any]], path: str | Path,
                           title: str = "") -> Path:
    """Horizontal bars per board layer (convs, adds, pools), in milliseconds.

    ``layers`` are the ``layers`` of a measurement in ``hardware.json``.
    """
    plt = pyplot()
    import numpy as np

    names = [f"{layer['name']} ({layer['op']})" for layer in layers]
    measured = [layer["measured_latency_s"] * 1e3 for layer in layers]
    predicted = [np.nan if layer.get("predicted_latency_s") is None
                 else layer["predicted_latency_s"] * 1e3 for layer in layers]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1.5))
    ax.barh(y - 0.2, measured, 0.4, label="measured")
    ax.barh(y + 0.2, predicted, 0.4, label="predicted (table)")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("latency (ms)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path, dpi=110)
