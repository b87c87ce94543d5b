"""Pareto fronts and their plot: task metric against each cost, one marker per kind."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .axes import axis_values, pyplot, save, set_scale

# One look per kind of row; unknown kinds get the default marker.
MARKERS = {"seed": ("*", 220), "pit": ("o", 50), "hand": ("s", 50)}
LABELS = {"seed": "undilated seed", "pit": "PIT", "hand": "hand-designed"}


def pareto_front(table: pd.DataFrame, cost: str, metric: str, higher_is_better: bool = False
                 ) -> pd.Series:
    """Boolean column: rows no other row beats in both ``cost`` and ``metric``."""
    sign = -1.0 if higher_is_better else 1.0
    costs, scores = table[cost].to_numpy(), sign * table[metric].to_numpy()
    dominated = [
        any((costs[j] <= costs[i] and scores[j] <= scores[i])
            and (costs[j] < costs[i] or scores[j] < scores[i]) for j in range(len(table)))
        for i in range(len(table))
    ]
    return pd.Series([not d for d in dominated], index=table.index)


def point_label(row: pd.Series) -> str:
    """What tells two points of one kind apart: the strength, or a given name."""
    if isinstance(row.get("label"), str):
        return row["label"]
    strength = row.get("lambda")
    if strength is not None and not pd.isna(strength) and row.get("kind") != "seed":
        return f"λ={strength:g}"
    return ""


def plot_pareto(
    table: pd.DataFrame,
    path: str | Path,
    metric: str,
    costs: Sequence[str] = ("params", "macs"),
    higher_is_better: bool = False,
) -> Path:
    """One panel per cost present in ``table``; the non-dominated front as a line.

    Rows need ``kind`` (``seed``, ``pit``, ``hand``, ...) and may carry ``lambda`` or
    ``label`` to name the point. A row without a metric (a seed that was not tested)
    is drawn as a dashed vertical line at its cost.
    """
    plt = pyplot()

    costs = [c for c in costs if c in table.columns and table[c].notna().any()]
    fig, axes = plt.subplots(1, max(len(costs), 1), figsize=(5.5 * max(len(costs), 1), 4.4),
                             squeeze=False)
    for ax, cost in zip(axes[0], costs, strict=False):
        x, xlabel = axis_values(table[cost], cost)
        scored = table[metric].notna() & x.notna()
        for kind, rows in table[scored].groupby("kind", sort=False):
            marker, size = MARKERS.get(str(kind), ("D", 50))
            ax.scatter(x[rows.index], rows[metric], marker=marker, s=size, zorder=3,
                       label=LABELS.get(str(kind), str(kind)))
            for i, row in rows.iterrows():
                label = point_label(row)
                if label:
                    ax.annotate(label, (x[i], row[metric]), textcoords="offset points",
                                xytext=(4, 4), fontsize=7)
        for i in table.index[~table[metric].notna() & x.notna()]:
            ax.axvline(x[i], linestyle="--", color="grey", alpha=0.7,
                       label=f"{LABELS.get(table.at[i, 'kind'], table.at[i, 'kind'])} (untested)")
        points = pd.DataFrame({"x": x[scored], "y": table.loc[scored, metric]})
        front = points[pareto_front(points, "x", "y", higher_is_better)].sort_values("x")
        if len(front) > 1:  # one network beating all others is a point, not a line
            ax.step(front["x"], front["y"], where="post", color="black", alpha=0.6,
                    linewidth=1.2, label="front", zorder=2)
        set_scale(ax, x[x.notna()].to_numpy(dtype=np.float64))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save(fig, path, dpi=120)
